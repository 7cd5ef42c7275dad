/* A child we own, named by its pidfd. It ends exactly once: whoever sees
 * the pidfd readable first (a blocking wait on any thread, or the loop)
 * reaps it under the proc's lock and records the status. */
#include "proc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals through the pidfd, so a recycled pid is never hit. Called with
 * p->lock held. Where pidfd_send_signal is missing (valgrind, some seccomp
 * profiles), a child of ours falls back to its pid: it is unreaped while we
 * hold the lock, so the pid cannot have been reused. A detached child is
 * not ours to hold that way, so it gets the error. */
static int proc_signal(kin_proc *p, int sig, siginfo_t *info)
{
	if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, info, 0) == 0)
		return 0;
	if (errno != ENOSYS || (p->flags & KIN_SPAWN_DETACHED))
		return -errno;
	long r = info ? syscall(SYS_rt_sigqueueinfo, p->pid, sig, info) : kill(p->pid, sig);
	return r < 0 ? -errno : 0;
}

/* Sets kill_at and points kill_fd at it; called with proc->lock held.
 * Re-arming or disarming a timerfd also clears a pending expiry, so a
 * sleeper is never woken for a deadline that no longer holds. */
static void set_kill_at(kin_proc *p, kin_time at)
{
	p->kill_at = at;
	if (p->kill_fd < 0)
		return;
	struct itimerspec its = {0};
	if (at != KIN_FOREVER) {
		kin_time t = at > 0 ? at : 1; /* all zero would disarm */
		its.it_value.tv_sec = t / KIN_SEC;
		its.it_value.tv_nsec = t % KIN_SEC;
	}
	(void)timerfd_settime(p->kill_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void kin__discard_child(int pidfd, pid_t pid, unsigned flags)
{
	if (flags & KIN_SPAWN_DETACHED)
		return;
	/* Without pidfd_send_signal (valgrind) the pid will do: the child is
	 * unreaped, so the pid is still its own. */
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && pid > 0)
		(void)kill(pid, SIGKILL);
	siginfo_t si;
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR)
		;
}

/* Called with proc->lock held. Returns true once the proc has ended. */
static bool reap_locked(kin_proc *p, bool block)
{
	if (p->ended)
		return true;
	if (p->flags & KIN_SPAWN_DETACHED) {
		/* Not our child, so no status: only whether it is gone. */
		if (!block && !(kin__poll_fd(p->pidfd, POLLIN, 0) > 0))
			return false;
		if (block)
			(void)kin__poll_fd(p->pidfd, POLLIN, KIN_FOREVER);
		p->status.kind = KIN_EXIT_UNKNOWN;
		p->ended = true;
		return true;
	}
	siginfo_t si;
	struct rusage ru;
	memset(&si, 0, sizeof(si));
	memset(&ru, 0, sizeof(ru));
	for (;;) {
		/* The raw syscall, because only it hands back the rusage. */
		long r = syscall(SYS_waitid, P_PIDFD, p->pidfd, &si,
				 WEXITED | __WALL | (block ? 0 : WNOHANG), &ru);
		if (r == 0)
			break;
		if (errno == ECHILD) {
			/* The host reaped it with waitpid(-1): after exec a child
			 * sends SIGCHLD and is visible to that, whatever exit
			 * signal it was born with. Gone, status unknown. */
			p->status.kind = KIN_EXIT_UNKNOWN;
			p->ended = true;
			set_kill_at(p, KIN_FOREVER);
			return true;
		}
		if (errno != EINTR)
			return false;
	}
	if (si.si_pid == 0)
		return false; /* still running */
	kin__status_from_siginfo(&p->status, &si);
	p->status.rusage = ru;
	if (p->report_fd >= 0) {
		/* Tree mode: the init told us how the program itself ended. If the
		 * init was killed outright, its own status is the answer. */
		kin__tree_report rep;
		if (kin__read_full(p->report_fd, &rep, sizeof(rep)) == (ssize_t)sizeof(rep)) {
			kin_status st = {0};
			kin__status_from_wait(&st, rep.wait_status);
			st.rusage = rep.rusage;
			p->status = st;
		}
		kin__close_p(&p->report_fd);
	}
	if (p->cgroup_path) {
		p->status.oom_killed = p->status.kind == KIN_KILLED &&
				       p->status.signal == SIGKILL &&
				       kin__cgroup_oom_killed(p->cgroup_path);
		kin__cgroup_remove(p->cgroup_path);
		free(p->cgroup_path);
		p->cgroup_path = NULL;
	}
	p->ended = true;
	set_kill_at(p, KIN_FOREVER);
	return true;
}

static void deliver_exit(kin_proc *p)
{
	pthread_mutex_lock(&p->lock);
	bool ended = p->ended;
	bool fire = ended && p->on_exit && !p->exit_reported;
	if (fire)
		p->exit_reported = true;
	kin_status st = p->status;
	pthread_mutex_unlock(&p->lock);
	if (ended) {
		/* A pending SIGKILL escalation has nothing left to do, and an
		 * armed timer would keep kin_loop_run going until it fired. */
		kin_timer_stop(p->timer);
		kin_watch_set(p->pid_watch, 0);
		if (p->exit_counted) {
			p->exit_counted = false;
			atomic_fetch_sub(&p->loop->active, 1);
		}
	}
	if (fire)
		p->on_exit(p, &st, p->exit_userdata);
}

