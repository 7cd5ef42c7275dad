/* Lifetime: killing, terminating with escalation, process groups, and what
 * happens to children when their owner dies (linked, tree, detached). */
#include "harness.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static kin_proc *spawn_argv(kin_loop *loop, const char *const *argv, unsigned flags)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = flags;
	o.stdio[0].kind = KIN_STDIO_NULL;
	/* No core files from SIGQUIT and friends. */
	static const kin_rlimit nocore = {.resource = RLIMIT_CORE, .limit = {0, 0}};
	o.rlimits = &nocore;
	o.nrlimits = 1;
	return test_spawn(loop, &o);
}

/* A marker argument unique to this test process, for finding descendants
 * by scanning /proc: `sleep` takes it as a number of seconds. */
static const char *marker(int n)
{
	static char buf[4][24];
	snprintf(buf[n], sizeof(buf[n]), "300.%d%d", (int)getpid(), n);
	return buf[n];
}

struct marked {
	const char *marker;
	size_t want;
};

static bool marked_count_is(void *arg)
{
	struct marked *m = arg;
	pid_t pids[16];
	return test_find_marked(m->marker, pids, 16) == m->want;
}

/* Waits (generously) until exactly `want` live processes carry the marker. */
static void expect_marked(const char *mark, size_t want, int ms, int line)
{
	struct marked m = {mark, want};
	if (!test_wait_until(marked_count_is, &m, ms)) {
		pid_t pids[16];
		size_t n = test_find_marked(mark, pids, 16);
		test_fail(__FILE__, line, "%zu processes marked %s, want %zu (first pid %d)", n,
			  mark, want, n ? (int)pids[0] : 0);
	}
}

/* Kills whatever still carries the marker, so a failed test leaves nothing. */
static void kill_marked(const char *mark)
{
	pid_t pids[16];
	size_t n = test_find_marked(mark, pids, 16);
	for (size_t i = 0; i < n && i < 16; i++)
		kill(pids[i], SIGKILL);
}

TEST(kill_with_each_signal)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGALRM, SIGKILL};
	const char *argv[] = {"sleep", "100", NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_NEW_SESSION};
	for (size_t m = 0; m < 3; m++) {
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
			kin_proc *p = spawn_argv(loop, argv, modes[m]);
			/* Signal 0 only checks that it is there. */
			ASSERT_OK(kin_proc_kill(p, 0));
			ASSERT_OK(kin_proc_kill(p, sigs[i]));
			kin_status st;
			ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
			if (st.kind != KIN_KILLED || st.signal != sigs[i])
				test_fail(__FILE__, __LINE__,
					  "flags 0x%x, signal %d: kind %d, signal %d, code %d",
					  modes[m], sigs[i], st.kind, st.signal, st.code);
			ASSERT(!st.core_dumped);
			char text[64], want[64];
			kin_status_format(&st, text, sizeof(text));
			snprintf(want, sizeof(want), "killed(SIG%s)", sigabbrev_np(sigs[i]));
			ASSERT_STR_EQ(text, want);
			kin_proc_free(p);
		}
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(kill_after_reap_is_esrch)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"true", NULL};
	unsigned modes[] = {KIN_SPAWN_NEW_PGROUP, KIN_SPAWN_TREE | KIN_SPAWN_NEW_PGROUP};
	for (size_t m = 0; m < 2; m++) {
		kin_proc *p = spawn_argv(loop, argv, modes[m]);
		kin_status st;
		ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
		ASSERT_EQ(st.kind, KIN_EXITED);
		ASSERT_EQ(kin_proc_kill(p, SIGTERM), -ESRCH);
		ASSERT_EQ(kin_proc_kill(p, 0), -ESRCH);
		ASSERT_EQ(kin_proc_kill_group(p, SIGTERM), -ESRCH);
		ASSERT_EQ(kin_proc_terminate(p, KIN_SEC), -ESRCH);
		/* Still the same status. */
		kin_status again;
		ASSERT_OK(kin_proc_wait(p, 0, &again));
		ASSERT_EQ(again.kind, KIN_EXITED);
		ASSERT_EQ(kin_proc_poll(p, &again), 1);
		kin_proc_free(p);
	}
	/* Bad signal numbers are refused, before and after. */
	const char *sleeper[] = {"sleep", "100", NULL};
	kin_proc *p = spawn_argv(loop, sleeper, KIN_SPAWN_NEW_PGROUP);
	ASSERT_EQ(kin_proc_kill(p, -1), -EINVAL);
	ASSERT_EQ(kin_proc_kill(p, 4096), -EINVAL);
	ASSERT_EQ(kin_proc_kill_group(p, -1), -EINVAL);
	kin_status st;
	ASSERT_EQ(kin_proc_poll(p, &st), 0);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* A child that ignores SIGTERM, and says so once it does. */
