/* Pools: N workers of one kind, each call to the least busy. Calls come
 * from any thread, so they touch nothing that belongs to the loop: a dead
 * worker is swapped for a new one (spawning is thread-safe) and set aside,
 * and the loop's own thread frees it. The caller arms the pool's timer for
 * "now" (the timer heap has its own lock, so that is safe from any thread);
 * the timer's callback runs on the loop's thread and frees the set-aside.
 * An armed timer counts as work for kin_loop_run, an idle one does not, so
 * the pool only holds the loop for that one pass.
 *
 * A replacement is spawned with the pool's lock released: a spawn can
 * take seconds (fork, exec, handshake), and callers on other threads keep
 * going to the live workers meanwhile. The slot is marked `replacing` for
 * that time, so no one else picks it, replaces it too, or (resize, free)
 * drops it; a caller that finds no live worker but a replacement under
 * way waits for it (on `changed`) rather than failing.
 *
 * The set-aside list has a lock of its own. Its only writer is the caller
 * that sets a worker aside, under the pool's lock; the timer fires at
 * once, and if its callback needed the pool's lock it would wait on
 * whatever holds that lock (a resize growing the pool spawns under it).
 * Lock order: lock, then dead_lock. */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct slot {
	kin_worker *worker;  /* NULL when a replacement could not be started */
	unsigned users;      /* calls that picked it and have not returned */
	bool replacing;      /* a caller is spawning its worker, lock released */
	unsigned long tried; /* the last pick() that tried to replace it */
} slot;

struct kin_pool {
	kin_loop *loop;
	kin_worker_opts opts;
	pthread_mutex_t lock;   /* guards changed, the slots, replaced and picks */
	pthread_cond_t changed; /* a slot's users dropped to 0, or its replacing ended */
	slot **slots;
	size_t n, cap;
	unsigned replaced;
	unsigned long picks;       /* pick() calls so far: each one's ticket */
	pthread_mutex_t dead_lock; /* guards dead, ndead, capdead; held briefly */
	kin_worker **dead;         /* replaced, waiting for the loop's thread to free them */
	size_t ndead, capdead;
	kin_timer *reap; /* armed while `dead` may hold some; not guarded by lock */
};

static bool is_dead(kin_worker *w)
{
	kin_status st;
	pthread_mutex_lock(&w->lock);
	bool down = w->chan_down;
	pthread_mutex_unlock(&w->lock);
	return down || kin_proc_poll(w->proc, &st) == 1;
}

/* Puts w on the set-aside list; -ENOMEM leaves it off (and in its slot). */
static int set_aside(kin_pool *p, kin_worker *w)
{
	int r = 0;
	pthread_mutex_lock(&p->dead_lock);
	if (p->ndead == p->capdead) {
		size_t cap = p->capdead ? 2 * p->capdead : 4;
		kin_worker **more = realloc(p->dead, cap * sizeof(*more));
		if (more) {
			p->dead = more;
			p->capdead = cap;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0)
		p->dead[p->ndead++] = w;
	pthread_mutex_unlock(&p->dead_lock);
	return r;
}

/* Lock held, s idle, not being replaced, its worker dead (or missing):
 * starts another, releasing the lock for the spawn; returns with it held
 * again. On failure the slot is left empty for a later call to retry.
 * While `replacing` is set nothing else touches s (pickers skip it,
 * resize and free wait for it), so s stays valid with the lock released,
 * even if a resize takes it out of the pool meanwhile. */
static void replace(kin_pool *p, slot *s)
{
	if (s->worker) {
		if (set_aside(p, s->worker) < 0)
			return; /* no memory: it stays where it is, dead */
		s->worker = NULL;
		/* If this fails (no memory for the loop's heap) the worker waits
		 * for the next death, a resize or kin_pool_free. */
		(void)kin_timer_start(p->reap, 0, 0);
	}
	s->replacing = true;
	pthread_mutex_unlock(&p->lock);
	kin_worker *w = NULL;
	int r = kin_worker_spawn(p->loop, &p->opts, &w, NULL);
	pthread_mutex_lock(&p->lock);
	s->replacing = false;
	if (r == 0) {
		s->worker = w;
		p->replaced++;
	}
	pthread_cond_broadcast(&p->changed);
}

/* On the loop's thread only, without the pool's lock (a caller may hold
 * it through a whole spawn): the list is taken out under dead_lock, and
 * the workers are freed after, since freeing one that has not been reaped
 * yet waits for it, and a caller appending should not wait on that.
 * Nothing else holds a worker once it is set aside: replace() only takes
 * idle slots (users == 0), and marks them `replacing` before it lets go of
 * the lock, so no call of ours is inside it or picks it after. */
static void free_dead(kin_pool *p)
{
	pthread_mutex_lock(&p->dead_lock);
	kin_worker **dead = p->dead;
	size_t ndead = p->ndead;
	p->dead = NULL;
	p->ndead = p->capdead = 0;
	pthread_mutex_unlock(&p->dead_lock);
	for (size_t i = 0; i < ndead; i++)
		kin_worker_free(dead[i]);
	free(dead);
}

static void on_reap(kin_timer *t, void *userdata)
{
	(void)t;
	free_dead(userdata);
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
		int r = kin_worker_spawn(p->loop, &p->opts, &s->worker, why);
		if (r < 0) {
			free(s);
			return r;
		}
		p->slots[p->n++] = s;
	}
	return 0;
}

