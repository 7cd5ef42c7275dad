/* kin_run: feed a child, collect both outputs, never deadlock, never leak. */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#define MiB ((size_t)1024 * 1024)

/* Two patterns that differ, so stdout and stderr cannot be mistaken for
 * each other or for the input. */
static unsigned char pat_out(size_t i)
{
	return (unsigned char)(i % 251);
}

static unsigned char pat_err(size_t i)
{
	return (unsigned char)((i % 241) + 7);
}

static void write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		p += w;
		n -= (size_t)w;
	}
}

/* Writes argv[1] bytes to stdout and to stderr, interleaved, without
 * reading stdin; only then reads all of stdin and reports its length and
 * byte sum on stdout. A caller that feeds stdin before reading both
 * outputs deadlocks against this. */
HELPER(run_spew)
{
	if (argc < 2)
		return 2;
	size_t total = strtoul(argv[1], NULL, 10);
	static unsigned char chunk[65536];
	for (size_t done = 0; done < total;) {
		size_t n = total - done < sizeof(chunk) ? total - done : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pat_out(done + i);
		write_all(1, chunk, n);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pat_err(done + i);
		write_all(2, chunk, n);
		done += n;
	}
	size_t in = 0;
	unsigned long sum = 0;
	for (;;) {
		ssize_t r = read(0, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			sum += chunk[i];
		in += (size_t)r;
	}
	char line[64];
	int len = snprintf(line, sizeof(line), "in=%zu sum=%lu\n", in, sum);
	write_all(1, line, (size_t)len);
	return 0;
}

/* Writes argv[1] bytes to stdout and to stderr and exits at once. */
HELPER(run_write_exit)
{
	if (argc < 2)
		return 2;
	size_t total = strtoul(argv[1], NULL, 10);
	unsigned char *b = malloc(total);
	for (size_t i = 0; i < total; i++)
		b[i] = pat_out(i);
	write_all(1, b, total);
	for (size_t i = 0; i < total; i++)
		b[i] = pat_err(i);
	write_all(2, b, total);
	_exit(0);
}

static void check_pattern(const unsigned char *b, size_t n, unsigned char (*pat)(size_t))
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(i))
			test_fail(__FILE__, __LINE__, "byte %zu is %u, expected %u", i, b[i], pat(i));
}

static int tmp_fd(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ASSERT(fd >= 0);
	return fd;
}

TEST(run_buffer_roundtrip_through_cat)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"cat", NULL};
	kin_spawn_opts o = test_opts(argv);
	kin_spawn_opts o_copy = o;
	char in[] = "hello, kin_run\n";
	char out[64];
	size_t filled = 12345;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_BUFFER, .buf = in, .len = strlen(in)};
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out), .filled = &filled};
	kin_run_opts r_copy = r;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(filled, strlen(in));
	ASSERT(memcmp(out, in, filled) == 0);
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT_EQ(res.bytes_in, strlen(in));
	ASSERT_EQ(res.bytes_out, strlen(in));
	ASSERT_EQ(res.bytes_err, 0);
	ASSERT(!res.timed_out && !res.out_truncated);
	/* The caller's structs are copied, never changed. */
	ASSERT(test_same_spawn_opts(&o, &o_copy));
	ASSERT(test_same_run_opts(&r, &r_copy));
	test_loop_finish(loop, fds);
}

TEST_TIMEOUT(run_big_stdout_and_stderr_with_big_stdin_no_deadlock, 120)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t big = 8 * MiB;
	char size_arg[32];
	snprintf(size_arg, sizeof(size_arg), "%zu", big);
	const char *argv[8];
	test_helper_argv(argv, 8, "run_spew", size_arg, NULL);
	kin_spawn_opts o = test_opts(argv);
	unsigned char *in = malloc(big), *out = malloc(big + 64), *err = malloc(big + 64);
	unsigned long sum = 0;
	for (size_t i = 0; i < big; i++) {
		in[i] = (unsigned char)(i * 13 + 5);
		sum += in[i];
	}
	size_t out_n = 0, err_n = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_BUFFER, .buf = in, .len = big};
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = big + 64, .filled = &out_n};
	r.err = (kin_io){.kind = KIN_IO_BUFFER, .buf = err, .len = big + 64, .filled = &err_n};
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT_EQ(res.bytes_in, big);
	ASSERT_EQ(err_n, big);
	ASSERT_EQ(res.bytes_err, big);
	check_pattern(out, big, pat_out);
	check_pattern(err, big, pat_err);
	char want[64];
	snprintf(want, sizeof(want), "in=%zu sum=%lu\n", big, sum);
	ASSERT_EQ(out_n, big + strlen(want));
	out[out_n] = 0;
	ASSERT_STR_EQ((char *)out + big, want);
	free(in);
	free(out);
	free(err);
	test_loop_finish(loop, fds);
}

