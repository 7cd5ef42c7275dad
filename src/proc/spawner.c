/* Where children are created: on the calling thread when that is cheap and
 * safe (spawn_directly), else on the loop's spawner thread.
 *
 * Why a thread of its own:
 *  - Cost. A clone copies the fd table of the thread that calls it, and exec
 *    then closes the copy: O(open fds) per spawn, so an owner holding 10,000
 *    pidfds pays ~0.6 ms a spawn (O(n^2) for n children). This thread has
 *    unshared its fd table and keeps only its socket in it, so a spawn costs
 *    the same with 10 children or 10,000.
 *  - Lifetime. PR_SET_PDEATHSIG fires when the *thread* that created a child
 *    exits. Children made here die with the loop or the process, never
 *    because the thread that asked for them went away.
 *  - Signals. It keeps every signal blocked, so no handler of the owner can
 *    run in a child that shares its memory before exec.
 *
 * A request carries a pointer to the owner's plan (we share memory) and, as
 * SCM_RIGHTS, every fd the child needs, which arrive here under new numbers.
 * The reply carries the child's pidfd. One request runs at a time. */
#include "proc.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fits SCM_MAX_FD (253) with the plan's limit on mapped fds. */
#define KIN__MAX_PASSED (3 + KIN__MAX_FDS + 8)

typedef struct kin__spawner {
	kin__link link; /* in loop->procs, so kin_loop_free stops us */
	kin_loop *loop;
	pthread_t thread;
	int sock, peer;
	pthread_mutex_t lock; /* one request at a time */
	int start_err;
	/* The thread follows its callers from CPU to CPU, so that a hand-off
	 * is a switch on one CPU rather than a wake-up across two (an idle exit
	 * on a VM). Children get `cpus` back before exec: the mask the thread
	 * was born with, since affinity is inherited across fork and exec. */
	int cpu;
	cpu_set_t cpus;
	bool have_cpus;
} kin__spawner;

typedef struct request {
	kin__plan *plan;
	kin_spawn_error *why;
	pid_t pid;
	int err;
} request;

/* The plan's fds in a fixed order both sides can compute: each move's
 * source, then the error pipe, the tree report pipe, the lifeline and the
 * file to execute. */
static size_t plan_fds(kin__plan *plan, int **slots, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < plan->nmoves && n < cap; i++)
		if (plan->moves[i].from >= 0)
			slots[n++] = &plan->moves[i].from;
	int *extra[] = {&plan->err_fd, &plan->report_fd, &plan->lifeline_fd, &plan->exec_fd};
	for (size_t i = 0; i < KIN_ARRAY_SIZE(extra) && n < cap; i++)
		if (*extra[i] >= 0)
			slots[n++] = extra[i];
	kin__sandbox_plan *sp = plan->sandbox;
	int *sandbox[] = {sp ? &sp->sync_r : NULL, sp ? &sp->sync_w : NULL,
			  sp ? &sp->cgroup_fd : NULL, sp ? &sp->init_fd : NULL};
	for (size_t i = 0; i < KIN_ARRAY_SIZE(sandbox) && n < cap; i++)
		if (sandbox[i] && *sandbox[i] >= 0)
			slots[n++] = sandbox[i];
	return n;
}

static int send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * KIN__MAX_PASSED)];
	} ctl;
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Receives one message; returns its payload length (0 at EOF) or -errno,
 * and the fds that came with it (close-on-exec). */
static ssize_t recv_with_fds(int sock, void *data, size_t len, int *fds, size_t *nfds, size_t cap)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * KIN__MAX_PASSED)];
	} ctl;
	struct iovec iov = {.iov_base = data, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	ssize_t r;
	while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return -errno;
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (*nfds < cap)
				fds[(*nfds)++] = fd;
			else
				kin__close(fd);
		}
	}
	/* Our buffer always has room, so truncated control data means the fds
	 * could not be installed: this process is out of them. A message is
	 * never half-used. */
	if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
		for (size_t i = 0; i < *nfds; i++)
			kin__close(fds[i]);
		*nfds = 0;
		return msg.msg_flags & MSG_CTRUNC ? -EMFILE : -EPROTO;
	}
	return r;
}

