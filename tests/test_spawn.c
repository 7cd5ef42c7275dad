/* Spawning: how a start fails, what the child is given (argv0, cwd, umask,
 * limits, credentials, process group, signals) and how its end is told. */
#include "harness.h"

#include <pthread.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Spawns `o`, expects it to fail with `err` at `step`, and checks that the
 * failure left no child, no fd and no proc behind. Returns the message. */
static void expect_spawn_failure(const kin_spawn_opts *o, int err, kin_spawn_step step,
				 kin_spawn_error *why)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_proc *p = NULL;
	ASSERT_EQ(kin_proc_spawn(loop, o, &p, why), err);
	ASSERT(p == NULL);
	ASSERT_EQ(why->error, err);
	ASSERT_EQ(why->step, step);
	ASSERT(why->message[0] != 0);
	ASSERT_NO_CHILDREN();
	/* Nothing was registered on the loop either: it has nothing to run. */
	ASSERT_EQ(kin_loop_run(loop, kin_after(5 * KIN_SEC)), 0);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(spawn_fail_missing_program)
{
	const char *argv[] = {"kin-missing-program-4711", "arg", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	kin_spawn_error why;
	expect_spawn_failure(&o, -ENOENT, KIN_STEP_EXEC, &why);
	ASSERT(strstr(why.message, "kin-missing-program-4711") != NULL);

	/* The same through a path, and through each of the other two modes. */
	const char *argv2[] = {"/nonexistent-dir/kin-missing", NULL};
	o.argv = argv2;
	expect_spawn_failure(&o, -ENOENT, KIN_STEP_EXEC, &why);
	ASSERT(strstr(why.message, "/nonexistent-dir/kin-missing") != NULL);
	o.flags = KIN_SPAWN_TREE;
	expect_spawn_failure(&o, -ENOENT, KIN_STEP_EXEC, &why);
	ASSERT(strstr(why.message, "/nonexistent-dir/kin-missing") != NULL);
}

/* Detached spawns have tests of their own, named so that the valgrind pass
 * (tests/valgrind.list) leaves them out: valgrind cannot follow the
 * CLONE_VM|CLONE_FILES intermediate. */
TEST(detached_start_failures)
{
	const char *argv[] = {"/nonexistent-dir/kin-missing", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_DETACHED;
	kin_spawn_error why;
	expect_spawn_failure(&o, -ENOENT, KIN_STEP_EXEC, &why);
	ASSERT(strstr(why.message, "/nonexistent-dir/kin-missing") != NULL);
	const char *tru[] = {"true", NULL};
	o.argv = tru;
	o.cwd = "/nonexistent-kin-cwd-dir";
	expect_spawn_failure(&o, -ENOENT, KIN_STEP_CWD, &why);
	ASSERT(strstr(why.message, "/nonexistent-kin-cwd-dir") != NULL);
}

TEST(spawn_fail_not_executable_is_eacces)
{
	char dir[256], file[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/kin-no-x-bit", dir);
	test_write_file(file, "#!/bin/sh\necho should-not-run\n", 0644);
	const char *argv[] = {file, NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	kin_spawn_error why;
	expect_spawn_failure(&o, -EACCES, KIN_STEP_EXEC, &why);
	ASSERT(strstr(why.message, "kin-no-x-bit") != NULL);

	/* Found by PATH search: EACCES is remembered over later ENOENTs. */
	char path_env[400];
	snprintf(path_env, sizeof(path_env), "PATH=%s:/nonexistent-kin-dir", dir);
	const char *set[] = {path_env, NULL};
	const char *bare[] = {"kin-no-x-bit", NULL};
	o.argv = bare;
	o.env_set = set;
	expect_spawn_failure(&o, -EACCES, KIN_STEP_EXEC, &why);
	o.flags = KIN_SPAWN_TREE;
	expect_spawn_failure(&o, -EACCES, KIN_STEP_EXEC, &why);
	test_remove_tree(dir);
}

TEST(spawn_fail_garbage_content_is_enoexec)
{
	char dir[256], file[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/kin-garbage", dir);
	test_write_file(file, "\x01\x02\x03 this is not a program\n", 0755);
	const char *argv[] = {file, NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	kin_spawn_error why;
	expect_spawn_failure(&o, -ENOEXEC, KIN_STEP_EXEC, &why);
	ASSERT(strstr(why.message, "kin-garbage") != NULL);
	test_remove_tree(dir);
}

TEST(spawn_fail_bad_cwd)
{
	const char *argv[] = {"true", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.cwd = "/nonexistent-kin-cwd-dir";
	kin_spawn_error why;
	expect_spawn_failure(&o, -ENOENT, KIN_STEP_CWD, &why);
	ASSERT(strstr(why.message, "/nonexistent-kin-cwd-dir") != NULL);
	o.flags = KIN_SPAWN_TREE;
	expect_spawn_failure(&o, -ENOENT, KIN_STEP_CWD, &why);
	ASSERT(strstr(why.message, "/nonexistent-kin-cwd-dir") != NULL);
	o.flags = 0;
	o.cwd = "/etc/passwd";
	expect_spawn_failure(&o, -ENOTDIR, KIN_STEP_CWD, &why);
	ASSERT(strstr(why.message, "/etc/passwd") != NULL);
}

TEST(spawn_fail_bad_options)
{
	kin_spawn_error why;
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why); /* argv NULL */
	const char *empty[] = {NULL};
	o.argv = empty;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);

	const char *argv[] = {"true", NULL};
	o.argv = argv;
	o.flags = 1u << 20;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);
	ASSERT(strstr(why.message, "0x100000") != NULL);
	o.flags = KIN_SPAWN_TREE | KIN_SPAWN_DETACHED;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);
	o.flags = 0;

	o.stdio[0].kind = (kin_stdio_kind)99;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);
	o.stdio[0].kind = KIN_STDIO_TO_STDOUT; /* stderr only */
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);
	o.stdio[0].kind = KIN_STDIO_FD;
	o.stdio[0].fd = 987;
	expect_spawn_failure(&o, -EBADF, KIN_STEP_OPTIONS, &why);
	o.stdio[0].kind = KIN_STDIO_INHERIT;

	kin_fd_map low = {.parent_fd = 0, .child_fd = 2};
	o.fds = &low;
	o.nfds = 1;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);
	kin_fd_map closed = {.parent_fd = 999, .child_fd = 3};
	o.fds = &closed;
	expect_spawn_failure(&o, -EBADF, KIN_STEP_OPTIONS, &why);
	kin_fd_map twice[] = {{.parent_fd = 0, .child_fd = 3}, {.parent_fd = 1, .child_fd = 3}};
	o.fds = twice;
	o.nfds = 2;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);
	o.fds = NULL;
	o.nfds = 0;

	kin_rlimit bad = {.resource = 9999, .limit = {1, 1}};
	o.rlimits = &bad;
	o.nrlimits = 1;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);
	o.rlimits = NULL;
	o.nrlimits = 0;

	o.env_mode = (kin_env_mode)42;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_OPTIONS, &why);

	/* NULL loop, opts or ret are refused without crashing. */
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_proc *p = NULL;
	o.env_mode = KIN_ENV_INHERIT;
	ASSERT_EQ(kin_proc_spawn(NULL, &o, &p, &why), -EINVAL);
	ASSERT_EQ(kin_proc_spawn(loop, NULL, &p, &why), -EINVAL);
	ASSERT_EQ(kin_proc_spawn(loop, &o, NULL, NULL), -EINVAL);
	ASSERT(p == NULL);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

