/* Worker lifetimes: the one exit reason each end gets, monitors and links,
 * handshakes that fail, owner death, detaching, and a binary replaced on
 * disk. Checked against the doc comments of include/kin.h. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static void check_reason(const kin_exit_reason *r, kin_reason_kind kind, int code, int sig,
			 const char *text, int line)
{
	char buf[64];
	int n = kin_exit_reason_format(r, buf, sizeof(buf));
	if (r->kind != kind || r->code != code || r->signal != sig)
		test_fail(__FILE__, line,
			  "reason is kind %d code %d signal %d (\"%s\"), want kind %d code %d "
			  "signal %d",
			  (int)r->kind, r->code, r->signal, buf, (int)kind, code, sig);
	if (strcmp(buf, text) != 0 || n != (int)strlen(text))
		test_fail(__FILE__, line, "reason formats as \"%s\" (%d), want \"%s\"", buf, n, text);
}
#define ASSERT_REASON(r, kind, code, sig, text) check_reason(r, kind, code, sig, text, __LINE__)

/* The process status inside a reason, where the test knows it. */
static void check_status(const kin_status *st, kin_exit_kind kind, int code, int sig, int line)
{
	if (st->kind != kind || (kind == KIN_EXITED && st->code != code) ||
	    (kind == KIN_KILLED && st->signal != sig))
		test_fail(__FILE__, line, "status kind %d code %d signal %d, want kind %d %d/%d",
			  (int)st->kind, st->code, st->signal, (int)kind, code, sig);
}
#define ASSERT_STATUS(st, kind, code, sig) check_status(st, kind, code, sig, __LINE__)

static void same_reason(const kin_exit_reason *a, const kin_exit_reason *b, int line)
{
	if (a->kind != b->kind || a->code != b->code || a->signal != b->signal)
		test_fail(__FILE__, line, "reasons differ: kind %d/%d code %d/%d signal %d/%d",
			  (int)a->kind, (int)b->kind, a->code, b->code, a->signal, b->signal);
}
#define ASSERT_SAME_REASON(a, b) same_reason(a, b, __LINE__)

/* What a monitor saw. */
typedef struct down_log {
	kin_loop *loop;
	kin_worker *worker;
	int count;
	bool wrong_worker;
	kin_exit_reason reason;
} down_log;

static void on_down(kin_worker *w, const kin_exit_reason *reason, void *userdata)
{
	down_log *d = userdata;
	d->count++;
	if (w != d->worker)
		d->wrong_worker = true;
	d->reason = *reason;
	if (d->loop)
		kin_loop_stop(d->loop);
}

static void expect_echo(kin_worker *w, int line)
{
	kin_msg args = {.data = "still here", .len = 10};
	kin_reply rep;
	int r = kin_call(w, "echo", &args, kin_after(TEST_LONG_WAIT), &rep);
	if (r < 0)
		test_fail(__FILE__, line, "echo failed: %s", kin_strerror(r));
	if (rep.len != 10 || memcmp(rep.data, "still here", 10) != 0)
		test_fail(__FILE__, line, "echo answered %zu bytes", rep.len);
	kin_reply_release(&rep);
}
#define EXPECT_ECHO(w) expect_echo(w, __LINE__)

/* Any thread of the process still running (a process whose main thread
 * called pthread_exit shows as a zombie leader with live threads). */
static bool any_task_alive(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return false;
	bool alive = false;
	struct dirent *e;
	while (!alive && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char stat_path[300], buf[512];
		snprintf(stat_path, sizeof(stat_path), "/proc/%d/task/%s/stat", (int)pid, e->d_name);
		int fd = open(stat_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X')
			alive = true;
	}
	closedir(d);
	return alive;
}

/* Gone for good: no such pid, or nothing but a zombie waiting for a reaper
 * that is not us (these pids are not our children). */
static bool pid_gone(pid_t pid)
{
	if (kill(pid, 0) == -1 && errno == ESRCH)
		return true;
	return !any_task_alive(pid);
}

static bool all_gone(void *arg)
{
	const pid_t *pids = arg;
	for (size_t i = 0; pids[i] > 0; i++)
		if (!pid_gone(pids[i]))
			return false;
	return true;
}

/* Appends pid's descendants (through every thread's children list) to
 * out[*n..cap). */
static void add_descendants(pid_t pid, pid_t *out, size_t *n, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char cpath[300];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		FILE *f = fopen(cpath, "re");
		if (!f)
			continue;
		int c;
		while (*n < cap && fscanf(f, "%d", &c) == 1) {
			out[(*n)++] = (pid_t)c;
			add_descendants((pid_t)c, out, n, cap);
		}
		fclose(f);
	}
	closedir(d);
}