static void on_pidfd(kin_watch *w, unsigned events, void *userdata)
{
	(void)w;
	(void)events;
	kin_proc *p = userdata;
	pthread_mutex_lock(&p->lock);
	reap_locked(p, false);
	pthread_mutex_unlock(&p->lock);
	deliver_exit(p);
}

/* The proc's one timer: SIGKILL escalation, and late on_exit delivery. */
static void on_timer(kin_timer *t, void *userdata)
{
	(void)t;
	kin_proc *p = userdata;
	pthread_mutex_lock(&p->lock);
	if (!p->ended && p->kill_at <= kin_now()) {
		set_kill_at(p, KIN_FOREVER);
		(void)proc_signal(p, SIGKILL, NULL);
	}
	pthread_mutex_unlock(&p->lock);
	deliver_exit(p);
}

static void release(kin__link *link)
{
	kin_proc_free((kin_proc *)link);
}

int kin__proc_new(kin_loop *loop, const kin_spawn_opts *o, pid_t pid, int pidfd, int report_fd,
		  int parent_end[3], kin_proc **ret)
{
	kin_proc *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->pid = pid;
	p->pidfd = pidfd;
	p->report_fd = report_fd;
	p->flags = o->flags;
	p->kill_at = KIN_FOREVER;
	p->kill_fd = -1;
	p->link.release = release;
	pthread_mutex_init(&p->lock, NULL);
	int r = kin__watch_new(loop, pidfd, true, on_pidfd, p, &p->pid_watch);
	if (r == 0)
		r = kin_watch_set(p->pid_watch, KIN_READABLE);
	if (r == 0)
		r = kin_timer_new(loop, on_timer, p, &p->timer);
	for (int i = 0; i < 3 && r == 0; i++)
		if (parent_end[i] >= 0)
			r = kin__stream_new(p, parent_end[i], i == 0, &p->streams[i]);
	if (r < 0) {
		/* The caller still owns the fds: detach them before freeing. */
		for (int i = 0; i < 3; i++)
			if (p->streams[i]) {
				kin__stream_free(p->streams[i]);
				parent_end[i] = -1;
			}
		kin_watch_free(p->pid_watch);
		kin_timer_free(p->timer);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return r;
	}
	pthread_mutex_lock(&loop->lock);
	kin__list_add(&loop->procs, &p->link);
	pthread_mutex_unlock(&loop->lock);
	atomic_fetch_add(&loop->nprocs, 1);
	*ret = p;
	return 0;
}

pid_t kin_proc_pid(const kin_proc *p)
{
	return p->pid;
}

int kin_proc_pidfd(const kin_proc *p)
{
	return p->pidfd;
}

kin_stream *kin_proc_stdin(kin_proc *p)
{
	return p->streams[0];
}

kin_stream *kin_proc_stdout(kin_proc *p)
{
	return p->streams[1];
}

kin_stream *kin_proc_stderr(kin_proc *p)
{
	return p->streams[2];
}

int kin_proc_poll(kin_proc *p, kin_status *status)
{
	pthread_mutex_lock(&p->lock);
	bool ended = reap_locked(p, false);
	if (ended && status)
		*status = p->status;
	pthread_mutex_unlock(&p->lock);
	return ended ? 1 : 0;
}

int kin_proc_wait(kin_proc *p, kin_time deadline, kin_status *status)
{
	for (;;) {
		pthread_mutex_lock(&p->lock);
		bool ended = reap_locked(p, false);
		if (ended && status)
			*status = p->status;
		if (!ended && p->kill_at <= kin_now()) {
			set_kill_at(p, KIN_FOREVER);
			(void)proc_signal(p, SIGKILL, NULL);
		}
		if (!ended && p->kill_fd < 0 && kin_now() < deadline) {
			/* Without it (out of fds) we still wake for a kill_at known
			 * now, only not for one set while we sleep. */
			p->kill_fd = kin__fd_above_stdio(
				timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
			set_kill_at(p, p->kill_at);
		}
		kin_time kill_at = p->kill_at;
		int kill_fd = p->kill_fd;
		pthread_mutex_unlock(&p->lock);
		if (ended)
			return 0;
		kin_time wake = kill_at < deadline ? kill_at : deadline;
		struct pollfd pf[2] = {{.fd = p->pidfd, .events = POLLIN},
				       {.fd = kill_fd, .events = POLLIN}};
		int n = poll(pf, kill_fd >= 0 ? 2 : 1, kin__timeout_ms(wake));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0 && wake == deadline && kin_now() >= deadline)
			return -ETIMEDOUT;
	}
}