HELPER(spawn_print_argv0)
{
	(void)argc;
	(void)argv;
	/* main() only sees the arguments after "helper NAME"; the kernel keeps
	 * the real argv[0]. */
	char buf[4096];
	FILE *f = fopen("/proc/self/cmdline", "re");
	if (!f)
		return 1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	printf("%s\n", buf);
	return 0;
}

TEST(spawn_argv0_override)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	char out[256];
	kin_status st;

	const char *argv[] = {"sh", "-c", "echo $0", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.argv0 = "kin-custom-name";
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "kin-custom-name\n");
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);

	/* Without argv0, argv[0] stays what names the program. */
	kin_spawn_opts plain = KIN_SPAWN_OPTS_INIT;
	plain.argv = argv;
	test_spawn_output(loop, &plain, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "sh\n");

	const char *hargv[8];
	test_helper_argv(hargv, 8, "spawn_print_argv0", NULL);
	kin_spawn_opts h = KIN_SPAWN_OPTS_INIT;
	h.argv = hargv;
	h.argv0 = "-kin-login-style";
	test_spawn_output(loop, &h, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "-kin-login-style\n");
	ASSERT_EQ(st.code, 0);

	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(spawn_cwd)
{
	char dir[256], real[4096], want[4200];
	test_make_tmpdir(dir, sizeof(dir));
	ASSERT(realpath(dir, real) != NULL);
	snprintf(want, sizeof(want), "%s\n", real);
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "pwd -P", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.cwd = dir;
	char out[4200];
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, want);
	o.flags = KIN_SPAWN_TREE;
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, want);

	/* The chdir comes before exec, so a relative program path is resolved
	 * in the child's new cwd, as posix_spawn_file_actions_addchdir does. */
	char script[300];
	snprintf(script, sizeof(script), "%s/kin-here", dir);
	test_write_file(script, "#!/bin/sh\necho ran-here\n", 0755);
	const char *rel[] = {"./kin-here", NULL};
	kin_spawn_opts r = KIN_SPAWN_OPTS_INIT;
	r.argv = rel;
	r.cwd = dir;
	test_spawn_output(loop, &r, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "ran-here\n");

	kin_loop_free(loop);
	test_remove_tree(dir);
	ASSERT_NO_CHILDREN();
}

