/* Streams: EOF and closing, deadlines both ways, EPIPE without SIGPIPE,
 * output that outlives its writer, and back-pressure that keeps memory
 * bounded. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(i % 251);
}

/* Writes argv[1] bytes of pattern_byte() to stdout in 64 KiB chunks, then
 * exits at once. */
HELPER(stream_write_bytes)
{
	if (argc < 2)
		return 2;
	size_t total = strtoull(argv[1], NULL, 10), done = 0;
	static unsigned char buf[65536];
	while (done < total) {
		size_t n = total - done < sizeof(buf) ? total - done : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern_byte(done + i);
		ssize_t w = write(1, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 1;
		done += (size_t)w;
	}
	_exit(0);
}

static kin_proc *spawn_piped(kin_loop *loop, const char *const *argv, bool in, bool out,
			     size_t pipe_size)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0].kind = in ? KIN_STDIO_PIPE : KIN_STDIO_NULL;
	o.stdio[1].kind = out ? KIN_STDIO_PIPE : KIN_STDIO_NULL;
	o.pipe_size = pipe_size;
	kin_proc *p;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, &o, &p, &why);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "spawn %s: %s", argv[0], why.message);
	return p;
}

TEST(stream_close_stdin_while_reading)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"cat", NULL};
	kin_proc *p = spawn_piped(loop, argv, true, true, 0);
	kin_stream *in = kin_proc_stdin(p), *out = kin_proc_stdout(p);
	/* Less than a pipe's worth, so cat never blocks on its stdout. */
	static char data[32768], got[65536];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	ASSERT_EQ(kin_stream_write(in, data, sizeof(data), kin_after(10 * KIN_SEC)),
		  (ssize_t)sizeof(data));
	kin_stream_close(in);
	ASSERT_EQ(kin_stream_fd(in), -1);
	kin_stream_close(in); /* idempotent */
	ASSERT_EQ(kin_stream_write(in, "x", 1, kin_after(KIN_SEC)), -EBADF);
	size_t len = test_read_all(out, got, sizeof(got));
	ASSERT_EQ(len, sizeof(data));
	ASSERT(memcmp(got, data, sizeof(data)) == 0);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Writes to a reader that is gone must say EPIPE, with SIGPIPE at its
 * default disposition (so a signal let through would kill the test). */
static void check_epipe_without_sigpipe(void)
{
	signal(SIGPIPE, SIG_DFL);
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"true", NULL};
	kin_proc *p = spawn_piped(loop, argv, true, false, 0);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.code, 0);
	kin_stream *in = kin_proc_stdin(p);
	ASSERT_EQ(kin_stream_write(in, "hello", 5, kin_after(10 * KIN_SEC)), -EPIPE);
	ASSERT_EQ(kin_stream_write(in, "hello", 5, 0), -EPIPE);
	kin_proc_free(p);

	/* A reader that leaves part way: the write stops short or fails, and
	 * the next one says EPIPE. */
	const char *head[] = {"head", "-c", "1", NULL};
	p = spawn_piped(loop, head, true, false, 0);
	static char big[1 << 20];
	ssize_t w = kin_stream_write(kin_proc_stdin(p), big, sizeof(big), kin_after(20 * KIN_SEC));
	ASSERT(w == -EPIPE || (w >= 1 && w < (ssize_t)sizeof(big)));
	ASSERT_EQ(kin_stream_write(kin_proc_stdin(p), big, 10, kin_after(10 * KIN_SEC)), -EPIPE);
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	kin_proc_free(p);

	/* No SIGPIPE was left pending either, for this thread or the process. */
	sigset_t pending;
	sigpending(&pending);
	ASSERT(!sigismember(&pending, SIGPIPE));
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stream_write_after_exit_is_epipe_without_sigpipe)
{
	check_epipe_without_sigpipe();
}

TEST(stream_write_epipe_without_sigpipe_on_kernels_without_rwf_nosignal)
{
	/* Older kernels refuse pwritev2's RWF_NOSIGNAL with EOPNOTSUPP; a
	 * seccomp filter makes this one do the same, so the guarded fallback
	 * is what runs. */
	struct sock_filter refuse_pwritev2[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pwritev2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(refuse_pwritev2) / sizeof(refuse_pwritev2[0]),
				  .filter = refuse_pwritev2};
	ASSERT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
	struct iovec v = {.iov_base = "x", .iov_len = 1};
	ASSERT_EQ(pwritev2(STDERR_FILENO, &v, 1, -1, 0), -1);
	ASSERT_EQ(errno, EOPNOTSUPP);
	check_epipe_without_sigpipe();
}

