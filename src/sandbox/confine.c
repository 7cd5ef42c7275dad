/* The child's last steps before exec, its own and no one else's: the
 * caller's init hook, then giving up privileges (capabilities,
 * no_new_privs), then the landlock and seccomp fences, in that order, so
 * each step still has what it needs. Raw, async-signal-safe calls only. */
#include "sandbox.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Every capability not kept leaves every set: the bounding set (so no
 * exec can bring it back), ambient, inheritable, permitted, effective.
 * `keep` means "at most these": one this process never had stays out. */
static int drop_capabilities(uint64_t keep)
{
	struct __user_cap_header_struct now_head = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct now[2];
	if (syscall(SYS_capget, &now_head, now) < 0)
		return -errno;
	keep &= (uint64_t)now[0].permitted | (uint64_t)now[1].permitted << 32;
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (1ull << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			/* Without CAP_SETPCAP (no user namespace, not root) the
			 * bounding set stays, but there is nothing in the other
			 * sets to lose, and no_new_privs stops setuid gains. */
			if (errno != EPERM)
				return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {
		{.effective = (uint32_t)keep,
		 .permitted = (uint32_t)keep,
		 .inheritable = (uint32_t)keep},
		{.effective = (uint32_t)(keep >> 32),
		 .permitted = (uint32_t)(keep >> 32),
		 .inheritable = (uint32_t)(keep >> 32)},
	};
	if (syscall(SYS_capset, &head, data) < 0)
		return -errno;
	/* Kept capabilities survive exec for a non-root uid only as ambient
	 * ones (root gets its bounding set back by itself). */
	for (int cap = 0; cap < 64; cap++)
		if ((keep & (1ull << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return -errno;
	return 0;
}

int kin__sandbox_confine_pid1(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	int r = drop_capabilities(0);
	if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = -errno;
	return r;
}

int kin__sandbox_confine(const kin__sandbox_plan *sp, kin_spawn_step *step, int32_t *index)
{
	int r;
	*index = -1;
	*step = KIN_STEP_INIT_HOOK;
	if (sp->init && (r = sp->init(sp->init_fd, sp->init_userdata)) != 0)
		return r < 0 ? r : -ECANCELED;
	if (sp->init_fd >= 0)
		(void)close(sp->init_fd);
	*step = KIN_STEP_PRIVILEGES;
	if ((r = drop_capabilities(sp->caps)) < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	*step = KIN_STEP_LANDLOCK;
	if (sp->nlandlock && (r = kin__landlock_apply(sp, index)) < 0)
		return r;
	*step = KIN_STEP_SECCOMP;
	if (sp->seccomp.filter && (r = kin__seccomp_install(&sp->seccomp)) < 0)
		return r;
	return 0;
}
