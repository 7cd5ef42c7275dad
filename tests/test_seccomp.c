/* seccomp profiles: the compiled programs, installed in a forked child,
 * deny what they promise and nothing the program needs; profile files
 * parse strictly and fail with their line. Each confined run is paired
 * with an unconfined one, so a probe that would fail anyway (and so prove
 * nothing about the filter) fails the test instead. */
#include "harness.h"

#include "../src/sandbox/sandbox.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- running probes in a confined child */

/* A probe makes one call and returns its result, or -errno. */
typedef long (*probe_fn)(void);

typedef struct probe {
	const char *name;
	probe_fn fn;
	/* Under the filter: 0 means it must succeed, else this errno. */
	int confined;
	/* Unconfined it must not fail with `confined` (else the probe shows
	 * nothing). Off where the machine decides (kexec, io_uring). */
	bool control;
} probe;

#define NOT_RUN LONG_MIN

typedef struct record {
	int32_t index;
	int64_t result;
} record;

static long res(long r)
{
	return r < 0 ? -errno : r;
}

/* For the probes that make a process: the copy leaves at once. */
static long reap(long pid)
{
	if (pid < 0)
		return -errno;
	if (pid == 0)
		syscall(SYS_exit_group, 0);
	int st;
	while (waitpid((pid_t)pid, &st, __WALL) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

/* Runs fn in a child of its own and returns what it returned, for calls
 * that change the process for every later probe: a traced process (after
 * PTRACE_TRACEME) would stop at its next signal, with no tracer to wake it. */
static long in_child(probe_fn fn)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		long r = fn();
		syscall(SYS_exit_group, r < 0 ? (int)-r : 0);
	}
	int st;
	while (waitpid(pid, &st, __WALL) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? -(long)WEXITSTATUS(st) : -ECHILD;
}

/* Leaves a confined child: exit_group itself, since _exit under ASan
 * first asks for sigaltstack, which a default-deny profile denies. */
static void leave(int code)
{
	syscall(SYS_exit_group, code);
}

/* Runs the probes in a child with no_new_privs and, if prog, the filter;
 * fills results (NOT_RUN for any it did not report) and returns the
 * child's wait status. */
static int run_probes(const struct sock_fprog *prog, const probe *p, size_t n, long *results)
{
	int fds[2];
	ASSERT_OK(pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		/* Some children die of SIGSYS on purpose. */
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			leave(98);
		if (prog) {
			int r = kin__seccomp_install(prog);
			if (r < 0) {
				record rec = {-1, r};
				(void)!write(fds[1], &rec, sizeof(rec));
				leave(99);
			}
		}
		for (size_t i = 0; i < n; i++) {
			record rec = {(int32_t)i, p[i].fn()};
			if (write(fds[1], &rec, sizeof(rec)) != sizeof(rec))
				leave(97);
		}
		leave(0);
	}
	close(fds[1]);
	for (size_t i = 0; i < n; i++)
		results[i] = NOT_RUN;
	record rec;
	ssize_t got;
	while ((got = read(fds[0], &rec, sizeof(rec))) == sizeof(rec)) {
		if (rec.index == -1)
			test_fail(__FILE__, __LINE__, "installing the filter failed: %s",
				  kin_strerror((int)rec.result));
		ASSERT(rec.index >= 0 && (size_t)rec.index < n);
		results[rec.index] = (long)rec.result;
	}
	ASSERT_EQ(got, 0);
	close(fds[0]);
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

static const char *result_text(long r, char *buf, size_t cap)
{
	if (r == NOT_RUN)
		snprintf(buf, cap, "(not run)");
	else if (r < 0)
		snprintf(buf, cap, "-%s",
			 strerrorname_np((int)-r) ? strerrorname_np((int)-r) : "?");
	else
		snprintf(buf, cap, "%ld", r);
	return buf;
}

/* Runs the probes unconfined, then confined by prog, and checks both. */
static void check_probes(const struct sock_fprog *prog, const probe *p, size_t n)
{
	long results[64];
	char a[32], b[32];
	ASSERT(n <= KIN_ARRAY_SIZE(results));
	int st = run_probes(NULL, p, n, results);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (size_t i = 0; i < n; i++)
		if (p[i].control && p[i].confined && results[i] == -p[i].confined)
			test_fail(
				__FILE__, __LINE__,
				"%s fails with %s even without the filter: this probe shows nothing",
				p[i].name, result_text(results[i], a, sizeof(a)));

	st = run_probes(prog, p, n, results);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		test_fail(__FILE__, __LINE__, "the confined child ended with status 0x%x", st);
	for (size_t i = 0; i < n; i++) {
		long want = -p[i].confined;
		bool ok = p[i].confined ? results[i] == want : results[i] >= 0;
		if (!ok)
			test_fail(__FILE__, __LINE__, "%s under the filter: %s, expected %s",
				  p[i].name, result_text(results[i], a, sizeof(a)),
				  p[i].confined ? result_text(want, b, sizeof(b)) : "success");
	}
}

static void compile_ok(unsigned profiles, const char *file, kin_seccomp_action action,
		       struct sock_fprog *prog)
{
	kin_spawn_error why;
	memset(&why, 0, sizeof(why));
	int r = kin__seccomp_compile(profiles, file, action, prog, &why);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "compile: %s (%s)", why.message, kin_strerror(r));
	ASSERT(prog->filter != NULL && prog->len > 0);
}

/* ---- the probes */

#define MISSING "/kin-no-such-dir/x"

/* A pty's master, open before the child starts: the filter may deny
 * what opening one takes. */
static int pty = -1;

static void open_pty(void)
{
	pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ASSERT(pty >= 0);
}

static long p_getpid(void)
{
	return res(getpid());
}
static long p_getcwd(void)
{
	char buf[PATH_MAX];
	return getcwd(buf, sizeof(buf)) ? 0 : -errno;
}
static long p_open_close(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : res(close(fd));
}
static long raw_ptrace(void)
{
	return res(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}
static long p_ptrace(void)
{
	return in_child(raw_ptrace);
}
static long p_mount(void)
{
	return res(mount("none", MISSING, "tmpfs", 0, NULL));
}
static long p_umount2(void)
{
	return res(umount2(MISSING, 0));
}
static long p_pivot_root(void)
{
	return res(syscall(SYS_pivot_root, MISSING, MISSING));
}
static long p_fsopen(void)
{
	return res(syscall(SYS_fsopen, "kin-no-such-fs", 0));
}
static long p_open_tree(void)
{
	return res(syscall(SYS_open_tree, -1, MISSING, 0));
}
static long p_move_mount(void)
{
	return res(syscall(SYS_move_mount, -1, MISSING, -1, MISSING, 0));
}
static long raw_unshare(void)
{
	return res(unshare(CLONE_NEWUSER));
}
static long p_unshare(void)
{
	return in_child(raw_unshare);
}
static long p_setns(void)
{
	return res(setns(-1, 0));
}
static long p_keyctl(void)
{
	return res(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
}
static long p_add_key(void)
{
	return res(syscall(SYS_add_key, "kin-no-such-type", "x", NULL, 0, -3));
}
static long p_request_key(void)
{
	return res(syscall(SYS_request_key, "kin-no-such-type", "x", NULL, 0));
}
static long p_bpf(void)
{
	return res(syscall(SYS_bpf, -1, NULL, 0));
}
static long p_perf_event_open(void)
{
	return res(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
}
static long p_kexec_load(void)
{
	return res(syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000ul));
}
static long p_clone_newnet(void)
{
	return reap(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, NULL));
}
static long p_clone_newuser_high(void)
{
	/* Bits above 32 are not flags: the namespace bit is still seen. */
	return reap(
		syscall(SYS_clone, (1ul << 40) | CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL));
}
static long p_clone3(void)
{
	uint64_t args[8] = {0}; /* struct clone_args, version 0 */
	args[4] = SIGCHLD;      /* exit_signal */
	return reap(syscall(SYS_clone3, args, sizeof(args)));
}
static long p_fork(void)
{
	return reap(fork());
}
static void *thread_main(void *arg)
{
	return arg;
}
static long p_thread(void)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, thread_main, NULL);
	if (r)
		return -r;
	return -pthread_join(t, NULL);
}
static long p_posix_spawn(void)
{
	char *argv[] = {"true", NULL};
	pid_t pid;
	int r = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
	return r ? -r : reap(pid);
}
static long p_tiocsti(void)
{
	char c = 0;
	return res(ioctl(pty, TIOCSTI, &c));
}
static long p_tiocsti_high(void)
{
	/* The kernel reads the command as 32 bits. */
	char c = 0;
	return res(syscall(SYS_ioctl, pty, (1ul << 32) | TIOCSTI, &c));
}
static long p_tioclinux(void)
{
	char sub = 0;
	return res(ioctl(pty, TIOCLINUX, &sub));
}
static long p_tiocgwinsz(void)
{
	struct winsize ws;
	return res(ioctl(pty, TIOCGWINSZ, &ws));
}
static long p_socket(int domain, int type)
{
	int fd = socket(domain, type | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : res(close(fd));
}
static long p_inet(void)
{
	return p_socket(AF_INET, SOCK_STREAM);
}
static long p_inet6(void)
{
	return p_socket(AF_INET6, SOCK_DGRAM);
}
static long p_netlink(void)
{
	return p_socket(AF_NETLINK, SOCK_RAW);
}
static long p_unix(void)
{
	return p_socket(AF_UNIX, SOCK_STREAM);
}
static long p_inet_high(void)
{
	/* The kernel reads the domain as an int. */
	long fd = syscall(SYS_socket, (1l << 32) | AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : res(close((int)fd));
}
static long p_socketpair_unix(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	close(sv[0]);
	close(sv[1]);
	return 0;
}
static long p_socketpair_inet(void)
{
	int sv[2];
	return res(socketpair(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
}
static long p_io_uring(void)
{
	char params[120] = {0}; /* struct io_uring_params */
	long fd = syscall(SYS_io_uring_setup, 1, params);
	return fd < 0 ? -errno : res(close((int)fd));
}
static long p_kill_me(void)
{
	/* Only reached when the filter let ptrace through. */
	return res(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

/* ---- compiled profiles, installed */

TEST(seccomp_default_denies_what_it_promises)
{
	int fds = test_count_fds();
	open_pty();
	struct sock_fprog prog = {0};
	compile_ok(KIN_SECCOMP_DEFAULT, NULL, KIN_SECCOMP_EPERM, &prog);
	bool root = geteuid() == 0;
	const probe probes[] = {
		{"ptrace(TRACEME)", p_ptrace, EPERM, true},
		{"mount", p_mount, EPERM, root},
		{"umount2", p_umount2, EPERM, root},
		{"pivot_root", p_pivot_root, EPERM, root},
		{"fsopen", p_fsopen, EPERM, root},
		{"open_tree", p_open_tree, EPERM, root},
		{"move_mount", p_move_mount, EPERM, root},
		{"unshare(CLONE_NEWUSER)", p_unshare, EPERM, true},
		{"setns", p_setns, EPERM, true},
		{"keyctl", p_keyctl, EPERM, true},
		{"add_key", p_add_key, EPERM, true},
		{"request_key", p_request_key, EPERM, true},
		{"bpf", p_bpf, EPERM, root},
		{"perf_event_open", p_perf_event_open, EPERM, true},
		{"kexec_load", p_kexec_load, EPERM, false},
		{"clone(CLONE_NEWNET)", p_clone_newnet, EPERM, root},
		{"clone(CLONE_NEWUSER | 1 << 40)", p_clone_newuser_high, EPERM, true},
		{"clone3", p_clone3, ENOSYS, true},
		{"ioctl(TIOCSTI)", p_tiocsti, EPERM, root},
		{"ioctl(1 << 32 | TIOCSTI)", p_tiocsti_high, EPERM, root},
		{"ioctl(TIOCLINUX)", p_tioclinux, EPERM, true},
		{"ioctl(TIOCGWINSZ)", p_tiocgwinsz, 0, true},
		{"getpid", p_getpid, 0, true},
		{"getcwd", p_getcwd, 0, true},
		{"open and close", p_open_close, 0, true},
		/* Through clone, clone3's ENOSYS making libc fall back to it. */
		{"fork", p_fork, 0, true},
		{"pthread_create", p_thread, 0, true},
		{"posix_spawn", p_posix_spawn, 0, true},
		{"socket(AF_INET)", p_inet, 0, true},
	};
	check_probes(&prog, probes, KIN_ARRAY_SIZE(probes));
	kin__seccomp_free(&prog);
	close(pty);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(seccomp_no_network_denies_sockets_but_unix)
{
	int fds = test_count_fds();
	struct sock_fprog prog = {0};
	compile_ok(KIN_SECCOMP_NO_NETWORK, NULL, KIN_SECCOMP_EPERM, &prog);
	const probe probes[] = {
		{"socket(AF_INET)", p_inet, EPERM, true},
		{"socket(AF_INET6)", p_inet6, EPERM, true},
		{"socket(AF_NETLINK)", p_netlink, EPERM, true},
		{"socket(1 << 32 | AF_INET)", p_inet_high, EPERM, true},
		{"socketpair(AF_INET)", p_socketpair_inet, EPERM, true},
		{"io_uring_setup", p_io_uring, EPERM, false},
		{"socket(AF_UNIX)", p_unix, 0, true},
		{"socketpair(AF_UNIX)", p_socketpair_unix, 0, true},
		{"ptrace(TRACEME)", p_ptrace, 0, true}, /* not this profile's business */
		{"fork", p_fork, 0, true},
	};
	check_probes(&prog, probes, KIN_ARRAY_SIZE(probes));
	kin__seccomp_free(&prog);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(seccomp_kill_action_kills_with_sigsys)
{
	int fds = test_count_fds();
	struct sock_fprog prog = {0};
	compile_ok(KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK, NULL, KIN_SECCOMP_KILL, &prog);
	const probe probes[] = {
		{"getpid", p_getpid, 0, true},
		{"clone3", p_clone3, ENOSYS, true}, /* ENOSYS even here */
		{"fork", p_fork, 0, true},
		{"ptrace(TRACEME)", p_kill_me, 0, true},
		{"getpid again", p_getpid, 0, true},
	};
	/* No unconfined run: ptrace(TRACEME) would make the child the
	 * test's tracee. The EPERM tests show the calls themselves work. */
	long results[KIN_ARRAY_SIZE(probes)];
	int st = run_probes(&prog, probes, KIN_ARRAY_SIZE(probes), results);
	ASSERT(WIFSIGNALED(st));
	ASSERT_EQ(WTERMSIG(st), SIGSYS);
	ASSERT(results[0] > 0);
	ASSERT_EQ(results[1], -ENOSYS);
	ASSERT_EQ(results[2], 0);
	ASSERT_EQ(results[3], NOT_RUN);
	ASSERT_EQ(results[4], NOT_RUN);

	/* The same with a socket. */
	const probe net[] = {{"socket(AF_UNIX)", p_unix, 0, true},
			     {"socket(AF_INET)", p_inet, 0, true}};
	st = run_probes(&prog, net, KIN_ARRAY_SIZE(net), results);
	ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	ASSERT_EQ(results[0], 0);
	ASSERT_EQ(results[1], NOT_RUN);
	kin__seccomp_free(&prog);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

#if defined(__x86_64__)
/* getpid through the i386 entry (int 0x80), which a filter written for
 * x86_64 numbers must not let through. */
static long p_i386_getpid(void)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	return r;
}
/* getpid as an x32 call: x86_64's numbers with bit 30 set. */
static long p_x32_getpid(void)
{
	return res(syscall(0x40000000L | SYS_getpid));
}

TEST(seccomp_foreign_architectures_are_killed)
{
	int fds = test_count_fds();
	struct sock_fprog prog = {0};
	compile_ok(KIN_SECCOMP_DEFAULT, NULL, KIN_SECCOMP_EPERM, &prog);
	const probe i386[] = {{"int 0x80 getpid", p_i386_getpid, 0, true}};
	const probe x32[] = {{"x32 getpid", p_x32_getpid, 0, true}};
	long results[1];

	/* Unconfined, i386 works where the kernel has it; x32 is usually
	 * compiled out (ENOSYS). Either way a filtered child must die. */
	int st = run_probes(NULL, i386, 1, results);
	bool have_i386 = WIFEXITED(st) && WEXITSTATUS(st) == 0 && results[0] > 0;
	if (have_i386) {
		st = run_probes(&prog, i386, 1, results);
		ASSERT(WIFSIGNALED(st));
		ASSERT_EQ(WTERMSIG(st), SIGSYS);
		ASSERT_EQ(results[0], NOT_RUN);
	} else {
		fprintf(stderr, "note: no i386 entry in this kernel; only x32 checked\n");
	}
	st = run_probes(NULL, x32, 1, results);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0 && results[0] != NOT_RUN);
	st = run_probes(&prog, x32, 1, results);
	ASSERT(WIFSIGNALED(st));
	ASSERT_EQ(WTERMSIG(st), SIGSYS);
	ASSERT_EQ(results[0], NOT_RUN);
	kin__seccomp_free(&prog);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}
#endif

/* ---- profile files */

static void write_profile(char *path, size_t cap, const char *dir, const char *text)
{
	snprintf(path, cap, "%s/profile", dir);
	test_write_file(path, text, 0644);
}

TEST(seccomp_profile_file_denies_its_calls)
{
	int fds = test_count_fds();
	char dir[256], path[300];
	test_make_tmpdir(dir, sizeof(dir));
	write_profile(path, sizeof(path), dir,
		      "# no looking around\n"
		      "deny getcwd   # nor this\n"
		      "\n"
		      "allow getpid\n");
	struct sock_fprog prog = {0};
	compile_ok(0, path, KIN_SECCOMP_EPERM, &prog);
	const probe probes[] = {
		{"getcwd", p_getcwd, EPERM, true},
		{"getpid", p_getpid, 0, true},
		{"ptrace(TRACEME)", p_ptrace, 0, true},
		{"clone3", p_clone3, 0, true}, /* no one denies it here */
		{"pthread_create", p_thread, 0, true},
	};
	check_probes(&prog, probes, KIN_ARRAY_SIZE(probes));
	kin__seccomp_free(&prog);

	/* Together with the built-in profile, the kill action, and clone3
	 * named in the file: ENOSYS all the same. */
	write_profile(path, sizeof(path), dir, "deny getcwd clone3\n");
	compile_ok(KIN_SECCOMP_DEFAULT, path, KIN_SECCOMP_KILL, &prog);
	const probe more[] = {
		{"clone3", p_clone3, ENOSYS, true},  {"pthread_create", p_thread, 0, true},
		{"getpid", p_getpid, 0, true},       {"getcwd", p_getcwd, 0, true},
		{"getpid again", p_getpid, 0, true},
	};
	long results[KIN_ARRAY_SIZE(more)];
	int st = run_probes(&prog, more, KIN_ARRAY_SIZE(more), results);
	ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	ASSERT_EQ(results[0], -ENOSYS);
	ASSERT_EQ(results[1], 0);
	ASSERT(results[2] > 0);
	ASSERT_EQ(results[3], NOT_RUN);
	kin__seccomp_free(&prog);
	test_remove_tree(dir);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(seccomp_profile_default_deny_allows_only_its_list)
{
	int fds = test_count_fds();
	char dir[256], path[300];
	test_make_tmpdir(dir, sizeof(dir));
	/* What the probes below and the child's own way out need. */
	write_profile(path, sizeof(path), dir,
		      "default deny\n"
		      "allow write exit_group getpid\n");
	struct sock_fprog prog = {0};
	compile_ok(0, path, KIN_SECCOMP_EPERM, &prog);
	const probe probes[] = {
		{"getpid", p_getpid, 0, true},
		{"getcwd", p_getcwd, EPERM, true},
		{"open", p_open_close, EPERM, true},
		{"socket(AF_UNIX)", p_unix, EPERM, true},
		/* Not allowed, so denied, but as ENOSYS: libc falls back. */
		{"clone3", p_clone3, ENOSYS, true},
	};
	check_probes(&prog, probes, KIN_ARRAY_SIZE(probes));
	kin__seccomp_free(&prog);
	test_remove_tree(dir);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(seccomp_profile_default_deny_keeps_builtin_denials)
{
	int fds = test_count_fds();
	open_pty();
	char dir[256], path[300];
	test_make_tmpdir(dir, sizeof(dir));
	/* The file allows calls the built-in profiles deny in part or whole:
	 * what they deny stays denied, the rest goes through. */
	write_profile(path, sizeof(path), dir,
		      "default deny\n"
		      "allow write exit_group exit getpid wait4 close futex\n"
		      "allow ioctl clone socket socketpair\n"
		      "allow ptrace unshare io_uring_setup\n");
	struct sock_fprog prog = {0};
	compile_ok(KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK, path, KIN_SECCOMP_EPERM, &prog);
	const probe probes[] = {
		{"getpid", p_getpid, 0, true},
		{"getcwd", p_getcwd, EPERM, true},
		{"ptrace(TRACEME)", p_ptrace, EPERM, true},
		{"unshare(CLONE_NEWUSER)", p_unshare, EPERM, true},
		{"io_uring_setup", p_io_uring, EPERM, false},
		{"ioctl(TIOCGWINSZ)", p_tiocgwinsz, 0, true},
		{"ioctl(TIOCSTI)", p_tiocsti, EPERM, geteuid() == 0},
		{"ioctl(1 << 32 | TIOCSTI)", p_tiocsti_high, EPERM, geteuid() == 0},
		{"ioctl(TIOCLINUX)", p_tioclinux, EPERM, true},
		{"clone(CLONE_NEWNET)", p_clone_newnet, EPERM, geteuid() == 0},
		{"clone(CLONE_NEWUSER | 1 << 40)", p_clone_newuser_high, EPERM, true},
		{"fork", p_fork, 0, true},
		{"clone3", p_clone3, ENOSYS, true},
		{"socket(AF_UNIX)", p_unix, 0, true},
		{"socket(AF_INET)", p_inet, EPERM, true},
		{"socket(1 << 32 | AF_INET)", p_inet_high, EPERM, true},
		{"socketpair(AF_UNIX)", p_socketpair_unix, 0, true},
		{"socketpair(AF_INET)", p_socketpair_inet, EPERM, true},
	};
	check_probes(&prog, probes, KIN_ARRAY_SIZE(probes));
	kin__seccomp_free(&prog);
	close(pty);
	test_remove_tree(dir);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(seccomp_long_allow_list_compiles_and_installs)
{
	int fds = test_count_fds();
	char dir[256], path[300];
	test_make_tmpdir(dir, sizeof(dir));
	/* Every call this architecture has, allowed by name: the largest
	 * honest profile there is. */
	static char text[64 * 1024];
	size_t n = (size_t)snprintf(text, sizeof(text), "default deny\n");
	int names = 0;
	for (int nr = 0; nr < 1024; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (!name)
			continue;
		ASSERT(n + strlen(name) + 8 < sizeof(text));
		n += (size_t)snprintf(text + n, sizeof(text) - n, "allow %s\n", name);
		free(name);
		names++;
	}
	ASSERT(names > 300);
	write_profile(path, sizeof(path), dir, text);
	struct sock_fprog prog = {0};
	compile_ok(KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK, path, KIN_SECCOMP_EPERM, &prog);
	ASSERT(prog.len <= BPF_MAXINSNS);
	const probe probes[] = {
		{"getcwd", p_getcwd, 0, true},
		{"fork", p_fork, 0, true},
		{"pthread_create", p_thread, 0, true},
		{"ptrace(TRACEME)", p_ptrace, EPERM, true},
		{"socket(AF_INET)", p_inet, EPERM, true},
		{"socket(AF_UNIX)", p_unix, 0, true},
	};
	check_probes(&prog, probes, KIN_ARRAY_SIZE(probes));
	kin__seccomp_free(&prog);
	test_remove_tree(dir);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* ---- errors */

static void parse_fails(const char *text, const char *want, int line)
{
	kin__seccomp_profile p = {.nrules = 12345};
	char err[200];
	int r = kin__seccomp_profile_parse(text, strlen(text), &p, err, sizeof(err));
	if (r != -EINVAL)
		test_fail(__FILE__, line, "parse returned %d, expected -EINVAL", r);
	if (strcmp(err, want) != 0)
		test_fail(__FILE__, line, "error \"%s\", expected \"%s\"", err, want);
	if (p.nrules != 12345)
		test_fail(__FILE__, line, "the output changed on failure");
}
#define PARSE_FAILS(text, want) parse_fails(text, want, __LINE__)

TEST(seccomp_profile_parse_errors_have_line_numbers)
{
	PARSE_FAILS("allow read\n\npermit write\n",
		    "line 3: unknown keyword \"permit\" (expected default, allow or deny)");
	PARSE_FAILS("deny Read\n",
		    "line 1: \"Read\" is not a system call name (only a-z, 0-9 and _)");
	PARSE_FAILS("# a\ndeny re\"ad\n",
		    "line 2: \"re\\\"ad\" is not a system call name (only a-z, 0-9 and _)");
	PARSE_FAILS(
		"deny abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\n",
		"line 1: system call name \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
		"abcdefghijkl\" is longer than 63 characters");
	PARSE_FAILS("default deny\nallow read\ndefault allow\n",
		    "line 3: a second \"default\" (the first is on line 1)");
	PARSE_FAILS("default\n", "line 1: expected \"default allow\" or \"default deny\"");
	PARSE_FAILS("default deny allow\n",
		    "line 1: expected \"default allow\" or \"default deny\"");
	PARSE_FAILS("default maybe\n", "line 1: expected \"default allow\" or \"default deny\"");
	PARSE_FAILS("allow read write\n#\ndeny open read\n",
		    "line 3: \"read\" is denied here but allowed on line 1");
	PARSE_FAILS("allow # nothing\n", "line 1: \"allow\" names no system call");
	PARSE_FAILS("deny\n", "line 1: \"deny\" names no system call");
	PARSE_FAILS("allow read\ndeny a\x01"
		    "b\n",
		    "line 2: control character 0x01");
	PARSE_FAILS("allow read\r\r\n", "line 1: control character 0x0d");
	PARSE_FAILS("allow r\xc3\xa9"
		    "ad\n",
		    "line 1: byte 0xc3 outside a comment");

	/* A NUL is a control character too, and the text need not end in one. */
	kin__seccomp_profile p;
	char err[200];
	ASSERT_EQ(kin__seccomp_profile_parse("deny a\0b", 8, &p, err, sizeof(err)), -EINVAL);
	ASSERT_STR_EQ(err, "line 1: control character 0x00");

	/* Limits: line length, rule count, size. */
	static char big[1024 * 1024 + 2];
	memset(big, ' ', 4097);
	memcpy(big, "deny a", 6);
	big[4097] = 0;
	PARSE_FAILS(big, "line 1: longer than 4096 bytes");
	size_t n = 0;
	for (int i = 0; i <= 4096; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "deny c%d\n", i);
	PARSE_FAILS(big, "line 4097: more than 4096 rules");
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	PARSE_FAILS(big, "larger than 1048576 bytes");

	/* Room for the message or none at all: cut short, never overrun. */
	char tiny[9];
	memset(tiny, 'x', sizeof(tiny));
	ASSERT_EQ(kin__seccomp_profile_parse("deny A", 6, &p, tiny, sizeof(tiny)), -EINVAL);
	ASSERT_STR_EQ(tiny, "line 1: ");
	ASSERT_EQ(kin__seccomp_profile_parse("deny A", 6, &p, NULL, 0), -EINVAL);
}

TEST(seccomp_profile_parse_accepts_the_format)
{
	kin__seccomp_profile p;
	char err[200];
	const char *text = "# comment\r\n"
			   "\n"
			   "  \t \n"
			   "default deny # trailing comment\n"
			   "allow read\twrite  exit_group\r\n"
			   "deny getcwd # \xc3\xa9 in a comment\n"
			   "allow read\n" /* again: once is enough */
			   "deny _llseek x32_9";
	ASSERT_OK(kin__seccomp_profile_parse(text, strlen(text), &p, err, sizeof(err)));
	ASSERT_EQ(p.default_verdict, KIN__SECCOMP_DENY);
	ASSERT_EQ(p.nrules, 6);
	const char *names[] = {"read", "write", "exit_group", "getcwd", "_llseek", "x32_9"};
	const kin__seccomp_verdict verdicts[] = {KIN__SECCOMP_ALLOW, KIN__SECCOMP_ALLOW,
						 KIN__SECCOMP_ALLOW, KIN__SECCOMP_DENY,
						 KIN__SECCOMP_DENY,  KIN__SECCOMP_DENY};
	for (size_t i = 0; i < 6; i++) {
		ASSERT_STR_EQ(p.rules[i].name, names[i]);
		ASSERT_EQ(p.rules[i].verdict, verdicts[i]);
	}
	kin__seccomp_profile_free(&p);
	ASSERT(p.rules == NULL && p.nrules == 0);
	kin__seccomp_profile_free(&p); /* twice is fine */

	/* Empty: allow everything, no rules. */
	ASSERT_OK(kin__seccomp_profile_parse("", 0, &p, err, sizeof(err)));
	ASSERT_EQ(p.default_verdict, KIN__SECCOMP_ALLOW);
	ASSERT_EQ(p.nrules, 0);
	ASSERT(p.rules == NULL);
	kin__seccomp_profile_free(&p);
}

TEST(seccomp_profile_unknown_syscall_is_a_clear_error)
{
	int fds = test_count_fds();
	char dir[256], path[300], want[600];
	test_make_tmpdir(dir, sizeof(dir));
	write_profile(path, sizeof(path), dir,
		      "# comment naming kin_no_such_call\n"
		      "allow read\n"
		      "deny write kin_no_such_call # kin_no_such_call\n");
	struct sock_fprog prog = {0};
	kin_spawn_error why;
	memset(&why, 0, sizeof(why));
	ASSERT_EQ(kin__seccomp_compile(0, path, KIN_SECCOMP_EPERM, &prog, &why), -EINVAL);
	ASSERT(prog.filter == NULL);
	ASSERT_EQ(why.error, -EINVAL);
	ASSERT_EQ(why.step, KIN_STEP_SECCOMP);
	snprintf(want, sizeof(want),
		 "seccomp profile %s: line 3: unknown system call \"kin_no_such_call\"", path);
	ASSERT_STR_EQ(why.message, want);

	/* A call libseccomp knows only on other architectures. */
	write_profile(path, sizeof(path), dir, "allow read\n\ndeny socketcall\n");
	ASSERT_EQ(kin__seccomp_compile(0, path, KIN_SECCOMP_EPERM, &prog, &why), -EINVAL);
	snprintf(want, sizeof(want),
		 "seccomp profile %s: line 3: system call \"socketcall\" does not exist on this "
		 "architecture",
		 path);
	ASSERT_STR_EQ(why.message, want);

	/* The parser's own errors come through with the path. */
	write_profile(path, sizeof(path), dir, "allow read\nallow Write\n");
	ASSERT_EQ(kin__seccomp_compile(KIN_SECCOMP_DEFAULT, path, KIN_SECCOMP_KILL, &prog, &why),
		  -EINVAL);
	snprintf(want, sizeof(want),
		 "seccomp profile %s: line 2: \"Write\" is not a system call name (only a-z, 0-9 "
		 "and _)",
		 path);
	ASSERT_STR_EQ(why.message, want);
	test_remove_tree(dir);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(seccomp_profile_missing_file_is_enoent)
{
	int fds = test_count_fds();
	struct sock_fprog prog = {0};
	kin_spawn_error why;
	memset(&why, 0, sizeof(why));
	ASSERT_EQ(kin__seccomp_compile(KIN_SECCOMP_DEFAULT, "/kin-no-such-dir/profile",
				       KIN_SECCOMP_EPERM, &prog, &why),
		  -ENOENT);
	ASSERT(prog.filter == NULL);
	ASSERT_EQ(why.error, -ENOENT);
	ASSERT_EQ(why.step, KIN_STEP_SECCOMP);
	ASSERT_STR_EQ(why.message,
		      "seccomp profile /kin-no-such-dir/profile: No such file or directory");

	ASSERT_EQ(kin__seccomp_compile(0, "/", KIN_SECCOMP_EPERM, &prog, &why), -EISDIR);
	ASSERT_STR_EQ(why.message, "seccomp profile /: Is a directory");
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(seccomp_free_takes_an_empty_program)
{
	struct sock_fprog prog = {0};
	kin__seccomp_free(&prog);
	kin__seccomp_free(NULL);
	compile_ok(KIN_SECCOMP_DEFAULT, NULL, KIN_SECCOMP_EPERM, &prog);
	kin__seccomp_free(&prog);
	ASSERT(prog.filter == NULL && prog.len == 0);
	kin__seccomp_free(&prog);
}
