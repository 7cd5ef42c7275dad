/* Worker benchmarks: a call's round trip, calls kept in flight, and the
 * time from asking for a worker to its first reply, re-executed or forked
 * from a zygote. Each against the thinnest raw C doing the same job. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG 64

extern char **environ;

static int echo(kin_request *req, void *ud)
{
	(void)ud;
	return kin_buf_append(&req->reply, req->args, req->len) == 0 ? 0 : 1;
}

const kin_handler bench_worker_handlers[] = {{"echo", echo, NULL}, {NULL, NULL, NULL}};

/* ---- the raw side's child: this binary again, in a mode of its own */

/* `kin-bench --raw-worker`: says hello on fd 3, then echoes every message
 * until EOF. */
int bench_raw_worker_main(void)
{
	char buf[65536];
	if (send(3, "hello", 5, MSG_NOSIGNAL) != 5)
		return 1;
	for (;;) {
		ssize_t n = recv(3, buf, sizeof(buf), 0);
		if (n <= 0)
			return n == 0 ? 0 : 1;
		if (send(3, buf, (size_t)n, MSG_NOSIGNAL) != n)
			return 1;
	}
}

/* worker_spawn's baseline: this binary run again as a raw worker, with a
 * SEQPACKET socketpair on fd 3; posix_spawn, the thinnest way to start it. */
static int raw_spawn(pid_t *pid, int *sock)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	char *argv[] = {"/proc/self/exe", "--raw-worker", NULL};
	int r = -posix_spawn(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	*sock = sv[0];
	return 0;
}

