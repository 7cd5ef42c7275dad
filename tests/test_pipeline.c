/* kin_pipeline_spawn: a | b | c with the data flowing child to child. */
#include "harness.h"

#include <signal.h>
#include <unistd.h>

static void wait_ok(kin_proc *p, int code)
{
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(20 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, code);
}

TEST(pipeline_printf_tr_wc)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *a0[] = {"printf", "hello world", NULL};
	const char *a1[] = {"tr", "a-z", "A-Z", NULL};
	const char *a2[] = {"wc", "-c", NULL};
	kin_spawn_opts s0 = test_opts(a0), s1 = test_opts(a1), s2 = test_opts(a2);
	s2.stdio[1].kind = KIN_STDIO_PIPE;
	const kin_spawn_opts *stages[] = {&s0, &s1, &s2};
	kin_proc *procs[3];
	ASSERT_OK(kin_pipeline_spawn(loop, stages, 3, procs, NULL));
	char buf[64];
	test_read_all(kin_proc_stdout(procs[2]), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "11\n");
	for (int i = 0; i < 3; i++) {
		wait_ok(procs[i], 0);
		kin_proc_free(procs[i]);
	}
	test_loop_finish(loop, fds);
}

TEST(pipeline_transforms_data_and_owner_never_touches_it)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *a0[] = {"cat", NULL};
	const char *a1[] = {"tr", "a-z", "A-Z", NULL};
	kin_spawn_opts s0 = test_opts(a0), s1 = test_opts(a1);
	s0.stdio[0].kind = KIN_STDIO_PIPE;
	s0.stdio[1].kind = KIN_STDIO_PIPE; /* overridden: stage 0 writes to stage 1 */
	s1.stdio[0].kind = KIN_STDIO_PIPE; /* overridden: stage 1 reads stage 0 */
	s1.stdio[1].kind = KIN_STDIO_PIPE;
	kin_spawn_opts c0 = s0, c1 = s1;
	const kin_spawn_opts *stages[] = {&s0, &s1};
	kin_proc *procs[2];
	ASSERT_OK(kin_pipeline_spawn(loop, stages, 2, procs, NULL));
	ASSERT(test_same_spawn_opts(&s0, &c0));
	ASSERT(test_same_spawn_opts(&s1, &c1));
	ASSERT(kin_proc_stdin(procs[0]) != NULL);
	ASSERT(kin_proc_stdout(procs[0]) == NULL);
	ASSERT(kin_proc_stdin(procs[1]) == NULL);
	ASSERT(kin_proc_stdout(procs[1]) != NULL);
	const char msg[] = "the quick brown fox\n";
	ASSERT_EQ(kin_stream_write(kin_proc_stdin(procs[0]), msg, strlen(msg), kin_after(10 * KIN_SEC)),
		  (ssize_t)strlen(msg));
	kin_stream_close(kin_proc_stdin(procs[0]));
	char buf[64];
	test_read_all(kin_proc_stdout(procs[1]), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "THE QUICK BROWN FOX\n");
	for (int i = 0; i < 2; i++) {
		wait_ok(procs[i], 0);
		kin_proc_free(procs[i]);
	}
	test_loop_finish(loop, fds);
}

TEST(pipeline_moves_megabytes_between_children)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *a0[] = {"head", "-c", "10485760", "/dev/zero", NULL};
	const char *a1[] = {"cat", NULL};
	const char *a2[] = {"wc", "-c", NULL};
	kin_spawn_opts s0 = test_opts(a0), s1 = test_opts(a1), s2 = test_opts(a2);
	s0.pipe_size = 4096; /* the pipe stage 0 writes into: tiny, still correct */
	s2.stdio[1].kind = KIN_STDIO_PIPE;
	const kin_spawn_opts *stages[] = {&s0, &s1, &s2};
	kin_proc *procs[3];
	ASSERT_OK(kin_pipeline_spawn(loop, stages, 3, procs, NULL));
	char buf[64];
	test_read_all(kin_proc_stdout(procs[2]), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "10485760\n");
	for (int i = 0; i < 3; i++) {
		wait_ok(procs[i], 0);
		kin_proc_free(procs[i]);
	}
	test_loop_finish(loop, fds);
}

TEST(pipeline_reports_every_exit_status)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *a0[] = {"sh", "-c", "echo x; exit 3", NULL};
	const char *a1[] = {"sh", "-c", "cat >/dev/null; exit 4", NULL};
	const char *a2[] = {"sh", "-c", "cat >/dev/null; exit 5", NULL};
	kin_spawn_opts s0 = test_opts(a0), s1 = test_opts(a1), s2 = test_opts(a2);
	const kin_spawn_opts *stages[] = {&s0, &s1, &s2};
	kin_proc *procs[3];
	ASSERT_OK(kin_pipeline_spawn(loop, stages, 3, procs, NULL));
	for (int i = 0; i < 3; i++) {
		wait_ok(procs[i], 3 + i);
		kin_proc_free(procs[i]);
	}
	test_loop_finish(loop, fds);
}

