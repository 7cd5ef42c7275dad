/* Sandboxes through kin_proc_spawn: what a program inside can see and do
 * (isolation, privileges, confinement), and the clear errors where the
 * machine lacks a feature. Each check runs a helper of this binary inside
 * the sandbox and reads what it reports on stdout. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- helpers that run inside */

/* Prints what it sees: "pids N max M" for /proc, the hostname, and the
 * open fds. */
HELPER(sandbox_look)
{
	(void)argc;
	(void)argv;
	int n = 0, max = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		if (pid > 0) {
			n++;
			max = pid > max ? pid : max;
		}
	}
	if (d)
		closedir(d);
	struct utsname u;
	uname(&u);
	printf("pids %d max %d\nhost %s\nfds", n, max, u.nodename);
	d = opendir("/proc/self/fd");
	int dfd = d ? dirfd(d) : -1;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dfd)
			printf(" %s", e->d_name);
	if (d)
		closedir(d);
	int nenv = 0;
	while (environ[nenv])
		nenv++;
	printf("\nenv %d\n", nenv);
	return 0;
}

/* Prints the NoNewPrivs and Cap* lines of /proc/self/status. */
HELPER(sandbox_privs)
{
	(void)argc;
	(void)argv;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "NoNewPrivs:", 11) == 0 || strncmp(line, "Cap", 3) == 0)
			fputs(line, stdout);
	if (f)
		fclose(f);
	return 0;
}

/* Tries each thing named on its command line and prints "NAME ERRNO"
 * (0 when it worked). */