/* A slot leaving the pool, no call in it and no replacement under way:
 * its worker stops (finishing what it has). */
static void drop(slot *s)
{
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
	pthread_mutex_init(&p->dead_lock, NULL);
	/* Waits in pick() are until a call's deadline, on kin_now()'s clock. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->changed, &ca);
	pthread_condattr_destroy(&ca);
	int r = kin_timer_new(loop, on_reap, p, &p->reap);
	if (r < 0) {
		kin_pool_free(p);
		return r;
	}
	r = grow(p, size, why);
	if (r < 0) {
		kin_pool_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

/* The live worker with the fewest calls in flight, its users counted, or
 * NULL with *err set. Dead idle ones are replaced on the way, each at most
 * once per pick (`tried`), one at a time with the lock released, and the
 * scan starts over after each (the slots may have changed meanwhile).
 * With no live worker but another caller's replacement under way, it
 * waits for that until the deadline: -ETIMEDOUT. With none under way
 * either: -ECHILD. */
static slot *pick(kin_pool *p, kin_time deadline, int *err)
{
	slot *best = NULL;
	pthread_mutex_lock(&p->lock);
	unsigned long ticket = ++p->picks;
	for (;;) {
		slot *dead = NULL;
		bool pending = false;
		unsigned best_load = 0;
		for (size_t i = 0; i < p->n; i++) {
			slot *s = p->slots[i];
			if (s->replacing) {
				pending = true;
				continue;
			}
			if (!s->worker || is_dead(s->worker)) {
				/* One with a call still in it waits for that call
				 * to fail, and for a later pick. */
				if (!s->users && s->tried != ticket && !dead)
					dead = s;
				continue;
			}
			unsigned load = atomic_load(&s->worker->inflight) + s->users;
			if (!best || load < best_load) {
				best = s;
				best_load = load;
			}
		}
		if (dead) {
			dead->tried = ticket;
			replace(p, dead);
			best = NULL;
			continue;
		}
		if (best || !pending) {
			*err = -ECHILD;
			break;
		}
		struct timespec ts = {.tv_sec = deadline / KIN_SEC, .tv_nsec = deadline % KIN_SEC};
		if (deadline <= kin_now() ||
		    pthread_cond_timedwait(&p->changed, &p->lock, &ts) == ETIMEDOUT) {
			*err = -ETIMEDOUT;
			break;
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
	/* As kin_call does, so the caller may release it whatever we return. */
	if (reply)
		memset(reply, 0, sizeof(*reply));
	if (!p)
		return -EINVAL;
	int err;
	slot *s = pick(p, deadline, &err);
	if (!s)
		return err;
	int r = kin_call(s->worker, name, args, deadline, reply);
	pthread_mutex_lock(&p->lock);
	if (--s->users == 0)
		pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return r;
}

static unsigned busy(const slot *s)
{
	return s->users + s->replacing;
}

int kin_pool_resize(kin_pool *p, size_t size, kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!p || size == 0)
		return -EINVAL;
	free_dead(p);
	pthread_mutex_lock(&p->lock);
	int r = grow(p, size, why);
	slot **gone = NULL;
	size_t ngone = 0;
	if (r == 0 && p->n > size) {
		/* The idlest go, so no call is cut short; one being replaced
		 * counts as busy, as its replacer will likely use it. */
		ngone = p->n - size;
		gone = calloc(ngone, sizeof(*gone));
		if (!gone) {
			r = -ENOMEM;
			ngone = 0;
		}
		for (size_t k = 0; k < ngone; k++) {
			size_t idlest = 0;
			for (size_t i = 1; i < p->n; i++)
				if (busy(p->slots[i]) < busy(p->slots[idlest]))
					idlest = i;
			gone[k] = p->slots[idlest];
			p->slots[idlest] = p->slots[--p->n];
		}
	}
	/* Out of the pool, no new call picks them; those that already did
	 * finish first, and a replacement under way ends (its caller then
	 * finds the slot gone and looks again). */
	for (size_t k = 0; k < ngone; k++)
		while (gone[k]->users || gone[k]->replacing)
			pthread_cond_wait(&p->changed, &p->lock);
	pthread_mutex_unlock(&p->lock);
	for (size_t k = 0; k < ngone; k++)
		drop(gone[k]);
	free(gone);
	return r;
}

size_t kin_pool_size(kin_pool *p)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	size_t n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}

unsigned kin_pool_replaced(kin_pool *p)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	unsigned n = p->replaced;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void kin_pool_free(kin_pool *p)
{
	if (!p)
		return;
	/* No call may be in progress (kin.h), so none is replacing a worker
	 * either; were one still finishing its replacement, its slot would be
	 * freed under it, so wait for that much. */
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++)
		while (p->slots[i]->replacing)
			pthread_cond_wait(&p->changed, &p->lock);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n; i++)
		drop(p->slots[i]);
	free(p->slots);
	/* No call runs any more, so nothing re-arms it behind our back. */
	kin_timer_free(p->reap);
	free_dead(p);
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->dead_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
