/* Internal interface of the proc layer. */
#ifndef KIN_PROC_H
#define KIN_PROC_H

#include "../core/core.h"
#include "../sandbox/sandbox.h"

#include <limits.h>
#include <sched.h>
#include <signal.h>

/* Code that runs in the child between clone and exec lives on a borrowed
 * stack that AddressSanitizer cannot follow; it is exempt from it. */
#if defined(__SANITIZE_ADDRESS__)
#define KIN__CHILD_SIDE __attribute__((no_sanitize_address))
#else
#define KIN__CHILD_SIDE
#endif

/* Most fds a spawn can map beyond stdio: everything a child gets travels to
 * the spawner thread in one SCM_RIGHTS message (at most 253 fds). */
#define KIN__MAX_FDS 240

/* What the child side reports down the error pipe when it cannot exec. */
typedef struct kin__child_failure {
	int32_t step;  /* kin_spawn_step */
	int32_t err;   /* positive errno */
	int32_t index; /* the mount step or landlock rule that failed, else -1 */
} kin__child_failure;

/* A tree-mode init takes "signal the program's whole group with N" as this
 * real-time signal, queued with TAG|N as its payload. Real-time signals
 * queue, so such a request is never merged into a pending standard signal
 * of the same number (a Ctrl-C already on its way, say) and lost. */
#define KIN__GROUP_REQUEST_SIGNAL (NSIG - 2) /* SIGRTMAX-1: valgrind keeps SIGRTMAX */
#define KIN__GROUP_REQUEST_TAG 0x6b696e00    /* "kin\0" */

/* One fd the child should end up with: `from` (an owner fd, or -1 to leave
 * `to` closed) becomes child fd `to`. */
typedef struct kin__fd_move {
	int from;
	int to;
} kin__fd_move;

/* Everything the child needs, computed in the owner where allocating is
 * allowed, so the child side can stay async-signal-safe. */
typedef struct kin__plan {
	const char *file; /* what to exec or search for */
	int exec_fd;      /* >= 0: exec this open file instead (execveat) */
	char **argv;
	char **envp;
	const char *path; /* the child's PATH, or NULL for the default */
	char *path_buf;   /* scratch for the PATH search */
	size_t path_buf_size;
	const char *cwd;
	kin__fd_move *moves; /* sorted by `to` */
	size_t nmoves;
	int max_target;
	unsigned flags;
	mode_t umask;
	uid_t uid;
	gid_t gid;
	bool drop_groups;
	const kin_rlimit *rlimits;
	size_t nrlimits;
	bool pdeathsig;   /* linked direct child: die with the owner */
	pid_t owner_pid;  /* to catch an owner that died before prctl */
	int err_fd;       /* write end of the error pipe */
	/* The CPUs the child may use, when the thread making it may be pinned
	 * (the spawner thread follows its callers); NULL leaves them be. */
	const cpu_set_t *cpus;
	/* The sandbox to build on the way to exec, or NULL. */
	kin__sandbox_plan *sandbox;
	/* Tree mode only. */
	int lifeline_fd;
	int report_fd;
	bool new_userns;
	char uid_map[64], gid_map[64];
	/* Storage the plan owns. */
	void *alloc_argv, *alloc_envp, *alloc_moves;
} kin__plan;

/* plan.c: validates opts and fills the plan; on failure fills `why`. */
int kin__plan_build(kin__plan *plan, const kin_spawn_opts *opts, const int stdio_from[3],
		    kin_spawn_error *why);
void kin__plan_free(kin__plan *plan);

/* child.c: runs in the child; never returns. Reports failure through
 * plan->err_fd and exits 127. */
_Noreturn void kin__child_exec(kin__plan *plan);
_Noreturn void kin__child_fail(const kin__plan *plan, kin_spawn_step step, int err);
_Noreturn void kin__child_fail_at(const kin__plan *plan, kin_spawn_step step, int err,
				  int32_t index);
/* Closes every fd except the given ones (async-signal-safe). */
void kin__close_all_except(int *keep, size_t n);

/* spawn.c: a fork-style clone (no new stack) with `flags` (CLONE_*) and the
 * given exit signal; with pidfd non-NULL, CLONE_PIDFD stores a pidfd there.
 * Uses clone3 and falls back to clone where clone3 is missing (ENOSYS under
 * older seccomp profiles and valgrind). Returns like fork, -1 with errno. */
long kin__clone_fork(uint64_t flags, int exit_signal, int *pidfd);
/* The same, born in the cgroup open as cgroup_fd (CLONE_INTO_CGROUP; clone3
 * only) unless it is -1. */