HELPER(sandbox_try)
{
	for (int i = 1; i < argc; i++) {
		const char *what = argv[i];
		int r = 0;
		errno = 0;
		if (strncmp(what, "write:", 6) == 0) {
			int fd = open(what + 6, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			r = fd < 0 ? -1 : 0;
			if (fd >= 0)
				close(fd);
		} else if (strncmp(what, "connect:", 8) == 0) {
			int s = socket(AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in a = {.sin_family = AF_INET,
						.sin_port = htons((uint16_t)atoi(what + 8)),
						.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			r = s < 0 ? -1 : connect(s, (struct sockaddr *)&a, sizeof(a));
			if (s >= 0)
				close(s);
		} else if (strcmp(what, "ptrace") == 0) {
			r = (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		} else if (strcmp(what, "mount") == 0) {
			r = mount("none", "/tmp", "tmpfs", 0, NULL);
		} else if (strcmp(what, "unshare") == 0) {
			r = unshare(CLONE_NEWUSER);
		} else if (strcmp(what, "inet") == 0) {
			int s = socket(AF_INET, SOCK_STREAM, 0);
			r = s < 0 ? -1 : 0;
			if (s >= 0)
				close(s);
		}
		printf("%s %d\n", what, r < 0 ? errno : 0);
	}
	return 0;
}

/* ---- the checks */

static kin_spawn_opts helper_opts(const char **argv, const kin_sandbox *sb)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.sandbox = sb;
	return o;
}

static kin_sandbox all_namespaces(void)
{
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.namespaces = KIN_NS_ALL;
	sb.ro_root = true;
	return sb;
}

TEST(sandbox_sees_only_itself)
{
	int fds = test_count_fds();
	kin_sandbox sb = all_namespaces();
	static const kin_mount steps[] = {{.kind = KIN_MOUNT_PROC, .dest = "/proc"}};
	sb.mounts = steps;
	sb.nmounts = 1;
	sb.hostname = "kin-sandbox";
	const char *argv[4];
	test_helper_argv(argv, 4, "sandbox_look", NULL);
	kin_spawn_opts o = helper_opts(argv, &sb);
	char out[1024];
	RUN_EXPECT_OK(&o, out);
	/* kin's pid 1 and the helper, and nothing of the host's. */
	int n = 0, max = 0;
	ASSERT(sscanf(out, "pids %d max %d", &n, &max) == 2);
	ASSERT_EQ(n, 2);
	ASSERT_EQ(max, 2);
	ASSERT(strstr(out, "host kin-sandbox\n") != NULL);
	struct utsname u;
	uname(&u);
	ASSERT(strcmp(u.nodename, "kin-sandbox") != 0);
	/* stdio only, and an empty environment. */
	ASSERT(strstr(out, "fds 0 1 2\n") != NULL);
	ASSERT(strstr(out, "env 0\n") != NULL);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(sandbox_drops_every_privilege)
{
	kin_sandbox sb = all_namespaces();
	const char *argv[4];
	test_helper_argv(argv, 4, "sandbox_privs", NULL);
	kin_spawn_opts o = helper_opts(argv, &sb);
	char out[1024];
	RUN_EXPECT_OK(&o, out);
	ASSERT(strstr(out, "NoNewPrivs:\t1\n") != NULL);
	ASSERT(strstr(out, "CapEff:\t0000000000000000\n") != NULL);
	ASSERT(strstr(out, "CapPrm:\t0000000000000000\n") != NULL);
	ASSERT(strstr(out, "CapBnd:\t0000000000000000\n") != NULL);
	ASSERT(strstr(out, "CapAmb:\t0000000000000000\n") != NULL);
	/* One kept capability is kept, and nothing else. */
	sb.caps = 1ull << 12; /* CAP_NET_ADMIN */
	RUN_EXPECT_OK(&o, out);
	ASSERT(strstr(out, "CapEff:\t0000000000001000\n") != NULL);
	ASSERT(strstr(out, "CapBnd:\t0000000000001000\n") != NULL);
	ASSERT_NO_CHILDREN();
}

TEST(sandbox_ro_bind_refuses_writes_and_net_reaches_nothing)
{
	/* A listener on the host's loopback, which the sandbox must not reach. */
	struct sockaddr_in a;
	int l = test_tcp_listener(&a);
	char connect_to[32];
	snprintf(connect_to, sizeof(connect_to), "connect:%d", ntohs(a.sin_port));

	kin_sandbox sb = all_namespaces();
	/* Not /tmp: this binary may live there, and must stay visible. */
	static const kin_mount steps[] = {{.kind = KIN_MOUNT_TMPFS, .dest = "/dev/shm"}};
	sb.mounts = steps;
	sb.nmounts = 1;
	const char *argv[8];
	test_helper_argv(argv, 8, "sandbox_try", "write:/etc/kin-sandbox-test",
			 "write:/dev/shm/fine", connect_to, NULL);
	kin_spawn_opts o = helper_opts(argv, &sb);
	char out[1024];
	RUN_EXPECT_OK(&o, out);
	char want[128];
	snprintf(want, sizeof(want), "write:/etc/kin-sandbox-test %d\n", EROFS);
	ASSERT(strstr(out, want) != NULL);
	ASSERT(strstr(out, "write:/dev/shm/fine 0\n") != NULL);
	snprintf(want, sizeof(want), "%s %d\n", connect_to, ECONNREFUSED);
	ASSERT(strstr(out, want) != NULL);
	ASSERT(access("/etc/kin-sandbox-test", F_OK) < 0);
	/* The same connect from a sandbox that shares the network works. */
	sb.namespaces &= ~(unsigned)KIN_NS_NET;
	test_helper_argv(argv, 8, "sandbox_try", connect_to, NULL);
	RUN_EXPECT_OK(&o, out);
	snprintf(want, sizeof(want), "%s 0\n", connect_to);
	ASSERT(strstr(out, want) != NULL);
	close(l);
	ASSERT_NO_CHILDREN();
}

TEST(sandbox_seccomp_denies_with_eperm)
{
	kin_sandbox sb = all_namespaces();
	sb.seccomp = KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK;
	const char *argv[8];
	test_helper_argv(argv, 8, "sandbox_try", "ptrace", "mount", "unshare", "inet", NULL);
	kin_spawn_opts o = helper_opts(argv, &sb);
	/* LeakSanitizer's exit check ptraces the process, which the filter
	 * refuses; in an ASan build it would fail the helper. */
	static const char *const no_lsan[] = {"ASAN_OPTIONS=detect_leaks=0", NULL};
	o.env_set = no_lsan;
	char out[1024];
	RUN_EXPECT_OK(&o, out);
	char want[256];
	snprintf(want, sizeof(want), "ptrace %d\nmount %d\nunshare %d\ninet %d\n", EPERM, EPERM,
		 EPERM, EPERM);
	ASSERT_STR_EQ(out, want);
	ASSERT_NO_CHILDREN();
}

TEST(sandbox_options_that_cannot_work_are_refused_first)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"/bin/true", NULL};
	kin_spawn_error why;
	kin_proc *p = NULL;
	struct {
		kin_sandbox sb;
		const char *says;
	} cases[] = {
		{{.hostname = "x", .init_fd = -1}, "KIN_NS_UTS"},
		{{.ro_root = true, .init_fd = -1}, "KIN_NS_MOUNT"},
		{{.namespaces = KIN_NS_MOUNT, .as_pid_1 = true, .init_fd = -1}, "KIN_NS_PID"},
		{{.namespaces = KIN_NS_MOUNT,
		  .mounts = (const kin_mount[]){{.kind = KIN_MOUNT_TMPFS, .dest = "tmp"}},
		  .nmounts = 1,
		  .init_fd = -1},
		 "absolute"},
		{{.namespaces = KIN_NS_MOUNT,
		  .mounts = (const kin_mount[]){{.kind = KIN_MOUNT_BIND, .dest = "/x"}},
		  .nmounts = 1,
		  .init_fd = -1},
		 "needs a source"},
		/* Refused before the arrays are read: they hold one each. */
		{{.namespaces = KIN_NS_MOUNT,
		  .mounts = (const kin_mount[]){{.kind = KIN_MOUNT_TMPFS, .dest = "/tmp"}},
		  .nmounts = 65537,
		  .init_fd = -1},
		 "more than 65536"},
		{{.landlock = (const kin_landlock_rule[]){{.path = "/", .access = KIN_LANDLOCK_READ}},
		  .nlandlock = 65537,
		  .init_fd = -1},
		 "more than 65536"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kin_spawn_opts o = helper_opts(argv, &cases[i].sb);
		ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -EINVAL);
		ASSERT_EQ(why.step, KIN_STEP_OPTIONS);
		if (!strstr(why.message, cases[i].says))
			test_fail(__FILE__, __LINE__, "case %zu: \"%s\" does not say %s", i,
				  why.message, cases[i].says);
	}
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* Prints the memory.max of the cgroup it runs in: the line "0::PATH" of
 * /proc/self/cgroup, under cgroup v2's mount point (from mountinfo). */
HELPER(sandbox_memory_max)
{
	(void)argc;
	(void)argv;
	char line[512], cg[256] = "", mnt[256] = "";
	FILE *f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0)
			sscanf(line + 3, "%255s", cg);
	if (f)
		fclose(f);
	f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 "))
			sscanf(line, "%*s %*s %*s %*s %255s", mnt);
	if (f)
		fclose(f);
	char path[600], value[64] = "";
	snprintf(path, sizeof(path), "%s%s/memory.max", mnt, cg);
	f = fopen(path, "r");
	if (!f || !fgets(value, sizeof(value), f))
		return 1;
	fclose(f);
	fputs(value, stdout);
	return 0;
}

/* This machine has cgroup v2 without a memory controller delegated to
 * us (the brief says so), so kin must say exactly that; where one is, the
 * child must run under the limit. */
TEST(sandbox_memory_limit_applies_or_says_why)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.memory_max = 64 << 20;
	const char *argv[4];
	test_helper_argv(argv, 4, "sandbox_memory_max", NULL);
	kin_spawn_opts o = helper_opts(argv, &sb);
	kin_spawn_error why;
	kin_proc *p = NULL;
	int r = kin_proc_spawn(loop, &o, &p, &why);
	if (r == 0) {
		kin_proc_free(p);
		char out[64];
		RUN_EXPECT_OK(&o, out);
		ASSERT_STR_EQ(out, "67108864\n");
	} else {
		ASSERT_EQ(r, -EOPNOTSUPP);
		ASSERT_EQ(why.step, KIN_STEP_CGROUP);
		ASSERT(strstr(why.message, "a memory limit is unavailable") != NULL);
	}
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* The cgroup v2 mount point, from mountinfo; false without one. */
static bool cgroup2_mount(char *out, size_t size)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, " - cgroup2 ") && sscanf(line, "%*s %*s %*s %*s %255s", out) == 1 &&
			strlen(out) < size;
	if (f)
		fclose(f);
	return found;
}

