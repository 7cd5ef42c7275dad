/* Supervisors and pools. */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs the loop until every child has a worker again whose pid differs
 * from before[] where changed[] says so, or 20 s pass. */
static bool run_until_restarted(kin_loop *loop, kin_sup *s, const char *const *ids, size_t n,
				const pid_t *before, const bool *changed)
{
	kin_time end = kin_after(20 * KIN_SEC);
	while (kin_now() < end) {
		bool ok = true;
		for (size_t i = 0; i < n; i++) {
			pid_t p = test_sup_pid(s, ids[i]);
			ok &= p > 0 && (changed[i] ? p != before[i] : p == before[i]);
		}
		if (ok)
			return true;
		(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
	}
	return false;
}

static const char *const ids[3] = {"a", "b", "c"};

static kin_sup *start_three(kin_loop *loop, kin_strategy strategy, kin_restart restart)
{
	kin_child_spec specs[3];
	for (int i = 0; i < 3; i++)
		specs[i] = (kin_child_spec){.id = ids[i], .restart = restart};
	kin_sup_opts o = KIN_SUP_OPTS_INIT;
	o.strategy = strategy;
	o.max_restarts = 10;
	kin_sup *s = NULL;
	kin_spawn_error why;
	if (kin_sup_start(loop, &o, specs, 3, &s, &why) < 0)
		test_fail(__FILE__, __LINE__, "kin_sup_start: %s", why.message);
	return s;
}

static void check_strategy(kin_strategy strategy, const bool changed[3])
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_sup *s = start_three(loop, strategy, KIN_RESTART_PERMANENT);
	pid_t before[3];
	for (int i = 0; i < 3; i++)
		ASSERT((before[i] = test_sup_pid(s, ids[i])) > 0);
	ASSERT_OK(kill(before[1], SIGKILL));
	ASSERT(run_until_restarted(loop, s, ids, 3, before, changed));
	ASSERT_EQ(kin_sup_restarts(s), 1);
	ASSERT(kin_sup_failure(s) == NULL);
	/* The new ones answer. */
	kin_reply rep;
	for (int i = 0; i < 3; i++) {
		ASSERT_OK(kin_call(kin_sup_worker(s, ids[i]), "echo", NULL, kin_after(10 * KIN_SEC), &rep));
		kin_reply_release(&rep);
	}
	kin_sup_free(s);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(sup_one_for_one_restarts_only_the_dead)
{
	static const bool changed[3] = {false, true, false};
	check_strategy(KIN_ONE_FOR_ONE, changed);
}

TEST(sup_one_for_all_restarts_everyone)
{
	static const bool changed[3] = {true, true, true};
	check_strategy(KIN_ONE_FOR_ALL, changed);
}

TEST(sup_rest_for_one_restarts_it_and_those_after)
{
	static const bool changed[3] = {false, true, true};
	check_strategy(KIN_REST_FOR_ONE, changed);
}

/* Ends child b with the given handler, then lets the loop act. */
static void end_child(kin_loop *loop, kin_sup *s, const char *how, int64_t code)
{
	kin_buf b = KIN_BUF_INIT;
	kin_msg m = test_int_args(&b, code);
	kin_reply rep;
	int r = kin_call(kin_sup_worker(s, "b"), how, &m, kin_after(10 * KIN_SEC), &rep);
	if (r != -ECONNRESET)
		test_fail(__FILE__, __LINE__, "%s: expected the worker to end, got %d", how, r);
	kin_reply_release(&rep);
	kin_buf_free(&b);
	for (int i = 0; i < 10; i++)
		(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
}

TEST(sup_restart_types)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	/* Temporary: never restarted, even after a crash. */
	kin_sup *s = start_three(loop, KIN_ONE_FOR_ONE, KIN_RESTART_TEMPORARY);
	end_child(loop, s, "quit", 3);
	ASSERT(kin_sup_worker(s, "b") == NULL);
	ASSERT_EQ(kin_sup_restarts(s), 0);
	kin_sup_free(s);

	/* Transient: not after a normal end... */
	s = start_three(loop, KIN_ONE_FOR_ONE, KIN_RESTART_TRANSIENT);
	end_child(loop, s, "quit", 0);
	ASSERT(kin_sup_worker(s, "b") == NULL);
	ASSERT_EQ(kin_sup_restarts(s), 0);
	kin_sup_free(s);

	/* ...but after an abnormal one. */
	s = start_three(loop, KIN_ONE_FOR_ONE, KIN_RESTART_TRANSIENT);
	pid_t before[3] = {test_sup_pid(s, "a"), test_sup_pid(s, "b"), test_sup_pid(s, "c")};
	end_child(loop, s, "quit", 3);
	static const bool changed[3] = {false, true, false};
	ASSERT(run_until_restarted(loop, s, ids, 3, before, changed));
	ASSERT_EQ(kin_sup_restarts(s), 1);
	kin_sup_free(s);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(sup_gives_up_past_the_restart_limit)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_child_spec specs[2] = {{.id = "steady"}, {.id = "flaky"}};
	test_gave_up g = {0};
	kin_sup_opts o = KIN_SUP_OPTS_INIT;
	o.max_restarts = 2;
	o.period_ns = 60 * KIN_SEC;
	o.on_give_up = test_on_give_up;
	o.userdata = &g;
	kin_sup *s;
	kin_spawn_error why;
	ASSERT_OK(kin_sup_start(loop, &o, specs, 2, &s, &why));
	for (int round = 0; round < 3; round++) {
		kin_time end = kin_after(20 * KIN_SEC);
		while (!kin_sup_worker(s, "flaky") && !g.calls && kin_now() < end)
			(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
		kin_worker *w = kin_sup_worker(s, "flaky");
		ASSERT(w != NULL);
		ASSERT_OK(kill(kin_worker_pid(w), SIGKILL));
		end = kin_after(20 * KIN_SEC);
		while (kin_sup_worker(s, "flaky") == w && kin_now() < end)
			(void)kin_loop_run(loop, kin_after(50 * KIN_MSEC));
	}
	ASSERT_EQ(g.calls, 1);
	ASSERT(strstr(g.why, "flaky") && strstr(g.why, "signal(9)") && strstr(g.why, "gave up"));
	ASSERT(kin_sup_failure(s) != NULL);
	ASSERT_EQ(kin_sup_restarts(s), 2);
	/* Every child was stopped, the steady one too. */
	ASSERT(kin_sup_worker(s, "steady") == NULL);
	ASSERT_NO_CHILDREN();
	kin_sup_free(s);
	kin_loop_free(loop);
}

TEST(sup_backoff_delays_the_restart)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_child_spec spec = {.id = "b"};
	kin_sup_opts o = KIN_SUP_OPTS_INIT;
	o.backoff_ns = 500 * KIN_MSEC;
	kin_sup *s;
	kin_spawn_error why;
	ASSERT_OK(kin_sup_start(loop, &o, &spec, 1, &s, &why));
	pid_t before = test_sup_pid(s, "b");
	ASSERT_OK(kill(before, SIGKILL));
	kin_time killed = kin_now();
	kin_time end = kin_after(20 * KIN_SEC);
	while (test_sup_pid(s, "b") <= 0 || test_sup_pid(s, "b") == before) {
		ASSERT(kin_now() < end);
		(void)kin_loop_run(loop, kin_after(20 * KIN_MSEC));
	}
	/* A lower bound only: the restart waited at least the backoff. */
	ASSERT(kin_now() - killed >= 500 * KIN_MSEC);
	kin_sup_free(s);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(sup_start_failure_stops_the_started)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *missing[] = {"/nonexistent/worker", NULL};
	kin_spawn_opts bad = KIN_SPAWN_OPTS_INIT;
	bad.argv = missing;
	kin_child_spec specs[2] = {{.id = "good"}, {.id = "bad", .worker = {.spawn = &bad}}};
	kin_sup *s;
	kin_spawn_error why;
	ASSERT_EQ(kin_sup_start(loop, NULL, specs, 2, &s, &why), -ENOENT);
	ASSERT(why.message[0]);
	kin_child_spec twins[2] = {{.id = "x"}, {.id = "x"}};
	ASSERT_EQ(kin_sup_start(loop, NULL, twins, 2, &s, &why), -EINVAL);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* ---- pools */

struct holder {
	kin_pool *pool;
	int ack[2], release[2];
	pthread_t thread;
	int result;
};

static void *hold_in_pool(void *arg)
{
	struct holder *h = arg;
	int fds[2] = {h->ack[1], h->release[0]};
	kin_msg args = {.fds = fds, .nfds = 2};
	kin_reply rep;
	h->result = kin_pool_call(h->pool, "hold", &args, kin_after(30 * KIN_SEC), &rep);
	kin_reply_release(&rep);
	return NULL;
}

/* Starts a call that stays open in some worker; returns that worker's pid. */
static pid_t hold_one(kin_pool *p, struct holder *h)
{
	h->pool = p;
	if (pipe2(h->ack, O_CLOEXEC) < 0 || pipe2(h->release, O_CLOEXEC) < 0 ||
	    pthread_create(&h->thread, NULL, hold_in_pool, h) != 0)
		test_fail(__FILE__, __LINE__, "pipe or thread");
	int32_t pid = -1;
	if (read(h->ack[0], &pid, sizeof(pid)) != sizeof(pid))
		test_fail(__FILE__, __LINE__, "the held call never started");
	return pid;
}

static void release_one(struct holder *h)
{
	close(h->release[1]); /* EOF lets the handler return */
	pthread_join(h->thread, NULL);
	if (h->result != 0)
		test_fail(__FILE__, __LINE__, "held call: %d", h->result);
	close(h->ack[0]);
	close(h->release[0]);
}

/* With n - 1 calls held open, the next call must go to the one worker
 * that has none: n distinct pids. */
static void check_spread(kin_pool *p, int n)
{
	struct holder h[8];
	pid_t pids[8];
	for (int i = 0; i < n - 1; i++)
		pids[i] = hold_one(p, &h[i]);
	pids[n - 1] = (pid_t)test_pool_pid(p, NULL);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			if (pids[i] <= 0 || pids[i] == pids[j])
				test_fail(__FILE__, __LINE__, "calls %d and %d went to pid %d", j, i,
					  (int)pids[i]);
	for (int i = 0; i < n - 1; i++)
		release_one(&h[i]);
}

TEST(pool_spreads_calls_to_the_least_busy)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_pool *p;
	kin_spawn_error why;
	ASSERT_OK(kin_pool_new(loop, NULL, 3, &p, &why));
	ASSERT_EQ(kin_pool_size(p), 3);
	check_spread(p, 3);
	kin_pool_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Dead for good: every thread gone, waiting to be reaped (or reaped).
 * A 'Z' in /proc is not enough: the leader shows it while its other
 * threads are still on their way out. */
static bool pid_reaped_or_zombie(void *arg)
{
	siginfo_t si = {.si_pid = 0};
	if (waitid(P_PID, (id_t) * (pid_t *)arg, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return true; /* reaped already */
	return si.si_pid != 0;
}

TEST(pool_replaces_dead_workers)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_pool *p;
	kin_spawn_error why;
	ASSERT_OK(kin_pool_new(loop, NULL, 2, &p, &why));
	kin_reply rep;
	ASSERT_EQ(kin_pool_call(p, "crash", NULL, kin_after(10 * KIN_SEC), &rep), -ECONNRESET);
	ASSERT_EQ(rep.reason.kind, KIN_REASON_SIGNAL);
	kin_reply_release(&rep);
	/* Without the loop: the next call finds it dead and replaces it. */
	check_spread(p, 2);
	ASSERT_EQ(kin_pool_replaced(p), 1);

	/* Killed from outside: found dead and replaced the same way. */
	pid_t victim = (pid_t)test_pool_pid(p, NULL);
	ASSERT_OK(kill(victim, SIGKILL));
	ASSERT(test_wait_until(pid_reaped_or_zombie, &victim, 10000));
	check_spread(p, 2);
	ASSERT_EQ(kin_pool_replaced(p), 2);
	/* A resize also frees the dead (the loop's next pass would too). */
	ASSERT_OK(kin_pool_resize(p, 2, &why));
	kin_pool_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

TEST(pool_grows_and_shrinks)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_pool *p;
	kin_spawn_error why;
	ASSERT_OK(kin_pool_new(loop, NULL, 1, &p, &why));
	ASSERT_OK(kin_pool_resize(p, 4, &why));
	ASSERT_EQ(kin_pool_size(p), 4);
	check_spread(p, 4);
	ASSERT_OK(kin_pool_resize(p, 2, &why));
	ASSERT_EQ(kin_pool_size(p), 2);
	check_spread(p, 2);
	ASSERT_EQ(kin_pool_resize(p, 0, &why), -EINVAL);
	kin_pool_free(p);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}
