/* The child's half of a spawn. This runs between clone and exec, often
 * sharing the owner's memory (CLONE_VM), so it makes raw, async-signal-safe
 * calls only: no malloc, no stdio, no locks, and no glibc wrapper that
 * broadcasts to "all threads" (setuid and friends go through syscall()). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KIN__DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

KIN__CHILD_SIDE _Noreturn void kin__child_fail_at(const kin__plan *plan, kin_spawn_step step,
						int err, int32_t index)
{
	kin__child_failure f = {.step = (int32_t)step, .err = err, .index = index};
	(void)!write(plan->err_fd, &f, sizeof(f));
	_exit(127);
}

KIN__CHILD_SIDE _Noreturn void kin__child_fail(const kin__plan *plan, kin_spawn_step step, int err)
{
	kin__child_fail_at(plan, step, err, -1);
}

/* Moves *fd above `high` if it is at or below it, where a dup2 of the
 * planned moves could land on it. */
KIN__CHILD_SIDE static void keep_above(const kin__plan *plan, int *fd, int high)
{
	if (*fd < 0 || *fd >= high)
		return;
	int moved = fcntl(*fd, F_DUPFD_CLOEXEC, high);
	if (moved < 0)
		kin__child_fail(plan, KIN_STEP_FDS, errno);
	*fd = moved;
}

KIN__CHILD_SIDE static int close_range_flags(unsigned lo, unsigned hi, unsigned flags)
{
	return (int)syscall(SYS_close_range, lo, hi, flags);
}

/* Gives the child exactly the planned fds. Every source is first copied
 * above the highest target, so a source that is also some other target
 * (the swapped stdout/stderr case) is never clobbered by an earlier dup2. */
KIN__CHILD_SIDE static void arrange_fds(kin__plan *plan)
{
	int high = plan->max_target + 1;
	keep_above(plan, &plan->err_fd, high);
	keep_above(plan, &plan->exec_fd, high);
	if (plan->sandbox)
		keep_above(plan, &plan->sandbox->init_fd, high);
	for (size_t i = 0; i < plan->nmoves; i++) {
		kin__fd_move *m = &plan->moves[i];
		if (m->from >= 0 && m->from <= plan->max_target) {
			int fd = fcntl(m->from, F_DUPFD_CLOEXEC, high);
			if (fd < 0)
				kin__child_fail(plan, KIN_STEP_FDS, errno);
			m->from = fd;
		}
	}
	for (size_t i = 0; i < plan->nmoves; i++) {
		kin__fd_move *m = &plan->moves[i];
		if (m->from < 0)
			(void)close(m->to);
		else if (dup2(m->from, m->to) < 0) /* dup2 clears close-on-exec */
			kin__child_fail(plan, KIN_STEP_FDS, errno);
	}
	/* Everything else, including the gaps between mapped fds, closes at
	 * exec. Marking rather than closing keeps err_fd usable until then. */
	for (size_t i = 0; i + 1 < plan->nmoves; i++) {
		unsigned lo = (unsigned)plan->moves[i].to + 1, hi = (unsigned)plan->moves[i + 1].to;
		if (lo < hi && close_range_flags(lo, hi - 1, CLOSE_RANGE_CLOEXEC) < 0)
			kin__child_fail(plan, KIN_STEP_FDS, errno);
	}
	if (close_range_flags((unsigned)high, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		kin__child_fail(plan, KIN_STEP_FDS, errno);
	if (plan->sandbox) {
		/* Nothing else crosses into a sandbox, not even as far as its
		 * init hook: close for real what exec would have closed. */
		int keep[3 + KIN__MAX_FDS + 3];
		size_t n = 0;
		for (size_t i = 0; i < plan->nmoves; i++)
			if (plan->moves[i].from >= 0)
				keep[n++] = plan->moves[i].to;
		keep[n++] = plan->err_fd;
		keep[n++] = plan->exec_fd;
		keep[n++] = plan->sandbox->init_fd;
		kin__close_all_except(keep, n);
	}
}

KIN__CHILD_SIDE static void set_credentials(const kin__plan *plan)
{
	if (plan->drop_groups && syscall(SYS_setgroups, 0, NULL) < 0)
		kin__child_fail(plan, KIN_STEP_CREDENTIALS, errno);
	if ((plan->flags & KIN_SPAWN_SET_GID) &&
	    syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) < 0)
		kin__child_fail(plan, KIN_STEP_CREDENTIALS, errno);
	if ((plan->flags & KIN_SPAWN_SET_UID) &&
	    syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) < 0)
		kin__child_fail(plan, KIN_STEP_CREDENTIALS, errno);
}