TEST(spawn_umask)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	mode_t old = umask(022);
	const char *argv[] = {"sh", "-c", "umask", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_SET_UMASK;
	o.umask = 0077;
	char out[64];
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "0077\n");
	o.umask = 0;
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "0000\n");
	/* Without the flag, .umask is ignored and the owner's is inherited. */
	o.flags = 0;
	o.umask = 0077;
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "0022\n");
	/* And the owner's own umask is untouched by the child's. */
	ASSERT_EQ(umask(old), 022);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* (Not spawn_*: valgrind fakes RLIMIT_NOFILE changes, so the valgrind pass
 * must not pick it.) */
TEST(rlimits_reach_the_child)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	struct rlimit before;
	ASSERT_OK(getrlimit(RLIMIT_NOFILE, &before));
	const char *argv[] = {"sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c", NULL};
	kin_rlimit lim[] = {
		{.resource = RLIMIT_NOFILE, .limit = {.rlim_cur = 77, .rlim_max = 99}},
		{.resource = RLIMIT_CORE, .limit = {.rlim_cur = 0, .rlim_max = 0}},
	};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.rlimits = lim;
	o.nrlimits = 2;
	char out[128];
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "77\n99\n0\n");
	o.flags = KIN_SPAWN_TREE;
	test_spawn_output(loop, &o, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "77\n99\n0\n");

	/* A soft limit above the hard one fails in the child, at its step. */
	kin_rlimit bad = {.resource = RLIMIT_NOFILE, .limit = {.rlim_cur = 100, .rlim_max = 50}};
	o.rlimits = &bad;
	o.nrlimits = 1;
	o.flags = 0;
	kin_proc *p = NULL;
	kin_spawn_error why;
	ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -EINVAL);
	ASSERT_EQ(why.step, KIN_STEP_RLIMIT);
	ASSERT(p == NULL);

	struct rlimit after;
	ASSERT_OK(getrlimit(RLIMIT_NOFILE, &after));
	ASSERT_EQ(after.rlim_cur, before.rlim_cur);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(spawn_uid_gid_as_root)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root\n");
		return;
	}
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "id -u; id -g; id -G", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.cwd = "/";
	o.flags = KIN_SPAWN_SET_UID | KIN_SPAWN_SET_GID;
	o.uid = 65534;
	o.gid = 65534;
	char out[128];
	kin_status st;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	/* Supplementary groups are dropped too: root's would be a leak. */
	ASSERT_STR_EQ(out, "65534\n65534\n65534\n");
	ASSERT_EQ(st.code, 0);

	o.flags = KIN_SPAWN_SET_GID;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "0\n65534\n65534\n");

	o.flags = KIN_SPAWN_SET_UID | KIN_SPAWN_SET_GID | KIN_SPAWN_TREE;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "65534\n65534\n65534\n");

	/* The owner keeps its own identity. */
	ASSERT_EQ(geteuid(), 0);
	ASSERT_EQ(getegid(), 0);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* Spawns `sleep 100` with `flags` and returns the proc. */
static kin_proc *spawn_sleeper(kin_loop *loop, unsigned flags)
{
	const char *argv[] = {"sleep", "100", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = flags;
	kin_proc *p;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, &o, &p, &why);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "spawn: %s", why.message);
	return p;
}

