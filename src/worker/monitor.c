/* Monitors and links: what happens, on the loop, when a worker ends. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void on_worker_exit(kin_proc *proc, const kin_status *st, void *userdata);

/* Monitors and links need to hear of the end even when no call is waiting:
 * the proc's exit callback does that, from the loop. It is set only while
 * someone listens, since it keeps kin_loop_run from returning. */
static int listen_for_exit(kin_worker *w)
{
	return kin_proc_on_exit(w->proc, on_worker_exit, w);
}

/* The caller must not touch w afterwards: a callback may have freed it. */
static void fire_monitors(kin_worker *w, const kin_exit_reason *reason)
{
	/* A callback may free its own monitor, add another, or free the
	 * worker; the last waits until every monitor has had its turn. */
	w->firing++;
	for (;;) {
		kin_monitor *m = NULL;
		for (kin__link *l = w->monitors.next; l != &w->monitors; l = l->next) {
			kin_monitor *c = KIN__CONTAINER_OF(l, kin_monitor, link);
			if (!c->fired) {
				m = c;
				break;
			}
		}
		if (!m)
			break;
		m->fired = true;
		m->cb(w, reason, m->userdata);
	}
	if (--w->firing == 0 && w->free_requested) {
		w->firing++;
		kin__worker_destroy(w);
	}
}

static void notify_linked(kin_worker *w, kin_worker *peer, const kin_exit_reason *reason)
{
	bool trap;
	pthread_mutex_lock(&peer->lock);
	trap = peer->trap_exits;
	pthread_mutex_unlock(&peer->lock);
	if (!trap) {
		(void)kin_worker_kill(peer, SIGKILL);
		return;
	}
	char what[64];
	kin_exit_reason_format(reason, what, sizeof(what));
	kin_buf args = KIN_BUF_INIT;
	if (kin_mp_pack(&args, "[isii]", (size_t)4, (int64_t)kin_worker_pid(w), what,
			(int64_t)reason->code, (int64_t)reason->signal) == 0 &&
	    kin_worker_has(peer, "kin.exit")) {
		kin_msg m = {.data = args.data, .len = args.len};
		(void)kin_cast(peer, "kin.exit", &m, kin_after(KIN_SEC));
	}
	kin_buf_free(&args);
}

void kin__worker_deliver_down(kin_worker *w)
{
	pthread_mutex_lock(&w->lock);
	bool ready = w->settled && !w->down_delivered;
	if (ready)
		w->down_delivered = true;
	kin_exit_reason reason = w->reason;
	pthread_mutex_unlock(&w->lock);
	if (!ready)
		return;
	bool abnormal = reason.kind != KIN_REASON_NORMAL;
	while (w->links.next != &w->links) {
		kin__link_end *end = KIN__CONTAINER_OF(w->links.next, kin__link_end, link);
		kin_worker *peer = end->peer;
		kin_worker_unlink(w, peer);
		if (abnormal)
			notify_linked(w, peer, &reason);
	}
	fire_monitors(w, &reason);
}

static void on_worker_exit(kin_proc *proc, const kin_status *st, void *userdata)
{
	(void)proc;
	kin_worker *w = userdata;
	kin__worker_ended(w, st);
	kin__worker_deliver_down(w);
}

void kin__worker_fire_late(kin_worker *w)
{
	pthread_mutex_lock(&w->lock);
	bool settled = w->settled;
	kin_exit_reason reason = w->reason;
	pthread_mutex_unlock(&w->lock);
	if (settled)
		fire_monitors(w, &reason);
}

/* Monitors added after the end fire from the loop, never from inside
 * kin_worker_monitor. */
static void on_late(kin_timer *t, void *userdata)
{
	(void)t;
	kin__worker_fire_late(userdata);
}

int kin_worker_monitor(kin_worker *w, kin_down_cb cb, void *userdata, kin_monitor **ret)
{
	if (!w || !cb)
		return -EINVAL;
	kin_monitor *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->worker = w;
	m->cb = cb;
	m->userdata = userdata;
	kin_status st;
	if (kin_proc_poll(w->proc, &st) == 1)
		kin__worker_ended(w, &st);
	pthread_mutex_lock(&w->lock);
	bool delivered = w->down_delivered;
	pthread_mutex_unlock(&w->lock);
	int r = 0;
	if (delivered) {
		if (!w->late)
			r = kin_timer_new(w->loop, on_late, w, &w->late);
		if (r == 0)
			r = kin_timer_start(w->late, 0, 0);
	} else {
		r = listen_for_exit(w);
	}
	if (r < 0) {
		free(m);
		return r;
	}
	kin__list_add(&w->monitors, &m->link);
	if (ret)
		*ret = m;
	return 0;
}