static kin_proc *spawn_stubborn(kin_loop *loop, unsigned flags)
{
	const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; exec sleep 100", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = flags;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p = test_spawn(loop, &o);
	char line[32];
	test_read_line(kin_proc_stdout(p), line, sizeof(line));
	ASSERT_STR_EQ(line, "ready");
	return p;
}

TEST(terminate_escalates_with_blocking_wait)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t m = 0; m < 2; m++) {
		kin_proc *p = spawn_stubborn(loop, modes[m]);
		kin_time start = kin_now();
		ASSERT_OK(kin_proc_terminate(p, 300 * KIN_MSEC));
		/* A wait that ends before the grace period sees it still running. */
		kin_status st;
		ASSERT_EQ(kin_proc_wait(p, kin_after(50 * KIN_MSEC), &st), -ETIMEDOUT);
		ASSERT_OK(kin_proc_wait(p, kin_after(20 * KIN_SEC), &st));
		ASSERT(kin_now() - start >= 300 * KIN_MSEC);
		if (st.kind != KIN_KILLED || st.signal != SIGKILL)
			test_fail(__FILE__, __LINE__, "flags 0x%x: kind %d signal %d", modes[m],
				  st.kind, st.signal);
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

struct exit_record {
	int calls;
	kin_status status;
	kin_proc *proc;
};

static void record_exit(kin_proc *p, const kin_status *st, void *userdata)
{
	struct exit_record *r = userdata;
	r->calls++;
	r->status = *st;
	r->proc = p;
}

TEST(terminate_escalates_on_the_loop)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t m = 0; m < 2; m++) {
		kin_proc *p = spawn_stubborn(loop, modes[m]);
		struct exit_record rec = {0};
		ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
		kin_time start = kin_now();
		ASSERT_OK(kin_proc_terminate(p, 300 * KIN_MSEC));
		/* Nothing else is pending: the loop returns once it has reported. */
		int r = kin_loop_run(loop, kin_after(20 * KIN_SEC));
		ASSERT(r > 0);
		ASSERT_EQ(rec.calls, 1);
		ASSERT(rec.proc == p);
		ASSERT(kin_now() - start >= 300 * KIN_MSEC);
		if (rec.status.kind != KIN_KILLED || rec.status.signal != SIGKILL)
			test_fail(__FILE__, __LINE__, "flags 0x%x: kind %d signal %d", modes[m],
				  rec.status.kind, rec.status.signal);
		kin_status st;
		ASSERT_EQ(kin_proc_poll(p, &st), 1);
		ASSERT_EQ(st.signal, SIGKILL);
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(terminate_child_that_obeys_term)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* Killed by the SIGTERM itself. */
	const char *sleeper[] = {"sleep", "100", NULL};
	kin_proc *p = spawn_argv(loop, sleeper, 0);
	ASSERT_OK(kin_proc_terminate(p, 60 * KIN_SEC));
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(20 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_KILLED);
	ASSERT_EQ(st.signal, SIGTERM);
	kin_proc_free(p);

	/* Exits with its own code on SIGTERM. */
	const char *trapper[] = {"sh", "-c",
				 "sleep 100 & pid=$!; trap 'kill $pid; exit 7' TERM; echo ready; wait",
				 NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = trapper;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t m = 0; m < 2; m++) {
		o.flags = modes[m];
		p = test_spawn(loop, &o);
		char line[32];
		test_read_line(kin_proc_stdout(p), line, sizeof(line));
		struct exit_record rec = {0};
		ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
		ASSERT_OK(kin_proc_terminate(p, 60 * KIN_SEC));
		/* The grace timer must not hold the loop once the child is gone:
		 * with KIN_FOREVER this returns only because nothing is left. */
		ASSERT(kin_loop_run(loop, KIN_FOREVER) > 0);
		ASSERT_EQ(rec.calls, 1);
		ASSERT_EQ(rec.status.kind, KIN_EXITED);
		ASSERT_EQ(rec.status.code, 7);
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(kill_group_takes_grandchildren)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	unsigned modes[] = {KIN_SPAWN_NEW_PGROUP, KIN_SPAWN_NEW_SESSION,
			    KIN_SPAWN_TREE | KIN_SPAWN_NEW_PGROUP};
	for (size_t m = 0; m < 3; m++) {
		const char *mark = marker((int)m);
		char script[256];
		snprintf(script, sizeof(script), "sleep %s & sleep %s & wait", mark, mark);
		const char *argv[] = {"sh", "-c", script, NULL};
		kin_proc *p = spawn_argv(loop, argv, modes[m]);
		expect_marked(mark, 2, 10000, __LINE__);
		int r = kin_proc_kill_group(p, SIGTERM);
		if (r < 0)
			kill_marked(mark);
		ASSERT_OK(r);
		kin_status st;
		ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
		ASSERT_EQ(st.kind, KIN_KILLED);
		ASSERT_EQ(st.signal, SIGTERM);
		/* Orphaned grandchildren die too (outside a tree nobody else would
		 * kill them). */
		expect_marked(mark, 0, 5000, __LINE__);
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(kill_group_without_a_group_is_einval)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sleep", "100", NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t m = 0; m < 2; m++) {
		kin_proc *p = spawn_argv(loop, argv, modes[m]);
		ASSERT_EQ(kin_proc_kill_group(p, SIGTERM), -EINVAL);
		ASSERT_EQ(kin_proc_kill_group(p, SIGKILL), -EINVAL);
		/* And nothing was sent. */
		kin_status st;
		ASSERT_EQ(kin_proc_poll(p, &st), 0);
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(free_kills_and_reaps_a_running_child)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sleep", "100", NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_NEW_SESSION};
	for (size_t m = 0; m < 3; m++) {
		kin_proc *p = spawn_argv(loop, argv, modes[m]);
		pid_t pid = kin_proc_pid(p);
		ASSERT(test_pid_alive(pid));
		kin_proc_free(p);
		ASSERT(!test_pid_exists(pid));
	}
	kin_proc_free(NULL);
	kin_loop_free(loop);
	kin_loop_free(NULL);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(detached_child_is_not_killed_and_reports_unknown)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sleep", marker(0), NULL};
	kin_proc *p = spawn_argv(loop, argv, KIN_SPAWN_DETACHED);
	pid_t pid = kin_proc_pid(p);
	ASSERT(test_pid_alive(pid));
	/* Not our child: re-parented away, in a session of its own. */
	ASSERT(test_stat_field(pid, 4) != getpid());
	ASSERT_EQ(test_stat_field(pid, 6), pid);
	ASSERT_NO_CHILDREN();
	kin_status st;
	ASSERT_EQ(kin_proc_poll(p, &st), 0);
	ASSERT_OK(kin_proc_kill(p, SIGTERM));
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXIT_UNKNOWN);
	ASSERT_EQ(kin_status_shell_code(&st), -1);
	ASSERT_EQ(kin_proc_kill(p, SIGTERM), -ESRCH);
	kin_proc_free(p);

	/* Neither kin_proc_free nor kin_loop_free kills a detached child. */
	p = spawn_argv(loop, argv, KIN_SPAWN_DETACHED);
	pid = kin_proc_pid(p);
	kin_proc *q = spawn_argv(loop, argv, KIN_SPAWN_DETACHED);
	pid_t qpid = kin_proc_pid(q);
	kin_proc_free(p);
	kin_loop_free(loop);
	bool alive = test_pid_alive(pid) && test_pid_alive(qpid);
	kill(pid, SIGKILL);
	kill(qpid, SIGKILL);
	ASSERT(alive);
	expect_marked(marker(0), 0, 5000, __LINE__);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(detached_exit_is_observed_on_the_loop)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "read x; exit 3", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_DETACHED;
	o.stdio[0].kind = KIN_STDIO_PIPE;
	kin_proc *p = test_spawn(loop, &o);
	struct exit_record rec = {0};
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), -ETIMEDOUT);
	/* It ends when we close its stdin; its status is not ours to know. */
	kin_stream_close(kin_proc_stdin(p));
	ASSERT(kin_loop_run(loop, kin_after(20 * KIN_SEC)) >= 1);
	ASSERT_EQ(rec.calls, 1);
	ASSERT_EQ(rec.status.kind, KIN_EXIT_UNKNOWN);
	char text[64];
	kin_status_format(&rec.status, text, sizeof(text));
	ASSERT(strlen(text) > 0);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* ---- owner death */