TEST(pipeline_stage_stderr_comes_from_its_own_opts)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *a0[] = {"echo", "data", NULL};
	const char *a1[] = {"sh", "-c", "cat; echo oops >&2", NULL};
	kin_spawn_opts s0 = test_opts(a0), s1 = test_opts(a1);
	s1.stdio[1].kind = KIN_STDIO_PIPE;
	s1.stdio[2].kind = KIN_STDIO_PIPE;
	const kin_spawn_opts *stages[] = {&s0, &s1};
	kin_proc *procs[2];
	ASSERT_OK(kin_pipeline_spawn(loop, stages, 2, procs, NULL));
	char buf[64];
	test_read_all(kin_proc_stdout(procs[1]), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "data\n");
	test_read_all(kin_proc_stderr(procs[1]), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "oops\n");
	for (int i = 0; i < 2; i++) {
		wait_ok(procs[i], 0);
		kin_proc_free(procs[i]);
	}
	test_loop_finish(loop, fds);
}

TEST(pipeline_reader_exit_gives_writer_epipe)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	/* yes never stops on its own: only the closed pipe ends it. */
	const char *a0[] = {"yes", NULL};
	const char *a1[] = {"head", "-n", "2", NULL};
	kin_spawn_opts s0 = test_opts(a0), s1 = test_opts(a1);
	s1.stdio[1].kind = KIN_STDIO_PIPE;
	const kin_spawn_opts *stages[] = {&s0, &s1};
	kin_proc *procs[2];
	ASSERT_OK(kin_pipeline_spawn(loop, stages, 2, procs, NULL));
	char buf[64];
	test_read_all(kin_proc_stdout(procs[1]), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "y\ny\n");
	kin_status st;
	ASSERT_OK(kin_proc_wait(procs[0], kin_after(20 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_KILLED);
	ASSERT_EQ(st.signal, SIGPIPE);
	wait_ok(procs[1], 0);
	kin_proc_free(procs[0]);
	kin_proc_free(procs[1]);
	test_loop_finish(loop, fds);
}

static void failing_stage(size_t bad, size_t n)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *ok[] = {"sleep", "100", NULL};
	const char *missing[] = {"kin-no-such-stage-xyz", NULL};
	kin_spawn_opts good = test_opts(ok), broken = test_opts(missing);
	const kin_spawn_opts *stages[4];
	for (size_t i = 0; i < n; i++)
		stages[i] = i == bad ? &broken : &good;
	kin_proc *procs[4];
	for (size_t i = 0; i < 4; i++)
		procs[i] = (kin_proc *)(uintptr_t)0x1234;
	kin_spawn_error why;
	ASSERT_EQ(kin_pipeline_spawn(loop, stages, n, procs, &why), -ENOENT);
	for (size_t i = 0; i < 4; i++)
		ASSERT(procs[i] == (kin_proc *)(uintptr_t)0x1234);
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "stage %zu: ", bad);
	if (strncmp(why.message, prefix, strlen(prefix)) != 0)
		test_fail(__FILE__, __LINE__, "message lacks \"%s\": %s", prefix, why.message);
	ASSERT(strstr(why.message, "kin-no-such-stage-xyz") != NULL);
	ASSERT_EQ(why.error, -ENOENT);
	ASSERT_EQ(why.step, KIN_STEP_EXEC);
	/* The sleeps started before the failure are dead and reaped. */
	test_loop_finish(loop, fds);
}

TEST(pipeline_failing_middle_stage_reaps_the_others)
{
	failing_stage(1, 3);
}

TEST(pipeline_failing_first_and_last_stage)
{
	failing_stage(0, 3);
	failing_stage(3, 4);
}

TEST(pipeline_single_stage_is_a_plain_spawn)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *a0[] = {"echo", "solo", NULL};
	kin_spawn_opts s0 = test_opts(a0);
	s0.stdio[1].kind = KIN_STDIO_PIPE;
	const kin_spawn_opts *stages[] = {&s0};
	kin_proc *p;
	ASSERT_OK(kin_pipeline_spawn(loop, stages, 1, &p, NULL));
	char buf[64];
	test_read_all(kin_proc_stdout(p), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "solo\n");
	wait_ok(p, 0);
	kin_proc_free(p);
	test_loop_finish(loop, fds);
}

TEST(pipeline_rejects_bad_arguments)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *a0[] = {"true", NULL};
	kin_spawn_opts s0 = test_opts(a0);
	const kin_spawn_opts *stages[] = {&s0, NULL};
	kin_proc *procs[2] = {NULL, NULL};
	kin_spawn_error why;
	ASSERT_EQ(kin_pipeline_spawn(loop, stages, 0, procs, &why), -EINVAL);
	ASSERT_EQ(why.step, KIN_STEP_OPTIONS);
	ASSERT_EQ(kin_pipeline_spawn(NULL, stages, 1, procs, NULL), -EINVAL);
	ASSERT_EQ(kin_pipeline_spawn(loop, NULL, 1, procs, NULL), -EINVAL);
	ASSERT_EQ(kin_pipeline_spawn(loop, stages, 1, NULL, NULL), -EINVAL);
	ASSERT_EQ(kin_pipeline_spawn(loop, stages, 2, procs, &why), -EINVAL);
	ASSERT(strncmp(why.message, "stage 1: ", 9) == 0);
	ASSERT(procs[0] == NULL && procs[1] == NULL);
	test_loop_finish(loop, fds);
}