/* The raw syscall, because glibc's sigaction refuses its two internal
 * signals (32 and 33). Those are not harmless to skip: glibc's posix_spawn
 * sets them to SIG_IGN in the programs it starts, an ignored signal stays
 * ignored across exec, so an owner started that way would pass them on to
 * every child. An all-zero kernel sigaction means SIG_DFL with no flags on
 * every architecture, whatever the struct's layout; the buffer is larger
 * than any of them. */
KIN__CHILD_SIDE static void reset_signals(void)
{
	unsigned long dfl[8] = {0};
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)syscall(SYS_rt_sigaction, sig, dfl, NULL, (size_t)(NSIG - 1) / 8);
	sigset_t none;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* execvp's search, but over the child's own PATH and without allocating.
 * Like execvp, EACCES on one entry is remembered while later ones are tried. */
KIN__CHILD_SIDE static _Noreturn void exec_program(const kin__plan *plan)
{
	if (plan->exec_fd >= 0) {
		/* Close-on-exec is fine here: the file is a binary, not a script
		 * whose interpreter would need the fd after exec. */
		(void)syscall(SYS_execveat, plan->exec_fd, "", plan->argv, plan->envp, AT_EMPTY_PATH);
		kin__child_fail(plan, KIN_STEP_EXEC, errno);
	}
	if (strchr(plan->file, '/')) {
		execve(plan->file, plan->argv, plan->envp);
		kin__child_fail(plan, KIN_STEP_EXEC, errno);
	}
	const char *p = plan->path ? plan->path : KIN__DEFAULT_PATH;
	size_t flen = strlen(plan->file);
	int err = ENOENT;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		char *b = plan->path_buf;
		if (dlen == 0) /* an empty entry means the current directory */
			b[0] = '.', dlen = 1;
		else
			memcpy(b, p, dlen);
		b[dlen] = '/';
		memcpy(b + dlen + 1, plan->file, flen + 1);
		execve(b, plan->argv, plan->envp);
		switch (errno) {
		case EACCES:
			err = EACCES;
			break;
		case ENOENT:
		case ENOTDIR:
		case ESTALE:
		case ENODEV:
		case ETIMEDOUT:
		case ELOOP:
		case ENAMETOOLONG:
			break;
		default:
			kin__child_fail(plan, KIN_STEP_EXEC, errno);
		}
		if (!end)
			break;
		p = end + 1;
	}
	kin__child_fail(plan, KIN_STEP_EXEC, err);
}

/* The plan is this spawn's alone, so the child may adjust its fds in it. */
KIN__CHILD_SIDE _Noreturn void kin__child_exec(kin__plan *plan)
{
	if (plan->flags & KIN_SPAWN_NEW_SESSION) {
		if (setsid() < 0)
			kin__child_fail(plan, KIN_STEP_SESSION, errno);
	} else if (plan->flags & KIN_SPAWN_NEW_PGROUP) {
		if (setpgid(0, 0) < 0)
			kin__child_fail(plan, KIN_STEP_SESSION, errno);
	}
	arrange_fds(plan);
	for (size_t i = 0; i < plan->nrlimits; i++)
		if (setrlimit((__rlimit_resource_t)plan->rlimits[i].resource,
			      &plan->rlimits[i].limit) < 0)
			kin__child_fail(plan, KIN_STEP_RLIMIT, errno);
	if (plan->flags & KIN_SPAWN_SET_UMASK)
		umask(plan->umask);
	set_credentials(plan);
	/* After credentials, since changing them clears the death signal. The
	 * getppid check catches an owner that died before prctl took effect. */
	if (plan->pdeathsig) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			kin__child_fail(plan, KIN_STEP_CLONE, errno);
		if (plan->owner_pid && getppid() != plan->owner_pid)
			_exit(127);
	}
	if (plan->cpus)
		(void)sched_setaffinity(0, sizeof(*plan->cpus), plan->cpus);
	if (plan->cwd && chdir(plan->cwd) < 0)
		kin__child_fail(plan, KIN_STEP_CWD, errno);
	/* Before the sandbox's seccomp filter, which may deny the calls. */
	reset_signals();
	if (plan->sandbox) {
		kin_spawn_step step;
		int32_t index;
		int r = kin__sandbox_confine(plan->sandbox, &step, &index);
		if (r < 0)
			kin__child_fail_at(plan, step, -r, index);
	}
	exec_program(plan);
}

KIN__CHILD_SIDE void kin__close_all_except(int *keep, size_t n)
{
	/* Insertion sort: n is tiny and qsort is not async-signal-safe. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned lo = 0;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0)
			continue;
		if ((unsigned)keep[i] > lo)
			(void)close_range_flags(lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	(void)close_range_flags(lo, ~0u, 0);
}
