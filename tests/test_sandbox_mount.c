/* A sandbox's new root (src/sandbox/mount.c), driven directly. Each test
 * forks a child that enters new user and mount namespaces (and, where proc
 * is involved, a new pid namespace as its pid 1), builds a root with
 * kin__root_build and checks from inside what it can see. The child
 * reports through a pipe: nothing when all is well, else what went wrong. */
#include "harness.h"

#include "../src/sandbox/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define TMPFS_MAGIC_ 0x01021994
#define DEVPTS_MAGIC_ 0x1cd1
#define PROC_MAGIC_ 0x9fa0

/* ---- inside the child */

static int report_fd = -1;

/* Sends a message to the test and ends the child. */
static _Noreturn __attribute__((format(printf, 2, 3))) void inside_fail(int line, const char *fmt,
									...)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "[line %d] ", line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	ssize_t w = write(report_fd, msg, strlen(msg));
	(void)w;
	_exit(1);
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			inside_fail(__LINE__, __VA_ARGS__);                                        \
	} while (0)
/* expr must fail with errno `err`. */
#define CHECK_ERRNO(expr, err)                                                                     \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(expr);                                                            \
		CHECK(r_ < 0 && errno == (err), "%s: expected %s, got %ld (%s)", #expr,            \
		      strerror(err), r_, strerror(errno));                                         \
	} while (0)
#define CHECK_OK(expr)                                                                             \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(expr);                                                            \
		CHECK(r_ >= 0, "%s failed: %s", #expr, strerror(errno));                           \
	} while (0)

static void write_proc_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s: %s", path,
	      strerror(errno));
	close(fd);
}

/* New user and mount namespaces, this process being root in the first
 * (mapped to whoever it was), as an unprivileged sandbox would be. */
static void enter_namespaces(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	CHECK(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
	char map[64];
	write_proc_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	write_proc_file("/proc/self/gid_map", map);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	write_proc_file("/proc/self/uid_map", map);
}

/* Open fds, counted without /proc, which the new root may not have. */
static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Runs kin__root_build on exactly KIN__ROOT_SCRATCH bytes of heap (so the
 * sanitizers see an overrun); checks that it leaves no fd behind and the
 * umask as it was. Returns what it returned. */
static int try_build(const kin__mount_step *steps, size_t n, size_t *failed)
{
	char *scratch = malloc(KIN__ROOT_SCRATCH);
	CHECK(scratch, "out of memory");
	mode_t mask = umask(027);
	int fds = count_fds();
	kin__root_plan plan = {.steps = steps, .nsteps = n, .scratch = scratch};
	int r = kin__root_build(&plan, failed);
	CHECK(count_fds() == fds, "%d fds open after the build, %d before", count_fds(), fds);
	CHECK(umask(mask) == 027, "the build left the umask changed");
	free(scratch);
	return r;
}

static const char *step_name(const kin__mount_step *steps, size_t n, size_t i)
{
	return i < n ? kin__mount_kind_name(steps[i].kind) : "the root itself";
}

/* Builds the root or fails the test, and checks that the cwd is the new /. */
static void build(const kin__mount_step *steps, size_t n)
{
	size_t failed = 12345;
	int r = try_build(steps, n, &failed);
	CHECK(r == 0, "kin__root_build: %s at step %zu (%s)", strerror(-r), failed,
	      step_name(steps, n, failed));
	char cwd[64];
	CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0, "the cwd is not /");
}

/* The build must fail with err at step `at`. */
static void build_fails(const kin__mount_step *steps, size_t n, int err, size_t at)
{
	size_t failed = 12345;
	int r = try_build(steps, n, &failed);
	CHECK(r == -err, "kin__root_build: expected %s, got %d (%s)", strerror(err), r,
	      r < 0 ? strerror(-r) : "success");
	CHECK(failed == at, "failed at step %zu (%s), expected %zu", failed,
	      step_name(steps, n, failed), at);
}

#define BUILD(...)                                                                                 \
	do {                                                                                       \
		const kin__mount_step steps_[] = {__VA_ARGS__};                                    \
		build(steps_, KIN_ARRAY_SIZE(steps_));                                             \
	} while (0)
#define BUILD_FAILS(err, at, ...)                                                                  \
	do {                                                                                       \
		const kin__mount_step steps_[] = {__VA_ARGS__};                                    \
		build_fails(steps_, KIN_ARRAY_SIZE(steps_), err, at);                              \
	} while (0)

