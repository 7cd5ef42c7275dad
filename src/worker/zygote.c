/* Zygotes: a copy of this program stopped inside kin_main, before main()
 * has done anything of its own, that forks ready workers on request. A
 * fork of a fresh process is far cheaper than an exec, and the forked
 * worker is still the owner's own child (CLONE_PARENT): the owner holds
 * its pidfd, reaps it and learns its real status, as for any worker.
 *
 * The zygote forks one worker ahead of need: a spare, waiting on its own
 * chan to the owner. A spawn starts the spare, so the fork is off the
 * spawn's path, then asks the zygote for the next one. Android's pool of
 * unspecialized app processes does the same for the same reason.
 *
 * The spare is announced to the owner, with its pidfd, as soon as it is
 * forked: from then on the owner can bury it whatever happens to the
 * zygote. Only a zygote killed between its fork and that message leaves
 * a spare the owner never hears of (it exits, and stays a zombie until
 * the owner exits); kin_zygote_free lets the zygote finish first.
 *
 * Between the owner, its zygote and a spare (kin's own business, not part
 * of docs/protocol.md), MessagePack arrays as chan payloads:
 *   owner -> zygote  [5]           fork a spare
 *   zygote -> owner  [7, pid]      the spare's pidfd and chan attached
 *   zygote -> owner  [6, -errno]   the fork failed
 *   owner -> spare   [8, threads]  become a worker
 *   spare -> owner   its HELLO, the first word of a worker */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPARE_REQUEST 5
#define SPARE_FAILED 6
#define SPARE_READY 7
#define SPARE_START 8

typedef struct spare {
	pid_t pid; /* 0: none */
	int pidfd;
	kin_chan *chan;
} spare;

#define NO_SPARE ((spare){.pid = 0, .pidfd = -1, .chan = NULL})

struct kin_zygote {
	kin_loop *loop;
	kin_worker *self;     /* the zygote, spoken to like any worker */
	pthread_mutex_t lock; /* the fields below */
	spare spare;          /* forked, announced, not yet started */
	bool asked;           /* a spare is asked for and not yet announced */
	bool broken;          /* gone, or said something we cannot read */
};

/* ---- the zygote's side */

static int send_array(kin_chan *chan, const kin_msg *with, int64_t type, int64_t value)
{
	kin_buf b = KIN_BUF_INIT;
	int r = kin_mp_pack(&b, "[ii]", (size_t)2, type, value);
	if (r == 0) {
		kin_msg m = with ? *with : (kin_msg)KIN_MSG_INIT;
		m.data = b.data;
		m.len = b.len;
		r = kin_chan_send(chan, &m, KIN_FOREVER);
	}
	kin_buf_free(&b);
	return r;
}

/* Where the pid sits in a hello packed for INT32_MAX: [0, 1, 0xce + 4
 * bytes, ...]. The zygote packs the hello once; each spare writes its own
 * pid in (big-endian, as MessagePack's uint32), so a spare packs and
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

static void hello_set_pid(kin_buf *hello, pid_t pid)
{
	uint32_t me = (uint32_t)pid;
	unsigned char *at = (unsigned char *)hello->data + HELLO_PID_AT + 1;
	at[0] = (unsigned char)(me >> 24);
	at[1] = (unsigned char)(me >> 16);
	at[2] = (unsigned char)(me >> 8);
	at[3] = (unsigned char)me;
}

/* In the spare: it waits for the owner to start it, then tells the owner
 * who it is and serves on its chan as if it had been executed. */
static _Noreturn void be_spare(int zygote_fd, int owner_end_fd, kin_chan *chan, pid_t owner,
			       const kin_handler *handlers, kin_buf *hello)
{
	/* A fork does not keep the death signal; the owner is our parent. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != owner)
		_exit(KIN__WORKER_FAILED);
	/* Only the fds: freeing the chans would touch what the zygote still
	 * uses. Their few bytes of memory go with this process. */
	close(zygote_fd);
	close(owner_end_fd);
	hello_set_pid(hello, getpid());
	kin_msg m = KIN_MSG_INIT;
	int r = kin_chan_recv(chan, &m, KIN_FOREVER);
	if (r == KIN_CLOSED || r == -ECONNRESET)
		_exit(0); /* the owner let its spare go, or is gone */
	int64_t type, threads;
	if (r < 0 ||
	    kin_mp_unpack(m.data, m.len, "[ii]", NULL, &type, &threads) != (ssize_t)m.len ||
	    type != SPARE_START || m.nfds || m.nchans || threads < 1 || threads > 1024)
		kin__worker_fail("the start of a spare worker", r < 0 ? r : -EPROTO);
	kin_msg_release(&m);
	r = kin_chan_send_bytes(chan, hello->data, hello->len, KIN_FOREVER);
	if (r == -EPIPE)
		_exit(0);
	if (r < 0)
		kin__worker_fail("hello", r);
	kin__serve(handlers, chan, (long)threads, true);
}

