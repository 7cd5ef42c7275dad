/* The loop: its pollable fd, on_exit delivered exactly once, timers,
 * watches, deadlines, and freeing things from inside their own callbacks. */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

/* `cat` that ends when we close its stdin. */
static kin_proc *spawn_cat(kin_loop *loop)
{
	static const char *argv[] = {"cat", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0].kind = KIN_STDIO_PIPE;
	o.stdio[1].kind = KIN_STDIO_NULL;
	return test_spawn(loop, &o);
}

static kin_proc *spawn_argv(kin_loop *loop, const char *const *argv)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0].kind = KIN_STDIO_NULL;
	return test_spawn(loop, &o);
}

struct exit_record {
	int calls;
	kin_status status;
};

static void record_exit(kin_proc *p, const kin_status *st, void *userdata)
{
	(void)p;
	struct exit_record *r = userdata;
	r->calls++;
	r->status = *st;
}

static int poll_in(int fd, int ms)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	int r;
	while ((r = poll(&pf, 1, ms)) < 0 && errno == EINTR)
		;
	return r;
}

TEST(loop_fd_readable_when_child_exits)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int lfd = kin_loop_fd(loop);
	ASSERT(lfd > 2);
	kin_proc *p = spawn_cat(loop);
	struct exit_record rec = {0};
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
	/* Nothing has happened yet. */
	ASSERT_EQ(poll_in(lfd, 0), 0);
	ASSERT_EQ(kin_loop_run(loop, 0), -ETIMEDOUT);
	ASSERT_EQ(rec.calls, 0);
	kin_stream_close(kin_proc_stdin(p));
	/* An embedding loop would wake on this. */
	ASSERT_EQ(poll_in(lfd, 20000), 1);
	ASSERT(kin_loop_run(loop, 0) >= 1);
	ASSERT_EQ(rec.calls, 1);
	ASSERT_EQ(rec.status.kind, KIN_EXITED);
	ASSERT_EQ(rec.status.code, 0);
	/* Once reported, the loop has nothing to say. */
	ASSERT_EQ(poll_in(lfd, 0), 0);
	ASSERT_EQ(kin_loop_run(loop, kin_after(5 * KIN_SEC)), 0);
	ASSERT_EQ(rec.calls, 1);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

struct waiter {
	kin_proc *proc;
	int result;
	kin_status status;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	w->result = kin_proc_wait(w->proc, kin_after(20 * KIN_SEC), &w->status);
	return NULL;
}

TEST(on_exit_once_while_another_thread_waits)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* Whoever reaps first, the loop or the waiter, on_exit fires once and
	 * both see the same status. Repeat to give both orders a chance. */
	for (int i = 0; i < 40; i++) {
		const char *argv[] = {"sh", "-c", "exit 5", NULL};
		kin_proc *p = i % 2 ? spawn_cat(loop) : spawn_argv(loop, argv);
		struct exit_record rec = {0};
		ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
		struct waiter w = {.proc = p};
		pthread_t t;
		ASSERT_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
		if (i % 2)
			kin_stream_close(kin_proc_stdin(p));
		int r = kin_loop_run(loop, kin_after(20 * KIN_SEC));
		ASSERT(r >= 1);
		pthread_join(t, NULL);
		ASSERT_OK(w.result);
		ASSERT_EQ(rec.calls, 1);
		ASSERT_EQ(rec.status.kind, KIN_EXITED);
		ASSERT_EQ(rec.status.code, i % 2 ? 0 : 5);
		ASSERT_EQ(w.status.kind, rec.status.kind);
		ASSERT_EQ(w.status.code, rec.status.code);
		/* Nothing more to deliver. */
		ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), 0);
		ASSERT_EQ(rec.calls, 1);
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

