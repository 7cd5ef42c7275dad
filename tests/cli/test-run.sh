#!/bin/bash
# Tests of `kin run` as a user sees it: the real binary, its exit codes, its
# output and its one-line messages.
#
#   tests/cli/test-run.sh path/to/kin
#
# Prints "ok N - what" or "not ok N - what" per check and "N passed, N failed"
# at the end; exits non-zero if any check failed. Every command runs under a
# 20 s limit, so a hang fails instead of blocking, and every process a check
# starts is gone by the time the script ends.
# Conditions are passed as strings and expanded when checked, and programs'
# scripts are expanded by the program: single quotes are meant.
# shellcheck disable=SC2016
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 path/to/kin" >&2
	exit 2
fi
KIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/kin-cli-test.XXXXXX")
# Marker durations for `sleep`, unique to this run, so the checks can find
# (and the cleanup can kill) exactly the processes this script started.
MARK="9$$"
mark() { echo "$MARK.$1"; }

n=0 pass=0 failed=0
rc='' out='' err=''
BG=()

cleanup() {
	local p
	for p in "${BG[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in $(pgrep -f "^sleep $MARK\\." 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- reporting

# check DESC COMMAND...: one check, passing when COMMAND succeeds.
check() {
	local desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
		pass=$((pass + 1))
	else
		echo "not ok $n - $desc"
		echo "#   rc=$rc"
		printf '%s\n' "$out" | sed 's/^/#   stdout: /'
		printf '%s\n' "$err" | sed 's/^/#   stderr: /'
		failed=$((failed + 1))
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
	pass=$((pass + 1))
}

# Conditions for check.
rc_is() { [ "$rc" = "$1" ]; }
out_is() { [ "$out" = "$1" ]; }
err_is() { [ "$err" = "$1" ]; }
err_has() { case $err in *"$1"*) return 0 ;; esac; return 1; }
out_has() { case $out in *"$1"*) return 0 ;; esac; return 1; }
all() { # all 'cond1' 'cond2' ...: every condition holds
	local c
	for c in "$@"; do
		eval "$c" || return 1
	done
}

# ---- running kin

# run ARGS...: runs kin in the foreground under `timeout 20`, stdin from
# /dev/null; sets rc, out and err.
run() {
	timeout -s KILL 20 "$KIN" "$@" <"$T/stdin" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}
: >"$T/stdin"

# start ARGS...: runs kin in the background (so the checks can signal it by
# its own pid, not timeout's); sets pid.
start() {
	"$KIN" "$@" <"$T/stdin" >"$T/out" 2>"$T/err" &
	pid=$!
	BG+=("$pid")
}