/* Forks a spare and announces it, or says why not. 0, or -EPIPE once the
 * owner has gone. */
static int fork_spare(kin_chan *zc, pid_t owner, const kin_handler *handlers, kin_buf *hello)
{
	kin_chan *owner_end, *spare_end;
	int r = kin_chan_pair(&owner_end, &spare_end);
	if (r < 0)
		return send_array(zc, NULL, SPARE_FAILED, r);
	int pidfd = -1;
	/* Single-threaded here, so a raw fork leaves no lock held. */
	long pid = kin__clone_fork(CLONE_PARENT, 0, &pidfd);
	if (pid == 0)
		be_spare(kin_chan_fd(zc), kin_chan_fd(owner_end), spare_end, owner, handlers,
			 hello);
	kin_chan_free(spare_end); /* the spare's now */
	if (pid < 0) {
		r = -errno;
		kin_chan_free(owner_end);
		return send_array(zc, NULL, SPARE_FAILED, r);
	}
	int fds[1] = {pidfd};
	kin_chan *chans[1] = {owner_end};
	kin_msg with = {.fds = fds, .nfds = 1, .chans = chans, .nchans = 1};
	r = send_array(zc, &with, SPARE_READY, pid);
	if (r < 0) {
		/* The owner is gone or unreachable; the spare cannot be announced,
		 * so it must not live on. Its parent, if alive, reaps it. */
		if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0)
			(void)kill((pid_t)pid, SIGKILL);
		close(pidfd);
		kin_chan_free(owner_end);
	}
	return r;
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
		/* Closed, or reset: the owner went with an announcement of ours
		 * unread. Either way it is gone. */
		if (r == KIN_CLOSED || r == -ECONNRESET)
			exit(0);
		int64_t type;
		if (r < 0 || kin_mp_unpack(m.data, m.len, "[i]", NULL, &type) != (ssize_t)m.len ||
		    type != SPARE_REQUEST || m.nchans || m.nfds)
			kin__worker_fail("a request for a spare", r < 0 ? r : -EPROTO);
		kin_msg_release(&m);
		r = fork_spare(chan, owner, handlers, &hello);
		if (r == -EPIPE)
			exit(0);
		if (r < 0)
			kin__worker_fail("announcing a spare", r);
	}
}

/* ---- the owner's side; the zygote's lock is held */

static bool gone(int r)
{
	return r == KIN_CLOSED || r == -EPIPE || r == -ECONNRESET;
}

/* A zygote gone, or no longer making sense, is done for: -ECHILD. */
static int give_up_on(kin_zygote *z)
{
	z->broken = true;
	z->asked = false;
	(void)kin_worker_kill(z->self, SIGKILL);
	return -ECHILD;
}

static int ask_for_spare(kin_zygote *z)
{
	if (z->asked || z->broken)
		return 0;
	kin_buf b = KIN_BUF_INIT;
	int r = kin_mp_pack(&b, "[i]", (size_t)1, (int64_t)SPARE_REQUEST);
	if (r == 0)
		r = kin_chan_send_bytes(z->self->chan, b.data, b.len, kin_after(KIN_SEC));
	kin_buf_free(&b);
	z->asked = r == 0;
	if (gone(r))
		r = give_up_on(z);
	return r;
}

/* Reads the zygote's answer to the spare asked for into z->spare. A late
 * answer stays asked for, and is read next time. */
static int receive_spare(kin_zygote *z, kin_time deadline)
{
	kin_msg m = KIN_MSG_INIT;
	int r = kin_chan_recv(z->self->chan, &m, deadline);
	if (r == -ETIMEDOUT || r == -EAGAIN)
		return r;
	z->asked = false;
	int64_t type = -1, v = 0;
	bool whole =
		r == 0 && kin_mp_unpack(m.data, m.len, "[ii]", NULL, &type, &v) == (ssize_t)m.len;
	if (whole && type == SPARE_READY && m.nfds == 1 && m.nchans == 1 && v > 0 &&
	    v <= INT32_MAX) {
		z->spare = (spare){.pid = (pid_t)v, .pidfd = m.fds[0], .chan = m.chans[0]};
		m.fds[0] = -1;
		m.chans[0] = NULL;
	} else if (whole && type == SPARE_FAILED && !m.nfds && !m.nchans && v < 0 && v > -4096) {
		r = (int)v;
	} else {
		/* Gone, or no longer making sense: this zygote is done for. A
		 * spare it did attach is still ours to bury. */
		if (r == 0 && m.nfds == 1 && v > 0 && v <= INT32_MAX)
			kin__discard_child(m.fds[0], (pid_t)v, 0);
		r = gone(r) ? -ECHILD : r < 0 ? r : -EPROTO;
		(void)give_up_on(z);
	}
	kin_msg_release(&m);
	return r;
}

