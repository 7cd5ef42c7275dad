/* A worker in another language: examples/python/echo_worker.py, written
 * from docs/protocol.md alone, served to kin's own owner side. */
#include "harness.h"

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
	kin_worker *w = NULL;
	kin_spawn_error why;
	if (kin_worker_spawn(loop, &o, &w, &why) < 0)
		test_fail(__FILE__, __LINE__, "kin_worker_spawn: %s", why.message);
	return w;
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