TEST(on_exit_after_the_child_ended)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "exit 9", NULL};

	/* Already reaped by a blocking wait. */
	kin_proc *p = spawn_argv(loop, argv);
	kin_status st;
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	struct exit_record rec = {0};
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
	ASSERT_EQ(rec.calls, 0); /* from the loop, never from inside on_exit() */
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	ASSERT_EQ(rec.calls, 1);
	ASSERT_EQ(rec.status.code, 9);
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), 0);
	/* Setting it again after it was reported does not repeat it. */
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), 0);
	ASSERT_EQ(rec.calls, 1);
	kin_proc_free(p);

	/* Ended but not yet reaped by anyone. */
	p = spawn_argv(loop, argv);
	ASSERT_EQ(poll_in(kin_proc_pidfd(p), 10000), 1);
	struct exit_record rec2 = {0};
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec2));
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	ASSERT_EQ(rec2.calls, 1);
	ASSERT_EQ(rec2.status.code, 9);
	kin_proc_free(p);

	/* Replaced before the end: only the last callback runs. Cancelled:
	 * none, and the loop does not wait for it. */
	p = spawn_cat(loop);
	struct exit_record first = {0}, second = {0};
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &first));
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &second));
	kin_stream_close(kin_proc_stdin(p));
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	ASSERT_EQ(first.calls, 0);
	ASSERT_EQ(second.calls, 1);
	kin_proc_free(p);
	p = spawn_cat(loop);
	ASSERT_OK(kin_proc_on_exit(p, record_exit, &first));
	ASSERT_OK(kin_proc_on_exit(p, NULL, NULL));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	kin_stream_close(kin_proc_stdin(p));
	ASSERT_OK(kin_proc_wait(p, kin_after(10 * KIN_SEC), &st));
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), 0);
	ASSERT_EQ(first.calls, 0);
	kin_proc_free(p);

	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* ---- timers */

struct ticks {
	int n;
	int stop_at;
	kin_time at[16];
	char order[16];
	char name;
	struct ticks *log; /* shared order log, for several timers */
};

static void tick(kin_timer *t, void *userdata)
{
	struct ticks *k = userdata;
	if (k->n < 16)
		k->at[k->n] = kin_now();
	k->n++;
	if (k->log && k->log->n < 15)
		k->log->order[k->log->n++] = k->name;
	if (k->stop_at && k->n == k->stop_at)
		kin_timer_stop(t);
}

TEST(timer_one_shot)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_timer *t;
	struct ticks k = {0};
	ASSERT_OK(kin_timer_new(loop, tick, &k, &t));
	kin_time start = kin_now();
	ASSERT_OK(kin_timer_start(t, kin_after(30 * KIN_MSEC), 0));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_EQ(k.n, 1);
	ASSERT(k.at[0] - start >= 30 * KIN_MSEC);
	/* Fired and done: nothing keeps the loop. */
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	/* A deadline already passed fires at once; so does 0. */
	ASSERT_OK(kin_timer_start(t, kin_now() - KIN_SEC, 0));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_OK(kin_timer_start(t, 0, 0));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_EQ(k.n, 3);
	kin_timer_free(t);
	kin_timer_free(NULL);
	kin_timer_stop(NULL);

	ASSERT_EQ(kin_timer_new(loop, NULL, NULL, &t), -EINVAL);
	ASSERT_EQ(kin_timer_new(NULL, tick, NULL, &t), -EINVAL);
	ASSERT_OK(kin_timer_new(loop, tick, &k, &t));
	ASSERT_EQ(kin_timer_start(t, 0, -1), -EINVAL);
	ASSERT_EQ(kin_timer_start(NULL, 0, 0), -EINVAL);
	kin_timer_free(t);
	kin_loop_free(loop);
}