/* Kills and reaps a spare that did not become a worker. */
static void let_spare_go(spare *s)
{
	kin_chan_free(s->chan);
	kin__discard_child(s->pidfd, s->pid, 0);
	kin__close(s->pidfd);
	*s = NO_SPARE;
}

/* The spare in hand, or the next one the zygote forks. */
static int take_spare(kin_zygote *z, kin_time deadline, spare *s)
{
	int r = 0;
	if (!z->spare.pid && (r = ask_for_spare(z)) == 0)
		r = receive_spare(z, deadline);
	if (r == 0) {
		*s = z->spare;
		z->spare = NO_SPARE;
	}
	return r;
}

/* Starts the spare; *hello is its first word. */
static int start_spare(spare *s, unsigned threads, kin_time deadline, kin_msg *hello)
{
	kin_buf b = KIN_BUF_INIT;
	int r = kin_mp_pack(&b, "[ii]", (size_t)2, (int64_t)SPARE_START,
			    (int64_t)(threads ? threads : 1));
	if (r == 0)
		r = kin_chan_send_bytes(s->chan, b.data, b.len, deadline);
	kin_buf_free(&b);
	if (r == 0)
		r = kin_chan_recv(s->chan, hello, deadline);
	return r;
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
	if (spawn && ((spawn->flags & (KIN_SPAWN_TREE | KIN_SPAWN_DETACHED)) || spawn->sandbox)) {
		/* Its forks must be the owner's children: a zygote under a tree
		 * init, in other namespaces, or re-parented away, cannot give it
		 * that. */
		kin__spawn_error(
			why, -EINVAL, KIN_STEP_OPTIONS,
			"a zygote cannot be spawned in tree mode, in a sandbox or detached");
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
	z->spare = NO_SPARE;
	pthread_mutex_init(&z->lock, NULL);
	/* The first spare, forked while the caller goes on. If the request
	 * cannot go now, the first spawn asks again. */
	(void)ask_for_spare(z);
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
	if (z->spare.pid)
		let_spare_go(&z->spare);
	if (z->asked && !z->broken) {
		/* A spare may be being forked: let the zygote finish and
		 * announce it (it stops when it reads our end of its chan shut),
		 * then bury what it announced. */
		(void)shutdown(kin_chan_fd(z->self->chan), SHUT_WR);
		kin_status st;
		(void)kin_proc_wait(kin_worker_proc(z->self), kin_after(KIN_SEC), &st);
		while (receive_spare(z, 0) == 0)
			let_spare_go(&z->spare);
	}
	kin_worker_free(z->self);
	pthread_mutex_destroy(&z->lock);
	free(z);
}

int kin__zygote_fork(kin_zygote *z, kin_loop *loop, unsigned threads, kin_time deadline,
		     kin_proc **proc, kin_chan **chan, kin__pmsg *hello, kin_spawn_error *why)
{
	if (loop != z->loop) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "the zygote belongs to another loop");
		return -EINVAL;
	}
	kin_msg rep = KIN_MSG_INIT;
	spare s = NO_SPARE;
	bool started = false;
	pthread_mutex_lock(&z->lock);
	int r = -ECHILD;
	/* A spare can die unused (killed, out of memory): one more try then. */
	for (int tries = 0; tries < 2 && !z->broken; tries++) {
		r = take_spare(z, deadline, &s);
		if (r < 0)
			break;
		r = start_spare(&s, threads, deadline, &rep);
		started = r == 0;
		if (!gone(r))
			break;
		let_spare_go(&s);
		r = -ECHILD;
	}
	const char *failed = "the zygote could not give a worker";
	if (started) {
		failed = NULL; /* kin__hello_check says why itself */
		r = kin__hello_check(&rep, hello, why);
		if (r == 0 && (rep.nfds || rep.nchans || hello->pid != s.pid)) {
			kin__pmsg_free(hello);
			r = -EPROTO;
			failed = "the worker forked by the zygote sent a bad hello";
		}
		if (r == 0 && (r = kin__proc_adopt(loop, s.pid, s.pidfd, proc)) < 0) {
			kin__pmsg_free(hello);
			failed = "cannot watch the worker forked by the zygote";
		}
		if (r == 0)
			s.pidfd = -1;
	}
	/* The next spare is forked while this worker gets to work. */
	(void)ask_for_spare(z);
	pthread_mutex_unlock(&z->lock);
	kin_msg_release(&rep);
	if (r < 0) {
		if (s.pid)
			let_spare_go(&s);
		if (failed)
			kin__spawn_error(why, r, started ? KIN_STEP_HANDSHAKE : KIN_STEP_CLONE,
					 "%s: %s", failed,
					 r == -ECHILD ? "it is gone" : kin_strerror(r));
		return r;
	}
	*chan = s.chan;
	return 0;
}