static void raw_reap(pid_t pid, int sock)
{
	close(sock); /* EOF ends it */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- rpc_call: sequential round trips */

#define CALL_ROUNDS 40
#define CALLS_PER_ROUND 250

static double kin_calls(kin_worker *w, int n, int *err)
{
	char payload[MSG];
	memset(payload, 'k', sizeof(payload));
	kin_msg m = {.data = payload, .len = sizeof(payload)};
	double t0 = bench_seconds();
	for (int i = 0; i < n; i++) {
		kin_reply rep;
		int r = kin_call(w, "echo", &m, kin_after(10 * KIN_SEC), &rep);
		kin_reply_release(&rep);
		if (r < 0) {
			*err = r;
			return -1;
		}
	}
	return (bench_seconds() - t0) / n;
}

static double raw_pingpong(int sock, int n, int *err)
{
	char out[MSG], in[MSG];
	memset(out, 'k', sizeof(out));
	double t0 = bench_seconds();
	for (int i = 0; i < n; i++) {
		if (send(sock, out, sizeof(out), MSG_NOSIGNAL) != (ssize_t)sizeof(out) ||
		    recv(sock, in, sizeof(in), 0) != (ssize_t)sizeof(in)) {
			*err = -errno;
			return -1;
		}
	}
	return (bench_seconds() - t0) / n;
}

void bench_rpc_call(void)
{
	const char *name = "rpc_call";
	kin_loop *loop = NULL;
	kin_worker *w = NULL;
	bench_peer peer = {.fd = -1};
	bench_pinning pn;
	bench_pin_owner(&pn);
	int err = kin_loop_new(&loop);
	kin_spawn_error why;
	if (err == 0)
		err = kin_worker_spawn(loop, NULL, &w, &why);
	if (err == 0)
		err = bench_peer_start(loop, "raw-echo", 0, pn.cpu, &peer);
	int sock = peer.fd;
	double kin[CALL_ROUNDS], raw[CALL_ROUNDS];
	if (err == 0 && (kin_calls(w, 200, &err) < 0 || raw_pingpong(sock, 200, &err) < 0))
		goto fail;
	for (int r = 0; err == 0 && r < CALL_ROUNDS; r++) {
		bool kin_first = r % 2 == 0;
		double a = kin_first ? kin_calls(w, CALLS_PER_ROUND, &err)
				     : raw_pingpong(sock, CALLS_PER_ROUND, &err);
		double b = err ? -1
			       : kin_first ? raw_pingpong(sock, CALLS_PER_ROUND, &err)
					   : kin_calls(w, CALLS_PER_ROUND, &err);
		kin[r] = (kin_first ? a : b) * 1e6;
		raw[r] = (kin_first ? b : a) * 1e6;
	}
	if (err)
		goto fail;
	double k = bench_median(kin, CALL_ROUNDS), b = bench_median(raw, CALL_ROUNDS);
	bench_result(name, k, b, "us", k / b);
	bench_note("rpc_call: %d B kin_call to a worker's echo handler (MessagePack envelope, id "
		   "matching) vs a raw SEQPACKET ping-pong with a re-executed echo; %d rounds of %d, "
		   "%s, median round; target time ratio <= 1.5: %s",
		   MSG, CALL_ROUNDS, CALLS_PER_ROUND,
		   pn.pinned ? "owner and children on one CPU" : "not pinned",
		   bench_verdict(k / b <= 1.5));
	goto done;
fail:
	bench_fail(name, "calling a worker", err);
done:
	kin_worker_free(w);
	(void)bench_peer_stop(&peer);
	kin_loop_free(loop);
	bench_unpin_owner(&pn);
}

/* ---- rpc_pipelined: calls/s with 128 in flight */

#define WINDOW 128
#define PIPELINED_CALLS 100000

void bench_rpc_pipelined(void)
{
	const char *name = "rpc_pipelined";
	kin_loop *loop = NULL;
	kin_worker *w = NULL;
	bench_peer raw = {.fd = -1};
	kin_pending *inflight[WINDOW] = {NULL};
	bench_pinning pn;
	bench_pin_owner(&pn);
	int err = kin_loop_new(&loop);
	kin_spawn_error why;
	if (err == 0)
		err = kin_worker_spawn(loop, NULL, &w, &why);
	char payload[MSG];
	memset(payload, 'k', sizeof(payload));
	kin_msg m = {.data = payload, .len = sizeof(payload)};
	double t0 = bench_seconds();
	long started = 0, done = 0;
	for (int i = 0; err == 0 && i < WINDOW; i++, started++)
		err = kin_call_start(w, "echo", &m, kin_after(10 * KIN_SEC), &inflight[i]);
	while (err == 0 && done < PIPELINED_CALLS) {
		size_t i;
		kin_reply rep;
		err = kin_await_any(inflight, WINDOW, kin_after(10 * KIN_SEC), &i, &rep);
		kin_reply_release(&rep);
		done++;
		if (err == 0 && started < PIPELINED_CALLS) {
			err = kin_call_start(w, "echo", &m, kin_after(10 * KIN_SEC), &inflight[i]);
			started++;
		}
	}
	double t = bench_seconds() - t0;
	if (err)
		goto fail;
	/* chan_oneway's baseline: one raw send per 64 B message. */
	double k = PIPELINED_CALLS / t, b = -1;
	if ((err = bench_peer_start(loop, "raw-count", PIPELINED_CALLS, pn.cpu, &raw)) < 0 ||
	    (b = bench_raw_flow(raw.fd, PIPELINED_CALLS, -1, &err)) < 0)
		goto fail;
	bench_result(name, k, b, "calls/s", k / b);
	bench_note("rpc_pipelined: %d calls of %d B with %d in flight (kin_call_start + "
		   "kin_await_any), against chan_oneway's baseline (raw one send per message); "
		   "reported, no target",
		   PIPELINED_CALLS, MSG, WINDOW);
	goto out;
fail:
	bench_fail(name, "pipelining calls", err);
out:
	for (int i = 0; i < WINDOW; i++)
		kin_pending_cancel(inflight[i]);
	kin_worker_free(w);
	(void)bench_peer_stop(&raw);
	kin_loop_free(loop);
	bench_unpin_owner(&pn);
}

/* ---- worker_spawn and zygote_spawn: asking for a worker to its first reply */

#define SPAWN_ROUNDS 30

/* The worker's first reply is its hello: kin_worker_spawn returns once it
 * has it, ready to take calls. */
static double kin_first_reply(kin_loop *loop, kin_zygote *z, int *err)
{
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.zygote = z;
	kin_worker *w;
	kin_spawn_error why;
	double t0 = bench_seconds();
	int r = kin_worker_spawn(loop, &o, &w, &why);
	double t = bench_seconds() - t0;
	if (r == 0)
		kin_worker_free(w);
	if (r < 0) {
		*err = r;
		return -1;
	}
	return t;
}

static double raw_exec_first_reply(int *err)
{
	char in[MSG];
	pid_t pid = -1;
	int sock = -1;
	double t0 = bench_seconds();
	int r = raw_spawn(&pid, &sock);
	if (r < 0) {
		*err = r;
		return -1;
	}
	bool ok = recv(sock, in, sizeof(in), 0) == 5;
	double t = bench_seconds() - t0;
	raw_reap(pid, sock);
	if (!ok) {
		*err = -EPROTO;
		return -1;
	}
	return t;
}

static double raw_fork_first_reply(int *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		*err = -errno;
		return -1;
	}
	double t0 = bench_seconds();
	pid_t pid = fork();
	if (pid == 0) {
		char ready = 'r';
		_exit(write(p[1], &ready, 1) == 1 ? 0 : 1);
	}
	char c;
	bool ok = pid > 0 && read(p[0], &c, 1) == 1;
	double t = bench_seconds() - t0;
	close(p[0]);
	close(p[1]);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	if (!ok) {
		*err = pid < 0 ? -errno : -EPROTO;
		return -1;
	}
	return t;
}

