/* The owner's part after the clone: a new user namespace starts with no
 * ids mapped, and its maps are written from outside, by us. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int write_maps(const kin__sandbox_plan *sp, int pidfd, pid_t pid, kin_spawn_error *why)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r = dir < 0 ? -errno : 0;
	/* The child is ours and unreaped, so its pid names no one else; its
	 * pidfd confirms it was alive after the directory was opened, so the
	 * directory is that child's. (Where pidfd_send_signal is missing, as
	 * under valgrind, the pid will do, for that same reason.) */
	const char *file = "directory";
	if (r == 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 &&
	    (errno != ENOSYS || kill(pid, 0) < 0))
		r = -errno;
	if (r == 0)
		file = "setgroups";
	/* setgroups must be denied before an unprivileged gid_map is allowed;
	 * it also keeps the sandbox from dropping a group that denies it
	 * access to something. */
	if (r == 0 && (r = kin__write_file_at(dir, file, "deny")) == 0 &&
	    (r = kin__write_file_at(dir, file = "uid_map", sp->uid_map)) == 0)
		r = kin__write_file_at(dir, file = "gid_map", sp->gid_map);
	if (dir >= 0)
		kin__close(dir);
	if (r < 0)
		kin__spawn_error(why, r, KIN_STEP_NAMESPACES,
				 "sandbox: cannot write the user namespace's %s: %s", file,
				 kin_strerror(r));
	return r;
}

int kin__sandbox_release_child(kin__sandbox_plan *sp, int pidfd, pid_t pid, kin_spawn_error *why)
{
	int r = 0;
	if (sp->namespaces & KIN_NS_USER)
		r = write_maps(sp, pidfd, pid, why);
	if (r == 0 && (r = kin__write_full(sp->sync_w, "g", 1)) < 0) {
		kin__spawn_error(why, r, KIN_STEP_NAMESPACES, "sandbox: cannot wake the child: %s",
				 kin_strerror(r));
	}
	return r;
}