TEST(run_input_from_fd_output_to_fds)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 3 * MiB + 17;
	unsigned char *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = pat_out(i);
	int in_fd = tmp_fd(), out_fd = tmp_fd(), err_fd = tmp_fd();
	ASSERT_EQ(write(in_fd, data, n), (ssize_t)n);
	ASSERT_EQ(lseek(in_fd, 0, SEEK_SET), 0);
	int fds_open = test_count_fds();
	const char *argv[] = {"sh", "-c", "cat; echo done >&2", NULL};
	kin_spawn_opts o = test_opts(argv);
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_FD, .fd = in_fd};
	r.out = (kin_io){.kind = KIN_IO_FD, .fd = out_fd};
	r.err = (kin_io){.kind = KIN_IO_FD, .fd = err_fd};
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT_EQ(res.bytes_in, n);
	ASSERT_EQ(res.bytes_out, n);
	ASSERT_EQ(res.bytes_err, 5);
	/* The lent fds stay open and ours. */
	ASSERT_EQ(test_count_fds(), fds_open);
	unsigned char *got = malloc(n + 1);
	ASSERT_EQ(pread(out_fd, got, n + 1, 0), (ssize_t)n);
	check_pattern(got, n, pat_out);
	char e[16] = {0};
	ASSERT_EQ(pread(err_fd, e, sizeof(e) - 1, 0), 5);
	ASSERT_STR_EQ(e, "done\n");
	close(in_fd);
	close(out_fd);
	close(err_fd);
	free(data);
	free(got);
	test_loop_finish(loop, fds);
}

/* A reader at the other end of a pipe the run writes its stdout to. */
struct pipe_reader {
	int fd;
	size_t got;
	bool pattern_ok;
};

static void *read_pipe(void *arg)
{
	struct pipe_reader *pr = arg;
	static unsigned char buf[4096];
	pr->pattern_ok = true;
	for (;;) {
		ssize_t r = read(pr->fd, buf, sizeof(buf));
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
			usleep(1000);
			continue;
		}
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat_out(pr->got + (size_t)i))
				pr->pattern_ok = false;
		pr->got += (size_t)r;
		usleep(200); /* a slow consumer: the child must wait for it */
	}
	return NULL;
}

static void output_to_pipe(bool nonblocking)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	if (nonblocking)
		ASSERT_OK(fcntl(p[1], F_SETFL, O_NONBLOCK));
	struct pipe_reader pr = {.fd = p[0]};
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, read_pipe, &pr), 0);
	const size_t n = 4 * MiB;
	char arg[32];
	snprintf(arg, sizeof(arg), "%zu", n);
	const char *argv[8];
	test_helper_argv(argv, 8, "run_write_exit", arg, NULL);
	kin_spawn_opts o = test_opts(argv);
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_FD, .fd = p[1]};
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	close(p[1]);
	pthread_join(t, NULL);
	close(p[0]);
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT_EQ(res.bytes_out, n);
	ASSERT_EQ(pr.got, n);
	ASSERT(pr.pattern_ok);
	test_loop_finish(loop, fds);
}

TEST_TIMEOUT(run_output_to_blocking_pipe_with_slow_reader, 60)
{
	output_to_pipe(false);
}

TEST_TIMEOUT(run_output_to_nonblocking_pipe_with_slow_reader, 60)
{
	output_to_pipe(true);
}

/* Input callback: hands out `total` bytes of pat_out in uneven pieces. */
struct feeder {
	size_t total, given, calls, abort_after;
	int abort_with;
};