#define STEP(kind_, source_, dest_)                                                                \
	{                                                                                          \
		.kind = KIN_MOUNT_##kind_, .source = source_, .dest = dest_, .mode = 0755          \
	}
#define STEP_MODE(kind_, dest_, mode_)                                                             \
	{                                                                                          \
		.kind = KIN_MOUNT_##kind_, .dest = dest_, .mode = mode_                            \
	}

static void read_text(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	size_t len = 0;
	ssize_t n;
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	CHECK(len < cap - 1, "%s is too long", path);
	buf[len] = '\0';
	close(fd);
}

static void check_text(const char *path, const char *want)
{
	char buf[256];
	read_text(path, buf, sizeof(buf));
	CHECK(strcmp(buf, want) == 0, "%s holds \"%s\", not \"%s\"", path, buf, want);
}

/* Creating path must fail with err (or succeed, for err 0). */
static void check_create(const char *path, int err)
{
	errno = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	CHECK(err ? fd < 0 && errno == err : fd >= 0, "creating %s: %s, expected %s", path,
	      fd >= 0 ? "it worked" : strerror(errno), err ? strerror(err) : "success");
}

/* /dev/null opens for writing and takes a write: a usable device node. */
static void check_dev_null(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open /dev/null: %s", strerror(errno));
	CHECK(write(fd, "x", 1) == 1, "write /dev/null: %s", strerror(errno));
	close(fd);
}

static void check_link(const char *path, const char *want)
{
	char buf[256];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	CHECK(n >= 0, "readlink %s: %s", path, strerror(errno));
	buf[n] = '\0';
	CHECK(strcmp(buf, want) == 0, "%s -> \"%s\", not \"%s\"", path, buf, want);
}

static void check_mode(const char *path, mode_t want)
{
	struct stat st;
	CHECK(lstat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	CHECK(st.st_mode == want, "%s has mode %o, not %o", path, (unsigned)st.st_mode,
	      (unsigned)want);
}

static void check_fs(const char *path, long type)
{
	struct statfs sf;
	CHECK(statfs(path, &sf) == 0, "statfs %s: %s", path, strerror(errno));
	CHECK((long)sf.f_type == type, "%s is on fs %#lx, not %#lx", path, (long)sf.f_type, type);
}

static void check_absent(const char *path)
{
	struct stat st;
	CHECK_ERRNO(lstat(path, &st), ENOENT);
}

/* The names in a directory, sorted and joined by spaces. */
static void list_dir(const char *path, char *buf, size_t cap)
{
	char names[32][64];
	size_t n = 0;
	DIR *d = opendir(path);
	CHECK(d, "opendir %s: %s", path, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && n < 32 &&
		    strlen(e->d_name) < 64)
			memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];
			memcpy(t, names[j], 64);
			memcpy(names[j], names[j - 1], 64);
			memcpy(names[j - 1], t, 64);
		}
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? " " : "", names[i]);
}

static void check_dir(const char *path, const char *want)
{
	char buf[1024];
	list_dir(path, buf, sizeof(buf));
	CHECK(strcmp(buf, want) == 0, "%s holds \"%s\", not \"%s\"", path, buf, want);
}

/* ---- the test's side */

enum {
	IN_PID = 1u << 0,    /* also a new pid namespace, the body its pid 1 */
	IN_NOBODY = 1u << 1, /* as an unprivileged user (nobody) */
	IN_PLACE = 1u << 2,  /* in no new namespace at all */
};

typedef void (*inside_fn)(void);

static _Noreturn void inside(unsigned how, inside_fn body)
{
	if (how & IN_NOBODY) {
		CHECK(setgroups(0, NULL) == 0, "setgroups: %s", strerror(errno));
		CHECK(setresgid(65534, 65534, 65534) == 0, "setresgid: %s", strerror(errno));
		CHECK(setresuid(65534, 65534, 65534) == 0, "setresuid: %s", strerror(errno));
		/* Changing uids made /proc/self root's: the maps need it ours. */
		CHECK(prctl(PR_SET_DUMPABLE, 1) == 0, "PR_SET_DUMPABLE: %s", strerror(errno));
	}
	if (!(how & IN_PLACE))
		enter_namespaces();
	if (!(how & IN_PID)) {
		body();
		_exit(0);
	}
	CHECK(unshare(CLONE_NEWPID) == 0, "unshare(CLONE_NEWPID): %s", strerror(errno));
	pid_t init = fork();
	CHECK(init >= 0, "fork: %s", strerror(errno));
	if (init == 0) {
		body();
		_exit(0);
	}
	int st;
	CHECK(waitpid(init, &st, 0) == init, "waitpid: %s", strerror(errno));
	CHECK(WIFEXITED(st), "pid 1 ended with status %#x", st);
	_exit(WEXITSTATUS(st));
}

