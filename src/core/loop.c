/* The reactor: one epoll fd carries pidfds, stream fds, user fds and a
 * timerfd, so the whole of kin is one pollable fd. Each ready event points
 * straight at its watch, which keeps the cost per event O(1) however many
 * children there are. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

int kin_loop_new(kin_loop **ret)
{
	kin_loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	int r;
	loop->timerfd = -1;
	loop->lifeline_read = loop->lifeline_write = -1;
	loop->armed_for = KIN_FOREVER;
	kin__list_init(&loop->procs);
	kin__list_init(&loop->watches);
	kin__list_init(&loop->timers);
	pthread_mutex_init(&loop->lock, NULL);
	/* Above stdio, like every fd kin makes (see kin__fd_above_stdio). */
	loop->epfd = kin__fd_above_stdio(epoll_create1(EPOLL_CLOEXEC));
	if (loop->epfd < 0) {
		r = -errno;
		goto fail;
	}
	loop->timerfd =
		kin__fd_above_stdio(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
	if (loop->timerfd < 0) {
		r = -errno;
		goto fail;
	}
	r = kin__watch_new(loop, loop->timerfd, true, kin__timers_expire, loop, &loop->timer_watch);
	if (r < 0)
		goto fail;
	r = kin_watch_set(loop->timer_watch, KIN_READABLE);
	if (r < 0)
		goto fail;
	*ret = loop;
	return 0;
fail:
	kin_loop_free(loop);
	return r;
}

int kin__loop_lifeline(kin_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->lifeline_read < 0) {
		int p[2];
		if (kin__pipe(p) == 0) {
			loop->lifeline_read = p[0];
			loop->lifeline_write = p[1];
		}
	}
	int fd = loop->lifeline_read >= 0 ? loop->lifeline_read : -EMFILE;
	pthread_mutex_unlock(&loop->lock);
	return fd;
}

static void release_dead_watches(kin_loop *loop)
{
	while (loop->dead_watches) {
		kin_watch *w = loop->dead_watches;
		loop->dead_watches = w->next_dead;
		free(w);
	}
}

void kin_loop_free(kin_loop *loop)
{
	if (!loop)
		return;
	/* Each release unlinks its own node, so always take the first. */
	for (;;) {
		pthread_mutex_lock(&loop->lock);
		kin__link *first = loop->procs.next;
		pthread_mutex_unlock(&loop->lock);
		if (first == &loop->procs)
			break;
		first->release(first);
	}
	kin_watch_free(loop->timer_watch);
	/* Then whatever the owner left registered; the fds are still open, so
	 * each goes the ordinary way. */
	while (loop->timers.next != &loop->timers)
		kin_timer_free(KIN__CONTAINER_OF(loop->timers.next, kin_timer, all));
	while (loop->watches.next != &loop->watches)
		kin_watch_free(KIN__CONTAINER_OF(loop->watches.next, kin_watch, all));
	release_dead_watches(loop);
	kin__close(loop->timerfd);
	kin__close(loop->epfd);
	kin__close(loop->lifeline_read);
	kin__close(loop->lifeline_write);
	free(loop->heap);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

int kin_loop_fd(const kin_loop *loop)
{
	return loop->epfd;
}

void kin_loop_stop(kin_loop *loop)
{
	loop->stop = true;
}

int kin__watch_new(kin_loop *loop, int fd, bool internal, kin_watch_cb cb, void *userdata,
		   kin_watch **ret)
{
	if (!loop || fd < 0 || !cb)
		return -EINVAL;
	kin_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->fd = fd;
	w->internal = internal;
	w->cb = cb;
	w->userdata = userdata;
	/* Procs add their watches from spawning threads. */
	pthread_mutex_lock(&loop->lock);
	kin__list_add(&loop->watches, &w->all);
	pthread_mutex_unlock(&loop->lock);
	*ret = w;
	return 0;
}

int kin_watch_new(kin_loop *loop, int fd, kin_watch_cb cb, void *userdata, kin_watch **ret)
{
	return kin__watch_new(loop, fd, false, cb, userdata, ret);
}

int kin_watch_set(kin_watch *w, unsigned events)
{
	if (!w || w->dead || (events & ~(unsigned)(KIN_READABLE | KIN_WRITABLE)))
		return -EINVAL;
	if (events == w->events)
		return 0;
	struct epoll_event ev = {.data.ptr = w};
	if (events & KIN_READABLE)
		ev.events |= EPOLLIN;
	if (events & KIN_WRITABLE)
		ev.events |= EPOLLOUT;
	int r;
	if (events == 0)
		r = epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	else if (w->in_epoll)
		r = epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev);
	else
		r = epoll_ctl(w->loop->epfd, EPOLL_CTL_ADD, w->fd, &ev);
	if (r < 0)
		return -errno;
	if (!w->internal) {
		if (w->events == 0)
			atomic_fetch_add(&w->loop->active, 1);
		else if (events == 0)
			atomic_fetch_sub(&w->loop->active, 1);
	}
	w->in_epoll = events != 0;
	w->events = events;
	return 0;
}