static void spawn_bench(const char *name, bool zygote, double target)
{
	bench_pinning pn;
	bench_pin_owner(&pn);
	kin_loop *loop = NULL;
	kin_zygote *z = NULL;
	kin_spawn_error why;
	int err = kin_loop_new(&loop);
	if (err == 0 && zygote)
		err = kin_zygote_new(loop, NULL, &z, &why);
	double kin[SPAWN_ROUNDS], raw[SPAWN_ROUNDS];
	for (int r = -2; err == 0 && r < SPAWN_ROUNDS; r++) { /* two rounds to warm up */
		bool kin_first = r % 2 == 0;
		double t[2];
		for (int side = 0; side < 2 && err == 0; side++) {
			bool kin_turn = (side == 0) == kin_first;
			/* A quiet start for each side: the zygote forks its next spare
			 * after a spawn, and that must not land in either measurement. */
			if (zygote)
				usleep(2000);
			double v = kin_turn ? kin_first_reply(loop, z, &err)
				   : zygote ? raw_fork_first_reply(&err)
					    : raw_exec_first_reply(&err);
			t[kin_turn ? 0 : 1] = v * 1e6;
		}
		if (err == 0 && r >= 0) {
			kin[r] = t[0];
			raw[r] = t[1];
		}
	}
	if (err) {
		bench_fail(name, zygote ? "forking workers" : "spawning workers", err);
	} else {
		double k = bench_median(kin, SPAWN_ROUNDS), b = bench_median(raw, SPAWN_ROUNDS);
		bench_result(name, k, b, "us", k / b);
		if (zygote)
			bench_note("zygote_spawn: kin_worker_spawn from a zygote (starts the spare it "
				   "forked ahead, to its hello) vs fork() of the owner + one byte on a "
				   "pipe; 2 ms apart, so the next spare is ready; %d rounds, median; "
				   "target time ratio <= %.1f: %s",
				   SPAWN_ROUNDS, target, bench_verdict(k / b <= target));
		else
			bench_note("worker_spawn: kin_worker_spawn (re-exec of this binary, its hello) vs "
				   "posix_spawn of the same binary + a hello on a socketpair; %d rounds, "
				   "median; target time ratio <= %.1f: %s",
				   SPAWN_ROUNDS, target, bench_verdict(k / b <= target));
	}
	kin_zygote_free(z);
	kin_loop_free(loop);
	bench_unpin_owner(&pn);
}

void bench_worker_spawn(void)
{
	spawn_bench("worker_spawn", false, 1.2);
}

void bench_zygote_spawn(void)
{
	spawn_bench("zygote_spawn", true, 1.5);
}