static void serve(const kin__spawner *sp, int peer, char *stack_top, request *req, int *fds,
		  size_t nfds)
{
	int *slots[KIN__MAX_PASSED];
	size_t n = plan_fds(req->plan, slots, KIN__MAX_PASSED);
	int pidfd = -1;
	if (n != nfds) {
		req->err = -EPROTO;
	} else {
		/* The plan now names the fds as they are numbered here. */
		for (size_t i = 0; i < n; i++)
			*slots[i] = fds[i];
		req->plan->cpus = sp->have_cpus ? &sp->cpus : NULL;
		req->err = kin__clone_child(req->plan, stack_top, &pidfd, &req->pid, req->why);
	}
	for (size_t i = 0; i < nfds; i++)
		kin__close(fds[i]);
	char ok = 1;
	if (send_with_fds(peer, &ok, 1, &pidfd, req->err == 0 ? 1 : 0) < 0 && req->err == 0) {
		/* The owner cannot be told about this child: end it, as no one
		 * else ever could. */
		kin__discard_child(pidfd, req->pid, req->plan->flags);
	}
	kin__close(pidfd);
}

static void *spawner_main(void *arg)
{
	kin__spawner *sp = arg;
	/* Our own copy: once we say ready, the owner closes its peer fd and
	 * no longer expects us to read sp. */
	int peer = sp->peer;
	sp->have_cpus = sched_getaffinity(0, sizeof(sp->cpus), &sp->cpus) == 0;
	int err = unshare(CLONE_FILES) < 0 ? -errno : 0;
	if (err == 0) {
		int keep[1] = {peer};
		kin__close_all_except(keep, 1);
	}
	/* One stack for every vfork-style child: we make them one at a time,
	 * and a stack allocated per spawn would be faulted in afresh each time. */
	char *stack = err == 0 ? malloc(KIN__CHILD_STACK) : NULL;
	if (err == 0 && !stack)
		err = -ENOMEM;
	sp->start_err = err;
	char ready = 1;
	(void)send_with_fds(peer, &ready, 1, NULL, 0);
	if (err < 0)
		return NULL;
	for (;;) {
		request *req;
		int fds[KIN__MAX_PASSED];
		size_t nfds;
		ssize_t r = recv_with_fds(peer, &req, sizeof(req), fds, &nfds, KIN__MAX_PASSED);
		if (r <= 0)
			break; /* the loop closed its end: we are done */
		if (r != (ssize_t)sizeof(req)) {
			for (size_t i = 0; i < nfds; i++)
				kin__close(fds[i]);
			continue;
		}
		serve(sp, peer, stack + KIN__CHILD_STACK, req, fds, nfds);
	}
	free(stack);
	kin__close(peer);
	return NULL;
}

static void spawner_release(kin__link *link)
{
	kin__spawner *sp = (kin__spawner *)link;
	pthread_mutex_lock(&sp->loop->lock);
	kin__list_del(&sp->link);
	sp->loop->spawner = NULL;
	pthread_mutex_unlock(&sp->loop->lock);
	/* EOF on its socket ends the thread, which closes its own end. */
	(void)shutdown(sp->sock, SHUT_RDWR);
	pthread_join(sp->thread, NULL);
	kin__close(sp->sock);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

static int spawner_start(kin_loop *loop, kin__spawner **ret)
{
	kin__spawner *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->loop = loop;
	sp->cpu = -1;
	sp->link.release = spawner_release;
	pthread_mutex_init(&sp->lock, NULL);
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		int err = -errno;
		free(sp);
		return err;
	}
	sp->sock = kin__fd_above_stdio(pair[0]);
	sp->peer = kin__fd_above_stdio(pair[1]);
	/* The thread inherits this full mask and keeps it for good. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = -pthread_create(&sp->thread, NULL, spawner_main, sp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	char ready;
	size_t none;
	if (r == 0 && recv_with_fds(sp->sock, &ready, 1, NULL, &none, 0) != 1)
		r = -EPROTO;
	if (r == 0)
		r = sp->start_err;
	if (r < 0) {
		if (sp->thread)
			pthread_join(sp->thread, NULL);
		kin__close(sp->sock);
		kin__close(sp->peer);
		pthread_mutex_destroy(&sp->lock);
		free(sp);
		return r;
	}
	/* The thread's private table has its own copy of peer; ours goes. */
	kin__close_p(&sp->peer);
	*ret = sp;
	return 0;
}

