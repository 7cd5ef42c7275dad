/* kin's pid 1, tested the way tini and dumb-init test theirs: exit codes
 * pass through unchanged, signals reach the program once each, orphans are
 * reaped, nothing outlives the program, and the program starts with clean
 * signal state whatever its owner's was.
 *
 * Every check takes the function that makes the spawn options, so the same
 * checks run against each pid 1 kin has: the tree-mode init today, a
 * sandbox with a new pid namespace later. A helper process cannot be handed
 * a function, so it is handed the variant's name (see `variants`). */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef kin_spawn_opts (*pid1_mk)(const char *const *argv);

/* argv run as the main program under a pid 1 of kin's. Tests set stdio. */
static kin_spawn_opts pid1_opts(const char *const *argv)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_TREE;
	o.stdio[0].kind = KIN_STDIO_NULL;
	return o;
}

/* The same under a sandbox with a new pid namespace: the host's files
 * read-only, a proc of its own, and an empty environment. */
static kin_spawn_opts sandbox_opts(const char *const *argv)
{
	static const kin_mount steps[] = {{.kind = KIN_MOUNT_PROC, .dest = "/proc"}};
	static kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.namespaces = KIN_NS_USER | KIN_NS_PID | KIN_NS_MOUNT | KIN_NS_UTS | KIN_NS_IPC;
	sb.ro_root = true;
	sb.mounts = steps;
	sb.nmounts = 1;
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.sandbox = &sb;
	o.stdio[0].kind = KIN_STDIO_NULL;
	return o;
}

/* Every pid 1 these tests know; each gets one TEST per check. */
static const struct pid1_variant {
	const char *name;
	pid1_mk mk;
} variants[] = {
	{"tree", pid1_opts},
	{"sandbox", sandbox_opts},
};

static const char *variant_name(pid1_mk mk)
{
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		if (variants[i].mk == mk)
			return variants[i].name;
	test_fail(__FILE__, __LINE__, "a pid 1 variant missing from the table");
}

static pid1_mk variant_named(const char *name)
{
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		if (strcmp(variants[i].name, name) == 0)
			return variants[i].mk;
	test_fail(__FILE__, __LINE__, "no pid 1 variant named %s", name);
}

/* Fails unless the status is exactly `kind` with `value` (code or signal),
 * printing what it was instead. */
static void expect_status(const kin_status *st, kin_exit_kind kind, int value, const char *what,
			  int line)
{
	int got = st->kind == KIN_EXITED ? st->code : st->signal;
	if (st->kind != kind || got != value) {
		char text[64];
		kin_status_format(st, text, sizeof(text));
		test_fail(__FILE__, line, "%s: %s, want %s(%d)", what, text,
			  kind == KIN_EXITED ? "exited" : "killed", value);
	}
}

static kin_status wait_ok(kin_proc *p, int line)
{
	kin_status st;
	int r = kin_proc_wait(p, kin_after(TEST_LONG_WAIT), &st);
	if (r < 0)
		test_fail(__FILE__, line, "wait: %s", kin_strerror(r));
	return st;
}

/* Waits for p, checks how it ended, frees it and the loop, and checks
 * nothing is left. */
static void finish(kin_proc *p, kin_loop *loop, int fds, kin_exit_kind kind, int value,
		   const char *what, int line)
{
	kin_status st = wait_ok(p, line);
	expect_status(&st, kind, value, what, line);
	kin_proc_free(p);
	test_loop_finish(loop, fds);
	ASSERT_NO_CHILDREN();
}

/* Spawns argv the way mk says, with stdin and stdout as pipes, and reads
 * the first line it prints into line. */
static kin_proc *spawn_talking(kin_loop *loop, pid1_mk mk, const char *const *argv, char *line,
			       size_t size)
{
	kin_spawn_opts o = mk(argv);
	o.stdio[0].kind = KIN_STDIO_PIPE;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p = test_spawn(loop, &o);
	test_read_line(kin_proc_stdout(p), line, size);
	return p;
}

/* ---- /proc, seen from the host */

/* Host pids of every child of `pid` (under all its threads, since a child
 * hangs off the thread that made it, or the reaper's leader). Zombies
 * count: a child stays on its parent's list until it is reaped. */