# finish: waits up to 20 s for the background kin, SIGKILLs it after that;
# sets rc, out and err.
finish() {
	local i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 400 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	BG=() # reaped: its pid may be reused, so never signal it again
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# wait_for COMMAND...: polls COMMAND for up to 10 s.
wait_for() {
	local i=0
	until "$@"; do
		[ $i -ge 200 ] && return 1
		sleep 0.05
		i=$((i + 1))
	done
}

exists() { [ -e "$1" ]; }
# Processes running exactly `sleep DUR`.
count_sleep() { pgrep -fc "^sleep $1\$" 2>/dev/null || true; }
sleep_count_is() { [ "$(count_sleep "$1")" = "$2" ]; }

# ---- exit codes

run run true
check "exit 0 passes through" all 'rc_is 0' 'out_is ""' 'err_is ""'

run run sh -c 'exit 3'
check "exit 3 passes through" rc_is 3

run run -- sh -c 'exit 255'
check "exit 255 passes through" rc_is 255

run run sh -c 'kill -TERM $$'
check "killed by SIGTERM gives 143" all 'rc_is 143' 'err_is ""'

run run sh -c 'kill -KILL $$'
check "killed by SIGKILL gives 137" rc_is 137

run run --no-tree sh -c 'kill -TERM $$'
check "killed by SIGTERM gives 143 without tree mode too" rc_is 143

run run echo -v --help -- x
check "options after PROGRAM are the program's" all 'rc_is 0' 'out_is "-v --help -- x"'

# ---- failures: one line each

run run kin-no-such-program-xyz
check "missing program gives 127 and says so" \
	all 'rc_is 127' 'err_is "kin run: kin-no-such-program-xyz: not found in PATH"'

run run "$T/no-such-file"
check "missing path gives 127" all 'rc_is 127' "err_is 'kin run: $T/no-such-file: not found'"

echo "just text" >"$T/file.txt"
chmod 644 "$T/file.txt"
run run "$T/file.txt"
check "non-executable file gives 126 and says so" \
	all 'rc_is 126' "err_is 'kin run: $T/file.txt: permission denied (not executable)'"

(cd "$T" && timeout -s KILL 20 "$KIN" run ./file.txt >"$T/out" 2>"$T/err")
rc=$? out=$(cat "$T/out") err=$(cat "$T/err")
check "relative non-executable file gives 126" \
	all 'rc_is 126' 'err_is "kin run: ./file.txt: permission denied (not executable)"'

printf '\177ELF garbage' >"$T/badexec"
chmod 755 "$T/badexec"
run run "$T/badexec"
check "executable garbage gives 126 (exec format error)" \
	all 'rc_is 126' "err_has 'kin run: $T/badexec: cannot execute'" \
	'[ "$(printf "%s\n" "$err" | wc -l)" = 1 ]'

printf '#!/no/such/interpreter\n' >"$T/badinterp"
chmod 755 "$T/badinterp"
run run "$T/badinterp"
check "script with a missing interpreter gives 127 and says why" \
	all 'rc_is 127' "err_is 'kin run: $T/badinterp: cannot execute: its #! interpreter was not found'"

run run "$T"
check "a directory gives 126" all 'rc_is 126' "err_is 'kin run: $T: is a directory'"

run run --frobnicate true
check "unknown option gives 125 and points at --help" \
	all 'rc_is 125' "err_is \"kin run: unknown option '--frobnicate'; try 'kin run --help'\""

run run -x true
check "unknown short option gives 125" \
	all 'rc_is 125' "err_is \"kin run: unknown option '-x'; try 'kin run --help'\""

run run --timeout
check "option without its value gives 125" \
	all 'rc_is 125' "err_is \"kin run: option '--timeout' needs a value; try 'kin run --help'\""

run run --group=yes true
check "flag given a value gives 125" \
	all 'rc_is 125' "err_is \"kin run: option '--group' takes no value; try 'kin run --help'\""

run run --timeout 5x true
check "bad duration gives 125 and an example" \
	all 'rc_is 125' "err_is 'kin run: --timeout: invalid duration \"5x\" (use e.g. 10, 1.5s, 500ms)'"

bad_durations_ok() {
	local d
	for d in "" "-1" "+1" " 1" "1 " "1." "." "s" "1e3" "0x10" "1m" "1.5.2" "10sec" "nan" "inf"; do
		run run --kill-after "$d" true
		if ! rc_is 125 || ! err_has "--kill-after: invalid duration"; then
			err="for \"$d\": $err"
			return 1
		fi
	done
}
check "garbage durations are refused: empty, sign, space, junk, exponent" bad_durations_ok

run run --timeout 99999999999999999999 true
check "overflowing duration gives 125" \
	all 'rc_is 125' "err_is 'kin run: --timeout: duration \"99999999999999999999\" is too large'"

run run --signal NOPE --timeout 1 true
check "bad signal gives 125" \
	all 'rc_is 125' "err_is 'kin run: --signal: unknown signal \"NOPE\" (use e.g. TERM, SIGINT, 9)'"

run run
check "missing PROGRAM gives 125" \
	all 'rc_is 125' "err_is \"kin run: missing PROGRAM to run; try 'kin run --help'\""

run run --timeout 1 --
check "missing PROGRAM after -- gives 125" rc_is 125

run run --cwd "$T/no-such-dir" true
check "bad --cwd gives 125 naming the directory" \
	all 'rc_is 125' "err_is 'kin run: --cwd: cannot change directory to \"$T/no-such-dir\": No such file or directory'"

run run --env NOEQUALS true
check "--env without = gives 125" \
	all 'rc_is 125' "err_is 'kin run: --env: \"NOEQUALS\" is not NAME=VALUE'"

run run --stdout "$T/no-such-dir/out" true
check "unopenable --stdout gives 125 naming the file" \
	all 'rc_is 125' "err_is 'kin run: --stdout: cannot open \"$T/no-such-dir/out\": No such file or directory'"

run run --stdin "$T/no-such-input" true
check "missing --stdin file gives 125" \
	all 'rc_is 125' "err_has 'kin run: --stdin: cannot open'"

# ---- kin itself

run --help
check "kin --help exits 0 with usage" all 'rc_is 0' 'out_has "usage: kin COMMAND"'

run --version
check "kin --version prints the version" all 'rc_is 0' 'out_is "kin 0.1.0"'

run run --version
check "kin run --version prints the version" all 'rc_is 0' 'out_is "kin 0.1.0"'

run run --help
check "kin run --help exits 0 with usage" all 'rc_is 0' 'out_has "usage: kin run"' 'err_is ""'

run help run
check "kin help run shows run's usage" all 'rc_is 0' 'out_has "usage: kin run"'

run
check "kin alone gives usage on stderr and 125" all 'rc_is 125' 'err_has "usage: kin"' 'out_is ""'

run frobnicate
check "unknown command gives 125" all 'rc_is 125' "err_has \"kin: unknown command 'frobnicate'\""

# ---- timeouts
# A program that traps the timeout signal must have set its trap before the
# timeout, and must get to run its trap before a --kill-after: both are
# given generous times, so a loaded machine does not fail the checks.

S=$(mark 1)
run run --timeout 0.3 sleep "$S"
check "--timeout gives 124 and the child is gone" \
	all 'rc_is 124' 'err_is ""' "sleep_count_is $S 0"

run run --timeout 10 true
check "finishing in time keeps the program's status" rc_is 0

run run --timeout 0 sh -c 'exit 4'
check "--timeout 0 means no timeout" rc_is 4

S=$(mark 2)
run run -v --timeout 300ms --signal KILL sh -c "trap '' TERM; sleep $S"
check "--signal KILL at the timeout" \
	all 'rc_is 124' 'err_is "kin run: sh: killed(SIGKILL) after timeout"' "sleep_count_is $S 0"

run run -v --timeout 1 --signal 2 sh -c 'trap "echo got INT; exit 0" INT; while :; do sleep 0.05; done'
check "--signal by number; still 124 though the program exited 0" \
	all 'rc_is 124' 'out_is "got INT"' 'err_is "kin run: sh: exited(0) after timeout"'

run run -v --timeout 1 --kill-after 2 sh -c 'trap "echo got TERM" TERM; while :; do sleep 0.05; done'
check "--kill-after sends KILL to a program that survives TERM" \
	all 'rc_is 124' 'out_has "got TERM"' 'err_is "kin run: sh: killed(SIGKILL) after timeout"'

run run -v --timeout 1 --kill-after 10 sh -c 'trap "echo bye; exit 0" TERM; while :; do sleep 0.05; done'
check "--kill-after is not needed when TERM works" \
	all 'rc_is 124' 'out_is "bye"' 'err_is "kin run: sh: exited(0) after timeout"'

# ---- signal forwarding

forward_check() { # forward_check SIG EXPECTED_RC [KIN_OPTIONS...]
	local sig=$1 want=$2
	shift 2
	rm -f "$T/ready"
	start run "$@" -- sh -c "trap 'echo got $sig; exit $want' $sig; : >'$T/ready'; while :; do sleep 0.05; done"
	wait_for exists "$T/ready"
	kill -"$sig" "$pid"
	finish
	check "$sig is forwarded $*" all "rc_is $want" "out_is 'got $sig'"
}
forward_check USR1 7
forward_check TERM 8
forward_check HUP 9
forward_check INT 10 # the child re-enables INT, which a background job ignores
forward_check QUIT 11
forward_check USR2 12
forward_check WINCH 13
forward_check CONT 16
forward_check USR1 14 --no-tree
forward_check TERM 15 --new-session

rm -f "$T/ready"
start run -- sh -c ": >'$T/ready'; while :; do sleep 0.05; done"
wait_for exists "$T/ready"
kill -TERM "$pid"
finish
check "TERM kills a program that does not catch it: 143" rc_is 143

group_check() { # group_check [KIN_OPTIONS...]
	rm -f "$T/gc-ready"
	start run --group "$@" -- sh -c "
		trap 'echo leader got USR1' USR1
		sh -c \"trap 'echo grandchild got USR1; exit 5' USR1; : >'$T/gc-ready'; while :; do sleep 0.05; done\" &
		gc=\$!
		wait \$gc; wait \$gc"
	wait_for exists "$T/gc-ready"
	kill -USR1 "$pid"
	finish
	check "--group forwards to a grandchild in the group $*" \
		all 'rc_is 5' 'out_has "leader got USR1"' 'out_has "grandchild got USR1"'
}
group_check
group_check --no-tree

# Terminal signals: the terminal signals its whole foreground group, which
# the program shares with kin unless --group/--new-session. It must get
# exactly one Ctrl-C either way. Needs a C compiler for the helpers.
if ${CC:-cc} -O2 -o "$T/ptyrun" "$HERE/ptyrun.c" 2>"$T/cc.err" &&
	${CC:-cc} -O2 -o "$T/sigcount" "$HERE/sigcount.c" 2>>"$T/cc.err"; then
	for mode in "" "--no-tree" "--group" "--group --no-tree" "--new-session" \
		"--new-session --no-tree"; do
		rc=0
		# shellcheck disable=SC2086 # $mode is a list of options
		timeout -s KILL 20 "$T/ptyrun" "$T/ready" 3 "$KIN" run $mode -- \
			"$T/sigcount" "$T/ready" 2 >"$T/out" 2>"$T/err"
		rc=$?
		out=$(tr -d '\r' <"$T/out")
		err=$(cat "$T/err")
		check "Ctrl-C on a terminal reaches the program once ${mode:-(default)}" \
			all 'rc_is 0' 'out_has "count=1"'
	done
else
	skip "Ctrl-C on a terminal reaches the program once" "no C compiler ($(head -1 "$T/cc.err"))"
fi

# ---- tree mode: nothing outlives kin

S=$(mark 3)
start run -- sh -c "setsid sleep $S & sleep $S & sleep $S"
wait_for sleep_count_is "$S" 3
check "tree: the program and its descendants are running" sleep_count_is "$S" 3
# Braces: bash reports a background job killed by a signal on its stderr.
{
	kill -KILL "$pid"
	wait_for sleep_count_is "$S" 0
	finish
} 2>/dev/null
check "tree: SIGKILL of kin kills the whole tree, setsid'd ones too" \
	all 'rc_is 137' "sleep_count_is $S 0"

S=$(mark 4)
start run --no-tree sleep "$S"
wait_for sleep_count_is "$S" 1
# Braces: bash reports a background job killed by a signal on its stderr.
{
	kill -KILL "$pid"
	wait_for sleep_count_is "$S" 0
	finish
} 2>/dev/null
check "--no-tree: SIGKILL of kin still kills its direct child" \
	all 'rc_is 137' "sleep_count_is $S 0"

S=$(mark 5)
run run sh -c "sleep $S & exit 6"
check "tree: descendants die when the program exits" all 'rc_is 6' "sleep_count_is $S 0"

# Where no PID namespace can be made, tree mode fails clearly. Simulated as
# an unprivileged process in a user namespace that allows no nested ones.
nopidns() { # nopidns KIN_ARGS...
	timeout -s KILL 20 unshare -U -r sh -c '
		echo 0 >/proc/sys/user/max_user_namespaces || exit 99
		exec setpriv --securebits +noroot,+noroot_locked --inh-caps=-all \
			--bounding-set=-all "$@"' sh "$KIN" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$? out=$(cat "$T/out") err=$(cat "$T/err")
}
rc=unavailable
if command -v unshare >/dev/null && command -v setpriv >/dev/null; then
	nopidns run true
fi
# kin exits 0 or 125 here; anything else means the simulation failed.
if [ "$rc" = 125 ] || [ "$rc" = 0 ]; then
	check "no PID namespace: tree mode fails with 125 and the library's reason" \
		all 'rc_is 125' 'err_has "kin run: tree mode needs a PID namespace"' \
		'err_has "; --no-tree runs without it"' '[ "$(printf "%s\n" "$err" | wc -l)" = 1 ]'
	nopidns run --no-tree echo without-tree
	check "no PID namespace: --no-tree still runs" all 'rc_is 0' 'out_is without-tree'
else
	skip "no PID namespace: tree mode fails with 125" "cannot simulate here (rc=$rc)"
fi

# As PID 1 (of a container), kin inherits the orphans and must reap them.
# In tree mode its own init does that, so look without it.
count_zombies='(sleep 0.1 &); (sleep 0.1 &); sleep 1
	for f in /proc/[0-9]*/stat; do read -r l <"$f"; case $l in *") Z "*) echo "$l";; esac; done'
