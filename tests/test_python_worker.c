/* A worker in another language: examples/python/echo_worker.py, written
 * from docs/protocol.md alone, served to kin's own owner side. */
#include "harness.h"

#include "../src/worker/protocol.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3" /* Debian's, which has python3-msgpack */

/* The example's path: found by walking up from this test binary (which
 * lives somewhere under the checkout's build directory). */
static const char *echo_worker_path(void)
{
	static char path[PATH_MAX + 64];
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", test_self());
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			test_fail(__FILE__, __LINE__, "no examples/python/echo_worker.py above %s",
				  test_self());
		*slash = 0;
		snprintf(path, sizeof(path), "%s/examples/python/echo_worker.py", dir);
		if (access(path, R_OK) == 0)
			return path;
	}
}

static kin_worker *spawn_python(kin_loop *loop, unsigned threads)
{
	const char *argv[] = {PYTHON, echo_worker_path(), NULL};
	kin_spawn_opts so = KIN_SPAWN_OPTS_INIT;
	so.argv = argv;
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &so;
	o.threads = threads;
	/* A cold Python start with msgpack can be slow on a loaded machine. */
	o.handshake_timeout_ns = 60 * KIN_SEC;
	return SPAWN_WORKER_OPTS(loop, &o);
}

TEST_TIMEOUT(python_worker_serves_echo_add_fail_pid, 120)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = spawn_python(loop, 1);
	ASSERT(kin_worker_has(w, "echo"));
	ASSERT(kin_worker_has(w, "add"));
	ASSERT(kin_worker_has(w, "fail"));
	ASSERT(kin_worker_has(w, "pid"));
	ASSERT(!kin_worker_has(w, "nope"));

	kin_msg hello = {.data = "hello", .len = 5};
	kin_reply rep;
	ASSERT_OK(kin_call(w, "echo", &hello, kin_after(30 * KIN_SEC), &rep));
	ASSERT_EQ(rep.len, 5);
	ASSERT(memcmp(rep.data, "hello", 5) == 0);
	kin_reply_release(&rep);

	ASSERT_OK(kin_call(w, "echo", NULL, kin_after(30 * KIN_SEC), &rep));
	ASSERT_EQ(rep.len, 0);
	kin_reply_release(&rep);

	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&b, "[ii]", (size_t)2, (int64_t)-40, (int64_t)1LL << 40));
	kin_msg two = {.data = b.data, .len = b.len};
	ASSERT_OK(kin_call(w, "add", &two, kin_after(30 * KIN_SEC), &rep));
	int64_t sum = 0;
	ASSERT_EQ(kin_mp_unpack(rep.data, rep.len, "i", &sum), rep.len);
	ASSERT_EQ(sum, (1LL << 40) - 40);
	kin_reply_release(&rep);
	kin_buf_free(&b);

	ASSERT_EQ(kin_call(w, "fail", NULL, kin_after(30 * KIN_SEC), &rep), -EREMOTEIO);
	ASSERT_EQ(rep.error, 7);
	ASSERT_EQ(rep.len, 17);
	ASSERT(memcmp(rep.data, "failed on purpose", 17) == 0);
	kin_reply_release(&rep);

	/* Bad arguments are the handler's own error, and the worker goes on. */
	ASSERT_EQ(kin_call(w, "add", &hello, kin_after(30 * KIN_SEC), &rep), -EREMOTEIO);
	ASSERT_EQ(rep.error, -EINVAL);
	kin_reply_release(&rep);

	ASSERT_OK(kin_call(w, "pid", NULL, kin_after(30 * KIN_SEC), &rep));
	int64_t pid = 0;
	ASSERT_EQ(kin_mp_unpack(rep.data, rep.len, "i", &pid), rep.len);
	ASSERT_EQ(pid, kin_worker_pid(w));
	kin_reply_release(&rep);

	/* Closing its chan ends it normally: exit 0. */
	ASSERT_OK(kin_worker_stop(w, 30 * KIN_SEC));
	kin_exit_reason reason;
	ASSERT_OK(kin_worker_wait(w, kin_after(60 * KIN_SEC), &reason));
	ASSERT_EQ(reason.kind, KIN_REASON_NORMAL);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Past 64 KiB a message travels in a sealed memfd, both ways. */
