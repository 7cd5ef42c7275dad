/* The owner's side of a spawn: check the options, open the pipes, build
 * the plan, have the spawner thread create the child, and learn from the
 * error pipe whether it reached exec. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIN__KNOWN_FLAGS                                                                          \
	(KIN_SPAWN_NEW_PGROUP | KIN_SPAWN_NEW_SESSION | KIN_SPAWN_TREE | KIN_SPAWN_DETACHED |       \
	 KIN_SPAWN_SET_UMASK | KIN_SPAWN_SET_UID | KIN_SPAWN_SET_GID)

/* The owner-side fds of one spawn, so failure paths can close them all. */
typedef struct spawn_fds {
	int parent_end[3]; /* our end of each piped stdio */
	int child_end[3];  /* what the child gets for stdio, if kin opened it */
	int err_r, err_w;
	int report_r, report_w;
	int pidfd;
} spawn_fds;

static void close_spawn_fds(spawn_fds *f, bool keep_parent_ends)
{
	for (int i = 0; i < 3; i++) {
		kin__close_p(&f->child_end[i]);
		if (!keep_parent_ends)
			kin__close_p(&f->parent_end[i]);
	}
	kin__close_p(&f->err_r);
	kin__close_p(&f->err_w);
	kin__close_p(&f->report_w);
	if (!keep_parent_ends) {
		kin__close_p(&f->report_r);
		kin__close_p(&f->pidfd);
	}
}

static int open_stdio(const kin_spawn_opts *o, spawn_fds *f, int from[3], kin_spawn_error *why)
{
	for (int i = 0; i < 3; i++) {
		const kin_stdio *s = &o->stdio[i];
		int r;
		switch (s->kind) {
		case KIN_STDIO_INHERIT:
			/* An fd the owner has closed stays closed in the child. */
			from[i] = fcntl(i, F_GETFD) >= 0 ? i : -1;
			break;
		case KIN_STDIO_PIPE: {
			int p[2];
			if ((r = kin__pipe(p)) < 0) {
				kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot make a pipe for fd %d: %s",
						 i, kin_strerror(r));
				return r;
			}
			f->parent_end[i] = i == 0 ? p[1] : p[0];
			f->child_end[i] = i == 0 ? p[0] : p[1];
			if (o->pipe_size && fcntl(p[0], F_SETPIPE_SZ, (int)o->pipe_size) < 0) {
				r = -errno;
				kin__spawn_error(why, r, KIN_STEP_OPTIONS, "cannot set pipe size %zu: %s",
						 o->pipe_size, kin_strerror(r));
				return r;
			}
			if ((r = kin__set_nonblock(f->parent_end[i], true)) < 0)
				return r;
			from[i] = f->child_end[i];
			break;
		}
		case KIN_STDIO_NULL:
			f->child_end[i] = kin__fd_above_stdio(
				open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC));
			if (f->child_end[i] < 0) {
				r = -errno;
				kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot open /dev/null: %s",
						 kin_strerror(r));
				return r;
			}
			from[i] = f->child_end[i];
			break;
		case KIN_STDIO_FD:
			if (s->fd < 0 || fcntl(s->fd, F_GETFD) < 0) {
				kin__spawn_error(why, -EBADF, KIN_STEP_OPTIONS,
						 "stdio fd %d: given fd %d is not open", i, s->fd);
				return -EBADF;
			}
			from[i] = s->fd;
			break;
		case KIN_STDIO_CLOSED:
			from[i] = -1;
			break;
		case KIN_STDIO_CLOSED_PIPE: {
			/* The child's end of a pipe whose other end we close now. */
			int p[2];
			if ((r = kin__pipe(p)) < 0) {
				kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot make a pipe for fd %d: %s",
						 i, kin_strerror(r));
				return r;
			}
			f->child_end[i] = i == 0 ? p[0] : p[1];
			kin__close(i == 0 ? p[1] : p[0]);
			from[i] = f->child_end[i];
			break;
		}
		case KIN_STDIO_TO_STDOUT:
			if (i != 2) {
				kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
						 "KIN_STDIO_TO_STDOUT is for stderr only");
				return -EINVAL;
			}
			from[i] = from[1];
			break;
		default:
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "stdio fd %d: unknown kind %d", i,
					 (int)s->kind);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_flags(const kin_spawn_opts *o, kin_spawn_error *why)
{
	if (o->flags & ~(unsigned)KIN__KNOWN_FLAGS) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "unknown spawn flags 0x%x",
				 o->flags & ~(unsigned)KIN__KNOWN_FLAGS);
		return -EINVAL;
	}
	if ((o->flags & KIN_SPAWN_TREE) && (o->flags & KIN_SPAWN_DETACHED)) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "KIN_SPAWN_TREE and KIN_SPAWN_DETACHED contradict each other: a tree "
				 "dies with its owner, a detached child outlives it");
		return -EINVAL;
	}
	return 0;
}

int kin_proc_spawn(kin_loop *loop, const kin_spawn_opts *opts, kin_proc **ret, kin_spawn_error *why)
{
	return kin__proc_spawn(loop, opts, -1, ret, why);
}

