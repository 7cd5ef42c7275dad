/* The test runner: with no arguments runs every test in its own process
 * with a timeout and prints TAP-like lines; "NAME" runs one test in this
 * process; "helper NAME args..." runs a helper. Prints "N passed, N failed". */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static test_case cases[512];
static size_t ncases;
static char self_path[4096];

void test_register(test_case tc)
{
	if (ncases < sizeof(cases) / sizeof(cases[0]))
		cases[ncases++] = tc;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s:%d: ", file, line);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	fflush(stderr);
	_exit(1);
}

const char *test_self(void)
{
	return self_path;
}

int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

void test_assert_no_children(const char *file, int line)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	/* __WALL: kin's children use exit signal 0 and only show up with it. */
	int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL);
	if (r == 0 && si.si_pid != 0)
		test_fail(file, line, "a child is left behind: zombie pid %d", si.si_pid);
	pid_t pid;
	if (test_children(&pid, 1) > 0)
		test_fail(file, line, "a child is left behind: pid %d", (int)pid);
}

size_t test_children(pid_t *out, size_t cap)
{
	/* Live children hang off the thread that made them (kin's spawner
	 * thread among them), so look under every thread. */
	size_t n = 0;
	DIR *tasks = opendir("/proc/self/task");
	struct dirent *t;
	while (tasks && (t = readdir(tasks))) {
		if (t->d_name[0] == '.')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", t->d_name);
		FILE *f = fopen(path, "r");
		int pid;
		while (f && n < cap && fscanf(f, "%d", &pid) == 1)
			out[n++] = pid;
		if (f)
			fclose(f);
	}
	if (tasks)
		closedir(tasks);
	return n;
}

void test_run_expect_ok(kin_spawn_opts *o, char *buf, size_t cap, const char *file, int line)
{
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		test_fail(file, line, "kin_loop_new failed");
	kin_status st;
	size_t n = test_spawn_output(loop, o, buf, cap, &st);
	buf[n < cap ? n : cap - 1] = '\0';
	if (st.kind != KIN_EXITED || st.code != 0) {
		char how[64];
		kin_status_format(&st, how, sizeof(how));
		test_fail(file, line, "%s ended %s; it said: %s", o->argv[0], how, buf);
	}
	kin_loop_free(loop);
}