void kin_watch_free(kin_watch *w)
{
	if (!w)
		return;
	/* The fd may already be closed by its owner, so a failed DEL is fine. */
	if (w->in_epoll)
		(void)epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (!w->internal && w->events)
		atomic_fetch_sub(&w->loop->active, 1);
	w->events = 0;
	w->in_epoll = false;
	pthread_mutex_lock(&w->loop->lock);
	kin__list_del(&w->all);
	pthread_mutex_unlock(&w->loop->lock);
	if (w->loop->dispatching) {
		/* An event for it may still sit later in this epoll batch. */
		w->dead = true;
		w->next_dead = w->loop->dead_watches;
		w->loop->dead_watches = w;
		return;
	}
	free(w);
}

static unsigned to_kin_events(uint32_t e)
{
	unsigned k = 0;
	if (e & EPOLLIN)
		k |= KIN_READABLE;
	if (e & EPOLLOUT)
		k |= KIN_WRITABLE;
	if (e & EPOLLHUP)
		k |= KIN_HANGUP;
	if (e & EPOLLERR)
		k |= KIN_ERROR;
	return k;
}

int kin_loop_run(kin_loop *loop, kin_time deadline)
{
	struct epoll_event events[64];
	int ran = 0;
	loop->stop = false;
	for (;;) {
		if (loop->stop)
			return ran;
		/* With nothing to wait for, one look without waiting still runs
		 * kin's own work that is ready, such as reaping a released child. */
		bool idle = atomic_load(&loop->active) == 0;
		int n = epoll_wait(loop->epfd, events, (int)KIN_ARRAY_SIZE(events),
				   idle ? 0 : kin__timeout_ms(deadline));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			if (idle)
				return ran;
			if (deadline == KIN_FOREVER || kin_now() < deadline)
				continue; /* poll rounds to ms: woke a hair early */
			return ran > 0 ? ran : -ETIMEDOUT;
		}
		loop->dispatching++;
		/* Writers first, then everything else. Bytes already made move
		 * on before more are read in: a child fed before its output is
		 * drained gets longer runs, and on a shared CPU epoll's own
		 * order roughly doubles the context switches of a pipe round
		 * trip (bench/stream_cat.c). */
		for (int pass = 0; pass < 2; pass++) {
			for (int i = 0; i < n && !loop->stop; i++) {
				kin_watch *w = events[i].data.ptr;
				bool writable = events[i].events & EPOLLOUT;
				if (w->dead || writable != (pass == 0))
					continue;
				w->cb(w, to_kin_events(events[i].events), w->userdata);
				ran += !idle; /* housekeeping is not the caller's work */
			}
		}
		loop->dispatching--;
		if (!loop->dispatching)
			release_dead_watches(loop);
		if (idle && atomic_load(&loop->active) == 0)
			return ran;
	}
}