/* Runs body in a child (see inside()) and fails the test, at the caller's
 * line, with what the child reported. */
static void run_inside(unsigned how, inside_fn body, int line)
{
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		inside(how, body);
	}
	close(p[1]);
	char msg[1024];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(msg) - 1 && (n = read(p[0], msg + len, sizeof(msg) - 1 - len)) > 0)
		len += (size_t)n;
	msg[len] = '\0';
	close(p[0]);
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (len || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		test_fail(__FILE__, line, "inside: %s (status %#x)", len ? msg : "(no message)",
			  st);
}

#define RUN_INSIDE(how, body) run_inside(how, body, __LINE__)

/* A host directory the tests bind, and removing it. */
static char host[64];

static void host_make(void)
{
	test_make_tmpdir(host, sizeof(host));
}

static const char *host_path(const char *name)
{
	static char paths[4][128];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, sizeof(paths[0]), "%s/%s", host, name);
	return p;
}

static void host_mkdir(const char *name)
{
	ASSERT_EQ(mkdir(host_path(name), 0755), 0);
}

static void host_symlink(const char *target, const char *name)
{
	ASSERT_EQ(symlink(target, host_path(name)), 0);
}

/* This process's mount table: the host's, which no build may change. */
static char *mount_table(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	ASSERT(f);
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	ASSERT(buf);
	len = fread(buf, 1, cap - 1, f);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void check_same_table(char *before)
{
	char *after = mount_table();
	if (strcmp(before, after) != 0)
		test_fail(__FILE__, __LINE__, "the host's mount table changed:\n%s\n--- now:\n%s",
			  before, after);
	free(before);
	free(after);
}

static void finish(char *table)
{
	check_same_table(table);
	test_remove_tree(host);
	ASSERT_NO_CHILDREN();
}

/* ---- the tests */

TEST(sandbox_mount_kind_names)
{
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_BIND), "bind");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_RO_BIND), "ro-bind");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_DEV_BIND), "dev-bind");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_TMPFS), "tmpfs");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_PROC), "proc");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_DEV), "dev");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_DIR), "dir");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_SYMLINK), "symlink");
	ASSERT_STR_EQ(kin__mount_kind_name(KIN_MOUNT_REMOUNT_RO), "remount-ro");
	ASSERT_STR_EQ(kin__mount_kind_name((kin_mount_kind)0), "unknown");
	ASSERT_STR_EQ(kin__mount_kind_name((kin_mount_kind)99), "unknown");
}

static void ro_bind_body(void)
{
	/* A mount below the source, in this namespace only: the copy must
	 * take it along, read-only too. */
	CHECK_OK(mount("tmpfs", host_path("sub"), "tmpfs", 0, NULL));
	int fd = open(host_path("sub/below"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0, "create sub/below: %s", strerror(errno));
	close(fd);
	BUILD(STEP(RO_BIND, host, "/data"));
	check_text("/data/f", "hello");
	check_create("/data/f", EROFS);
	check_create("/data/new", EROFS);
	check_mode("/data/sub/below", S_IFREG | 0644);
	check_create("/data/sub/new", EROFS);
	struct statvfs sv;
	CHECK_OK(statvfs("/data", &sv));
	CHECK(sv.f_flag & ST_RDONLY, "/data is not read-only");
	CHECK(sv.f_flag & ST_NODEV, "/data allows devices");
	CHECK(sv.f_flag & ST_NOSUID, "/data allows set-user-id");
}

TEST(sandbox_mount_ro_bind_reads_but_refuses_writes_all_the_way_down)
{
	char *table = mount_table();
	host_make();
	test_write_file(host_path("f"), "hello", 0644);
	host_mkdir("sub");
	RUN_INSIDE(0, ro_bind_body);
	finish(table);
}

static void bind_body(void)
{
	BUILD(STEP(BIND, host, "/data"));
	int fd = open("/data/out", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0, "create /data/out: %s", strerror(errno));
	CHECK(write(fd, "written", 7) == 7, "write: %s", strerror(errno));
	close(fd);
	struct statvfs sv;
	CHECK_OK(statvfs("/data", &sv));
	CHECK(!(sv.f_flag & ST_RDONLY), "/data is read-only");
	CHECK(sv.f_flag & ST_NODEV, "/data allows devices");
}

TEST(sandbox_mount_bind_is_writable_and_writes_reach_the_host)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(0, bind_body);
	char buf[64];
	int fd = open(host_path("out"), O_RDONLY | O_CLOEXEC);
	ASSERT(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_EQ(n, 7);
	buf[n] = '\0';
	ASSERT_STR_EQ(buf, "written");
	finish(table);
}

static void dev_bind_body(void)
{
	BUILD(STEP(DEV_BIND, "/dev", "/dev"), STEP(BIND, "/dev", "/nodev"));
	check_dev_null();
	/* The same node through a plain bind is refused: nodev. */
	CHECK_ERRNO(open("/nodev/null", O_WRONLY | O_CLOEXEC), EACCES);
}

TEST(sandbox_mount_dev_bind_keeps_devices_and_bind_does_not)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(0, dev_bind_body);
	finish(table);
}