static void make_dir_at(const char *parent, const char *name, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", parent, name);
	if (mkdir(path, 0755) < 0)
		test_fail(__FILE__, __LINE__, "mkdir %s: %s", path, strerror(errno));
}

/* Spawns /bin/true with a memory limit under `parent` (NULL: kin's own
 * cgroup) and frees it if it started; the spawn's result. */
static int spawn_with_memory_limit(const char *parent, kin_spawn_error *why)
{
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.memory_max = 64 << 20;
	sb.cgroup_parent = parent;
	const char *argv[] = {"/bin/true", NULL};
	kin_spawn_opts o = helper_opts(argv, &sb);
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_proc *p = NULL;
	int r = kin_proc_spawn(loop, &o, &p, why);
	if (r == 0)
		kin_proc_free(p);
	kin_loop_free(loop);
	return r;
}

/* The library's answer where no cgroup can be made: a clear error. */
static void expect_cgroup_refused(void)
{
	kin_spawn_error why;
	ASSERT(spawn_with_memory_limit(NULL, &why) < 0);
	ASSERT_EQ(why.step, KIN_STEP_CGROUP);
}

/* An owner killed outright leaves its empty cgroups
 * (kin-<pid namespace>-<pid>-<n>); the next kin to use the parent removes
 * those whose owner is gone, and no other: not a live owner's, not one a
 * process still runs in, not another pid namespace's (its pids mean
 * nothing here), not a name kin does not write. */
