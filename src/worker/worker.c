/* A worker's life from the owner's side: how it ends, and the one reason
 * that end is given. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
	else if (st->kind == KIN_KILLED && st->oom_killed)
		out->kind = KIN_REASON_OUT_OF_MEMORY;
	else if (st->kind == KIN_KILLED) {
		out->kind = w->killed_by_kin ? KIN_REASON_KILLED : KIN_REASON_SIGNAL;
		out->signal = st->signal;
	} else if (st->kind == KIN_EXITED && st->code != 0) {
		out->kind = KIN_REASON_EXIT;
		out->code = st->code;
	} else if (st->kind == KIN_EXIT_UNKNOWN) {
		/* Spawned detached: its status went to its new parent. Gone, and
		 * nothing says it went well. */
		out->kind = KIN_REASON_CONNECTION_LOST;
	} else {
		out->kind = KIN_REASON_NORMAL;
	}
}

void kin__worker_chan_down(kin_worker *w, bool protocol_error)
{
	if (!w->chan_down)
		w->down_at = kin_now();
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
	pthread_cond_broadcast(&w->cond);
}

int kin__worker_settle(kin_worker *w, kin_time deadline)
{
	pthread_mutex_lock(&w->lock);
	bool done = w->settled;
	bool broke = w->protocol_error;
	pthread_mutex_unlock(&w->lock);
	if (done)
		return 0;
	kin_status st;
	if (broke) {
		/* It broke the protocol: nothing it says can be trusted now. */
		pthread_mutex_lock(&w->lock);
		w->killed_by_kin = true;
		pthread_mutex_unlock(&w->lock);
		(void)kin_proc_kill(w->proc, SIGKILL);
	}
	pthread_mutex_lock(&w->lock);
	kin_time limit = w->stopping ? KIN_FOREVER : w->down_at + KIN__SETTLE_GRACE;
	pthread_mutex_unlock(&w->lock);
	kin_time until = deadline < limit ? deadline : limit;
	if (kin_proc_wait(w->proc, until, &st) < 0) {
		if (until < limit)
			return -ETIMEDOUT;
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
	return 0;
}

int kin_worker_kill(kin_worker *w, int sig)
{
	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	bool was = w->killed_by_kin;
	w->killed_by_kin = true;
	pthread_mutex_unlock(&w->lock);
	int r = kin_proc_kill(w->proc, sig);
	if (r < 0) {
		pthread_mutex_lock(&w->lock);
		if (!w->settled)
			w->killed_by_kin = was;
		pthread_mutex_unlock(&w->lock);
	}
	return r;
}

int kin_worker_stop(kin_worker *w, int64_t grace_ns)
{
	if (!w || grace_ns < 0)
		return -EINVAL;
	kin_status st;
	bool ended = kin_proc_poll(w->proc, &st) == 1;
	pthread_mutex_lock(&w->lock);
	if (!ended)
		w->killed_by_kin = true; /* if the grace runs out, the SIGKILL is ours */
	w->stopping = true;
	/* Wakes the worker (EOF) and any caller reading the chan. */
	if (!w->chan_down) {
		(void)shutdown(kin_chan_fd(w->chan), SHUT_RDWR);
		w->down_at = kin_now();
	}
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
	/* Detached only once the worker says so: until it has read the
	 * request, it would still die with us. */
	kin_pending *p;
	int r = kin__request_start(w, KIN__P_DETACH, NULL, NULL, kin_after(KIN__DETACH_WAIT), &p);
	if (r == 0) {
		kin_reply rep;
		r = kin_await(p, kin_after(KIN__DETACH_WAIT), &rep);
		if (r == -ETIMEDOUT)
			kin_pending_cancel(p);
		else
			kin_reply_release(&rep);
	}
	if (r < 0)
		return r == -ECONNRESET ? -ESRCH : r;
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
	if (w->firing) {
		/* From a DOWN callback: the monitors being walked go with it, so
		 * the walk finishes the free when it is done. */
		w->free_requested = true;
		return;
	}
	w->firing++; /* the DOWN callbacks below may call us again */
	kin__worker_destroy(w);
}

void kin__worker_put_handle(kin_worker *w)
{
	bool last = --w->handles == 0 && w->freed;
	pthread_mutex_unlock(&w->lock);
	if (last) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
	}
}

void kin__worker_destroy(kin_worker *w)
{
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
	pthread_mutex_lock(&w->lock);
	if (w->settled)
		kin__calls_drain_and_fail(w);
	pthread_mutex_unlock(&w->lock);
	kin__worker_deliver_down(w);
	kin__worker_fire_late(w);
	kin__worker_unlink_all(w);
	kin__monitors_free_all(w);
	if (detached)
		kin__proc_release(w->proc); /* it lives on; the loop reaps it */
	else
		kin_proc_free(w->proc);
	free(w->names); /* one block, from kin__proto_decode */
	pthread_mutex_lock(&w->lock);
	/* Calls not yet awaited end now (they cannot be answered any more),
	 * and keep this struct until they are awaited or cancelled. */
	if (!w->settled)
		w->reason.kind = KIN_REASON_NONE;
	kin__calls_fail_all(w);
	kin_chan_free(w->chan);
	w->chan = NULL;
	w->freed = true;
	w->handles++;
	kin__worker_put_handle(w);
}
