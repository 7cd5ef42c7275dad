/* The new root's insides, shared by mount.c (the steps and the root
 * itself), mount_api.c (the new mount API) and mount_dest.c (resolving
 * dests in the new root). Everything here runs in the child: raw,
 * async-signal-safe calls only (see mount.c). */
#ifndef KIN_SANDBOX_MOUNT_H
#define KIN_SANDBOX_MOUNT_H

#include "sandbox.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>

#ifndef MNT_DETACH
#define MNT_DETACH 2 /* <sys/mount.h>'s, which clashes with <linux/mount.h> */
#endif

/* The scratch holds two names and one path (a symlink's target, read
 * back to compare, or a tmpfs's mode in octal). */
#define NAME_SIZE (NAME_MAX + 1)
#define TEXT_OFFSET 4096
_Static_assert(2 * NAME_SIZE <= TEXT_OFFSET, "two names fit below the text");
_Static_assert(TEXT_OFFSET + PATH_MAX <= KIN__ROOT_SCRATCH, "the scratch holds a path");

typedef struct builder {
	int root;          /* the topmost mount at base/new: where every dest starts */
	int cwd;           /* the caller's cwd, for relative bind sources */
	char *leaf, *next; /* NAME_SIZE bytes each */
	char *text;        /* PATH_MAX bytes */
} builder;

typedef struct fs_option {
	const char *key;
	const char *value; /* NULL for a flag */
} fs_option;

static inline int kin__fd_or_errno(long r)
{
	return r < 0 ? -errno : (int)r;
}

static inline int kin__ok_or_errno(long r)
{
	return r < 0 ? -errno : 0;
}

/* ---- mount_api.c: the new mount API */

/* A detached mount of a new filesystem of `type`, as an fd of its root. */
int kin__new_fs(const char *type, const fs_option *opts, size_t nopts, unsigned attrs);
/* A detached copy of the tree at path, with every mount below it. */
int kin__copy_tree(int dirfd, const char *path, unsigned flags);
/* Sets attributes on the mount at fd and on every mount below it. */
int kin__set_attrs(int fd, uint64_t attrs);
/* Puts the mount at `mnt` on top of whatever is mounted at `target`. */
int kin__attach(int mnt, int target);
/* Makes what fd names read-only, all the way down. */
int kin__make_read_only(int fd);

/* ---- mount_dest.c: dests, resolved in the new root */

/* Opens one name below dir, crossing mounts, following no symlink. */
int kin__open_beneath(int dir, const char *name, uint64_t flags);
/* Opens (making it with `mode` if missing and `create`) a directory. */
int kin__lookup_dir(int dir, const char *name, bool create, mode_t mode);
/* Opens name below dir, making an empty file there if it is missing. */
int kin__lookup_file(int dir, const char *name);
/* Opens the directory holding dest; dest's last name goes to b->leaf. */
int kin__open_parent(builder *b, const char *dest, bool create);
/* Mounts mnt at dest, made if missing; the caller keeps mnt. */
int kin__mount_at(builder *b, int mnt, const char *dest, bool dir);

#endif
