/* A tiny libuv-style test harness. Each TEST registers itself; the runner
 * (tests/main.c) re-executes this binary once per test, with a timeout, so
 * every test runs in its own process. A test binary given "helper NAME"
 * runs a HELPER instead: child processes the tests spawn. */
#ifndef KIN_TEST_HARNESS_H
#define KIN_TEST_HARNESS_H

#include "kin.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
	const char *name;
	void (*fn)(void);
	int timeout_s;
	bool is_helper;
	int (*helper)(int argc, char **argv);
} test_case;

void test_register(test_case tc);

#define TEST_TIMEOUT(name, secs)                                                                   \
	static void test_##name(void);                                                             \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		test_register((test_case){#name, test_##name, secs, false, NULL});                 \
	}                                                                                          \
	static void test_##name(void)
#define TEST(name) TEST_TIMEOUT(name, 30)

/* A helper is a program the tests run as a child: `kin-test helper NAME ...`. */
#define HELPER(name)                                                                               \
	static int helper_##name(int argc, char **argv);                                           \
	__attribute__((constructor)) static void register_helper_##name(void)                      \
	{                                                                                          \
		test_register((test_case){#name, NULL, 0, true, helper_##name});                   \
	}                                                                                          \
	static int helper_##name(int argc, char **argv)

_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define ASSERT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);              \
	} while (0)

#define ASSERT_INT(a, op, b)                                                                       \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (!(a_ op b_))                                                                   \
			test_fail(__FILE__, __LINE__, "%s %s %s: %lld %s %lld", #a, #op, #b, a_,   \
				  #op, b_);                                                        \
	} while (0)
#define ASSERT_EQ(a, b) ASSERT_INT(a, ==, b)
/* For calls returning 0 or -errno: prints the error's name on failure. */
#define ASSERT_OK(expr)                                                                            \
	do {                                                                                       \
		long long r_ = (long long)(expr);                                                  \
		if (r_ < 0)                                                                        \
			test_fail(__FILE__, __LINE__, "%s failed: %lld (%s)", #expr, r_,           \
				  kin_strerror((int)r_));                                          \
	} while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,        \
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
	} while (0)

/* ---- helpers for checking that nothing leaked */

/* Number of open fds in this process. */
int test_count_fds(void);
/* Fails the test if this process has any child (a zombie included). */
void test_assert_no_children(const char *file, int line);
/* This process's live children (under every thread), up to cap. */
size_t test_children(pid_t *out, size_t cap);
#define ASSERT_NO_CHILDREN() test_assert_no_children(__FILE__, __LINE__)
/* True if a process with this pid exists (zombie or not). */
bool test_pid_exists(pid_t pid);
/* True if the pid exists and is not a zombie. */
bool test_pid_alive(pid_t pid);
/* Path of this test binary, for spawning helpers. */
const char *test_self(void);

/* What kin-test serves as a worker (tests/worker_handlers.c). */
extern const kin_handler test_worker_handlers[];
/* Spawn options running `kin-test helper NAME args...`; argv storage is static. */
void test_helper_argv(const char **argv, size_t cap, const char *helper, ...);
/* Reads a whole stream to EOF into buf (NUL-terminated); returns the length. */
size_t test_read_all(kin_stream *s, char *buf, size_t cap);
/* Waits up to `ms` for cond() to turn true, polling. */
bool test_wait_until(bool (*cond)(void *), void *arg, int ms);

/* ---- helpers for the spawn, stream and lifetime suites */

/* Makes a fresh, empty directory under /tmp and writes its path to buf. */
void test_make_tmpdir(char *buf, size_t cap);
/* Removes a directory made by test_make_tmpdir, with everything in it. */
void test_remove_tree(const char *path);
/* Creates (or replaces) a file holding `content`, with the given mode. */
void test_write_file(const char *path, const char *content, unsigned mode);
/* Reads one line from a stream, without its newline, NUL-terminated.
 * Fails the test on end of file, error or a 20 s timeout. */
size_t test_read_line(kin_stream *s, char *buf, size_t cap);
/* Spawns `o` (stdout becomes a pipe when it was INHERIT), reads stdout to
 * EOF into buf, waits for the child and frees it. Fails the test, with
 * kin's message, if the spawn fails. Returns the length read. */
size_t test_spawn_output(kin_loop *loop, kin_spawn_opts *o, char *buf, size_t cap,
			 kin_status *status);
/* test_spawn_output on a loop of its own, failing the test unless the
 * program exits 0; its output, NUL-terminated, in buf. */
void test_run_expect_ok(kin_spawn_opts *o, char *buf, size_t cap, const char *file, int line);
#define RUN_EXPECT_OK(o, buf) test_run_expect_ok(o, buf, sizeof(buf), __FILE__, __LINE__)
struct sockaddr_in;
/* A listening TCP socket on 127.0.0.1 (an ephemeral port, in *addr). */
int test_tcp_listener(struct sockaddr_in *addr);
/* Live (not zombie) processes having one argument exactly equal to
 * `marker`; fills up to cap pids and returns how many there are. */