static ssize_t feed(void *buf, size_t n, void *userdata)
{
	struct feeder *f = userdata;
	f->calls++;
	if (f->abort_after && f->calls > f->abort_after)
		return f->abort_with;
	size_t want = (f->calls * 7919) % n + 1;
	if (want > f->total - f->given)
		want = f->total - f->given;
	for (size_t i = 0; i < want; i++)
		((unsigned char *)buf)[i] = pat_out(f->given + i);
	f->given += want;
	return (ssize_t)want;
}

/* Output callback: checks pat_out, records chunk sizes. */
struct checker {
	size_t got, calls, max_chunk, abort_after;
	bool check, bad;
	int abort_with;
};

static int check(const void *buf, size_t n, void *userdata)
{
	struct checker *c = userdata;
	c->calls++;
	if (c->abort_after && c->calls > c->abort_after)
		return c->abort_with;
	if (n == 0)
		c->bad = true; /* never called for nothing */
	if (c->check)
		for (size_t i = 0; i < n; i++)
			if (((const unsigned char *)buf)[i] != pat_out(c->got + i))
				c->bad = true;
	if (n > c->max_chunk)
		c->max_chunk = n;
	c->got += n;
	return 0;
}

TEST_TIMEOUT(run_input_and_output_callbacks, 60)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"cat", NULL};
	kin_spawn_opts o = test_opts(argv);
	struct feeder f = {.total = 5 * MiB};
	struct checker c = {.check = true};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_CALLBACK, .input = feed, .userdata = &f};
	r.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = check, .userdata = &c};
	r.buffer_size = 10000;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT_EQ(f.given, f.total);
	ASSERT_EQ(c.got, f.total);
	ASSERT_EQ(res.bytes_in, f.total);
	ASSERT_EQ(res.bytes_out, f.total);
	ASSERT(!c.bad);
	ASSERT(c.max_chunk <= 10000);
	test_loop_finish(loop, fds);
}

TEST(run_output_callback_abort_kills_child)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"yes", NULL}; /* never ends on its own */
	kin_spawn_opts o = test_opts(argv);
	struct checker c = {.abort_after = 3, .abort_with = -ECANCELED};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = check, .userdata = &c};
	kin_run_result res;
	memset(&res, 0xab, sizeof(res));
	kin_run_result untouched = res;
	ASSERT_EQ(kin_run(loop, &o, &r, &res, NULL), -ECANCELED);
	ASSERT_EQ(c.calls, 4);
	ASSERT(memcmp(&res, &untouched, sizeof(res)) == 0);
	test_loop_finish(loop, fds);
}

TEST(run_input_callback_abort_kills_child)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"cat", NULL};
	kin_spawn_opts o = test_opts(argv);
	struct feeder f = {.total = 100 * MiB, .abort_after = 5, .abort_with = -EIO};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_CALLBACK, .input = feed, .userdata = &f};
	r.out = (kin_io){.kind = KIN_IO_NONE};
	ASSERT_EQ(kin_run(loop, &o, &r, NULL, NULL), -EIO);
	ASSERT_EQ(f.calls, 6);
	test_loop_finish(loop, fds);
}

TEST(run_small_output_buffer_truncates_and_child_finishes)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"head", "-c", "1000000", "/dev/zero", NULL};
	kin_spawn_opts o = test_opts(argv);
	char out[100];
	memset(out, 'x', sizeof(out));
	size_t filled = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out), .filled = &filled};
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT(res.out_truncated);
	ASSERT_EQ(filled, sizeof(out));
	ASSERT_EQ(res.bytes_out, 1000000);
	for (size_t i = 0; i < sizeof(out); i++)
		ASSERT_EQ(out[i], 0);
	test_loop_finish(loop, fds);
}

TEST(run_exact_fit_is_not_truncated)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"printf", "12345", NULL};
	kin_spawn_opts o = test_opts(argv);
	char out[5];
	size_t filled = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out), .filled = &filled};
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT(!res.out_truncated);
	ASSERT_EQ(filled, 5);
	ASSERT(memcmp(out, "12345", 5) == 0);
	test_loop_finish(loop, fds);
}

