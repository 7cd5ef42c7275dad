/* sandbox_spawn: spawn and wait /bin/true inside new user, pid, mount, net,
 * uts and ipc namespaces with a read-only root, against Debian's bwrap
 * with the same namespaces and binds, run as a whole process. Two lines:
 * the library call (kin_proc_spawn), and `kin run` as a whole process as
 * well, which is the like-for-like comparison with bwrap. */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ROUNDS 100

/* A namespace's last exit leaves kernel work behind (the net namespace's
 * cleanup, RCU grace periods) that runs a moment later; each run starts
 * this long after the last so that work lands in no measurement. */
#define SETTLE_NS 3000000L

static const char *const bwrap_argv[] = {
	"bwrap",
	"--unshare-user",
	"--unshare-pid",
	"--unshare-net",
	"--unshare-uts",
	"--unshare-ipc",
	"--ro-bind",
	"/",
	"/",
	"/bin/true",
	NULL,
};

/* The same, for `kin run`: "kin", "run", then bwrap's arguments. */
static const char *kin_run_argv[2 + sizeof(bwrap_argv) / sizeof(bwrap_argv[0])];

/* Seconds for one whole program to run to its end, or -1. */
static double run_program(const char *path, const char *const *argv, int *err)
{
	double t0 = bench_seconds();
	pid_t pid;
	int r = posix_spawn(&pid, path, NULL, NULL, (char *const *)(uintptr_t)argv, environ);
	if (r != 0) {
		*err = -r;
		return -1;
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR) {
			*err = -errno;
			return -1;
		}
	double t = bench_seconds() - t0;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		*err = -ECHILD;
		return -1;
	}
	return t;
}

static double library_spawn(kin_loop *loop, int *err)
{
	static const char *const true_argv[] = {"/bin/true", NULL};
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.namespaces =
		KIN_NS_USER | KIN_NS_PID | KIN_NS_MOUNT | KIN_NS_NET | KIN_NS_UTS | KIN_NS_IPC;
	/* What bwrap's --ro-bind / / does, no more (ro_root adds a /dev). */
	static const kin_mount ro_bind_root[] = {
		{.kind = KIN_MOUNT_RO_BIND, .source = "/", .dest = "/"}};
	sb.mounts = ro_bind_root;
	sb.nmounts = 1;
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = true_argv;
	o.sandbox = &sb;
	double t0 = bench_seconds();
	kin_proc *p;
	kin_status st;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, &o, &p, &why);
	if (r < 0) {
		bench_note("sandbox_spawn: %s", why.message);
		*err = r;
		return -1;
	}
	r = kin_proc_wait(p, KIN_FOREVER, &st);
	kin_proc_free(p);
	double t = bench_seconds() - t0;
	if (r < 0 || st.kind != KIN_EXITED || st.code != 0) {
		*err = r < 0 ? r : -ECHILD;
		return -1;
	}
	return t;
}

/* The kin command beside this benchmark's binary. */
static bool find_kin(char *path, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", path, size - 8);
	if (n <= 0)
		return false;
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash)
		return false;
	strcpy(slash + 1, "kin");
	return access(path, X_OK) == 0;
}

void bench_sandbox_spawn(void)
{
	const char *bwrap = "/usr/bin/bwrap";
	char kin[PATH_MAX];
	if (access(bwrap, X_OK) != 0 || !find_kin(kin, sizeof(kin))) {
		bench_fail("sandbox_spawn", "finding bwrap (apt-get install bubblewrap) and kin",
			   -ENOENT);
		return;
	}
	kin_run_argv[0] = kin;
	kin_run_argv[1] = "run";
	for (size_t i = 1; i < sizeof(bwrap_argv) / sizeof(bwrap_argv[0]); i++)
		kin_run_argv[1 + i] = bwrap_argv[i];
	kin_loop *loop = NULL;
	int err = kin_loop_new(&loop);
	double lib[ROUNDS], cli[ROUNDS], raw[ROUNDS];
	for (int r = -2; err == 0 && r < ROUNDS; r++) { /* two rounds to warm up */
		/* Each side first in turn, so drift hits all three alike. */
		double t[3] = {0};
		for (int k = 0; k < 3 && err == 0; k++) {
			int side = (k + (r < 0 ? 0 : r)) % 3;
			nanosleep(&(struct timespec){.tv_nsec = SETTLE_NS}, NULL);
			t[side] = side == 0   ? library_spawn(loop, &err)
				  : side == 1 ? run_program(kin, kin_run_argv, &err)
					      : run_program(bwrap, bwrap_argv, &err);
		}
		if (err == 0 && r >= 0) {
			lib[r] = t[0] * 1e6;
			cli[r] = t[1] * 1e6;
			raw[r] = t[2] * 1e6;
		}
	}
	kin_loop_free(loop);
	if (err) {
		bench_fail("sandbox_spawn", "spawning /bin/true in a sandbox", err);
		return;
	}
	double k = bench_median(lib, ROUNDS), c = bench_median(cli, ROUNDS),
	       b = bench_median(raw, ROUNDS);
	bench_result("sandbox_spawn", k, b, "us", k / b);
	bench_result("sandbox_spawn_cli", c, b, "us", c / b);
	bench_note("sandbox_spawn: /bin/true in new user, pid, mount, net, uts and ipc namespaces "
		   "with a read-only root: kin_proc_spawn + wait (first line) and `kin run` as a "
		   "process (second) vs bwrap as a process; %d rounds, each run %ld ms after the "
		   "last, median; target for kin run: time ratio <= 1.0: %s",
		   ROUNDS, SETTLE_NS / 1000000, bench_verdict(c / b <= 1.0));
}
