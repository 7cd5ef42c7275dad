/* A sandbox's new root, built in the child (see sandbox.h). All of it runs
 * between clone and exec in a fork of a possibly multi-threaded owner, so
 * it makes raw, async-signal-safe calls only: no malloc, no stdio, no
 * locks, path buffers from the plan's scratch. The new mount API goes
 * through syscall(): libc wrappers for it are too recent to count on.
 *
 * The geometry, all inside the child's own mount namespace:
 *  1. Every mount becomes a slave, so nothing we do propagates to the host.
 *  2. A staging tmpfs, "base", is stacked on / and we pivot_root into it;
 *     the host's tree goes to base/old. Had we built over / instead, the
 *     host's root would have our mounts stacked on it, and a host path
 *     climbing past that root with ".." (a symlink to ../../lib, say)
 *     would step into what we are building.
 *  3. We chroot into base/old, so bind sources resolve exactly as they
 *     would on the host, absolute and magic links included.
 *  4. The new root is a tmpfs at base/new. Each dest is resolved from the
 *     topmost mount there, one name at a time, with openat2 refusing every
 *     symlink: a link planted in a bound host directory, or made by an
 *     earlier symlink step, cannot send a later mount elsewhere (-ELOOP).
 *  5. Back in base, pivot_root(".", ".") into the topmost mount at
 *     base/new, then detach base lazily: the host's tree goes with it. */
#include "mount.h"

#include <fcntl.h>
#include <linux/mount.h> /* not <sys/mount.h>: the two clash on older libcs */
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the steps */

static int step_bind(builder *b, const kin__mount_step *s)
{
	if (!s->source)
		return -EINVAL;
	/* We are chrooted in the host's tree: the source resolves as there. */
	int tree = kin__copy_tree(b->cwd, s->source, 0);
	if (tree < 0)
		return tree;
	/* nosuid as in bwrap: a sandbox is no place to gain privileges. */
	uint64_t attrs = MOUNT_ATTR_NOSUID;
	if (s->kind != KIN_MOUNT_DEV_BIND)
		attrs |= MOUNT_ATTR_NODEV;
	if (s->kind == KIN_MOUNT_RO_BIND)
		attrs |= MOUNT_ATTR_RDONLY;
	struct stat st;
	int r = fstat(tree, &st) < 0 ? -errno : kin__set_attrs(tree, attrs);
	if (r == 0)
		r = kin__mount_at(b, tree, s->dest, S_ISDIR(st.st_mode));
	kin__close(tree);
	return r;
}

/* Writes mode in octal, as tmpfs's "mode" option wants it. */
static void format_octal(char *buf, unsigned mode)
{
	char digits[12];
	size_t n = 0;
	do {
		digits[n++] = (char)('0' + (mode & 7));
		mode >>= 3;
	} while (mode);
	buf[0] = '0';
	for (size_t i = 0; i < n; i++)
		buf[1 + i] = digits[n - 1 - i];
	buf[1 + n] = '\0';
}

static int step_fs(builder *b, const kin__mount_step *s, const char *type, const fs_option *opts,
		   size_t nopts, unsigned attrs)
{
	int mnt = kin__new_fs(type, opts, nopts, attrs);
	if (mnt < 0)
		return mnt;
	int r = kin__mount_at(b, mnt, s->dest, true);
	kin__close(mnt);
	return r;
}