if timeout -s KILL 20 unshare -pf --mount-proc true 2>/dev/null; then
	timeout -s KILL 20 unshare -pf --mount-proc "$KIN" run --no-tree sh -c "$count_zombies" \
		>"$T/out" 2>"$T/err" </dev/null
	rc=$? out=$(cat "$T/out") err=$(cat "$T/err")
	check "as PID 1, kin reaps orphaned descendants" all 'rc_is 0' 'out_is ""'
else
	skip "as PID 1, kin reaps orphaned descendants" "unshare -p is not available"
fi

# ---- environment and directory

run run --env KIN_T1=hello sh -c 'echo "$KIN_T1"'
check "--env sets a variable" out_is hello

KIN_T2=inherited run run sh -c 'echo "$KIN_T2"'
check "the environment is inherited" out_is inherited

KIN_T2=inherited run run --unset KIN_T2 sh -c 'echo "${KIN_T2-unset}"'
check "--unset removes a variable" out_is unset

run run --unset KIN_T3 --env KIN_T3=later sh -c 'echo "${KIN_T3-unset}"'
check "--env after --unset wins" out_is later

run run --env KIN_T3=early --unset KIN_T3 sh -c 'echo "${KIN_T3-unset}"'
check "--unset after --env wins" out_is unset

run run --clearenv --env ONLY=1 env
check "--clearenv starts empty (and PATH falls back to a default)" all 'rc_is 0' 'out_is "ONLY=1"'