int kin_proc_kill(kin_proc *p, int sig)
{
	if (sig < 0 || sig >= NSIG)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	/* Holding the lock keeps the child unreaped, so its pid (and group)
	 * cannot be recycled under us. */
	int r = p->ended ? -ESRCH : proc_signal(p, sig, NULL);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int kin_proc_kill_group(kin_proc *p, int sig)
{
	if (sig < 0 || sig >= NSIG)
		return -EINVAL;
	if (!(p->flags & (KIN_SPAWN_NEW_PGROUP | KIN_SPAWN_NEW_SESSION | KIN_SPAWN_DETACHED)))
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	int r;
	if (p->ended) {
		r = -ESRCH;
	} else if ((p->flags & KIN_SPAWN_TREE) && sig != 0 && sig != SIGKILL) {
		/* The group lives inside the namespace; ask its init. (SIGKILL to
		 * the init takes the whole namespace anyway.) */
		siginfo_t info;
		memset(&info, 0, sizeof(info));
		info.si_signo = KIN__GROUP_REQUEST_SIGNAL;
		info.si_code = SI_QUEUE;
		info.si_pid = getpid();
		info.si_uid = getuid();
		info.si_value.sival_int = KIN__GROUP_REQUEST_TAG | sig;
		r = proc_signal(p, KIN__GROUP_REQUEST_SIGNAL, &info);
	} else if (p->flags & KIN_SPAWN_TREE) {
		r = proc_signal(p, sig, NULL);
	} else {
		/* Safe: the leader is unreaped (we hold the lock), so its pgid is
		 * still taken and names the same group. */
		r = kill(-p->pid, sig) < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int kin__proc_kill_at(kin_proc *p, kin_time at)
{
	int r = 0;
	/* Under the lock, so the timer is never armed after the loop has
	 * seen the child end (and stopped it): it would then hold the loop
	 * for the whole grace period. */
	pthread_mutex_lock(&p->lock);
	if (!p->ended) {
		set_kill_at(p, at);
		r = kin_timer_start(p->timer, at, 0);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int kin_proc_terminate(kin_proc *p, int64_t grace_ns)
{
	int r = kin_proc_kill(p, SIGTERM);
	if (r < 0)
		return r;
	return kin__proc_kill_at(p, kin_after(grace_ns));
}

int kin_proc_on_exit(kin_proc *p, kin_exit_cb cb, void *userdata)
{
	pthread_mutex_lock(&p->lock);
	p->on_exit = cb;
	p->exit_userdata = userdata;
	bool ended = p->ended;
	bool reported = p->exit_reported;
	pthread_mutex_unlock(&p->lock);
	if (cb && !ended && !p->exit_counted) {
		p->exit_counted = true;
		atomic_fetch_add(&p->loop->active, 1);
	} else if (!cb && p->exit_counted) {
		p->exit_counted = false;
		atomic_fetch_sub(&p->loop->active, 1);
	}
	/* Already ended: deliver from the loop on its next pass. */
	if (cb && ended && !reported)
		return kin_timer_start(p->timer, 0, 0);
	return 0;
}

int kin__proc_adopt(kin_loop *loop, pid_t pid, int pidfd, kin_proc **ret)
{
	static const kin_spawn_opts none = KIN_SPAWN_OPTS_INIT;
	int no_streams[3] = {-1, -1, -1};
	return kin__proc_new(loop, &none, pid, pidfd, -1, no_streams, ret);
}

static void free_when_reaped(kin_proc *p, const kin_status *st, void *userdata)
{
	(void)st;
	(void)userdata;
	kin_proc_free(p);
}

void kin__proc_release(kin_proc *p)
{
	pthread_mutex_lock(&p->lock);
	bool ended = p->ended;
	p->released = !ended;
	pthread_mutex_unlock(&p->lock);
	if (ended) {
		kin_proc_free(p);
		return;
	}
	/* Not counted as loop work: a released child must not keep
	 * kin_loop_run from returning. */
	(void)kin_proc_on_exit(p, NULL, NULL);
	pthread_mutex_lock(&p->lock);
	p->on_exit = free_when_reaped;
	pthread_mutex_unlock(&p->lock);
}

void kin_proc_free(kin_proc *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->loop->lock);
	kin__list_del(&p->link);
	pthread_mutex_unlock(&p->loop->lock);
	atomic_fetch_sub(&p->loop->nprocs, 1);
	pthread_mutex_lock(&p->lock);
	if (!p->ended && !(p->flags & KIN_SPAWN_DETACHED) && !p->released) {
		(void)proc_signal(p, SIGKILL, NULL);
		reap_locked(p, true);
	}
	pthread_mutex_unlock(&p->lock);
	if (p->exit_counted)
		atomic_fetch_sub(&p->loop->active, 1);
	for (int i = 0; i < 3; i++)
		kin__stream_free(p->streams[i]);
	kin_watch_free(p->pid_watch);
	kin_timer_free(p->timer);
	/* An ended child's cgroup was removed when it was reaped. One still
	 * running here was let go (a detached worker): its cgroup is its
	 * own, and stays. */
	if (p->ended)
		kin__cgroup_remove(p->cgroup_path);
	free(p->cgroup_path);
	kin__close(p->pidfd);
	kin__close(p->report_fd);
	kin__close(p->kill_fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
