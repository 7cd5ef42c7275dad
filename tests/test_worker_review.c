/* A second look at the worker layer (src/worker/). Each test pins down one
 * defect found in review, checked against the doc comments of
 * include/kin.h (and OTP, where kin.h says "as in OTP"). A failing test
 * here names a bug; the review report says where it is and how to fix it. */
#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

/* What a monitor saw. */
typedef struct down_log {
	int count;
	kin_exit_reason reason;
} down_log;

static void on_down(kin_worker *w, const kin_exit_reason *reason, void *userdata)
{
	(void)w;
	down_log *d = userdata;
	d->count++;
	d->reason = *reason;
}

/* Runs the loop until the pid is gone (reaped), failing after 10 s. */
static void run_until_reaped(kin_loop *loop, pid_t pid, int line)
{
	kin_time end = kin_after(10 * KIN_SEC);
	while (test_pid_exists(pid)) {
		if (kin_now() >= end)
			test_fail(__FILE__, line, "pid %d was not reaped in 10 s", (int)pid);
		(void)kin_loop_run(loop, kin_after(20 * KIN_MSEC));
	}
}

/* Starts a "hold" call (tests/worker_handlers.c) and returns once the
 * handler is inside it; it stays there until *release is closed. */
static kin_pending *start_hold(kin_worker *w, int *release, int line)
{
	int in[2], rel[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(rel, O_CLOEXEC) < 0)
		test_fail(__FILE__, line, "pipe2: %s", strerror(errno));
	int give[2] = {in[1], rel[0]};
	kin_msg m = {.fds = give, .nfds = 2};
	kin_pending *p;
	int r = kin_call_start(w, "hold", &m, KIN_FOREVER, &p);
	if (r < 0)
		test_fail(__FILE__, line, "kin_call_start(hold): %s", kin_strerror(r));
	struct pollfd pf = {.fd = in[0], .events = POLLIN};
	int32_t pid;
	if (poll(&pf, 1, 20000) != 1 || read(in[0], &pid, sizeof(pid)) != sizeof(pid))
		test_fail(__FILE__, line, "the held call never started");
	close(in[0]);
	*release = rel[1];
	return p;
}