TEST_TIMEOUT(python_worker_echoes_large_messages_out_of_band, 120)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = spawn_python(loop, 1);
	size_t sizes[] = {65000, 65536, 70000, 4u << 20};
	char *data = malloc(4u << 20);
	ASSERT(data);
	for (size_t k = 0; k < 4u << 20; k++)
		data[k] = (char)(k * 131 + (k >> 12));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		kin_msg m = {.data = data, .len = sizes[i]};
		kin_reply rep;
		ASSERT_OK(kin_call(w, "echo", &m, kin_after(60 * KIN_SEC), &rep));
		ASSERT_EQ(rep.len, sizes[i]);
		ASSERT(memcmp(rep.data, data, sizes[i]) == 0);
		kin_reply_release(&rep);
	}
	free(data);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* An fd sent with a call belongs to its handler; echo keeps none, so the
 * worker closes it and the pipe's write end sees no reader left. */
TEST_TIMEOUT(python_worker_closes_the_fds_a_handler_leaves, 120)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = spawn_python(loop, 2);
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC) == 0 ? 0 : -errno);
	int sent[1] = {p[0]};
	kin_msg m = {.data = "x", .len = 1, .fds = sent, .nfds = 1};
	kin_reply rep;
	ASSERT_OK(kin_call(w, "echo", &m, kin_after(30 * KIN_SEC), &rep));
	kin_reply_release(&rep);
	/* kin_call moved our copy away as kin_chan_send does. */
	struct pollfd pfd = {.fd = p[1], .events = 0};
	ASSERT_EQ(poll(&pfd, 1, 30 * 1000), 1);
	ASSERT(pfd.revents & POLLERR);
	close(p[1]);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Many out-of-band calls in a row. kin's sender lets at most 128 memfds be
 * in flight untaken (docs/protocol.md 4.3), so a worker that forgot to
 * move each memfd's offset would stall call 129 until its deadline. Every
 * call's bytes differ, so an echo of a stale payload shows too. */
TEST_TIMEOUT(python_worker_takes_every_out_of_band_message, 240)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = spawn_python(loop, 1);
	enum { CALLS = 200, SIZE = 70000 };
	char *data = malloc(SIZE);
	ASSERT(data);
	for (unsigned i = 0; i < CALLS; i++) {
		for (size_t k = 0; k < SIZE; k++)
			data[k] = (char)(k * 7 + i * 131 + (k >> 9));
		kin_msg m = {.data = data, .len = SIZE};
		kin_reply rep;
		int r = kin_call(w, "echo", &m, kin_after(30 * KIN_SEC), &rep);
		if (r < 0)
			test_fail(__FILE__, __LINE__, "call %u of %d: %s", i + 1, CALLS,
				  kin_strerror(r));
		ASSERT_EQ(rep.len, SIZE);
		if (memcmp(rep.data, data, SIZE) != 0)
			test_fail(__FILE__, __LINE__, "call %u came back changed", i + 1);
		kin_reply_release(&rep);
	}
	free(data);
	ASSERT_OK(kin_worker_stop(w, 30 * KIN_SEC));
	kin_exit_reason reason;
	ASSERT_OK(kin_worker_wait(w, kin_after(60 * KIN_SEC), &reason));
	ASSERT_EQ(reason.kind, KIN_REASON_NORMAL);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* DETACH is acknowledged: kin_worker_detach returns 0 only on the worker's
 * REPLY. The worker serves on, and still ends by itself when its chan
 * closes. */
TEST_TIMEOUT(python_worker_acknowledges_detach, 120)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = spawn_python(loop, 1);
	ASSERT_OK(kin_worker_detach(w));
	kin_msg hello = {.data = "hello", .len = 5};
	kin_reply rep;
	ASSERT_OK(kin_call(w, "echo", &hello, kin_after(30 * KIN_SEC), &rep));
	ASSERT(rep.len == 5 && memcmp(rep.data, "hello", 5) == 0);
	kin_reply_release(&rep);
	/* Twice is fine: the second is as acknowledged as the first. */
	ASSERT_OK(kin_worker_detach(w));
	ASSERT_OK(kin_worker_stop(w, 60 * KIN_SEC));
	kin_exit_reason reason;
	ASSERT_OK(kin_worker_wait(w, kin_after(60 * KIN_SEC), &reason));
	ASSERT_EQ(reason.kind, KIN_REASON_NORMAL);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* The owner of the two tests below. Fd 5 (from the test) releases the
 * worker's "hold" call when closed; fd 6 is where the worker then writes
 * "alive". With "detach" it detaches the worker; either way it prints the
 * worker's pid and dies at once, freeing nothing. */