run run --cwd "$T" pwd
check "--cwd runs the program there" all 'rc_is 0' "out_is '$T'"

mkdir -p "$T/sub"
printf '#!/bin/sh\necho in-sub\n' >"$T/sub/script"
chmod 755 "$T/sub/script"
run run --cwd "$T/sub" ./script
check "--cwd applies before a relative PROGRAM is found" all 'rc_is 0' 'out_is in-sub'

# ---- sessions and groups, read from /proc/self/stat of the shell itself

# Prints the shell's "pgrp session" and then its pid, as the host sees them.
ids='read -r l </proc/self/stat; set -- ${l##*) }; echo "$3 $4"; echo "${l%% *}"'
is_leader() { # is_leader FIELD: the program's pgrp (1) or session (2) is its pid
	local pg sid me
	{ read -r pg sid; read -r me; } <<<"$out"
	if [ "$1" = 1 ]; then [ "$pg" = "$me" ]; else [ "$sid" = "$me" ]; fi
}
run run sh -c "$ids"
check "by default the program does not lead a group" all 'rc_is 0' '! is_leader 1'
run run --group sh -c "$ids"
check "--group makes the program a group leader" all 'rc_is 0' 'is_leader 1' '! is_leader 2'
run run --new-session sh -c "$ids"
check "--new-session makes the program a session leader" all 'rc_is 0' 'is_leader 2'
run run --new-session --no-tree sh -c "$ids"
check "--new-session works without tree mode" all 'rc_is 0' 'is_leader 2'

