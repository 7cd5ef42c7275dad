/* Sandboxed workers: the chan on fd 3, chans sent later and fds sent
 * later all cross the sandbox's boundary. A worker with no network at all
 * still uses a connected socket it is handed: the capability pattern. */
#include "harness.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

/* Every namespace, the host's files read-only, and no sockets but
 * AF_UNIX ones. */
static kin_sandbox no_network(void)
{
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.namespaces = KIN_NS_ALL;
	sb.ro_root = true;
	sb.seccomp = KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK;
	return sb;
}

/* LeakSanitizer's exit check ptraces, which the filter refuses. */
static const char *const no_lsan[] = {"ASAN_OPTIONS=detect_leaks=0", NULL};

static kin_worker *spawn_sandboxed(kin_loop *loop, const kin_sandbox *sb, const char *file,
				   int line)
{
	kin_spawn_opts spawn = KIN_SPAWN_OPTS_INIT;
	spawn.sandbox = sb;
	spawn.env_set = no_lsan;
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &spawn;
	return test_spawn_worker_opts(loop, &o, file, line);
}

TEST(sandbox_worker_uses_a_socket_it_was_handed)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_sandbox sb = no_network();
	kin_worker *w = spawn_sandboxed(loop, &sb, __FILE__, __LINE__);
	/* Inside its pid namespace it is pid 2, under kin's pid 1; outside,
	 * kin_worker_pid is that pid 1, the process kin holds. */
	ASSERT_EQ(test_call_pid(w), 2);

	struct sockaddr_in a;
	int l = test_tcp_listener(&a);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_OK(connect(c, (struct sockaddr *)&a, sizeof(a)));
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ASSERT(s >= 0);

	/* The worker writes through the connection it was given. */
	int give[1] = {c};
	kin_msg m = {.data = "over tcp", .len = 8, .fds = give, .nfds = 1};
	kin_reply rep;
	ASSERT_OK(kin_call(w, "write_fd", &m, kin_after(10 * KIN_SEC), &rep));
	kin_reply_release(&rep);
	char buf[16] = "";
	ASSERT_EQ(read(s, buf, sizeof(buf)), 8);
	ASSERT(memcmp(buf, "over tcp", 8) == 0);
	close(s);
	close(l);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* Two workers, each in a sandbox of its own, talk over a chan the owner
 * sent them, never through the owner. */
TEST(sandbox_workers_talk_over_a_chan_across_their_sandboxes)
{
	int fds = test_count_fds();
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_sandbox sb = no_network();
	kin_worker *a = spawn_sandboxed(loop, &sb, __FILE__, __LINE__);
	kin_worker *b = spawn_sandboxed(loop, &sb, __FILE__, __LINE__);
	TEST_WORKERS_TALK(a, b);
	kin_reply rep;
	/* And a large message (out of band, a sealed memfd) crosses too. */
	static char big[1 << 20];
	memset(big, 'k', sizeof(big));
	kin_msg large = {.data = big, .len = sizeof(big)};
	ASSERT_OK(kin_call(a, "echo", &large, kin_after(10 * KIN_SEC), &rep));
	ASSERT_EQ(rep.len, sizeof(big));
	ASSERT(memcmp(rep.data, big, sizeof(big)) == 0);
	kin_reply_release(&rep);
	kin_worker_free(a);
	kin_worker_free(b);
	kin_loop_free(loop);
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* A sandboxed worker's end is reported like any other's: kill it and the
 * reason says so, through kin's pid 1 in its pid namespace. */
TEST(sandbox_worker_end_is_reported)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_sandbox sb = no_network();
	kin_worker *w = spawn_sandboxed(loop, &sb, __FILE__, __LINE__);
	ASSERT_OK(kin_worker_kill(w, SIGKILL));
	kin_exit_reason reason;
	ASSERT_OK(kin_worker_wait(w, kin_after(10 * KIN_SEC), &reason));
	ASSERT_EQ(reason.kind, KIN_REASON_KILLED);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}

/* A worker under kin's pid 1 dies with that pid 1, which dies with its
 * owner: detaching it would be a promise kin cannot keep, so it refuses,
 * as for tree mode. */
TEST(sandbox_worker_in_a_pid_namespace_cannot_be_detached)
{
	kin_loop *loop;
	ASSERT_OK(kin_loop_new(&loop));
	kin_sandbox sb = no_network();
	kin_worker *w = spawn_sandboxed(loop, &sb, __FILE__, __LINE__);
	ASSERT_EQ(kin_worker_detach(w), -EINVAL);
	ASSERT_EQ(test_call_pid(w), 2);
	kin_worker_free(w);
	kin_loop_free(loop);
	ASSERT_NO_CHILDREN();
}