/* Runs the loop until child `id` has a worker whose pid is not `old`. */
static pid_t run_until_restarted(kin_loop *loop, kin_sup *s, const char *id, pid_t old, int line)
{
	kin_time end = kin_after(TEST_LONG_WAIT);
	for (;;) {
		pid_t now = test_sup_pid(s, id);
		if (now > 0 && now != old)
			return now;
		if (kin_now() >= end)
			test_fail(__FILE__, line, "child %s was not restarted in 20 s", id);
		(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
	}
}

/* ---------------------------------------------------------------- calls */

/* worker.c / call.c: a reply the worker sent before it ended is lost when
 * the end is settled (by kin_worker_wait, or by the loop for a monitor)
 * before a caller read it: the call fails with -ECONNRESET although its
 * handler ran and answered. Only take_turn drains the chan first. */
TEST(review_reply_sent_before_the_end_is_delivered)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_buf b = KIN_BUF_INIT;
	for (int mode = 0; mode < 2; mode++) {
		/* One thread: "echo" is answered before "quit" runs. */
		kin_worker *w = SPAWN_WORKER(loop, 1);
		kin_msg hi = {.data = "answered", .len = 8};
		kin_pending *echo, *quit;
		ASSERT_OK(kin_call_start(w, "echo", &hi, kin_after(TEST_LONG_WAIT), &echo));
		kin_msg three = test_int_args(&b, 3);
		ASSERT_OK(kin_call_start(w, "quit", &three, kin_after(TEST_LONG_WAIT), &quit));
		down_log d = {0};
		if (mode == 0) {
			kin_exit_reason r;
			ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
			ASSERT_EQ(r.kind, KIN_REASON_EXIT);
		} else {
			/* The loop learns of the end first, for a monitor. */
			ASSERT_OK(kin_worker_monitor(w, on_down, &d, NULL));
			RUN_UNTIL(loop, &d.count, 1);
			ASSERT_EQ(d.reason.kind, KIN_REASON_EXIT);
		}
		kin_reply rep;
		int r = kin_await(echo, kin_after(TEST_LONG_WAIT), &rep);
		if (r != 0)
			test_fail(__FILE__, __LINE__,
				  "mode %d: the echo was answered before the worker exited, yet "
				  "kin_await gave %d (%s)",
				  mode, r, kin_strerror(r));
		ASSERT_EQ(rep.len, 8);
		ASSERT(memcmp(rep.data, "answered", 8) == 0);
		kin_reply_release(&rep);
		ASSERT_EQ(kin_await(quit, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
		ASSERT_EQ(rep.reason.kind, KIN_REASON_EXIT);
		ASSERT_EQ(rep.reason.code, 3);
		kin_reply_release(&rep);
		kin_worker_free(w);
	}
	kin_buf_free(&b);
	test_loop_finish(loop, fds);
}

struct await_job {
	kin_pending *call;
	kin_time deadline;
	int result;
	kin_reply reply;
	atomic_bool done;
};

static void *await_in_thread(void *arg)
{
	struct await_job *j = arg;
	j->result = kin_await(j->call, j->deadline, &j->reply);
	atomic_store(&j->done, true);
	return NULL;
}

static bool job_done(void *arg)
{
	return atomic_load(&((struct await_job *)arg)->done);
}

/* call.c take_turn -> worker.c kin__worker_settle: once the chan is down,
 * the caller that takes its turn waits for the process with no regard to
 * its own deadline (KIN_FOREVER after kin_worker_stop, 1 s otherwise). A
 * call with a 200 ms deadline then hangs for the whole grace period. */
TEST(review_await_returns_by_its_deadline_while_a_stop_waits)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	int release;
	kin_pending *p = start_hold(w, &release, __LINE__);
	/* A long grace: the handler is busy, so the worker lives on for now. */
	ASSERT_OK(kin_worker_stop(w, 60 * KIN_SEC));
	struct await_job job = {.call = p, .deadline = kin_after(200 * KIN_MSEC)};
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, await_in_thread, &job), 0);
	bool returned = test_wait_until(job_done, &job, 20000);
	close(release); /* the handler returns, and the worker with it */
	pthread_join(t, NULL);
	if (!returned)
		test_fail(__FILE__, __LINE__,
			  "kin_await with a 200 ms deadline was still blocked after 20 s "
			  "(it returned %d once the worker exited)",
			  job.result);
	if (job.result == -ETIMEDOUT)
		kin_pending_cancel(p);
	else
		kin_reply_release(&job.reply);
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

/* call.c dispatch: a REPLY error of -38 is always turned into -ENOSYS, but
 * kin refuses unknown names itself (check_name), so for kin's own owner
 * -38 can only be a handler's own code, which kin.h says arrives as
 * -EREMOTEIO. A C handler returning -ENOSYS, kin's own error style, is
 * reported as "no handler of that name". */
TEST(review_handler_code_minus_38_is_the_handlers_own)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	ASSERT(kin_worker_has(w, "code"));
	kin_buf b = KIN_BUF_INIT;
	const int64_t codes[] = {5, -ENOENT, -ENOSYS};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		kin_msg args = test_int_args(&b, codes[i]);
		kin_reply rep;
		int r = kin_call(w, "code", &args, kin_after(TEST_LONG_WAIT), &rep);
		if (r != -EREMOTEIO)
			test_fail(__FILE__, __LINE__,
				  "a handler that failed with %lld: kin_call gave %d (%s), want "
				  "-EREMOTEIO",
				  (long long)codes[i], r, kin_strerror(r));
		ASSERT_EQ(rep.error, codes[i]);
		ASSERT_EQ(rep.len, 5);
		kin_reply_release(&rep);
	}
	kin_buf_free(&b);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

/* kin_await_any over calls to two workers is refused with -EINVAL, as
 * kin.h now says, and leaves the calls intact for the caller to await. */
TEST(review_await_any_over_two_workers)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	kin_pending *calls[2];
	ASSERT_OK(kin_call_start(a, "echo", NULL, kin_after(TEST_LONG_WAIT), &calls[0]));
	ASSERT_OK(kin_call_start(b, "echo", NULL, kin_after(TEST_LONG_WAIT), &calls[1]));
	size_t i;
	kin_reply rep;
	int r = kin_await_any(calls, 2, kin_after(TEST_LONG_WAIT), &i, &rep);
	ASSERT_EQ(r, -EINVAL);
	for (int k = 0; k < 2; k++) {
		ASSERT_OK(kin_await(calls[k], kin_after(TEST_LONG_WAIT), &rep));
		kin_reply_release(&rep);
	}
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