/* An owner: spawns argv[2...] with kin in mode argv[1] (linked, tree or
 * detached), prints the child's pid, then waits to be killed. */
HELPER(lifetime_owner)
{
	if (argc < 3)
		return 2;
	unsigned flags = 0;
	if (strcmp(argv[1], "tree") == 0)
		flags = KIN_SPAWN_TREE;
	else if (strcmp(argv[1], "detached") == 0)
		flags = KIN_SPAWN_DETACHED;
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 3;
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = (const char *const *)(argv + 2);
	o.flags = flags;
	o.stdio[0].kind = KIN_STDIO_NULL;
	o.stdio[1].kind = KIN_STDIO_NULL;
	kin_proc *p;
	kin_spawn_error why;
	if (kin_proc_spawn(loop, &o, &p, &why) < 0) {
		fprintf(stderr, "owner: %s\n", why.message);
		return 4;
	}
	printf("%d\n", (int)kin_proc_pid(p));
	fflush(stdout);
	for (;;)
		pause();
}

/* Starts an owner running `cmd` in `mode`; returns it, and the pid it
 * printed for its child. */
static kin_proc *start_owner(kin_loop *loop, const char *mode, const char *const *cmd, pid_t *child)
{
	const char *argv[16];
	size_t n = 0;
	argv[n++] = test_self();
	argv[n++] = "helper";
	argv[n++] = "lifetime_owner";
	argv[n++] = mode;
	for (size_t i = 0; cmd[i] && n < 15; i++)
		argv[n++] = cmd[i];
	argv[n] = NULL;
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0].kind = KIN_STDIO_NULL;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *owner = test_spawn(loop, &o);
	char line[32];
	test_read_line(kin_proc_stdout(owner), line, sizeof(line));
	*child = (pid_t)atoi(line);
	ASSERT(*child > 0);
	return owner;
}