TEST(sandbox_cgroups_of_a_dead_owner_are_removed)
{
	char mnt[256], parent[400];
	if (!cgroup2_mount(mnt, sizeof(mnt))) {
		expect_cgroup_refused();
		return;
	}
	snprintf(parent, sizeof(parent), "%s/kin-test-orphans-%d", mnt, (int)getpid());
	if (mkdir(parent, 0755) < 0) {
		/* cgroup v2 is here but not ours to write (not root, read-only). */
		ASSERT(errno == EACCES || errno == EPERM || errno == EROFS);
		expect_cgroup_refused();
		return;
	}
	struct stat ns;
	ASSERT_OK(stat("/proc/self/ns/pid", &ns));
	/* Above pid_max no process can be: its owner is surely gone. */
	long pid_max = 0;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
	ASSERT(f && fscanf(f, "%ld", &pid_max) == 1);
	fclose(f);
	unsigned long long ino = (unsigned long long)ns.st_ino;
	char name[96], dead[600], busy[600], live[600], kept[5][600];
	snprintf(name, sizeof(name), "kin-%llu-%ld-0", ino, pid_max + 1);
	make_dir_at(parent, name, dead, sizeof(dead));
	snprintf(name, sizeof(name), "kin-%llu-%ld-1", ino, pid_max + 1);
	make_dir_at(parent, name, busy, sizeof(busy));
	snprintf(name, sizeof(name), "kin-%llu-%d-0", ino, (int)getppid());
	make_dir_at(parent, name, live, sizeof(live));
	/* Another pid namespace's, look-alikes kin never writes, and the
	 * name without a namespace. */
	long gone = pid_max + 1;
	snprintf(name, sizeof(name), "kin-%llu-%ld-0", ino + 1, gone);
	make_dir_at(parent, name, kept[0], sizeof(kept[0]));
	snprintf(name, sizeof(name), "kin-%llu-0%ld-0", ino, gone);
	make_dir_at(parent, name, kept[1], sizeof(kept[1]));
	snprintf(name, sizeof(name), "kin-%llu-%ld--0", ino, gone);
	make_dir_at(parent, name, kept[2], sizeof(kept[2]));
	snprintf(name, sizeof(name), "kin-%llu-%ld-0x", ino, gone);
	make_dir_at(parent, name, kept[3], sizeof(kept[3]));
	snprintf(name, sizeof(name), "kin-%ld-0", gone);
	make_dir_at(parent, name, kept[4], sizeof(kept[4]));
	/* A process still runs in one of the dead owner's (a detached child
	 * would): it must stay. */
	pid_t sleeper = fork();
	ASSERT(sleeper >= 0);
	if (sleeper == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with a failed test */
		pause();
		_exit(0);
	}
	char procs[700], text[32];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", busy);
	snprintf(text, sizeof(text), "%d", (int)sleeper);
	int fd = open(procs, O_WRONLY | O_CLOEXEC);
	ASSERT(fd >= 0);
	ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	/* Whether the limit itself can apply here does not matter. */
	kin_spawn_error why;
	(void)spawn_with_memory_limit(parent, &why);

	ASSERT(access(dead, F_OK) < 0 && errno == ENOENT);
	ASSERT_OK(access(busy, F_OK));
	ASSERT_OK(access(live, F_OK));
	for (int i = 0; i < 5; i++)
		ASSERT_OK(access(kept[i], F_OK));
	ASSERT_OK(kill(sleeper, SIGKILL));
	ASSERT_EQ(waitpid(sleeper, NULL, 0), sleeper);
	ASSERT_OK(rmdir(busy));
	ASSERT_OK(rmdir(live));
	for (int i = 0; i < 5; i++)
		ASSERT_OK(rmdir(kept[i]));
	ASSERT_OK(rmdir(parent));
	ASSERT_NO_CHILDREN();
}