/* worker.c kin_worker_free leaves pending calls pointing at the freed
 * worker: kin_await and kin_pending_cancel lock w->lock, and read or
 * unlink w->pending, inside freed memory. kin.h says nothing of the order,
 * and "free the worker, then drop its leftover calls" is the natural
 * cleanup. A killed worker's calls have failed (done) before the free, so
 * only the mutex is touched, which ASan does not see; a detached worker's
 * calls are still pending, and SAN=1 reports the list unlink. */
TEST(review_pending_call_outlives_its_worker)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_buf b = KIN_BUF_INIT;
	kin_msg nap = test_int_args(&b, 60000);
	kin_pending *p, *q;
	ASSERT_OK(kin_call_start(w, "nap", &nap, KIN_FOREVER, &p));
	ASSERT_OK(kin_call_start(w, "nap", &nap, KIN_FOREVER, &q));
	kin_worker_free(w); /* kills it: both calls have failed by now */
	kin_reply rep;
	ASSERT_EQ(kin_await(p, 0, &rep), -ECONNRESET);
	kin_reply_release(&rep);
	kin_pending_cancel(q);

	/* Detached: kin_worker_free lets it live, its calls stay pending (two
	 * threads: one is held, the other confirms the detach). */
	w = SPAWN_WORKER(loop, 2);
	pid_t pid = kin_worker_pid(w);
	int release;
	p = start_hold(w, &release, __LINE__);
	ASSERT_OK(kin_worker_detach(w));
	kin_worker_free(w);
	kin_pending_cancel(p);
	close(release); /* it answers into a closed chan and exits */
	run_until_reaped(loop, pid, __LINE__);
	kin_buf_free(&b);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- exit reasons */

/* worker.c kin_worker_kill / kin_worker_stop set killed_by_kin before
 * trying, and keep it when there was nothing left to kill (-ESRCH). A
 * worker killed from outside (the OOM killer, say) and already reaped by
 * the loop then reports "killed" (by kin) instead of "signal(9)". */
TEST(review_kill_after_the_end_keeps_the_reason)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	for (int mode = 0; mode < 2; mode++) {
		kin_worker *w = SPAWN_WORKER(loop, 1);
		pid_t pid = kin_worker_pid(w);
		ASSERT_OK(kill(pid, SIGKILL));
		run_until_reaped(loop, pid, __LINE__); /* the loop's own pidfd watch */
		if (mode == 0)
			ASSERT_EQ(kin_worker_kill(w, SIGTERM), -ESRCH);
		else
			(void)kin_worker_stop(w, KIN_SEC);
		kin_exit_reason r;
		ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
		if (r.kind != KIN_REASON_SIGNAL || r.signal != SIGKILL)
			test_fail(__FILE__, __LINE__,
				  "%s after an outside SIGKILL: reason kind %d signal %d, want "
				  "signal(9)",
				  mode == 0 ? "kin_worker_kill" : "kin_worker_stop", (int)r.kind,
				  r.signal);
		kin_worker_free(w);
	}
	test_loop_finish(loop, fds);
}

/* worker.c kin__worker_reason: a worker spawned KIN_SPAWN_DETACHED has an
 * unknown status (KIN_EXIT_UNKNOWN), which is reported as
 * KIN_REASON_NORMAL, "exited 0". One that crashed is then normal: a
 * transient supervisor does not restart it and links spare its peers. */
TEST(review_detached_spawn_crash_is_not_normal)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER_FLAGS(loop, 1, KIN_SPAWN_DETACHED);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "crash", NULL, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	kin_reply_release(&rep);
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_EQ(r.status.kind, KIN_EXIT_UNKNOWN);
	if (r.kind == KIN_REASON_NORMAL)
		test_fail(__FILE__, __LINE__, "a worker that aborted is reported as \"normal\"");
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- monitors and links */

typedef struct freeing_log {
	int count;
	kin_worker *worker;
} freeing_log;

static void free_in_down(kin_worker *w, const kin_exit_reason *reason, void *userdata)
{
	(void)reason;
	freeing_log *f = userdata;
	f->count++;
	if (w == f->worker) {
		f->worker = NULL;
		kin_worker_free(w);
	}
}

/* monitor.c fire_monitors: after a DOWN callback returns it walks
 * w->monitors again, so a callback that frees its worker (the obvious
 * thing to do with a dead one; kin.h does not forbid it) makes it read
 * freed memory. */
