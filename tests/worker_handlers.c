/* The handlers kin-test serves when it runs as a worker (kin_main at the
 * top of tests/main.c): small, observable jobs for tests/test_worker*.c. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int reply_i64(kin_request *req, int64_t v)
{
	return kin_mp_pack(&req->reply, "i", v) == 0 ? 0 : 99;
}

static int echo(kin_request *req, void *ud)
{
	(void)ud;
	return kin_buf_append(&req->reply, req->args, req->len) == 0 ? 0 : 99;
}

/* [a, b] -> a + b */
static int add(kin_request *req, void *ud)
{
	(void)ud;
	int64_t a, b;
	if (kin_mp_unpack(req->args, req->len, "[ii]", NULL, &a, &b) < 0) {
		kin_buf_append(&req->reply, "bad arguments", 13);
		return 22;
	}
	return reply_i64(req, a + b);
}

static int fail(kin_request *req, void *ud)
{
	(void)ud;
	kin_buf_append(&req->reply, "failed on purpose", 17);
	return 7;
}

/* ms -> the same, after sleeping that long */
static int nap(kin_request *req, void *ud)
{
	(void)ud;
	int64_t ms;
	if (kin_mp_unpack(req->args, req->len, "i", &ms) < 0 || ms < 0)
		return 22;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0)
		;
	return reply_i64(req, ms);
}

static int pid(kin_request *req, void *ud)
{
	(void)ud;
	return reply_i64(req, getpid());
}

/* code -> exits with it, mid-call */
static int quit(kin_request *req, void *ud)
{
	(void)ud;
	int64_t code = 0;
	(void)kin_mp_unpack(req->args, req->len, "i", &code);
	_exit((int)code);
}

static int crash(kin_request *req, void *ud)
{
	(void)req;
	(void)ud;
	signal(SIGABRT, SIG_DFL);
	abort();
}

/* Whether the worker marker leaked into the handler's environment. */
static int marker(kin_request *req, void *ud)
{
	(void)ud;
	return reply_i64(req, getenv("KIN_WORKER") || getenv("KIN_WORKER_THREADS"));
}

/* Writes its args into the fd that came with the call. */
static int write_fd(kin_request *req, void *ud)
{
	(void)ud;
	if (req->nfds != 1)
		return 22;
	ssize_t w = write(req->fds[0], req->args, req->len);
	return w == (ssize_t)req->len ? 0 : 5;
}

/* n -> ok once n calls are inside it at the same time (each waits up to
 * 10 s for the others): proof of concurrency that needs no clock. */
static pthread_mutex_t meet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t meet_cond = PTHREAD_COND_INITIALIZER;
static int64_t meet_count;

static int meet(kin_request *req, void *ud)
{
	(void)ud;
	int64_t n;
	if (kin_mp_unpack(req->args, req->len, "i", &n) < 0)
		return 22;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&meet_lock);
	meet_count++;
	pthread_cond_broadcast(&meet_cond);
	int r = 0;
	while (meet_count < n && r == 0)
		r = pthread_cond_timedwait(&meet_cond, &meet_lock, &until);
	bool met = meet_count >= n;
	pthread_mutex_unlock(&meet_lock);
	return met ? 0 : 110;
}

/* Keeps the chan that came with the call, for peer_ping / peer_answer. */
static kin_chan *peer;

static int keep_chan(kin_request *req, void *ud)
{
	(void)ud;
	if (req->nchans != 1)
		return 22;
	peer = req->chans[0];
	req->chans[0] = NULL;
	return 0;
}

/* Sends its args to the peer and returns the peer's answer. */
static int peer_ping(kin_request *req, void *ud)
{
	(void)ud;
	if (!peer || kin_chan_send_bytes(peer, req->args, req->len, kin_after(10 * KIN_SEC)) < 0)
		return 5;
	kin_msg m = KIN_MSG_INIT;
	if (kin_chan_recv(peer, &m, kin_after(10 * KIN_SEC)) != 0)
		return 5;
	int r = kin_buf_append(&req->reply, m.data, m.len) == 0 ? 0 : 99;
	kin_msg_release(&m);
	return r;
}

