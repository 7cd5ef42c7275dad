/* Internal interface of the core layer: time, fds, the loop's insides.
 * Nothing here is public; public names live in include/kin.h. */
#ifndef KIN_CORE_H
#define KIN_CORE_H

#include "kin.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>

#define KIN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- time */

/* Milliseconds to pass to poll/epoll_wait for `deadline`: rounded up so we
 * never wake early, -1 for KIN_FOREVER, 0 once passed. */
int kin__timeout_ms(kin_time deadline);

/* ---- errors */

/* proc/spawn_error.c: fills `why` (if not NULL) with a formatted message;
 * here because every layer that starts processes reports through it. */
void kin__spawn_error(kin_spawn_error *why, int err, kin_spawn_step step, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- fds */

/* close(2) that keeps errno and never retries (EINTR still closed the fd). */
void kin__close(int fd);
/* Closes *fd if it is open and sets it to -1. */
void kin__close_p(int *fd);
int kin__set_nonblock(int fd, bool on);
/* Waits for `events` (POLLIN/POLLOUT) on fd until the deadline, retrying
 * EINTR. Returns revents (> 0) or -ETIMEDOUT. */
int kin__poll_fd(int fd, short events, kin_time deadline);
/* Reads exactly n bytes unless EOF comes first; returns the count or -errno. */
ssize_t kin__read_full(int fd, void *buf, size_t n);
/* Writes all n bytes to a blocking fd; returns 0 or -errno. */
int kin__write_full(int fd, const void *buf, size_t n);
/* Writes text to dir/path (AT_FDCWD for a plain path), as kernel files in
 * /proc and cgroupfs are written: open, one write, close. 0 or -errno.
 * Async-signal-safe, so children on their way to exec may use it. */
int kin__write_file_at(int dir, const char *path, const char *text);
/* Moves an fd in 0..2 to 3 or above (close-on-exec); returns the fd or -1. */
int kin__fd_above_stdio(int fd);
/* pipe2(O_CLOEXEC) with both ends at 3 or above; 0 or -errno. */
int kin__pipe(int p[2]);

/* ---- SIGPIPE (sigpipe.c) */

/* Blocks SIGPIPE in this thread until kin__sigpipe_restore, which consumes
 * a SIGPIPE raised meanwhile (when maybe_raised: the caller saw EPIPE, or
 * cannot tell) unless the caller had it blocked already. */
typedef struct kin__sigpipe_guard {
	sigset_t old;
} kin__sigpipe_guard;
void kin__sigpipe_block(kin__sigpipe_guard *g);
void kin__sigpipe_restore(const kin__sigpipe_guard *g, bool maybe_raised);

/* write(2) that reports a gone reader as EPIPE and never raises SIGPIPE:
 * pwritev2(RWF_NOSIGNAL) where the kernel has it, else a write inside a
 * guard. Returns what write(2) returns, with errno set. */
ssize_t kin__write_nosigpipe(int fd, const void *buf, size_t n);

/* ---- loop */

/* Intrusive list node so the loop can find every proc it owns at free;
 * `release` kills, reaps and frees the object the node lives in. Watches
 * and timers use the same node (with no release) so kin_loop_free can
 * free whatever its owner left registered. */
typedef struct kin__link {
	struct kin__link *prev, *next;
	void (*release)(struct kin__link *self);
} kin__link;

#define KIN__CONTAINER_OF(ptr, type, member)                                                      \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct kin_watch {
	kin__link all; /* in loop->watches */
	kin_loop *loop;
	int fd;
	unsigned events; /* requested: KIN_READABLE|KIN_WRITABLE */
	bool in_epoll;
	bool dead;       /* freed during dispatch; released after the batch */
	bool internal;   /* does not keep kin_loop_run alive */
	kin_watch_cb cb;
	void *userdata;
	kin_watch *next_dead;
};

struct kin_timer {
	kin__link all; /* in loop->timers */
	kin_loop *loop;
	kin_time deadline;
	int64_t interval;
	size_t heap_index; /* SIZE_MAX when not armed */
	kin_timer_cb cb;
	void *userdata;
};

struct kin_loop {
	int epfd;
	int timerfd;
	kin_watch *timer_watch;

	/* Guards the timer heap and the lists, which other threads touch
	 * through kin_proc_spawn, kin_proc_terminate and kin_proc_free. */
	pthread_mutex_t lock;
	kin_timer **heap;
	size_t nheap, capheap;
	kin_time armed_for; /* what timerfd is set to, KIN_FOREVER if idle */
	kin__link procs;
	/* The proc layer's spawner thread (src/proc/spawner.c), made on the
	 * first spawn; it sits last in `procs`, so it is released last. */
	struct kin__spawner *spawner;
	atomic_int nprocs; /* procs not yet freed: a proxy for our share of the fd table */
	kin__link watches, timers; /* every one not yet freed */

	/* Tree mode: every init child holds the read end; when this process
	 * dies the write end closes and each init takes its namespace down. */
	int lifeline_read, lifeline_write;

	atomic_int active; /* watches and timers that keep kin_loop_run going */
	int dispatching;
	bool stop;
	kin_watch *dead_watches;
};

/* Internal watches (pidfds, timerfd) use the same machinery as the public
 * one; `internal` ones do not keep kin_loop_run alive on their own. */
int kin__watch_new(kin_loop *loop, int fd, bool internal, kin_watch_cb cb, void *userdata,
		   kin_watch **ret);

/* timer.c: the timerfd watch's callback, running every expired timer. */
void kin__timers_expire(kin_watch *w, unsigned events, void *userdata);

/* Lazily creates the lifeline pipe; returns its read end or -errno. */
int kin__loop_lifeline(kin_loop *loop);

void kin__list_init(kin__link *head);
void kin__list_add(kin__link *head, kin__link *node);
void kin__list_del(kin__link *node);

#endif
