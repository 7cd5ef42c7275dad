/* The child's environment: inherited, empty, listed, edited, and the PATH
 * the program is searched in (the child's, never the owner's). */
#include "harness.h"

#include <unistd.h>

/* Runs /usr/bin/env with `o` and returns what it printed. */
static const char *env_of(kin_loop *loop, kin_spawn_opts *o)
{
	static char out[65536];
	static const char *argv[] = {"/usr/bin/env", NULL};
	o->argv = argv;
	kin_status st;
	test_spawn_output(loop, o, out, sizeof(out), &st);
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	return out;
}

TEST(env_empty)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	ASSERT_OK(setenv("KIN_TEST_OWNER_ONLY", "1", 1));
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.env_mode = KIN_ENV_EMPTY;
	ASSERT_STR_EQ(env_of(loop, &o), "");
	o.flags = KIN_SPAWN_TREE;
	ASSERT_STR_EQ(env_of(loop, &o), "");

	/* With no PATH at all, a bare name is searched in a default PATH. */
	const char *argv[] = {"env", NULL};
	kin_spawn_opts bare = KIN_SPAWN_OPTS_INIT;
	bare.argv = argv;
	bare.env_mode = KIN_ENV_EMPTY;
	char out[64];
	test_spawn_output(loop, &bare, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "");
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(env_inherited_at_spawn_time)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "echo \"[$KIN_TEST_VAR]\"", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	char out[64];
	ASSERT_OK(setenv("KIN_TEST_VAR", "hello world", 1));
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "[hello world]\n");
	ASSERT_OK(setenv("KIN_TEST_VAR", "changed", 1));
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "[changed]\n");
	ASSERT_OK(unsetenv("KIN_TEST_VAR"));
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "[]\n");
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(env_explicit_list)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	ASSERT_OK(setenv("KIN_TEST_OWNER_ONLY", "1", 1));
	const char *env[] = {"A=1", "B=two words", "EMPTY=", "C=x=y", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.env_mode = KIN_ENV_LIST;
	o.env = env;
	ASSERT_STR_EQ(env_of(loop, &o), "A=1\nB=two words\nEMPTY=\nC=x=y\n");

	/* A name listed twice keeps its first value, as getenv would see. */
	const char *dup[] = {"A=first", "B=2", "A=second", NULL};
	o.env = dup;
	ASSERT_STR_EQ(env_of(loop, &o), "A=first\nB=2\n");

	/* A NULL list is an empty one. */
	o.env = NULL;
	ASSERT_STR_EQ(env_of(loop, &o), "");
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(env_set_overrides_and_adds)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *env[] = {"A=1", "B=2", NULL};
	const char *set[] = {"B=3", "C=4", "C=5", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.env_mode = KIN_ENV_LIST;
	o.env = env;
	o.env_set = set;
	/* Applied in order: the later C wins. */
	ASSERT_STR_EQ(env_of(loop, &o), "A=1\nB=3\nC=5\n");

	/* On top of the inherited environment too. */
	ASSERT_OK(setenv("KIN_TEST_OVER", "old", 1));
	const char *argv[] = {"sh", "-c", "echo $KIN_TEST_OVER $KIN_TEST_NEW", NULL};
	const char *set2[] = {"KIN_TEST_OVER=new", "KIN_TEST_NEW=added", NULL};
	kin_spawn_opts i = KIN_SPAWN_OPTS_INIT;
	i.argv = argv;
	i.env_set = set2;
	char out[64];
	test_spawn_output(loop, &i, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "new added\n");
	/* And the owner's own environment is untouched. */
	ASSERT_STR_EQ(getenv("KIN_TEST_OVER"), "old");
	ASSERT(getenv("KIN_TEST_NEW") == NULL);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(env_unset_removes)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *env[] = {"A=1", "AB=2", "B=3", NULL};
	const char *unset[] = {"A", "MISSING", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.env_mode = KIN_ENV_LIST;
	o.env = env;
	o.env_unset = unset;
	/* Only the exact name goes: AB stays. */
	ASSERT_STR_EQ(env_of(loop, &o), "AB=2\nB=3\n");

	/* Unset runs after set, so it wins. */
	const char *set[] = {"C=4", "B=5", NULL};
	const char *unset2[] = {"C", NULL};
	o.env_set = set;
	o.env_unset = unset2;
	ASSERT_STR_EQ(env_of(loop, &o), "A=1\nAB=2\nB=5\n");

	/* From the inherited environment. */
	ASSERT_OK(setenv("KIN_TEST_GONE", "x", 1));
	const char *argv[] = {"sh", "-c", "echo \"[${KIN_TEST_GONE-unset}]\"", NULL};
	const char *unset3[] = {"KIN_TEST_GONE", NULL};
	kin_spawn_opts i = KIN_SPAWN_OPTS_INIT;
	i.argv = argv;
	i.env_unset = unset3;
	char out[64];
	test_spawn_output(loop, &i, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "[unset]\n");
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

#define expect_env_refused(loop, o) expect_env_refused_at(loop, o, __LINE__)
static void expect_env_refused_at(kin_loop *loop, kin_spawn_opts *o, int line)
{
	const char *argv[] = {"true", NULL};
	o->argv = argv;
	kin_proc *p = NULL;
	kin_spawn_error why;
	int fds = test_count_fds();
	int r = kin_proc_spawn(loop, o, &p, &why);
	if (r != -EINVAL)
		test_fail(__FILE__, line, "spawn gave %d, not -EINVAL (%s)", r, why.message);
	ASSERT_EQ(why.step, KIN_STEP_OPTIONS);
	ASSERT(p == NULL);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(env_invalid_entries_rejected)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *no_eq[] = {"NOEQUALS", NULL};
	const char *no_name[] = {"=value", NULL};
	const char *with_eq[] = {"A=B", NULL};
	const char *empty[] = {"", NULL};

	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.env_set = no_eq;
	expect_env_refused(loop, &o);
	o.env_set = no_name;
	expect_env_refused(loop, &o);
	o.env_set = empty;
	expect_env_refused(loop, &o);

	kin_spawn_opts u = KIN_SPAWN_OPTS_INIT;
	u.env_unset = with_eq;
	expect_env_refused(loop, &u);
	u.env_unset = empty;
	expect_env_refused(loop, &u);

	/* The explicit list is "K=V" too. */
	kin_spawn_opts l = KIN_SPAWN_OPTS_INIT;
	l.env_mode = KIN_ENV_LIST;
	l.env = no_eq;
	expect_env_refused(loop, &l);
	l.env = no_name;
	expect_env_refused(loop, &l);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(env_path_search_uses_child_path)
{
	char dir[256], script[300], path_env[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(script, sizeof(script), "%s/kin-path-probe", dir);
	test_write_file(script, "#!/bin/sh\necho found-by-path\n", 0755);
	snprintf(path_env, sizeof(path_env), "PATH=/nonexistent-kin-a:%s:/usr/bin:/bin", dir);

	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"kin-path-probe", NULL};
	const char *set[] = {path_env, NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.env_set = set;
	char out[64];
	kin_status st;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "found-by-path\n");
	ASSERT_EQ(st.code, 0);
	o.flags = KIN_SPAWN_TREE;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "found-by-path\n");
	o.flags = 0;

	/* The owner's PATH finds it, but the child's PATH is what counts. */
	char owner_path[400];
	snprintf(owner_path, sizeof(owner_path), "%s:/usr/bin:/bin", dir);
	ASSERT_OK(setenv("PATH", owner_path, 1));
	const char *other[] = {"PATH=/nonexistent-kin-b:/usr/bin:/bin", NULL};
	o.env_set = other;
	kin_proc *p = NULL;
	kin_spawn_error why;
	ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -ENOENT);
	ASSERT_EQ(why.step, KIN_STEP_EXEC);
	ASSERT(strstr(why.message, "kin-path-probe") != NULL);
	/* No PATH in the child: the default, not the owner's. */
	const char *unset[] = {"PATH", NULL};
	o.env_set = NULL;
	o.env_unset = unset;
	ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -ENOENT);
	kin_spawn_opts e = KIN_SPAWN_OPTS_INIT;
	e.argv = argv;
	e.env_mode = KIN_ENV_EMPTY;
	ASSERT_EQ(kin_proc_spawn(loop, &e, &p, &why), -ENOENT);
	e.flags = KIN_SPAWN_TREE;
	ASSERT_EQ(kin_proc_spawn(loop, &e, &p, &why), -ENOENT);
	ASSERT(p == NULL);
	/* Inheriting the owner's environment inherits its PATH. */
	kin_spawn_opts inh = KIN_SPAWN_OPTS_INIT;
	inh.argv = argv;
	test_spawn_output(loop, &inh, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "found-by-path\n");

	/* An empty PATH entry means the current directory: the child's. */
	const char *dot[] = {"PATH=/nonexistent-kin-c::/usr/bin", NULL};
	kin_spawn_opts d = KIN_SPAWN_OPTS_INIT;
	d.argv = argv;
	d.env_mode = KIN_ENV_LIST;
	d.env = dot;
	d.cwd = dir;
	test_spawn_output(loop, &d, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "found-by-path\n");

	kin_loop_free(loop);
	test_remove_tree(dir);
	ASSERT_NO_CHILDREN();
}