HELPER(python_owner)
{
	bool detach = argc > 1 && strcmp(argv[1], "detach") == 0;
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 3;
	const char *wargv[] = {PYTHON, echo_worker_path(), NULL};
	kin_spawn_opts so = KIN_SPAWN_OPTS_INIT;
	so.argv = wargv;
	so.stdio[1].kind = KIN_STDIO_NULL; /* or the test's read of our stdout waits on it */
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &so;
	o.threads = 2; /* one held, one free to serve the rest */
	o.handshake_timeout_ns = 60 * KIN_SEC;
	kin_worker *w;
	kin_spawn_error why;
	if (kin_worker_spawn(loop, &o, &w, &why) < 0) {
		fprintf(stderr, "python_owner: %s\n", why.message);
		return 4;
	}
	int give[2] = {fcntl(5, F_DUPFD_CLOEXEC, 3), fcntl(6, F_DUPFD_CLOEXEC, 3)};
	kin_msg m = {.fds = give, .nfds = 2};
	kin_pending *hold;
	if (give[0] < 0 || give[1] < 0 || kin_call_start(w, "hold", &m, KIN_FOREVER, &hold) < 0)
		return 5;
	/* Its answer comes after the worker has read the hold (one sender's
	 * messages arrive in order), so the hold is surely running. */
	kin_reply rep;
	int r = kin_call(w, "pid", NULL, kin_after(60 * KIN_SEC), &rep);
	if (r < 0) {
		fprintf(stderr, "python_owner: pid: %s\n", kin_strerror(r));
		return 6;
	}
	kin_reply_release(&rep);
	if (detach && (r = kin_worker_detach(w)) < 0) {
		fprintf(stderr, "python_owner: detach: %s\n", kin_strerror(r));
		return 7;
	}
	printf("%d\n", (int)kin_worker_pid(w));
	fflush(stdout);
	_exit(0);
}

static bool pid_not_alive(void *arg)
{
	return !test_pid_alive(*(pid_t *)arg);
}

/* Runs python_owner in `mode`, lets it die, then releases the worker's
 * hold: returns how many bytes the worker wrote to say it was alive. */