# ---- stdio

printf 'line one\nline two\n' >"$T/input"
run run --stdin "$T/input" cat
check "--stdin FILE" all 'rc_is 0' 'out_is "line one
line two"'

timeout -s KILL 20 "$KIN" run --stdin null cat <"$T/input" >"$T/out" 2>"$T/err"
rc=$? out=$(cat "$T/out") err=$(cat "$T/err")
check "--stdin null reads nothing though kin's stdin has data" all 'rc_is 0' 'out_is ""'

timeout -s KILL 20 "$KIN" run cat <"$T/input" >"$T/out" 2>"$T/err"
rc=$? out=$(cat "$T/out") err=$(cat "$T/err")
check "stdin is inherited by default" out_is "line one
line two"

echo stale >"$T/o"
run run --stdout "$T/o" sh -c 'echo to-out; echo to-err >&2'
check "--stdout FILE truncates and takes stdout only" \
	all 'rc_is 0' 'out_is ""' 'err_is to-err' '[ "$(cat "$T/o")" = to-out ]' \
	'[ "$(stat -c %a "$T/o")" = 644 ]'

run run --stderr "$T/e" sh -c 'echo to-out; echo to-err >&2'
check "--stderr FILE takes stderr only" \
	all 'rc_is 0' 'out_is to-out' 'err_is ""' '[ "$(cat "$T/e")" = to-err ]'

run run --stdout "$T/both" --stderr "$T/both" sh -c 'echo one; echo two >&2; echo three'
check "--stdout and --stderr to the same file share it" \
	all 'rc_is 0' '[ "$(cat "$T/both")" = "one
two
three" ]'

run run --stdout null --stderr null sh -c 'echo to-out; echo to-err >&2'
check "--stdout null and --stderr null" all 'rc_is 0' 'out_is ""' 'err_is ""'

# ---- sandbox options (bubblewrap's spelling)
# A bad value or an impossible combination is one line and 125, before
# anything runs: the program would create $T/ran.

rm -f "$T/ran"
refused() { # refused LINE KIN_RUN_ARGS...: 125, exactly LINE, nothing ran
	local line=$1
	shift
	run run "$@" touch "$T/ran"
	rc_is 125 && err_is "$line" && out_is "" && ! exists "$T/ran"
}
check "--hostname needs --unshare-uts" \
	refused "kin run: --hostname needs --unshare-uts (or --unshare-all)" --hostname box
