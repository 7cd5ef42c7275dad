/* Calls: requests go out on the worker's chan from any thread; replies are
 * matched by id. No thread of kin's own reads the chan. Whoever is waiting
 * takes turns at it instead: one waiter at a time receives and hands each
 * reply to the call it answers, waking the others. A sequential caller
 * thus reads its own reply, with no hand-off between threads. */
#include "worker.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

void kin_reply_release(kin_reply *r)
{
	if (!r)
		return;
	free(r->data);
	memset(r, 0, sizeof(*r));
}

static int send_request(kin_worker *w, kin__ptype type, uint64_t id, const char *name,
			const kin_msg *args, kin_time deadline)
{
	kin_buf prefix = KIN_BUF_INIT;
	size_t len = args ? args->len : 0;
	int r = type == KIN__P_CALL   ? kin__proto_call_prefix(&prefix, id, name, len)
		: type == KIN__P_CAST ? kin__proto_cast_prefix(&prefix, name, len)
				      : kin__proto_detach(&prefix, id);
	if (r == 0) {
		struct iovec iov[2] = {{prefix.data, prefix.len},
				       {args ? args->data : NULL, len}};
		r = kin__chan_sendv(w->chan, iov, len ? 2 : 1, args, deadline);
	}
	kin_buf_free(&prefix);
	return r;
}

/* A send failed because the chan is gone: the worker is as good as dead. */
static int chan_lost(kin_worker *w, int r)
{
	if (r != -EPIPE && r != -EPROTO)
		return r;
	pthread_mutex_lock(&w->lock);
	kin__worker_chan_down(w, false);
	pthread_mutex_unlock(&w->lock);
	return -ECONNRESET;
}

static int check_name(const kin_worker *w, const char *name)
{
	if (!w || !name || !*name)
		return -EINVAL;
	return kin_worker_has(w, name) ? 0 : -ENOSYS;
}

int kin_cast(kin_worker *w, const char *name, const kin_msg *args, kin_time deadline)
{
	int r = check_name(w, name);
	if (r < 0)
		return r;
	return chan_lost(w, send_request(w, KIN__P_CAST, 0, name, args, deadline));
}

int kin_call_start(kin_worker *w, const char *name, const kin_msg *args, kin_time deadline,
		   kin_pending **ret)
{
	int r = check_name(w, name);
	if (r < 0)
		return r;
	if (!ret)
		return -EINVAL;
	return kin__request_start(w, KIN__P_CALL, name, args, deadline, ret);
}

int kin__request_start(kin_worker *w, kin__ptype type, const char *name, const kin_msg *args,
		       kin_time deadline, kin_pending **ret)
{
	int r;
	kin_pending *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->worker = w;
	pthread_mutex_lock(&w->lock);
	if (w->chan_down) {
		pthread_mutex_unlock(&w->lock);
		free(p);
		return -ECONNRESET;
	}
	p->id = w->next_id++;
	w->handles++;
	kin__list_add(&w->pending, &p->link);
	atomic_fetch_add(&w->inflight, 1);
	pthread_mutex_unlock(&w->lock);

	r = send_request(w, type, p->id, name, args, deadline);
	if (r < 0) {
		pthread_mutex_lock(&w->lock);
		if (!p->done) {
			kin__list_del(&p->link);
			atomic_fetch_sub(&w->inflight, 1);
		}
		w->handles--;
		pthread_mutex_unlock(&w->lock);
		free(p);
		return chan_lost(w, r);
	}
	*ret = p;
	return 0;
}

/* Lock held: p has its answer. */
static void finish(kin_worker *w, kin_pending *p, int result)
{
	p->done = true;
	p->result = result;
	kin__list_del(&p->link);
	atomic_fetch_sub(&w->inflight, 1);
}

void kin__calls_fail_all(kin_worker *w)
{
	while (w->pending.next != &w->pending) {
		kin_pending *p = KIN__CONTAINER_OF(w->pending.next, kin_pending, link);
		p->reply.reason = w->reason;
		finish(w, p, -ECONNRESET);
	}
}

/* Lock held: hands one message from the worker to the call it answers. */
static void dispatch(kin_worker *w, kin_msg *m)
{
	kin__pmsg pm;
	if (kin__proto_decode(m->data, m->len, &pm) < 0) {
		kin__worker_chan_down(w, true);
		return;
	}
	if (pm.type != KIN__P_REPLY) { /* only replies travel this way */
		kin__pmsg_free(&pm);
		kin__worker_chan_down(w, true);
		return;
	}
	kin_pending *p = NULL;
	for (kin__link *l = w->pending.next; l != &w->pending; l = l->next) {
		kin_pending *q = KIN__CONTAINER_OF(l, kin_pending, link);
		if (q->id == pm.id) {
			p = q;
			break;
		}
	}
	if (!p) /* cancelled or timed out: a late reply is dropped */
		goto out;
	if (pm.error < INT_MIN || pm.error > INT_MAX) { /* docs/protocol.md: 32 bits */
		kin__worker_chan_down(w, true); /* p fails with the protocol error */
		goto out;
	}
	if (pm.body_len) {
		p->reply.data = malloc(pm.body_len);
		if (!p->reply.data) {
			finish(w, p, -ENOMEM);
			goto out;
		}
		memcpy(p->reply.data, pm.body, pm.body_len);
		p->reply.len = pm.body_len;
	}
	p->reply.error = (int)pm.error;
	finish(w, p, pm.error == 0 ? 0 : -EREMOTEIO);
out:
	kin__pmsg_free(&pm);
}

