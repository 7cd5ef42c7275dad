/* pid 1 of a tree-mode PID namespace. When it exits, the kernel kills every
 * other process in the namespace, however they daemonized; so the owner's
 * death (seen as the lifeline pipe closing) takes the whole tree with it.
 *
 * It is a fork of a possibly multi-threaded owner, so it makes only raw,
 * async-signal-safe calls and never allocates. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

KIN__CHILD_SIDE static void map_identity(const kin__plan *plan)
{
	int r = kin__write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny");
	if (r == 0)
		r = kin__write_file_at(AT_FDCWD, "/proc/self/uid_map", plan->uid_map);
	if (r == 0)
		r = kin__write_file_at(AT_FDCWD, "/proc/self/gid_map", plan->gid_map);
	if (r < 0)
		kin__child_fail(plan, KIN_STEP_CLONE, -r);
}

KIN__CHILD_SIDE static _Noreturn void finish(const kin__plan *plan, int status, const struct rusage *ru)
{
	kin__tree_report rep = {.wait_status = status, .rusage = *ru};
	(void)!write(plan->report_fd, &rep, sizeof(rep));
	/* Mirror the status for anyone who only sees our own exit. */
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

KIN__CHILD_SIDE static void forward(const kin__plan *plan, pid_t main_pid,
				    const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo;
	pid_t target = main_pid;
	bool leads_group = plan->flags & (KIN_SPAWN_NEW_PGROUP | KIN_SPAWN_NEW_SESSION);
	if (sig == KIN__GROUP_REQUEST_SIGNAL && si->ssi_code == SI_QUEUE &&
	    (si->ssi_int & ~0xff) == KIN__GROUP_REQUEST_TAG) {
		/* kin_proc_kill_group: the payload names the signal. */
		(void)kill(-main_pid, si->ssi_int & 0xff);
		return;
	}
	if (si->ssi_code == SI_KERNEL) {
		/* A terminal signalled its foreground group. If the program is in
		 * ours, it has the signal already; if it leads a group of its
		 * own, pass it to that whole group, as the terminal would. */
		if (getpgid(main_pid) == getpgrp())
			return;
		if (leads_group)
			target = -main_pid;
	}
	(void)kill(target, sig);
}

KIN__CHILD_SIDE _Noreturn void kin__tree_init(kin__plan *plan)
{
	if (plan->new_userns)
		map_identity(plan);
	if (plan->cpus) /* not pinned where the spawner thread happened to be */
		(void)sched_setaffinity(0, sizeof(*plan->cpus), plan->cpus);
	/* The owner blocked every signal before clone; keep them blocked and
	 * take them from a signalfd. Blocked signals still reach a pid 1,
	 * where unhandled ones would be dropped. */
	sigset_t all;
	sigfillset(&all);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0)
		kin__child_fail(plan, KIN_STEP_CLONE, errno);
	/* We share no handlers with the owner but start with copies of its.
	 * An owner that ignores SIGCHLD (or sets SA_NOCLDWAIT) would have our
	 * children reaped by the kernel with no SIGCHLD sent, and we would
	 * never learn that the program ended. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	if (sigaction(SIGCHLD, &dfl, NULL) < 0)
		kin__child_fail(plan, KIN_STEP_CLONE, errno);

	/* The program dies with us: as pid 1 goes, the kernel kills the rest. */
	plan->pdeathsig = true;
	plan->owner_pid = 0;
	long main_pid = kin__clone_fork(0, SIGCHLD, NULL);
	if (main_pid == 0)
		kin__child_exec(plan);
	if (main_pid < 0)
		kin__child_fail(plan, KIN_STEP_CLONE, errno);

	/* Keep only what we use, above all no copy of the child's pipes, or the
	 * owner would never see EOF on them. */
	int keep[3] = {sfd, plan->lifeline_fd, plan->report_fd};
	kin__close_all_except(keep, 3);
	/* In a sandbox, nothing worth taking over stays in pid 1. */
	if (plan->sandbox && kin__sandbox_confine_pid1() < 0) {
		(void)kill((pid_t)main_pid, SIGKILL);
		_exit(127);
	}

	for (;;) {
		struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN},
				       {.fd = plan->lifeline_fd, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents)
			_exit(137); /* the owner is gone: take the namespace down */
		struct signalfd_siginfo si;
		if (!(pf[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			forward(plan, (pid_t)main_pid, &si);
			continue;
		}
		/* Reap everything: orphans re-parent to us. */
		for (;;) {
			int status;
			struct rusage ru;
			pid_t p = wait4(-1, &status, WNOHANG, &ru);
			if (p <= 0)
				break;
			if (p == main_pid)
				finish(plan, status, &ru);
		}
	}
}