check "--uid needs --unshare-user" \
	refused "kin run: --uid needs --unshare-user (or --unshare-all)" --unshare-net --uid 1000
check "--cgroup-parent must be absolute" \
	refused 'kin run: --cgroup-parent: "rel" is not an absolute path' --cgroup-parent rel --pids 4
check "--gid needs --unshare-user" \
	refused "kin run: --gid needs --unshare-user (or --unshare-all)" --gid 1000
check "--as-pid-1 needs --unshare-pid" \
	refused "kin run: --as-pid-1 needs --unshare-pid (or --unshare-all)" --as-pid-1
check "--no-tree with --unshare-pid is refused" \
	refused "kin run: --unshare-pid cannot go with --no-tree (a new PID namespace is what tree mode makes)" \
	--no-tree --unshare-pid
check "--no-tree with --unshare-all is refused" \
	refused "kin run: --unshare-all cannot go with --no-tree (a new PID namespace is what tree mode makes)" \
	--unshare-all --no-tree
check "--share-net needs --unshare-all" refused "kin run: --share-net needs --unshare-all" --share-net
check "--share-net contradicts --unshare-net" \
	refused "kin run: --share-net and --unshare-net contradict each other" \
	--unshare-all --share-net --unshare-net
check "--seccomp-kill needs --seccomp" refused "kin run: --seccomp-kill needs --seccomp" --seccomp-kill
run run --bind /usr
check "--bind without DEST" \
	all 'rc_is 125' "err_is \"kin run: option '--bind' needs two values: SRC DEST; try 'kin run --help'\""
run run --setenv ONLY
check "--setenv without VALUE" \
	all 'rc_is 125' "err_is \"kin run: option '--setenv' needs two values: VAR VALUE; try 'kin run --help'\""
check "a relative mount DEST" \
	refused 'kin run: --ro-bind: DEST "usr" is not an absolute path' --ro-bind /usr usr
check "--perms before something other than --tmpfs or --dir" \
	refused "kin run: --perms 0700 must be followed by --tmpfs or --dir, not --bind; try 'kin run --help'" \
	--perms 0700 --bind /a /b
check "a bad --perms" \
	refused 'kin run: --perms: "999" is not an octal mode (use e.g. 0700, 1777)' --perms 999 --tmpfs /t
check "an unknown capability" \
	refused 'kin run: --cap-add: unknown capability "CAP_FLY" (use e.g. CAP_NET_ADMIN, net_admin, or ALL)' \
	--cap-add CAP_FLY
check "an unknown seccomp profile" \
	refused "kin run: --seccomp: unknown profile \"strict\" (use default, no-network, or a file's path with a '/', e.g. ./my.profile)" \
	--seccomp strict
check "an unknown rlimit" \
	refused 'kin run: --rlimit: unknown resource "FILES" (use e.g. NOFILE, NPROC, CORE, AS, CPU, FSIZE, MEMLOCK, STACK)' \
	--rlimit FILES=10
check "a bad rlimit value" \
	refused 'kin run: --rlimit: NOFILE: the soft limit is above the hard one in "64:32"' --rlimit NOFILE=64:32
check "a bad --memory" \
	refused 'kin run: --memory: invalid size "1.5G" (bytes, or with a K, M, G or T suffix: 512M, 2G)' \
	--memory 1.5G
check "a bad --cpus" \
	refused 'kin run: --cpus: invalid number of CPUs "half" (use e.g. 0.5, 2, 1.25)' --cpus half
check "a bad --pids" refused 'kin run: --pids: the limit must be more than 0' --pids 0
check "a bad --uid" refused 'kin run: --uid: "root" is not a number' --unshare-user --uid root

run run --help
check "kin run --help has a Sandbox block" \
	all 'rc_is 0' 'out_has "Sandbox"' 'out_has "--unshare-all"' 'out_has "--ro-bind SRC DEST"' \
	'out_has "--rlimit RES=N"' '[ "$(printf "%s\n" "$out" | awk "length > 80" | wc -l)" = 0 ]'

# Usable without a sandbox.
run run --rlimit NOFILE=64:128 sh -c 'ulimit -Sn; ulimit -Hn'
check "--rlimit sets the soft and hard limits" all 'rc_is 0' 'out_is "64
128"'

run run --rlimit NOFILE=99999999999 true
check "an rlimit the kernel refuses is one line and 125" \
	all 'rc_is 125' 'err_has "kin run: --rlimit: cannot set the limits of true: "' \
	'[ "$(printf "%s\n" "$err" | wc -l)" = 1 ]'