static void tmpfs_body(void)
{
	BUILD(STEP_MODE(TMPFS, "/t", 01777), STEP_MODE(TMPFS, "/deep/er/u", 0700));
	check_fs("/", TMPFS_MAGIC_);
	check_mode("/", S_IFDIR | 0755);
	check_fs("/t", TMPFS_MAGIC_);
	check_mode("/t", S_IFDIR | 01777);
	check_fs("/deep/er/u", TMPFS_MAGIC_);
	check_mode("/deep/er/u", S_IFDIR | 0700);
	/* Made parents are 0755 whatever the caller's umask (027 here). */
	check_mode("/deep/er", S_IFDIR | 0755);
	check_create("/t/x", 0);
	check_dir("/", "deep t");
	check_dir("/t", "x");
}

TEST(sandbox_mount_tmpfs_has_its_mode)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(0, tmpfs_body);
	finish(table);
}

static void dir_symlink_body(void)
{
	BUILD(STEP_MODE(DIR, "/a/b/c", 0700), STEP_MODE(DIR, "/a", 0700),
	      STEP(SYMLINK, "/a/b", "/l"), STEP(SYMLINK, "../a", "/a/b/rel"),
	      STEP(SYMLINK, "/a/b", "//l/"), STEP_MODE(DIR, "/./a/./b/", 0700));
	check_mode("/a", S_IFDIR | 0755); /* it was there already */
	check_mode("/a/b", S_IFDIR | 0755);
	check_mode("/a/b/c", S_IFDIR | 0700);
	check_link("/l", "/a/b");
	check_link("/a/b/rel", "../a");
	check_mode("/l/c", S_IFDIR | 0700); /* the link works once inside */
	check_dir("/", "a l");
}

static void symlink_clash_body(void)
{
	BUILD_FAILS(EEXIST, 1, STEP(SYMLINK, "/a", "/l"), STEP(SYMLINK, "/b", "/l"));
}

static void symlink_over_dir_body(void)
{
	BUILD_FAILS(EEXIST, 1, STEP_MODE(DIR, "/d", 0755), STEP(SYMLINK, "/b", "/d"));
}

static void dir_over_file_body(void)
{
	BUILD_FAILS(ENOTDIR, 2, STEP_MODE(DIR, "/d", 0755), STEP(BIND, "/etc/passwd", "/d/f"),
		    STEP_MODE(DIR, "/d/f/x", 0755));
}

TEST(sandbox_mount_dir_and_symlink)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(0, dir_symlink_body);
	RUN_INSIDE(0, symlink_clash_body);
	RUN_INSIDE(0, symlink_over_dir_body);
	RUN_INSIDE(0, dir_over_file_body);
	finish(table);
}

static void remount_body(void)
{
	BUILD(STEP_MODE(TMPFS, "/t", 0755), STEP_MODE(DIR, "/t/x", 0755),
	      STEP(REMOUNT_RO, NULL, "/t/x"), STEP(BIND, host, "/data"),
	      STEP_MODE(TMPFS, "/data/sub", 0755), STEP(REMOUNT_RO, NULL, "/data"));
	check_create("/t/y", 0);
	check_create("/t/x/z", EROFS);
	check_create("/data/new", EROFS);
	check_create("/data/sub/new", EROFS); /* all the way down */
}