/* Lock held, the worker settled: what it sent before it ended is all
 * there is; hand that out, then fail the rest. */
void kin__calls_drain_and_fail(kin_worker *w)
{
	kin_msg m = KIN_MSG_INIT;
	while (kin_chan_recv(w->chan, &m, 0) == 0) {
		dispatch(w, &m);
		kin_msg_release(&m);
	}
	kin__calls_fail_all(w);
}

/* Called with the lock held and w->receiving taken; drops the lock while
 * it waits. Returns -ETIMEDOUT when the deadline passed with nothing. */
static int take_turn(kin_worker *w, kin_time deadline)
{
	if (w->settled) {
		kin__calls_drain_and_fail(w);
		return 0;
	}
	if (w->chan_down) {
		pthread_mutex_unlock(&w->lock);
		int r = kin__worker_settle(w, deadline);
		pthread_mutex_lock(&w->lock);
		return r;
	}
	pthread_mutex_unlock(&w->lock);
	kin_msg m = KIN_MSG_INIT;
	int r = kin_chan_recv(w->chan, &m, deadline);
	pthread_mutex_lock(&w->lock);
	if (r == 0) {
		dispatch(w, &m);
		kin_msg_release(&m);
		return 0;
	}
	if (r == -ETIMEDOUT || r == -EAGAIN)
		return -ETIMEDOUT;
	/* Closed, malformed or broken: either way it cannot answer any more. */
	kin__worker_chan_down(w, r == -EPROTO);
	return 0;
}

static int first_done(kin_pending **calls, size_t n, size_t *index)
{
	for (size_t i = 0; i < n; i++)
		if (calls[i] && calls[i]->done) {
			*index = i;
			return 1;
		}
	return 0;
}

int kin_await_any(kin_pending **calls, size_t n, kin_time deadline, size_t *index,
		  kin_reply *reply)
{
	kin_worker *w = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!calls[i])
			continue;
		if (w && calls[i]->worker != w)
			return -EINVAL; /* one worker per wait */
		w = calls[i]->worker;
	}
	if (!w || !index)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	size_t i;
	while (!first_done(calls, n, &i)) {
		if (!w->receiving) {
			w->receiving = true;
			int r = take_turn(w, deadline);
			w->receiving = false;
			pthread_cond_broadcast(&w->cond);
			if (r == -ETIMEDOUT && !first_done(calls, n, &i))
				break;
			continue;
		}
		struct timespec ts = {.tv_sec = deadline / KIN_SEC, .tv_nsec = deadline % KIN_SEC};
		if (deadline <= kin_now() ||
		    pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT) {
			if (!first_done(calls, n, &i))
				break;
		}
	}
	if (!first_done(calls, n, &i)) {
		pthread_mutex_unlock(&w->lock);
		return -ETIMEDOUT;
	}
	kin_pending *p = calls[i];
	kin__worker_put_handle(w);
	int result = p->result;
	if (reply)
		*reply = p->reply;
	else
		free(p->reply.data);
	free(p);
	calls[i] = NULL;
	*index = i;
	return result;
}

int kin_await(kin_pending *call, kin_time deadline, kin_reply *reply)
{
	if (!call)
		return -EINVAL;
	kin_pending *one[1] = {call};
	size_t i;
	return kin_await_any(one, 1, deadline, &i, reply);
}

int kin_await_all(kin_pending **calls, size_t n, kin_time deadline, int *results,
		  kin_reply *replies)
{
	if (!calls || !results)
		return -EINVAL;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (!calls[i])
			continue;
		kin_reply rep = {0};
		results[i] = kin_await(calls[i], deadline, &rep);
		if (results[i] == -ETIMEDOUT) {
			r = -ETIMEDOUT;
			if (replies)
				memset(&replies[i], 0, sizeof(replies[i]));
			continue;
		}
		calls[i] = NULL;
		if (replies)
			replies[i] = rep;
		else
			kin_reply_release(&rep);
	}
	return r;
}

void kin_pending_cancel(kin_pending *p)
{
	if (!p)
		return;
	kin_worker *w = p->worker;
	pthread_mutex_lock(&w->lock);
	if (!p->done) {
		kin__list_del(&p->link);
		atomic_fetch_sub(&w->inflight, 1);
	}
	kin__worker_put_handle(w);
	free(p->reply.data);
	free(p);
}

int kin_call(kin_worker *w, const char *name, const kin_msg *args, kin_time deadline,
	     kin_reply *reply)
{
	if (reply)
		memset(reply, 0, sizeof(*reply));
	kin_pending *p;
	int r = kin_call_start(w, name, args, deadline, &p);
	if (r == -ECONNRESET && reply) {
		/* It was already gone: the reason is known or soon will be. */
		kin_exit_reason why;
		kin_time soon = kin_after(2 * KIN_SEC);
		if (kin_worker_wait(w, deadline < soon ? deadline : soon, &why) == 0)
			reply->reason = why;
	}
	if (r < 0)
		return r;
	r = kin_await(p, deadline, reply);
	if (r == -ETIMEDOUT)
		kin_pending_cancel(p);
	return r;
}