run run --chdir "$T" --setenv KIN_T4 "a b" --unsetenv HOME sh -c 'pwd; echo "$KIN_T4 ${HOME-nohome}"'
check "--chdir, --setenv and --unsetenv are --cwd, --env and --unset" \
	all 'rc_is 0' "out_is '$T
a b nohome'"

run run --chdir "$T/no-such-dir" true
check "a bad --chdir is named as such" \
	all 'rc_is 125' "err_is 'kin run: --chdir: cannot change directory to \"$T/no-such-dir\": No such file or directory'"

# In a sandbox, where this machine can make namespaces at all.
one_line_failure() {
	rc_is 125 && case $err in "kin run: "*) ;; *) return 1 ;; esac &&
		[ "$(printf "%s\n" "$err" | wc -l)" = 1 ] && ! err_has "cannot start"
}
if timeout -s KILL 20 unshare -U -u -p -f true 2>/dev/null; then
	KIN_T5=outside run run --unshare-uts --hostname kin-box --setenv ONLY 1 \
		sh -c 'hostname; env | grep -v "^PWD=\|^SHLVL=\|^_="'
	check "--unshare-uts --hostname; only --setenv variables go in" \
		all 'rc_is 0' 'out_is "kin-box
ONLY=1"'

	run run --unshare-pid sh -c 'echo $$'
	check "--unshare-pid: the program runs under kin's pid 1" all 'rc_is 0' 'out_is 2'

	run run --unshare-pid --as-pid-1 sh -c 'echo $$'
	check "--as-pid-1: the program is pid 1" all 'rc_is 0' 'out_is 1'

	run run --unshare-user --uid 4242 --gid 4343 sh -c 'id -u; id -g'
	check "--unshare-user --uid --gid" all 'rc_is 0' 'out_is "4242
4343"'
else
	skip "sandboxes run" "this machine cannot make namespaces"
fi

run run --ro-bind "$T/no-such-dir" /x true
check "a mount that fails is one line and 125, naming the step" \
	all one_line_failure "err_has 'ro-bind $T/no-such-dir /x'" "err_has 'No such file or directory'"

run run --seccomp "$T/no-such.profile" true
check "a missing seccomp profile file is one line and 125" \
	all one_line_failure "err_has '$T/no-such.profile'"

KIN_T6=kept run run --memory 64M --pids 32 --cpus 0.5 sh -c 'echo "${KIN_T6-unset}"'
# Whether the cgroup controllers are delegated depends on the machine.
check "cgroup limits alone keep the environment, or say in one line what is missing" \
	eval '{ rc_is 0 && out_is kept; } || one_line_failure'

# Landlock (kin's own flags). A relative path is refused before anything
# runs, whether or not the kernel has landlock.
check "a relative --landlock-read path" \
	refused 'kin run: --landlock-read: "usr" is not an absolute path' --landlock-read usr

# The program must be readable and executable under the rules: on Debian
# /bin, /lib and /lib64 are symlinks into /usr, so /usr holds it, its
# loader and libc; elsewhere the real directories are allowed too.
LL=(--landlock-read /usr --landlock-exec /usr)
for d in /bin /lib /lib64 /sbin; do
	if [ -d "$d" ] && [ ! -L "$d" ]; then LL+=(--landlock-read "$d" --landlock-exec "$d"); fi
done
mkdir -p "$T/ll-ok" "$T/ll-no" "$T/ll-w"
echo allowed >"$T/ll-ok/file"
echo secret >"$T/ll-no/file"
run run "${LL[@]}" --landlock-read "$T/ll-ok" -- cat "$T/ll-ok/file"
if rc_is 125 && err_has "landlock rules need landlock"; then
	skip "landlock rules run" "this kernel has no landlock ($err)"
