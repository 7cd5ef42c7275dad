/* Workers: spawn, handshake, calls and their failures. */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

TEST(worker_call_echo_and_add)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = SPAWN_WORKER(loop, 1);
	ASSERT(kin_worker_has(w, "echo"));
	ASSERT(!kin_worker_has(w, "nope"));
	ASSERT(kin_worker_pid(w) > 0);

	kin_msg args = {.data = "hello", .len = 5};
	kin_reply rep;
	ASSERT_OK(kin_call(w, "echo", &args, kin_after(10 * KIN_SEC), &rep));
	ASSERT_EQ(rep.len, 5);
	ASSERT(memcmp(rep.data, "hello", 5) == 0);
	kin_reply_release(&rep);

	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&b, "[ii]", (size_t)2, (int64_t)40, (int64_t)2));
	kin_msg two = {.data = b.data, .len = b.len};
	ASSERT_OK(kin_call(w, "add", &two, kin_after(10 * KIN_SEC), &rep));
	int64_t sum = 0;
	ASSERT(kin_mp_unpack(rep.data, rep.len, "i", &sum) > 0);
	ASSERT_EQ(sum, 42);
	kin_reply_release(&rep);
	kin_buf_free(&b);

	/* No arguments at all. */
	ASSERT_OK(kin_call(w, "echo", NULL, kin_after(10 * KIN_SEC), &rep));
	ASSERT_EQ(rep.len, 0);
	kin_reply_release(&rep);

	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(worker_handler_error_and_unknown_name)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "fail", NULL, kin_after(10 * KIN_SEC), &rep), -EREMOTEIO);
	ASSERT_EQ(rep.error, 7);
	ASSERT_EQ(rep.len, 17);
	ASSERT(memcmp(rep.data, "failed on purpose", 17) == 0);
	kin_reply_release(&rep);
	ASSERT_EQ(kin_call(w, "nope", NULL, kin_after(10 * KIN_SEC), &rep), -ENOSYS);
	ASSERT_EQ(kin_call(w, "", NULL, kin_after(10 * KIN_SEC), &rep), -EINVAL);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(worker_call_timeout_discards_the_late_reply)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_buf b = KIN_BUF_INIT;
	kin_msg slow = test_int_args(&b, 300);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "nap", &slow, kin_after(20 * KIN_MSEC), &rep), -ETIMEDOUT);
	/* The next call gets its own reply, not the late one of the nap. */
	kin_msg args = {.data = "next", .len = 4};
	ASSERT_OK(kin_call(w, "echo", &args, kin_after(10 * KIN_SEC), &rep));
	ASSERT_EQ(rep.len, 4);
	ASSERT(memcmp(rep.data, "next", 4) == 0);
	kin_reply_release(&rep);
	kin_buf_free(&b);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(worker_threads_serve_calls_at_once)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = SPAWN_WORKER(loop, 4);
	/* Each "meet" returns only once all four are inside it together. */
	kin_buf b = KIN_BUF_INIT;
	kin_msg four = test_int_args(&b, 4);
	kin_pending *calls[4];
	for (int i = 0; i < 4; i++)
		ASSERT_OK(kin_call_start(w, "meet", &four, kin_after(10 * KIN_SEC), &calls[i]));
	int results[4];
	kin_reply replies[4];
	ASSERT_OK(kin_await_all(calls, 4, kin_after(30 * KIN_SEC), results, replies));
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(results[i], 0);
		ASSERT(calls[i] == NULL);
		kin_reply_release(&replies[i]);
	}
	kin_buf_free(&b);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(worker_pipelined_calls_await_any)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = SPAWN_WORKER(loop, 1);
	enum { N = 64 };
	kin_pending *calls[N];
	char payload[N][16];
	for (int i = 0; i < N; i++) {
		int n = snprintf(payload[i], sizeof(payload[i]), "call %d", i);
		kin_msg m = {.data = payload[i], .len = (size_t)n};
		ASSERT_OK(kin_call_start(w, "echo", &m, kin_after(10 * KIN_SEC), &calls[i]));
	}
	bool seen[N] = {false};
	for (int k = 0; k < N; k++) {
		size_t i;
		kin_reply rep;
		ASSERT_OK(kin_await_any(calls, N, kin_after(10 * KIN_SEC), &i, &rep));
		ASSERT(i < N && !seen[i] && calls[i] == NULL);
		seen[i] = true;
		ASSERT_EQ(rep.len, strlen(payload[i]));
		ASSERT(memcmp(rep.data, payload[i], rep.len) == 0);
		kin_reply_release(&rep);
	}
	size_t i;
	ASSERT_EQ(kin_await_any(calls, N, 0, &i, NULL), -EINVAL); /* all done */
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