TEST(stream_output_written_before_exit_is_read_in_full)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const size_t total = 1 << 20;
	char count[32];
	snprintf(count, sizeof(count), "%zu", total);
	const char *argv[8];
	test_helper_argv(argv, 8, "stream_write_bytes", count, NULL);
	/* The pipe holds all of it, so the child can end before we read. */
	kin_proc *p = spawn_piped(loop, argv, false, true, total);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(20 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	static char buf[(1 << 20) + 4096];
	size_t len = test_read_all(kin_proc_stdout(p), buf, sizeof(buf));
	ASSERT_EQ(len, total);
	for (size_t i = 0; i < total; i++)
		if ((unsigned char)buf[i] != pattern_byte(i))
			test_fail(__FILE__, __LINE__, "byte %zu differs", i);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stream_read_deadline_times_out)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sleep", "100", NULL};
	kin_proc *p = spawn_piped(loop, argv, false, true, 0);
	char buf[16];
	kin_time start = kin_now();
	ASSERT_EQ(kin_stream_read(kin_proc_stdout(p), buf, sizeof(buf), kin_after(150 * KIN_MSEC)),
		  -ETIMEDOUT);
	/* Never early. */
	ASSERT(kin_now() - start >= 150 * KIN_MSEC);
	ASSERT_EQ(kin_stream_read(kin_proc_stdout(p), buf, sizeof(buf), 0), -ETIMEDOUT);
	ASSERT_EQ(kin_stream_read(kin_proc_stdout(p), buf, sizeof(buf), kin_now() - KIN_SEC),
		  -ETIMEDOUT);
	/* A zero-length read does not wait. */
	ASSERT_EQ(kin_stream_read(kin_proc_stdout(p), buf, 0, KIN_FOREVER), 0);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stream_write_deadline_times_out)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sleep", "100", NULL};
	kin_proc *p = spawn_piped(loop, argv, true, false, 0);
	kin_stream *in = kin_proc_stdin(p);
	int cap = fcntl(kin_stream_fd(in), F_GETPIPE_SZ);
	ASSERT(cap > 0);
	static char big[1 << 20];
	kin_time start = kin_now();
	/* Part fits, then the deadline passes: the count of what fit. */
	ASSERT_EQ(kin_stream_write(in, big, sizeof(big), kin_after(150 * KIN_MSEC)), cap);
	ASSERT(kin_now() - start >= 150 * KIN_MSEC);
	/* Nothing fits any more. */
	ASSERT_EQ(kin_stream_write(in, big, 1, kin_after(50 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT_EQ(kin_stream_write(in, big, 1, 0), -ETIMEDOUT);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stream_eof_and_closed_reads)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"printf", "abc", NULL};
	kin_proc *p = spawn_piped(loop, argv, true, true, 0);
	kin_stream *out = kin_proc_stdout(p), *in = kin_proc_stdin(p);
	ASSERT(kin_proc_stderr(p) == NULL);
	char buf[16];
	size_t len = 0;
	while (len < 3) {
		ssize_t r = kin_stream_read(out, buf + len, sizeof(buf) - len, kin_after(10 * KIN_SEC));
		ASSERT(r > 0);
		len += (size_t)r;
	}
	ASSERT(memcmp(buf, "abc", 3) == 0);
	/* End of file is 0, every time. */
	ASSERT_EQ(kin_stream_read(out, buf, sizeof(buf), kin_after(10 * KIN_SEC)), 0);
	ASSERT_EQ(kin_stream_read(out, buf, sizeof(buf), 0), 0);
	/* The wrong direction is refused. */
	ASSERT_EQ(kin_stream_read(in, buf, sizeof(buf), 0), -EINVAL);
	ASSERT_EQ(kin_stream_write(out, buf, 1, 0), -EINVAL);
	ASSERT_EQ(kin_stream_read(NULL, buf, sizeof(buf), 0), -EINVAL);
	ASSERT_EQ(kin_stream_write(NULL, buf, 1, 0), -EINVAL);
	/* After close: -EBADF, and fd -1. */
	kin_stream_close(out);
	ASSERT_EQ(kin_stream_fd(out), -1);
	ASSERT_EQ(kin_stream_read(out, buf, sizeof(buf), kin_after(KIN_SEC)), -EBADF);
	ASSERT_EQ(kin_stream_on_readable(out, NULL, NULL), 0);
	kin_stream_close(NULL);
	ASSERT_EQ(kin_stream_fd(NULL), -1);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.code, 0);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