TEST(timer_interval_and_stop)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_timer *t;
	struct ticks k = {.stop_at = 5};
	ASSERT_OK(kin_timer_new(loop, tick, &k, &t));
	kin_time start = kin_now();
	ASSERT_OK(kin_timer_start(t, kin_after(10 * KIN_MSEC), 20 * KIN_MSEC));
	/* Stopped from its own callback at 5: then the loop has nothing left. */
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	ASSERT_EQ(k.n, 5);
	/* Fixed rate: tick i is due at start + 10 + 20 i ms, and never early
	 * (a late tick does not push the later ones back). */
	for (int i = 0; i < 5; i++)
		ASSERT(k.at[i] - start >= (10 + 20 * i) * KIN_MSEC);

	/* Stopped before it fires: never runs. */
	k.n = 0;
	k.stop_at = 0;
	ASSERT_OK(kin_timer_start(t, kin_after(10 * KIN_MSEC), 10 * KIN_MSEC));
	kin_timer_stop(t);
	kin_timer_stop(t);
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	ASSERT_EQ(k.n, 0);

	/* Restarted: the new deadline replaces the old, far one. */
	ASSERT_OK(kin_timer_start(t, kin_after(3600 * KIN_SEC), 0));
	ASSERT_OK(kin_timer_start(t, kin_after(10 * KIN_MSEC), 0));
	ASSERT_EQ(kin_loop_run(loop, kin_after(20 * KIN_SEC)), 1);
	ASSERT_EQ(k.n, 1);
	/* And started again after it fired. */
	ASSERT_OK(kin_timer_start(t, kin_after(10 * KIN_MSEC), 0));
	ASSERT_EQ(kin_loop_run(loop, kin_after(20 * KIN_SEC)), 1);
	ASSERT_EQ(k.n, 2);
	/* A far restart replaces a near one too. */
	ASSERT_OK(kin_timer_start(t, kin_after(10 * KIN_MSEC), 0));
	ASSERT_OK(kin_timer_start(t, kin_after(3600 * KIN_SEC), 0));
	ASSERT_EQ(kin_loop_run(loop, kin_after(100 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT_EQ(k.n, 2);
	kin_timer_free(t);
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	kin_loop_free(loop);
}

TEST(timer_ordering)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	struct ticks log = {0};
	struct ticks k[5];
	kin_timer *t[5];
	const int ms[5] = {50, 10, 40, 20, 30};
	for (int i = 0; i < 5; i++) {
		k[i] = (struct ticks){.name = (char)('a' + i), .log = &log};
		ASSERT_OK(kin_timer_new(loop, tick, &k[i], &t[i]));
	}
	/* Started in one order, with deadlines in another. */
	kin_time base = kin_now();
	for (int i = 0; i < 5; i++)
		ASSERT_OK(kin_timer_start(t[i], base + ms[i] * KIN_MSEC, 0));
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	log.order[log.n] = 0;
	ASSERT_STR_EQ(log.order, "bdeca");
	for (int i = 0; i < 5; i++)
		kin_timer_free(t[i]);
	kin_loop_free(loop);
}

static void free_self(kin_timer *t, void *userdata)
{
	int *n = userdata;
	(*n)++;
	kin_timer_free(t);
}

struct pair {
	kin_timer *other;
	int n;
};

static void free_other(kin_timer *t, void *userdata)
{
	(void)t;
	struct pair *p = userdata;
	p->n++;
	kin_timer_free(p->other);
	p->other = NULL;
}

static void must_not_run(kin_timer *t, void *userdata)
{
	(void)t;
	(void)userdata;
	test_fail(__FILE__, __LINE__, "a freed timer ran");
}

TEST(timer_free_inside_callbacks)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int n = 0;
	kin_timer *once, *every;
	ASSERT_OK(kin_timer_new(loop, free_self, &n, &once));
	ASSERT_OK(kin_timer_new(loop, free_self, &n, &every));
	ASSERT_OK(kin_timer_start(once, kin_after(5 * KIN_MSEC), 0));
	ASSERT_OK(kin_timer_start(every, kin_after(5 * KIN_MSEC), 5 * KIN_MSEC));
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	ASSERT_EQ(n, 2);

	/* One timer frees another that expires in the same pass. */
	struct pair p = {0};
	kin_timer *a, *b;
	ASSERT_OK(kin_timer_new(loop, free_other, &p, &a));
	ASSERT_OK(kin_timer_new(loop, must_not_run, NULL, &b));
	p.other = b;
	kin_time at = kin_after(5 * KIN_MSEC);
	ASSERT_OK(kin_timer_start(a, at, 0));
	ASSERT_OK(kin_timer_start(b, at + 1, 0));
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	ASSERT_EQ(p.n, 1);
	kin_timer_free(a);
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	kin_loop_free(loop);
}

/* ---- watches */

struct watched {
	int calls;
	unsigned events;
	bool pause;
	bool free_self;
	int fd_to_read;
};

static void on_watch(kin_watch *w, unsigned events, void *userdata)
{
	struct watched *s = userdata;
	s->calls++;
	s->events = events;
	if (s->fd_to_read >= 0 && (events & KIN_READABLE)) {
		char buf[64];
		(void)!read(s->fd_to_read, buf, sizeof(buf));
	}
	if (s->pause)
		ASSERT_OK(kin_watch_set(w, 0));
	if (s->free_self)
		kin_watch_free(w);
}

