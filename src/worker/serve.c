/* The worker's side: kin_main at the top of main() either returns (in the
 * owner) or turns this process into a worker that serves its handlers over
 * the chan on fd 3 until the chan closes. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>


typedef struct server {
	kin_chan *chan;
	const kin_handler *handlers;
	size_t nhandlers;
	atomic_bool detached;
	/* PR_SET_PDEATHSIG is per thread, and only the main thread has it:
	 * a serving thread that reads DETACH asks the main thread. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool detach_asked, detach_done;
	bool on_main; /* one thread serves, the main one: no supervisor needed */
	long running;
} server;

static const kin_handler *find_handler(const server *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->nhandlers; i++)
		if (strlen(s->handlers[i].name) == len && memcmp(s->handlers[i].name, name, len) == 0)
			return &s->handlers[i];
	return NULL;
}

_Noreturn void kin__worker_fail(const char *what, int err)
{
	fprintf(stderr, "kin worker %d: %s: %s\n", (int)getpid(), what, kin_strerror(err));
	_exit(KIN__WORKER_FAILED);
}

static void send_reply(server *s, uint64_t id, int64_t error, const kin_buf *body)
{
	kin_buf prefix = KIN_BUF_INIT;
	int r = kin__proto_reply_prefix(&prefix, id, error, body->len);
	if (r == 0) {
		struct iovec iov[2] = {{prefix.data, prefix.len}, {body->data, body->len}};
		r = kin__chan_sendv(s->chan, iov, 2, NULL, KIN_FOREVER);
	}
	kin_buf_free(&prefix);
	if (r == -EMSGSIZE && error == 0) {
		/* Too big for the chan: the caller gets an error, not silence. */
		static const char why[] = "the reply is larger than the chan allows";
		kin_buf detail = {.data = (char *)(uintptr_t)why, .len = sizeof(why) - 1};
		send_reply(s, id, -EMSGSIZE, &detail);
		return;
	}
	/* An owner that has gone away is the normal end, seen on the next
	 * receive; anything else means this worker cannot go on. */
	if (r < 0 && r != -EPIPE)
		kin__worker_fail("sending a reply", r);
}

static void serve_call(server *s, const kin__pmsg *pm, kin_msg *msg)
{
	const kin_handler *h = find_handler(s, pm->name, pm->name_len);
	if (!h) {
		if (pm->type == KIN__P_CALL) {
			kin_buf none = KIN_BUF_INIT;
			send_reply(s, pm->id, KIN__NO_HANDLER, &none);
		}
		return;
	}
	kin_request req = {
		.name = h->name,
		.args = pm->body,
		.len = pm->body_len,
		.fds = msg->fds,
		.nfds = msg->nfds,
		.chans = msg->chans,
		.nchans = msg->nchans,
	};
	int code = h->fn(&req, h->userdata);
	if (pm->type == KIN__P_CALL)
		send_reply(s, pm->id, code, &req.reply);
	kin_buf_free(&req.reply);
}

/* One serving thread; with several, each takes whole messages off the
 * same chan (SEQPACKET hands each to exactly one reader), so no queue and
 * no hand-off is needed, and a busy worker pushes back on its owner. */