static size_t python_owner_dies(const char *mode)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	int rel[2], alive[2];
	ASSERT_OK(pipe2(rel, O_CLOEXEC) == 0 ? 0 : -errno);
	ASSERT_OK(pipe2(alive, O_CLOEXEC) == 0 ? 0 : -errno);
	const char *argv[8];
	test_helper_argv(argv, 8, "python_owner", mode, NULL);
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	s.stdio[1].kind = KIN_STDIO_PIPE;
	kin_fd_map map[2] = {{.parent_fd = rel[0], .child_fd = 5},
			     {.parent_fd = alive[1], .child_fd = 6}};
	s.fds = map;
	s.nfds = 2;
	kin_proc *owner = test_spawn(loop, &s);
	close(rel[0]);
	close(alive[1]);
	char out[64];
	test_read_all(kin_proc_stdout(owner), out, sizeof(out));
	kin_status st;
	ASSERT_OK(kin_proc_wait(owner, kin_after(120 * KIN_SEC), &st));
	kin_proc_free(owner);
	pid_t pid = (pid_t)atoi(out);
	if (st.kind != KIN_EXITED || st.code != 0 || pid <= 0)
		test_fail(__FILE__, __LINE__, "the owner ended %d/%d/%d, printed \"%s\"",
			  (int)st.kind, st.code, st.signal, out);
	/* The owner is gone (all its threads: it was reaped). Release the
	 * worker, if it lives, and see whether it says so. */
	close(rel[1]);
	char buf[16];
	size_t got = 0;
	kin_time end = kin_after(60 * KIN_SEC);
	for (;;) {
		struct pollfd pf = {.fd = alive[0], .events = POLLIN};
		kin_time left = end - kin_now();
		if (left <= 0 || poll(&pf, 1, (int)(left / KIN_MSEC) + 1) != 1)
			break;
		ssize_t r = read(alive[0], buf + got, sizeof(buf) - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(alive[0]);
	/* It is not our child (its owner was): it ends by itself once
	 * released, or is killed here if the test is failing anyway. */
	if (!test_wait_until(pid_not_alive, &pid, 30000))
		(void)kill(pid, SIGKILL);
	test_loop_finish(loop, fds);
	return got;
}

/* Once kin_worker_detach has returned 0, the worker no longer dies with its
 * owner, even when the owner dies abruptly right after. */
TEST_TIMEOUT(python_worker_detached_outlives_its_owner, 240)
{
	ASSERT_EQ(python_owner_dies("detach"), 5);
}

/* The control for the test above: the same worker not detached dies with
 * its owner (PR_SET_PDEATHSIG), so surviving means something. */
TEST_TIMEOUT(python_worker_not_detached_dies_with_its_owner, 240)
{
	ASSERT_EQ(python_owner_dies("stay"), 0);
}

/* Sends CALL [1, id, "echo", body] on chan, with fds if any. */
static int send_echo(kin_chan *chan, uint64_t id, const char *body, size_t len, int *fds,
		     size_t nfds)
{
	kin_buf b = KIN_BUF_INIT;
	int r = kin__proto_call_prefix(&b, id, "echo", len);
	if (r == 0)
		r = kin_buf_append(&b, body, len);
	if (r == 0) {
		kin_msg m = {.data = b.data, .len = b.len, .fds = fds, .nfds = nfds};
		r = kin_chan_send(chan, &m, kin_after(60 * KIN_SEC));
	}
	kin_buf_free(&b);
	return r;
}

/* A message over the worker's maximum (64 MiB) is not a broken owner: the
 * worker drops that message only (docs/protocol.md 4.4), closing its fds
 * and taking its memfd, and serves the next one. Spoken here by hand, on
 * a chan of our own, since kin's own owner never sends past 64 MiB. */
TEST_TIMEOUT(python_worker_drops_a_message_over_its_maximum, 240)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_chan *ours, *theirs;
	ASSERT_OK(kin_chan_pair(&ours, &theirs));
	const char *argv[] = {PYTHON, echo_worker_path(), NULL};
	const char *env[] = {"KIN_WORKER=1", NULL};
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	s.env_set = env;
	kin_fd_map map[1] = {{.parent_fd = kin_chan_fd(theirs), .child_fd = KIN__WORKER_FD}};
	s.fds = map;
	s.nfds = 1;
	kin_proc *p = test_spawn(loop, &s);
	kin_chan_free(theirs);

	kin_msg msg = KIN_MSG_INIT;
	ASSERT_OK(kin_chan_recv(ours, &msg, kin_after(60 * KIN_SEC)));
	kin__pmsg pm;
	ASSERT_OK(kin__proto_decode(msg.data, msg.len, &pm));
	ASSERT_EQ(pm.type, KIN__P_HELLO);
	kin__pmsg_free(&pm);
	kin_msg_release(&msg);

	/* One out-of-band message in flight at a time: the echo below goes
	 * only once the worker has taken the one it dropped. */
	ASSERT_OK(kin_chan_set_max_message(ours, KIN_CHAN_DEFAULT_MAX + 4096));
	ASSERT_OK(kin_chan_set_max_inflight(ours, 1));
	size_t big = KIN_CHAN_DEFAULT_MAX; /* with its prefix, just over */
	char *body = calloc(1, big);
	ASSERT(body);
	int p1[2];
	ASSERT_OK(pipe2(p1, O_CLOEXEC) == 0 ? 0 : -errno);
	int sent[1] = {p1[0]};
	ASSERT_OK(send_echo(ours, 1, body, big, sent, 1));
	free(body);

	enum { SIZE = 70000 };
	char *data = malloc(SIZE);
	ASSERT(data);
	for (size_t k = 0; k < SIZE; k++)
		data[k] = (char)(k * 13 + (k >> 8));
	ASSERT_OK(send_echo(ours, 2, data, SIZE, NULL, 0));
	/* The answer to the second call, and none to the first. */
	ASSERT_OK(kin_chan_recv(ours, &msg, kin_after(60 * KIN_SEC)));
	ASSERT_OK(kin__proto_decode(msg.data, msg.len, &pm));
	ASSERT_EQ(pm.type, KIN__P_REPLY);
	ASSERT_EQ(pm.id, 2);
	ASSERT_EQ(pm.error, 0);
	ASSERT_EQ(pm.body_len, SIZE);
	ASSERT(memcmp(pm.body, data, SIZE) == 0);
	kin__pmsg_free(&pm);
	kin_msg_release(&msg);
	free(data);
	/* The dropped message's fd was closed: no reader is left. */
	struct pollfd pfd = {.fd = p1[1], .events = 0};
	ASSERT_EQ(poll(&pfd, 1, 30 * 1000), 1);
	ASSERT(pfd.revents & POLLERR);
	close(p1[1]);

	/* The chan was kept: closing it is an ordinary end, exit 0. */
	kin_chan_free(ours);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(60 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	kin_proc_free(p);
	test_loop_finish(loop, fds);
}