TEST(watch_user_pipe)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));

	/* Readable once there is data. */
	struct watched r = {.pause = true, .fd_to_read = p[0]};
	kin_watch *rw;
	ASSERT_OK(kin_watch_new(loop, p[0], on_watch, &r, &rw));
	/* A new watch waits for nothing until told what to wait for. */
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	ASSERT_OK(kin_watch_set(rw, KIN_READABLE));
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT_EQ(r.calls, 0);
	ASSERT(write(p[1], "x", 1) == 1);
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_EQ(r.calls, 1);
	ASSERT(r.events & KIN_READABLE);

	/* Paused (set 0): data waits, the loop has nothing to do. */
	ASSERT(write(p[1], "y", 1) == 1);
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	ASSERT_EQ(r.calls, 1);
	/* Resumed: level-triggered, so the waiting byte is seen. */
	ASSERT_OK(kin_watch_set(rw, KIN_READABLE));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_EQ(r.calls, 2);

	/* Writable at once on the other end. */
	struct watched w = {.pause = true, .fd_to_read = -1};
	kin_watch *ww;
	ASSERT_OK(kin_watch_new(loop, p[1], on_watch, &w, &ww));
	ASSERT_OK(kin_watch_set(ww, KIN_WRITABLE));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_EQ(w.calls, 1);
	ASSERT_EQ(w.events & (KIN_READABLE | KIN_WRITABLE), KIN_WRITABLE);

	/* The writer goes: the reader hears a hangup. */
	kin_watch_free(ww);
	close(p[1]);
	ASSERT_OK(kin_watch_set(rw, KIN_READABLE));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT(r.events & KIN_HANGUP);

	/* Bad arguments. */
	ASSERT_EQ(kin_watch_set(rw, 1u << 7), -EINVAL);
	ASSERT_EQ(kin_watch_set(rw, KIN_HANGUP), -EINVAL);
	ASSERT_EQ(kin_watch_set(NULL, KIN_READABLE), -EINVAL);
	kin_watch *bad;
	ASSERT_EQ(kin_watch_new(loop, -1, on_watch, &r, &bad), -EINVAL);
	ASSERT_EQ(kin_watch_new(loop, p[0], NULL, &r, &bad), -EINVAL);
	kin_watch_free(rw);
	kin_watch_free(NULL);
	close(p[0]);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(watch_free_inside_callbacks)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2], q[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	ASSERT_OK(pipe2(q, O_CLOEXEC | O_NONBLOCK));
	/* Two watches ready in the same pass; each frees itself. */
	struct watched a = {.free_self = true, .fd_to_read = -1};
	struct watched b = {.free_self = true, .fd_to_read = -1};
	kin_watch *wa, *wb;
	ASSERT_OK(kin_watch_new(loop, p[1], on_watch, &a, &wa));
	ASSERT_OK(kin_watch_new(loop, q[1], on_watch, &b, &wb));
	ASSERT_OK(kin_watch_set(wa, KIN_WRITABLE));
	ASSERT_OK(kin_watch_set(wb, KIN_WRITABLE));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 2);
	ASSERT_EQ(a.calls, 1);
	ASSERT_EQ(b.calls, 1);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
}

/* Records which watches ran, in order, and pauses each one. */
struct dispatch_log {
	char order[8];
	int n;
};

static void log_and_pause(kin_watch *w, unsigned events, void *userdata)
{
	struct dispatch_log *log = userdata;
	if (log->n < (int)sizeof(log->order) - 1)
		log->order[log->n++] = events & KIN_WRITABLE ? 'w' : 'r';
	kin_watch_set(w, 0);
}

TEST(watch_writers_run_before_readers_in_one_pass)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2][2];
	kin_watch *readers[2], *writers[2];
	struct dispatch_log log = {.n = 0};
	/* Readers are registered and made ready first, so epoll alone would
	 * hand them over first. */
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(pipe2(p[i], O_CLOEXEC | O_NONBLOCK));
		ASSERT(write(p[i][1], "x", 1) == 1);
		ASSERT_OK(kin_watch_new(loop, p[i][0], log_and_pause, &log, &readers[i]));
		ASSERT_OK(kin_watch_set(readers[i], KIN_READABLE));
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(kin_watch_new(loop, p[i][1], log_and_pause, &log, &writers[i]));
		ASSERT_OK(kin_watch_set(writers[i], KIN_WRITABLE));
	}
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 4);
	ASSERT_STR_EQ(log.order, "wwrr");
	for (int i = 0; i < 2; i++) {
		kin_watch_free(readers[i]);
		kin_watch_free(writers[i]);
		close(p[i][0]);
		close(p[i][1]);
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
}

/* ---- running, stopping, deadlines */

struct stopper {
	kin_loop *loop;
	int n;
};

static void stop_loop(kin_timer *t, void *userdata)
{
	(void)t;
	struct stopper *s = userdata;
	s->n++;
	kin_loop_stop(s->loop);
}