static int step_tmpfs(builder *b, const kin__mount_step *s)
{
	format_octal(b->text, (unsigned)s->mode & 07777);
	fs_option mode = {"mode", b->text};
	return step_fs(b, s, "tmpfs", &mode, 1, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

/* The parts of proc that reach the whole machine rather than the sandbox's
 * own processes. They check only file modes against uid 0, not any
 * capability, so a sandbox whose uid 0 is the host's root (a root caller)
 * could write core_pattern and be run as root by the kernel: they are
 * covered read-only, as container runtimes do. */
static const char *const proc_machine_wide[] = {"sys", "sysrq-trigger", "irq", "bus"};

/* proc shows the pid namespace of its mounter: the caller runs us as pid
 * 1 of the sandbox's. The kernel refuses it (EPERM) in a user namespace
 * unless a full proc is visible in this mount namespace, which the host's
 * still is, at base/old/proc. */
static int step_proc(builder *b, const kin__mount_step *s)
{
	int mnt = kin__new_fs("proc", NULL, 0,
			      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		return mnt;
	int r = kin__mount_at(b, mnt, s->dest, true);
	for (size_t i = 0; r == 0 && i < KIN_ARRAY_SIZE(proc_machine_wide); i++) {
		int fd = kin__open_beneath(mnt, proc_machine_wide[i], O_PATH);
		if (fd == -ENOENT)
			continue; /* a kernel without it */
		r = fd < 0 ? fd : kin__make_read_only(fd);
		kin__close(fd);
	}
	kin__close(mnt);
	return r;
}

/* A symlink at name below dir; one already there with this very target is
 * fine, as in bwrap. */
static int make_symlink(int dir, const char *name, const char *target, char *buf)
{
	if (symlinkat(target, dir, name) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	size_t len = strlen(target);
	if (len >= PATH_MAX)
		return -EEXIST;
	ssize_t n = readlinkat(dir, name, buf, len + 1);
	return n == (ssize_t)len && memcmp(buf, target, len) == 0 ? 0 : -EEXIST;
}

/* Device nodes cannot be made in a user namespace (mknod is refused), so
 * /dev gets the host's, each bound over an empty file. */
static const char *const dev_nodes[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

static const char *const dev_links[][2] = {
	{"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
};

static int bind_dev_node(int dev, const char *path)
{
	int node = kin__copy_tree(AT_FDCWD, path, 0);
	if (node < 0)
		return node;
	int spot = kin__lookup_file(dev, path + strlen("/dev/"));
	int r = spot < 0 ? spot : kin__set_attrs(node, MOUNT_ATTR_NOSUID);
	if (r == 0)
		r = kin__attach(node, spot);
	kin__close(spot);
	kin__close(node);
	return r;
}

/* A devpts of the sandbox's own at dev/pts: its ptys are not the host's. */
static int mount_pts(int dev)
{
	static const fs_option opts[] = {
		{"newinstance", NULL},
		{"ptmxmode", "0666"},
		{"mode", "620"},
	};
	int spot = kin__lookup_dir(dev, "pts", true, 0755);
	if (spot < 0)
		return spot;
	int pts = kin__new_fs("devpts", opts, KIN_ARRAY_SIZE(opts),
			      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	int r = pts < 0 ? pts : kin__attach(pts, spot);
	kin__close(pts);
	kin__close(spot);
	return r;
}

/* Fills a fresh tmpfs (attached, so that mounts can go on it) as /dev. */
static int fill_dev(builder *b, int dev)
{
	for (size_t i = 0; i < KIN_ARRAY_SIZE(dev_nodes); i++) {
		int r = bind_dev_node(dev, dev_nodes[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < KIN_ARRAY_SIZE(dev_links); i++) {
		int r = make_symlink(dev, dev_links[i][0], dev_links[i][1], b->text);
		if (r < 0)
			return r;
	}
	int r = mount_pts(dev);
	if (r < 0)
		return r;
	/* The umask is 0 while we build, so the sticky bit and 0777 stay. */
	return kin__ok_or_errno(mkdirat(dev, "shm", 01777));
}

static int step_dev(builder *b, const kin__mount_step *s)
{
	fs_option mode = {"mode", "0755"};
	int dev = kin__new_fs("tmpfs", &mode, 1, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (dev < 0)
		return dev;
	int r = kin__mount_at(b, dev, s->dest, true);
	if (r == 0)
		r = fill_dev(b, dev);
	kin__close(dev);
	return r;
}

static int step_dir(builder *b, const kin__mount_step *s)
{
	int parent = kin__open_parent(b, s->dest, true);
	if (parent < 0 || !b->leaf[0]) {
		kin__close(parent);
		return parent < 0 ? parent : 0;
	}
	int dir = kin__lookup_dir(parent, b->leaf, true, s->mode);
	kin__close(parent);
	kin__close(dir);
	return dir < 0 ? dir : 0;
}

static int step_symlink(builder *b, const kin__mount_step *s)
{
	if (!s->source)
		return -EINVAL;
	int parent = kin__open_parent(b, s->dest, true);
	if (parent < 0)
		return parent;
	int r = b->leaf[0] ? make_symlink(parent, b->leaf, s->source, b->text) : -EEXIST;
	kin__close(parent);
	return r;
}

static int step_remount_ro(builder *b, const kin__mount_step *s)
{
	int fd = kin__open_parent(b, s->dest, false);
	if (fd >= 0 && b->leaf[0]) {
		int parent = fd;
		fd = kin__open_beneath(parent, b->leaf, O_PATH);
		kin__close(parent);
	}
	if (fd < 0)
		return fd;
	int r = kin__make_read_only(fd);
	kin__close(fd);
	return r;
}

static int run_step(builder *b, const kin__mount_step *s)
{
	if (!s->dest)
		return -EINVAL;
	switch (s->kind) {
	case KIN_MOUNT_BIND:
	case KIN_MOUNT_RO_BIND:
	case KIN_MOUNT_DEV_BIND:
		return step_bind(b, s);
	case KIN_MOUNT_TMPFS:
		return step_tmpfs(b, s);
	case KIN_MOUNT_PROC:
		return step_proc(b, s);
	case KIN_MOUNT_DEV:
		return step_dev(b, s);
	case KIN_MOUNT_DIR:
		return step_dir(b, s);
	case KIN_MOUNT_SYMLINK:
		return step_symlink(b, s);
	case KIN_MOUNT_REMOUNT_RO:
		return step_remount_ro(b, s);
	}
	return -EINVAL;
}

/* ---- the root itself */

/* Makes dir/name (which follows no symlink) this process's root. The
 * child shares its root and cwd with no one (a new mount namespace rules
 * out CLONE_FS), so nobody else sees the change. */
static int chroot_at(int dir, const char *name)
{
	int fd = kin__open_beneath(dir, name, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd;
	int r = fchdir(fd) < 0 || chroot(".") < 0 ? -errno : 0;
	kin__close(fd);
	return r;
}

/* Steps 1 to 3 of the geometry at the top, and the new root's tmpfs at
 * base/new. Fills *base and *root as soon as each exists. */
static int stage(int *base, int *root)
{
	/* Where the host's mounts are shared (systemd makes them so), a bind
	 * of one would be its peer and a mount made inside it would show on
	 * the host. A slave still sees the host's new mounts, as in bwrap.
	 * ("none": the kernel ignores them here, valgrind wants strings.) */
	if (syscall(SYS_mount, "none", "/", "none", MS_SLAVE | MS_REC, NULL) < 0)
		return -errno;
	fs_option mode = {"mode", "0755"};
	*base = kin__new_fs("tmpfs", &mode, 1,
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (*base < 0)
		return *base;
	if (syscall(SYS_move_mount, *base, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
	    mkdirat(*base, "old", 0755) < 0 || mkdirat(*base, "new", 0755) < 0)
		return -errno;
	/* pivot_root takes the new root by path: ours is the cwd. */
	if (fchdir(*base) < 0 || syscall(SYS_pivot_root, ".", "old") < 0)
		return -errno;
	int r = chroot_at(*base, "old");
	if (r < 0)
		return r;
	*root = kin__new_fs("tmpfs", &mode, 1, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (*root < 0)
		return *root;
	int spot = kin__open_beneath(*base, "new", O_PATH | O_DIRECTORY);
	r = spot < 0 ? spot : kin__attach(*root, spot);
	kin__close(spot);
	return r;
}

/* Step 5 at the top: into the topmost mount at base/new, for good. */
static int enter(int base, int root)
{
	/* pivot_root wants the new root below the caller's: back into base. */
	if (fchdir(base) < 0 || chroot(".") < 0)
		return -errno;
	if (fchdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	/* base now sits on top of the new root, with the host's tree and
	 * whatever the steps covered below it: detach it all. */
	if (syscall(SYS_umount2, ".", MNT_DETACH) < 0)
		return -errno;
	return kin__ok_or_errno(chdir("/"));
}

int kin__root_build(const kin__root_plan *plan, size_t *failed)
{
	builder b = {
		.root = -1,
		.cwd = AT_FDCWD,
		.leaf = plan->scratch,
		.next = plan->scratch + NAME_SIZE,
		.text = plan->scratch + TEXT_OFFSET,
	};
	/* Modes are given exactly (a DIR step's, /dev/shm's 01777): the
	 * caller's umask must not trim them. */
	mode_t umask_was = umask(0);
	/* A relative source is the caller's cwd's business; without one it
	 * resolves from the host's root. */
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd >= 0)
		b.cwd = cwd;
	int base = -1;
	size_t at = plan->nsteps;
	int r = stage(&base, &b.root);
	for (size_t i = 0; r == 0 && i < plan->nsteps; i++) {
		r = run_step(&b, &plan->steps[i]);
		if (r < 0)
			at = i;
	}
	if (r == 0)
		r = enter(base, b.root);
	kin__close(cwd);
	kin__close(base);
	kin__close(b.root);
	umask(umask_was);
	if (r < 0)
		*failed = at;
	return r;
}

const char *kin__mount_kind_name(kin_mount_kind kind)
{
	switch (kind) {
	case KIN_MOUNT_BIND:
		return "bind";
	case KIN_MOUNT_RO_BIND:
		return "ro-bind";
	case KIN_MOUNT_DEV_BIND:
		return "dev-bind";
	case KIN_MOUNT_TMPFS:
		return "tmpfs";
	case KIN_MOUNT_PROC:
		return "proc";
	case KIN_MOUNT_DEV:
		return "dev";
	case KIN_MOUNT_DIR:
		return "dir";
	case KIN_MOUNT_SYMLINK:
		return "symlink";
	case KIN_MOUNT_REMOUNT_RO:
		return "remount-ro";
	}
	return "unknown";
}
