/* Stdio and mapped fds: files, shared and swapped fds, /dev/null, closed
 * fds, stderr merged into stdout, pipes and sockets on fd 3, and an owner
 * whose own stdio is closed. */
#include "harness.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Reads an owner pipe to EOF. */
static void read_pipe(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			test_fail(__FILE__, __LINE__, "read: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
}

static kin_status spawn_wait(kin_loop *loop, kin_spawn_opts *o)
{
	kin_proc *p;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, o, &p, &why);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "spawn: %s", why.message);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(20 * KIN_SEC), &st));
	kin_proc_free(p);
	return st;
}

TEST(stdio_to_file)
{
	int fds = test_count_fds();
	char dir[256], file[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/out", dir);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT(fd >= 0);
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "echo to-file; echo err-to-file >&2", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[1] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = fd};
	o.stdio[2] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = fd};
	kin_status st = spawn_wait(loop, &o);
	ASSERT_EQ(st.code, 0);
	/* The owner's fd is left open, and still close-on-exec. */
	ASSERT(fcntl(fd, F_GETFD) == FD_CLOEXEC);
	close(fd);

	/* A file as stdin too. */
	int in = open(file, O_RDONLY | O_CLOEXEC);
	ASSERT(in >= 0);
	const char *cat[] = {"cat", NULL};
	kin_spawn_opts c = KIN_SPAWN_OPTS_INIT;
	c.argv = cat;
	c.stdio[0] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = in};
	char out[256];
	test_spawn_output(loop, &c, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "to-file\nerr-to-file\n");
	close(in);
	kin_loop_free(loop);
	test_remove_tree(dir);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stdio_stdout_and_stderr_share_one_fd)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	const char *argv[] = {"sh", "-c", "echo out; echo err >&2; echo out2", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[1] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = p[1]};
	o.stdio[2] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = p[1]};
	kin_status st = spawn_wait(loop, &o);
	ASSERT_EQ(st.code, 0);
	close(p[1]);
	char buf[256];
	read_pipe(p[0], buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "out\nerr\nout2\n");
	close(p[0]);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

HELPER(stdio_out_err)
{
	(void)argc;
	(void)argv;
	if (write(1, "out", 3) != 3 || write(2, "err", 3) != 3)
		return 1;
	return 0;
}

TEST(stdio_swapped_stdout_and_stderr)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[8];
	test_helper_argv(argv, 8, "stdio_out_err", NULL);
	int a[2], b[2];
	char abuf[64], bbuf[64];

	/* Crosswise, from fds well above stdio. */
	ASSERT_OK(pipe2(a, O_CLOEXEC));
	ASSERT_OK(pipe2(b, O_CLOEXEC));
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[1] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = b[1]};
	o.stdio[2] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = a[1]};
	ASSERT_EQ(spawn_wait(loop, &o).code, 0);
	close(a[1]);
	close(b[1]);
	read_pipe(a[0], abuf, sizeof(abuf));
	read_pipe(b[0], bbuf, sizeof(bbuf));
	close(a[0]);
	close(b[0]);
	ASSERT_STR_EQ(bbuf, "out");
	ASSERT_STR_EQ(abuf, "err");

	/* The hard case: the owner's own fds 1 and 2 are pipes A and B, and the
	 * child gets them swapped, so each source is the other's target. */
	ASSERT_OK(pipe2(a, O_CLOEXEC));
	ASSERT_OK(pipe2(b, O_CLOEXEC));
	int saved1 = fcntl(1, F_DUPFD_CLOEXEC, 10), saved2 = fcntl(2, F_DUPFD_CLOEXEC, 10);
	ASSERT(saved1 >= 0 && saved2 >= 0);
	dup2(a[1], 1);
	dup2(b[1], 2);
	close(a[1]);
	close(b[1]);
	o.stdio[1] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = 2};
	o.stdio[2] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = 1};
	kin_proc *p;
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, &o, &p, &why);
	kin_status st = {0};
	int wr = r == 0 ? kin_proc_wait(p, kin_after(20 * KIN_SEC), &st) : r;
	if (r == 0)
		kin_proc_free(p);
	/* Put our own stdio back before any assertion can print. */
	dup2(saved1, 1);
	dup2(saved2, 2);
	close(saved1);
	close(saved2);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "spawn: %s", why.message);
	ASSERT_OK(wr);
	ASSERT_EQ(st.code, 0);
	read_pipe(a[0], abuf, sizeof(abuf));
	read_pipe(b[0], bbuf, sizeof(bbuf));
	close(a[0]);
	close(b[0]);
	ASSERT_STR_EQ(bbuf, "out"); /* stdout went to the owner's fd 2: B */
	ASSERT_STR_EQ(abuf, "err"); /* stderr went to the owner's fd 1: A */

	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Runs fds_list, reporting to child fd 3 (a pipe), with the given stdio. */