int kin__proc_spawn(kin_loop *loop, const kin_spawn_opts *opts, int exec_fd, kin_proc **ret,
		    kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!loop || !opts || !ret) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "loop, opts and ret are required");
		return -EINVAL;
	}
	int r = check_flags(opts, why);
	if (r < 0)
		return r;

	spawn_fds f = {.parent_end = {-1, -1, -1}, .child_end = {-1, -1, -1}, .err_r = -1,
		       .err_w = -1, .report_r = -1, .report_w = -1, .pidfd = -1};
	int from[3];
	kin__plan plan;
	bool have_plan = false;
	kin__sandbox_plan sandbox = {.sync_r = -1, .sync_w = -1, .cgroup_fd = -1, .init_fd = -1};
	bool have_sandbox = false;
	unsigned flags = opts->flags;
	if (opts->sandbox) {
		if (flags & KIN_SPAWN_DETACHED) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "a sandboxed child cannot be detached");
			return -EINVAL;
		}
		r = kin__sandbox_prepare(&sandbox, opts->sandbox, flags & KIN_SPAWN_TREE, why);
		if (r < 0)
			return r;
		have_sandbox = true;
		/* A new pid namespace runs under kin's pid 1, which is tree mode. */
		if ((sandbox.clone_flags & CLONE_NEWPID) && !sandbox.as_pid_1)
			flags |= KIN_SPAWN_TREE;
	}
	if ((r = open_stdio(opts, &f, from, why)) < 0)
		goto fail;
	int ep[2];
	if ((r = kin__pipe(ep)) < 0) {
		kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot make the error pipe: %s",
				 kin_strerror(r));
		goto fail;
	}
	f.err_r = ep[0];
	f.err_w = ep[1];
	if ((r = kin__plan_build(&plan, opts, from, why)) < 0)
		goto fail;
	have_plan = true;
	plan.err_fd = f.err_w;
	plan.exec_fd = exec_fd;
	plan.flags = flags;
	plan.sandbox = have_sandbox ? &sandbox : NULL;
	if (flags & KIN_SPAWN_DETACHED)
		plan.flags |= KIN_SPAWN_NEW_SESSION;
	if (flags & KIN_SPAWN_TREE) {
		int rp[2];
		if ((r = kin__loop_lifeline(loop)) < 0 || (r = kin__pipe(rp)) < 0) {
			kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot make tree-mode pipes: %s",
					 kin_strerror(r));
			goto fail;
		}
		plan.lifeline_fd = loop->lifeline_read;
		f.report_r = rp[0];
		f.report_w = rp[1];
		plan.report_fd = rp[1];
	}

	pid_t pid = -1;
	/* The spawner thread renumbers the plan's fds into its own table. */
	int sandbox_fds[3] = {sandbox.sync_r, sandbox.sync_w, sandbox.cgroup_fd};
	r = kin__spawner_run(loop, &plan, &f.pidfd, &pid, why);
	if (have_sandbox) {
		sandbox.sync_r = sandbox_fds[0];
		sandbox.sync_w = sandbox_fds[1];
		sandbox.cgroup_fd = sandbox_fds[2];
	}
	if (r < 0) {
		if (why && why->step == KIN_STEP_NONE)
			kin__spawn_error(why, r, KIN_STEP_CLONE, "cannot create a process: %s",
					 kin_strerror(r));
		goto fail;
	}
	f.pidfd = kin__fd_above_stdio(f.pidfd);

	/* EOF means every copy of the write end closed at exec: success. */
	kin__close_p(&f.err_w);
	kin__close_p(&f.report_w);
	for (int i = 0; i < 3; i++)
		kin__close_p(&f.child_end[i]);
	kin__child_failure failure;
	ssize_t got = kin__read_full(f.err_r, &failure, sizeof(failure));
	if (got != 0) {
		r = got == (ssize_t)sizeof(failure) ? -failure.err : (got < 0 ? (int)got : -EPROTO);
		kin_spawn_step step = got == (ssize_t)sizeof(failure) ? (kin_spawn_step)failure.step
								       : KIN_STEP_EXEC;
		if (!have_sandbox || !kin__sandbox_failure(&sandbox, why, r, step, failure.index))
			kin__spawn_error(why, r, step, "%s: %s failed: %s",
					 step == KIN_STEP_CWD && plan.cwd ? plan.cwd : plan.file,
					 kin_spawn_step_name(step), kin_strerror(r));
		/* It exits right after reporting; reap it so no zombie remains. */
		kin__discard_child(f.pidfd, pid, flags);
		goto fail;
	}
	kin__close_p(&f.err_r);
	kin__plan_free(&plan);
	have_plan = false;

	kin_spawn_opts o = *opts;
	o.flags = flags;
	r = kin__proc_new(loop, &o, pid, f.pidfd, f.report_r, f.parent_end, ret);
	if (r < 0) {
		kin__discard_child(f.pidfd, pid, flags); /* never one we cannot account for */
		kin__spawn_error(why, r, KIN_STEP_RESOURCES, "out of memory");
		goto fail;
	}
	if (have_sandbox) {
		/* The proc removes the cgroup once the child is reaped. */
		pthread_mutex_lock(&(*ret)->lock);
		(*ret)->cgroup_path = sandbox.cgroup_path;
		sandbox.cgroup_path = NULL;
		pthread_mutex_unlock(&(*ret)->lock);
		kin__sandbox_plan_free(&sandbox);
	}
	return 0;
fail:
	if (have_plan)
		kin__plan_free(&plan);
	if (have_sandbox)
		kin__sandbox_plan_free(&sandbox);
	close_spawn_fds(&f, false);
	return r;
}
