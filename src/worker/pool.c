/* Pools: N workers of one kind, each call to the least busy. */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
	kin_pool *pool;
	kin_worker *worker;
	kin_monitor *monitor;
	unsigned users; /* calls that picked it and have not returned */
} slot;

struct kin_pool {
	kin_loop *loop;
	kin_worker_opts opts;
	pthread_mutex_t lock; /* guards the slots and counters */
	pthread_cond_t idle;  /* some slot's users dropped to 0 */
	slot **slots;
	size_t n, cap;
	unsigned replaced;
	kin_timer *timer; /* replaces workers that died, from the loop */
};

static bool dead(kin_worker *w)
{
	kin_status st;
	pthread_mutex_lock(&w->lock);
	bool down = w->chan_down;
	pthread_mutex_unlock(&w->lock);
	return down || kin_proc_poll(w->proc, &st) == 1;
}

static void on_down(kin_worker *w, const kin_exit_reason *reason, void *userdata)
{
	(void)w;
	(void)reason;
	slot *s = userdata;
	(void)kin_timer_start(s->pool->timer, 0, 0);
}

static int fill(kin_pool *p, slot *s, kin_spawn_error *why)
{
	kin_worker *w;
	int r = kin_worker_spawn(p->loop, &p->opts, &w, why);
	if (r < 0)
		return r;
	r = kin_worker_monitor(w, on_down, s, &s->monitor);
	if (r < 0) {
		kin_worker_free(w);
		return r;
	}
	s->worker = w;
	return 0;
}

/* Lock held, s idle: swaps a dead worker for a new one. */
static int replace(kin_pool *p, slot *s)
{
	kin_monitor_free(s->monitor);
	s->monitor = NULL;
	kin_worker_free(s->worker);
	s->worker = NULL;
	int r = fill(p, s, NULL);
	if (r == 0)
		p->replaced++;
	return r;
}

static void replace_dead(kin_pool *p)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++) {
		slot *s = p->slots[i];
		if (!s->users && (!s->worker || dead(s->worker)))
			(void)replace(p, s);
	}
	pthread_mutex_unlock(&p->lock);
}

static void on_timer(kin_timer *t, void *userdata)
{
	(void)t;
	replace_dead(userdata);
}

static int grow(kin_pool *p, size_t size, kin_spawn_error *why)
{
	if (size > p->cap) {
		slot **more = realloc(p->slots, size * sizeof(*more));
		if (!more)
			return -ENOMEM;
		p->slots = more;
		p->cap = size;
	}
	while (p->n < size) {
		slot *s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->pool = p;
		int r = fill(p, s, why);
		if (r < 0) {
			free(s);
			return r;
		}
		p->slots[p->n++] = s;
	}
	return 0;
}

static void drop(slot *s)
{
	kin_monitor_free(s->monitor);
	if (s->worker && kin_worker_stop(s->worker, 5 * KIN_SEC) == 0)
		(void)kin_worker_wait(s->worker, KIN_FOREVER, NULL);
	kin_worker_free(s->worker);
	free(s);
}

int kin_pool_new(kin_loop *loop, const kin_worker_opts *opts, size_t size, kin_pool **ret,
		 kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!loop || !ret || size == 0)
		return -EINVAL;
	kin_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->loop = loop;
	if (opts)
		p->opts = *opts;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	int r = kin_timer_new(loop, on_timer, p, &p->timer);
	if (r == 0)
		r = grow(p, size, why);
	if (r < 0) {
		kin_pool_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

/* The live worker with the fewest calls in flight; dead idle ones are
 * replaced on the way, so a pool works without the loop running too. */
static slot *pick(kin_pool *p)
{
	slot *best = NULL;
	unsigned best_load = 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++) {
		slot *s = p->slots[i];
		if ((!s->worker || dead(s->worker)) && (s->users || replace(p, s) < 0))
			continue;
		unsigned load = atomic_load(&s->worker->inflight) + s->users;
		if (!best || load < best_load) {
			best = s;
			best_load = load;
		}
	}
	if (best)
		best->users++;
	pthread_mutex_unlock(&p->lock);
	return best;
}

int kin_pool_call(kin_pool *p, const char *name, const kin_msg *args, kin_time deadline,
		  kin_reply *reply)
{
	if (!p)
		return -EINVAL;
	slot *s = pick(p);
	if (!s)
		return -ECHILD; /* none alive and none could be started */
	int r = kin_call(s->worker, name, args, deadline, reply);
	pthread_mutex_lock(&p->lock);
	if (--s->users == 0)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int kin_pool_resize(kin_pool *p, size_t size, kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!p || size == 0)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	int r = grow(p, size, why);
	slot **gone = NULL;
	size_t ngone = 0;
	if (r == 0 && p->n > size) {
		/* Keep the busiest: the idle ones go, and no call is cut. */
		ngone = p->n - size;
		gone = calloc(ngone, sizeof(*gone));
		if (!gone) {
			r = -ENOMEM;
			ngone = 0;
		}
		for (size_t k = 0; k < ngone; k++) {
			size_t idlest = 0;
			for (size_t i = 1; i < p->n; i++)
				if (p->slots[i]->users < p->slots[idlest]->users)
					idlest = i;
			gone[k] = p->slots[idlest];
			p->slots[idlest] = p->slots[--p->n];
		}
	}
	/* Out of the pool, no new call picks them; those that already did
	 * finish first. */
	for (size_t k = 0; k < ngone; k++)
		while (gone[k]->users)
			pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
	for (size_t k = 0; k < ngone; k++)
		drop(gone[k]);
	free(gone);
	return r;
}

size_t kin_pool_size(const kin_pool *p)
{
	return p ? p->n : 0;
}

unsigned kin_pool_replaced(const kin_pool *p)
{
	return p ? p->replaced : 0;
}

void kin_pool_free(kin_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		drop(p->slots[i]);
	free(p->slots);
	kin_timer_free(p->timer);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