/* The main thread makes the child itself while the loop holds few children:
 * its fd table is then small, so a clone from it is cheap, and its exit is
 * the process's, so the death signal means what it should. Handing over to
 * another thread costs a wake-up across CPUs, which is dear on a VM. */
static int spawn_directly(kin__plan *plan, int *pidfd, pid_t *pid, kin_spawn_error *why)
{
	char *stack = malloc(KIN__CHILD_STACK);
	if (!stack)
		return -ENOMEM;
	/* No handler of ours may run in a child that shares our memory; the
	 * child resets every signal before exec. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = kin__clone_child(plan, stack + KIN__CHILD_STACK, pidfd, pid, why);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(stack);
	if (r == 0)
		*pidfd = kin__fd_above_stdio(*pidfd);
	return r;
}

int kin__spawner_run(kin_loop *loop, kin__plan *plan, int *pidfd, pid_t *pid, kin_spawn_error *why)
{
	if (gettid() == getpid() && atomic_load(&loop->nprocs) < KIN__DIRECT_SPAWN_MAX)
		return spawn_directly(plan, pidfd, pid, why);
	pthread_mutex_lock(&loop->lock);
	kin__spawner *sp = loop->spawner;
	int r = 0;
	if (!sp) {
		r = spawner_start(loop, &sp);
		if (r == 0) {
			/* First in the list, so kin_loop_free stops it last, after
			 * every proc it made is gone. */
			kin__list_add(loop->procs.prev, &sp->link);
			loop->spawner = sp;
		}
	}
	pthread_mutex_unlock(&loop->lock);
	if (r < 0) {
		kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot start kin's spawner thread: %s",
				 kin_strerror(r));
		return r;
	}

	int *slots[KIN__MAX_PASSED];
	int fds[KIN__MAX_PASSED];
	size_t n = plan_fds(plan, slots, KIN__MAX_PASSED);
	for (size_t i = 0; i < n; i++)
		fds[i] = *slots[i];
	request req = {.plan = plan, .why = why, .err = -EPROTO, .pid = -1};
	request *reqp = &req;

	pthread_mutex_lock(&sp->lock);
	int cpu = sched_getcpu();
	if (cpu >= 0 && cpu != sp->cpu) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (pthread_setaffinity_np(sp->thread, sizeof(one), &one) == 0)
			sp->cpu = cpu;
	}
	r = send_with_fds(sp->sock, &reqp, sizeof(reqp), fds, n);
	char ok;
	int got[1];
	size_t ngot = 0;
	if (r == 0) {
		ssize_t rr = recv_with_fds(sp->sock, &ok, 1, got, &ngot, 1);
		r = rr == 1 ? req.err : rr < 0 ? (int)rr : -EPROTO;
	}
	pthread_mutex_unlock(&sp->lock);
	/* The plan goes back to the owner's fd numbers for anything after. */
	for (size_t i = 0; i < n; i++)
		*slots[i] = fds[i];
	if (r == 0 && ngot != 1)
		r = -EPROTO;
	if (r < 0 && req.pid > 0 && !(plan->flags & KIN_SPAWN_DETACHED)) {
		/* The child exists but its pidfd never reached us. It is ours and
		 * unreaped, so its pid is still its own: end it by pid. */
		(void)kill(req.pid, SIGKILL);
		while (waitpid(req.pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	if (r < 0) {
		for (size_t i = 0; i < ngot; i++)
			kin__close(got[i]);
		return r;
	}
	*pidfd = kin__fd_above_stdio(got[0]);
	*pid = req.pid;
	return 0;
}
