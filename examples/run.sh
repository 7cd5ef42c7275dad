#!/bin/sh
# Runs every example in the given build directory, each under a heading,
# then shows the kin command doing the jobs of timeout(1) and tini.
set -eu
dir=${1:-build/release}
for src in examples/*.c; do
	name=$(basename "$src" .c)
	echo "== examples/$name.c"
	"$dir/examples/$name"
	echo
done

echo "== kin run: a timeout, reported (-v), with timeout(1)'s exit status"
echo "\$ kin run -v --timeout 300ms -- sh -c 'echo working; sleep 5'"
status=0
"$dir/kin" run -v --timeout 300ms -- sh -c 'echo working; sleep 5' || status=$?
echo "exit status $status"
echo
echo "== kin run: a daemonizing grandchild still dies with its tree"
echo "\$ kin run -v -- sh -c 'setsid sleep 60.1234 & echo started a setsid sleeper; exit 3'"
status=0
"$dir/kin" run -v -- sh -c 'setsid sleep 60.1234 & echo started a setsid sleeper; exit 3' || status=$?
echo "exit status $status; setsid sleepers left: $(pgrep -fc 'sleep 60.1234' || true)"
echo
echo "== kin run: a sandbox, spelled as in bubblewrap"
echo "\$ kin run --unshare-all --hostname box --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --seccomp default -- sh -c '...'"
"$dir/kin" run --unshare-all --hostname box --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --seccomp default -- \
	sh -c 'echo "hostname: $(hostname), uid: $(id -u), environment: $(env | wc -l) variables"
echo "processes it can see:"; ps -e -o pid=,comm=
touch /etc/x 2>/dev/null || echo "writing /etc: refused (read-only)"
grep -E "NoNewPrivs|CapEff" /proc/self/status'
