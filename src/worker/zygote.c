/* Zygotes: a copy of this program stopped inside kin_main, before main()
 * has done anything of its own, that forks ready workers on request. A
 * fork of a fresh process is far cheaper than an exec, and the forked
 * worker is still the owner's own child (CLONE_PARENT): the owner holds
 * its pidfd, reaps it and learns its real status, as for any worker.
 *
 * Between the owner, its zygote and a new worker (kin's own business, not
 * part of docs/protocol.md), MessagePack arrays as chan payloads:
 *   owner -> zygote   [5, threads]  with the new worker's chan attached
 *   worker -> owner   its HELLO, on its own chan, with its own pidfd attached
 *   zygote -> owner   [6, -errno]   when the fork failed
 * The new worker speaks first and once, so a spawn waits on no reply of
 * the zygote's. */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FORK_REQUEST 5
#define FORK_REPLY 6

struct kin_zygote {
	kin_loop *loop;
	kin_worker *self; /* the zygote, spoken to like any worker */
	pthread_mutex_t lock; /* one fork request at a time */
	bool broken;
};

/* ---- the zygote's side */

/* The zygote's failure to fork: [6, -errno]. */
static int report_failure(kin_chan *chan, int err)
{
	kin_buf b = KIN_BUF_INIT;
	int r = kin_mp_pack(&b, "[ii]", (size_t)2, (int64_t)FORK_REPLY, (int64_t)err);
	if (r == 0)
		r = kin_chan_send_bytes(chan, b.data, b.len, KIN_FOREVER);
	kin_buf_free(&b);
	return r;
}

/* Where the pid sits in a hello packed for INT32_MAX: [0, 1, 0xce + 4
 * bytes, ...]. The zygote packs the hello once; each new worker writes its
 * own pid in (big-endian, as MessagePack's uint32), so a spawn packs and
 * allocates nothing: every heap page a fresh fork touches is a copy. */
#define HELLO_PID_AT 3

static bool hello_template(kin_buf *tpl, const kin_handler *handlers)
{
	size_t n;
	const char **names = kin__handler_names(handlers, &n);
	bool ok = names && kin__proto_hello(tpl, INT32_MAX, names, n) == 0 &&
		  tpl->len > HELLO_PID_AT + 4 && (unsigned char)tpl->data[HELLO_PID_AT] == 0xce;
	free(names);
	return ok;
}

/* In the new worker: it tells the owner who it is, and serves on its own
 * chan as if it had been executed. */
static _Noreturn void become_worker(kin_chan *zygote_chan, kin_chan *chan, long threads,
				    const kin_handler *handlers, pid_t owner, kin_buf *hello)
{
	/* A fork does not keep the death signal; the owner is our parent. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != owner)
		_exit(KIN__WORKER_FAILED);
	/* Only the fd: shutting the zygote's chan down would cut it off for
	 * the zygote too. Its few bytes of memory go with this process. */
	close(kin_chan_fd(zygote_chan));
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0)
		kin__worker_fail("pidfd_open", -errno);
	uint32_t me = (uint32_t)getpid();
	unsigned char *at = (unsigned char *)hello->data + HELLO_PID_AT + 1;
	at[0] = (unsigned char)(me >> 24);
	at[1] = (unsigned char)(me >> 16);
	at[2] = (unsigned char)(me >> 8);
	at[3] = (unsigned char)me;
	int fds[1] = {pidfd};
	kin_msg m = {.data = hello->data, .len = hello->len, .fds = fds, .nfds = 1};
	int r = kin_chan_send(chan, &m, KIN_FOREVER);
	if (r == -EPIPE)
		_exit(0);
	if (r < 0)
		kin__worker_fail("hello", r);
	kin__serve(handlers, chan, threads, true);
}

_Noreturn void kin__zygote_serve(const kin_handler *handlers, kin_chan *chan)
{
	pid_t owner = getppid();
	kin_buf hello = KIN_BUF_INIT;
	if (!hello_template(&hello, handlers))
		kin__worker_fail("packing the hello", -ENOMEM);
	int r = kin__send_hello(chan, handlers);
	if (r == -EPIPE)
		_exit(0);
	if (r < 0)
		kin__worker_fail("hello", r);
	for (;;) {
		kin_msg m = KIN_MSG_INIT;
		r = kin_chan_recv(chan, &m, KIN_FOREVER);
		if (r == KIN_CLOSED)
			exit(0);
		int64_t type, threads;
		if (r < 0 ||
		    kin_mp_unpack(m.data, m.len, "[ii]", NULL, &type, &threads) != (ssize_t)m.len ||
		    type != FORK_REQUEST || m.nchans != 1 || m.nfds != 0 || threads < 1 ||
		    threads > 1024)
			kin__worker_fail("a fork request", r < 0 ? r : -EPROTO);
		/* Single-threaded here, so a raw fork leaves no lock held. */
		long pid = kin__clone_fork(CLONE_PARENT, 0, NULL);
		if (pid == 0)
			become_worker(chan, m.chans[0], (long)threads, handlers, owner, &hello);
		r = pid < 0 ? report_failure(chan, -errno) : 0;
		kin_msg_release(&m); /* our copy of the worker's chan */
		if (r == -EPIPE)
			exit(0);
		if (r < 0)
			kin__worker_fail("replying to a fork request", r);
	}
}