TEST(review_down_callback_may_free_its_worker)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	freeing_log f = {.worker = w};
	down_log other = {0};
	ASSERT_OK(kin_worker_monitor(w, on_down, &other, NULL));
	ASSERT_OK(kin_worker_monitor(w, free_in_down, &f, NULL));
	ASSERT_OK(kill(kin_worker_pid(w), SIGKILL));
	RUN_UNTIL(loop, &f.count, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(f.count, 1);
	ASSERT(f.worker == NULL);
	test_loop_finish(loop, fds);
}

/* monitor.c: a monitor added after the DOWN was delivered waits for the
 * "late" timer; kin_worker_free before the loop runs frees it unfired,
 * although kin.h says monitors that have not fired fire during the free. */
TEST(review_late_monitor_fires_when_its_worker_is_freed)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	down_log first = {0}, late = {0};
	ASSERT_OK(kin_worker_monitor(w, on_down, &first, NULL));
	ASSERT_OK(kill(kin_worker_pid(w), SIGKILL));
	RUN_UNTIL(loop, &first.count, 1);
	ASSERT_OK(kin_worker_monitor(w, on_down, &late, NULL));
	ASSERT_EQ(late.count, 0);
	kin_worker_free(w);
	ASSERT_EQ(first.count, 1);
	if (late.count != 1)
		test_fail(__FILE__, __LINE__, "a monitor that had not fired was freed unfired");
	ASSERT_EQ(late.reason.kind, KIN_REASON_SIGNAL);
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(late.count, 1);
	test_loop_finish(loop, fds);
}

/* monitor.c listen_for_exit: the proc's exit callback, which keeps
 * kin_loop_run going, stays set after the last monitor or link is gone
 * ("It is set only while someone listens" says otherwise). A loop with
 * nothing left to wait for then runs to its deadline (-ETIMEDOUT) instead
 * of returning, as kin.h promises. */
TEST(review_freed_monitor_and_link_let_the_loop_return)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	ASSERT_EQ(kin_loop_run(loop, kin_after(5 * KIN_SEC)), 0); /* nothing to wait for */
	kin_monitor *m;
	ASSERT_OK(kin_worker_monitor(a, on_down, NULL, &m));
	kin_monitor_free(m);
	int r = kin_loop_run(loop, kin_after(2 * KIN_SEC));
	if (r < 0)
		test_fail(__FILE__, __LINE__,
			  "after its only monitor was freed, kin_loop_run gave %d (%s), want 0", r,
			  kin_strerror(r));
	ASSERT_OK(kin_worker_link(a, b));
	ASSERT_OK(kin_worker_unlink(a, b));
	r = kin_loop_run(loop, kin_after(2 * KIN_SEC));
	if (r < 0)
		test_fail(__FILE__, __LINE__, "after unlinking, kin_loop_run gave %d (%s), want 0",
			  r, kin_strerror(r));
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

/* monitor.c kin_worker_link: "Linking an ended worker acts at once" only
 * works while that end has not been delivered yet; once a monitor has
 * seen the DOWN, kin__worker_deliver_down is a no-op, the link stays, and
 * the live worker is never killed. */
