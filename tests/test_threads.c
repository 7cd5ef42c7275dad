/* Threads: spawning, waiting and killing are thread-safe; many threads
 * sharing one loop leave no fd and no child behind. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#define THREADS 8
#define PER_THREAD 200

struct spawner {
	kin_loop *loop;
	int index;
	int ok;
	char error[400];
};

static void *spawn_many(void *arg)
{
	struct spawner *s = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		/* Some with pipes, whose output must be this child's own. */
		bool piped = i % 4 == 0;
		char script[64], want[64];
		snprintf(script, sizeof(script), "echo %d.%d; exit %d", s->index, i, i % 7);
		snprintf(want, sizeof(want), "%d.%d\n", s->index, i);
		const char *sh[] = {"sh", "-c", script, NULL};
		const char *tru[] = {"/bin/true", NULL};
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = piped ? sh : tru;
		o.stdio[0].kind = KIN_STDIO_NULL;
		o.stdio[1].kind = piped ? KIN_STDIO_PIPE : KIN_STDIO_NULL;
		kin_proc *p;
		kin_spawn_error why;
		int r = kin_proc_spawn(s->loop, &o, &p, &why);
		if (r < 0) {
			snprintf(s->error, sizeof(s->error), "spawn %d: %s", i, why.message);
			return NULL;
		}
		if (piped) {
			char buf[64];
			size_t len = 0;
			for (;;) {
				kin_stream *out = kin_proc_stdout(p);
				ssize_t n = kin_stream_read(out, buf + len, sizeof(buf) - 1 - len,
							    kin_after(20 * KIN_SEC));
				if (n <= 0)
					break;
				len += (size_t)n;
			}
			buf[len] = 0;
			if (strcmp(buf, want) != 0) {
				snprintf(s->error, sizeof(s->error), "child %d said \"%s\", want \"%s\"",
					 i, buf, want);
				kin_proc_free(p);
				return NULL;
			}
		}
		kin_status st;
		r = kin_proc_wait(p, kin_after(20 * KIN_SEC), &st);
		int want_code = piped ? i % 7 : 0;
		if (r < 0 || st.kind != KIN_EXITED || st.code != want_code) {
			snprintf(s->error, sizeof(s->error), "child %d: wait %d, kind %d, code %d", i, r,
				 st.kind, st.code);
			kin_proc_free(p);
			return NULL;
		}
		kin_proc_free(p);
		s->ok++;
	}
	return NULL;
}

TEST_TIMEOUT(threads_spawn_concurrently_on_one_loop, 60)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	pthread_t t[THREADS];
	static struct spawner s[THREADS];
	for (int i = 0; i < THREADS; i++) {
		s[i] = (struct spawner){.loop = loop, .index = i};
		ASSERT_EQ(pthread_create(&t[i], NULL, spawn_many, &s[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		if (s[i].error[0])
			test_fail(__FILE__, __LINE__, "thread %d: %s", i, s[i].error);
		ASSERT_EQ(s[i].ok, PER_THREAD);
	}
	/* Nothing is left registered on the loop. */
	ASSERT_EQ(kin_loop_run(loop, kin_after(10 * KIN_SEC)), 0);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

struct waiting {
	kin_proc *proc;
	int result;
	kin_status status;
	kin_time ended;
};

static void *wait_for(void *arg)
{
	struct waiting *w = arg;
	w->result = kin_proc_wait(w->proc, kin_after(30 * KIN_SEC), &w->status);
	w->ended = kin_now();
	return NULL;
}

TEST(threads_kill_while_others_wait)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	unsigned modes[] = {0, KIN_SPAWN_TREE};
	for (size_t m = 0; m < 2; m++) {
		const char *argv[] = {"sleep", "100", NULL};
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = argv;
		o.flags = modes[m];
		kin_proc *p;
		ASSERT_OK(kin_proc_spawn(loop, &o, &p, NULL));
		/* Several threads wait on the same child. */
		pthread_t t[4];
		struct waiting w[4];
		for (int i = 0; i < 4; i++) {
			w[i] = (struct waiting){.proc = p};
			ASSERT_EQ(pthread_create(&t[i], NULL, wait_for, &w[i]), 0);
		}
		/* Still running: every waiter is blocked. */
		kin_status st;
		ASSERT_EQ(kin_proc_wait(p, kin_after(100 * KIN_MSEC), &st), -ETIMEDOUT);
		ASSERT_OK(kin_proc_kill(p, SIGUSR1));
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			ASSERT_OK(w[i].result);
			ASSERT_EQ(w[i].status.kind, KIN_KILLED);
			ASSERT_EQ(w[i].status.signal, SIGUSR1);
		}
		kin_proc_free(p);
	}
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

struct terminator {
	kin_proc *proc;
	int result;
};

static void *terminate_it(void *arg)
{
	struct terminator *t = arg;
	t->result = kin_proc_terminate(t->proc, 200 * KIN_MSEC);
	return NULL;
}

TEST(threads_terminate_from_another_thread_escalates_in_wait)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; exec sleep 100", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p;
	ASSERT_OK(kin_proc_spawn(loop, &o, &p, NULL));
	char line[16];
	test_read_line(kin_proc_stdout(p), line, sizeof(line));
	/* This thread waits; another asks for termination. The SIGKILL comes
	 * from the waiting thread when the grace period ends (nobody runs the
	 * loop). */
	struct waiting w = {.proc = p};
	pthread_t waiter, term;
	ASSERT_EQ(pthread_create(&waiter, NULL, wait_for, &w), 0);
	struct terminator tt = {.proc = p};
	kin_time start = kin_now();
	ASSERT_EQ(pthread_create(&term, NULL, terminate_it, &tt), 0);
	pthread_join(term, NULL);
	ASSERT_OK(tt.result);
	pthread_join(waiter, NULL);
	ASSERT_OK(w.result);
	ASSERT_EQ(w.status.kind, KIN_KILLED);
	ASSERT_EQ(w.status.signal, SIGKILL);
	ASSERT(w.ended - start >= 200 * KIN_MSEC);
	kin_proc_free(p);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

struct spawn_job {
	kin_loop *loop;
	kin_proc *proc;
	int err;
};

static void *spawn_and_leave(void *arg)
{
	struct spawn_job *job = arg;
	static const char *const argv[] = {"sleep", "300", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	job->err = kin_proc_spawn(job->loop, &o, &job->proc, NULL);
	return NULL;
}

/* A linked child dies with its owner, but not with the thread that happened
 * to ask for it: PR_SET_PDEATHSIG is tied to the creating thread, so kin
 * creates every child on the loop's own spawner thread. */
TEST(threads_child_outlives_the_thread_that_spawned_it)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	struct spawn_job job = {.loop = loop};
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, spawn_and_leave, &job), 0);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_OK(job.err);
	/* A death signal would arrive at once; give it ample time to show. */
	kin_status st;
	ASSERT_EQ(kin_proc_wait(job.proc, kin_after(300 * KIN_MSEC), &st), -ETIMEDOUT);
	ASSERT(test_pid_alive(kin_proc_pid(job.proc)));
	kin_proc_free(job.proc); /* kills and reaps */
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}