/* ---------------------------------------------------------------- 1. exit reasons */

TEST(life_reason_exit_code_mid_call)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_buf b = KIN_BUF_INIT;
	kin_msg args = test_int_args(&b, 3);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "quit", &args, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	ASSERT_REASON(&rep.reason, KIN_REASON_EXIT, 3, 0, "exit(3)");
	ASSERT_STATUS(&rep.reason.status, KIN_EXITED, 3, 0);
	kin_reply_release(&rep);
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_EXIT, 3, 0, "exit(3)");
	/* Every later call fails the same way, with the same reason. */
	ASSERT_EQ(kin_call(w, "echo", NULL, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	ASSERT_REASON(&rep.reason, KIN_REASON_EXIT, 3, 0, "exit(3)");
	kin_reply_release(&rep);
	kin_buf_free(&b);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

TEST(life_reason_abort_is_signal_6)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "crash", NULL, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	ASSERT_REASON(&rep.reason, KIN_REASON_SIGNAL, 0, SIGABRT, "signal(6)");
	ASSERT_STATUS(&rep.reason.status, KIN_KILLED, 0, SIGABRT);
	kin_reply_release(&rep);
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_SIGNAL, 0, SIGABRT, "signal(6)");
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

TEST(life_reason_kin_kill_is_killed)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_exit_reason r;
	ASSERT_EQ(kin_worker_wait(w, 0, &r), -ETIMEDOUT); /* still running */
	ASSERT_OK(kin_worker_kill(w, SIGKILL));
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	ASSERT_STATUS(&r.status, KIN_KILLED, 0, SIGKILL);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "echo", NULL, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	ASSERT_REASON(&rep.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	kin_reply_release(&rep);
	/* The reason is learned once: asking again gives the same. */
	kin_exit_reason again;
	ASSERT_OK(kin_worker_wait(w, 0, &again));
	ASSERT_SAME_REASON(&r, &again);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

TEST(life_reason_outside_sigkill_is_signal_9)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	EXPECT_ECHO(w);
	ASSERT_OK(kill(kin_worker_pid(w), SIGKILL));
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");
	ASSERT_STATUS(&r.status, KIN_KILLED, 0, SIGKILL);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "echo", NULL, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	ASSERT_REASON(&rep.reason, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");
	kin_reply_release(&rep);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

TEST(life_reason_stop_idle_is_normal)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	EXPECT_ECHO(w);
	ASSERT_OK(kin_worker_stop(w, 5 * KIN_SEC));
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_NORMAL, 0, 0, "normal");
	ASSERT_STATUS(&r.status, KIN_EXITED, 0, 0);
	kin_reply rep;
	ASSERT_EQ(kin_call(w, "echo", NULL, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	ASSERT_REASON(&rep.reason, KIN_REASON_NORMAL, 0, 0, "normal");
	kin_reply_release(&rep);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

TEST(life_reason_stop_busy_is_killed)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_buf b = KIN_BUF_INIT;
	kin_msg args = test_int_args(&b, 60000);
	kin_pending *p;
	ASSERT_OK(kin_call_start(w, "nap", &args, kin_after(TEST_LONG_WAIT * 5), &p));
	/* The nap outlasts the grace, so stop's SIGKILL ends it. */
	ASSERT_OK(kin_worker_stop(w, 200 * KIN_MSEC));
	kin_reply rep;
	ASSERT_EQ(kin_await(p, kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
	ASSERT_REASON(&rep.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	kin_reply_release(&rep);
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	ASSERT_STATUS(&r.status, KIN_KILLED, 0, SIGKILL);
	kin_buf_free(&b);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- 2. many calls in flight */

TEST(life_sigkill_fails_every_outstanding_call)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 4);
	kin_buf b = KIN_BUF_INIT;
	kin_msg args = test_int_args(&b, 60000);
	kin_pending *calls[4];
	for (int i = 0; i < 4; i++)
		ASSERT_OK(
			kin_call_start(w, "nap", &args, kin_after(TEST_LONG_WAIT * 5), &calls[i]));
	ASSERT_OK(kill(kin_worker_pid(w), SIGKILL));
	/* Awaited out of order, on purpose. */
	const int order[4] = {2, 0, 3, 1};
	for (int i = 0; i < 4; i++) {
		kin_reply rep;
		ASSERT_EQ(kin_await(calls[order[i]], kin_after(TEST_LONG_WAIT), &rep), -ECONNRESET);
		ASSERT_REASON(&rep.reason, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");
		kin_reply_release(&rep);
	}
	kin_buf_free(&b);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- 3. monitors */

TEST(life_two_monitors_fire_once_each)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	down_log a = {.loop = loop, .worker = w}, b = {.loop = loop, .worker = w};
	kin_monitor *ma, *mb;
	ASSERT_OK(kin_worker_monitor(w, on_down, &a, &ma));
	ASSERT_OK(kin_worker_monitor(w, on_down, &b, &mb));
	EXPECT_ECHO(w);
	ASSERT_EQ(a.count + b.count, 0);
	ASSERT_OK(kin_worker_kill(w, SIGKILL));
	int total = 0;
	kin_time end = kin_after(10 * KIN_SEC);
	while ((total = a.count + b.count) < 2 && kin_now() < end) {
		int r = kin_loop_run(loop, end);
		ASSERT(r >= 0 || r == -ETIMEDOUT);
	}
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(a.count, 1);
	ASSERT_EQ(b.count, 1);
	ASSERT(!a.wrong_worker && !b.wrong_worker);
	ASSERT_REASON(&a.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	ASSERT_REASON(&b.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	/* The same reason a wait gives. */
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, 0, &r));
	ASSERT_SAME_REASON(&r, &a.reason);
	kin_monitor_free(ma);
	kin_monitor_free(mb);
	/* Freeing the worker does not fire anything again. */
	kin_worker_free(w);
	ASSERT_EQ(a.count, 1);
	ASSERT_EQ(b.count, 1);
	test_loop_finish(loop, fds);
}

TEST(life_monitor_of_dead_worker_fires_from_the_loop)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	ASSERT_OK(kill(kin_worker_pid(w), SIGKILL));
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");

	/* Nobody has listened before: the first monitor. */
	down_log a = {.loop = loop, .worker = w};
	kin_monitor *ma;
	ASSERT_OK(kin_worker_monitor(w, on_down, &a, &ma));
	ASSERT_EQ(a.count, 0); /* not from inside kin_worker_monitor */
	RUN_UNTIL(loop, &a.count, 1);
	ASSERT_REASON(&a.reason, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");

	/* After the down event was delivered: a second, later monitor. */
	down_log b = {.loop = loop, .worker = w};
	kin_monitor *mb;
	ASSERT_OK(kin_worker_monitor(w, on_down, &b, &mb));
	ASSERT_EQ(b.count, 0);
	RUN_UNTIL(loop, &b.count, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(a.count, 1);
	ASSERT_EQ(b.count, 1);
	ASSERT(!a.wrong_worker && !b.wrong_worker);
	ASSERT_REASON(&b.reason, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");
	kin_monitor_free(ma);
	kin_monitor_free(mb);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

TEST(life_freed_monitor_never_fires)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	down_log gone = {.loop = loop, .worker = w}, kept = {.loop = loop, .worker = w};
	kin_monitor *mg, *mk;
	ASSERT_OK(kin_worker_monitor(w, on_down, &gone, &mg));
	ASSERT_OK(kin_worker_monitor(w, on_down, &kept, &mk));
	kin_monitor_free(mg);
	ASSERT_OK(kin_worker_kill(w, SIGKILL));
	RUN_UNTIL(loop, &kept.count, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(gone.count, 0);
	ASSERT_EQ(kept.count, 1);
	kin_monitor_free(mk);
	kin_worker_free(w);
	ASSERT_EQ(gone.count, 0);
	test_loop_finish(loop, fds);
}

TEST(life_monitor_fires_during_worker_free)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	down_log d = {.worker = w};
	ASSERT_OK(kin_worker_monitor(w, on_down, &d, NULL));
	EXPECT_ECHO(w);
	/* A running worker: free kills it, and the monitor hears so, inside
	 * the free. The monitor is the worker's to free along with it. */
	kin_worker_free(w);
	ASSERT_EQ(d.count, 1);
	ASSERT(!d.wrong_worker);
	ASSERT_REASON(&d.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(d.count, 1);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- 4. links */

TEST(life_link_abnormal_end_kills_the_other)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	down_log da = {.loop = loop, .worker = a}, db = {.loop = loop, .worker = b};
	kin_monitor *ma, *mb;
	ASSERT_OK(kin_worker_monitor(a, on_down, &da, &ma));
	ASSERT_OK(kin_worker_monitor(b, on_down, &db, &mb));
	ASSERT_OK(kin_worker_link(a, b));
	ASSERT_OK(kill(kin_worker_pid(a), SIGKILL));
	int both = 0;
	kin_time end = kin_after(10 * KIN_SEC);
	while ((both = da.count + db.count) < 2 && kin_now() < end) {
		int r = kin_loop_run(loop, end);
		ASSERT(r >= 0 || r == -ETIMEDOUT);
	}
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(da.count, 1);
	ASSERT_EQ(db.count, 1);
	ASSERT_REASON(&da.reason, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");
	ASSERT_REASON(&db.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(b, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	kin_monitor_free(ma);
	kin_monitor_free(mb);
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

TEST(life_link_normal_end_spares_the_other)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	down_log da = {.loop = loop, .worker = a}, db = {.loop = loop, .worker = b};
	kin_monitor *ma, *mb;
	ASSERT_OK(kin_worker_monitor(a, on_down, &da, &ma));
	ASSERT_OK(kin_worker_monitor(b, on_down, &db, &mb));
	ASSERT_OK(kin_worker_link(a, b));
	ASSERT_OK(kin_worker_stop(a, 5 * KIN_SEC));
	RUN_UNTIL(loop, &da.count, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_REASON(&da.reason, KIN_REASON_NORMAL, 0, 0, "normal");
	ASSERT_EQ(db.count, 0);
	kin_status st;
	ASSERT_EQ(kin_proc_poll(kin_worker_proc(b), &st), 0);
	EXPECT_ECHO(b);
	/* Linking to the normally ended worker afterwards spares it too. */
	ASSERT_OK(kin_worker_link(a, b));
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(db.count, 0);
	EXPECT_ECHO(b);
	kin_monitor_free(ma);
	kin_monitor_free(mb);
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

TEST(life_link_needs_one_loop)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_loop *other;
	ASSERT_OK(kin_loop_new(&other));
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(other, 1);
	ASSERT_EQ(kin_worker_link(a, b), -EINVAL);
	ASSERT_OK(kin_worker_kill(a, SIGKILL));
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(a, kin_after(TEST_LONG_WAIT), &r));
	RUN_ONCE_MORE(loop);
	EXPECT_ECHO(b);
	kin_worker_free(a);
	kin_worker_free(b);
	kin_loop_free(other);
	test_loop_finish(loop, fds);
}

TEST(life_link_trapping_worker_gets_a_notice)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	ASSERT(kin_worker_has(b, "kin.exit"));
	down_log da = {.loop = loop, .worker = a}, db = {.loop = loop, .worker = b};
	kin_monitor *ma, *mb;
	ASSERT_OK(kin_worker_monitor(a, on_down, &da, &ma));
	ASSERT_OK(kin_worker_monitor(b, on_down, &db, &mb));
	ASSERT_OK(kin_worker_trap_exits(b, true));
	ASSERT_OK(kin_worker_link(a, b));
	ASSERT_OK(kin_worker_kill(a, SIGKILL));
	RUN_UNTIL(loop, &da.count, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_REASON(&da.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	ASSERT_EQ(db.count, 0);
	/* The notice was cast before this call, on the same chan. */
	kin_reply rep;
	ASSERT_OK(kin_call(b, "exits", NULL, kin_after(TEST_LONG_WAIT), &rep));
	int64_t seen = -1;
	const char *what = NULL;
	size_t len = 0;
	ASSERT(kin_mp_unpack(rep.data, rep.len, "[is]", NULL, &seen, &what, &len) > 0);
	ASSERT_EQ(seen, 1);
	char text[64];
	snprintf(text, sizeof(text), "%.*s", (int)len, what);
	ASSERT_STR_EQ(text, "killed");
	kin_reply_release(&rep);
	kin_status st;
	ASSERT_EQ(kin_proc_poll(kin_worker_proc(b), &st), 0);
	kin_monitor_free(ma);
	kin_monitor_free(mb);
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

TEST(life_link_to_dead_worker_acts_at_once)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	ASSERT_OK(kill(kin_worker_pid(a), SIGKILL));
	kin_exit_reason r;
	ASSERT_OK(kin_worker_wait(a, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_SIGNAL, 0, SIGKILL, "signal(9)");
	down_log db = {.loop = loop, .worker = b};
	kin_monitor *mb;
	ASSERT_OK(kin_worker_monitor(b, on_down, &db, &mb));
	ASSERT_OK(kin_worker_link(a, b));
	RUN_UNTIL(loop, &db.count, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_EQ(db.count, 1);
	ASSERT_REASON(&db.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	ASSERT_OK(kin_worker_wait(b, kin_after(TEST_LONG_WAIT), &r));
	ASSERT_REASON(&r, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	kin_monitor_free(mb);
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

TEST(life_unlink_stops_propagation)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *a = SPAWN_WORKER(loop, 1), *b = SPAWN_WORKER(loop, 1);
	down_log da = {.loop = loop, .worker = a}, db = {.loop = loop, .worker = b};
	kin_monitor *ma, *mb;
	ASSERT_OK(kin_worker_monitor(a, on_down, &da, &ma));
	ASSERT_OK(kin_worker_monitor(b, on_down, &db, &mb));
	ASSERT_OK(kin_worker_link(a, b));
	ASSERT_OK(kin_worker_unlink(b, a)); /* either order undoes it */
	ASSERT_OK(kin_worker_kill(a, SIGKILL));
	RUN_UNTIL(loop, &da.count, 1);
	RUN_ONCE_MORE(loop);
	ASSERT_REASON(&da.reason, KIN_REASON_KILLED, 0, SIGKILL, "killed");
	ASSERT_EQ(db.count, 0);
	kin_status st;
	ASSERT_EQ(kin_proc_poll(kin_worker_proc(b), &st), 0);
	EXPECT_ECHO(b);
	kin_monitor_free(ma);
	kin_monitor_free(mb);
	kin_worker_free(a);
	kin_worker_free(b);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- 5. handshake failures */

/* Spawns a worker that must fail with `want` at `step`; checks that the
 * failure left neither a child nor an fd behind. */
static void spawn_must_fail(kin_loop *loop, const kin_spawn_opts *s, int64_t handshake_ns,
			    int want, kin_spawn_step step, kin_spawn_error *why, int line)
{
	int before = test_count_fds();
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = s;
	o.handshake_timeout_ns = handshake_ns;
	kin_worker *w = NULL;
	memset(why, 0x5a, sizeof(*why)); /* so "filled" means something */
	int r = kin_worker_spawn(loop, &o, &w, why);
	if (r != want)
		test_fail(__FILE__, line, "kin_worker_spawn gave %d (%s), want %d (%s)", r,
			  kin_strerror(r), want, kin_strerror(want));
	if (w != NULL)
		test_fail(__FILE__, line, "a failed spawn set *ret");
	if (why->error != want)
		test_fail(__FILE__, line, "why.error %d, want %d", why->error, want);
	if (why->step != step)
		test_fail(__FILE__, line, "why.step %s, want %s", kin_spawn_step_name(why->step),
			  kin_spawn_step_name(step));
	size_t mlen = strnlen(why->message, sizeof(why->message));
	if (mlen == 0 || mlen == sizeof(why->message))
		test_fail(__FILE__, line, "why.message is empty or not terminated");
	test_assert_no_children(__FILE__, line);
	if (test_count_fds() != before)
		test_fail(__FILE__, line, "%d fds after the failed spawn, %d before",
			  test_count_fds(), before);
}

TEST(life_handshake_missing_program)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"/nonexistent/worker", NULL};
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	kin_spawn_error why;
	spawn_must_fail(loop, &s, 0, -ENOENT, KIN_STEP_EXEC, &why, __LINE__);
	test_loop_finish(loop, fds);
}

TEST(life_handshake_timeout)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sleep", "30", NULL};
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	kin_spawn_error why;
	spawn_must_fail(loop, &s, 300 * KIN_MSEC, -ETIMEDOUT, KIN_STEP_HANDSHAKE, &why, __LINE__);
	test_loop_finish(loop, fds);
}

TEST(life_handshake_worker_exits)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[] = {"sh", "-c", "exit 3", NULL};
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	kin_spawn_error why;
	spawn_must_fail(loop, &s, 0, -ECHILD, KIN_STEP_HANDSHAKE, &why, __LINE__);
	ASSERT_STATUS(&why.status, KIN_EXITED, 3, 0);
	test_loop_finish(loop, fds);
}

/* A "worker" that greets in protocol version 2, then waits to be killed. */
HELPER(life_hello_v2)
{
	(void)argc;
	(void)argv;
	kin_chan *c;
	if (kin_chan_from_fd(3, &c) < 0)
		return 3;
	kin_buf b = KIN_BUF_INIT;
	if (kin_mp_pack(&b, "[uui[]]", (size_t)4, (uint64_t)0, (uint64_t)2, (int64_t)getpid(),
			(size_t)0) < 0)
		return 4;
	if (kin_chan_send_bytes(c, b.data, b.len, kin_after(10 * KIN_SEC)) < 0)
		return 5;
	kin_buf_free(&b);
	sleep(30);
	kin_chan_free(c);
	return 0;
}

/* A "worker" whose first message is not MessagePack at all. */
HELPER(life_hello_garbage)
{
	(void)argc;
	(void)argv;
	kin_chan *c;
	if (kin_chan_from_fd(3, &c) < 0)
		return 3;
	/* 0xc1 is the one byte MessagePack never uses. */
	static const char junk[] = "\xc1\xc1 this is not a hello";
	if (kin_chan_send_bytes(c, junk, sizeof(junk) - 1, kin_after(10 * KIN_SEC)) < 0)
		return 5;
	sleep(30);
	kin_chan_free(c);
	return 0;
}

/* Runs a helper as a would-be worker. The owner marks every worker's
 * environment; this binary would serve as a real worker with the marker
 * set, so it is removed to reach the helper instead. */
static void hello_helper_must_fail(const char *helper, int line)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[8];
	test_helper_argv(argv, 8, helper, NULL);
	static const char *const unset[] = {"KIN_WORKER", NULL};
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	s.env_unset = unset;
	kin_spawn_error why;
	spawn_must_fail(loop, &s, 0, -EPROTO, KIN_STEP_HANDSHAKE, &why, line);
	test_loop_finish(loop, fds);
}

TEST(life_handshake_wrong_protocol_version)
{
	hello_helper_must_fail("life_hello_v2", __LINE__);
}

TEST(life_handshake_garbage_hello)
{
	hello_helper_must_fail("life_hello_garbage", __LINE__);
}

/* ---------------------------------------------------------------- 6. the marker */

TEST(life_worker_marker_is_scrubbed)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 2);
	kin_reply rep;
	ASSERT_OK(kin_call(w, "marker", NULL, kin_after(TEST_LONG_WAIT), &rep));
	int64_t leaked = -1;
	ASSERT(kin_mp_unpack(rep.data, rep.len, "i", &leaked) > 0);
	ASSERT_EQ(leaked, 0);
	kin_reply_release(&rep);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- 7. owner death */

/* Spawns 3 workers ("tree": in tree mode), keeps each busy in a long nap
 * so that none could leave merely because its chan closed, prints their
 * pids on one line and waits to be killed. */
HELPER(life_owner)
{
	unsigned flags = argc > 1 && strcmp(argv[1], "tree") == 0 ? KIN_SPAWN_TREE : 0;
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 3;
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.flags = flags;
	s.stdio[1].kind = KIN_STDIO_NULL; /* not the pipe the test reads */
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &s;
	kin_buf b = KIN_BUF_INIT;
	if (kin_mp_pack(&b, "i", (int64_t)60000) < 0)
		return 4;
	kin_msg args = {.data = b.data, .len = b.len};
	pid_t pids[3];
	int first = 0;
	if (argc > 1 && strcmp(argv[1], "zygote") == 0) {
		/* The zygote, then two workers it forks. */
		kin_zygote *z;
		kin_spawn_error why;
		if (kin_zygote_new(loop, &s, &z, &why) < 0) {
			fprintf(stderr, "life_owner: %s\n", why.message);
			return 5;
		}
		pids[first++] = kin_zygote_pid(z);
		o.zygote = z;
	}
	for (int i = first; i < 3; i++) {
		kin_worker *w;
		kin_spawn_error why;
		if (kin_worker_spawn(loop, &o, &w, &why) < 0) {
			fprintf(stderr, "life_owner: %s\n", why.message);
			return 5;
		}
		kin_pending *p;
		if (kin_call_start(w, "nap", &args, KIN_FOREVER, &p) < 0)
			return 6;
		pids[i] = kin_worker_pid(w);
	}
	printf("%d %d %d\n", (int)pids[0], (int)pids[1], (int)pids[2]);
	fflush(stdout);
	sleep(60);
	return 7;
}

static void owner_death(const char *mode);

/* Zygote mode: the zygote and the workers it forked all go. */
TEST(life_owner_death_kills_zygote_and_its_workers)
{
	owner_death("zygote");
}

static void owner_death(const char *mode)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[8];
	test_helper_argv(argv, 8, "life_owner", mode, NULL);
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	s.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *owner = test_spawn(loop, &s);
	char line[128];
	test_read_line(kin_proc_stdout(owner), line, sizeof(line));
	int p[3];
	ASSERT_EQ(sscanf(line, "%d %d %d", &p[0], &p[1], &p[2]), 3);

	/* The workers, and in tree mode whatever runs under each init. */
	pid_t all[64];
	size_t n = 0;
	for (int i = 0; i < 3; i++) {
		ASSERT(p[i] > 0);
		all[n++] = p[i];
		add_descendants(p[i], all, &n, 60);
	}
	if (strcmp(mode, "tree") == 0)
		ASSERT_EQ(n, 6); /* three inits, each with its program */
	else
		ASSERT_EQ(n, 3);
	all[n] = 0;
	for (size_t i = 0; i < n; i++)
		ASSERT(test_pid_alive(all[i]));

	ASSERT_OK(kin_proc_kill(owner, SIGKILL));
	kin_status st;
	ASSERT_OK(kin_proc_wait(owner, kin_after(TEST_LONG_WAIT), &st));
	ASSERT_STATUS(&st, KIN_KILLED, 0, SIGKILL);
	kin_proc_free(owner);
	if (!test_wait_until(all_gone, all, 10000)) {
		for (size_t i = 0; i < n; i++)
			if (!pid_gone(all[i])) {
				for (size_t j = 0; j < n; j++)
					kill(all[j], SIGKILL);
				test_fail(__FILE__, __LINE__,
					  "worker process %d outlived its owner (state %c)",
					  (int)all[i], test_proc_state(all[i]));
			}
	}
	test_loop_finish(loop, fds);
}

TEST(life_workers_die_with_their_owner)
{
	owner_death("plain");
}

TEST(life_tree_workers_die_with_their_owner)
{
	owner_death("tree");
}

/* ---------------------------------------------------------------- 8. binary replaced */

/* Runs from a copy of kin-test, which it deletes (or replaces with a
 * script that exits 42) before spawning a worker of itself. */
HELPER(life_lost_binary)
{
	const char *self = test_self();
	char path[4096];
	snprintf(path, sizeof(path), "%s", self);
	if (unlink(path) < 0) {
		perror("life_lost_binary: unlink");
		return 3;
	}
	if (argc > 1 && strcmp(argv[1], "replace") == 0)
		test_write_file(path, "#!/bin/sh\nexit 42\n", 0755);
	else if (access(path, F_OK) == 0)
		return 4;
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 5;
	kin_worker *w;
	kin_spawn_error why;
	if (kin_worker_spawn(loop, NULL, &w, &why) < 0) {
		fprintf(stderr, "life_lost_binary: %s\n", why.message);
		return 6;
	}
	kin_msg args = {.data = "same program", .len = 12};
	kin_reply rep;
	int r = kin_call(w, "echo", &args, kin_after(TEST_LONG_WAIT), &rep);
	int code = r == 0 && rep.len == 12 && memcmp(rep.data, "same program", 12) == 0 ? 0 : 7;
	if (r == 0)
		kin_reply_release(&rep);
	kin_worker_free(w);
	kin_loop_free(loop);
	return code;
}

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (in < 0 || out < 0)
		test_fail(__FILE__, __LINE__, "copy %s to %s: %s", from, to, strerror(errno));
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			test_fail(__FILE__, __LINE__, "write %s: %s", to, strerror(errno));
	if (n < 0)
		test_fail(__FILE__, __LINE__, "read %s: %s", from, strerror(errno));
	close(in);
	if (fchmod(out, 0755) < 0)
		test_fail(__FILE__, __LINE__, "chmod %s: %s", to, strerror(errno));
	close(out);
}

TEST(life_worker_spawn_survives_binary_replaced_on_disk)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	char dir[256], copy[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(copy, sizeof(copy), "%s/kin-test-copy", dir);
	const char *modes[] = {"delete", "replace"};
	for (int i = 0; i < 2; i++) {
		copy_file(test_self(), copy);
		const char *argv[] = {copy, "helper", "life_lost_binary", modes[i], NULL};
		kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
		s.argv = argv;
		kin_proc *p = test_spawn(loop, &s);
		kin_status st;
		ASSERT_OK(kin_proc_wait(p, kin_after(TEST_LONG_WAIT), &st));
		kin_proc_free(p);
		if (st.kind != KIN_EXITED || st.code != 0)
			test_fail(__FILE__, __LINE__, "the %s run ended %d/%d/%d", modes[i],
				  (int)st.kind, st.code, st.signal);
		/* Proof the helper really lost its file. */
		struct stat sb;
		if (i == 0)
			ASSERT(stat(copy, &sb) < 0 && errno == ENOENT);
		else
			ASSERT(stat(copy, &sb) == 0 && sb.st_size < 100);
		(void)unlink(copy);
	}
	test_remove_tree(dir);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- 9. detach */

/* Spawns a detachable worker, has it start a thread that lingers, detaches
 * it, prints its pid and leaves. */
HELPER(life_detacher)
{
	(void)argc;
	(void)argv;
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 3;
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.flags = KIN_SPAWN_DETACHED;
	s.stdio[1].kind = KIN_STDIO_NULL;
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &s;
	kin_worker *w;
	kin_spawn_error why;
	if (kin_worker_spawn(loop, &o, &w, &why) < 0) {
		fprintf(stderr, "life_detacher: %s\n", why.message);
		return 4;
	}
	kin_reply rep;
	int r = kin_call(w, "linger", NULL, kin_after(TEST_LONG_WAIT), &rep);
	if (r < 0) {
		fprintf(stderr, "life_detacher: linger: %s\n", kin_strerror(r));
		return 5;
	}
	kin_reply_release(&rep);
	r = kin_worker_detach(w);
	if (r < 0) {
		fprintf(stderr, "life_detacher: detach: %s\n", kin_strerror(r));
		return 6;
	}
	printf("%d\n", (int)kin_worker_pid(w));
	fflush(stdout);
	kin_worker_free(w);
	kin_loop_free(loop);
	return 0;
}

TEST(life_detached_worker_outlives_its_owner)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	const char *argv[8];
	test_helper_argv(argv, 8, "life_detacher", NULL);
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.argv = argv;
	s.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *owner = test_spawn(loop, &s);
	char line[64];
	test_read_line(kin_proc_stdout(owner), line, sizeof(line));
	kin_status st;
	ASSERT_OK(kin_proc_wait(owner, kin_after(TEST_LONG_WAIT), &st));
	ASSERT_STATUS(&st, KIN_EXITED, 0, 0);
	kin_proc_free(owner);
	pid_t pid = (pid_t)atoi(line);
	ASSERT(pid > 0);
	/* Its owner is gone and reaped; the worker is not. */
	bool alive = any_task_alive(pid);
	(void)kill(pid, SIGKILL); /* before judging, so a failure leaves nothing */
	ASSERT(alive);
	pid_t one[2] = {pid, 0};
	ASSERT(test_wait_until(all_gone, one, 10000));
	test_loop_finish(loop, fds);
}

TEST(life_detach_refused_in_tree_mode)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER_FLAGS(loop, 1, KIN_SPAWN_TREE);
	ASSERT_EQ(kin_worker_detach(w), -EINVAL);
	EXPECT_ECHO(w); /* the refusal changed nothing */
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}

/* kin.h: detach is "only for workers spawned with KIN_SPAWN_DETACHED in
 * their spawn options (else -EINVAL)". */
TEST(life_detach_of_a_linked_worker_survives_its_free)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_worker *w = SPAWN_WORKER(loop, 1);
	kin_reply rep;
	ASSERT_OK(kin_call(w, "linger", NULL, kin_after(10 * KIN_SEC), &rep));
	kin_reply_release(&rep);
	ASSERT_OK(kin_worker_detach(w));
	EXPECT_ECHO(w); /* still serves while its chan is open */
	pid_t pid = kin_worker_pid(w);
	kin_worker_free(w);
	/* Its chan is closed now, but a thread of its own keeps it going. */
	ASSERT_OK(kill(pid, 0));
	ASSERT(!pid_gone(pid));
	/* Still our child: once it ends, the loop reaps it. */
	ASSERT_OK(kill(pid, SIGKILL));
	kin_time end = kin_after(10 * KIN_SEC);
	while (!pid_gone(pid) && kin_now() < end)
		(void)kin_loop_run(loop, kin_after(20 * KIN_MSEC));
	ASSERT(pid_gone(pid));
	/* Any kin_loop_run reaps it, even with nothing else to do. */
	kin_time reaped = kin_after(10 * KIN_SEC);
	siginfo_t si;
	while (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 &&
	       kin_now() < reaped)
		(void)kin_loop_run(loop, 0);
	test_loop_finish(loop, fds);
}

/* ---------------------------------------------------------------- 10. captured stdout */

TEST(life_worker_stdout_is_captured)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_spawn_opts s = KIN_SPAWN_OPTS_INIT;
	s.stdio[1].kind = KIN_STDIO_PIPE;
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &s;
	kin_worker *w;
	kin_spawn_error why;
	int r = kin_worker_spawn(loop, &o, &w, &why);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "kin_worker_spawn: %s", why.message);
	kin_stream *out = kin_proc_stdout(kin_worker_proc(w));
	ASSERT(out != NULL);
	ASSERT(kin_proc_stderr(kin_worker_proc(w)) == NULL);
	kin_msg args = {.data = "hello from the worker\n", .len = 22};
	kin_reply rep;
	ASSERT_OK(kin_call(w, "print", &args, kin_after(TEST_LONG_WAIT), &rep));
	kin_reply_release(&rep);
	char line[64];
	test_read_line(out, line, sizeof(line));
	ASSERT_STR_EQ(line, "hello from the worker");
	ASSERT_OK(kin_worker_stop(w, 5 * KIN_SEC));
	kin_exit_reason reason;
	ASSERT_OK(kin_worker_wait(w, kin_after(TEST_LONG_WAIT), &reason));
	ASSERT_REASON(&reason, KIN_REASON_NORMAL, 0, 0, "normal");
	char rest[64];
	ASSERT_EQ(test_read_all(out, rest, sizeof(rest)), 0);
	kin_worker_free(w);
	test_loop_finish(loop, fds);
}