long kin__clone_fork_into(uint64_t flags, int exit_signal, int *pidfd, int cgroup_fd);

/* clone.c: creates the child the plan describes (linked, tree or
 * detached); runs on the spawner thread. A vfork-style child runs on the
 * given stack (its top: stacks grow down on every architecture Linux/glibc
 * supports but hppa) while the thread waits for its exec. */
#define KIN__CHILD_STACK (64 * 1024)
int kin__clone_child(kin__plan *plan, char *stack_top, int *pidfd, pid_t *pid,
		     kin_spawn_error *why);

/* spawner.c: creates the child, on this thread if it is the main thread
 * and the loop holds fewer than KIN__DIRECT_SPAWN_MAX children, else on
 * the loop's spawner thread (started on first use); returns 0 with the
 * owner's own pidfd, or -errno. */
#define KIN__DIRECT_SPAWN_MAX 64
int kin__spawner_run(kin_loop *loop, kin__plan *plan, int *pidfd, pid_t *pid, kin_spawn_error *why);

/* tree_init.c: pid 1 of a tree-mode namespace; never returns. */
_Noreturn void kin__tree_init(kin__plan *plan);

/* What a tree-mode init writes to the report pipe before it exits. */
typedef struct kin__tree_report {
	int32_t wait_status;
	int32_t pad;
	struct rusage rusage;
} kin__tree_report;

/* status.c */
void kin__status_from_wait(kin_status *st, int wait_status);
void kin__status_from_siginfo(kin_status *st, const siginfo_t *si);


struct kin_proc {
	kin__link link; /* in loop->procs; first member */
	kin_loop *loop;
	pid_t pid;
	int pidfd;
	int report_fd; /* tree mode: the init's report pipe, else -1 */
	unsigned flags;

	pthread_mutex_t lock; /* guards the fields below */
	bool ended;
	kin_status status;
	kin_time kill_at; /* pending SIGKILL of kin_proc_terminate */
	/* A timerfd armed for kill_at, which blocking waits poll besides the
	 * pidfd: a terminate from another thread moves kill_at after a wait
	 * has gone to sleep, and this is how the sleeper hears of it. Made by
	 * the first wait that blocks; -1 until then. */
	int kill_fd;

	kin_watch *pid_watch; /* loop thread only */
	bool exit_counted;    /* on_exit keeps the loop alive */
	kin_exit_cb on_exit;
	void *exit_userdata;
	bool exit_reported;
	bool released; /* kin__proc_release: not ours to kill; freed once reaped */
	kin_timer *timer; /* SIGKILL escalation and late on_exit delivery */

	kin_stream *streams[3];
	/* A sandbox's cgroup, kin's to remove once the child is reaped. */
	char *cgroup_path;
};

/* spawn.c: kin_proc_spawn, executing the file open as exec_fd (O_PATH is
 * enough) instead of looking argv[0] up, when exec_fd >= 0. Workers use it
 * to re-execute their own binary even after it was replaced on disk. */
int kin__proc_spawn(kin_loop *loop, const kin_spawn_opts *opts, int exec_fd, kin_proc **ret,
		    kin_spawn_error *why);

/* proc.c: wraps a started child; on failure the caller keeps the fds. */
int kin__proc_new(kin_loop *loop, const kin_spawn_opts *o, pid_t pid, int pidfd, int report_fd,
		  int parent_end[3], kin_proc **ret);

/* proc.c: sends SIGKILL at `at` unless the child has ended by then, from
 * the loop's timer or from any blocking kin_proc_wait (the second half of
 * kin_proc_terminate). */
int kin__proc_kill_at(kin_proc *proc, kin_time at);

/* proc.c: a kin_proc for a child of ours made elsewhere (a zygote's fork
 * with CLONE_PARENT), from its pidfd, which it takes on success. */
int kin__proc_adopt(kin_loop *loop, pid_t pid, int pidfd, kin_proc **ret);

/* proc.c: lets a running child go: kin_proc_free and kin_loop_free no
 * longer kill it, and the loop reaps and frees it when it ends (so no
 * zombie is left while the loop runs). Frees at once one already ended.
 * The caller must not use proc afterwards. */
void kin__proc_release(kin_proc *proc);

/* proc.c: ends a child kin will not hand out (SIGKILL, then reap), so no
 * zombie is left; a detached one is not ours to reap and is left alone. */
void kin__discard_child(int pidfd, pid_t pid, unsigned flags);

/* stream.c */
int kin__stream_new(kin_proc *proc, int fd, bool writer, kin_stream **ret);
void kin__stream_free(kin_stream *stream);

#endif
