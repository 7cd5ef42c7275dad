/* The child's first steps in its new namespaces, shared by everything
 * that will run in them: wait for the owner's maps, then the hostname,
 * lo and the new root. Runs before exec in a fork of the owner: raw,
 * async-signal-safe calls only. */
#include "sandbox.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* One byte from the owner once it has written our user maps; end of file
 * if it gave up on us. Our own copy of the write end goes first, or that
 * end of file could never come. */
static int wait_for_owner(const kin__sandbox_plan *sp)
{
	(void)close(sp->sync_w);
	char go;
	ssize_t n;
	while ((n = read(sp->sync_r, &go, 1)) < 0 && errno == EINTR)
		;
	(void)close(sp->sync_r);
	return n == 1 ? 0 : n < 0 ? -errno : -ECANCELED;
}

/* A new net namespace starts with lo down: nothing, not even loopback,
 * would work. */
static int bring_up_lo(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	int r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int err = r < 0 ? -errno : 0;
	(void)close(s);
	return err;
}

int kin__sandbox_enter(const kin__sandbox_plan *sp, kin_spawn_step *step, int32_t *index)
{
	*step = KIN_STEP_NAMESPACES;
	*index = -1;
	int r = wait_for_owner(sp);
	if (r < 0)
		return r;
	/* Steps or not, nothing mounted inside (by the init hook, or by a
	 * program that kept CAP_SYS_ADMIN) may propagate to the host. */
	*step = KIN_STEP_MOUNT;
	if ((sp->clone_flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return -errno;
	*step = KIN_STEP_NETWORK;
	if (sp->hostname && sethostname(sp->hostname, strlen(sp->hostname)) < 0)
		return -errno;
	if (sp->lo_up && (r = bring_up_lo()) < 0)
		return r;
	*step = KIN_STEP_MOUNT;
	size_t failed;
	if (sp->has_root && (r = kin__root_build(&sp->root, &failed)) < 0) {
		/* At most 65536 steps and 2 implied ones (plan.c). */
		*index = (int32_t)failed;
		return r;
	}
	return 0;
}
