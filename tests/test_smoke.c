/* The basic life of a child: spawn, read its output, learn how it ended. */
#include "harness.h"

#include <signal.h>
#include <unistd.h>

TEST(spawn_echo_reads_output_and_exit_code)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "echo hello; exit 3", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p;
	ASSERT_OK(kin_proc_spawn(loop, &o, &p, NULL));
	char buf[64];
	test_read_all(kin_proc_stdout(p), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "hello\n");
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 3);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(spawn_missing_program_is_enoent_without_zombie)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"kin-no-such-program-xyz", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	kin_proc *p = NULL;
	kin_spawn_error why;
	ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -ENOENT);
	ASSERT_EQ(why.step, KIN_STEP_EXEC);
	ASSERT(strstr(why.message, "kin-no-such-program-xyz") != NULL);
	ASSERT(p == NULL);
	ASSERT_NO_CHILDREN();
	kin_loop_free(loop);
}

TEST(tree_mode_reports_signal_of_program)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "echo in-tree; kill -TERM $$", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_TREE;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, &o, &p, &why);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "%s", why.message);
	char buf[64];
	test_read_all(kin_proc_stdout(p), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "in-tree\n");
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_KILLED);
	ASSERT_EQ(st.signal, SIGTERM);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}