static void list_child_fds(kin_loop *loop, kin_stdio s0, kin_stdio s1, kin_stdio s2, char *out,
			   size_t cap)
{
	/* Our pipe must not land on a closed stdio fd the child inherits. */
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	for (int i = 0; i < 2; i++) {
		int high = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
		close(p[i]);
		p[i] = high;
	}
	const char *argv[8];
	test_helper_argv(argv, 8, "fds_list", "3", NULL);
	kin_fd_map map = {.parent_fd = p[1], .child_fd = 3};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0] = s0;
	o.stdio[1] = s1;
	o.stdio[2] = s2;
	o.fds = &map;
	o.nfds = 1;
	kin_status st = spawn_wait(loop, &o);
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	close(p[1]);
	read_pipe(p[0], out, cap);
	close(p[0]);
}

TEST(stdio_null_and_closed)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_stdio null = {.kind = KIN_STDIO_NULL}, closed = {.kind = KIN_STDIO_CLOSED};
	kin_stdio inherit = {.kind = KIN_STDIO_INHERIT};
	char out[4096];

	list_child_fds(loop, null, null, null, out, sizeof(out));
	ASSERT(strncmp(out, "0 1 2 3\n", 8) == 0);
	ASSERT(strstr(out, "\n0 /dev/null\n") && strstr(out, "\n1 /dev/null\n") &&
	       strstr(out, "\n2 /dev/null\n"));

	list_child_fds(loop, closed, closed, closed, out, sizeof(out));
	ASSERT(strncmp(out, "3\n", 2) == 0);
	list_child_fds(loop, inherit, closed, inherit, out, sizeof(out));
	ASSERT(strncmp(out, "0 2 3\n", 6) == 0);
	list_child_fds(loop, closed, null, inherit, out, sizeof(out));
	ASSERT(strncmp(out, "1 2 3\n", 6) == 0);

	/* NULL: reads see end of file at once, writes vanish. */
	const char *argv[] = {"sh", "-c", "cat; echo gone; echo gone >&2; echo done >&3", NULL};
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	kin_fd_map map = {.parent_fd = p[1], .child_fd = 3};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0] = null;
	o.stdio[1] = null;
	o.stdio[2] = null;
	o.fds = &map;
	o.nfds = 1;
	ASSERT_EQ(spawn_wait(loop, &o).code, 0);
	close(p[1]);
	read_pipe(p[0], out, sizeof(out));
	close(p[0]);
	ASSERT_STR_EQ(out, "done\n");

	/* CLOSED stdout: the child's writes fail (the shell reports it). */
	const char *echo[] = {"sh", "-c", "echo x 2>/dev/null || exit 9", NULL};
	kin_spawn_opts e = KIN_SPAWN_OPTS_INIT;
	e.argv = echo;
	e.stdio[1] = closed;
	e.stdio[2] = null;
	ASSERT_EQ(spawn_wait(loop, &e).code, 9);

	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stdio_stderr_to_stdout)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "echo out; echo err >&2; echo out2", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	o.stdio[2].kind = KIN_STDIO_TO_STDOUT;
	kin_proc *p;
	ASSERT_OK(kin_proc_spawn(loop, &o, &p, NULL));
	ASSERT(kin_proc_stderr(p) == NULL);
	ASSERT(kin_proc_stdin(p) == NULL);
	char out[256];
	test_read_all(kin_proc_stdout(p), out, sizeof(out));
	ASSERT_STR_EQ(out, "out\nerr\nout2\n");
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.code, 0);
	kin_proc_free(p);

	/* Follows stdout wherever it goes: a file fd, or /dev/null. */
	int pp[2];
	ASSERT_OK(pipe2(pp, O_CLOEXEC));
	o.stdio[1] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = pp[1]};
	ASSERT_EQ(spawn_wait(loop, &o).code, 0);
	close(pp[1]);
	read_pipe(pp[0], out, sizeof(out));
	close(pp[0]);
	ASSERT_STR_EQ(out, "out\nerr\nout2\n");

	char lst[4096];
	kin_stdio null = {.kind = KIN_STDIO_NULL}, merge = {.kind = KIN_STDIO_TO_STDOUT};
	kin_stdio closed = {.kind = KIN_STDIO_CLOSED};
	list_child_fds(loop, null, null, merge, lst, sizeof(lst));
	ASSERT(strstr(lst, "\n2 /dev/null\n") != NULL);
	list_child_fds(loop, null, closed, merge, lst, sizeof(lst));
	ASSERT(strncmp(lst, "0 3\n", 4) == 0);

	/* And in tree mode. */
	o.stdio[1].kind = KIN_STDIO_PIPE;
	o.flags = KIN_SPAWN_TREE;
	test_spawn_output(loop, &o, out, sizeof(out), &st);
	ASSERT_STR_EQ(out, "out\nerr\nout2\n");

	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stdio_pipe_on_fd3)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t m = 0; m < 2; m++) {
		int p[2], in[2];
		ASSERT_OK(pipe2(p, O_CLOEXEC));
		ASSERT_OK(pipe2(in, O_CLOEXEC));
		ASSERT(write(in[1], "from-owner\n", 11) == 11);
		close(in[1]);
		/* fd 3 to write to, fd 4 to read from. */
		const char *argv[] = {"sh", "-c", "read line <&4; echo \"via3 $line\" >&3", NULL};
		kin_fd_map map[] = {{.parent_fd = p[1], .child_fd = 3},
				    {.parent_fd = in[0], .child_fd = 4}};
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.flags = modes[m];
		o.fds = map;
		o.nfds = 2;
		spawn_wait(loop, &o);
		close(p[1]);
		close(in[0]);
		char buf[64];
		read_pipe(p[0], buf, sizeof(buf));
		close(p[0]);
		ASSERT_STR_EQ(buf, "via3 from-owner\n");
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Accepts one connection on fd 3 and says "hi" on it. */
HELPER(stdio_accept3)
{
	(void)argc;
	(void)argv;
	int c = accept(3, NULL, NULL);
	if (c < 0)
		return 1;
	if (write(c, "hi", 2) != 2)
		return 2;
	close(c);
	return 0;
}

TEST(stdio_listening_socket_on_fd3)
{
	int fds = test_count_fds();
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT(ls >= 0);
	/* An abstract name: nothing to clean up in the filesystem. */
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int len = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "kin-test-%d", getpid());
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	ASSERT_OK(bind(ls, (struct sockaddr *)&addr, alen));
	ASSERT_OK(listen(ls, 4));

	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[8];
	test_helper_argv(argv, 8, "stdio_accept3", NULL);
	kin_fd_map map = {.parent_fd = ls, .child_fd = 3};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.fds = &map;
	o.nfds = 1;
	kin_proc *p;
	ASSERT_OK(kin_proc_spawn(loop, &o, &p, NULL));
	/* Our copy can go: the child holds the listening socket now. */
	close(ls);

	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT(c >= 0);
	ASSERT_OK(connect(c, (struct sockaddr *)&addr, alen));
	char buf[16];
	read_pipe(c, buf, sizeof(buf));
	close(c);
	ASSERT_STR_EQ(buf, "hi");
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(stdio_owner_without_stdin)
{
	close(0);
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* kin must not have taken fd 0 for itself. */
	ASSERT(fcntl(0, F_GETFD) < 0);
	const char *argv[] = {"cat", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0].kind = KIN_STDIO_PIPE;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p;
	ASSERT_OK(kin_proc_spawn(loop, &o, &p, NULL));
	ASSERT(fcntl(0, F_GETFD) < 0);
	ASSERT(kin_stream_fd(kin_proc_stdin(p)) > 2);
	ASSERT(kin_stream_fd(kin_proc_stdout(p)) > 2);
	ASSERT(kin_proc_pidfd(p) > 2);
	ASSERT_EQ(kin_stream_write(kin_proc_stdin(p), "round trip", 10, kin_after(10 * KIN_SEC)), 10);
	kin_stream_close(kin_proc_stdin(p));
	char buf[64];
	test_read_all(kin_proc_stdout(p), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "round trip");
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.code, 0);
	kin_proc_free(p);

	/* Inheriting a closed stdin gives the child a closed stdin. */
	char lst[4096];
	kin_stdio inherit = {.kind = KIN_STDIO_INHERIT};
	list_child_fds(loop, inherit, inherit, inherit, lst, sizeof(lst));
	ASSERT(strncmp(lst, "1 2 3\n", 6) == 0);
	kin_loop_free(loop);
	ASSERT(fcntl(0, F_GETFD) < 0);
	ASSERT_NO_CHILDREN();
}