/* ---- the owner's side */

int kin_zygote_new(kin_loop *loop, const kin_spawn_opts *spawn, kin_zygote **ret,
		   kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!loop || !ret || (spawn && spawn->argv)) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "a zygote needs a loop and ret, and is always this program "
				 "(spawn->argv must be NULL)");
		return -EINVAL;
	}
	if (spawn && (spawn->flags & (KIN_SPAWN_TREE | KIN_SPAWN_DETACHED))) {
		/* Its forks must be the owner's children: a zygote under a tree
		 * init, or re-parented away, cannot give it that. */
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "a zygote cannot be spawned in tree mode or detached");
		return -EINVAL;
	}
	kin_zygote *z = calloc(1, sizeof(*z));
	if (!z) {
		kin__spawn_error(why, -ENOMEM, KIN_STEP_RESOURCES, "out of memory");
		return -ENOMEM;
	}
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = spawn;
	int r = kin__worker_spawn_as(loop, &o, KIN__ENV_ZYGOTE "=1", &z->self, why);
	if (r < 0) {
		free(z);
		return r;
	}
	z->loop = loop;
	pthread_mutex_init(&z->lock, NULL);
	*ret = z;
	return 0;
}

pid_t kin_zygote_pid(const kin_zygote *z)
{
	return z ? kin_worker_pid(z->self) : -1;
}

void kin_zygote_free(kin_zygote *z)
{
	if (!z)
		return;
	kin_worker_free(z->self);
	pthread_mutex_destroy(&z->lock);
	free(z);
}

int kin__zygote_fork(kin_zygote *z, kin_loop *loop, unsigned threads, kin_proc **proc,
		     kin_chan **chan, kin__pmsg *hello, kin_spawn_error *why)
{
	if (loop != z->loop) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "the zygote belongs to another loop");
		return -EINVAL;
	}
	kin_chan *ours, *theirs;
	int r = kin__worker_chan_pair(&ours, &theirs, why);
	if (r < 0)
		return r;
	kin_buf b = KIN_BUF_INIT;
	kin_chan *give[1] = {theirs};
	kin_msg req = {.chans = give, .nchans = 1};
	kin_msg rep = KIN_MSG_INIT;
	kin_chan *zc = z->self->chan;
	bool from_worker = false;
	pthread_mutex_lock(&z->lock);
	bool sent = false;
	if (z->broken)
		r = -ECHILD;
	else
		r = kin_mp_pack(&b, "[ii]", (size_t)2, (int64_t)FORK_REQUEST, (int64_t)(threads ? threads : 1));
	if (r == 0) {
		req.data = b.data;
		req.len = b.len;
		r = kin_chan_send(zc, &req, kin_after(10 * KIN_SEC));
		sent = r == 0;
	}
	if (r == 0) {
		/* The new worker's own first word, or the zygote's chan end of it
		 * closed unused: the fork failed, and the zygote says why. */
		r = kin_chan_recv(ours, &rep, kin_after(10 * KIN_SEC));
		from_worker = r == 0;
		if (r == KIN_CLOSED && kin_chan_recv(zc, &rep, kin_after(KIN_SEC)) != 0)
			r = -ECHILD;
		else if (r == KIN_CLOSED)
			r = 0;
		if (r != 0) {
			/* An answer may still come on its chan, and be read as the
			 * next one's: this zygote is done for. */
			z->broken = true;
			(void)kin_worker_kill(z->self, SIGKILL);
		}
	}
	pthread_mutex_unlock(&z->lock);
	kin_buf_free(&b);
	if (!sent)
		kin_chan_free(theirs); /* not sent: still ours */
	if (r == 0 && !from_worker) {
		/* The zygote's word: why it could not fork. */
		int64_t type = 0, err = 0;
		r = kin_mp_unpack(rep.data, rep.len, "[ii]", NULL, &type, &err) == (ssize_t)rep.len &&
				    type == FORK_REPLY && err < 0 && err > -4096
			    ? (int)err
			    : -EPROTO;
	}
	if (r == 0) {
		r = rep.nfds == 1 && !rep.nchans ? kin__hello_check(&rep, hello, why) : -EPROTO;
		pid_t pid = r == 0 ? (pid_t)hello->pid : -1;
		if (r == 0 && (r = kin__proc_adopt(loop, pid, rep.fds[0], proc)) < 0)
			kin__pmsg_free(hello);
		if (r == 0)
			rep.fds[0] = -1;
		else if (pid > 0) /* ours to bury, or it stays a zombie */
			kin__discard_child(rep.fds[0], pid, 0);
	}
	kin_msg_release(&rep);
	if (r < 0) {
		kin_chan_free(ours);
		if (r == KIN_CLOSED)
			r = -ECHILD;
		kin__spawn_error(why, r, KIN_STEP_CLONE, "the zygote could not fork a worker: %s",
				 r == -ECHILD ? "it is gone" : kin_strerror(r));
		return r;
	}
	*chan = ours;
	return 0;
}