static void remount_missing_body(void)
{
	BUILD_FAILS(ENOENT, 1, STEP_MODE(TMPFS, "/t", 0755), STEP(REMOUNT_RO, NULL, "/t/none"));
}

static void remount_root_body(void)
{
	BUILD(STEP_MODE(DIR, "/d", 0755), STEP(REMOUNT_RO, NULL, "/"));
	check_create("/x", EROFS);
	check_create("/d/x", EROFS);
}

TEST(sandbox_mount_remount_ro)
{
	char *table = mount_table();
	host_make();
	host_mkdir("sub");
	RUN_INSIDE(0, remount_body);
	RUN_INSIDE(0, remount_missing_body);
	RUN_INSIDE(0, remount_root_body);
	struct stat st;
	ASSERT_EQ(stat(host_path("new"), &st), -1);
	finish(table);
}

static void dev_body(void)
{
	BUILD(STEP(DEV, NULL, "/dev"));
	check_dir("/dev", "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero");
	check_dev_null();
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open /dev/zero: %s", strerror(errno));
	char buf[16];
	memset(buf, 'x', sizeof(buf));
	CHECK(read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "read /dev/zero");
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK(buf[i] == 0, "/dev/zero gave %d at %zu", buf[i], i);
	close(fd);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open /dev/full: %s", strerror(errno));
	CHECK_ERRNO(write(fd, "x", 1), ENOSPC);
	close(fd);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "read /dev/urandom");
	close(fd);
	struct stat st;
	CHECK(stat("/dev/tty", &st) == 0 && S_ISCHR(st.st_mode), "/dev/tty is not a device");
	check_absent("/dev/sda");
	check_link("/dev/fd", "/proc/self/fd");
	check_link("/dev/stdin", "/proc/self/fd/0");
	check_link("/dev/stdout", "/proc/self/fd/1");
	check_link("/dev/stderr", "/proc/self/fd/2");
	check_link("/dev/ptmx", "pts/ptmx");
	check_mode("/dev/shm", S_IFDIR | 01777);
	check_fs("/dev/pts", DEVPTS_MAGIC_);
	/* A pty of the sandbox's own devpts, through the ptmx link. */
	fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	CHECK(fd >= 0, "open /dev/ptmx: %s", strerror(errno));
	int n;
	CHECK_OK(ioctl(fd, TIOCGPTN, &n));
	CHECK(n == 0, "the first pty is %d: not a devpts of its own", n);
	check_dir("/dev/pts", "0 ptmx");
	close(fd);
}

TEST(sandbox_mount_dev_is_minimal_and_works)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(0, dev_body);
	finish(table);
}

static void proc_body(void)
{
	BUILD(STEP(PROC, NULL, "/proc"));
	check_fs("/proc", PROC_MAGIC_);
	check_link("/proc/self", "1");
	check_dir("/", "proc");
	/* Only this process is in its pid namespace. */
	DIR *d = opendir("/proc");
	CHECK(d, "opendir /proc: %s", strerror(errno));
	struct dirent *e;
	int pids = 0;
	while ((e = readdir(d)))
		pids += atoi(e->d_name) > 0;
	closedir(d);
	CHECK(pids == 1, "/proc shows %d processes", pids);
}

TEST(sandbox_mount_proc_shows_its_own_pid_namespace)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(IN_PID, proc_body);
	finish(table);
}

/* The commonest config: the host's root read-only, a tmpfs /tmp, a proc
 * and a dev; and a host directory bound writable below the tmpfs. */
static void ro_root_body(void)
{
	BUILD(STEP(RO_BIND, "/", "/"), STEP_MODE(TMPFS, "/tmp", 01777), STEP(PROC, NULL, "/proc"),
	      STEP(DEV, NULL, "/dev"), STEP(BIND, host, "/tmp/host"));
	struct stat st;
	CHECK(stat("/bin/sh", &st) == 0, "no /bin/sh: %s", strerror(errno));
	check_create("/etc/kin-mount-test", EROFS);
	check_create("/kin-mount-test", EROFS);
	check_mode("/tmp", S_IFDIR | 01777);
	check_fs("/tmp", TMPFS_MAGIC_);
	check_dir("/tmp", "host");
	check_absent(host); /* the host's /tmp is covered */
	check_create("/tmp/host/out", 0);
	check_link("/proc/self", "1");
	check_dev_null();
}