struct caller {
	kin_worker *worker;
	int id;
	int ok;
};

static void *call_many(void *arg)
{
	struct caller *c = arg;
	for (int i = 0; i < 200; i++) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%d/%d", c->id, i);
		kin_msg m = {.data = buf, .len = (size_t)n};
		kin_reply rep;
		if (kin_call(c->worker, "echo", &m, kin_after(30 * KIN_SEC), &rep) == 0 &&
		    rep.len == (size_t)n && memcmp(rep.data, buf, (size_t)n) == 0)
			c->ok++;
		kin_reply_release(&rep);
	}
	return NULL;
}

TEST(worker_calls_from_many_threads_each_get_their_reply)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = SPAWN_WORKER(loop, 2);
	enum { T = 8 };
	pthread_t t[T];
	struct caller c[T];
	for (int i = 0; i < T; i++) {
		c[i] = (struct caller){.worker = w, .id = i};
		ASSERT_EQ(pthread_create(&t[i], NULL, call_many, &c[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(t[i], NULL);
		ASSERT_EQ(c[i].ok, 200);
	}
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(worker_fds_travel_with_a_call)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *w = SPAWN_WORKER(loop, 1);
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	int give[1] = {p[1]};
	kin_msg m = {.data = "through the fd", .len = 14, .fds = give, .nfds = 1};
	kin_reply rep;
	ASSERT_OK(kin_call(w, "write_fd", &m, kin_after(10 * KIN_SEC), &rep));
	kin_reply_release(&rep);
	/* It moved: our copy is closed, so EOF follows the bytes. */
	ASSERT_EQ(fcntl(p[1], F_GETFD), -1);
	char buf[32];
	ASSERT_EQ(read(p[0], buf, sizeof(buf)), 14);
	ASSERT(memcmp(buf, "through the fd", 14) == 0);
	ASSERT_EQ(read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(worker_chan_sent_to_two_workers_carries_their_talk)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	TEST_WORKERS_TALK(a, b);
	kin_worker_free(a);
	kin_worker_free(b);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(worker_zygote_forks_workers_that_are_our_children)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_zygote *z;
	kin_spawn_error why;
	ASSERT_OK(kin_zygote_new(loop, NULL, &z, &why));
	ASSERT(kin_zygote_pid(z) > 0);
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.zygote = z;
	o.threads = 2;
	kin_worker *w[3];
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(kin_worker_spawn(loop, &o, &w[i], &why));
		ASSERT_EQ(test_call_pid(w[i]), kin_worker_pid(w[i]));
		ASSERT(kin_worker_pid(w[i]) != kin_zygote_pid(z));
		/* Ours, not the zygote's: the kernel says who the parent is. */
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)kin_worker_pid(w[i]));
		FILE *f = fopen(path, "r");
		ASSERT(f && fgets(buf, sizeof(buf), f));
		fclose(f);
		int ppid = 0;
		ASSERT(sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid) == 1);
		ASSERT_EQ(ppid, getpid());
	}
	/* The workers do not depend on the zygote once forked. */
	kin_zygote_free(z);
	kin_msg args = {.data = "still here", .len = 10};
	kin_reply rep;
	ASSERT_OK(kin_call(w[1], "echo", &args, kin_after(10 * KIN_SEC), &rep));
	kin_reply_release(&rep);
	/* And their end is reported truthfully: we reap them ourselves. */
	ASSERT_OK(kill(kin_worker_pid(w[2]), SIGKILL));
	kin_exit_reason reason;
	ASSERT_OK(kin_worker_wait(w[2], kin_after(10 * KIN_SEC), &reason));
	ASSERT_EQ(reason.kind, KIN_REASON_SIGNAL);
	ASSERT_EQ(reason.signal, SIGKILL);
	for (int i = 0; i < 3; i++)
		kin_worker_free(w[i]);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(worker_zygote_refuses_tree_mode_and_other_programs)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_zygote *z;
	kin_spawn_error why;
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.flags = KIN_SPAWN_TREE;
	ASSERT_EQ(kin_zygote_new(loop, &s, &z, &why), -EINVAL);
	ASSERT(why.message[0]);
	const char *argv[] = {"true", NULL};
	s.flags = 0;
	s.argv = argv;
	ASSERT_EQ(kin_zygote_new(loop, &s, &z, &why), -EINVAL);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* A worker that says a proper hello, then answers its first call with
 * junk chosen by argv[1] (a seed): raw garbage records (framing), or
 * well-framed messages that are not the protocol. */
