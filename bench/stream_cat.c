/* stream_cat: 1 GiB pushed through `cat` and read back, single-threaded and
 * non-blocking on both sides: kin through its loop (on_writable and
 * on_readable, each doing one kin_stream_write/read with deadline 0), the
 * baseline as a raw poll() loop over two pipes. Same chunk (128 KiB), same
 * pipe capacity (1 MiB on both pipes), same cat.
 *
 * The owner and cat are pinned to one CPU for the whole benchmark. On two
 * shared cores, where the scheduler places cat against the owner (and
 * whose load it meets there) swings a round between about 1 and 4.5 GB/s;
 * on one CPU the figure is the cost of moving the bytes, which is what kin
 * can add to. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (128 * 1024)
#define PIPE_SIZE (1024 * 1024)
#ifndef ROUNDS
#define ROUNDS 32
#endif
#define ROUND_BYTES ((size_t)1024 * 1024 * 1024 / ROUNDS) /* 1 GiB per side in all */

extern char **environ;

static char *out_buf, *in_buf;
static double kin_cpu, raw_cpu; /* owner CPU seconds, summed over rounds */

/* ---- kin */

typedef struct cat_run {
	size_t to_write, written, got;
	int err;
} cat_run;

static void on_writable(kin_stream *s, void *userdata)
{
	cat_run *c = userdata;
	size_t n = c->to_write - c->written < CHUNK ? c->to_write - c->written : CHUNK;
	ssize_t w = kin_stream_write(s, out_buf, n, 0);
	if (w > 0)
		c->written += (size_t)w;
	else if (w != -ETIMEDOUT)
		c->err = (int)w;
	/* Closing also stops the watch, and the closed write end is cat's EOF. */
	if (c->written == c->to_write || c->err)
		kin_stream_close(s);
}

static void on_readable(kin_stream *s, void *userdata)
{
	cat_run *c = userdata;
	ssize_t r = kin_stream_read(s, in_buf, CHUNK, 0);
	if (r > 0) {
		c->got += (size_t)r;
		return;
	}
	if (r == -ETIMEDOUT)
		return;
	if (r < 0)
		c->err = (int)r;
	kin_stream_on_readable(s, NULL, NULL); /* EOF: nothing left to wait for */
}

/* Returns seconds, or -1 with *err set. */
static double kin_round(size_t bytes, int *err)
{
	static const char *const argv[] = {"cat", NULL};
	kin_loop *loop;
	int r = kin_loop_new(&loop);
	if (r < 0) {
		*err = r;
		return -1;
	}
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0].kind = KIN_STDIO_PIPE;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	o.pipe_size = PIPE_SIZE;
	cat_run c = {.to_write = bytes};
	double c0 = bench_cpu_seconds();
	double t0 = bench_seconds();
	kin_proc *p;
	if ((r = kin_proc_spawn(loop, &o, &p, NULL)) < 0)
		goto out;
	if ((r = kin_stream_on_writable(kin_proc_stdin(p), on_writable, &c)) < 0 ||
	    (r = kin_stream_on_readable(kin_proc_stdout(p), on_readable, &c)) < 0)
		goto out_proc;
	r = kin_loop_run(loop, KIN_FOREVER);
	if (r >= 0)
		r = c.err;
	if (r == 0 && c.got != bytes)
		r = -EPROTO;
	kin_status st;
	if (r == 0 && (r = kin_proc_wait(p, KIN_FOREVER, &st)) == 0 &&
	    (st.kind != KIN_EXITED || st.code != 0))
		r = -ECHILD;
out_proc:
	kin_proc_free(p);
out:;
	double t = bench_seconds() - t0;
	kin_cpu += bench_cpu_seconds() - c0;
	kin_loop_free(loop);
	if (r < 0) {
		*err = r;
		return -1;
	}
	return t;
}

