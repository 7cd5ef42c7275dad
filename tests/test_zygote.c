/* Zygotes and the spare worker each keeps forked ahead: spares are
 * started by spawns, replaced when they die unused, and buried with the
 * zygote; a zygote that stops answering or dies fails spawns cleanly. */
#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

typedef struct known {
	pid_t pids[4];
	size_t n;
	pid_t found;
} known;

/* A child of ours that is none of the known ones: the zygote's spare. */
static bool spare_found(void *arg)
{
	known *k = arg;
	pid_t kids[64];
	size_t n = test_children(kids, 64);
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < k->n; j++)
			seen |= kids[i] == k->pids[j];
		if (!seen && test_proc_state(kids[i]) != 'Z') {
			k->found = kids[i];
			return true;
		}
	}
	return false;
}

static pid_t wait_for_spare(kin_zygote *z, kin_worker *besides)
{
	known k = {.pids = {kin_zygote_pid(z), besides ? kin_worker_pid(besides) : 0}, .n = 2};
	return test_wait_until(spare_found, &k, 10000) ? k.found : -1;
}

TEST(zygote_keeps_a_spare_forked_and_buries_it_on_free)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_zygote *z;
	kin_spawn_error why;
	ASSERT_OK(kin_zygote_new(loop, NULL, &z, &why));
	pid_t spare = wait_for_spare(z, NULL);
	ASSERT(spare > 0);
	/* The spare is the worker the next spawn gets. */
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.zygote = z;
	kin_worker *w;
	ASSERT_OK(kin_worker_spawn(loop, &o, &w, &why));
	ASSERT_EQ(kin_worker_pid(w), spare);
	ASSERT_EQ(test_call_pid(w), spare);
	/* And the spawn asked for the next one. */
	pid_t next = wait_for_spare(z, w);
	ASSERT(next > 0 && next != spare);
	kin_zygote_free(z);
	ASSERT(!test_pid_exists(next));
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Freed at once, while the first spare is still being forked: the zygote
 * finishes it and the owner buries it. */
TEST(zygote_freed_at_once_leaves_no_spare)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	for (int i = 0; i < 20; i++) {
		kin_zygote *z;
		kin_spawn_error why;
		ASSERT_OK(kin_zygote_new(loop, NULL, &z, &why));
		kin_zygote_free(z);
		ASSERT_NO_CHILDREN();
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(zygote_replaces_a_spare_that_died_unused)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_zygote *z;
	kin_spawn_error why;
	ASSERT_OK(kin_zygote_new(loop, NULL, &z, &why));
	pid_t spare = wait_for_spare(z, NULL);
	ASSERT(spare > 0);
	ASSERT_OK(kill(spare, SIGKILL));
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.zygote = z;
	kin_worker *w;
	ASSERT_OK(kin_worker_spawn(loop, &o, &w, &why));
	ASSERT(kin_worker_pid(w) != spare);
	ASSERT_EQ(test_call_pid(w), kin_worker_pid(w));
	/* The dead spare was reaped, not left a zombie. */
	ASSERT(!test_pid_exists(spare));
	kin_worker_free(w);
	kin_zygote_free(z);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* A stopped zygote: spawns time out once its spare is used up, by the
 * caller's deadline; once it runs again, spawns work and every worker is
 * who it says it is (a late announcement is not mistaken for another). */
TEST_TIMEOUT(zygote_stopped_times_out_then_recovers, 60)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_zygote *z;
	kin_spawn_error why;
	ASSERT_OK(kin_zygote_new(loop, NULL, &z, &why));
	ASSERT(wait_for_spare(z, NULL) > 0);
	ASSERT_OK(kill(kin_zygote_pid(z), SIGSTOP));
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.zygote = z;
	o.handshake_timeout_ns = KIN_SEC / 2;
	kin_worker *w[3] = {NULL};
	int r = 0;
	size_t got = 0;
	/* The spare in hand still starts; then there is none to start. */
	while (got < 3 && (r = kin_worker_spawn(loop, &o, &w[got], &why)) == 0)
		got++;
	ASSERT_EQ(got, 1);
	ASSERT_EQ(r, -ETIMEDOUT);
	ASSERT_EQ(why.error, -ETIMEDOUT);
	ASSERT_OK(kill(kin_zygote_pid(z), SIGCONT));
	o.handshake_timeout_ns = 0;
	for (; got < 3; got++) {
		ASSERT_OK(kin_worker_spawn(loop, &o, &w[got], &why));
		ASSERT_EQ(test_call_pid(w[got]), kin_worker_pid(w[got]));
	}
	for (size_t i = 0; i < got; i++)
		kin_worker_free(w[i]);
	kin_zygote_free(z);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* A dead zygote: its spare in hand still starts (it does not need the
 * zygote), then spawns fail with -ECHILD and say so. */
TEST(zygote_dead_fails_spawns_with_echild)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_zygote *z;
	kin_spawn_error why;
	ASSERT_OK(kin_zygote_new(loop, NULL, &z, &why));
	ASSERT(wait_for_spare(z, NULL) > 0);
	ASSERT_OK(kill(kin_zygote_pid(z), SIGKILL));
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.zygote = z;
	kin_worker *w = NULL;
	ASSERT_OK(kin_worker_spawn(loop, &o, &w, &why));
	ASSERT_EQ(test_call_pid(w), kin_worker_pid(w));
	kin_worker *none = NULL;
	ASSERT_EQ(kin_worker_spawn(loop, &o, &none, &why), -ECHILD);
	ASSERT(none == NULL);
	ASSERT_EQ(why.step, KIN_STEP_CLONE);
	ASSERT(strstr(why.message, "zygote") != NULL);
	kin_worker_free(w);
	kin_zygote_free(z);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}