TEST(spawn_new_pgroup_and_session)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* proc(5): field 5 is the process group, field 6 the session. */
	kin_proc *p = spawn_sleeper(loop, 0);
	pid_t pid = kin_proc_pid(p);
	ASSERT_EQ(test_stat_field(pid, 5), getpgrp());
	ASSERT_EQ(test_stat_field(pid, 6), getsid(0));
	ASSERT_EQ(kin_proc_kill_group(p, SIGTERM), -EINVAL);
	kin_proc_free(p);

	p = spawn_sleeper(loop, KIN_SPAWN_NEW_PGROUP);
	pid = kin_proc_pid(p);
	ASSERT_EQ(test_stat_field(pid, 5), pid);
	ASSERT_EQ(test_stat_field(pid, 6), getsid(0));
	kin_proc_free(p);

	p = spawn_sleeper(loop, KIN_SPAWN_NEW_SESSION);
	pid = kin_proc_pid(p);
	ASSERT_EQ(test_stat_field(pid, 5), pid);
	ASSERT_EQ(test_stat_field(pid, 6), pid);
	kin_status st;
	ASSERT_OK(kin_proc_kill_group(p, SIGTERM));
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_KILLED);
	ASSERT_EQ(st.signal, SIGTERM);
	kin_proc_free(p);

	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

static bool status_line_zero(const char *out, const char *name)
{
	const char *l = strstr(out, name);
	if (!l)
		return false;
	l += strlen(name);
	while (*l == ' ' || *l == '\t')
		l++;
	return strncmp(l, "0000000000000000\n", 17) == 0;
}

TEST(spawn_resets_signal_mask_and_dispositions)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);

	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"cat", "/proc/self/status", NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_NEW_SESSION};
	for (size_t i = 0; i < 3; i++) {
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.flags = modes[i];
		static char out[8192];
		test_spawn_output(loop, &o, out, sizeof(out), NULL);
		if (!status_line_zero(out, "SigIgn:") || !status_line_zero(out, "SigBlk:"))
			test_fail(__FILE__, __LINE__, "flags 0x%x: the child inherited signals:\n%s",
				  modes[i], out);
	}
	/* The owner's own mask and dispositions are as it left them. */
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	ASSERT(sigismember(&now, SIGUSR1));
	ASSERT(!sigismember(&now, SIGUSR2));
	struct sigaction sa;
	sigaction(SIGINT, NULL, &sa);
	ASSERT(sa.sa_handler == SIG_IGN);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(spawn_status_has_rusage)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* Burn CPU until at least 50 ms of user time have been used. */
	const char *argv[] = {"sh", "-c",
			      "i=0; while [ $i -lt 2000000 ]; do i=$((i+1)); "
			      "[ $((i % 20000)) -eq 0 ] && [ \"$(cut -d' ' -f14 /proc/$$/stat)\" -gt 5 ] "
			      "&& break; done; exit 0",
			      NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t i = 0; i < 2; i++) {
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.flags = modes[i];
		char out[16];
		kin_status st;
		test_spawn_output(loop, &o, out, sizeof(out), &st);
		ASSERT_EQ(st.kind, KIN_EXITED);
		ASSERT_EQ(st.code, 0);
		long long us = (long long)st.rusage.ru_utime.tv_sec * 1000000 +
			       st.rusage.ru_utime.tv_usec;
		if (us < 50000)
			test_fail(__FILE__, __LINE__, "flags 0x%x: ru_utime %lld us, want >= 50 ms",
				  modes[i], us);
		ASSERT(st.rusage.ru_maxrss > 0);
	}
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* True when a core dump of a child in `dir` would be written as a file there. */
static bool cores_land_in_cwd(void)
{
	FILE *f = fopen("/proc/sys/kernel/core_pattern", "re");
	if (!f)
		return false;
	char pat[256] = "";
	if (!fgets(pat, sizeof(pat), f))
		pat[0] = 0;
	fclose(f);
	return pat[0] && pat[0] != '|' && !strchr(pat, '/');
}