TEST(sandbox_mount_ro_root_with_tmp_proc_and_dev)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(IN_PID, ro_root_body);
	struct stat st;
	ASSERT_EQ(stat(host_path("out"), &st), 0);
	finish(table);
}

/* ---- symlink attacks: a host directory, bound at /a, holds links out */

static void escape_root_body(void)
{
	BUILD_FAILS(ELOOP, 1, STEP(BIND, host, "/a"), STEP_MODE(TMPFS, "/a/evil/kin-escape", 0755));
}

static void escape_etc_body(void)
{
	BUILD_FAILS(ELOOP, 1, STEP(BIND, host, "/a"),
		    STEP_MODE(TMPFS, "/a/evil2/kin-escape", 0755));
}

static void escape_dir_body(void)
{
	BUILD_FAILS(ELOOP, 1, STEP(RO_BIND, host, "/a"),
		    STEP_MODE(DIR, "/a/evil/kin-escape", 0755));
}

static void escape_bind_body(void)
{
	BUILD_FAILS(ELOOP, 2, STEP(BIND, host, "/a"), STEP_MODE(DIR, "/a/ok/x", 0755),
		    STEP(BIND, "/usr", "/a/evil2/kin-escape"));
}

static void escape_symlink_body(void)
{
	BUILD_FAILS(ELOOP, 1, STEP(BIND, host, "/a"), STEP(SYMLINK, "/x", "/a/evil/kin-escape"));
}

static void escape_leaf_body(void)
{
	/* The last name a symlink: mounting there would follow it. */
	BUILD_FAILS(ELOOP, 1, STEP(BIND, host, "/a"), STEP_MODE(TMPFS, "/a/evil", 0755));
}

static void escape_remount_body(void)
{
	BUILD_FAILS(ELOOP, 1, STEP(BIND, host, "/a"), STEP(REMOUNT_RO, NULL, "/a/evil2"));
}

static void escape_dev_body(void)
{
	BUILD_FAILS(ELOOP, 1, STEP(BIND, host, "/a"), STEP(DEV, NULL, "/a/evil/kin-escape"));
}

TEST(sandbox_mount_refuses_symlinks_planted_in_a_bind)
{
	char *table = mount_table();
	host_make();
	host_symlink("/", "evil");
	host_symlink("/etc", "evil2");
	host_mkdir("ok");
	RUN_INSIDE(0, escape_root_body);
	RUN_INSIDE(0, escape_etc_body);
	RUN_INSIDE(0, escape_dir_body);
	RUN_INSIDE(0, escape_bind_body);
	RUN_INSIDE(0, escape_symlink_body);
	RUN_INSIDE(0, escape_leaf_body);
	RUN_INSIDE(0, escape_remount_body);
	RUN_INSIDE(0, escape_dev_body);
	struct stat st;
	ASSERT_EQ(lstat("/kin-escape", &st), -1);
	ASSERT_EQ(lstat("/etc/kin-escape", &st), -1);
	ASSERT_EQ(lstat(host_path("ok/x"), &st), 0); /* the step before was done */
	finish(table);
}

static void own_symlink_body(void)
{
	BUILD_FAILS(ELOOP, 2, STEP(SYMLINK, "/t", "/l"), STEP_MODE(TMPFS, "/t", 0755),
		    STEP_MODE(TMPFS, "/l/x", 0755));
}

static void own_relative_symlink_body(void)
{
	BUILD_FAILS(ELOOP, 2, STEP_MODE(DIR, "/t", 0755), STEP(SYMLINK, "t", "/l"),
		    STEP(BIND, host, "/l"));
}

static void own_dev_link_body(void)
{
	/* /dev/fd is a link to /proc/self/fd: no mount goes through it. */
	BUILD_FAILS(ELOOP, 2, STEP(DEV, NULL, "/dev"), STEP(PROC, NULL, "/proc"),
		    STEP_MODE(TMPFS, "/dev/fd/x", 0755));
}

TEST(sandbox_mount_refuses_mounts_through_its_own_symlinks)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(0, own_symlink_body);
	RUN_INSIDE(0, own_relative_symlink_body);
	RUN_INSIDE(IN_PID, own_dev_link_body);
	finish(table);
}

