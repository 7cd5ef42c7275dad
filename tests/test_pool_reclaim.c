/* Pools free the workers they replaced as soon as the loop runs, so a
 * long-lived pool whose workers keep dying holds a steady number of fds
 * (and of structs) instead of one more pidfd and chan per death. */
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>

#define DEATHS 30

/* The pool's one worker exits mid-call; the next call finds it dead and
 * replaces it, which sets the dead one aside for the loop to free. */
static void kill_by_quit(kin_pool *p, int n)
{
	kin_buf b = KIN_BUF_INIT;
	kin_msg args = test_int_args(&b, 0);
	kin_reply rep;
	int r = kin_pool_call(p, "quit", &args, kin_after(TEST_LONG_WAIT), &rep);
	kin_reply_release(&rep);
	kin_buf_free(&b);
	if (r != -ECONNRESET)
		test_fail(__FILE__, __LINE__, "death %d: quit gave %s", n, kin_strerror(r));
	if (test_pool_pid(p, NULL) <= 0)
		test_fail(__FILE__, __LINE__, "death %d: no replacement answered", n);
}

/* Short passes of the loop until the fd count is back to `want`; the
 * deadline is only there so the old behaviour fails with a message. */
static void run_until_fds(kin_loop *loop, int want, int n)
{
	kin_time end = kin_after(10 * KIN_SEC);
	while (test_count_fds() != want) {
		if (kin_now() >= end)
			test_fail(__FILE__, __LINE__,
				  "after %d deaths and 10 s of loop: %d fds open, %d before any", n,
				  test_count_fds(), want);
		int r = kin_loop_run(loop, kin_after(20 * KIN_MSEC));
		if (r < 0 && r != -ETIMEDOUT)
			test_fail(__FILE__, __LINE__, "kin_loop_run: %s", kin_strerror(r));
	}
}

/* Calls and the loop on one thread, as most programs have them. */
TEST_TIMEOUT(pool_reclaim_frees_the_dead_when_the_loop_runs, 120)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_pool *p;
	kin_spawn_error why;
	ASSERT_OK(kin_pool_new(loop, NULL, 1, &p, &why));
	ASSERT(test_pool_pid(p, NULL) > 0);
	/* One live worker and no dead ones: what every death returns to. */
	int steady = test_count_fds();
	for (int n = 1; n <= DEATHS; n++) {
		kill_by_quit(p, n);
		run_until_fds(loop, steady, n);
	}
	ASSERT_EQ(kin_pool_replaced(p), DEATHS);
	ASSERT_EQ(kin_pool_size(p), 1);
	ASSERT(test_pool_pid(p, NULL) > 0);
	kin_pool_free(p);
	test_loop_finish(loop, fds);
}

struct fd_goal {
	int want;
};

static bool fds_back(void *arg)
{
	return test_count_fds() == ((struct fd_goal *)arg)->want;
}

/* Dead for good: reaped, or a zombie with every thread gone. */
static bool reaped_or_zombie(void *arg)
{
	siginfo_t si = {.si_pid = 0};
	if (waitid(P_PID, (id_t) * (pid_t *)arg, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return true;
	return si.si_pid != 0;
}

/* The loop on a thread of its own, calls from another, workers killed
 * from outside: the set-aside list and the timer are shared between the
 * caller's replace and the loop's free. It also guards an earlier race,
 * when a caller freed the dead worker (loop-thread-only objects) while the
 * loop's thread could be inside its exit callback: run it under SAN=1. */
TEST_TIMEOUT(pool_reclaim_with_the_loop_on_another_thread, 120)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_pool *p;
	kin_spawn_error why;
	ASSERT_OK(kin_pool_new(loop, NULL, 1, &p, &why));
	test_loop_thread lt;
	test_loop_thread_start(&lt, loop);
	ASSERT(test_pool_pid(p, NULL) > 0);
	struct fd_goal goal = {test_count_fds()};
	unsigned failed = 0;
	for (int n = 1; n <= DEATHS; n++) {
		int64_t pid = test_pool_pid(p, NULL);
		if (pid <= 0) { /* it picked the dying one: that call fails, the next works */
			failed++;
			pid = test_pool_pid(p, NULL);
		}
		ASSERT(pid > 0);
		pid_t victim = (pid_t)pid;
		ASSERT_OK(kill(victim, SIGKILL));
		ASSERT(test_wait_until(reaped_or_zombie, &victim, 10000));
		ASSERT(test_pool_pid(p, NULL) > 0); /* replaces it */
		if (!test_wait_until(fds_back, &goal, 10000))
			test_fail(__FILE__, __LINE__, "after %d deaths: %d fds open, %d before any",
				  n, test_count_fds(), goal.want);
	}
	test_loop_thread_stop(&lt);
	/* Each death was found by a call that then went to its replacement;
	 * a call racing a death may have found one more. */
	ASSERT(kin_pool_replaced(p) >= DEATHS);
	(void)failed; /* how often a call raced a death: either is fine */
	kin_pool_free(p);
	test_loop_finish(loop, fds);
}

/* Set aside and never given a loop pass: kin_pool_free frees them, and
 * takes its armed timer along, so the loop has nothing left to run. */
TEST(pool_reclaim_free_before_the_loop_runs)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_pool *p;
	kin_spawn_error why;
	ASSERT_OK(kin_pool_new(loop, NULL, 2, &p, &why));
	for (int n = 1; n <= 3; n++)
		kill_by_quit(p, n);
	ASSERT_EQ(kin_pool_replaced(p), 3);
	kin_pool_free(p);
	/* An armed timer left behind would keep this pass going to its
	 * deadline; with nothing armed it returns at once with 0. */
	ASSERT_EQ(kin_loop_run(loop, kin_after(TEST_LONG_WAIT)), 0);
	test_loop_finish(loop, fds);
}

/* The timer stays disarmed while no worker dies: a pool alone does not
 * keep kin_loop_run going once the dead are freed. */
TEST(pool_reclaim_timer_does_not_hold_the_loop)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_pool *p;
	kin_spawn_error why;
	ASSERT_OK(kin_pool_new(loop, NULL, 1, &p, &why));
	kin_time before = kin_now();
	int r = kin_loop_run(loop, kin_after(TEST_LONG_WAIT));
	ASSERT(r >= 0);
	kill_by_quit(p, 1);
	r = kin_loop_run(loop, kin_after(TEST_LONG_WAIT));
	ASSERT(r >= 0); /* it fired (once) and let the loop go: no -ETIMEDOUT */
	ASSERT(kin_now() - before < TEST_LONG_WAIT);
	ASSERT_EQ(kin_pool_replaced(p), 1);
	kin_pool_free(p);
	test_loop_finish(loop, fds);
}
