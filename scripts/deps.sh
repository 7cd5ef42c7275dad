#!/bin/sh
# Installs the Debian packages kin's build, tests and demo need, if missing.
# Idempotent and quiet when everything is already there.
set -eu

# build: compiler, make, pkg-config, msgpack-c (the worker protocol);
# tests: valgrind, procps (pgrep/ps), util-linux (setsid), coreutils, and
# Debian's python3 with python3-msgpack (the Python worker example);
# sandboxes: libseccomp-dev (seccomp profiles), iproute2 (network tests),
# bubblewrap (the baseline of the sandbox_spawn benchmark).
PKGS="gcc make libc6-dev pkgconf libmsgpack-dev libseccomp-dev valgrind procps util-linux coreutils python3 python3-msgpack iproute2 bubblewrap"
# `make fuzz` also needs clang and its libFuzzer runtime.
if [ "${1:-}" = fuzz ]; then
	PKGS="$PKGS clang libclang-rt-14-dev"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: missing Debian packages:$missing; run as root or install them: apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