static void unreachable_body(void)
{
	BUILD(STEP_MODE(TMPFS, "/tmp", 01777), STEP(PROC, NULL, "/proc"));
	check_absent(host);
	check_absent(host_path("marker"));
	check_dir("/", "proc tmp");
	struct stat root, up;
	CHECK_OK(stat("/", &root));
	CHECK_OK(stat("/..", &up));
	CHECK(root.st_ino == up.st_ino && root.st_dev == up.st_dev, "/.. is not /");
	CHECK_OK(chdir("/../.."));
	char cwd[64];
	CHECK(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0, "cwd after /../..: %s", cwd);
	/* The namespace holds our three mounts and nothing else (but the
	 * read-only covers of proc's machine-wide files, proc's own): the old
	 * root and the staging were detached, not just hidden. */
	char table[4096];
	read_text("/proc/self/mountinfo", table, sizeof(table));
	int lines = 0;
	for (char *line = table; *line; line = strchr(line, '\n') + 1) {
		char *end = strchr(line, '\n');
		bool cover = strstr(line, " /proc/") && strstr(line, " /proc/") < end &&
			     strstr(line, " ro,") && strstr(line, " ro,") < end;
		lines += !cover;
	}
	CHECK(lines == 3, "%d mounts are left:\n%s", lines, table);
	CHECK(strstr(table, " /proc/sys ro,") != NULL, "/proc/sys is not read-only:\n%s", table);
}

TEST(sandbox_mount_old_root_is_unreachable)
{
	char *table = mount_table();
	host_make();
	test_write_file(host_path("marker"), "here", 0644);
	RUN_INSIDE(IN_PID, unreachable_body);
	finish(table);
}

static void crossing_body(void)
{
	BUILD(STEP(RO_BIND, host, "/a"), STEP_MODE(TMPFS, "/a/sub", 0755),
	      STEP_MODE(DIR, "/a/sub/d", 0700));
	check_create("/a/f", EROFS);
	check_create("/a/sub/f", 0);
	check_mode("/a/sub/d", S_IFDIR | 0700);
	check_fs("/a/sub", TMPFS_MAGIC_);
}

static void crossing_ro_body(void)
{
	/* A missing mount point cannot be made in a read-only bind. */
	BUILD_FAILS(EROFS, 1, STEP(RO_BIND, host, "/a"), STEP_MODE(TMPFS, "/a/none", 0755));
}

TEST(sandbox_mount_later_steps_cross_into_earlier_mounts)
{
	char *table = mount_table();
	host_make();
	host_mkdir("sub");
	RUN_INSIDE(0, crossing_body);
	RUN_INSIDE(0, crossing_ro_body);
	finish(table);
}

static void file_body(void)
{
	BUILD(STEP(RO_BIND, host_path("file"), "/etc/conf"), STEP(BIND, host, "/h"),
	      STEP(RO_BIND, host_path("file"), "/h/file"));
	check_text("/etc/conf", "content");
	check_mode("/etc", S_IFDIR | 0755);
	check_create("/etc/conf", EROFS);
	check_create("/h/file", EROFS);
	check_create("/h/other", 0);
}

TEST(sandbox_mount_bind_of_a_file)
{
	char *table = mount_table();
	host_make();
	test_write_file(host_path("file"), "content", 0644);
	RUN_INSIDE(0, file_body);
	finish(table);
}

static void relative_body(void)
{
	CHECK_OK(chdir(host));
	BUILD(STEP(RO_BIND, "sub", "/x"), STEP(RO_BIND, "sub/../f", "/y"));
	check_text("/x/g", "in sub");
	check_text("/y", "top");
}

TEST(sandbox_mount_relative_sources_start_at_the_cwd)
{
	char *table = mount_table();
	host_make();
	host_mkdir("sub");
	test_write_file(host_path("sub/g"), "in sub", 0644);
	test_write_file(host_path("f"), "top", 0644);
	RUN_INSIDE(0, relative_body);
	finish(table);
}

/* A host symlink climbing past the root with "..": resolves as on the
 * host, never into the root being built. */
static void dotdot_source_body(void)
{
	BUILD(STEP_MODE(DIR, "/kin-marker", 0755), STEP(RO_BIND, host_path("up"), "/up"));
	check_absent("/up/kin-marker");
	struct stat st;
	CHECK(stat("/up/etc/passwd", &st) == 0, "the host's root is not at /up");
}

static void bad_dests_body(void)
{
	BUILD_FAILS(EINVAL, 1, STEP_MODE(DIR, "/a", 0755), STEP_MODE(TMPFS, "/a/../b", 0755));
}

