/* The new mount API, through syscall(): libc wrappers for it are too
 * recent to count on. Filesystems are made detached (fsopen, fsmount),
 * trees are copied detached (open_tree), and only then attached
 * (move_mount): nothing is ever mounted by path. */
#include "mount.h"

#include <fcntl.h>
#include <linux/mount.h> /* not <sys/mount.h>: the two clash on older libcs */
#include <sys/syscall.h>
#include <unistd.h>

/* A detached mount of a new filesystem of `type`, as an fd of its root. */
int kin__new_fs(const char *type, const fs_option *opts, size_t nopts, unsigned attrs)
{
	int fs = kin__fd_or_errno(syscall(SYS_fsopen, type, FSOPEN_CLOEXEC));
	if (fs < 0)
		return fs;
	int r = 0;
	for (size_t i = 0; i < nopts && r == 0; i++) {
		unsigned cmd = opts[i].value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG;
		r = kin__ok_or_errno(syscall(SYS_fsconfig, fs, cmd, opts[i].key, opts[i].value, 0));
	}
	if (r == 0)
		r = kin__ok_or_errno(syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
	if (r == 0)
		r = kin__fd_or_errno(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs));
	kin__close(fs);
	return r;
}

/* A detached copy of the tree at path, with every mount below it: binds
 * are recursive, as bwrap's are, and the kernel refuses a lone copy of a
 * mount that has locked mounts (the host's, seen from a user namespace)
 * on top of it. */
int kin__copy_tree(int dirfd, const char *path, unsigned flags)
{
	return kin__fd_or_errno(
		syscall(SYS_open_tree, dirfd, path,
			OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | flags));
}

/* Sets attributes on the mount at fd and on every mount below it. */
int kin__set_attrs(int fd, uint64_t attrs)
{
	struct mount_attr a = {.attr_set = attrs};
	return kin__ok_or_errno(
		syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)));
}

/* Puts the mount at `mnt` on top of whatever is mounted at `target`. */
int kin__attach(int mnt, int target)
{
	return kin__ok_or_errno(syscall(SYS_move_mount, mnt, "", target, "",
					MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
}

/* mount_setattr needs a mount's root (EINVAL otherwise): a dest that is a
 * plain directory gets a copy of itself put over it first, so that the
 * read-only flag has a mount to live on. */
int kin__make_read_only(int fd)
{
	int r = kin__set_attrs(fd, MOUNT_ATTR_RDONLY);
	if (r != -EINVAL)
		return r;
	int self = kin__copy_tree(fd, "", AT_EMPTY_PATH);
	if (self < 0)
		return self;
	r = kin__set_attrs(self, MOUNT_ATTR_RDONLY);
	if (r == 0)
		r = kin__attach(self, fd);
	kin__close(self);
	return r;
}