else
	check "--landlock-read: a file under an allowed path can be read" \
		all 'rc_is 0' 'out_is allowed' 'err_is ""'

	run run "${LL[@]}" --landlock-read "$T/ll-ok" -- cat "$T/ll-no/file"
	check "--landlock-read: a file under no rule cannot (EACCES)" \
		all 'rc_is 1' 'out_is ""' 'err_has "Permission denied"'

	if [ -r /etc/hostname ]; then
		run run "${LL[@]}" -- /bin/cat /etc/hostname
		check "--landlock-read /usr --landlock-exec /usr: /etc/hostname is out of reach" \
			all 'rc_is 1' 'out_is ""' 'err_has "/etc/hostname: Permission denied"'
	else
		skip "/etc/hostname is out of reach" "there is no /etc/hostname"
	fi

	run run "${LL[@]}" --landlock-write "$T/ll-w" -- sh -c "echo in >'$T/ll-w/new'"
	check "--landlock-write: a file can be made and written under an allowed path" \
		all 'rc_is 0' 'err_is ""' '[ "$(cat "$T/ll-w/new")" = in ]'

	run run "${LL[@]}" --landlock-write "$T/ll-w" -- sh -c "echo out >'$T/ll-out'"
	check "--landlock-write: nothing can be made outside it" \
		all '! rc_is 0' 'err_has "Permission denied"' '! exists "$T/ll-out"'

	run run "${LL[@]}" --landlock-write "$T/ll-w" -- cat "$T/ll-w/new"
	check "--landlock-write alone does not allow reading" \
		all 'rc_is 1' 'out_is ""' 'err_has "Permission denied"'

	rm -f "$T/ran"
	run run --landlock-read / --landlock-exec / --landlock-write "$T/no-such-dir" -- touch "$T/ran"
	check "a --landlock-write path that does not exist: the rule named, 125, nothing ran" \
		all 'rc_is 125' "err_is 'kin run: sandbox: landlock rule 1 (w $T/no-such-dir): No such file or directory'" \
		'! exists "$T/ran"'

	run run --landlock-read /usr -- /bin/true
	check "--landlock-read without --landlock-exec: the program cannot start (126)" \
		all 'rc_is 126' 'err_has "kin run: /bin/true: permission denied (not executable, or it or its loader is outside the --landlock-read and --landlock-exec paths)"' '[ "$(printf "%s\n" "$err" | wc -l)" = 1 ]'

	KIN_T7=kept run run "${LL[@]}" -- sh -c 'echo "${KIN_T7-unset}"'
	check "landlock rules alone keep the environment" all 'rc_is 0' 'out_is kept'

	KIN_T7=kept run run "${LL[@]}" --cap-drop ALL -- sh -c 'echo "${KIN_T7-unset}"'
	check "landlock rules in a sandbox: the environment starts empty" all 'rc_is 0' 'out_is unset'

	# A kernel without landlock, as the inner kin sees it: the outer one's
	# seccomp profile denies landlock_create_ruleset.
	printf 'deny landlock_create_ruleset\n' >"$T/no-landlock.profile"
	rm -f "$T/ran"
	run run --no-tree --seccomp "$T/no-landlock.profile" -- \
		"$KIN" run --no-tree --landlock-read / -- touch "$T/ran"
	check "landlock blocked by a seccomp filter: one line and 125, nothing ran" \
		all 'rc_is 125' 'err_is "kin run: landlock rules need landlock, which is blocked here (by a seccomp filter?) (landlock_create_ruleset: Operation not permitted)"' \
		'[ "$(printf "%s\n" "$err" | wc -l)" = 1 ]' '! exists "$T/ran"'

	if timeout -s KILL 20 unshare -U -m true 2>/dev/null; then
		run run --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib \
			--symlink usr/lib64 /lib64 --tmpfs /tmp "${LL[@]}" --landlock-read /tmp/not-here true
		check "a landlock path missing in the new root is one line and 125" \
			all one_line_failure 'err_has "landlock rule"' 'err_has "/tmp/not-here): No such file or directory"'
	else
		skip "a landlock path missing in the new root" "this machine cannot make namespaces"
	fi
fi

# Inside a user namespace of our own whose user namespace limit is 0, a
# sandbox that needs one cannot be made, and kin says exactly why.
if unshare -Ur true 2>/dev/null; then
	timeout -s KILL 20 unshare -Ur sh -c \
		'echo 0 >/proc/sys/user/max_user_namespaces && exec "$0" run --unshare-user true' \
		"$KIN" <"$T/stdin" >"$T/out" 2>"$T/err"
	rc=$?
	err=$(cat "$T/err")
	check "disabled user namespaces are one clear line and 125" \
		all 'rc_is 125' 'err_is "kin run: user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0"'
else
	skip "disabled user namespaces" "unshare -Ur does not work here"
fi

# ---- verbose

run run -v true
check "-v reports exited(0)" all 'rc_is 0' 'err_is "kin run: true: exited(0)"'

run run --verbose sh -c 'kill -TERM $$'
check "-v reports killed(SIGTERM)" all 'rc_is 143' 'err_is "kin run: sh: killed(SIGTERM)"'

S=$(mark 6)
run run -v --timeout 0.2 sleep "$S"
check "-v reports a timeout" all 'rc_is 124' 'err_is "kin run: sleep: killed(SIGTERM) after timeout"'

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
