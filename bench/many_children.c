/* many_children: the cost per child of a full life through the loop:
 * spawn N `sleep` children that all stay alive together, then SIGKILL every
 * one and reap them all from kin_loop_run through kin_proc_on_exit
 * callbacks. Per-event work in kin is O(1) (each epoll event points
 * straight at its watch), so the cost per child at N=10000 should match the
 * cost at N=100; the baseline is that small-N figure.
 *
 * Rounds at N=100 run before, between and after the large rounds. For
 * context, the same job in raw C (posix_spawn, pidfd_open, epoll,
 * pidfd_send_signal, waitid) is measured at both sizes too, and so is what
 * a raw spawn pays for a large fd table, since the kernel's own per-spawn
 * work grows with the number of fds the owner holds. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_LARGE 10000
#define N_SMALL 100
#define SMALL_EACH 3 /* per side, in every block of small rounds */
/* S: a block of small rounds (kin and raw alternating); K: a large kin
 * round; R: a large raw round. */
#define SCHEDULE "SKSKSRSKS" /* three large kin rounds: a true median */

#define TAX_ROUNDS 3
#define TAX_SPAWNS 100

extern char **environ;

static const char *const sleep_argv[] = {"/bin/sleep", "1000", NULL};

/* Microseconds per child, in all and by phase. */
typedef struct cost {
	double total, spawn, kill, reap;
} cost;

static void set_cost(cost *c, size_t n, double t0, double t1, double t2, double t3)
{
	c->total = (t3 - t0) * 1e6 / (double)n;
	c->spawn = (t1 - t0) * 1e6 / (double)n;
	c->kill = (t2 - t1) * 1e6 / (double)n;
	c->reap = (t3 - t2) * 1e6 / (double)n;
}

/* ---- kin */

typedef struct family {
	size_t reaped;
	int err;
} family;

static void on_exit_cb(kin_proc *p, const kin_status *st, void *userdata)
{
	family *f = userdata;
	if (st->kind != KIN_KILLED || st->signal != SIGKILL)
		f->err = -ECHILD;
	f->reaped++;
	kin_proc_free(p);
}

static int kin_round(size_t n, cost *c)
{
	kin_proc **procs = calloc(n, sizeof(*procs));
	kin_loop *loop = NULL;
	int r = procs ? kin_loop_new(&loop) : -ENOMEM;
	if (r < 0) {
		free(procs);
		return r;
	}
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = sleep_argv;
	for (int i = 0; i < 3; i++)
		o.stdio[i].kind = KIN_STDIO_NULL;
	family f = {0};
	double t0 = bench_seconds();
	for (size_t i = 0; i < n; i++) {
		if ((r = kin_proc_spawn(loop, &o, &procs[i], NULL)) < 0)
			goto out;
	}
	double t1 = bench_seconds();
	for (size_t i = 0; i < n; i++) {
		if ((r = kin_proc_on_exit(procs[i], on_exit_cb, &f)) < 0 ||
		    (r = kin_proc_kill(procs[i], SIGKILL)) < 0)
			goto out;
	}
	double t2 = bench_seconds();
	r = kin_loop_run(loop, kin_after(120 * KIN_SEC));
	double t3 = bench_seconds();
	if (r >= 0)
		r = f.err;
	if (r == 0 && f.reaped != n)
		r = -ETIMEDOUT;
	if (r == 0) /* every proc has freed itself in on_exit_cb */
		set_cost(c, n, t0, t1, t2, t3);
out:
	/* On failure the loop kills and reaps whatever is left. */
	kin_loop_free(loop);
	free(procs);
	return r < 0 ? r : 0;
}

/* ---- raw C */