TEST(run_merge_stderr_into_stdout)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sh", "-c", "echo out; echo err >&2; echo out2", NULL};
	kin_spawn_opts o = test_opts(argv);
	char out[64], err[64];
	size_t out_n = 0, err_n = 777;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out) - 1, .filled = &out_n};
	/* Ignored when merged. */
	r.err = (kin_io){.kind = KIN_IO_BUFFER, .buf = err, .len = sizeof(err), .filled = &err_n};
	r.merge_stderr = true;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	out[out_n] = 0;
	ASSERT_STR_EQ(out, "out\nerr\nout2\n");
	ASSERT_EQ(res.bytes_err, 0);
	ASSERT_EQ(err_n, 777);
	test_loop_finish(loop, fds);
}

TEST(run_deadline_terminates_with_sigterm)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sh", "-c", "echo before; exec sleep 100", NULL};
	kin_spawn_opts o = test_opts(argv);
	char out[64];
	size_t out_n = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out) - 1, .filled = &out_n};
	r.deadline = kin_after(300 * KIN_MSEC);
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT(res.timed_out);
	ASSERT_EQ(res.status.kind, KIN_KILLED);
	ASSERT_EQ(res.status.signal, SIGTERM);
	out[out_n] = 0;
	ASSERT_STR_EQ(out, "before\n");
	test_loop_finish(loop, fds);
}

TEST(run_deadline_with_sigkill)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sleep", "100", NULL};
	kin_spawn_opts o = test_opts(argv);
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.deadline = kin_after(200 * KIN_MSEC);
	r.timeout_signal = SIGKILL;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT(res.timed_out);
	ASSERT_EQ(res.status.kind, KIN_KILLED);
	ASSERT_EQ(res.status.signal, SIGKILL);
	test_loop_finish(loop, fds);
}

TEST(run_deadline_escalates_to_sigkill)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	/* An ignored signal stays ignored across exec: sleep shrugs off SIGTERM. */
	const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; exec sleep 100", NULL};
	kin_spawn_opts o = test_opts(argv);
	char out[16];
	size_t out_n = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out), .filled = &out_n};
	r.deadline = kin_after(300 * KIN_MSEC);
	r.kill_after_ns = 200 * KIN_MSEC;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT(res.timed_out);
	ASSERT_EQ(res.status.kind, KIN_KILLED);
	ASSERT_EQ(res.status.signal, SIGKILL);
	ASSERT_EQ(out_n, 6);
	test_loop_finish(loop, fds);
}

TEST(run_child_ignoring_stdin_is_no_error)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 10 * MiB;
	char *in = calloc(1, n);
	const char *argv[] = {"true", NULL};
	kin_spawn_opts o = test_opts(argv);
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_BUFFER, .buf = in, .len = n};
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT(res.bytes_in < n);
	/* No SIGPIPE reached us, nor is one left pending. */
	sigset_t pending;
	sigpending(&pending);
	ASSERT(!sigismember(&pending, SIGPIPE));
	free(in);
	test_loop_finish(loop, fds);
}

TEST(run_child_closing_stdin_early_keeps_running)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 10 * MiB;
	char *in = malloc(n);
	memset(in, 'a', n);
	const char *argv[] = {"sh", "-c", "head -c 10; exec 0<&-; sleep 0.2; echo tail", NULL};
	kin_spawn_opts o = test_opts(argv);
	char out[64];
	size_t out_n = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_BUFFER, .buf = in, .len = n};
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out) - 1, .filled = &out_n};
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	out[out_n] = 0;
	ASSERT_STR_EQ(out, "aaaaaaaaaatail\n");
	sigset_t pending;
	sigpending(&pending);
	ASSERT(!sigismember(&pending, SIGPIPE));
	free(in);
	test_loop_finish(loop, fds);
}

/* Input that takes its time, so the child has written everything and
 * exited before kin_run first looks at the pipes and the pidfd. */
static ssize_t slow_eof(void *buf, size_t n, void *userdata)
{
	(void)buf;
	(void)n;
	(void)userdata;
	usleep(200 * 1000);
	return 0;
}