static size_t children_of(pid_t pid, pid_t *out, size_t cap)
{
	char path[320];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		int c;
		while (fscanf(f, "%d", &c) == 1) {
			if (n < cap)
				out[n] = (pid_t)c;
			n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* The last field of the NSpid line: pid's number in its own namespace. */
static long ns_pid(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long last = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		char *p = line + 6, *end;
		for (;;) {
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			last = v;
			p = end;
		}
		break;
	}
	fclose(f);
	return last;
}

/* ---- exit codes */

#define EXIT_BATCH 32

static void check_exit_codes(pid1_mk mk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	/* In batches, so a few dozen namespaces start and end at once. */
	for (int base = 0; base < 256; base += EXIT_BATCH) {
		kin_proc *procs[EXIT_BATCH];
		for (int i = 0; i < EXIT_BATCH; i++) {
			char script[16];
			snprintf(script, sizeof(script), "exit %d", base + i);
			const char *argv[] = {"sh", "-c", script, NULL};
			kin_spawn_opts o = mk(argv);
			o.stdio[1].kind = KIN_STDIO_NULL;
			procs[i] = test_spawn(loop, &o);
		}
		for (int i = 0; i < EXIT_BATCH; i++) {
			/* 128+N must stay exited(128+N), not turn into killed(N). */
			kin_status st = wait_ok(procs[i], __LINE__);
			char what[32];
			snprintf(what, sizeof(what), "exit %d", base + i);
			expect_status(&st, KIN_EXITED, base + i, what, __LINE__);
			ASSERT_EQ(kin_status_shell_code(&st), base + i);
			kin_proc_free(procs[i]);
		}
	}
	test_loop_finish(loop, fds);
	ASSERT_NO_CHILDREN();
}

TEST_TIMEOUT(pid1_exit_codes_pass_through, 120)
{
	check_exit_codes(pid1_opts);
}

TEST_TIMEOUT(pid1_sandbox_exit_codes_pass_through, 120)
{
	check_exit_codes(sandbox_opts);
}

/* ---- fatal signals */

static void check_fatal_signals(pid1_mk mk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const int sigs[] = {SIGTERM, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* Once as soon as the spawn returns, when the program may not
		 * have started yet (the signal must wait for it, not be lost),
		 * and once when it certainly runs. */
		for (int started = 0; started < 2; started++) {
			const char *sleeper[] = {"sleep", "1000", NULL};
			const char *ready[] = {"sh", "-c", "echo ready; exec sleep 1000", NULL};
			kin_spawn_opts o = mk(started ? ready : sleeper);
			o.stdio[1].kind = started ? KIN_STDIO_PIPE : KIN_STDIO_NULL;
			kin_proc *p = test_spawn(loop, &o);
			if (started) {
				char line[32];
				test_read_line(kin_proc_stdout(p), line, sizeof(line));
				ASSERT_STR_EQ(line, "ready");
			}
			ASSERT_OK(kin_proc_kill(p, sigs[i]));
			kin_status st = wait_ok(p, __LINE__);
			char what[64];
			snprintf(what, sizeof(what), "SIG%s %s", sigabbrev_np(sigs[i]),
				 started ? "once started" : "at once");
			expect_status(&st, KIN_KILLED, sigs[i], what, __LINE__);
			ASSERT_EQ(kin_status_shell_code(&st), 128 + sigs[i]);
			ASSERT(!st.core_dumped);
			kin_proc_free(p);
		}
	}
	test_loop_finish(loop, fds);
	ASSERT_NO_CHILDREN();
}

TEST(pid1_fatal_signals_kill_the_program)
{
	check_fatal_signals(pid1_opts);
}

TEST(pid1_sandbox_fatal_signals_kill_the_program)
{
	check_fatal_signals(sandbox_opts);
}

/* ---- forwarding */

/* The signals an init forwards, as tini and dumb-init list them, and two
 * real-time ones. Standard signals do not queue: one forwarded twice in a
 * row would merge into a single delivery and go unseen. Real-time signals
 * queue, so with them a second copy shows as a second line. */
static int forwarded_at(size_t i)
{
	static const int standard[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM,
				       SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
	size_t nstandard = sizeof(standard) / sizeof(standard[0]);
	return i < nstandard ? standard[i] : SIGRTMIN + 1 + (int)(i - nstandard);
}
#define NFORWARDED 10

/* "HUP", ..., "RTMIN+1": glibc names no real-time signal. */
static const char *signal_name(int sig, char *buf, size_t cap)
{
	if (sig >= SIGRTMIN)
		snprintf(buf, cap, "RTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, cap, "%s", sigabbrev_np(sig));
	return buf;
}

static int trap_pipe[2] = {-1, -1};

static void on_trapped(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	(void)!write(trap_pipe[1], &b, 1);
	errno = saved;
}

/* Prints "ready", then the name of each forwarded signal it receives, one
 * per line, as it receives it; at end of file on stdin, prints "end" and
 * exits 0. A signal and the end of file seen together: the signal first. */
HELPER(pid1_trap)
{
	(void)argc;
	(void)argv;
	if (pipe2(trap_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return 3;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_trapped;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFORWARDED; i++)
		if (sigaction(forwarded_at(i), &sa, NULL) < 0)
			return 3;
	printf("ready\n");
	fflush(stdout);
	bool eof = false;
	for (;;) {
		unsigned char got[64];
		ssize_t n = read(trap_pipe[0], got, sizeof(got));
		for (ssize_t i = 0; i < n; i++) {
			char name[32];
			printf("%s\n", signal_name(got[i], name, sizeof(name)));
		}
		fflush(stdout);
		if (n > 0)
			continue;
		if (eof)
			break;
		struct pollfd pf[2] = {{.fd = trap_pipe[0], .events = POLLIN},
				       {.fd = 0, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0)
			continue; /* EINTR: a signal, read it above */
		if (pf[1].revents && !(pf[0].revents & POLLIN)) {
			char c;
			if (read(0, &c, 1) <= 0)
				eof = true; /* one last look at the pipe, then stop */
		}
	}
	printf("end\n");
	return 0;
}

static int signal_named(const char *name)
{
	for (size_t i = 0; i < NFORWARDED; i++) {
		char buf[32];
		if (strcmp(signal_name(forwarded_at(i), buf, sizeof(buf)), name) == 0)
			return forwarded_at(i);
	}
	return 0;
}

static void check_forwarding(pid1_mk mk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[8];
	test_helper_argv(argv, 8, "pid1_trap", NULL);
	char line[64];
	kin_proc *p = spawn_talking(loop, mk, argv, line, sizeof(line));
	kin_stream *out = kin_proc_stdout(p);
	ASSERT_STR_EQ(line, "ready");

	/* One at a time: each arrives before the next is sent, so in order. */
	for (size_t i = 0; i < NFORWARDED; i++) {
		char name[32];
		ASSERT_OK(kin_proc_kill(p, forwarded_at(i)));
		test_read_line(out, line, sizeof(line));
		ASSERT_STR_EQ(line, signal_name(forwarded_at(i), name, sizeof(name)));
	}
	/* All at once: distinct signals are never merged, so each arrives,
	 * once, in whatever order the kernel delivers them. */
	for (size_t i = 0; i < NFORWARDED; i++)
		ASSERT_OK(kin_proc_kill(p, forwarded_at(i)));
	bool seen[NSIG] = {false};
	for (size_t i = 0; i < NFORWARDED; i++) {
		test_read_line(out, line, sizeof(line));
		int sig = signal_named(line);
		if (sig == 0 || seen[sig])
			test_fail(__FILE__, __LINE__, "in the burst, line %zu: \"%s\"%s", i + 1,
				  line, sig ? " a second time" : "");
		seen[sig] = true;
	}
	/* Nothing more: no signal came twice, none came late. */
	kin_stream_close(kin_proc_stdin(p));
	char rest[256];
	test_read_all(out, rest, sizeof(rest));
	ASSERT_STR_EQ(rest, "end\n");
	finish(p, loop, fds, KIN_EXITED, 0, "the trapping program", __LINE__);
}

TEST(pid1_forwards_each_signal_once_in_order)
{
	check_forwarding(pid1_opts);
}

TEST(pid1_sandbox_forwards_each_signal_once_in_order)
{
	check_forwarding(sandbox_opts);
}

/* ---- orphans */

#define ORPHANS 100

struct family {
	pid_t init;
	size_t want;  /* children of the init */
	size_t count; /* what the last look found */
	size_t zombies;
};

static bool family_is(void *arg)
{
	struct family *f = arg;
	pid_t kids[ORPHANS + 16];
	f->count = children_of(f->init, kids, ORPHANS + 16);
	f->zombies = 0;
	for (size_t i = 0; i < f->count && i < ORPHANS + 16; i++)
		if (test_proc_state(kids[i]) == 'Z')
			f->zombies++;
	return f->count == f->want && f->zombies == 0;
}

static void expect_family(struct family *f, size_t want, int line)
{
	f->want = want;
	if (!test_wait_until(family_is, f, 20000))
		test_fail(__FILE__, line, "the init has %zu children (%zu zombies), want %zu alive",
			  f->count, f->zombies, want);
}

/* The orphans block reading the test's pipe, so they end exactly when the
 * test closes it, rather than after some sleep: no timing involved. (A
 * background command's stdin is /dev/null unless redirected, hence fd 3.)
 * Each `( ... &)` is a double fork: the subshell exits at once and its
 * child is re-parented to pid 1. */
static const char orphan_script[] = "exec 3<&0 </dev/null\n"
				    "i=0\n"
				    "while [ $i -lt 100 ]; do\n"
				    "  (cat <&3 >/dev/null &)\n"
				    "  i=$((i + 1))\n"
				    "done\n"
				    "exec 3<&-\n"
				    "echo started\n"
				    "exec sleep 1000\n";

static void check_orphans_reaped(pid1_mk mk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sh", "-c", orphan_script, NULL};
	char line[32];
	kin_proc *p = spawn_talking(loop, mk, argv, line, sizeof(line));
	ASSERT_STR_EQ(line, "started");
	struct family f = {.init = kin_proc_pid(p)};
	/* Every orphan is the init's child now, besides the program. */
	expect_family(&f, ORPHANS + 1, __LINE__);
	/* They all end together; the init must reap every one. */
	kin_stream_close(kin_proc_stdin(p));
	expect_family(&f, 1, __LINE__);
	pid_t kids[4];
	ASSERT_EQ(children_of(f.init, kids, 4), 1);
	ASSERT(test_pid_alive(kids[0])); /* the program */
	/* The init is still there for its program. */
	kin_status st;
	ASSERT_EQ(kin_proc_poll(p, &st), 0);
	ASSERT_OK(kin_proc_kill(p, SIGTERM));
	finish(p, loop, fds, KIN_KILLED, SIGTERM, "the program", __LINE__);
}

TEST_TIMEOUT(pid1_reaps_100_orphans, 60)
{
	check_orphans_reaped(pid1_opts);
}

TEST_TIMEOUT(pid1_sandbox_reaps_100_orphans, 60)
{
	check_orphans_reaped(sandbox_opts);
}

/* ---- nothing outlives the program */

#define DESCENDANTS 6

struct marked {
	const char *marker;
	size_t want;
};

static bool marked_count_is(void *arg)
{
	struct marked *m = arg;
	pid_t pids[DESCENDANTS + 4];
	return test_find_marked(m->marker, pids, DESCENDANTS + 4) == m->want;
}

static void kill_marked(const char *marker)
{
	pid_t pids[DESCENDANTS + 4];
	size_t n = test_find_marked(marker, pids, DESCENDANTS + 4);
	for (size_t i = 0; i < n && i < DESCENDANTS + 4; i++)
		kill(pids[i], SIGKILL);
}

static void check_nothing_outlives(pid1_mk mk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	/* `sleep` takes the marker as its seconds; unique to this test. */
	char marker[32];
	snprintf(marker, sizeof(marker), "1000.%d", (int)getpid());
	/* Plain background children, double forks, new sessions, and one that
	 * ignores the polite signals.
	 * Then the program waits for the test before it exits. Only the sleeps
	 * have the marker as a whole argument (the shells on the way have it
	 * inside a script), so their count only grows. */
	char script[1024];
	snprintf(script, sizeof(script),
		 "sleep %s &\n"
		 "(sleep %s &)\n"
		 "setsid sleep %s &\n"
		 "(setsid sleep %s &)\n"
		 "setsid sh -c '(sleep %s &)' &\n"
		 "sh -c 'trap \"\" HUP INT TERM; exec sleep %s' &\n"
		 "echo started\n"
		 "read x\n"
		 "exit 7\n",
		 marker, marker, marker, marker, marker, marker);
	const char *argv[] = {"sh", "-c", script, NULL};
	char line[32];
	kin_proc *p = spawn_talking(loop, mk, argv, line, sizeof(line));
	ASSERT_STR_EQ(line, "started");
	struct marked m = {marker, DESCENDANTS};
	if (!test_wait_until(marked_count_is, &m, 20000)) {
		pid_t pids[DESCENDANTS + 4];
		size_t n = test_find_marked(marker, pids, DESCENDANTS + 4);
		test_fail(__FILE__, __LINE__, "%zu sleeps running, want %d", n, DESCENDANTS);
	}
	pid_t pids[DESCENDANTS];
	ASSERT_EQ(test_find_marked(marker, pids, DESCENDANTS), DESCENDANTS);

	/* The program exits; its status is the proc's, and by the time the
	 * proc is waited the namespace is empty (the kernel kills and reaps
	 * the rest before its pid 1 is reported dead). */
	ASSERT_EQ(kin_stream_write(kin_proc_stdin(p), "\n", 1, kin_after(TEST_LONG_WAIT)), 1);
	kin_status st = wait_ok(p, __LINE__);
	expect_status(&st, KIN_EXITED, 7, "the program", __LINE__);
	for (size_t i = 0; i < DESCENDANTS; i++) {
		if (test_pid_exists(pids[i])) {
			char state = test_proc_state(pids[i]);
			kill_marked(marker);
			test_fail(__FILE__, __LINE__,
				  "pid %d (sleep %s) outlived the program, state %c", (int)pids[i],
				  marker, state);
		}
	}
	ASSERT_EQ(test_find_marked(marker, pids, DESCENDANTS), 0);
	kin_proc_free(p);
	test_loop_finish(loop, fds);
	ASSERT_NO_CHILDREN();
}

TEST(pid1_main_exit_leaves_nothing)
{
	check_nothing_outlives(pid1_opts);
}

TEST(pid1_sandbox_main_exit_leaves_nothing)
{
	check_nothing_outlives(sandbox_opts);
}

/* ---- the program's signal state */

static const int owner_ignores[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,
				    SIGUSR1, SIGPIPE, SIGCHLD, SIGTTOU};
static const int owner_blocks[] = {SIGUSR2, SIGWINCH, SIGALRM, SIGTSTP, SIGTTIN};

/* Runs `cat /proc/self/status` under pid 1 and prints its Sig* lines
 * (those the test cares about), each behind `who`. */
static void print_sig_lines(kin_loop *loop, pid1_mk mk, const char *who)
{
	const char *argv[] = {"cat", "/proc/self/status", NULL};
	kin_spawn_opts o = mk(argv);
	char buf[8192];
	kin_status st;
	test_spawn_output(loop, &o, buf, sizeof(buf), &st);
	if (st.kind != KIN_EXITED || st.code != 0)
		printf("%s: cat failed\n", who);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0 ||
		    strncmp(line, "SigCgt:", 7) == 0)
			printf("%s %s\n", who, line);
}

struct sig_thread {
	kin_loop *loop;
	pid1_mk mk;
};

static void *print_from_thread(void *arg)
{
	struct sig_thread *t = arg;
	print_sig_lines(t->loop, t->mk, "thread");
	return NULL;
}

/* An owner with a messy signal state: it ignores some signals (SIGCHLD
 * among them, as servers that want no zombies do) and blocks others, in
 * every thread. It prints what the program sees from the main thread and
 * from another (whose spawns go through the loop's spawner thread), then
 * how each ignored signal that kills, sent to the proc, ends the program. */
HELPER(pid1_sig_owner)
{
	if (argc < 2)
		return 2;
	pid1_mk mk = variant_named(argv[1]);
	for (size_t i = 0; i < sizeof(owner_ignores) / sizeof(owner_ignores[0]); i++)
		signal(owner_ignores[i], SIG_IGN);
		/* glibc's sigaction refuses its own two real-time signals; the kernel
		 * does not, and an owner started by posix_spawn has them ignored. The
		 * kernel's struct starts with the handler on these. */
#if defined(__x86_64__) || defined(__aarch64__) || defined(__i386__)
	unsigned long ign[8] = {(unsigned long)SIG_IGN};
	for (int sig = 32; sig <= 33; sig++)
		if (syscall(SYS_rt_sigaction, sig, ign, NULL, (size_t)(NSIG - 1) / 8) < 0)
			return 3;
#endif
	sigset_t block;
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(owner_blocks) / sizeof(owner_blocks[0]); i++)
		sigaddset(&block, owner_blocks[i]);
	sigaddset(&block, SIGRTMIN);
	sigaddset(&block, SIGRTMAX - 2);
	pthread_sigmask(SIG_BLOCK, &block, NULL);

	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 4;
	print_sig_lines(loop, mk, "main");
	struct sig_thread t = {loop, mk};
	pthread_t th;
	if (pthread_create(&th, NULL, print_from_thread, &t) != 0)
		return 5;
	pthread_join(th, NULL);

	/* The init must still hear of these, and of its program's end. */
	const int fatal[] = {SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGPIPE};
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		const char *sleeper[] = {"sleep", "1000", NULL};
		kin_spawn_opts o = mk(sleeper);
		o.stdio[1].kind = KIN_STDIO_NULL;
		kin_proc *p = test_spawn(loop, &o);
		kin_status st;
		if (kin_proc_kill(p, fatal[i]) < 0 ||
		    kin_proc_wait(p, kin_after(10 * KIN_SEC), &st) < 0) {
			printf("SIG%s: no end\n", sigabbrev_np(fatal[i]));
		} else {
			char text[64];
			kin_status_format(&st, text, sizeof(text));
			printf("SIG%s: %s\n", sigabbrev_np(fatal[i]), text);
		}
		fflush(stdout);
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	return 0;
}

static void check_signal_state(pid1_mk mk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[8];
	test_helper_argv(argv, 8, "pid1_sig_owner", variant_name(mk), NULL);
	kin_spawn_opts o = test_opts(argv);
	o.stdio[0].kind = KIN_STDIO_NULL;
	char out[2048];
	kin_status st;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	const char *want = "main SigBlk:\t0000000000000000\n"
			   "main SigIgn:\t0000000000000000\n"
			   "main SigCgt:\t0000000000000000\n"
			   "thread SigBlk:\t0000000000000000\n"
			   "thread SigIgn:\t0000000000000000\n"
			   "thread SigCgt:\t0000000000000000\n"
			   "SIGHUP: killed(SIGHUP)\n"
			   "SIGINT: killed(SIGINT)\n"
			   "SIGTERM: killed(SIGTERM)\n"
			   "SIGUSR1: killed(SIGUSR1)\n"
			   "SIGPIPE: killed(SIGPIPE)\n";
	if (strcmp(out, want) != 0)
		test_fail(__FILE__, __LINE__, "the owner printed:\n%s\nwant:\n%s", out, want);
	expect_status(&st, KIN_EXITED, 0, "the owner", __LINE__);
	test_loop_finish(loop, fds);
	ASSERT_NO_CHILDREN();
}

TEST_TIMEOUT(pid1_program_starts_with_clean_signal_state, 90)
{
	check_signal_state(pid1_opts);
}

TEST_TIMEOUT(pid1_sandbox_program_starts_with_clean_signal_state, 90)
{
	check_signal_state(sandbox_opts);
}

/* ---- pid numbers */

static void check_pid_numbers(pid1_mk mk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sh", "-c", "echo $$ $PPID; read x; exit 0", NULL};
	char line[64];
	kin_proc *p = spawn_talking(loop, mk, argv, line, sizeof(line));
	int self = 0, parent = 0;
	ASSERT_EQ(sscanf(line, "%d %d", &self, &parent), 2);
	/* The program is not pid 1 itself; its parent, kin's init, is. */
	ASSERT_EQ(parent, 1);
	ASSERT(self > 1);

	/* Seen from the host: kin_proc_pid is that init, pid 1 of a namespace
	 * of its own, and its only child is the program. */
	pid_t init = kin_proc_pid(p);
	ASSERT_EQ(ns_pid(init), 1);
	char mine[64], its[64], path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)init);
	ssize_t n1 = readlink("/proc/self/ns/pid", mine, sizeof(mine) - 1);
	ssize_t n2 = readlink(path, its, sizeof(its) - 1);
	ASSERT(n1 > 0 && n2 > 0);
	mine[n1] = its[n2] = 0;
	ASSERT(strcmp(mine, its) != 0);
	pid_t kids[4];
	ASSERT_EQ(children_of(init, kids, 4), 1);
	ASSERT_EQ(ns_pid(kids[0]), self);
	ASSERT_EQ(test_stat_field(kids[0], 4), init); /* its host ppid */

	kin_stream_close(kin_proc_stdin(p));
	finish(p, loop, fds, KIN_EXITED, 0, "the program", __LINE__);
}

TEST(pid1_program_is_not_pid_1_and_its_parent_is)
{
	check_pid_numbers(pid1_opts);
}

TEST(pid1_sandbox_program_is_not_pid_1_and_its_parent_is)
{
	check_pid_numbers(sandbox_opts);
}