TEST(loop_run_deadline_and_stop)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* Nothing registered: returns at once, whatever the deadline. */
	ASSERT_EQ(kin_loop_run(loop, KIN_FOREVER), 0);
	ASSERT_EQ(kin_loop_run(loop, 0), 0);

	/* Pending work and nothing happening: -ETIMEDOUT, never early. */
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	struct watched r = {.fd_to_read = -1};
	kin_watch *rw;
	ASSERT_OK(kin_watch_new(loop, p[0], on_watch, &r, &rw));
	ASSERT_OK(kin_watch_set(rw, KIN_READABLE));
	kin_time start = kin_now();
	ASSERT_EQ(kin_loop_run(loop, kin_after(120 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT(kin_now() - start >= 120 * KIN_MSEC);
	ASSERT_EQ(kin_loop_run(loop, 0), -ETIMEDOUT);
	ASSERT_EQ(kin_loop_run(loop, kin_now() - KIN_SEC), -ETIMEDOUT);
	/* A pending child without on_exit does not keep the loop, a child with
	 * one does. */
	const char *argv[] = {"sleep", "100", NULL};
	kin_proc *proc = spawn_argv(loop, argv);
	kin_watch_free(rw);
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	struct exit_record rec = {0};
	ASSERT_OK(kin_proc_on_exit(proc, record_exit, &rec));
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT_OK(kin_proc_kill(proc, SIGKILL));
	ASSERT(kin_loop_run(loop, kin_after(10 * KIN_SEC)) >= 1);
	ASSERT_EQ(rec.calls, 1);
	ASSERT_EQ(rec.status.signal, SIGKILL);
	kin_proc_free(proc);

	/* kin_loop_stop from a callback returns after it, with work pending;
	 * the next run carries on. */
	struct stopper s = {.loop = loop};
	kin_timer *t;
	ASSERT_OK(kin_timer_new(loop, stop_loop, &s, &t));
	ASSERT_OK(kin_timer_start(t, 0, 5 * KIN_MSEC));
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_EQ(s.n, 1);
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 1);
	ASSERT_EQ(s.n, 2);
	kin_timer_free(t);
	close(p[0]);
	close(p[1]);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

static void free_in_on_exit(kin_proc *p, const kin_status *st, void *userdata)
{
	struct exit_record *r = userdata;
	r->calls++;
	r->status = *st;
	kin_proc_free(p);
}

TEST(free_proc_inside_its_on_exit)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* With streams, a watch on one of them, a pending terminate timer,
	 * and several ending in the same pass. */
	struct exit_record rec[6] = {{0}};
	kin_proc *procs[6];
	for (int i = 0; i < 6; i++) {
		const char *argv[] = {"sh", "-c", "read x; echo bye; exit 4", NULL};
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.flags = i % 3 == 2 ? KIN_SPAWN_TREE : 0;
		o.stdio[0].kind = KIN_STDIO_PIPE;
		o.stdio[1].kind = KIN_STDIO_PIPE;
		o.stdio[2].kind = KIN_STDIO_PIPE;
		procs[i] = test_spawn(loop, &o);
		ASSERT_OK(kin_proc_on_exit(procs[i], free_in_on_exit, &rec[i]));
	}
	for (int i = 0; i < 6; i++) {
		if (i % 2)
			ASSERT_OK(kin_proc_terminate(procs[i], 60 * KIN_SEC));
		else
			kin_stream_close(kin_proc_stdin(procs[i]));
	}
	ASSERT(kin_loop_run(loop, kin_after(20 * KIN_SEC)) >= 1);
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(rec[i].calls, 1);
		if (i % 2) {
			ASSERT_EQ(rec[i].status.kind, KIN_KILLED);
			ASSERT_EQ(rec[i].status.signal, SIGTERM);
		} else {
			ASSERT_EQ(rec[i].status.kind, KIN_EXITED);
			ASSERT_EQ(rec[i].status.code, 4);
		}
	}
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), 0);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

static void ignore_readable(kin_stream *s, void *userdata)
{
	(void)s;
	(void)userdata;
}