TEST(run_output_written_just_before_exit_is_kept)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 60000; /* fits in a pipe: the child never waits for us */
	char arg[32];
	snprintf(arg, sizeof(arg), "%zu", n);
	const char *argv[8];
	test_helper_argv(argv, 8, "run_write_exit", arg, NULL);
	kin_spawn_opts o = test_opts(argv);
	unsigned char *out = malloc(n + 1), *err = malloc(n + 1);
	for (int round = 0; round < 3; round++) {
		size_t out_n = 0;
		int err_fd = tmp_fd();
		kin_run_opts r = KIN_RUN_OPTS_INIT;
		r.in = (kin_io){.kind = KIN_IO_CALLBACK, .input = slow_eof};
		r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = n + 1, .filled = &out_n};
		/* An fd sink takes one small chunk per round trip: many reads
		 * remain after the exit is seen. */
		r.err = (kin_io){.kind = KIN_IO_FD, .fd = err_fd};
		r.buffer_size = 1000;
		kin_run_result res;
		ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
		ASSERT_EQ(res.status.kind, KIN_EXITED);
		ASSERT_EQ(out_n, n);
		ASSERT_EQ(pread(err_fd, err, n + 1, 0), (ssize_t)n);
		close(err_fd);
		check_pattern(out, n, pat_out);
		check_pattern(err, n, pat_err);
	}
	free(out);
	free(err);
	test_loop_finish(loop, fds);
}

TEST(run_output_just_before_exit_reaches_callbacks)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 60000;
	char arg[32];
	snprintf(arg, sizeof(arg), "%zu", n);
	const char *argv[8];
	test_helper_argv(argv, 8, "run_write_exit", arg, NULL);
	kin_spawn_opts o = test_opts(argv);
	struct checker c = {.check = true};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_CALLBACK, .input = slow_eof};
	r.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = check, .userdata = &c};
	r.buffer_size = 512;
	r.deadline = kin_after(60 * KIN_SEC);
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(c.got, n);
	ASSERT(!c.bad);
	ASSERT_EQ(res.bytes_err, 0); /* stderr was NONE: /dev/null */
	test_loop_finish(loop, fds);
}

/* A consumer slower than the grace period after exit still gets all that
 * the child wrote: that is owed, however long it takes. */
static int slow_check(const void *buf, size_t n, void *userdata)
{
	usleep(150 * 1000);
	return check(buf, n, userdata);
}

TEST(run_slow_consumer_after_exit_gets_everything)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 5000;
	char arg[32];
	snprintf(arg, sizeof(arg), "%zu", n);
	const char *argv[8];
	test_helper_argv(argv, 8, "run_write_exit", arg, NULL);
	kin_spawn_opts o = test_opts(argv);
	struct checker c = {.check = true};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_CALLBACK, .input = slow_eof};
	r.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = slow_check, .userdata = &c};
	r.buffer_size = 1000;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(c.got, n);
	ASSERT(!c.bad);
	test_loop_finish(loop, fds);
}

static ssize_t slower_eof(void *buf, size_t n, void *userdata)
{
	(void)buf;
	(void)n;
	(void)userdata;
	usleep(1000 * 1000);
	return 0;
}

TEST(run_deadline_passed_at_exit_still_delivers_output)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 60000;
	char arg[32];
	snprintf(arg, sizeof(arg), "%zu", n);
	const char *argv[8];
	test_helper_argv(argv, 8, "run_write_exit", arg, NULL);
	kin_spawn_opts o = test_opts(argv);
	struct checker c = {.check = true};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	/* The input callback holds kin_run past the deadline; by the time it
	 * next looks at the clock and the pipes, the child is long gone and
	 * its output waits in the pipe, to be read in many small chunks. */
	r.in = (kin_io){.kind = KIN_IO_CALLBACK, .input = slower_eof};
	r.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = check, .userdata = &c};
	r.buffer_size = 1000;
	r.deadline = kin_after(300 * KIN_MSEC);
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT(!res.timed_out);
	ASSERT_EQ(c.got, n);
	ASSERT(!c.bad);
	test_loop_finish(loop, fds);
}

static void grandchild_holds_stdout(kin_time deadline)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sh", "-c", "sleep 100 & echo $!", NULL};
	kin_spawn_opts o = test_opts(argv);
	char out[64];
	size_t out_n = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = out, .len = sizeof(out) - 1, .filled = &out_n};
	r.deadline = deadline;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	out[out_n] = 0;
	pid_t orphan = (pid_t)atoi(out);
	ASSERT(orphan > 0);
	/* The orphan is no child of ours; clean it up all the same. */
	kill(orphan, SIGKILL);
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT(!res.timed_out);
	test_loop_finish(loop, fds);
}

