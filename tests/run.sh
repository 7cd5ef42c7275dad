#!/bin/bash
# Runs every suite kin has and ends with one line CI recognizes:
#   "N passed, N failed"
# Usage: tests/run.sh RELEASE_BUILD_DIR ASAN_BUILD_DIR
set -u
release=${1:-build/release}
asan=${2:-build/asan}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top" || exit 1

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs a suite that prints its own "N passed, N failed" line; adds its counts.
suite() {
	local name=$1
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "not ok - $name ended without a summary line"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
	failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

# One check of this script's own: "ok"/"not ok" and the count.
check() {
	local desc=$1
	shift
	if "$@" >"$log" 2>&1; then
		echo "ok - $desc"
		passed=$((passed + 1))
	else
		echo "not ok - $desc"
		sed 's/^/    /' "$log" | tail -n 20
		failed=$((failed + 1))
	fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

suite "unit tests (release)" "$release/kin-test"
suite "unit tests (ASan+UBSan)" "$asan/kin-test"
for t in tests/cli/*.sh; do
	[ -e "$t" ] || continue
	suite "$(basename "$t") (release)" bash "$t" "$release/kin"
	suite "$(basename "$t") (ASan+UBSan)" bash "$t" "$asan/kin"
done

# The fuzz targets under the sanitizers, driven by the plain driver: the
# seed corpus, then a fixed-seed stream of mutations (`make fuzz` runs the
# same targets under libFuzzer for coverage-guided search).
echo "== fuzz targets (ASan+UBSan)"
for f in "$asan"/fuzz/*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	check "fuzz $name: 200000 inputs without a crash" "$f" 200000 fuzz/corpus/"$name"/*
done

# valgrind over the tests that spawn, where it sees what the sanitizers may
# not (uninitialised reads across the clone boundary, fd and heap leaks).
if command -v valgrind >/dev/null; then
	echo "== valgrind"
	while read -r name; do
		check "valgrind $name" timeout 300 valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite "$release/kin-test" "$name"
	done < <("$release/kin-test" --list | grep -E "^($(paste -sd'|' tests/valgrind.list))")
fi

# The installed library, as a user of it sees it: headers, pkg-config,
# SONAME, and nothing internal exported.
echo "== install"
dest=$(mktemp -d)
check "make install into a staging root" make -s install DESTDIR="$dest" PREFIX=/usr O="$release"
pcdir="$dest/usr/lib/pkgconfig"
check "libkin.so has SONAME libkin.so.0" \
	sh -c "readelf -d '$dest/usr/lib/libkin.so' | grep -q 'SONAME.*libkin.so.0'"
check "only kin_* symbols are exported" \
	sh -c "! nm -D --defined-only '$dest/usr/lib/libkin.so' | awk '{print \$3}' | grep -v '^kin_[a-z]' | grep -v '^KIN_0$' | grep ."
check "a program builds with pkg-config and runs against the shared library" sh -c "
	cc -o '$dest/hello' tests/install/hello.c \$(PKG_CONFIG_SYSROOT_DIR='$dest' PKG_CONFIG_PATH='$pcdir' pkg-config --cflags --libs kin) &&
	LD_LIBRARY_PATH='$dest/usr/lib' '$dest/hello' | grep -q '^hello from kin 0.1.0$'"
rm -rf "$dest"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