TEST(review_link_to_a_worker_whose_down_was_seen_acts)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	down_log da = {0}, db = {0};
	ASSERT_OK(kin_worker_monitor(a, on_down, &da, NULL));
	ASSERT_OK(kill(kin_worker_pid(a), SIGKILL));
	RUN_UNTIL(loop, &da.count, 1);
	ASSERT_EQ(da.reason.kind, KIN_REASON_SIGNAL);
	ASSERT_OK(kin_worker_monitor(b, on_down, &db, NULL));
	ASSERT_OK(kin_worker_link(a, b));
	kin_time end = kin_after(10 * KIN_SEC);
	while (db.count == 0 && kin_now() < end)
		(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
	if (db.count != 1)
		test_fail(__FILE__, __LINE__,
			  "b was linked to a, which had died of signal 9, and still runs");
	ASSERT_EQ(db.reason.kind, KIN_REASON_KILLED);
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- detach */

/* The owner of the detach tests. Fd 5 (from the test) releases the held
 * calls when closed; fd 6 is where each surviving worker writes "alive"
 * once released, i.e. after this owner has died. Prints each pid.
 *   busy:    a worker of one thread, busy in a call when it is detached,
 *            so the DETACH waits in its chan while the owner leaves.
 *   threads: a worker of two threads whose DETACH is surely handled by
 *            the thread that is not its main one: the main thread is held
 *            first ("on_main" tells where the free one is), and the
 *            DETACH is confirmed before the owner leaves. */
HELPER(review_detacher)
{
	bool busy = argc > 1 && strcmp(argv[1], "busy") == 0;
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 3;
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.stdio[1].kind = KIN_STDIO_NULL;
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &s;
	o.threads = busy ? 1 : 2;
	int ack[2];
	if (pipe2(ack, O_CLOEXEC) < 0)
		return 4;
	kin_worker *w = NULL;
	kin_pending *holds[2];
	unsigned nholds = 0;
	int r;
	for (int attempt = 0; attempt < 50 && !w; attempt++) {
		kin_spawn_error why;
		if (kin_worker_spawn(loop, &o, &w, &why) < 0) {
			fprintf(stderr, "review_detacher: %s\n", why.message);
			return 5;
		}
		nholds = 0;
		/* Busy until fd 5 closes. */
		for (unsigned k = 0; k < (busy ? 1u : 2u); k++) {
			int give[2] = {fcntl(ack[1], F_DUPFD_CLOEXEC, 3),
				       fcntl(5, F_DUPFD_CLOEXEC, 3)};
			kin_msg m = {.fds = give, .nfds = 2};
			int32_t pid;
			if (give[0] < 0 || give[1] < 0 ||
			    kin_call_start(w, "hold", &m, KIN_FOREVER, &holds[nholds++]) < 0 ||
			    read(ack[0], &pid, sizeof(pid)) != sizeof(pid))
				return 8;
			if (busy || k == 1)
				break;
			/* One thread held: is the free one the main thread? */
			kin_reply rep;
			int64_t main_free = -1;
			if (kin_call(w, "on_main", NULL, kin_after(TEST_LONG_WAIT), &rep) < 0 ||
			    kin_mp_unpack(rep.data, rep.len, "i", &main_free) < 0)
				return 7;
			kin_reply_release(&rep);
			if (main_free) { /* the hold took the other one: try again */
				kin_pending_cancel(holds[0]);
				kin_worker_free(w);
				w = NULL;
				break;
			}
			/* The main thread is held: the free one takes the DETACH. */
			if ((r = kin_worker_detach(w)) < 0)
				return 6;
			if (kin_call(w, "on_main", NULL, kin_after(TEST_LONG_WAIT), &rep) < 0 ||
			    kin_mp_unpack(rep.data, rep.len, "i", &main_free) < 0 || main_free)
				return 7;
			kin_reply_release(&rep);
		}
	}
	if (!w)
		return 11;
	/* Refusing to detach a busy worker would be honest too. */
	if (busy && (r = kin_worker_detach(w)) < 0) {
		fprintf(stderr, "review_detacher: detach: %s\n", kin_strerror(r));
		for (unsigned k = 0; k < nholds; k++)
			kin_pending_cancel(holds[k]);
		kin_worker_free(w);
		kin_loop_free(loop);
		return 10;
	}
	/* Queued behind the holds: runs only once they are released. */
	int out[1] = {fcntl(6, F_DUPFD_CLOEXEC, 3)};
	kin_msg alive = {.data = "alive", .len = 5, .fds = out, .nfds = 1};
	if (out[0] < 0 || kin_cast(w, "write_fd", &alive, kin_after(TEST_LONG_WAIT)) < 0)
		return 9;
	printf("%d\n", (int)kin_worker_pid(w));
	fflush(stdout);
	for (unsigned k = 0; k < nholds; k++)
		kin_pending_cancel(holds[k]);
	kin_worker_free(w);
	kin_loop_free(loop);
	return 0;
}

static void detach_then_owner_dies(const char *mode, int nworkers)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	int rel[2], alive[2];
	ASSERT_OK(pipe2(rel, O_CLOEXEC));
	ASSERT_OK(pipe2(alive, O_CLOEXEC));
	const char *argv[8];
	test_helper_argv(argv, 8, "review_detacher", mode, NULL);
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	s.stdio[1].kind = KIN_STDIO_PIPE;
	kin_fd_map map[2] = {{.parent_fd = rel[0], .child_fd = 5},
			     {.parent_fd = alive[1], .child_fd = 6}};
	s.fds = map;
	s.nfds = 2;
	kin_proc *owner = test_spawn(loop, &s);
	close(rel[0]);
	close(alive[1]);
	char out[256];
	test_read_all(kin_proc_stdout(owner), out, sizeof(out));
	kin_status st;
	ASSERT_OK(kin_proc_wait(owner, kin_after(TEST_LONG_WAIT), &st));
	kin_proc_free(owner);
	if (st.kind == KIN_EXITED && st.code == 10) {
		/* kin_worker_detach said no: nothing was promised. */
		close(rel[1]);
		close(alive[0]);
		test_loop_finish(loop, fds);
		return;
	}
	if (st.kind != KIN_EXITED || st.code != 0)
		test_fail(__FILE__, __LINE__, "the owner ended %d/%d/%d", (int)st.kind, st.code,
			  st.signal);
	pid_t pids[8];
	int n = 0;
	for (char *line = strtok(out, "\n"); line && n < 8; line = strtok(NULL, "\n"))
		pids[n++] = (pid_t)atoi(line);
	ASSERT_EQ(n, nworkers);
	/* The owner is gone. Let the workers go on: each that survived says so. */
	close(rel[1]);
	char buf[256];
	size_t got = 0;
	kin_time end = kin_after(TEST_LONG_WAIT);
	for (;;) {
		struct pollfd pf = {.fd = alive[0], .events = POLLIN};
		kin_time left = end - kin_now();
		if (left <= 0 || poll(&pf, 1, (int)(left / KIN_MSEC) + 1) != 1)
			break;
		ssize_t r = read(alive[0], buf + got, sizeof(buf) - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(alive[0]);
	for (int i = 0; i < n; i++)
		(void)kill(pids[i], SIGKILL); /* whatever still lingers */
	if (got != (size_t)nworkers * 5)
		test_fail(__FILE__, __LINE__,
			  "%zu of %d detached workers outlived their owner (mode %s)", got / 5,
			  nworkers, mode);
	test_loop_finish(loop, fds);
}

/* worker.c kin_worker_detach only queues a DETACH message and returns 0:
 * a worker busy with a call has not read it when the owner dies, so
 * PR_SET_PDEATHSIG still kills it, although kin_worker_detach said yes. */
TEST_TIMEOUT(review_detach_of_a_busy_worker_outlives_the_owner, 60)
{
	detach_then_owner_dies("busy", 1);
}

/* serve.c: PR_SET_PDEATHSIG is per thread. kin sets it on the thread that
 * execs (the worker's main thread; threads it starts begin with none), and
 * DETACH is handled by whichever serving thread read it, whose
 * prctl(PR_SET_PDEATHSIG, 0) leaves the main thread's in place. A worker
 * with threads > 1 then dies with its owner despite the detach, whenever
 * another thread than the main one read the DETACH. */
TEST_TIMEOUT(review_detach_of_a_threaded_worker_outlives_the_owner, 60)
{
	detach_then_owner_dies("threads", 1);
}

/* ---------------------------------------------------------------- zygotes */

/* The zygote that answers late (stopped, then continued) is covered in
 * test_zygote.c: zygote_stopped_times_out_then_recovers. */

/* ---------------------------------------------------------------- supervisors */

/* sup.c handle_down restarts every child in the strategy's range that is
 * not `removed`, temporary ones included. kin.h: temporary is "never"
 * restarted; OTP: not even when one_for_all / rest_for_one took it down. */
TEST(review_sup_never_restarts_a_temporary_sibling)
{
	const kin_strategy strategies[2] = {KIN_ONE_FOR_ALL, KIN_REST_FOR_ONE};
	for (int k = 0; k < 2; k++) {
		int fds;
		kin_loop *loop = test_loop_start(&fds);
		kin_child_spec specs[2] = {
			{.id = "perm", .restart = KIN_RESTART_PERMANENT},
			{.id = "temp", .restart = KIN_RESTART_TEMPORARY},
		};
		kin_sup_opts o = KIN_SUP_OPTS_INIT;
		o.strategy = strategies[k];
		o.max_restarts = 10;
		kin_sup *s;
		kin_spawn_error why;
		ASSERT_OK(kin_sup_start(loop, &o, specs, 2, &s, &why));
		pid_t perm = test_sup_pid(s, "perm"), temp = test_sup_pid(s, "temp");
		ASSERT(perm > 0 && temp > 0);
		ASSERT_OK(kill(perm, SIGKILL));
		run_until_restarted(loop, s, "perm", perm, __LINE__);
		RUN_ONCE_MORE(loop);
		if (kin_sup_worker(s, "temp") != NULL)
			test_fail(__FILE__, __LINE__,
				  "strategy %d restarted the temporary child (pid %d, was %d)",
				  (int)strategies[k], (int)test_sup_pid(s, "temp"), (int)temp);
		ASSERT(!test_pid_alive(temp));
		kin_sup_free(s);
		test_loop_finish(loop, fds);
	}
}

/* sup.c: history holds max_restarts + 1 entries, computed in unsigned
 * int. UINT_MAX ("never give up") wraps to 0: calloc(0) and then a
 * memmove of SIZE_MAX * 8 bytes at the first restart. */
TEST(review_sup_max_restarts_uint_max)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_child_spec spec = {.id = "a", .restart = KIN_RESTART_PERMANENT};
	kin_sup_opts o = KIN_SUP_OPTS_INIT;
	o.max_restarts = UINT_MAX;
	kin_sup *s;
	kin_spawn_error why;
	int r = kin_sup_start(loop, &o, &spec, 1, &s, &why);
	if (r == -EINVAL) { /* refusing it would be fine too */
		test_loop_finish(loop, fds);
		return;
	}
	ASSERT_OK(r);
	for (int i = 0; i < 3; i++) {
		pid_t a = test_sup_pid(s, "a");
		ASSERT_OK(kill(a, SIGKILL));
		run_until_restarted(loop, s, "a", a, __LINE__);
	}
	ASSERT_EQ(kin_sup_restarts(s), 3);
	ASSERT(kin_sup_failure(s) == NULL);
	kin_sup_free(s);
	test_loop_finish(loop, fds);
}

/* sup.c on the backoff: start_at = now + backoff, with the backoff up to
 * backoff_max_ns. A delay of KIN_FOREVER ("never by itself") overflows
 * (UB; UBSan stops it) and wraps to the past: the child restarts at once. */
TEST(review_sup_backoff_forever_does_not_wrap)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_child_spec spec = {.id = "a", .restart = KIN_RESTART_PERMANENT};
	kin_sup_opts o = KIN_SUP_OPTS_INIT;
	o.backoff_ns = KIN_FOREVER;
	o.backoff_max_ns = KIN_FOREVER;
	kin_sup *s;
	kin_spawn_error why;
	ASSERT_OK(kin_sup_start(loop, &o, &spec, 1, &s, &why));
	pid_t a = test_sup_pid(s, "a");
	ASSERT_OK(kill(a, SIGKILL));
	/* Until the restart is decided (and long after). */
	kin_time end = kin_after(10 * KIN_SEC);
	while (kin_sup_restarts(s) == 0 && kin_now() < end)
		(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
	ASSERT_EQ(kin_sup_restarts(s), 1);
	for (int i = 0; i < 10; i++)
		(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
	if (kin_sup_worker(s, "a") != NULL)
		test_fail(__FILE__, __LINE__, "restarted at once despite a backoff of KIN_FOREVER");
	kin_sup_free(s);
	test_loop_finish(loop, fds);
}

static void free_on_give_up(kin_sup *s, const char *why, void *userdata)
{
	(void)why;
	int *gave_up = userdata;
	(*gave_up)++;
	kin_sup_free(s);
}

/* sup.c on_timer: give_up calls on_give_up, and afterwards on_timer reads
 * s->failed again. A callback that frees the supervisor that just gave up
 * (kin.h does not forbid it; nothing else is left to do with it) makes
 * that a heap-use-after-free (seen under SAN=1). */
TEST(review_sup_may_be_freed_from_on_give_up)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_child_spec spec = {.id = "a", .restart = KIN_RESTART_PERMANENT};
	int gave_up = 0;
	kin_sup_opts o = KIN_SUP_OPTS_INIT;
	o.max_restarts = 1;
	o.period_ns = 60 * KIN_SEC;
	o.on_give_up = free_on_give_up;
	o.userdata = &gave_up;
	kin_sup *s;
	kin_spawn_error why;
	ASSERT_OK(kin_sup_start(loop, &o, &spec, 1, &s, &why));
	pid_t a = test_sup_pid(s, "a");
	ASSERT_OK(kill(a, SIGKILL));
	a = run_until_restarted(loop, s, "a", a, __LINE__);
	ASSERT_OK(kill(a, SIGKILL)); /* the second restart passes the limit */
	RUN_UNTIL(loop, &gave_up, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(gave_up, 1);
	test_loop_finish(loop, fds);
}