TEST(stdio_owner_without_any_stdio)
{
	/* Keep a way to report, then close all three. */
	int report = fcntl(2, F_DUPFD_CLOEXEC, 20);
	ASSERT(report >= 0);
	close(0);
	close(1);
	close(2);
	int stage = 0;
	int low_fd = -1;
	kin_loop *loop = NULL;
	kin_proc *p = NULL;
	char buf[64] = "";
	kin_status st = {0};
	const char *argv[] = {"sh", "-c", "cat; echo tree >&2", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_TREE;
	o.stdio[0].kind = KIN_STDIO_PIPE;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	o.stdio[2].kind = KIN_STDIO_TO_STDOUT;
	if (kin_loop_new(&loop) < 0)
		goto out;
	stage = 1;
	if (kin_proc_spawn(loop, &o, &p, NULL) < 0)
		goto out;
	stage = 2;
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			low_fd = fd;
	if (kin_stream_write(kin_proc_stdin(p), "all closed\n", 11, kin_after(10 * KIN_SEC)) != 11)
		goto out;
	kin_stream_close(kin_proc_stdin(p));
	stage = 3;
	size_t len = 0;
	for (;;) {
		ssize_t r = kin_stream_read(kin_proc_stdout(p), buf + len, sizeof(buf) - 1 - len,
					    kin_after(10 * KIN_SEC));
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = 0;
	if (kin_proc_wait(p, kin_after(10 * KIN_SEC), &st) < 0)
		goto out;
	stage = 4;
out:
	kin_proc_free(p);
	kin_loop_free(loop);
	dup2(report, 2);
	close(report);
	ASSERT_EQ(stage, 4);
	ASSERT_EQ(low_fd, -1);
	ASSERT_STR_EQ(buf, "all closed\ntree\n");
	ASSERT_EQ(st.code, 0);
	ASSERT_NO_CHILDREN();
}

/* (Named so the valgrind pass skips it: valgrind cannot follow a detached
 * spawn.) */
TEST(detached_child_gets_pipes_and_mapped_fds)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	const char *argv[] = {"sh", "-c", "read line; echo \"via3 $line\" >&3; echo out", NULL};
	kin_fd_map map = {.parent_fd = p[1], .child_fd = 3};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_DETACHED;
	o.fds = &map;
	o.nfds = 1;
	o.stdio[0].kind = KIN_STDIO_PIPE;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *proc;
	ASSERT_OK(kin_proc_spawn(loop, &o, &proc, NULL));
	close(p[1]);
	ASSERT_EQ(kin_stream_write(kin_proc_stdin(proc), "hello\n", 6, kin_after(10 * KIN_SEC)), 6);
	char out[64], buf[64];
	test_read_all(kin_proc_stdout(proc), out, sizeof(out));
	ASSERT_STR_EQ(out, "out\n");
	read_pipe(p[0], buf, sizeof(buf));
	close(p[0]);
	ASSERT_STR_EQ(buf, "via3 hello\n");
	kin_status st;
	ASSERT_OK(kin_proc_wait(proc, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(st.kind, KIN_EXIT_UNKNOWN);
	kin_proc_free(proc);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}