static int failing_hook(int fd, void *userdata)
{
	(void)fd;
	(void)userdata;
	return -EADDRINUSE;
}

/* The hook's fd arrives, and the hook runs inside the new root. */
static int marking_hook(int fd, void *userdata)
{
	(void)userdata;
	return write(fd, "hooked", 6) == 6 && access("/tmp", F_OK) == 0 ? 0 : -EIO;
}

TEST(sandbox_init_hook_runs_inside_and_its_failure_fails_the_spawn)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	kin_sandbox sb = all_namespaces();
	sb.init = marking_hook;
	sb.init_fd = p[1];
	const char *argv[] = {"/bin/true", NULL};
	kin_spawn_opts o = helper_opts(argv, &sb);
	kin_spawn_error why;
	kin_proc *proc;
	ASSERT_OK(kin_proc_spawn(loop, &o, &proc, &why));
	kin_status st;
	ASSERT_OK(kin_proc_wait(proc, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(kin_status_shell_code(&st), 0);
	kin_proc_free(proc);
	close(p[1]);
	char buf[16] = "";
	ASSERT_EQ(read(p[0], buf, sizeof(buf)), 6);
	close(p[0]);
	sb.init = failing_hook;
	sb.init_fd = -1;
	ASSERT_EQ(kin_proc_spawn(loop, &o, &proc, &why), -EADDRINUSE);
	ASSERT_EQ(why.step, KIN_STEP_INIT_HOOK);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Namespaces alone, no mounts and no seccomp: the one sandbox valgrind
 * (3.19, without the new mount API or seccomp) can follow into. */
TEST(sandbox_namespaces_alone_isolate_the_hostname)
{
	int fds = test_count_fds();
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.namespaces = KIN_NS_USER | KIN_NS_PID | KIN_NS_UTS | KIN_NS_IPC | KIN_NS_NET;
	sb.hostname = "kin-alone";
	static const char *const vars[] = {"ONLY=this", NULL};
	const char *argv[4];
	test_helper_argv(argv, 4, "sandbox_look", NULL);
	kin_spawn_opts o = helper_opts(argv, &sb);
	o.env_set = vars;
	char out[1024];
	RUN_EXPECT_OK(&o, out);
	ASSERT(strstr(out, "host kin-alone\n") != NULL);
	ASSERT(strstr(out, "env 1\n") != NULL);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* A symlink planted in a bound directory does not send a later mount out
 * of the sandbox, and the error names the step as the caller numbered it. */
TEST(sandbox_symlink_on_a_mount_path_is_refused)
{
	int fds = test_count_fds();
	char dir[256], link[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(link, sizeof(link), "%s/evil", dir);
	ASSERT_OK(symlink("/", link));
	kin_sandbox sb = all_namespaces();
	kin_mount steps[] = {
		{.kind = KIN_MOUNT_BIND, .source = dir, .dest = "/srv"},
		{.kind = KIN_MOUNT_TMPFS, .dest = "/srv/evil/etc"},
	};
	sb.mounts = steps;
	sb.nmounts = 2;
	const char *argv[] = {"/bin/true", NULL};
	kin_spawn_opts o = helper_opts(argv, &sb);
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_proc *p = NULL;
	kin_spawn_error why;
	ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -ELOOP);
	ASSERT_EQ(why.step, KIN_STEP_MOUNT);
	ASSERT(strstr(why.message, "mount step 1 (tmpfs /srv/evil/etc)") != NULL);
	ASSERT(strstr(why.message, "symlink") != NULL);
	/* A missing source names its step too. */
	steps[1] =
		(kin_mount){.kind = KIN_MOUNT_RO_BIND, .source = "/nonexistent/kin", .dest = "/x"};
	ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -ENOENT);
	ASSERT(strstr(why.message, "mount step 1 (ro-bind /nonexistent/kin /x)") != NULL);
	kin_loop_free(loop);
	test_remove_tree(dir);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* `ps` itself, as the user would run it: only the sandbox. */
TEST(sandbox_ps_lists_only_the_sandbox)
{
	kin_sandbox sb = all_namespaces();
	static const kin_mount steps[] = {{.kind = KIN_MOUNT_PROC, .dest = "/proc"}};
	sb.mounts = steps;
	sb.nmounts = 1;
	const char *argv[] = {"/bin/ps", "-e", "-o", "pid=,comm=", NULL};
	kin_spawn_opts o = helper_opts(argv, &sb);
	char out[1024];
	RUN_EXPECT_OK(&o, out);
	/* kin's pid 1 (named after this binary) and ps. */
	int pid1 = 0, pid2 = 0;
	char name1[64], name2[64];
	ASSERT(sscanf(out, " %d %63s %d %63s", &pid1, name1, &pid2, name2) == 4);
	ASSERT_EQ(pid1, 1);
	ASSERT_EQ(pid2, 2);
	ASSERT_STR_EQ(name2, "ps");
	ASSERT(strchr(strchr(strchr(out, '\n') + 1, '\n') + 1, '\n') == NULL);
	ASSERT_NO_CHILDREN();
}

/* A closed pipe end: stdin reads end of file at once, and stdout's
 * writer dies of SIGPIPE (its disposition was reset to the default). */
TEST(sandbox_stdio_can_be_a_closed_pipe_end)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_sandbox sb = all_namespaces();
	const char *cat[] = {"/bin/cat", NULL};
	kin_spawn_opts o = helper_opts(cat, &sb);
	o.stdio[0].kind = KIN_STDIO_CLOSED_PIPE;
	kin_proc *p;
	kin_spawn_error why;
	kin_status st;
	ASSERT_OK(kin_proc_spawn(loop, &o, &p, &why));
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(kin_status_shell_code(&st), 0);
	kin_proc_free(p);
	const char *yes[] = {"/usr/bin/yes", NULL};
	o = helper_opts(yes, &sb);
	o.stdio[1].kind = KIN_STDIO_CLOSED_PIPE;
	ASSERT_OK(kin_proc_spawn(loop, &o, &p, &why));
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_KILLED);
	ASSERT_EQ(st.signal, SIGPIPE);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* Landlock where the kernel has it: only the named paths, with the named
 * access. Where it lacks it, the documented error, before anything runs. */
TEST(sandbox_landlock_limits_the_paths_or_says_it_cannot)
{
	char dir[256], inside[300], outside[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(inside, sizeof(inside), "write:%s/ok", dir);
	snprintf(outside, sizeof(outside), "write:%s-not-listed", dir);
	kin_landlock_rule rules[] = {
		{.path = "/", .access = KIN_LANDLOCK_READ | KIN_LANDLOCK_EXEC},
		{.path = dir, .access = KIN_LANDLOCK_READ | KIN_LANDLOCK_WRITE},
	};
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.landlock = rules;
	sb.nlandlock = 2;
	const char *argv[8];
	test_helper_argv(argv, 8, "sandbox_try", inside, outside, NULL);
	kin_spawn_opts o = helper_opts(argv, &sb);
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* VERSION */);
	if (abi < 0) {
		kin_loop *loop;
		ASSERT_OK(kin_loop_new(&loop));
		kin_proc *p = NULL;
		kin_spawn_error why;
		ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -EOPNOTSUPP);
		ASSERT_EQ(why.step, KIN_STEP_LANDLOCK);
		ASSERT(strstr(why.message, "landlock rules need landlock") != NULL);
		kin_loop_free(loop);
	} else {
		char out[1024], want[700];
		RUN_EXPECT_OK(&o, out);
		snprintf(want, sizeof(want), "%s 0\n%s %d\n", inside, outside, EACCES);
		ASSERT_STR_EQ(out, want);
		ASSERT(access(outside + 6, F_OK) < 0);
	}
	test_remove_tree(dir);
	ASSERT_NO_CHILDREN();
}

/* A rule whose path the sandbox lacks fails the spawn, naming the rule as
 * the caller numbered it, not only the errno. */
TEST(sandbox_landlock_missing_path_names_the_rule)
{
	kin_landlock_rule rules[] = {
		{.path = "/", .access = KIN_LANDLOCK_READ | KIN_LANDLOCK_EXEC},
		{.path = "/nonexistent-kin-landlock", .access = KIN_LANDLOCK_READ | KIN_LANDLOCK_WRITE},
	};
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.landlock = rules;
	sb.nlandlock = 2;
	static const char *const argv[] = {"/bin/true", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.sandbox = &sb;
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_proc *p = NULL;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, &o, &p, &why);
	ASSERT_EQ(why.step, KIN_STEP_LANDLOCK);
	if (syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* VERSION */) < 0) {
		ASSERT(strstr(why.message, "landlock rules need landlock") != NULL);
	} else {
		ASSERT_EQ(r, -ENOENT);
		ASSERT_STR_EQ(why.message, "sandbox: landlock rule 1 (rw /nonexistent-kin-landlock): "
					   "No such file or directory");
	}
	ASSERT(p == NULL);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* A kernel without landlock, made so with a seccomp filter that answers
 * landlock_create_ruleset with ENOSYS, as such a kernel does: rules are
 * refused before anything runs, never silently dropped. */
TEST(sandbox_landlock_missing_is_a_clear_error)
{
	struct sock_filter no_landlock[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_create_ruleset, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(no_landlock) / sizeof(no_landlock[0]),
				  .filter = no_landlock};
	ASSERT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
	kin_landlock_rule rule = {.path = "/", .access = KIN_LANDLOCK_READ};
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.landlock = &rule;
	sb.nlandlock = 1;
	const char *argv[] = {"/bin/true", NULL};
	kin_spawn_opts o = helper_opts(argv, &sb);
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_proc *p = NULL;
	kin_spawn_error why;
	ASSERT_EQ(kin_proc_spawn(loop, &o, &p, &why), -EOPNOTSUPP);
	ASSERT_EQ(why.step, KIN_STEP_LANDLOCK);
	ASSERT_STR_EQ(why.message, "landlock rules need landlock, which this kernel was built "
				   "without (landlock_create_ruleset: Function not implemented)");
	ASSERT(p == NULL);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}