static int raw_round(size_t n, cost *c)
{
	char *argv[] = {"/bin/sleep", "1000", NULL};
	int *pidfd = malloc(n * sizeof(*pidfd));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
	size_t spawned = 0, reaped = 0;
	int r = !pidfd ? -ENOMEM : ep < 0 ? -errno : 0;
	double t0 = bench_seconds();
	for (; r == 0 && spawned < n; spawned++) {
		pid_t pid;
		if ((r = -posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)) < 0)
			break;
		pidfd[spawned] = (int)syscall(SYS_pidfd_open, pid, 0);
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = spawned};
		if (pidfd[spawned] < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, pidfd[spawned], &ev) < 0) {
			r = -errno;
			/* Not counted in `spawned`: bury it here. */
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			if (pidfd[spawned] >= 0)
				close(pidfd[spawned]);
			break;
		}
	}
	double t1 = bench_seconds();
	for (size_t i = 0; i < spawned; i++)
		syscall(SYS_pidfd_send_signal, pidfd[i], SIGKILL, NULL, 0);
	double t2 = bench_seconds();
	while (reaped < spawned) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, -1);
		if (k < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (int j = 0; j < k; j++) {
			size_t i = evs[j].data.u64;
			siginfo_t si;
			while (waitid(P_PIDFD, (id_t)pidfd[i], &si, WEXITED) < 0 && errno == EINTR)
				;
			epoll_ctl(ep, EPOLL_CTL_DEL, pidfd[i], NULL);
			close(pidfd[i]);
			reaped++;
		}
	}
	double t3 = bench_seconds();
	if (r == 0)
		set_cost(c, n, t0, t1, t2, t3);
	posix_spawn_file_actions_destroy(&fa);
	if (ep >= 0)
		close(ep);
	free(pidfd);
	return r;
}

/* Lets the large round hold one pidfd per child; returns how many children
 * fit, at most N_LARGE, and explains any cut on a '#' line. */
static size_t fit_large(void)
{
	struct rlimit rl;
	size_t n = N_LARGE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		/* Headroom for stdio, the loop, /dev/null opens and spawn pipes. */
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n + 64) {
			n = rl.rlim_cur > 164 ? (size_t)rl.rlim_cur - 64 : 100;
			bench_note("many_children: RLIMIT_NOFILE hard limit %llu: N cut to %zu",
				   (unsigned long long)rl.rlim_max, n);
		}
	}
	const char *files[] = {"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"};
	for (size_t i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "re");
		long v = 0;
		if (f && fscanf(f, "%ld", &v) == 1 && v > 0 && (size_t)v < n + 2000) {
			n = v > 2100 ? (size_t)v - 2000 : 100;
			bench_note("many_children: %s is %ld: N cut to %zu", files[i], v, n);
		}
		if (f)
			fclose(f);
	}
	return n;
}

/* Microseconds per raw posix_spawn+waitpid of /bin/true, or -1. */
static double raw_spawn_us(int n)
{
	char *argv[] = {"/bin/true", NULL};
	double t0 = bench_seconds();
	for (int i = 0; i < n; i++) {
		pid_t pid;
		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
			return -1;
		while (waitpid(pid, NULL, 0) < 0)
			if (errno != EINTR)
				return -1;
	}
	return (bench_seconds() - t0) * 1e6 / n;
}

/* Context for the result: what any fork+exec pays, with no kin involved,
 * when the owner holds `extra` more fds (as it does holding one pidfd per
 * live child). The kernel copies the whole fd table into the child at
 * clone and closes every close-on-exec fd at exec, so each spawn costs
 * O(open fds). Alternates batches without and with the extra fds. */