struct pipe_full {
	int fd;
	int want;
};

static bool pipe_holds(void *arg)
{
	struct pipe_full *pf = arg;
	int n = 0;
	return ioctl(pf->fd, FIONREAD, &n) == 0 && n >= pf->want;
}

TEST(stream_backpressure_keeps_memory_bounded)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const size_t pipe_size = 1 << 20;
	const char *argv[] = {"head", "-c", "268435456", "/dev/zero", NULL};
	kin_proc *p = spawn_piped(loop, argv, false, true, pipe_size);
	kin_stream *out = kin_proc_stdout(p);
	/* pipe_size is honored: this is all that can wait for us. */
	ASSERT_EQ(fcntl(kin_stream_fd(out), F_GETPIPE_SZ), (int)pipe_size);

	/* The child fills the pipe and then blocks: nothing more is taken from
	 * it, and it has not run ahead to the end. */
	struct pipe_full pf = {.fd = kin_stream_fd(out), .want = (int)pipe_size};
	ASSERT(test_wait_until(pipe_holds, &pf, 10000));
	kin_status st;
	ASSERT_EQ(kin_proc_poll(p, &st), 0);

	/* A slow reader: small reads with pauses, for 8 MiB. */
	long rss0 = test_rss_kib();
	ASSERT(rss0 > 0);
	static char chunk[4096];
	size_t total = 0;
	for (int i = 0; total < (8u << 20); i++) {
		ssize_t r = kin_stream_read(out, chunk, sizeof(chunk), kin_after(10 * KIN_SEC));
		ASSERT(r > 0);
		total += (size_t)r;
		if (i % 64 == 0)
			usleep(1000);
	}
	long rss1 = test_rss_kib();
	if (rss1 - rss0 > 4096)
		test_fail(__FILE__, __LINE__, "the owner grew by %ld KiB while reading", rss1 - rss0);
	/* Still running: 256 MiB cannot have gone through. */
	ASSERT_EQ(kin_proc_poll(p, &st), 0);
	ASSERT(test_wait_until(pipe_holds, &pf, 10000));

	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Event style: read everything from the loop until EOF. */
struct collect {
	char buf[262144];
	size_t len;
	int eofs;
	int calls;
};

static void on_readable(kin_stream *s, void *userdata)
{
	struct collect *c = userdata;
	c->calls++;
	ssize_t r = kin_stream_read(s, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (r > 0) {
		c->len += (size_t)r;
		return;
	}
	ASSERT_EQ(r, 0);
	c->eofs++;
	ASSERT_OK(kin_stream_on_readable(s, NULL, NULL));
}

struct feed {
	const char *data;
	size_t len, off;
};

static void on_writable(kin_stream *s, void *userdata)
{
	struct feed *f = userdata;
	ssize_t w = kin_stream_write(s, f->data + f->off, f->len - f->off, 0);
	if (w > 0)
		f->off += (size_t)w;
	if (f->off == f->len) {
		ASSERT_OK(kin_stream_on_writable(s, NULL, NULL));
		kin_stream_close(s);
	}
}

TEST(stream_event_style_on_the_loop)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"cat", NULL};
	kin_proc *p = spawn_piped(loop, argv, true, true, 0);
	static char data[200000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('A' + i % 23);
	struct feed f = {.data = data, .len = sizeof(data)};
	static struct collect c;
	/* More than both pipes hold: only works if both sides keep moving. */
	ASSERT_OK(kin_stream_on_writable(kin_proc_stdin(p), on_writable, &f));
	ASSERT_OK(kin_stream_on_readable(kin_proc_stdout(p), on_readable, &c));
	/* Runs until both watches have stopped themselves. */
	int r = kin_loop_run(loop, kin_after(20 * KIN_SEC));
	ASSERT(r > 0);
	ASSERT_EQ(f.off, sizeof(data));
	ASSERT_EQ(c.eofs, 1);
	ASSERT_EQ(c.len, sizeof(data));
	ASSERT(memcmp(c.buf, data, sizeof(data)) == 0);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.code, 0);
	/* Watching a closed stream is refused, and so is the wrong direction. */
	ASSERT_EQ(kin_stream_on_writable(kin_proc_stdin(p), on_writable, &f), -EBADF);
	ASSERT_EQ(kin_stream_on_readable(kin_proc_stdin(p), on_readable, &c), -EINVAL);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}