static void missing_source_body(void)
{
	BUILD_FAILS(ENOENT, 1, STEP_MODE(DIR, "/a", 0755),
		    STEP(BIND, "/kin-no-such-source", "/a/x"));
}

static void root_symlink_body(void)
{
	BUILD_FAILS(EEXIST, 0, STEP(SYMLINK, "/x", "/"));
}

TEST(sandbox_mount_odd_sources_and_dests)
{
	char *table = mount_table();
	host_make();
	char up[256] = "";
	for (const char *p = host; *p; p++)
		if (*p == '/')
			strcat(up, "../");
	strcat(up, "../..");
	host_symlink(up, "up");
	RUN_INSIDE(0, dotdot_source_body);
	RUN_INSIDE(0, bad_dests_body);
	RUN_INSIDE(0, missing_source_body);
	RUN_INSIDE(0, root_symlink_body);
	finish(table);
}

/* Where the host's mounts are shared (systemd makes them so), a mount
 * made inside a bind of one would show on the host unless the builder made
 * everything a slave first. This namespace stands in for such a host. */
static void propagation_body(void)
{
	static char before[1 << 16], after[1 << 16];
	CHECK_OK(mount(NULL, "/", NULL, MS_SHARED | MS_REC, NULL));
	read_text("/proc/self/mountinfo", before, sizeof(before));
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Same user namespace: the copies stay peers of ours. */
		CHECK_OK(unshare(CLONE_NEWNS));
		BUILD(STEP(RO_BIND, "/", "/"), STEP_MODE(TMPFS, "/tmp", 01777),
		      STEP(DEV, NULL, "/dev"), STEP(BIND, host, "/tmp/h"),
		      STEP_MODE(TMPFS, "/tmp/h/sub", 0755), STEP(REMOUNT_RO, NULL, "/tmp/h"));
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the builder ended with status %#x", st);
	read_text("/proc/self/mountinfo", after, sizeof(after));
	CHECK(strcmp(before, after) == 0, "the mount table changed:\n%s\n--- now:\n%s", before,
	      after);
}

TEST(sandbox_mount_nothing_propagates_back_from_shared_mounts)
{
	char *table = mount_table();
	host_make();
	host_mkdir("sub");
	RUN_INSIDE(0, propagation_body);
	finish(table);
}

static void nobody_body(void)
{
	BUILD(STEP(RO_BIND, "/", "/"), STEP_MODE(TMPFS, "/tmp", 01777), STEP(PROC, NULL, "/proc"),
	      STEP(DEV, NULL, "/dev"), STEP(RO_BIND, host, "/tmp/host"));
	check_create("/tmp/x", 0);
	check_create("/etc/x", EROFS);
	check_link("/proc/self", "1");
	check_text("/tmp/host/f", "hello");
	check_dev_null();
}

TEST(sandbox_mount_works_unprivileged)
{
	char *table = mount_table();
	host_make();
	ASSERT_EQ(chmod(host, 0755), 0);
	test_write_file(host_path("f"), "hello", 0644);
	RUN_INSIDE(IN_PID | IN_NOBODY, nobody_body);
	finish(table);
}

/* Without a namespace of its own and without privilege, the very first
 * move is refused, and reported as the root's (nsteps), not a step's. */
static void no_namespace_body(void)
{
	BUILD_FAILS(EPERM, 1, STEP_MODE(TMPFS, "/tmp", 0755));
}

TEST(sandbox_mount_without_privilege_fails_at_the_root_itself)
{
	char *table = mount_table();
	host_make();
	RUN_INSIDE(IN_PLACE | IN_NOBODY, no_namespace_body);
	finish(table);
}

/* The builder stages nothing in the host's /tmp: a root without one (a
 * bind of the test's directory, chrooted into) is fine. */
static void no_tmp_body(void)
{
	CHECK_OK(mount(host, host, NULL, MS_BIND | MS_REC, NULL));
	CHECK_OK(chdir(host));
	CHECK_OK(chroot("."));
	check_absent("/tmp");
	BUILD(STEP_MODE(TMPFS, "/t", 0700), STEP(RO_BIND, "/", "/host"));
	check_mode("/t", S_IFDIR | 0700);
	check_text("/host/f", "here");
	check_dir("/", "host t");
}

TEST(sandbox_mount_needs_no_tmp_on_the_host)
{
	char *table = mount_table();
	host_make();
	test_write_file(host_path("f"), "here", 0644);
	RUN_INSIDE(0, no_tmp_body);
	finish(table);
}
