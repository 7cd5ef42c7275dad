/* spawn_true: how many spawn+wait+free cycles of /bin/true kin manages per
 * second, against posix_spawn + waitpid, the thinnest raw C that does the
 * same job. Both sides inherit stdio and the environment. */
#include "bench.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

#define SLICES 200 /* turns per side */
#define SLICE 10   /* spawns per turn: 2000 per side in all */

extern char **environ;

static const char *const true_argv[] = {"/bin/true", NULL};

static double kin_cpu, raw_cpu; /* owner CPU seconds, summed */

/* Returns the seconds n spawns took, or -1 with *err set. */
static double kin_batch(kin_loop *loop, int n, int *err)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = true_argv;
	double c0 = bench_cpu_seconds();
	double t0 = bench_seconds();
	for (int i = 0; i < n; i++) {
		kin_proc *p;
		kin_status st;
		int r = kin_proc_spawn(loop, &o, &p, NULL);
		if (r < 0) {
			*err = r;
			return -1;
		}
		r = kin_proc_wait(p, KIN_FOREVER, &st);
		kin_proc_free(p);
		if (r < 0 || st.kind != KIN_EXITED || st.code != 0) {
			*err = r < 0 ? r : -ECHILD;
			return -1;
		}
	}
	kin_cpu += bench_cpu_seconds() - c0;
	return bench_seconds() - t0;
}

static double raw_batch(int n, int *err)
{
	char *argv[] = {"/bin/true", NULL};
	double c0 = bench_cpu_seconds();
	double t0 = bench_seconds();
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int r = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
		if (r != 0) {
			*err = -r;
			return -1;
		}
		int ws;
		while (waitpid(pid, &ws, 0) < 0) {
			if (errno != EINTR) {
				*err = -errno;
				return -1;
			}
		}
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
			*err = -ECHILD;
			return -1;
		}
	}
	raw_cpu += bench_cpu_seconds() - c0;
	return bench_seconds() - t0;
}

void bench_spawn_true(void)
{
	const char *name = "spawn_true";
	kin_loop *loop;
	int err = kin_loop_new(&loop);
	if (err < 0) {
		bench_fail(name, "kin_loop_new", err);
		return;
	}
	double kin[SLICES], raw[SLICES];
	/* Warm up both paths (page cache, allocator, lazy binding). */
	if (kin_batch(loop, 20, &err) < 0 || raw_batch(20, &err) < 0)
		goto fail;
	kin_cpu = raw_cpu = 0;
	/* Take turns in short slices, so a burst of load from elsewhere lands
	 * on both sides alike, and let the one that starts a pair alternate. */
	for (int s = 0; s < SLICES; s++) {
		for (int turn = 0; turn < 2; turn++) {
			bool kin_turn = (s + turn) % 2 == 0;
			double t = kin_turn ? kin_batch(loop, SLICE, &err) : raw_batch(SLICE, &err);
			if (t < 0)
				goto fail;
			*(kin_turn ? &kin[s] : &raw[s]) = SLICE / t;
		}
	}
	kin_loop_free(loop);
	/* The median slice: a stall of a second on a busy host spoils one
	 * slice, not the figure. */
	double k = bench_median(kin, SLICES), b = bench_median(raw, SLICES);
	double ratio = k / b;
	bench_result(name, k, b, "spawns/s", ratio);
	bench_note("spawn_true: %d spawns per side in alternating slices of %d, median slice "
		   "(quartiles kin %.0f-%.0f, posix_spawn %.0f-%.0f /s); %.1f vs %.1f us/spawn, of "
		   "which owner CPU %.1f vs %.1f us; target ratio >= 0.95: %s",
		   SLICES * SLICE, SLICE, kin[SLICES / 4], kin[3 * SLICES / 4], raw[SLICES / 4],
		   raw[3 * SLICES / 4], 1e6 / k, 1e6 / b, kin_cpu * 1e6 / (SLICES * SLICE),
		   raw_cpu * 1e6 / (SLICES * SLICE), bench_verdict(ratio >= 0.95));
	return;
fail:
	kin_loop_free(loop);
	bench_fail(name, "spawning /bin/true", err);
}