TEST(spawn_status_exited_and_killed)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	char out[16], text[64];
	kin_status st;

	const char *exit42[] = {"sh", "-c", "exit 42", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = exit42;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 42);
	ASSERT(!st.core_dumped);
	ASSERT_EQ(kin_status_shell_code(&st), 42);
	kin_status_format(&st, text, sizeof(text));
	ASSERT_STR_EQ(text, "exited(42)");

	/* No core limit: killed, and no core dumped. */
	const char *segv[] = {"sh", "-c", "kill -SEGV $$", NULL};
	kin_rlimit nocore = {.resource = RLIMIT_CORE, .limit = {0, 0}};
	o.argv = segv;
	o.rlimits = &nocore;
	o.nrlimits = 1;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_EQ(st.kind, KIN_KILLED);
	ASSERT_EQ(st.signal, SIGSEGV);
	ASSERT(!st.core_dumped);
	ASSERT_EQ(kin_status_shell_code(&st), 128 + SIGSEGV);
	kin_status_format(&st, text, sizeof(text));
	ASSERT_STR_EQ(text, "killed(SIGSEGV)");

	/* With a core limit, the dump shows, where the kernel writes cores as
	 * plain files (a piped core_pattern may or may not dump). */
	char dir[256];
	test_make_tmpdir(dir, sizeof(dir));
	kin_rlimit core = {.resource = RLIMIT_CORE,
			   .limit = {RLIM_INFINITY, RLIM_INFINITY}};
	o.rlimits = &core;
	o.cwd = dir;
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t i = 0; i < 2; i++) {
		o.flags = modes[i];
		test_spawn_output(loop, &o, out, sizeof(out), &st);
		ASSERT_EQ(st.kind, KIN_KILLED);
		ASSERT_EQ(st.signal, SIGSEGV);
		if (cores_land_in_cwd()) {
			ASSERT(st.core_dumped);
			kin_status_format(&st, text, sizeof(text));
			ASSERT_STR_EQ(text, "killed(SIGSEGV, core dumped)");
		}
	}
	test_remove_tree(dir);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(status_format_and_shell_code)
{
	char buf[64];
	kin_status st = {0};
	ASSERT_EQ(kin_status_format(&st, buf, sizeof(buf)), (int)strlen("running"));
	ASSERT_STR_EQ(buf, "running");
	ASSERT_EQ(kin_status_shell_code(&st), -1);

	st.kind = KIN_EXITED;
	st.code = 0;
	kin_status_format(&st, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "exited(0)");
	ASSERT_EQ(kin_status_shell_code(&st), 0);
	st.code = 255;
	kin_status_format(&st, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "exited(255)");
	ASSERT_EQ(kin_status_shell_code(&st), 255);

	st = (kin_status){.kind = KIN_KILLED, .signal = SIGKILL};
	ASSERT_EQ(kin_status_format(&st, buf, sizeof(buf)), (int)strlen("killed(SIGKILL)"));
	ASSERT_STR_EQ(buf, "killed(SIGKILL)");
	ASSERT_EQ(kin_status_shell_code(&st), 137);
	st.signal = SIGTERM;
	kin_status_format(&st, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "killed(SIGTERM)");
	ASSERT_EQ(kin_status_shell_code(&st), 143);
	st = (kin_status){.kind = KIN_KILLED, .signal = SIGABRT, .core_dumped = true};
	kin_status_format(&st, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "killed(SIGABRT, core dumped)");
	ASSERT_EQ(kin_status_shell_code(&st), 134);

	st = (kin_status){.kind = KIN_EXIT_UNKNOWN};
	kin_status_format(&st, buf, sizeof(buf));
	ASSERT(strlen(buf) > 0);
	ASSERT_EQ(kin_status_shell_code(&st), -1);

	/* snprintf's contract: the full length is returned, the output cut. */
	st = (kin_status){.kind = KIN_KILLED, .signal = SIGSEGV, .core_dumped = true};
	char small[8];
	ASSERT_EQ(kin_status_format(&st, small, sizeof(small)),
		  (int)strlen("killed(SIGSEGV, core dumped)"));
	ASSERT_STR_EQ(small, "killed(");
	ASSERT_EQ(kin_status_format(&st, NULL, 0), (int)strlen("killed(SIGSEGV, core dumped)"));
}

TEST(spawn_step_names)
{
	ASSERT_STR_EQ(kin_spawn_step_name(KIN_STEP_EXEC), "exec");
	ASSERT_STR_EQ(kin_spawn_step_name(KIN_STEP_CWD), "cwd");
	ASSERT_STR_EQ(kin_spawn_step_name(KIN_STEP_OPTIONS), "options");
	ASSERT(kin_spawn_step_name((kin_spawn_step)1234) != NULL);
	for (int s = KIN_STEP_NONE; s <= KIN_STEP_EXEC; s++)
		ASSERT(strlen(kin_spawn_step_name((kin_spawn_step)s)) > 0);
}