TEST_TIMEOUT(run_grandchild_holding_stdout_does_not_hang, 20)
{
	grandchild_holds_stdout(0);
}

TEST_TIMEOUT(run_grandchild_holding_stdout_does_not_wait_for_deadline, 20)
{
	grandchild_holds_stdout(kin_after(60 * KIN_SEC));
}

TEST(run_spawn_failure_is_enoent_with_why)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"kin-no-such-program-run", NULL};
	kin_spawn_opts o = test_opts(argv);
	struct feeder f = {.total = 10};
	struct checker c = {0};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_CALLBACK, .input = feed, .userdata = &f};
	r.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = check, .userdata = &c};
	kin_run_result res;
	kin_spawn_error why;
	ASSERT_EQ(kin_run(loop, &o, &r, &res, &why), -ENOENT);
	ASSERT_EQ(why.error, -ENOENT);
	ASSERT_EQ(why.step, KIN_STEP_EXEC);
	ASSERT(strstr(why.message, "kin-no-such-program-run") != NULL);
	ASSERT_EQ(f.calls, 0);
	test_loop_finish(loop, fds);
}

TEST(run_rejects_bad_arguments)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"true", NULL};
	kin_spawn_opts o = test_opts(argv);
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	kin_spawn_error why;
	ASSERT_EQ(kin_run(NULL, &o, &r, NULL, &why), -EINVAL);
	ASSERT_EQ(kin_run(loop, NULL, &r, NULL, NULL), -EINVAL);
	ASSERT_EQ(kin_run(loop, &o, NULL, NULL, NULL), -EINVAL);
	r.out.kind = KIN_IO_CALLBACK; /* no .output */
	ASSERT_EQ(kin_run(loop, &o, &r, NULL, &why), -EINVAL);
	ASSERT_EQ(why.step, KIN_STEP_OPTIONS);
	r.out.kind = (kin_io_kind)42;
	ASSERT_EQ(kin_run(loop, &o, &r, NULL, NULL), -EINVAL);
	r.out.kind = KIN_IO_NONE;
	r.in = (kin_io){.kind = KIN_IO_FD, .fd = -1};
	ASSERT_EQ(kin_run(loop, &o, &r, NULL, NULL), -EBADF);
	r.in = (kin_io){.kind = KIN_IO_BUFFER, .buf = NULL, .len = 3};
	ASSERT_EQ(kin_run(loop, &o, &r, NULL, NULL), -EINVAL);
	r.in.kind = KIN_IO_NONE;
	r.timeout_signal = 1000;
	ASSERT_EQ(kin_run(loop, &o, &r, NULL, NULL), -EINVAL);
	r.timeout_signal = 0;
	r.kill_after_ns = -1;
	ASSERT_EQ(kin_run(loop, &o, &r, NULL, NULL), -EINVAL);
	/* Defaults everywhere: /dev/null in, discarded out. */
	r.kill_after_ns = 0;
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	test_loop_finish(loop, fds);
}

TEST_TIMEOUT(run_memory_is_bounded_by_buffer_size, 120)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const size_t n = 64 * MiB;
	char arg[32];
	snprintf(arg, sizeof(arg), "%zu", n);
	const char *argv[] = {"head", "-c", arg, "/dev/zero", NULL};
	kin_spawn_opts o = test_opts(argv);
	struct checker c = {0};
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = check, .userdata = &c};
	r.buffer_size = 16384;
	struct rusage before, after;
	getrusage(RUSAGE_SELF, &before);
	kin_run_result res;
	ASSERT_OK(kin_run(loop, &o, &r, &res, NULL));
	getrusage(RUSAGE_SELF, &after);
	ASSERT_EQ(res.status.kind, KIN_EXITED);
	ASSERT_EQ(res.status.code, 0);
	ASSERT_EQ(c.got, n);
	ASSERT_EQ(res.bytes_out, n);
	ASSERT(!c.bad);
	ASSERT_INT(c.max_chunk, <=, 16384);
	/* Holding the stream would have grown us by 64 MiB. */
	ASSERT_INT(after.ru_maxrss - before.ru_maxrss, <, 16 * 1024);
	test_loop_finish(loop, fds);
}