int test_tcp_listener(struct sockaddr_in *addr)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(*addr);
	*addr = (struct sockaddr_in){.sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (l < 0 || bind(l, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(l, 8) < 0 ||
	    getsockname(l, (struct sockaddr *)addr, &len) < 0)
		test_fail(__FILE__, __LINE__, "a loopback listener: %s", strerror(errno));
	return l;
}

char test_proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

bool test_pid_exists(pid_t pid)
{
	return test_proc_state(pid) != 0;
}

bool test_pid_alive(pid_t pid)
{
	char s = test_proc_state(pid);
	return s != 0 && s != 'Z' && s != 'X';
}

void test_helper_argv(const char **argv, size_t cap, const char *helper, ...)
{
	size_t n = 0;
	argv[n++] = test_self();
	argv[n++] = "helper";
	argv[n++] = helper;
	va_list ap;
	va_start(ap, helper);
	const char *a;
	while (n + 1 < cap && (a = va_arg(ap, const char *)))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
}

size_t test_read_all(kin_stream *s, char *buf, size_t cap)
{
	size_t len = 0;
	for (;;) {
		ssize_t r = kin_stream_read(s, buf + len, cap - 1 - len, kin_after(20 * KIN_SEC));
		if (r == 0)
			break;
		if (r < 0)
			test_fail(__FILE__, __LINE__, "stream read failed: %s",
				  kin_strerror((int)r));
		len += (size_t)r;
		if (len == cap - 1)
			break;
	}
	buf[len] = 0;
	return len;
}

bool test_wait_until(bool (*cond)(void *), void *arg, int ms)
{
	kin_time end = kin_after((int64_t)ms * KIN_MSEC);
	while (kin_now() < end) {
		if (cond(arg))
			return true;
		usleep(5000);
	}
	return cond(arg);
}

static test_case *find(const char *name, bool helper)
{
	for (size_t i = 0; i < ncases; i++)
		if (cases[i].is_helper == helper && strcmp(cases[i].name, name) == 0)
			return &cases[i];
	return NULL;
}

/* Runs one test in a child process; returns 0 on pass. */
static int run_isolated(test_case *tc, char *why, size_t whylen)
{
	char name[256];
	snprintf(name, sizeof(name), "%s", tc->name);
	char *argv[] = {self_path, name, NULL};
	pid_t pid;
	if (posix_spawn(&pid, self_path, NULL, NULL, argv, environ) != 0) {
		snprintf(why, whylen, "cannot spawn");
		return -1;
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int ready;
	if (pidfd >= 0) {
		ready = poll(&p, 1, tc->timeout_s * 1000);
	} else {
		/* No pidfd_open (valgrind 3.19): look every 10 ms instead. */
		siginfo_t si;
		ready = 0;
		for (int ms = 0; ms < tc->timeout_s * 1000 && !ready; ms += 10) {
			si.si_pid = 0;
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid)
				ready = 1;
			else
				usleep(10000);
		}
	}
	if (ready == 0) {
		kill(pid, SIGKILL);
		snprintf(why, whylen, "timed out after %d s", tc->timeout_s);
	}
	int status;
	waitpid(pid, &status, 0);
	close(pidfd);
	if (ready == 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		snprintf(why, whylen, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, whylen, "exit code %d", WEXITSTATUS(status));
	return -1;
}

int main(int argc, char **argv)
{
	bool helper = argc >= 3 && strcmp(argv[1], "helper") == 0;
	/* In a worker this serves tests/worker_handlers.c and never returns.
	 * Helpers skip it, so the fd it holds on our binary does not show in
	 * the fds they report; one that spawns workers calls it itself. */
	if (!helper && kin_main(argc, argv, test_worker_handlers) < 0)
		return 2;
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n < 0)
		return 2;
	self_path[n] = 0;

	if (helper) {
		test_case *h = find(argv[2], true);
		if (!h) {
			fprintf(stderr, "no helper named %s\n", argv[2]);
			return 2;
		}
		return h->helper(argc - 2, argv + 2);
	}
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < ncases; i++)
			if (!cases[i].is_helper)
				printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc == 2 && !strchr(argv[1], '*')) {
		test_case *tc = find(argv[1], false);
		if (!tc) {
			fprintf(stderr, "no test named %s\n", argv[1]);
			return 2;
		}
		tc->fn();
		return 0;
	}
	/* All tests, or those matching a glob given as argv[1]. */
	int passed = 0, failed = 0, index = 0;
	for (size_t i = 0; i < ncases; i++) {
		test_case *tc = &cases[i];
		if (tc->is_helper || (argc == 2 && fnmatch(argv[1], tc->name, 0) != 0))
			continue;
		char why[128] = "";
		index++;
		if (run_isolated(tc, why, sizeof(why)) == 0) {
			printf("ok %d - %s\n", index, tc->name);
			passed++;
		} else {
			printf("not ok %d - %s (%s)\n", index, tc->name, why);
			failed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* ---- helpers for the spawn, stream and lifetime suites */

void test_make_tmpdir(char *buf, size_t cap)
{
	snprintf(buf, cap, "/tmp/kin-test-XXXXXX");
	if (!mkdtemp(buf))
		test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

void test_remove_tree(const char *path)
{
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		test_fail(__FILE__, __LINE__, "cannot remove %s: %s", path, strerror(errno));
}

void test_write_file(const char *path, const char *content, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		test_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
	size_t len = strlen(content);
	if (write(fd, content, len) != (ssize_t)len)
		test_fail(__FILE__, __LINE__, "write %s: %s", path, strerror(errno));
	/* open's mode is filtered by the umask; tests want exactly `mode`. */
	if (fchmod(fd, (mode_t)mode) < 0)
		test_fail(__FILE__, __LINE__, "chmod %s: %s", path, strerror(errno));
	close(fd);
}

size_t test_read_line(kin_stream *s, char *buf, size_t cap)
{
	size_t len = 0;
	kin_time deadline = kin_after(20 * KIN_SEC);
	for (;;) {
		char c;
		ssize_t r = kin_stream_read(s, &c, 1, deadline);
		if (r <= 0)
			test_fail(__FILE__, __LINE__, "reading a line: %s (after \"%.*s\")",
				  r == 0 ? "end of file" : kin_strerror((int)r), (int)len, buf);
		if (c == '\n')
			break;
		if (len + 1 < cap)
			buf[len++] = c;
	}
	buf[len] = 0;
	return len;
}

size_t test_spawn_output(kin_loop *loop, kin_spawn_opts *o, char *buf, size_t cap,
			 kin_status *status)
{
	if (o->stdio[1].kind == KIN_STDIO_INHERIT)
		o->stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, o, &p, &why);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "spawn %s: %s (%s)", o->argv[0], why.message,
			  kin_strerror(r));
	size_t len = test_read_all(kin_proc_stdout(p), buf, cap);
	kin_status st;
	r = kin_proc_wait(p, kin_after(20 * KIN_SEC), &st);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "wait %s: %s", o->argv[0], kin_strerror(r));
	if (status)
		*status = st;
	kin_proc_free(p);
	return len;
}