TEST(spawn_fail_in_the_child_at_fds)
{
	/* A mapped target beyond the child's fd limit fails while arranging fds. */
	kin_spawn_error why;
	const char *argv[] = {"true", NULL};
	kin_fd_map far = {.parent_fd = 0, .child_fd = 1 << 24};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.fds = &far;
	o.nfds = 1;
	/* (EINVAL: the kernel's answer to F_DUPFD above the limit.) */
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_FDS, &why);
	o.flags = KIN_SPAWN_TREE;
	expect_spawn_failure(&o, -EINVAL, KIN_STEP_FDS, &why);

	/* A PATH entry that is a directory named like the program is skipped,
	 * and a later one is used. */
	char dir1[256], dir2[256], sub[300], prog[300], path_env[600];
	test_make_tmpdir(dir1, sizeof(dir1));
	test_make_tmpdir(dir2, sizeof(dir2));
	snprintf(sub, sizeof(sub), "%s/kin-prog", dir1);
	ASSERT_OK(mkdir(sub, 0755));
	snprintf(prog, sizeof(prog), "%s/kin-prog", dir2);
	test_write_file(prog, "#!/bin/sh\necho second\n", 0755);
	snprintf(path_env, sizeof(path_env), "PATH=%s:%s", dir1, dir2);
	const char *set[] = {path_env, NULL};
	const char *bare[] = {"kin-prog", NULL};
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = bare;
	s.env_set = set;
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	char out[64];
	test_spawn_output(loop, &s, out, sizeof(out), NULL);
	ASSERT_STR_EQ(out, "second\n");
	kin_loop_free(loop);
	test_remove_tree(dir1);
	test_remove_tree(dir2);
	ASSERT_NO_CHILDREN();
}

/* (Named apart from spawn_*: valgrind cannot survive an execve that fails
 * this late, so tests/valgrind.list must not pick it.) */
TEST(exec_arguments_too_big_is_e2big)
{
	size_t big = 4u << 20;
	char *huge = malloc(big + 1);
	ASSERT(huge != NULL);
	memset(huge, 'x', big);
	huge[big] = 0;
	const char *args[] = {"true", huge, NULL};
	kin_spawn_opts e = KIN_SPAWN_OPTS_INIT;
	e.argv = args;
	kin_spawn_error why;
	expect_spawn_failure(&e, -E2BIG, KIN_STEP_EXEC, &why);
	e.flags = KIN_SPAWN_TREE;
	expect_spawn_failure(&e, -E2BIG, KIN_STEP_EXEC, &why);
	free(huge);
}

/* The CPUs this process may run on, as /proc lists them. */
static void allowed_cpus(const char *status_path, char *buf, size_t cap)
{
	FILE *f = fopen(status_path, "r");
	ASSERT(f != NULL);
	char line[256];
	buf[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Cpus_allowed_list:", 18) == 0)
			snprintf(buf, cap, "%s", line);
	fclose(f);
}

struct affinity_case {
	kin_loop *loop;
	const char *want;
};

static void *check_affinity(void *arg)
{
	struct affinity_case *c = arg;
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_DETACHED};
	for (int round = 0; round < 3; round++) { /* the first spawn may start the spawner */
		for (size_t m = 0; m < 3; m++) {
			const char *argv[] = {"grep", "Cpus_allowed_list:", "/proc/self/status", NULL};
			kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
			o.argv = argv;
			o.flags = modes[m];
			o.stdio[1].kind = KIN_STDIO_PIPE;
			char out[256];
			test_spawn_output(c->loop, &o, out, sizeof(out), NULL);
			ASSERT_STR_EQ(out, c->want);
		}
	}
	return NULL;
}

/* (Not spawn_*: it spawns detached, which valgrind cannot follow.)
 * kin's spawner thread follows its callers from CPU to CPU; a child never
 * inherits that pinning, whichever thread asked for it. */
TEST(affinity_child_gets_the_owners_cpus)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	char mine[256];
	allowed_cpus("/proc/self/status", mine, sizeof(mine));
	struct affinity_case c = {loop, mine};
	check_affinity(&c); /* the main thread, which may spawn directly */
	pthread_t t;         /* another thread, which goes through the spawner */
	ASSERT_EQ(pthread_create(&t, NULL, check_affinity, &c), 0);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}
