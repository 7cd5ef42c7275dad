/* Creating the child process, three ways, run on the spawner thread:
 *  - linked (default): clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD), musl-style,
 *    so the owner's memory is never copied;
 *  - tree: a fork-style clone with CLONE_NEWPID; the child becomes pid 1 of
 *    a new namespace (tree_init.c) and forks the program;
 *  - detached: a vfork-style intermediate forks the program and exits, so
 *    the program is re-parented away and survives the owner.
 * Children are born with exit signal 0, but Linux resets it to SIGCHLD at
 * exec: a host's waitpid(-1) can reap an exec'd linked child before kin
 * does (kin then reports KIN_EXIT_UNKNOWN). A tree-mode init never execs,
 * so a tree is out of such a host's reach and sends it no SIGCHLD. */
#include "proc.h"

#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

KIN__CHILD_SIDE long kin__clone_fork(uint64_t flags, int exit_signal, int *pidfd)
{
	return kin__clone_fork_into(flags, exit_signal, pidfd, -1);
}

KIN__CHILD_SIDE long kin__clone_fork_into(uint64_t flags, int exit_signal, int *pidfd,
					  int cgroup_fd)
{
	if (pidfd)
		flags |= CLONE_PIDFD;
	struct clone_args ca = {
		.flags = flags,
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = (uint64_t)exit_signal,
	};
	if (cgroup_fd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cgroup_fd;
	}
	long r = syscall(SYS_clone3, &ca, sizeof(ca));
	if (r >= 0 || errno != ENOSYS || cgroup_fd >= 0)
		return r;
	/* clone(flags, stack, parent_tid, ...): parent_tid is the third
	 * argument on every architecture, and receives the pidfd. */
	return syscall(SYS_clone, (unsigned long)flags | (unsigned long)exit_signal, NULL, pidfd,
		       NULL, NULL);
}

KIN__CHILD_SIDE static int direct_entry(void *arg)
{
	kin__child_exec(arg);
}

static int clone_linked(kin__plan *plan, char *stack_top, int *pidfd, pid_t *pid)
{
	pid_t p = clone(direct_entry, stack_top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD, plan, pidfd);
	if (p < 0)
		return -errno;
	*pid = p;
	return 0;
}

struct detach_ctx {
	kin__plan *plan;
	int pidfd;
	pid_t pid;
	int err;
};

/* The intermediate shares memory and the fd table with the owner, so the
 * grandchild's pidfd lands straight in the owner's table. */
KIN__CHILD_SIDE static int detach_entry(void *arg)
{
	struct detach_ctx *ctx = arg;
	long r = kin__clone_fork(0, SIGCHLD, &ctx->pidfd);
	if (r == 0)
		kin__child_exec(ctx->plan);
	if (r < 0)
		ctx->err = errno;
	else
		ctx->pid = (pid_t)r;
	_exit(0);
}

static int clone_detached(kin__plan *plan, char *stack_top, int *pidfd, pid_t *pid)
{
	struct detach_ctx ctx = {.plan = plan, .pidfd = -1};
	pid_t mid = clone(detach_entry, stack_top, CLONE_VM | CLONE_VFORK | CLONE_FILES, &ctx);
	if (mid < 0)
		return -errno;
	while (waitpid(mid, NULL, __WALL) < 0 && errno == EINTR)
		;
	if (ctx.err)
		return -ctx.err;
	*pidfd = kin__fd_above_stdio(ctx.pidfd);
	*pid = ctx.pid;
	return 0;
}

static int clone_tree(kin__plan *plan, int *pidfd, pid_t *pid, kin_spawn_error *why)
{
	/* Identity maps, used only if we need a user namespace to get the
	 * PID namespace, so uids look the same inside. */
	snprintf(plan->uid_map, sizeof(plan->uid_map), "%u %u 1\n", geteuid(), geteuid());
	snprintf(plan->gid_map, sizeof(plan->gid_map), "%u %u 1\n", getegid(), getegid());
	long r = kin__clone_fork(CLONE_NEWPID, 0, pidfd);
	int first_err = errno;
	if (r < 0 && errno == EPERM) {
		plan->new_userns = true;
		r = kin__clone_fork(CLONE_NEWPID | CLONE_NEWUSER, 0, pidfd);
	}
	if (r == 0)
		kin__tree_init(plan);
	if (r < 0) {
		int err = errno;
		FILE *f = fopen("/proc/sys/user/max_user_namespaces", "re");
		long max = -1;
		if (f) {
			if (fscanf(f, "%ld", &max) != 1)
				max = -1;
			fclose(f);
		}
		if (first_err == EPERM && max == 0)
			kin__spawn_error(why, -EPERM, KIN_STEP_CLONE,
					 "tree mode needs a PID namespace: not privileged, and user "
					 "namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)");
		else
			kin__spawn_error(why, -err, KIN_STEP_CLONE,
					 "tree mode needs a PID namespace, and creating one failed: %s",
					 kin_strerror(-err));
		return -err;
	}
	*pid = (pid_t)r;
	return 0;
}

