/* Dests, resolved in the new root one name at a time with openat2,
 * following no symlink at all, so that nothing planted on the way (by an
 * earlier bind, or a symlink step) sends a mount out of the sandbox. */
#include "mount.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Copies the next name of *p into name and moves *p past it; "" and "."
 * are skipped. Returns the name's length, 0 at the end (name is then ""),
 * -EINVAL for "..", which has no place in a dest, or -ENAMETOOLONG. */
static int next_name(const char **p, char *name)
{
	const char *s = *p;
	for (;;) {
		while (*s == '/')
			s++;
		size_t n = 0;
		while (s[n] && s[n] != '/')
			n++;
		if (n == 1 && s[0] == '.') {
			s++;
			continue;
		}
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return -EINVAL;
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, s, n);
		name[n] = '\0';
		*p = s + n;
		return (int)n;
	}
}

/* Opens one name below dir, crossing onto whatever is mounted there but
 * following no symlink at all: one there fails with ELOOP. */
int kin__open_beneath(int dir, const char *name, uint64_t flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	return kin__fd_or_errno(syscall(SYS_openat2, dir, name, &how, sizeof(how)));
}

/* Opens the directory `name` below dir, making it with `mode` if it is
 * missing and `create` is set. */
int kin__lookup_dir(int dir, const char *name, bool create, mode_t mode)
{
	int fd = kin__open_beneath(dir, name, O_PATH | O_DIRECTORY);
	if (fd != -ENOENT || !create)
		return fd;
	if (mkdirat(dir, name, mode) < 0 && errno != EEXIST)
		return -errno;
	return kin__open_beneath(dir, name, O_PATH | O_DIRECTORY);
}

/* Opens `name` below dir, making an empty file there if it is missing: the
 * mount point of a bind whose source is not a directory. */
int kin__lookup_file(int dir, const char *name)
{
	int fd = kin__open_beneath(dir, name, O_PATH);
	if (fd != -ENOENT)
		return fd;
	/* O_EXCL: never open, and so never follow, something already there. */
	int made = openat(dir, name, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (made < 0 && errno != EEXIST)
		return -errno;
	kin__close(made);
	return kin__open_beneath(dir, name, O_PATH);
}

/* Opens the directory holding dest in the new root, making missing ones
 * (0755) on the way when `create` is set, and leaves dest's last name in
 * b->leaf: "" when dest is the root itself (the fd is then the root). */
int kin__open_parent(builder *b, const char *dest, bool create)
{
	const char *p = dest;
	int n = next_name(&p, b->leaf);
	if (n < 0)
		return n;
	int dir = kin__fd_or_errno(fcntl(b->root, F_DUPFD_CLOEXEC, 3));
	while (dir >= 0 && n > 0) {
		n = next_name(&p, b->next);
		if (n <= 0)
			break;
		int sub = kin__lookup_dir(dir, b->leaf, create, 0755);
		kin__close(dir);
		dir = sub;
		memcpy(b->leaf, b->next, (size_t)n + 1);
	}
	if (n < 0) {
		kin__close(dir);
		return n;
	}
	return dir;
}

/* Mounts mnt at dest, which is made if it is missing: a directory, or an
 * empty file when mnt's root is not a directory. The caller keeps mnt. */
int kin__mount_at(builder *b, int mnt, const char *dest, bool dir)
{
	int parent = kin__open_parent(b, dest, true);
	if (parent < 0)
		return parent;
	if (!b->leaf[0]) {
		/* Over the root itself: later dests must start from this mount,
		 * since a walk from the old fd would run beneath it. */
		int r = kin__attach(mnt, parent);
		kin__close(parent);
		int top = r < 0 ? r : kin__fd_or_errno(fcntl(mnt, F_DUPFD_CLOEXEC, 3));
		if (top < 0)
			return top;
		kin__close(b->root);
		b->root = top;
		return 0;
	}
	int target = dir ? kin__lookup_dir(parent, b->leaf, true, 0755)
			 : kin__lookup_file(parent, b->leaf);
	kin__close(parent);
	if (target < 0)
		return target;
	int r = kin__attach(mnt, target);
	kin__close(target);
	return r;
}
