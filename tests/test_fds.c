/* Fds: a child receives exactly the fds it was given, and spawning, however
 * often and however it ends, leaves no fd behind in the owner. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Writes "0 1 2 ...\n" (the open fds), then one "N TARGET" line per fd, to
 * the fd named by argv[1] (default 1). */
HELPER(fds_list)
{
	int out = argc > 1 ? atoi(argv[1]) : 1;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 2;
	int fds[256], n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd != dirfd(d))
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 1; i < n; i++) /* readdir's order is not promised */
		for (int j = i; j > 0 && fds[j] < fds[j - 1]; j--) {
			int t = fds[j];
			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	static char buf[65536];
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d", i ? " " : "", fds[i]);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n");
	for (int i = 0; i < n && len < sizeof(buf) - 512; i++) {
		char path[64], target[256];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		ssize_t t = readlink(path, target, sizeof(target) - 1);
		target[t > 0 ? t : 0] = 0;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%d %s\n", fds[i], target);
	}
	return write(out, buf, len) == (ssize_t)len ? 0 : 3;
}

/* The first line of fds_list's output: the child's open fds. */
static void first_line(const char *out, char *line, size_t cap)
{
	size_t n = strcspn(out, "\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(line, out, n);
	line[n] = 0;
}

TEST(fds_no_parent_fd_leaks_into_child)
{
	int fds = test_count_fds();
	/* A mess of inheritable fds, as careless host code leaves them. */
	int leaky[8], nleaky = 0;
	leaky[nleaky++] = open("/dev/null", O_RDONLY);
	leaky[nleaky++] = open("/dev/null", O_WRONLY);
	int p[2], sp[2];
	ASSERT_OK(pipe(p));
	leaky[nleaky++] = p[0];
	leaky[nleaky++] = p[1];
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	leaky[nleaky++] = sp[0];
	leaky[nleaky++] = sp[1];
	leaky[nleaky++] = dup(1);
	leaky[nleaky++] = fcntl(0, F_DUPFD, 100);
	for (int i = 0; i < nleaky; i++)
		ASSERT(leaky[i] >= 0 && !(fcntl(leaky[i], F_GETFD) & FD_CLOEXEC));

	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[8];
	test_helper_argv(argv, 8, "fds_list", "1", NULL);
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_DETACHED, KIN_SPAWN_NEW_SESSION};
	for (size_t m = 0; m < 4; m++) {
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.flags = modes[m];
		o.stdio[0].kind = KIN_STDIO_NULL;
		static char out[65536];
		char line[256];
		kin_status st;
		test_spawn_output(loop, &o, out, sizeof(out), &st);
		first_line(out, line, sizeof(line));
		if (strcmp(line, "0 1 2") != 0)
			test_fail(__FILE__, __LINE__, "flags 0x%x: child has fds %s\n%s", modes[m],
				  line, out);

		/* Mapped fds, with gaps below and between them, and one mapped
		 * from a leaky fd: only the targets show up. */
		kin_fd_map map[] = {{.parent_fd = leaky[3], .child_fd = 9},
				    {.parent_fd = leaky[0], .child_fd = 5}};
		o.fds = map;
		o.nfds = 2;
		test_spawn_output(loop, &o, out, sizeof(out), &st);
		first_line(out, line, sizeof(line));
		if (strcmp(line, "0 1 2 5 9") != 0)
			test_fail(__FILE__, __LINE__, "flags 0x%x: child has fds %s\n%s", modes[m],
				  line, out);
	}
	kin_loop_free(loop);
	for (int i = 0; i < nleaky; i++)
		close(leaky[i]);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(fds_mapped_fds_keep_no_close_on_exec_and_owner_keeps_its_own)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	/* The child's fd 3 is our stdout-pipe's write end; its fd 4 is fd 3's
	 * own number in the owner, so a naive dup2 order would clobber. */
	int s = fcntl(p[1], F_DUPFD_CLOEXEC, 4);
	ASSERT(s >= 4);
	const char *argv[] = {"sh", "-c", "echo to3 >&3; echo to4 >&4", NULL};
	kin_fd_map map[] = {{.parent_fd = p[1], .child_fd = 3}, {.parent_fd = s, .child_fd = 4}};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.fds = map;
	o.nfds = 2;
	kin_proc *proc;
	ASSERT_OK(kin_proc_spawn(loop, &o, &proc, NULL));
	kin_status st;
	ASSERT_OK(kin_proc_wait(proc, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.code, 0);
	kin_proc_free(proc);
	/* The owner's fds are still its own, still close-on-exec. */
	ASSERT(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	ASSERT(fcntl(s, F_GETFD) & FD_CLOEXEC);
	close(p[1]);
	close(s);
	char buf[64] = "";
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	ASSERT(n > 0);
	buf[n] = 0;
	ASSERT_STR_EQ(buf, "to3\nto4\n");
	close(p[0]);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

#ifdef __SANITIZE_ADDRESS__
#define MANY_SPAWNS 2000
#else
#define MANY_SPAWNS 10000
#endif

TEST_TIMEOUT(fds_no_leak_after_many_spawns, 60)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	test_warm_loop(loop);
	/* What the loop keeps for itself: epoll fd, timerfd, maybe a spawner. */
	int loop_fds = test_count_fds();
	const char *argv[] = {"/bin/true", NULL};
	for (int i = 0; i < MANY_SPAWNS; i++) {
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		/* Every tenth with pipes, so stream fds are counted too. */
		if (i % 10 == 0) {
			o.stdio[0].kind = KIN_STDIO_PIPE;
			o.stdio[1].kind = KIN_STDIO_PIPE;
			o.stdio[2].kind = KIN_STDIO_PIPE;
		}
		kin_proc *p;
		kin_spawn_error why;
		int r = kin_proc_spawn(loop, &o, &p, &why);
		if (r < 0)
			test_fail(__FILE__, __LINE__, "spawn %d: %s", i, why.message);
		kin_status st;
		ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
		ASSERT_EQ(st.kind, KIN_EXITED);
		ASSERT_EQ(st.code, 0);
		kin_proc_free(p);
	}
	ASSERT_EQ(test_count_fds(), loop_fds);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST_TIMEOUT(fds_no_leak_after_failed_spawns, 60)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *missing[] = {"kin-missing-program-xyz", NULL};
	const char *argv[] = {"/bin/true", NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_DETACHED};
	for (int i = 0; i < 600; i++) {
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = missing;
		o.flags = modes[i % 3];
		o.stdio[0].kind = KIN_STDIO_PIPE;
		o.stdio[1].kind = KIN_STDIO_PIPE;
		o.stdio[2].kind = KIN_STDIO_NULL;
		kin_proc *p = NULL;
		ASSERT_EQ(kin_proc_spawn(loop, &o, &p, NULL), -ENOENT);
		ASSERT(p == NULL);
		/* And failures before anything ran. */
		o.argv = argv;
		o.cwd = "/nonexistent-kin-dir";
		ASSERT_EQ(kin_proc_spawn(loop, &o, &p, NULL), -ENOENT);
		o.cwd = NULL;
		o.flags = 1u << 30;
		ASSERT_EQ(kin_proc_spawn(loop, &o, &p, NULL), -EINVAL);
		ASSERT_NO_CHILDREN();
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* (Not *spawn_*: it spawns detached, which valgrind cannot follow.) */
static void *out_of_fds_rounds(void *unused)
{
	(void)unused;
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	struct rlimit saved;
	ASSERT_OK(getrlimit(RLIMIT_NOFILE, &saved));
	const char *argv[] = {"/bin/true", NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_DETACHED};
	int failures = 0, successes = 0;
	test_warm_loop(loop); /* the spawner's socket lives as long as the loop */
	for (size_t m = 0; m < 3; m++) {
		/* The tree's lifeline lives as long as the loop: make it first. */
		if (modes[m] == KIN_SPAWN_TREE) {
			kin_spawn_opts t = KIN_SPAWN_OPTS_INIT;
			t.argv = argv;
			t.flags = KIN_SPAWN_TREE;
			char out[8];
			test_spawn_output(loop, &t, out, sizeof(out), NULL);
		}
		int base = test_count_fds();
		/* Every limit from "no fd to spare" up to "plenty": each step of
		 * the spawn runs out in turn. */
		for (int extra = 0; extra <= 16; extra++) {
			kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
			o.argv = argv;
			o.flags = modes[m];
			o.stdio[0].kind = KIN_STDIO_PIPE;
			o.stdio[1].kind = KIN_STDIO_PIPE;
			o.stdio[2].kind = KIN_STDIO_NULL;
			/* Fds are numbered densely from 0 here: the limit is the count. */
			struct rlimit tight = {.rlim_cur = (rlim_t)(base + extra),
					       .rlim_max = saved.rlim_max};
			ASSERT_OK(setrlimit(RLIMIT_NOFILE, &tight));
			kin_proc *p = NULL;
			kin_spawn_error why;
			int r = kin_proc_spawn(loop, &o, &p, &why);
			ASSERT_OK(setrlimit(RLIMIT_NOFILE, &saved));
			if (r < 0) {
				failures++;
				if (r != -EMFILE && r != -ENFILE)
					test_fail(__FILE__, __LINE__, "flags 0x%x, %d spare: %s", modes[m],
						  extra, why.message);
				ASSERT(p == NULL);
			} else {
				successes++;
				kin_status st;
				ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
				kin_proc_free(p);
			}
			if (test_count_fds() != base)
				test_fail(__FILE__, __LINE__, "flags 0x%x, %d spare: %d fds, had %d",
					  modes[m], extra, test_count_fds(), base);
			ASSERT_NO_CHILDREN();
		}
	}
	ASSERT(failures > 0);
	ASSERT(successes > 0);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
	return NULL;
}

/* Run out of fds at every step of a spawn, on both ways a child is made:
 * by the main thread itself, and by the loop's spawner thread (which any
 * other thread's spawn goes through). */
TEST(fds_none_leak_when_out_of_fds)
{
	out_of_fds_rounds(NULL);
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, out_of_fds_rounds, NULL), 0);
	ASSERT_EQ(pthread_join(t, NULL), 0);
}