/* True if the NUL-separated argument list holds `marker` as a whole entry. */
static bool cmdline_has(const char *args, size_t len, const char *marker)
{
	for (size_t i = 0; i < len; i += strlen(args + i) + 1)
		if (strcmp(args + i, marker) == 0)
			return true;
	return false;
}

size_t test_find_marked(const char *marker, pid_t *pids, size_t cap)
{
	DIR *d = opendir("/proc");
	if (!d)
		test_fail(__FILE__, __LINE__, "opendir /proc: %s", strerror(errno));
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		char path[64], args[4096];
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, args, sizeof(args) - 1);
		close(fd);
		if (len <= 0)
			continue; /* a zombie, or gone meanwhile */
		args[len] = 0;
		if (cmdline_has(args, (size_t)len, marker) && test_pid_alive((pid_t)pid)) {
			if (n < cap)
				pids[n] = (pid_t)pid;
			n++;
		}
	}
	closedir(d);
	return n;
}

long long test_stat_field(pid_t pid, int index)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* The command name (field 2) may hold spaces; count from its ')'. */
	char *p = strrchr(buf, ')');
	if (!p || index < 3)
		return -1;
	p += 2;
	for (int i = 3; i < index; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return strtoll(p, NULL, 10);
}

long test_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

bool test_same_spawn_opts(const kin_spawn_opts *a, const kin_spawn_opts *b)
{
	for (int i = 0; i < 3; i++)
		if (a->stdio[i].kind != b->stdio[i].kind || a->stdio[i].fd != b->stdio[i].fd)
			return false;
	return a->argv == b->argv && a->argv0 == b->argv0 && a->cwd == b->cwd &&
	       a->env_mode == b->env_mode && a->env == b->env && a->env_set == b->env_set &&
	       a->env_unset == b->env_unset && a->fds == b->fds && a->nfds == b->nfds &&
	       a->flags == b->flags && a->umask == b->umask && a->uid == b->uid &&
	       a->gid == b->gid && a->rlimits == b->rlimits && a->nrlimits == b->nrlimits &&
	       a->pipe_size == b->pipe_size;
}

static bool same_io(const kin_io *a, const kin_io *b)
{
	return a->kind == b->kind && a->buf == b->buf && a->len == b->len &&
	       a->filled == b->filled && a->fd == b->fd && a->input == b->input &&
	       a->output == b->output && a->userdata == b->userdata;
}

bool test_same_run_opts(const kin_run_opts *a, const kin_run_opts *b)
{
	return same_io(&a->in, &b->in) && same_io(&a->out, &b->out) && same_io(&a->err, &b->err) &&
	       a->merge_stderr == b->merge_stderr && a->deadline == b->deadline &&
	       a->timeout_signal == b->timeout_signal && a->kill_after_ns == b->kill_after_ns &&
	       a->buffer_size == b->buffer_size;
}

void test_warm_loop(kin_loop *loop)
{
	const char *argv[] = {"/bin/true", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	kin_proc *p;
	kin_spawn_error why;
	if (kin_proc_spawn(loop, &o, &p, &why) < 0)
		test_fail(__FILE__, __LINE__, "warming the loop: %s", why.message);
	kin_status st;
	if (kin_proc_wait(p, kin_after(10 * KIN_SEC), &st) < 0)
		test_fail(__FILE__, __LINE__, "warming the loop: /bin/true did not end");
	kin_proc_free(p);
}

kin_loop *test_loop_start(int *fds)
{
	*fds = test_count_fds();
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		test_fail(__FILE__, __LINE__, "kin_loop_new failed");
	test_warm_loop(loop); /* so fds counted mid-test include what the loop keeps */
	return loop;
}

void test_loop_finish(kin_loop *loop, int fds)
{
	kin_loop_free(loop);
	if (test_count_fds() != fds)
		test_fail(__FILE__, __LINE__, "%d fds open after the loop is gone, %d before it",
			  test_count_fds(), fds);
	test_assert_no_children(__FILE__, __LINE__);
}

kin_proc *test_spawn(kin_loop *loop, const kin_spawn_opts *o)
{
	kin_proc *p;
	kin_spawn_error why;
	if (kin_proc_spawn(loop, o, &p, &why) < 0)
		test_fail(__FILE__, __LINE__, "spawn %s: %s", o->argv[0], why.message);
	return p;
}

kin_spawn_opts test_opts(const char *const *argv)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	return o;
}