TEST(loop_free_kills_and_reaps_children)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sleep", "100", NULL};
	unsigned modes[] = {0, KIN_SPAWN_TREE, KIN_SPAWN_NEW_SESSION, KIN_SPAWN_NEW_PGROUP, 0};
	pid_t pids[5];
	struct exit_record rec = {0};
	for (int i = 0; i < 5; i++) {
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.flags = modes[i];
		o.stdio[0].kind = KIN_STDIO_PIPE;
		o.stdio[1].kind = KIN_STDIO_PIPE;
		kin_proc *p = test_spawn(loop, &o);
		pids[i] = kin_proc_pid(p);
		/* Every kind of registration a proc can have. */
		ASSERT_OK(kin_proc_on_exit(p, record_exit, &rec));
		ASSERT_OK(kin_stream_on_readable(kin_proc_stdout(p), ignore_readable, NULL));
		if (i == 4)
			ASSERT_OK(kin_proc_terminate(p, 60 * KIN_SEC));
	}
	kin_loop_free(loop);
	for (int i = 0; i < 5; i++)
		ASSERT(!test_pid_exists(pids[i]));
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

static void never(kin_timer *t, void *userdata)
{
	(void)t;
	(void)userdata;
}

TEST(loop_free_releases_timers_and_watches)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	/* Left registered, armed or not: kin_loop_free frees them all. Under
	 * LeakSanitizer anything it forgot fails this test at exit. */
	kin_timer *armed, *idle;
	ASSERT_OK(kin_timer_new(loop, never, NULL, &armed));
	ASSERT_OK(kin_timer_new(loop, never, NULL, &idle));
	ASSERT_OK(kin_timer_start(armed, kin_after(3600 * KIN_SEC), KIN_SEC));
	struct watched r = {.fd_to_read = -1};
	kin_watch *active, *paused;
	ASSERT_OK(kin_watch_new(loop, p[0], on_watch, &r, &active));
	ASSERT_OK(kin_watch_set(active, KIN_READABLE));
	ASSERT_OK(kin_watch_new(loop, p[1], on_watch, &r, &paused));
	kin_loop_free(loop);
	close(p[0]);
	close(p[1]);
	ASSERT_EQ(test_count_fds(), fds);
}

#define MANY_CHILDREN 1000

struct many {
	int calls[MANY_CHILDREN];
	kin_status status[MANY_CHILDREN];
	kin_proc *procs[MANY_CHILDREN];
	int reported;
};

static struct many many;

static void many_exit(kin_proc *p, const kin_status *st, void *userdata)
{
	size_t i = (size_t)(uintptr_t)userdata;
	ASSERT(many.procs[i] == p);
	many.calls[i]++;
	many.status[i] = *st;
	many.reported++;
	/* Half are freed from inside their callback. */
	if (i % 2) {
		kin_proc_free(p);
		many.procs[i] = NULL;
	}
}

TEST_TIMEOUT(loop_many_concurrent_children, 90)
{
	/* Each child costs a pidfd; make room for them all. */
	struct rlimit rl;
	ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < 4 * MANY_CHILDREN) {
		rl.rlim_cur = rl.rlim_max < 4 * MANY_CHILDREN ? rl.rlim_max : 4 * MANY_CHILDREN;
		ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl));
	}
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* All read one shared pipe and end together when we close it. */
	int gate[2];
	ASSERT_OK(pipe2(gate, O_CLOEXEC));
	const char *argv[] = {"cat", NULL};
	for (size_t i = 0; i < MANY_CHILDREN; i++) {
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.stdio[0] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = gate[0]};
		o.stdio[1].kind = KIN_STDIO_NULL;
		many.procs[i] = test_spawn(loop, &o);
		ASSERT_OK(kin_proc_on_exit(many.procs[i], many_exit, (void *)(uintptr_t)i));
	}
	/* All alive at once. */
	for (size_t i = 0; i < MANY_CHILDREN; i++)
		ASSERT(test_pid_alive(kin_proc_pid(many.procs[i])));
	close(gate[1]);
	close(gate[0]);
	int r = kin_loop_run(loop, kin_after(60 * KIN_SEC));
	ASSERT(r >= 1);
	ASSERT_EQ(many.reported, MANY_CHILDREN);
	for (size_t i = 0; i < MANY_CHILDREN; i++) {
		ASSERT_EQ(many.calls[i], 1);
		ASSERT_EQ(many.status[i].kind, KIN_EXITED);
		ASSERT_EQ(many.status[i].code, 0);
	}
	ASSERT_EQ(kin_loop_run(loop, kin_after(50 * KIN_MSEC)), 0);
	for (size_t i = 0; i < MANY_CHILDREN; i++)
		kin_proc_free(many.procs[i]);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}