static void kill_owner(kin_proc *owner)
{
	ASSERT_OK(kin_proc_kill(owner, SIGKILL));
	kin_status st;
	ASSERT_OK(kin_proc_wait(owner, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_KILLED);
	ASSERT_EQ(st.signal, SIGKILL);
	kin_proc_free(owner);
}

static bool pid_gone(void *arg)
{
	return !test_pid_alive(*(pid_t *)arg);
}

TEST(owner_death_kills_linked_child)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *mark = marker(0);
	/* Through sh, so the owner's own argv does not carry the marker. */
	char script[256];
	snprintf(script, sizeof(script), "exec sleep %s", mark);
	const char *cmd[] = {"sh", "-c", script, NULL};
	pid_t child;
	kin_proc *owner = start_owner(loop, "linked", cmd, &child);
	ASSERT(test_pid_alive(child));
	expect_marked(mark, 1, 10000, __LINE__); /* sh has exec'd sleep */
	pid_t found[4];
	ASSERT_EQ(test_find_marked(mark, found, 4), 1);
	ASSERT_EQ(found[0], child);
	kill_owner(owner);
	bool gone = test_wait_until(pid_gone, &child, 1500);
	if (!gone)
		kill(child, SIGKILL);
	ASSERT(gone);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(owner_death_kills_whole_tree)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *mark = marker(0);
	/* One grandchild in a session of its own, one double-forked away, and
	 * the program itself: none of them may outlive the owner. */
	char script[256];
	snprintf(script, sizeof(script), "setsid sleep %s & (sleep %s &) ; exec sleep %s", mark,
		 mark, mark);
	const char *cmd[] = {"sh", "-c", script, NULL};
	pid_t init;
	kin_proc *owner = start_owner(loop, "tree", cmd, &init);
	expect_marked(mark, 3, 10000, __LINE__);
	pid_t pids[8];
	size_t n = test_find_marked(mark, pids, 8);
	ASSERT_EQ(n, 3);
	ASSERT(test_pid_alive(init));
	kill_owner(owner);
	struct marked none = {mark, 0};
	bool gone = test_wait_until(marked_count_is, &none, 1500) &&
		    test_wait_until(pid_gone, &init, 1500);
	if (!gone)
		kill_marked(mark);
	ASSERT(gone);
	for (size_t i = 0; i < n; i++)
		ASSERT(!test_pid_alive(pids[i]));
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(owner_death_spares_detached_child)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *mark = marker(0);
	/* Through sh, so the owner's own argv does not carry the marker. */
	char script[256];
	snprintf(script, sizeof(script), "exec sleep %s", mark);
	const char *cmd[] = {"sh", "-c", script, NULL};
	pid_t child;
	kin_proc *owner = start_owner(loop, "detached", cmd, &child);
	ASSERT(test_pid_alive(child));
	kill_owner(owner);
	/* Give a wrongly linked child every chance to die first. */
	bool died = test_wait_until(pid_gone, &child, 500);
	bool alive = test_pid_alive(child);
	kill(child, SIGKILL); /* not ours to reap: init does that */
	ASSERT(!died);
	ASSERT(alive);
	ASSERT(test_wait_until(pid_gone, &child, 5000));
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* A group member that reports SIGUSR1 on stdout and exits 0. */
static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

HELPER(usr1_reporter)
{
	(void)argc;
	(void)argv;
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < 2000 && !got_usr1; i++)
		usleep(10000);
	printf(got_usr1 ? "got\n" : "never\n");
	return got_usr1 ? 0 : 1;
}

