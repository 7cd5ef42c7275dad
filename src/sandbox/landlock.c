/* Landlock file-access rules: with any rule, the sandbox reaches only the
 * paths named, with the access named. The owner checks the kernel has
 * landlock before anything runs; the child builds and applies the ruleset
 * once its new root is in place (the paths are the sandbox's own). */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Newer than some distributions' headers. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_EXEC LANDLOCK_ACCESS_FS_EXECUTE
#define FS_WRITE                                                                                   \
	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                           \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |                           \
	 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |                               \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |                             \
	 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |  \
	 LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)
/* What a rule on a file (not a directory) may grant. */
#define FS_FILE                                                                                    \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |                              \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

int kin__landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return abi < 0 ? -errno : (int)abi;
}

/* The rights this kernel's landlock knows, by ABI version. */
static uint64_t handled_rights(int abi)
{
	uint64_t all = FS_READ | FS_WRITE | FS_EXEC;
	if (abi < 2)
		all &= ~(uint64_t)LANDLOCK_ACCESS_FS_REFER;
	if (abi < 3)
		all &= ~(uint64_t)LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi < 5)
		all &= ~(uint64_t)LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return all;
}

static uint64_t rights_of(unsigned access)
{
	return ((access & KIN_LANDLOCK_READ) ? FS_READ : 0) |
	       ((access & KIN_LANDLOCK_WRITE) ? FS_WRITE : 0) |
	       ((access & KIN_LANDLOCK_EXEC) ? FS_EXEC : 0);
}

static int add_rule(int ruleset, const kin_landlock_rule *l, uint64_t handled)
{
	int fd = open(l->path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	struct landlock_path_beneath_attr attr = {.parent_fd = fd,
						  .allowed_access = rights_of(l->access) & handled};
	if (r == 0 && !S_ISDIR(st.st_mode))
		attr.allowed_access &= FS_FILE;
	if (r == 0 && attr.allowed_access &&
	    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
		r = -errno;
	(void)close(fd);
	return r;
}

int kin__landlock_apply(const kin__sandbox_plan *sp, int32_t *rule)
{
	*rule = -1;
	uint64_t handled = handled_rights(sp->landlock_abi);
	struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return -errno;
	int r = 0;
	for (size_t i = 0; i < sp->nlandlock && r == 0; i++)
		if ((r = add_rule(ruleset, &sp->landlock[i], handled)) < 0)
			*rule = (int32_t)i;
	if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		r = -errno;
	(void)close(ruleset);
	return r;
}