/* ---- raw C */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static double raw_round(size_t bytes, int *err)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	int r = 0;
	double c0 = bench_cpu_seconds();
	double t0 = bench_seconds();
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    fcntl(in[0], F_SETPIPE_SZ, PIPE_SIZE) < 0 || fcntl(out[0], F_SETPIPE_SZ, PIPE_SIZE) < 0) {
		r = -errno;
		goto out;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = {"cat", NULL};
	pid_t pid;
	r = -posix_spawnp(&pid, "cat", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r < 0)
		goto out;
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	if ((r = set_nonblock(in[1])) < 0 || (r = set_nonblock(out[0])) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	size_t written = 0, got = 0;
	bool eof = false;
	while (!eof) {
		struct pollfd pf[2] = {{.fd = out[0], .events = POLLIN},
				       {.fd = in[1], .events = POLLOUT}};
		int n = poll(pf, in[1] >= 0 ? 2 : 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (in[1] >= 0 && pf[1].revents) {
			size_t want = bytes - written < CHUNK ? bytes - written : CHUNK;
			ssize_t w = write(in[1], out_buf, want);
			if (w > 0)
				written += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				r = -errno;
				break;
			}
			if (written == bytes) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (pf[0].revents) {
			ssize_t g = read(out[0], in_buf, CHUNK);
			if (g > 0)
				got += (size_t)g;
			else if (g == 0)
				eof = true;
			else if (errno != EAGAIN && errno != EINTR) {
				r = -errno;
				break;
			}
		}
	}
	if (r < 0)
		kill(pid, SIGKILL);
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && got != bytes)
		r = -EPROTO;
	if (r == 0 && (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0))
		r = -ECHILD;
out:;
	double t = bench_seconds() - t0;
	raw_cpu += bench_cpu_seconds() - c0;
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	if (r < 0) {
		*err = r;
		return -1;
	}
	return t;
}

void bench_stream_cat(void)
{
	const char *name = "stream_cat";
	/* cat inherits the spawning thread's affinity. */
	cpu_set_t saved, one;
	int cpu = sched_getcpu();
	bool pinned = false;
	if (cpu >= 0 && sched_getaffinity(0, sizeof(saved), &saved) == 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
	}
	out_buf = malloc(CHUNK);
	in_buf = malloc(CHUNK);
	if (!out_buf || !in_buf) {
		bench_fail(name, "malloc", -ENOMEM);
		goto done;
	}
	memset(out_buf, 'k', CHUNK);
	memset(in_buf, 0, CHUNK);
	double kin[ROUNDS], raw[ROUNDS];
	int err = 0;
	/* A short warm-up of each side: cat and the pipes' pages get hot. */
	if (kin_round(8 * CHUNK, &err) < 0 || raw_round(8 * CHUNK, &err) < 0)
		goto fail;
	kin_cpu = raw_cpu = 0;
	for (int r = 0; r < ROUNDS; r++) {
		double tk, tr;
		if (r % 2 == 0) {
			if ((tk = kin_round(ROUND_BYTES, &err)) < 0 ||
			    (tr = raw_round(ROUND_BYTES, &err)) < 0)
				goto fail;
		} else {
			if ((tr = raw_round(ROUND_BYTES, &err)) < 0 ||
			    (tk = kin_round(ROUND_BYTES, &err)) < 0)
				goto fail;
		}
		kin[r] = (double)ROUND_BYTES / tk / 1e9;
		raw[r] = (double)ROUND_BYTES / tr / 1e9;
		if (bench_verbose)
			bench_note("stream_cat: round %d: kin %.3f GB/s, raw %.3f GB/s", r, kin[r],
				   raw[r]);
	}
	double k = bench_median(kin, ROUNDS), b = bench_median(raw, ROUNDS);
	double ratio = k / b;
	bench_result(name, k, b, "GB/s", ratio);
	/* bench_median sorted both arrays: [0] and [ROUNDS - 1] are the extremes. */
	bench_note("stream_cat: %d rounds x %zu MiB per side (1 GiB each), chunk %d KiB, pipes %d "
		   "KiB, %s, median of rounds (kin %.2f-%.2f, raw %.2f-%.2f GB/s); owner CPU per "
		   "GiB: kin %.0f ms, raw %.0f ms; target ratio >= 0.95: %s",
		   ROUNDS, ROUND_BYTES >> 20, CHUNK >> 10, PIPE_SIZE >> 10,
		   pinned ? "owner and cat on one CPU" : "not pinned (sched_setaffinity failed)",
		   kin[0], kin[ROUNDS - 1], raw[0], raw[ROUNDS - 1], kin_cpu * 1e3, raw_cpu * 1e3,
		   bench_verdict(ratio >= 0.95));
	goto done;
fail:
	bench_fail(name, "moving data through cat", err);
done:
	if (pinned)
		(void)sched_setaffinity(0, sizeof(saved), &saved);
	free(out_buf);
	free(in_buf);
	out_buf = in_buf = NULL;
}