static bool init_stopped(void *arg)
{
	return test_proc_state(kin_proc_pid(arg)) == 'T';
}

/* In tree mode a group kill is a request to the namespace's init. Sent
 * right behind a plain kill of the same signal, it must not be merged into
 * it (standard signals do not queue) and lost. */
TEST(tree_group_kill_is_not_merged_with_a_pending_signal)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	char script[512];
	snprintf(script, sizeof(script),
		 "trap '' USR1; '%s' helper usr1_reporter & wait $!; exit $?", test_self());
	const char *argv[] = {"sh", "-c", script, NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_TREE | KIN_SPAWN_NEW_PGROUP;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p = test_spawn(loop, &o);
	char line[64];
	test_read_line(kin_proc_stdout(p), line, sizeof(line));
	ASSERT_STR_EQ(line, "ready");
	/* Stop the init (a stop from outside reaches a namespace's init) so
	 * both signals are certainly pending at once, then let it go. */
	ASSERT_OK(kin_proc_kill(p, SIGSTOP));
	ASSERT(test_wait_until(init_stopped, p, 10000));
	ASSERT_OK(kin_proc_kill(p, SIGUSR1)); /* the shell ignores it */
	ASSERT_OK(kin_proc_kill_group(p, SIGUSR1));
	ASSERT_OK(kin_proc_kill(p, SIGCONT));
	test_read_line(kin_proc_stdout(p), line, sizeof(line));
	ASSERT_STR_EQ(line, "got");
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(host_waitpid_any_steals_a_child_and_kin_says_unknown)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"true", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	kin_proc *p = test_spawn(loop, &o);
	/* A careless host: reaps whatever child ends (exec made it visible). */
	int ws;
	pid_t got;
	while ((got = waitpid(-1, &ws, 0)) < 0 && errno == EINTR)
		;
	ASSERT_EQ(got, kin_proc_pid(p));
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXIT_UNKNOWN);
	kin_proc_free(p);

	/* A tree is out of its reach: the init never execs. */
	o.flags = KIN_SPAWN_TREE;
	p = test_spawn(loop, &o);
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(waitpid(-1, &ws, WNOHANG), -1);
	ASSERT_EQ(errno, ECHILD);
	ASSERT_EQ(st.kind, KIN_EXITED);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}