/* The sandboxed child: the namespaces' setup (as pid 1, if there is a new
 * pid namespace: a proc mount shows the namespace of whoever mounts it),
 * then kin's pid 1 and the program under it, or the program itself. */
KIN__CHILD_SIDE static _Noreturn void sandbox_child(kin__plan *plan)
{
	kin__sandbox_plan *sp = plan->sandbox;
	kin_spawn_step step = KIN_STEP_NAMESPACES;
	int32_t index = -1;
	/* Dies with the owner from now on, before the owner lets it go on: an
	 * owner gone before this is seen in kin__sandbox_enter as end of file
	 * on the sync pipe. Without it, an as_pid_1 program whose owner died
	 * while its root was being built would run on, linked to no one. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		kin__child_fail(plan, KIN_STEP_CLONE, errno);
	int r = kin__sandbox_enter(sp, &step, &index);
	if (r < 0)
		kin__child_fail_at(plan, step, -r, index);
	if (sp->clone_flags & CLONE_NEWPID) {
		/* Our parent is outside the namespace, where getppid() says 0;
		 * the owner was alive when it let us go on. */
		plan->owner_pid = 0;
		if (!sp->as_pid_1)
			kin__tree_init(plan);
	}
	kin__child_exec(plan);
}

static void namespaces_error(kin_spawn_error *why, int err, uint64_t flags)
{
	long max = -1;
	FILE *f = fopen("/proc/sys/user/max_user_namespaces", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = -1;
		fclose(f);
	}
	if ((flags & CLONE_NEWUSER) && max == 0)
		kin__spawn_error(why, err, KIN_STEP_NAMESPACES,
				 "user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0");
	else if (err == -EPERM && !(flags & CLONE_NEWUSER))
		kin__spawn_error(why, err, KIN_STEP_NAMESPACES,
				 "creating the sandbox's namespaces needs privilege; add KIN_NS_USER");
	else
		kin__spawn_error(why, err, KIN_STEP_NAMESPACES,
				 "cannot create the sandbox's namespaces: %s", kin_strerror(err));
}

static int clone_sandbox(kin__plan *plan, int *pidfd, pid_t *pid, kin_spawn_error *why)
{
	kin__sandbox_plan *sp = plan->sandbox;
	long r = kin__clone_fork_into(sp->clone_flags, 0, pidfd, sp->cgroup_fd);
	if (r == 0)
		sandbox_child(plan);
	if (r < 0) {
		int err = -errno;
		if (sp->cgroup_fd >= 0 && err != -EPERM && err != -ENOSPC)
			kin__spawn_error(why, err, KIN_STEP_CGROUP,
					 "cannot start the child in its cgroup %s: %s", sp->cgroup_path,
					 kin_strerror(err));
		else
			namespaces_error(why, err, sp->clone_flags);
		return err;
	}
	int e = kin__sandbox_release_child(sp, *pidfd, (pid_t)r, why);
	if (e < 0) {
		kin__discard_child(*pidfd, (pid_t)r, 0);
		kin__close_p(pidfd);
		return e;
	}
	*pid = (pid_t)r;
	return 0;
}

int kin__clone_child(kin__plan *plan, char *stack_top, int *pidfd, pid_t *pid,
		     kin_spawn_error *why)
{
	if (plan->sandbox)
		return clone_sandbox(plan, pidfd, pid, why);
	if (plan->flags & KIN_SPAWN_TREE)
		return clone_tree(plan, pidfd, pid, why);
	if (plan->flags & KIN_SPAWN_DETACHED)
		return clone_detached(plan, stack_top, pidfd, pid);
	return clone_linked(plan, stack_top, pidfd, pid);
}
