/* Timers live in a binary min-heap keyed by deadline; one timerfd in the
 * loop's epoll is armed for the earliest. Start, stop and expiry are
 * O(log n). The heap is shared with threads that call kin_proc_terminate,
 * so it is guarded by loop->lock; callbacks run without the lock. */
#include "core.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

static bool earlier(kin_timer *a, kin_timer *b)
{
	return a->deadline < b->deadline;
}

static void place(kin_loop *loop, size_t i, kin_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i;
}

static void sift_up(kin_loop *loop, size_t i)
{
	kin_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!earlier(t, loop->heap[parent]))
			break;
		place(loop, i, loop->heap[parent]);
		i = parent;
	}
	place(loop, i, t);
}

static void sift_down(kin_loop *loop, size_t i)
{
	kin_timer *t = loop->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->nheap)
			break;
		if (child + 1 < loop->nheap && earlier(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!earlier(loop->heap[child], t))
			break;
		place(loop, i, loop->heap[child]);
		i = child;
	}
	place(loop, i, t);
}

static void heap_remove(kin_loop *loop, kin_timer *t)
{
	size_t i = t->heap_index;
	t->heap_index = SIZE_MAX;
	kin_timer *last = loop->heap[--loop->nheap];
	if (last == t)
		return;
	place(loop, i, last);
	sift_down(loop, i);
	sift_up(loop, last->heap_index);
}

/* Points the timerfd at the earliest deadline; called with the lock held. */
static void rearm(kin_loop *loop)
{
	kin_time want = loop->nheap ? loop->heap[0]->deadline : KIN_FOREVER;
	if (want == loop->armed_for)
		return;
	struct itimerspec its = {0};
	if (want != KIN_FOREVER) {
		/* An all-zero it_value disarms, so a deadline of 0 becomes 1 ns. */
		kin_time at = want > 0 ? want : 1;
		its.it_value.tv_sec = at / KIN_SEC;
		its.it_value.tv_nsec = at % KIN_SEC;
	}
	if (timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		loop->armed_for = want;
}

int kin_timer_new(kin_loop *loop, kin_timer_cb cb, void *userdata, kin_timer **ret)
{
	if (!loop || !cb)
		return -EINVAL;
	kin_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->cb = cb;
	t->userdata = userdata;
	t->heap_index = SIZE_MAX;
	/* Procs make their timers from spawning threads. */
	pthread_mutex_lock(&loop->lock);
	kin__list_add(&loop->timers, &t->all);
	pthread_mutex_unlock(&loop->lock);
	*ret = t;
	return 0;
}

int kin_timer_start(kin_timer *t, kin_time deadline, int64_t interval_ns)
{
	if (!t || interval_ns < 0)
		return -EINVAL;
	kin_loop *loop = t->loop;
	pthread_mutex_lock(&loop->lock);
	if (t->heap_index == SIZE_MAX) {
		if (loop->nheap == loop->capheap) {
			size_t cap = loop->capheap ? loop->capheap * 2 : 16;
			kin_timer **h = realloc(loop->heap, cap * sizeof(*h));
			if (!h) {
				pthread_mutex_unlock(&loop->lock);
				return -ENOMEM;
			}
			loop->heap = h;
			loop->capheap = cap;
		}
		t->deadline = deadline;
		t->interval = interval_ns;
		place(loop, loop->nheap++, t);
		sift_up(loop, t->heap_index);
		atomic_fetch_add(&loop->active, 1);
	} else {
		t->deadline = deadline;
		t->interval = interval_ns;
		sift_down(loop, t->heap_index);
		sift_up(loop, t->heap_index);
	}
	rearm(loop);
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

void kin_timer_stop(kin_timer *t)
{
	if (!t)
		return;
	kin_loop *loop = t->loop;
	pthread_mutex_lock(&loop->lock);
	if (t->heap_index != SIZE_MAX) {
		heap_remove(loop, t);
		atomic_fetch_sub(&loop->active, 1);
		rearm(loop);
	}
	pthread_mutex_unlock(&loop->lock);
}

void kin_timer_free(kin_timer *t)
{
	if (!t)
		return;
	kin_timer_stop(t);
	pthread_mutex_lock(&t->loop->lock);
	kin__list_del(&t->all);
	pthread_mutex_unlock(&t->loop->lock);
	free(t);
}

/* The timerfd's watch: run every timer whose deadline has passed. */
void kin__timers_expire(kin_watch *w, unsigned events, void *userdata)
{
	(void)events;
	kin_loop *loop = userdata;
	uint64_t ticks;
	(void)!read(w->fd, &ticks, sizeof(ticks));
	kin_time now = kin_now();
	pthread_mutex_lock(&loop->lock);
	/* Force a fresh timerfd_settime: the one we were armed for has fired. */
	loop->armed_for = -1;
	while (loop->nheap && loop->heap[0]->deadline <= now) {
		kin_timer *t = loop->heap[0];
		if (t->interval > 0) {
			/* Reschedule before the callback, which may stop or free it. */
			t->deadline += t->interval;
			if (t->deadline <= now)
				t->deadline = now + t->interval;
			sift_down(loop, 0);
		} else {
			heap_remove(loop, t);
			atomic_fetch_sub(&loop->active, 1);
		}
		rearm(loop);
		pthread_mutex_unlock(&loop->lock);
		t->cb(t, t->userdata);
		pthread_mutex_lock(&loop->lock);
	}
	rearm(loop);
	pthread_mutex_unlock(&loop->lock);
}