/* Waits for one message from the peer and answers it with its args. */
static int peer_answer(kin_request *req, void *ud)
{
	(void)ud;
	kin_msg m = KIN_MSG_INIT;
	if (!peer || kin_chan_recv(peer, &m, kin_after(10 * KIN_SEC)) != 0)
		return 5;
	int r = kin_buf_append(&req->reply, m.data, m.len) == 0 ? 0 : 99;
	kin_msg_release(&m);
	if (r == 0 && kin_chan_send_bytes(peer, req->args, req->len, kin_after(10 * KIN_SEC)) < 0)
		r = 5;
	return r;
}

/* Exit notices of linked workers, when this one traps exits. */
static int64_t exits_seen;
static char last_exit[64];

static int on_exit_notice(kin_request *req, void *ud)
{
	(void)ud;
	int64_t pid, code, sig;
	const char *what;
	size_t len;
	if (kin_mp_unpack(req->args, req->len, "[isii]", NULL, &pid, &what, &len, &code, &sig) < 0)
		return 22;
	pthread_mutex_lock(&meet_lock);
	exits_seen++;
	snprintf(last_exit, sizeof(last_exit), "%.*s", (int)len, what);
	pthread_mutex_unlock(&meet_lock);
	return 0;
}

/* -> [count, last reason] */
static int exits(kin_request *req, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&meet_lock);
	int r = kin_mp_pack(&req->reply, "[is]", (size_t)2, exits_seen, last_exit);
	pthread_mutex_unlock(&meet_lock);
	return r == 0 ? 0 : 99;
}

static int print(kin_request *req, void *ud)
{
	(void)ud;
	return write(STDOUT_FILENO, req->args, req->len) == (ssize_t)req->len ? 0 : 5;
}

static void *linger_thread(void *arg)
{
	(void)arg;
	sleep(60);
	return NULL;
}

/* Starts a thread that outlives the chan, so a detached worker lingers. */
static int linger(kin_request *req, void *ud)
{
	(void)req;
	(void)ud;
	pthread_t t;
	if (pthread_create(&t, NULL, linger_thread, NULL) != 0)
		return 5;
	pthread_detach(t);
	return 0;
}

/* Holds a call open: writes this worker's pid to fds[0] once inside, then
 * waits until fds[1] has a byte or EOF. Returns the pid. */
static int hold(kin_request *req, void *ud)
{
	(void)ud;
	if (req->nfds != 2)
		return 22;
	int32_t me = getpid();
	char c;
	if (write(req->fds[0], &me, sizeof(me)) != sizeof(me) || read(req->fds[1], &c, 1) < 0)
		return 5;
	return reply_i64(req, me);
}

/* n -> fails with code n and the detail "coded" (review: a handler's own
 * code must reach the caller as -EREMOTEIO, whatever its value). */
static int code(kin_request *req, void *ud)
{
	(void)ud;
	int64_t n = 0;
	if (kin_mp_unpack(req->args, req->len, "i", &n) < 0)
		return 22;
	kin_buf_append(&req->reply, "coded", 5);
	return (int)n;
}

/* -> 1 when the handler runs on the worker's main thread (the one that
 * carries its parent-death signal), else 0. */
static int on_main(kin_request *req, void *ud)
{
	(void)ud;
	return reply_i64(req, gettid() == getpid());
}

const kin_handler test_worker_handlers[] = {
	{"echo", echo, NULL},
	{"add", add, NULL},
	{"fail", fail, NULL},
	{"nap", nap, NULL},
	{"pid", pid, NULL},
	{"quit", quit, NULL},
	{"crash", crash, NULL},
	{"marker", marker, NULL},
	{"write_fd", write_fd, NULL},
	{"meet", meet, NULL},
	{"keep_chan", keep_chan, NULL},
	{"peer_ping", peer_ping, NULL},
	{"peer_answer", peer_answer, NULL},
	{"kin.exit", on_exit_notice, NULL},
	{"exits", exits, NULL},
	{"print", print, NULL},
	{"linger", linger, NULL},
	{"hold", hold, NULL},
	{"code", code, NULL},
	{"on_main", on_main, NULL},
	{NULL, NULL, NULL},
};
