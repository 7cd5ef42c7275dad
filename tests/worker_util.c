/* Helpers for the worker, supervisor and pool suites: starting a worker of
 * this binary, building arguments, and running the loop until a monitor
 * or callback has counted enough events. */
#include "harness.h"

#include <sys/resource.h>

/* Some tests crash or abort their workers on purpose; a core file of each
 * would only fill the disk. */
static const kin_rlimit nocore = {.resource = RLIMIT_CORE, .limit = {0, 0}};

kin_worker *test_spawn_worker_opts(kin_loop *loop, const kin_worker_opts *o, const char *file,
				   int line)
{
	kin_worker *w = NULL;
	kin_spawn_error why;
	int r = kin_worker_spawn(loop, o, &w, &why);
	if (r < 0)
		test_fail(file, line, "kin_worker_spawn: %s (%s)", why.message, kin_strerror(r));
	return w;
}

kin_worker *test_spawn_worker(kin_loop *loop, unsigned threads, unsigned flags, const char *file,
			      int line)
{
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.flags = flags;
	s.rlimits = &nocore;
	s.nrlimits = 1;
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &s;
	o.threads = threads;
	return test_spawn_worker_opts(loop, &o, file, line);
}

kin_msg test_int_args(kin_buf *b, int64_t v)
{
	b->len = 0;
	/* Only running out of memory fails here: no caller's line to name. */
	if (kin_mp_pack(b, "i", v) < 0)
		test_fail(__FILE__, __LINE__, "kin_mp_pack failed");
	return (kin_msg){.data = b->data, .len = b->len};
}

int64_t test_call_pid(kin_worker *w)
{
	kin_reply rep;
	int64_t pid = -1;
	if (kin_call(w, "pid", NULL, kin_after(TEST_LONG_WAIT), &rep) == 0)
		(void)kin_mp_unpack(rep.data, rep.len, "i", &pid);
	kin_reply_release(&rep);
	return pid;
}

pid_t test_sup_pid(kin_sup *s, const char *id)
{
	kin_worker *w = kin_sup_worker(s, id);
	return w ? kin_worker_pid(w) : -1;
}

int64_t test_pool_pid(kin_pool *p, int *result)
{
	kin_reply rep;
	int64_t pid = -1;
	int r = kin_pool_call(p, "pid", NULL, kin_after(TEST_LONG_WAIT), &rep);
	if (r == 0)
		(void)kin_mp_unpack(rep.data, rep.len, "i", &pid);
	kin_reply_release(&rep);
	if (result)
		*result = r;
	return pid;
}

void test_on_give_up(kin_sup *s, const char *why, void *userdata)
{
	(void)s;
	test_gave_up *g = userdata;
	g->calls++;
	snprintf(g->why, sizeof(g->why), "%s", why);
}

static void *loop_thread_main(void *arg)
{
	test_loop_thread *t = arg;
	while (!atomic_load(&t->stop))
		(void)kin_loop_run(t->loop, kin_after(10 * KIN_MSEC));
	return NULL;
}

void test_loop_thread_start(test_loop_thread *t, kin_loop *loop)
{
	t->loop = loop;
	atomic_init(&t->stop, false);
	if (pthread_create(&t->thread, NULL, loop_thread_main, t) != 0)
		test_fail(__FILE__, __LINE__, "pthread_create failed");
}

void test_loop_thread_stop(test_loop_thread *t)
{
	atomic_store(&t->stop, true);
	pthread_join(t->thread, NULL);
}

void test_run_until(kin_loop *loop, const int *count, int want, const char *file, int line)
{
	kin_time end = kin_after(10 * KIN_SEC);
	while (*count < want) {
		if (kin_now() >= end)
			test_fail(file, line, "the loop ran 10 s and %d of %d events came", *count,
				  want);
		/* Short passes: the callback that counts need not stop the loop. */
		int r = kin_loop_run(loop, kin_after(50 * KIN_MSEC));
		if (r < 0 && r != -ETIMEDOUT)
			test_fail(file, line, "kin_loop_run: %s", kin_strerror(r));
	}
}

void test_run_once_more(kin_loop *loop, const char *file, int line)
{
	int r = kin_loop_run(loop, kin_after(50 * KIN_MSEC));
	if (r < 0 && r != -ETIMEDOUT)
		test_fail(file, line, "kin_loop_run: %s", kin_strerror(r));
}

void test_workers_talk(kin_worker *a, kin_worker *b, const char *file, int line)
{
	kin_chan *ca, *cb;
	kin_reply rep;
	if (kin_chan_pair(&ca, &cb) < 0)
		test_fail(file, line, "kin_chan_pair failed");
	kin_chan *give[1] = {ca};
	kin_msg m = {.chans = give, .nchans = 1};
	if (kin_call(a, "keep_chan", &m, kin_after(10 * KIN_SEC), &rep) < 0)
		test_fail(file, line, "the first worker did not take its chan end");
	kin_reply_release(&rep);
	give[0] = cb;
	if (kin_call(b, "keep_chan", &m, kin_after(10 * KIN_SEC), &rep) < 0)
		test_fail(file, line, "the second worker did not take its chan end");
	kin_reply_release(&rep);
	/* B waits for A's word and answers "pong"; A returns what it heard. */
	kin_msg pong = {.data = "pong", .len = 4}, ping = {.data = "ping", .len = 4};
	kin_pending *answer;
	if (kin_call_start(b, "peer_answer", &pong, kin_after(10 * KIN_SEC), &answer) < 0 ||
	    kin_call(a, "peer_ping", &ping, kin_after(10 * KIN_SEC), &rep) < 0)
		test_fail(file, line, "the ping between the workers failed");
	bool heard = rep.len == 4 && memcmp(rep.data, "pong", 4) == 0;
	kin_reply_release(&rep);
	if (!heard || kin_await(answer, kin_after(10 * KIN_SEC), &rep) < 0)
		test_fail(file, line, "the first worker did not hear \"pong\"");
	heard = rep.len == 4 && memcmp(rep.data, "ping", 4) == 0;
	kin_reply_release(&rep);
	if (!heard)
		test_fail(file, line, "the second worker did not hear \"ping\"");
}