static void maybe_stop_listening(kin_worker *w)
{
	for (kin__link *l = w->monitors.next; l != &w->monitors; l = l->next)
		if (!KIN__CONTAINER_OF(l, kin_monitor, link)->fired)
			return;
	if (w->links.next != &w->links)
		return;
	kin_status st;
	if (kin_proc_poll(w->proc, &st) == 0)
		(void)kin_proc_on_exit(w->proc, NULL, NULL);
}

void kin_monitor_free(kin_monitor *m)
{
	if (!m)
		return;
	kin_worker *w = m->worker;
	kin__list_del(&m->link);
	free(m);
	maybe_stop_listening(w);
}

void kin__monitors_free_all(kin_worker *w)
{
	while (w->monitors.next != &w->monitors)
		kin_monitor_free(KIN__CONTAINER_OF(w->monitors.next, kin_monitor, link));
	kin_timer_free(w->late);
	w->late = NULL;
}

static kin__link_end *find_end(kin_worker *w, kin_worker *peer)
{
	for (kin__link *l = w->links.next; l != &w->links; l = l->next) {
		kin__link_end *e = KIN__CONTAINER_OF(l, kin__link_end, link);
		if (e->peer == peer)
			return e;
	}
	return NULL;
}

int kin_worker_link(kin_worker *a, kin_worker *b)
{
	if (!a || !b || a == b || a->loop != b->loop)
		return -EINVAL;
	if (find_end(a, b))
		return 0;
	kin__link_end *ea = calloc(1, sizeof(*ea)), *eb = calloc(1, sizeof(*eb));
	int r = ea && eb ? 0 : -ENOMEM;
	if (r == 0)
		r = listen_for_exit(a);
	if (r == 0)
		r = listen_for_exit(b);
	if (r < 0) {
		free(ea);
		free(eb);
		return r;
	}
	ea->peer = b;
	eb->peer = a;
	kin__list_add(&a->links, &ea->link);
	kin__list_add(&b->links, &eb->link);
	/* One that has already ended acts at once, as in Erlang. */
	kin_status st;
	kin_worker *ended[2] = {a, b};
	for (int i = 0; i < 2; i++)
		if (kin_proc_poll(ended[i]->proc, &st) == 1) {
			kin_worker *dead = ended[i], *peer = ended[1 - i];
			kin__worker_ended(dead, &st);
			pthread_mutex_lock(&dead->lock);
			bool delivered = dead->down_delivered;
			kin_exit_reason reason = dead->reason;
			pthread_mutex_unlock(&dead->lock);
			if (!delivered) {
				kin__worker_deliver_down(dead);
			} else {
				kin_worker_unlink(dead, peer);
				if (reason.kind != KIN_REASON_NORMAL)
					notify_linked(dead, peer, &reason);
			}
			break;
		}
	return 0;
}

int kin_worker_unlink(kin_worker *a, kin_worker *b)
{
	if (!a || !b)
		return -EINVAL;
	kin__link_end *ea = find_end(a, b), *eb = find_end(b, a);
	if (ea) {
		kin__list_del(&ea->link);
		free(ea);
	}
	if (eb) {
		kin__list_del(&eb->link);
		free(eb);
	}
	if (ea || eb) {
		maybe_stop_listening(a);
		maybe_stop_listening(b);
	}
	return 0;
}

void kin__worker_unlink_all(kin_worker *w)
{
	while (w->links.next != &w->links) {
		kin__link_end *e = KIN__CONTAINER_OF(w->links.next, kin__link_end, link);
		kin_worker_unlink(w, e->peer);
	}
}

int kin_worker_trap_exits(kin_worker *w, bool trap)
{
	if (!w)
		return -EINVAL;
	if (trap && !kin_worker_has(w, "kin.exit"))
		return -ENOSYS; /* it could not hear the notices it asks for */
	pthread_mutex_lock(&w->lock);
	w->trap_exits = trap;
	pthread_mutex_unlock(&w->lock);
	return 0;
}