static void fd_table_tax(size_t extra)
{
	int *fds = calloc(extra, sizeof(*fds));
	double without[TAX_ROUNDS], with[TAX_ROUNDS];
	size_t opened = 0;
	bool ok = fds != NULL;
	for (int r = 0; ok && r < TAX_ROUNDS; r++) {
		ok = (without[r] = raw_spawn_us(TAX_SPAWNS)) > 0;
		/* One open file each, as pidfds are, not dups of one: the
		 * per-fd cost at exec depends on touching each file. */
		for (opened = 0; ok && opened < extra; opened++)
			if ((fds[opened] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
				ok = false;
		if (ok)
			ok = (with[r] = raw_spawn_us(TAX_SPAWNS)) > 0;
		while (opened > 0)
			close(fds[--opened]);
	}
	free(fds);
	if (!ok) {
		bench_note("many_children: could not measure the fd-table cost of a raw spawn");
		return;
	}
	double a = bench_median(without, TAX_ROUNDS), b = bench_median(with, TAX_ROUNDS);
	/* While the large round spawns, the owner holds on average half its
	 * pidfds, so half this difference is the kernel's share per child. */
	bench_note("many_children: without kin: raw posix_spawn+waitpid of /bin/true takes %.0f us "
		   "with %zu extra open fds vs %.0f us without: %+.0f us per spawn (~%+.0f us per "
		   "child expected at N=%zu from the fd table alone)",
		   b, extra, a, b - a, (b - a) / 2, extra);
}

typedef struct series {
	cost v[32];
	size_t n;
} series;

static cost median_cost(series *s)
{
	double t[32], sp[32], k[32], rp[32];
	for (size_t i = 0; i < s->n; i++) {
		t[i] = s->v[i].total;
		sp[i] = s->v[i].spawn;
		k[i] = s->v[i].kill;
		rp[i] = s->v[i].reap;
	}
	return (cost){bench_median(t, s->n), bench_median(sp, s->n), bench_median(k, s->n),
		      bench_median(rp, s->n)};
}

static int run_into(bool use_kin, size_t n, series *s)
{
	cost c;
	int r = use_kin ? kin_round(n, &c) : raw_round(n, &c);
	if (r < 0)
		return r;
	if (bench_verbose)
		bench_note("many_children: %s N=%zu: %.1f us/child (spawn %.1f, kill %.2f, reap %.1f)",
			   use_kin ? "kin" : "raw", n, c.total, c.spawn, c.kill, c.reap);
	if (s && s->n < sizeof(s->v) / sizeof(s->v[0]))
		s->v[s->n++] = c;
	return 0;
}

void bench_many_children(void)
{
	const char *name = "many_children";
	size_t n_large = fit_large();
	series kin_small = {0}, kin_large = {0}, raw_small = {0}, raw_large = {0};
	/* Warm-up, not counted. */
	int err = run_into(true, N_SMALL, NULL);
	if (err == 0)
		err = run_into(false, N_SMALL, NULL);
	for (const char *step = SCHEDULE; err == 0 && *step; step++) {
		if (*step == 'K')
			err = run_into(true, n_large, &kin_large);
		else if (*step == 'R')
			err = run_into(false, n_large, &raw_large);
		else
			for (int i = 0; err == 0 && i < SMALL_EACH; i++)
				if ((err = run_into(true, N_SMALL, &kin_small)) == 0)
					err = run_into(false, N_SMALL, &raw_small);
	}
	if (err < 0) {
		bench_fail(name, "spawning, killing and reaping sleep children", err);
		return;
	}
	size_t nks = kin_small.n, nkl = kin_large.n;
	cost ks = median_cost(&kin_small), kl = median_cost(&kin_large);
	cost rs = median_cost(&raw_small), rl = median_cost(&raw_large);
	double ratio = kl.total / ks.total;
	bench_result(name, kl.total, ks.total, "us/child", ratio);
	bench_note("many_children: kin, medians of %zu rounds at N=%zu and %zu at N=%d; per child "
		   "(spawn/kill/reap us) %.0f/%.1f/%.1f at N=%zu vs %.0f/%.1f/%.1f at N=%d; target "
		   "ratio <= 1.2: %s",
		   nkl, n_large, nks, N_SMALL, kl.spawn, kl.kill, kl.reap, n_large, ks.spawn, ks.kill,
		   ks.reap, N_SMALL, bench_verdict(ratio <= 1.2));
	bench_note("many_children: raw C doing the same job: %.0f us/child at N=%zu vs %.0f at "
		   "N=%d, ratio %.3f (spawn %.0f vs %.0f us); kin/raw at N=%zu: %.3f",
		   rl.total, n_large, rs.total, N_SMALL, rl.total / rs.total, rl.spawn, rs.spawn,
		   n_large, kl.total / rl.total);
	fd_table_tax(n_large);
}