HELPER(evil_worker)
{
	unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
	kin_chan *c;
	if (kin_chan_from_fd(3, &c) < 0)
		return 3;
	kin_buf b = KIN_BUF_INIT;
	if (kin_mp_pack(&b, "[iii[s]]", (size_t)4, (int64_t)0, (int64_t)1, (int64_t)getpid(),
			(size_t)1, "echo") < 0 ||
	    kin_chan_send_bytes(c, b.data, b.len, kin_after(10 * KIN_SEC)) < 0)
		return 4;
	kin_msg m = KIN_MSG_INIT;
	if (kin_chan_recv(c, &m, kin_after(10 * KIN_SEC)) != 0)
		return 5;
	kin_msg_release(&m);
	unsigned char junk[512];
	size_t len = 1 + (size_t)(rand_r(&seed) % sizeof(junk));
	for (size_t i = 0; i < len; i++)
		junk[i] = (unsigned char)rand_r(&seed);
	switch (seed % 3) {
	case 0: /* not even a frame */
		if (send(kin_chan_fd(c), junk, len, MSG_NOSIGNAL) < 0)
			return 6;
		break;
	case 1: /* a frame, but not MessagePack of the protocol */
		if (kin_chan_send_bytes(c, junk, len, kin_after(10 * KIN_SEC)) < 0)
			return 6;
		break;
	default: /* a well-formed message of the wrong kind: a second hello */
		if (kin_chan_send_bytes(c, b.data, b.len, kin_after(10 * KIN_SEC)) < 0)
			return 6;
	}
	kin_buf_free(&b);
	sleep(30); /* kin must end it, not wait for it */
	return 0;
}

TEST_TIMEOUT(worker_malformed_replies_drop_only_that_worker, 120)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_worker *good = SPAWN_WORKER(loop, 1);
	for (int seed = 1; seed <= 12; seed++) {
		char s[16];
		snprintf(s, sizeof(s), "%d", seed);
		const char *argv[8];
		test_helper_argv(argv, 8, "evil_worker", s, NULL);
		kin_spawn_opts so = KIN_SPAWN_OPTS_INIT;
		so.argv = argv;
		kin_worker_opts o = KIN_WORKER_OPTS_INIT;
		o.spawn = &so;
		kin_worker *w;
		kin_spawn_error why;
		ASSERT_OK(kin_worker_spawn(loop, &o, &w, &why));
		kin_reply rep;
		ASSERT_EQ(kin_call(w, "echo", NULL, kin_after(20 * KIN_SEC), &rep), -ECONNRESET);
		ASSERT_EQ(rep.reason.kind, KIN_REASON_PROTOCOL);
		kin_exit_reason reason;
		ASSERT_OK(kin_worker_wait(w, kin_after(10 * KIN_SEC), &reason));
		ASSERT_EQ(reason.kind, KIN_REASON_PROTOCOL);
		kin_worker_free(w);
	}
	/* The owner and its other worker carry on. */
	kin_msg args = {.data = "fine", .len = 4};
	kin_reply rep;
	ASSERT_OK(kin_call(good, "echo", &args, kin_after(10 * KIN_SEC), &rep));
	kin_reply_release(&rep);
	kin_worker_free(good);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}
