/* A worker's life from the owner's side: how it ends, and the one reason
 * that end is given. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* How long a worker whose chan closed gets to exit before it is killed and
 * its reason becomes "connection lost". */
#define SETTLE_GRACE (1 * KIN_SEC)

pid_t kin_worker_pid(const kin_worker *w)
{
	return w ? kin_proc_pid(w->proc) : -1;
}

kin_proc *kin_worker_proc(kin_worker *w)
{
	return w ? w->proc : NULL;
}

bool kin_worker_has(const kin_worker *w, const char *name)
{
	if (!w || !name)
		return false;
	for (size_t i = 0; i < w->nnames; i++)
		if (strcmp(w->names[i], name) == 0)
			return true;
	return false;
}

void kin__worker_reason(kin_worker *w, const kin_status *st, kin_exit_reason *out)
{
	memset(out, 0, sizeof(*out));
	out->status = *st;
	if (w->protocol_error)
		out->kind = KIN_REASON_PROTOCOL;
	else if (w->connection_lost)
		out->kind = KIN_REASON_CONNECTION_LOST;
	else if (st->kind == KIN_KILLED) {
		out->kind = w->killed_by_kin ? KIN_REASON_KILLED : KIN_REASON_SIGNAL;
		out->signal = st->signal;
	} else if (st->kind == KIN_EXITED && st->code != 0) {
		out->kind = KIN_REASON_EXIT;
		out->code = st->code;
	} else {
		/* Exited 0, or detached and not ours to reap. */
		out->kind = KIN_REASON_NORMAL;
	}
}

void kin__worker_chan_down(kin_worker *w, bool protocol_error)
{
	w->chan_down = true;
	if (protocol_error)
		w->protocol_error = true;
}

/* The process has ended with st: fix the reason once (lock held). */
static void settle_locked(kin_worker *w, const kin_status *st)
{
	if (w->settled)
		return;
	w->chan_down = true;
	kin__worker_reason(w, st, &w->reason);
	w->settled = true;
	kin__calls_fail_all(w);
	pthread_cond_broadcast(&w->cond);
}

void kin__worker_settle(kin_worker *w)
{
	pthread_mutex_lock(&w->lock);
	bool done = w->settled;
	bool broke = w->protocol_error;
	pthread_mutex_unlock(&w->lock);
	if (done)
		return;
	kin_status st;
	if (broke) {
		/* It broke the protocol: nothing it says can be trusted now. */
		pthread_mutex_lock(&w->lock);
		w->killed_by_kin = true;
		pthread_mutex_unlock(&w->lock);
		(void)kin_proc_kill(w->proc, SIGKILL);
	}
	pthread_mutex_lock(&w->lock);
	kin_time limit = w->stopping ? KIN_FOREVER : kin_after(SETTLE_GRACE);
	pthread_mutex_unlock(&w->lock);
	if (kin_proc_wait(w->proc, limit, &st) < 0) {
		/* Its chan is gone but it runs on: it can never be reached. */
		pthread_mutex_lock(&w->lock);
		w->connection_lost = true;
		pthread_mutex_unlock(&w->lock);
		(void)kin_proc_kill(w->proc, SIGKILL);
		(void)kin_proc_wait(w->proc, KIN_FOREVER, &st);
	}
	pthread_mutex_lock(&w->lock);
	settle_locked(w, &st);
	pthread_mutex_unlock(&w->lock);
}

int kin_worker_kill(kin_worker *w, int sig)
{
	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	w->killed_by_kin = true;
	pthread_mutex_unlock(&w->lock);
	return kin_proc_kill(w->proc, sig);
}

int kin_worker_stop(kin_worker *w, int64_t grace_ns)
{
	if (!w || grace_ns < 0)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	w->killed_by_kin = true; /* if the grace runs out, the SIGKILL is ours */
	w->stopping = true;
	/* Wakes the worker (EOF) and any caller reading the chan. */
	if (!w->chan_down)
		(void)shutdown(kin_chan_fd(w->chan), SHUT_RDWR);
	w->chan_down = true;
	pthread_mutex_unlock(&w->lock);
	return kin__proc_kill_at(w->proc, kin_after(grace_ns));
}

int kin_worker_detach(kin_worker *w)
{
	if (!w)
		return -EINVAL;
	if (w->spawn_flags & KIN_SPAWN_TREE)
		return -EINVAL; /* its init dies with us, and takes it along */
	kin_buf b = KIN_BUF_INIT;
	int r = kin__proto_detach(&b);
	if (r == 0)
		r = kin_chan_send_bytes(w->chan, b.data, b.len, kin_after(KIN_SEC));
	kin_buf_free(&b);
	if (r < 0)
		return r == -EPIPE ? -ESRCH : r;
	pthread_mutex_lock(&w->lock);
	w->detached = true;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int kin_worker_wait(kin_worker *w, kin_time deadline, kin_exit_reason *reason)
{
	if (!w)
		return -EINVAL;
	kin_status st;
	int r = kin_proc_wait(w->proc, deadline, &st);
	if (r < 0)
		return r;
	pthread_mutex_lock(&w->lock);
	settle_locked(w, &st);
	if (reason)
		*reason = w->reason;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* kin__worker_settle's counterpart for the loop: the process has ended. */
void kin__worker_ended(kin_worker *w, const kin_status *st)
{
	pthread_mutex_lock(&w->lock);
	settle_locked(w, st);
	pthread_mutex_unlock(&w->lock);
}

void kin_worker_free(kin_worker *w)
{
	if (!w)
		return;
	kin_status st;
	pthread_mutex_lock(&w->lock);
	bool detached = w->detached;
	pthread_mutex_unlock(&w->lock);
	if (kin_proc_poll(w->proc, &st) == 0 && !detached) {
		(void)kin_worker_kill(w, SIGKILL);
		(void)kin_proc_wait(w->proc, KIN_FOREVER, &st);
	}
	if (kin_proc_poll(w->proc, &st) == 1)
		kin__worker_ended(w, &st);
	kin__worker_deliver_down(w);
	kin__worker_unlink_all(w);
	kin__monitors_free_all(w);
	if (detached)
		kin__proc_release(w->proc); /* it lives on; the loop reaps it */
	else
		kin_proc_free(w->proc);
	kin_chan_free(w->chan);
	for (size_t i = 0; i < w->nnames; i++)
		free(w->names[i]);
	free(w->names);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