static void *serve(void *arg)
{
	server *s = arg;
	for (;;) {
		kin_msg msg = KIN_MSG_INIT;
		int r = kin_chan_recv(s->chan, &msg, KIN_FOREVER);
		if (r == KIN_CLOSED) {
			pthread_mutex_lock(&s->lock);
			s->running--;
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		if (r < 0)
			kin__worker_fail("receiving from the owner", r);
		kin__pmsg pm;
		r = kin__proto_decode(msg.data, msg.len, &pm);
		if (r < 0)
			kin__worker_fail("a message from the owner", r);
		switch (pm.type) {
		case KIN__P_CALL:
		case KIN__P_CAST:
			serve_call(s, &pm, &msg);
			break;
		case KIN__P_DETACH:
			/* From now on the owner's death is not ours. */
			pthread_mutex_lock(&s->lock);
			if (s->on_main) {
				(void)prctl(PR_SET_PDEATHSIG, 0);
				s->detach_done = true;
			}
			s->detach_asked = true;
			pthread_cond_broadcast(&s->cond);
			while (!s->detach_done)
				pthread_cond_wait(&s->cond, &s->lock);
			pthread_mutex_unlock(&s->lock);
			atomic_store(&s->detached, true);
			send_reply(s, pm.id, 0, &(kin_buf)KIN_BUF_INIT); /* done: tell the owner */
			break;
		default:
			kin__worker_fail("a message from the owner", -EPROTO);
		}
		kin__pmsg_free(&pm);
		kin_msg_release(&msg);
	}
}

const char **kin__handler_names(const kin_handler *handlers, size_t *n)
{
	*n = 0;
	while (handlers && handlers[*n].name)
		(*n)++;
	const char **names = calloc(*n + 1, sizeof(*names));
	for (size_t i = 0; names && i < *n; i++)
		names[i] = handlers[i].name;
	return names;
}

int kin__send_hello(kin_chan *chan, const kin_handler *handlers)
{
	size_t n;
	const char **names = kin__handler_names(handlers, &n);
	if (!names)
		return -ENOMEM;
	kin_buf hello = KIN_BUF_INIT;
	int r = kin__proto_hello(&hello, getpid(), names, n);
	free(names);
	if (r == 0)
		r = kin_chan_send_bytes(chan, hello.data, hello.len, KIN_FOREVER);
	kin_buf_free(&hello);
	return r;
}

_Noreturn void kin__serve(const kin_handler *handlers, kin_chan *chan, long threads,
			  bool greeted)
{
	server s = {.handlers = handlers, .chan = chan};
	while (handlers && handlers[s.nhandlers].name)
		s.nhandlers++;
	int r = greeted ? 0 : kin__send_hello(chan, handlers);
	if (r == -EPIPE)
		_exit(0); /* the owner gave up on us already */
	if (r < 0)
		kin__worker_fail("hello", r);

	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	static pthread_t extra[1024];
	long started = 0;
	if (threads == 1) {
		/* The common case, and the fastest start: no thread to make. */
		s.on_main = true;
		s.running = 1;
		serve(&s);
	}
	pthread_mutex_lock(&s.lock);
	for (; !s.on_main && started < threads; started++) {
		if (pthread_create(&extra[started], NULL, serve, &s) != 0)
			break; /* serve with as many as we got */
		s.running++;
	}
	if (started == 0 && !s.on_main)
		kin__worker_fail("starting a serving thread", -EAGAIN);
	while (s.running > 0) {
		if (s.detach_asked && !s.detach_done) {
			(void)prctl(PR_SET_PDEATHSIG, 0);
			s.detach_done = true;
			pthread_cond_broadcast(&s.cond);
		}
		pthread_cond_wait(&s.cond, &s.lock);
	}
	pthread_mutex_unlock(&s.lock);
	for (long i = 0; i < started; i++)
		pthread_join(extra[i], NULL);
	if (atomic_load(&s.detached)) {
		kin_chan_free(chan);
		pthread_exit(NULL); /* the process ends with its last thread */
	}
	exit(0);
}

static _Noreturn void run_worker(const kin_handler *handlers)
{
	/* KIN_WORKER holds the owner's protocol version. Whatever it says, the
	 * hello carries ours, and an owner that speaks another one says so. */
	const char *t = getenv(KIN__ENV_THREADS);
	long threads = t ? strtol(t, NULL, 10) : 1;
	if (threads < 1 || threads > 1024)
		threads = 1;
	bool zygote = getenv(KIN__ENV_ZYGOTE) != NULL;
	/* Our own children are ordinary processes, not workers. */
	unsetenv(KIN__ENV_WORKER);
	unsetenv(KIN__ENV_THREADS);
	unsetenv(KIN__ENV_ZYGOTE);
	kin_chan *chan;
	int r = kin_chan_from_fd(KIN__WORKER_FD, &chan);
	if (r < 0)
		kin__worker_fail("fd 3 is not a kin chan", r);
	if (zygote)
		kin__zygote_serve(handlers, chan);
	kin__serve(handlers, chan, threads, false);
}

int kin_main(int argc, char **argv, const kin_handler *handlers)
{
	if (getenv(KIN__ENV_WORKER))
		run_worker(handlers);
	kin__self_remember(argc, argv);
	int fd = kin__self_exe_fd();
	return fd < 0 ? fd : 0;
}