size_t test_find_marked(const char *marker, pid_t *pids, size_t cap);
/* Spawns and reaps /bin/true once, so whatever a loop keeps after its
 * first spawn (a spawner thread's socket, when used) is already there. */
void test_warm_loop(kin_loop *loop);
/* A new loop, warmed by one spawn (test_warm_loop), after noting in *fds
 * how many fds this process had before it. */
kin_loop *test_loop_start(int *fds);
/* Frees the loop, then checks that the fd count is back to `fds` and that
 * no child is left. */
void test_loop_finish(kin_loop *loop, int fds);
/* Spawns or fails the test with kin's own message. */
kin_proc *test_spawn(kin_loop *loop, const kin_spawn_opts *o);
/* Options that run argv with everything else at its default. */
kin_spawn_opts test_opts(const char *const *argv);

/* Field-by-field equality (memcmp would also compare padding bytes). */
bool test_same_spawn_opts(const kin_spawn_opts *a, const kin_spawn_opts *b);
bool test_same_run_opts(const kin_run_opts *a, const kin_run_opts *b);

/* The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), 0 if gone. */
char test_proc_state(pid_t pid);
/* Field `index` (1-based, as in proc(5)) of /proc/PID/stat, or -1. */
long long test_stat_field(pid_t pid, int index);
/* This process's resident set size in KiB. */
long test_rss_kib(void);

/* ---- workers (tests/worker_util.c), for the worker, sup and pool suites */

/* A time span (not a deadline) that only a hang outlasts. */
#define TEST_LONG_WAIT (20 * KIN_SEC)

/* Spawns a worker with these options, or fails the test at the caller's
 * line with kin's message. */
kin_worker *test_spawn_worker_opts(kin_loop *loop, const kin_worker_opts *o, const char *file,
				   int line);
#define SPAWN_WORKER_OPTS(loop, o) test_spawn_worker_opts(loop, o, __FILE__, __LINE__)
/* A worker of this binary (test_worker_handlers) serving `threads` calls
 * at once, spawned with `flags` and with core files off, since some tests
 * crash it on purpose. Fails the test if the spawn fails. */
kin_worker *test_spawn_worker(kin_loop *loop, unsigned threads, unsigned flags, const char *file,
			      int line);
#define SPAWN_WORKER(loop, threads) test_spawn_worker(loop, threads, 0, __FILE__, __LINE__)
#define SPAWN_WORKER_FLAGS(loop, threads, flags)                                                   \
	test_spawn_worker(loop, threads, flags, __FILE__, __LINE__)
/* Arguments holding one MessagePack integer. The bytes live in b, until
 * the next call with the same b or kin_buf_free. */
kin_msg test_int_args(kin_buf *b, int64_t v);
/* What the worker's "pid" handler answers, or -1 if the call fails. */
int64_t test_call_pid(kin_worker *w);
/* The pid of a supervisor child's current worker, or -1 if it has none. */
pid_t test_sup_pid(kin_sup *s, const char *id);
/* What the "pid" handler answers through kin_pool_call, or -1 if the call
 * fails; *result (if not NULL) gets the call's result. */
int64_t test_pool_pid(kin_pool *p, int *result);
/* A supervisor's on_give_up that counts the calls and keeps the last why;
 * its userdata is a test_gave_up. */
typedef struct test_gave_up {
	int calls;
	char why[256];
} test_gave_up;
void test_on_give_up(kin_sup *s, const char *why, void *userdata);
/* kin_loop_run on a thread of its own, in short passes, until stopped;
 * for tests where calls come from another thread than the loop's. */
typedef struct test_loop_thread {
	kin_loop *loop;
	atomic_bool stop;
	pthread_t thread;
} test_loop_thread;
void test_loop_thread_start(test_loop_thread *t, kin_loop *loop);
void test_loop_thread_stop(test_loop_thread *t);
/* Hands a and b the two ends of a new chan; a pings b over it, and b
 * answers, never through the owner. Fails the test unless both hear. */
void test_workers_talk(kin_worker *a, kin_worker *b, const char *file, int line);
#define TEST_WORKERS_TALK(a, b) test_workers_talk(a, b, __FILE__, __LINE__)
/* Runs the loop until *count (which a callback raises) reaches want;
 * fails the test after a generous 10 s. */
void test_run_until(kin_loop *loop, const int *count, int want, const char *file, int line);
#define RUN_UNTIL(loop, count, want) test_run_until(loop, count, want, __FILE__, __LINE__)
/* One more short pass of the loop, so that anything that would wrongly
 * fire a second time does so before the test checks. */
void test_run_once_more(kin_loop *loop, const char *file, int line);
#define RUN_ONCE_MORE(loop) test_run_once_more(loop, __FILE__, __LINE__)

#endif
