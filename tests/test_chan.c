/* Chans: messages of bytes, fds and chans; back-pressure; the peer's close;
 * out-of-band payloads; and every malformed record a hostile peer could
 * send, each of which must be refused without leaking an fd. */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LONG_WAIT kin_after(20 * KIN_SEC)

/* ---- helpers */

static void recv_ok(kin_chan *c, kin_msg *m)
{
	int r = kin_chan_recv(c, m, LONG_WAIT);
	if (r != 0)
		test_fail(__FILE__, __LINE__, "kin_chan_recv: %d (%s)", r,
			  r < 0 ? kin_strerror(r) : "KIN_CLOSED");
}

static void expect_text(kin_chan *c, const char *want)
{
	kin_msg m = KIN_MSG_INIT;
	recv_ok(c, &m);
	ASSERT_EQ(m.len, strlen(want));
	ASSERT(memcmp(m.data, want, m.len) == 0);
	ASSERT_EQ(m.nfds, 0);
	ASSERT_EQ(m.nchans, 0);
	kin_msg_release(&m);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A byte pattern that differs with position and seed, to catch reordered,
 * shifted or mixed-up payloads. */
static uint8_t pattern(size_t i, unsigned seed)
{
	uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u;
	return (uint8_t)(x >> 13);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(i, seed);
}

/* Whether p[0..n) is the pattern from position `off` on. */
static bool check_from(const uint8_t *p, size_t n, size_t off, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(i + off, seed))
			return false;
	return true;
}

static bool check(const uint8_t *p, size_t n, unsigned seed)
{
	return check_from(p, n, 0, seed);
}

/* The header of the wire frame, as a raw peer would write it. */
static void header(uint8_t *h, uint8_t magic, uint8_t flags, uint16_t nfds, uint16_t nchans,
		   uint16_t reserved, uint32_t len)
{
	h[0] = magic;
	h[1] = flags;
	h[2] = (uint8_t)nfds;
	h[3] = (uint8_t)(nfds >> 8);
	h[4] = (uint8_t)nchans;
	h[5] = (uint8_t)(nchans >> 8);
	h[6] = (uint8_t)reserved;
	h[7] = (uint8_t)(reserved >> 8);
	for (int i = 0; i < 4; i++)
		h[8 + i] = (uint8_t)(len >> (8 * i));
}

static void raw_send(int fd, const void *rec, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 256)];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec v = {.iov_base = (void *)(uintptr_t)rec, .iov_len = len};
	struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
	if (nfds) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)len)
		test_fail(__FILE__, __LINE__, "raw sendmsg: %s", strerror(errno));
}

/* A kin chan on one end of a raw socketpair; the raw end in *raw. */
static kin_chan *raw_pair(int *raw)
{
	int sv[2];
	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ? -errno : 0);
	kin_chan *c;
	ASSERT_OK(kin_chan_from_fd(sv[0], &c));
	*raw = sv[1];
	return c;
}

/* Sends one raw record to a fresh chan and checks that it is refused with
 * -EPROTO, that the chan then stays failed, and that nothing that came
 * with the record is left open. The caller's fds stay the caller's. */
static void expect_rejected(const void *rec, size_t len, const int *fds, size_t nfds)
{
	int before = test_count_fds();
	int raw;
	kin_chan *c = raw_pair(&raw);
	raw_send(raw, rec, len, fds, nfds);
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(c, &m, LONG_WAIT), -EPROTO);
	ASSERT(m.data == NULL && m.fds == NULL && m.chans == NULL);
	/* Failed for good: every later call says so. */
	ASSERT_EQ(kin_chan_fd(c), -1);
	ASSERT_EQ(kin_chan_recv(c, &m, 0), -EPROTO);
	ASSERT_EQ(kin_chan_recv(c, &m, kin_after(10 * KIN_MSEC)), -EPROTO);
	ASSERT_EQ(kin_chan_send_bytes(c, "x", 1, 0), -EPROTO);
	ASSERT_EQ(kin_chan_set_max_message(c, 100), -EPROTO);
	ASSERT_EQ(kin_chan_set_max_inflight(c, 100), -EPROTO);
	/* The raw peer sees the chan shut down. */
	char b;
	ASSERT_EQ(recv(raw, &b, 1, MSG_DONTWAIT), 0);
	/* Only the chan's own socket remains of everything received. */
	ASSERT_EQ(test_count_fds(), before + 2);
	kin_chan_free(c);
	close(raw);
	ASSERT_EQ(test_count_fds(), before);
}

static int make_memfd(size_t size, unsigned seals)
{
	int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT(fd >= 0);
	ASSERT_OK(ftruncate(fd, (off_t)size) < 0 ? -errno : 0);
	if (seals)
		ASSERT_OK(fcntl(fd, F_ADD_SEALS, seals) < 0 ? -errno : 0);
	return fd;
}

#define ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* ---- basics */

TEST(chan_pair_sends_and_receives_bytes)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT(kin_chan_fd(a) > 2 && kin_chan_fd(b) > 2);
	ASSERT(fcntl(kin_chan_fd(a), F_GETFD) & FD_CLOEXEC);
	ASSERT(!(fcntl(kin_chan_fd(a), F_GETFL) & O_NONBLOCK));
	ASSERT_OK(kin_chan_send_bytes(a, "hello", 5, 0));
	ASSERT_OK(kin_chan_send_bytes(b, "back", 4, 0));
	ASSERT_OK(kin_chan_send_bytes(a, "again", 5, 0));
	expect_text(b, "hello");
	expect_text(b, "again");
	expect_text(a, "back");
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &m, 0), -EAGAIN);
	ASSERT_EQ(kin_chan_recv(b, &m, kin_after(20 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT(m.data == NULL);
	kin_chan_free(a);
	kin_chan_free(b);
	kin_chan_free(NULL);
	kin_msg_release(&m); /* an empty message is fine */
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_zero_length_message)
{
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_send_bytes(a, NULL, 0, 0));
	kin_msg empty = KIN_MSG_INIT;
	ASSERT_OK(kin_chan_send(a, &empty, 0));
	ASSERT_OK(kin_chan_send_bytes(a, "z", 1, 0));
	for (int i = 0; i < 2; i++) {
		kin_msg m = KIN_MSG_INIT;
		/* Not mistaken for the end of the stream. */
		ASSERT_EQ(kin_chan_recv(b, &m, LONG_WAIT), 0);
		ASSERT_EQ(m.len, 0);
		ASSERT(m.data == NULL);
		kin_msg_release(&m);
	}
	expect_text(b, "z");
	kin_chan_free(a);
	kin_chan_free(b);
}

TEST(chan_refuses_bad_arguments)
{
	int fds = test_count_fds();
	kin_chan *a, *b, *c, *d;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_pair(&c, &d));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));

	kin_chan *self[] = {a};
	kin_msg m = {.chans = self, .nchans = 1};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EINVAL); /* a chan through itself */
	int own[] = {kin_chan_fd(a)};
	m = (kin_msg){.fds = own, .nfds = 1};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EINVAL);
	int twice[] = {p[0], p[0]};
	m = (kin_msg){.fds = twice, .nfds = 2};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EINVAL);
	int chan_and_fd[] = {kin_chan_fd(c)};
	kin_chan *cs[] = {c};
	m = (kin_msg){.fds = chan_and_fd, .nfds = 1, .chans = cs, .nchans = 1};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EINVAL);
	kin_chan *dup_chans[] = {c, c};
	m = (kin_msg){.chans = dup_chans, .nchans = 2};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EINVAL);
	int bad[] = {-1};
	m = (kin_msg){.fds = bad, .nfds = 1};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EBADF);
	int closed[] = {1000};
	m = (kin_msg){.fds = closed, .nfds = 1};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EBADF);
	int many[KIN_CHAN_MAX_FDS + 1];
	for (int i = 0; i <= KIN_CHAN_MAX_FDS; i++)
		many[i] = p[0];
	m = (kin_msg){.fds = many, .nfds = KIN_CHAN_MAX_FDS + 1};
	ASSERT_EQ(kin_chan_send(a, &m, 0), -EINVAL);
	ASSERT_EQ(kin_chan_set_max_message(a, 0), -EINVAL);
	ASSERT_EQ(kin_chan_set_max_message(NULL, 1), -EINVAL);
	if (KIN_CHAN_MAX_MESSAGE < SIZE_MAX)
		ASSERT_EQ(kin_chan_set_max_message(a, KIN_CHAN_MAX_MESSAGE + 1), -EINVAL);
	ASSERT_OK(kin_chan_set_max_message(a, KIN_CHAN_MAX_MESSAGE));
	ASSERT_OK(kin_chan_set_max_message(a, KIN_CHAN_DEFAULT_MAX));
	ASSERT_EQ(kin_chan_set_max_inflight(a, 0), -EINVAL);
	ASSERT_EQ(kin_chan_set_max_inflight(NULL, 1), -EINVAL);
	ASSERT_OK(kin_chan_set_max_inflight(a, 1));
	ASSERT_OK(kin_chan_set_max_inflight(a, SIZE_MAX));
	ASSERT_OK(kin_chan_set_max_inflight(a, KIN_CHAN_DEFAULT_INFLIGHT));
	ASSERT_EQ(kin_chan_on_readable(a, NULL, NULL, NULL), 0);

	/* Nothing was sent, and everything offered is still ours. */
	m = (kin_msg)KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &m, 0), -EAGAIN);
	ASSERT(fd_open(p[0]) && kin_chan_fd(c) >= 0);
	ASSERT_OK(kin_chan_send_bytes(a, "ok", 2, 0));
	expect_text(b, "ok");
	kin_chan_free(a);
	kin_chan_free(b);
	kin_chan_free(c);
	kin_chan_free(d);
	close(p[0]);
	close(p[1]);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_from_fd_checks_the_socket)
{
	int fds = test_count_fds();
	kin_chan *c = NULL;
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	ASSERT_EQ(kin_chan_from_fd(p[0], &c), -ENOTSOCK);
	ASSERT(fd_open(p[0]));
	ASSERT_EQ(kin_chan_from_fd(1000, &c), -EBADF);
	int sv[2];
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(kin_chan_from_fd(sv[0], &c), -EPROTOTYPE);
	ASSERT(fd_open(sv[0]));
	int dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(kin_chan_from_fd(dg, &c), -EPROTOTYPE);
	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp >= 0) {
		ASSERT_EQ(kin_chan_from_fd(tcp, &c), -EPROTOTYPE);
		close(tcp);
	}
	ASSERT(c == NULL);
	close(dg);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);

	/* A non-blocking, inheritable seqpacket socket becomes neither. */
	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv));
	ASSERT_OK(kin_chan_from_fd(sv[0], &c));
	ASSERT_EQ(kin_chan_fd(c), sv[0]);
	ASSERT(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
	ASSERT(!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
	kin_chan *d;
	ASSERT_OK(kin_chan_from_fd(sv[1], &d));
	ASSERT_OK(kin_chan_send_bytes(d, "adopted", 7, 0));
	expect_text(c, "adopted");
	kin_chan_free(c);
	kin_chan_free(d);
	ASSERT_EQ(test_count_fds(), fds);
}

/* ---- fds and chans move */

TEST(chan_fds_move_on_success_and_stay_on_failure)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	int p[2];
	ASSERT_OK(pipe2(p, 0)); /* not close-on-exec here; the receiver's copy must be */
	int give[] = {p[1]};
	kin_msg m = {.data = "pipe", .len = 4, .fds = give, .nfds = 1};
	ASSERT_OK(kin_chan_send(a, &m, LONG_WAIT));
	ASSERT(!fd_open(p[1]));   /* moved: the sender's copy is closed */
	ASSERT_EQ(give[0], p[1]); /* the caller's array is left alone */

	kin_msg got = KIN_MSG_INIT;
	recv_ok(b, &got);
	ASSERT_EQ(got.len, 4);
	ASSERT(memcmp(got.data, "pipe", 4) == 0);
	ASSERT_EQ(got.nfds, 1);
	ASSERT_EQ(got.nchans, 0);
	int w = got.fds[0];
	ASSERT(w > 2);
	ASSERT(fcntl(w, F_GETFD) & FD_CLOEXEC);
	/* The received end works: write through it, read it back here. */
	ASSERT_EQ(write(w, "through", 7), 7);
	char buf[16] = "";
	ASSERT_EQ(read(p[0], buf, sizeof(buf)), 7);
	ASSERT(memcmp(buf, "through", 7) == 0);
	/* Not taken, so released with the message: the pipe sees EOF. */
	kin_msg_release(&got);
	ASSERT(got.fds == NULL && got.nfds == 0 && got.data == NULL);
	ASSERT_EQ(read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);

	/* A failed send (the peer is gone) leaves the fds with the sender. */
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	kin_chan_free(b);
	give[0] = p[1];
	m = (kin_msg){.fds = give, .nfds = 1};
	ASSERT_EQ(kin_chan_send(a, &m, LONG_WAIT), -EPIPE);
	ASSERT(fd_open(p[1]));
	ASSERT_EQ(write(p[1], "x", 1), 1);
	close(p[0]);
	close(p[1]);
	kin_chan_free(a);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_taken_fds_survive_release)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	kin_msg m = {.fds = p, .nfds = 2};
	ASSERT_OK(kin_chan_send(a, &m, LONG_WAIT));
	kin_msg got = KIN_MSG_INIT;
	recv_ok(b, &got);
	ASSERT_EQ(got.nfds, 2);
	int r = got.fds[0];
	got.fds[0] = -1; /* taken */
	kin_msg_release(&got);
	ASSERT(fd_open(r));
	char c;
	ASSERT_EQ(read(r, &c, 1), 0); /* the write end went with the message */
	close(r);
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_sent_through_a_chan_works)
{
	int fds = test_count_fds();
	kin_chan *a, *b, *c, *d;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_pair(&c, &d));
	kin_chan *give[] = {d};
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	kin_msg m = {.data = "cap", .len = 3, .fds = &p[0], .nfds = 1, .chans = give, .nchans = 1};
	ASSERT_OK(kin_chan_send(a, &m, LONG_WAIT)); /* d is freed here */
	kin_msg got = KIN_MSG_INIT;
	recv_ok(b, &got);
	ASSERT_EQ(got.nfds, 1);
	ASSERT_EQ(got.nchans, 1);
	kin_chan *d2 = got.chans[0];
	got.chans[0] = NULL;
	kin_msg_release(&got);
	ASSERT(fcntl(kin_chan_fd(d2), F_GETFD) & FD_CLOEXEC);
	ASSERT(!(fcntl(kin_chan_fd(d2), F_GETFL) & O_NONBLOCK));
	ASSERT_OK(kin_chan_send_bytes(c, "to d", 4, 0));
	expect_text(d2, "to d");
	ASSERT_OK(kin_chan_send_bytes(d2, "to c", 4, 0));
	expect_text(c, "to c");
	close(p[1]);
	kin_chan_free(a);
	kin_chan_free(b);
	kin_chan_free(c);
	kin_chan_free(d2);
	ASSERT_EQ(test_count_fds(), fds);
}

/* The two ends of a fresh pair go to two children, which then talk to each
 * other directly; each reports back to the owner on its own fd 3. */
static kin_chan *take_chan(kin_chan *ctl)
{
	kin_msg m = KIN_MSG_INIT;
	if (kin_chan_recv(ctl, &m, LONG_WAIT) != 0 || m.nchans != 1)
		exit(3);
	kin_chan *c = m.chans[0];
	m.chans[0] = NULL;
	kin_msg_release(&m);
	return c;
}

static void child_report(kin_chan *ctl, const char *what, const kin_msg *m)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s:%.*s", what, (int)m->len, (const char *)m->data);
	if (kin_chan_send_bytes(ctl, buf, (size_t)n, LONG_WAIT) != 0)
		exit(4);
}

HELPER(chan_peer_a)
{
	(void)argc;
	(void)argv;
	kin_chan *ctl;
	if (kin_chan_from_fd(3, &ctl) < 0)
		return 2;
	kin_chan *peer = take_chan(ctl);
	if (kin_chan_send_bytes(peer, "ping", 4, LONG_WAIT) != 0)
		return 5;
	kin_msg m = KIN_MSG_INIT;
	if (kin_chan_recv(peer, &m, LONG_WAIT) != 0)
		return 6;
	child_report(ctl, "a", &m);
	kin_msg_release(&m);
	kin_chan_free(peer);
	kin_chan_free(ctl);
	return 0;
}

HELPER(chan_peer_b)
{
	(void)argc;
	(void)argv;
	kin_chan *ctl;
	if (kin_chan_from_fd(3, &ctl) < 0)
		return 2;
	kin_chan *peer = take_chan(ctl);
	kin_msg m = KIN_MSG_INIT;
	if (kin_chan_recv(peer, &m, LONG_WAIT) != 0)
		return 6;
	if (kin_chan_send_bytes(peer, "pong", 4, LONG_WAIT) != 0)
		return 5;
	child_report(ctl, "b", &m);
	kin_msg_release(&m);
	/* A closes first once it has its pong; we see the close. */
	if (kin_chan_recv(peer, &m, LONG_WAIT) != KIN_CLOSED)
		return 7;
	kin_chan_free(peer);
	kin_chan_free(ctl);
	return 0;
}

static kin_proc *spawn_peer(kin_loop *loop, const char *helper, kin_chan *their_end)
{
	const char *argv[8];
	test_helper_argv(argv, 8, helper, NULL);
	kin_spawn_opts o = test_opts(argv);
	kin_fd_map map = {.parent_fd = kin_chan_fd(their_end), .child_fd = 3};
	o.fds = &map;
	o.nfds = 1;
	return test_spawn(loop, &o);
}

TEST(chan_through_chan_between_two_children)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_chan *to_a, *a_end, *to_b, *b_end;
	ASSERT_OK(kin_chan_pair(&to_a, &a_end));
	ASSERT_OK(kin_chan_pair(&to_b, &b_end));
	kin_proc *pa = spawn_peer(loop, "chan_peer_a", a_end);
	kin_proc *pb = spawn_peer(loop, "chan_peer_b", b_end);
	kin_chan_free(a_end);
	kin_chan_free(b_end);

	/* The owner keeps no end of the pair it hands out. */
	kin_chan *x, *y;
	ASSERT_OK(kin_chan_pair(&x, &y));
	kin_chan *gx[] = {x}, *gy[] = {y};
	kin_msg m = {.chans = gx, .nchans = 1};
	ASSERT_OK(kin_chan_send(to_a, &m, LONG_WAIT));
	m = (kin_msg){.chans = gy, .nchans = 1};
	ASSERT_OK(kin_chan_send(to_b, &m, LONG_WAIT));

	expect_text(to_a, "a:pong");
	expect_text(to_b, "b:ping");
	kin_status st;
	ASSERT_OK(kin_proc_wait(pa, LONG_WAIT, &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	ASSERT_OK(kin_proc_wait(pb, LONG_WAIT, &st));
	ASSERT_EQ(st.kind, KIN_EXITED);
	ASSERT_EQ(st.code, 0);
	kin_msg end = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(to_a, &end, LONG_WAIT), KIN_CLOSED);
	ASSERT_EQ(kin_chan_recv(to_b, &end, LONG_WAIT), KIN_CLOSED);
	kin_proc_free(pa);
	kin_proc_free(pb);
	kin_chan_free(to_a);
	kin_chan_free(to_b);
	test_loop_finish(loop, fds);
}

/* ---- flow and the end of the stream */

TEST(chan_back_pressure)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	char small[64];
	memset(small, 'b', sizeof(small));
	int sent = 0, r;
	while ((r = kin_chan_send_bytes(a, small, sizeof(small), 0)) == 0) {
		sent++;
		ASSERT(sent < 1000000);
	}
	ASSERT_EQ(r, -EAGAIN);
	ASSERT(sent > 0);
	kin_time t0 = kin_now();
	ASSERT_EQ(kin_chan_send_bytes(a, small, sizeof(small), kin_after(100 * KIN_MSEC)),
		  -ETIMEDOUT);
	ASSERT(kin_now() - t0 >= 90 * KIN_MSEC);
	/* The reader takes one: there is room again. */
	kin_msg m = KIN_MSG_INIT;
	recv_ok(b, &m);
	kin_msg_release(&m);
	ASSERT_OK(kin_chan_send_bytes(a, small, sizeof(small), LONG_WAIT));
	sent++;
	int got = 0;
	while ((r = kin_chan_recv(b, &m, 0)) == 0) {
		ASSERT_EQ(m.len, sizeof(small));
		kin_msg_release(&m);
		got++;
	}
	ASSERT_EQ(r, -EAGAIN);
	ASSERT_EQ(got + 1, sent);
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

struct slow_reader {
	kin_chan *c;
	int got;
};

static void *read_slowly(void *arg)
{
	struct slow_reader *s = arg;
	usleep(100 * 1000);
	kin_msg m = KIN_MSG_INIT;
	while (kin_chan_recv(s->c, &m, LONG_WAIT) == 0) {
		kin_msg_release(&m);
		s->got++;
	}
	return NULL;
}

TEST(chan_blocking_send_waits_for_room)
{
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	struct slow_reader s = {.c = b};
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, read_slowly, &s), 0);
	char buf[1024];
	memset(buf, 'w', sizeof(buf));
	for (int i = 0; i < 2000; i++)
		ASSERT_OK(kin_chan_send_bytes(a, buf, sizeof(buf), LONG_WAIT));
	kin_chan_free(a);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(s.got, 2000);
	kin_chan_free(b);
}

TEST(chan_closed_after_queued_messages)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	ASSERT_OK(kin_chan_send_bytes(a, "one", 3, 0));
	kin_msg m = {.data = "two", .len = 3, .fds = &p[1], .nfds = 1};
	ASSERT_OK(kin_chan_send(a, &m, 0));
	uint8_t *big = malloc(200000);
	fill(big, 200000, 7);
	ASSERT_OK(kin_chan_send_bytes(a, big, 200000, 0));
	kin_chan_free(a);
	/* Everything sent before the close comes first. */
	expect_text(b, "one");
	recv_ok(b, &m);
	ASSERT_EQ(m.nfds, 1);
	kin_msg_release(&m);
	recv_ok(b, &m);
	ASSERT_EQ(m.len, 200000);
	ASSERT(check(m.data, m.len, 7));
	kin_msg_release(&m);
	ASSERT_EQ(kin_chan_recv(b, &m, LONG_WAIT), KIN_CLOSED);
	ASSERT_EQ(kin_chan_recv(b, &m, 0), KIN_CLOSED);
	ASSERT(m.data == NULL);
	ASSERT_EQ(kin_chan_send_bytes(b, "late", 4, 0), -EPIPE);
	ASSERT(kin_chan_fd(b) >= 0); /* closed is not failed */
	kin_chan_free(b);
	close(p[0]);
	free(big);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_send_to_freed_peer_is_epipe)
{
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	kin_chan_free(b);
	ASSERT_EQ(kin_chan_send_bytes(a, "x", 1, 0), -EPIPE);
	ASSERT_EQ(kin_chan_send_bytes(a, "x", 1, LONG_WAIT), -EPIPE);
	kin_chan_free(a);

	/* A peer that closed with our messages unread leaves a connection
	 * reset behind on our side: still -EPIPE, and never SIGPIPE. */
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_send_bytes(a, "unread", 6, 0));
	kin_chan_free(b);
	ASSERT_EQ(kin_chan_send_bytes(a, "x", 1, 0), -EPIPE);
	ASSERT_EQ(kin_chan_send_bytes(a, "x", 1, 0), -EPIPE);
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(a, &m, LONG_WAIT), KIN_CLOSED);
	kin_chan_free(a);
}

struct later {
	kin_chan *c;
	int what; /* 0: send one message; 1: receive everything; 2: free c */
	int got;
};

static void *act_later(void *arg)
{
	struct later *l = arg;
	usleep(100 * 1000);
	if (l->what == 0) {
		kin_chan_send_bytes(l->c, "late", 4, LONG_WAIT);
	} else if (l->what == 1) {
		kin_msg m = KIN_MSG_INIT;
		while (kin_chan_recv(l->c, &m, kin_after(200 * KIN_MSEC)) == 0) {
			kin_msg_release(&m);
			l->got++;
		}
	} else {
		kin_chan_free(l->c);
	}
	return NULL;
}

TEST(chan_waits_without_deadline)
{
	/* A call without a deadline sleeps in the kernel; it wakes for a
	 * message, for room, and for the peer's close. */
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	struct later l = {.c = a, .what = 0};
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, act_later, &l), 0);
	expect_text(b, "late");
	ASSERT_EQ(pthread_join(t, NULL), 0);

	char small[64] = "";
	int sent = 0;
	while (kin_chan_send_bytes(a, small, sizeof(small), 0) == 0)
		sent++;
	l = (struct later){.c = b, .what = 1};
	ASSERT_EQ(pthread_create(&t, NULL, act_later, &l), 0);
	ASSERT_OK(kin_chan_send_bytes(a, small, sizeof(small), KIN_FOREVER));
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(l.got, sent + 1);

	l = (struct later){.c = a, .what = 2};
	ASSERT_EQ(pthread_create(&t, NULL, act_later, &l), 0);
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &m, KIN_FOREVER), KIN_CLOSED);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	kin_chan_free(b);
}

TEST(chan_copes_with_a_foreign_nonblocking_flag)
{
	/* Whoever shares the open file (a child it was mapped into) may set
	 * O_NONBLOCK; waits without a deadline must still wait. */
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	int fl = fcntl(kin_chan_fd(b), F_GETFL);
	ASSERT_OK(fcntl(kin_chan_fd(b), F_SETFL, fl | O_NONBLOCK));
	fl = fcntl(kin_chan_fd(a), F_GETFL);
	ASSERT_OK(fcntl(kin_chan_fd(a), F_SETFL, fl | O_NONBLOCK));
	struct later l = {.c = a, .what = 0};
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, act_later, &l), 0);
	expect_text(b, "late"); /* sleeps in poll, not -EAGAIN */
	ASSERT_EQ(pthread_join(t, NULL), 0);
	char small[64] = "";
	int sent = 0;
	while (kin_chan_send_bytes(a, small, sizeof(small), 0) == 0)
		sent++;
	l = (struct later){.c = b, .what = 1};
	ASSERT_EQ(pthread_create(&t, NULL, act_later, &l), 0);
	ASSERT_OK(kin_chan_send_bytes(a, small, sizeof(small), KIN_FOREVER));
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(l.got, sent + 1);
	kin_chan_free(a);
	kin_chan_free(b);
}

static void *recv_forever(void *arg)
{
	kin_msg m = KIN_MSG_INIT;
	return (void *)(intptr_t)kin_chan_recv(arg, &m, KIN_FOREVER);
}

TEST(chan_failure_wakes_every_waiting_thread)
{
	int raw;
	kin_chan *c = raw_pair(&raw);
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(pthread_create(&t[i], NULL, recv_forever, c), 0);
	usleep(100 * 1000); /* let them block; not needed for correctness */
	raw_send(raw, "not a frame!", 12, NULL, 0);
	/* One receiver gets the bad record; the shutdown wakes the others. */
	for (int i = 0; i < 3; i++) {
		void *r;
		ASSERT_EQ(pthread_join(t[i], &r), 0);
		ASSERT_EQ((intptr_t)r, -EPROTO);
	}
	kin_chan_free(c);
	close(raw);
}

/* ---- sizes */

static void round_trip(size_t len, unsigned seed)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	uint8_t *buf = malloc(len ? len : 1);
	ASSERT(buf);
	fill(buf, len, seed);
	ASSERT_OK(kin_chan_send_bytes(a, buf, len, LONG_WAIT));
	free(buf);
	kin_msg m = KIN_MSG_INIT;
	recv_ok(b, &m);
	ASSERT_EQ(m.len, len);
	ASSERT(check(m.data, len, seed));
	/* Above 64 KiB the payload is a read-only mapping of the memfd. */
	ASSERT_EQ(m.priv_mapped, len > 65536 ? len : 0);
	kin_msg_release(&m);
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_inline_and_oob_edges)
{
	round_trip(1, 1);
	round_trip(65535, 2);
	round_trip(65536, 3); /* the largest inline */
	round_trip(65537, 4); /* the smallest out of band */
}

TEST_TIMEOUT(chan_large_payloads_round_trip, 120)
{
	round_trip((size_t)1 << 20, 5);
	round_trip(KIN_CHAN_DEFAULT_MAX, 6);
	/* One byte over the default: refused by the sender, nothing sent. */
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	size_t over = KIN_CHAN_DEFAULT_MAX + 1;
	char *big = malloc(over);
	ASSERT(big);
	memset(big, 'o', over);
	ASSERT_EQ(kin_chan_send_bytes(a, big, over, 0), -EMSGSIZE);
	free(big);
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &m, 0), -EAGAIN);
	/* The sender's own smaller maximum counts too. */
	ASSERT_OK(kin_chan_set_max_message(a, 10));
	ASSERT_EQ(kin_chan_send_bytes(a, "eleven byte", 11, 0), -EMSGSIZE);
	ASSERT_OK(kin_chan_send_bytes(a, "ten bytes!", 10, 0));
	expect_text(b, "ten bytes!");
	kin_chan_free(a);
	kin_chan_free(b);
}

TEST(chan_receiver_max_drops_message_and_stays_usable)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_set_max_message(b, 1000));
	char buf[2000];
	memset(buf, 'm', sizeof(buf));
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	kin_msg m = {.data = buf, .len = 1001, .fds = &p[1], .nfds = 1};
	ASSERT_OK(kin_chan_send(a, &m, 0));
	uint8_t *big = malloc(300000);
	fill(big, 300000, 9);
	ASSERT_OK(kin_chan_send_bytes(a, big, 300000, 0)); /* out of band */
	ASSERT_OK(kin_chan_send_bytes(a, buf, 1000, 0));
	kin_msg got = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &got, LONG_WAIT), -EMSGSIZE);
	ASSERT_EQ(kin_chan_recv(b, &got, LONG_WAIT), -EMSGSIZE);
	ASSERT(got.data == NULL);
	/* The fd that came with the dropped message was closed. */
	char c;
	ASSERT_EQ(read(p[0], &c, 1), 0);
	recv_ok(b, &got);
	ASSERT_EQ(got.len, 1000);
	kin_msg_release(&got);
	ASSERT(kin_chan_fd(b) >= 0);
	ASSERT_OK(kin_chan_set_max_message(b, KIN_CHAN_DEFAULT_MAX));
	ASSERT_OK(kin_chan_send_bytes(a, big, 300000, 0));
	recv_ok(b, &got);
	ASSERT(got.len == 300000 && check(got.data, got.len, 9));
	kin_msg_release(&got);
	free(big);
	close(p[0]);
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

/* ---- above the default maximum */

TEST_TIMEOUT(chan_100_mib_message_round_trips_when_both_ends_allow_it, 180)
{
	int fds = test_count_fds();
	size_t len = (size_t)100 << 20;
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	uint8_t *buf = malloc(len);
	ASSERT(buf);
	fill(buf, len, 11);
	/* Each end's default refuses it: the sender's at once... */
	ASSERT_EQ(kin_chan_send_bytes(a, buf, len, 0), -EMSGSIZE);
	ASSERT_OK(kin_chan_set_max_message(a, len));
	/* ...the receiver's by dropping it, and the chan goes on. */
	ASSERT_OK(kin_chan_send_bytes(a, buf, len, 0));
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &m, LONG_WAIT), -EMSGSIZE);
	ASSERT_OK(kin_chan_set_max_message(b, len));
	/* Two of them are over the default budget of bytes in flight, so
	 * this goes at once only because the drop counted as taken. */
	ASSERT_OK(kin_chan_send_bytes(a, buf, len, 0));
	recv_ok(b, &m);
	ASSERT_EQ(m.len, len);
	ASSERT_EQ(m.priv_mapped, len);
	ASSERT(check(m.data, len, 11));
	kin_msg_release(&m);
	free(buf);
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

/* ---- out-of-band bytes in flight */

#define MIB ((size_t)1 << 20)

/* Sends len-byte messages without waiting until there is no room; returns
 * how many went. */
static int send_until_full(kin_chan *c, const uint8_t *buf, size_t len)
{
	int n = 0, r;
	while ((r = kin_chan_send_bytes(c, buf, len, 0)) == 0) {
		n++;
		ASSERT(n < 1000);
	}
	ASSERT_EQ(r, -EAGAIN);
	return n;
}

static void expect_len(kin_chan *c, size_t len)
{
	kin_msg m = KIN_MSG_INIT;
	recv_ok(c, &m);
	ASSERT_EQ(m.len, len);
	kin_msg_release(&m);
}

TEST(chan_oob_budget_bounds_bytes_in_flight)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_set_max_inflight(a, 4 * MIB));
	uint8_t *buf = malloc(MIB);
	ASSERT(buf);
	fill(buf, MIB, 21);
	/* Nobody reads: four go, the fifth finds no room. */
	ASSERT_EQ(send_until_full(a, buf, MIB), 4);
	/* The sender keeps one fd per message in flight, and no more. */
	ASSERT_EQ(test_count_fds(), fds + 2 + 4);
	kin_time t0 = kin_now();
	ASSERT_EQ(kin_chan_send_bytes(a, buf, MIB, kin_after(50 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT(kin_now() - t0 >= 50 * KIN_MSEC);
	ASSERT_EQ(test_count_fds(), fds + 2 + 4);
	/* Inline messages are not counted: they still go. */
	ASSERT_OK(kin_chan_send_bytes(a, buf, 65536, 0));
	/* The reader takes one: room for one more, at once. */
	kin_msg m = KIN_MSG_INIT;
	recv_ok(b, &m);
	ASSERT(m.len == MIB && check(m.data, MIB, 21));
	kin_msg_release(&m);
	ASSERT_OK(kin_chan_send_bytes(a, buf, MIB, 0));
	ASSERT_EQ(kin_chan_send_bytes(a, buf, MIB, 0), -EAGAIN);
	ASSERT_EQ(test_count_fds(), fds + 2 + 4);
	/* It takes the rest (the inline one after the first three). */
	for (int i = 0; i < 5; i++)
		expect_len(b, i == 3 ? 65536 : MIB);
	ASSERT_EQ(kin_chan_recv(b, &m, 0), -EAGAIN);
	ASSERT_EQ(send_until_full(a, buf, MIB), 4);
	for (int i = 0; i < 4; i++)
		expect_len(b, MIB);

	/* A budget below the message size means one at a time: a message
	 * is never refused for good. */
	ASSERT_OK(kin_chan_set_max_inflight(a, MIB / 2));
	for (int round = 0; round < 2; round++) {
		ASSERT_EQ(send_until_full(a, buf, MIB), 1);
		expect_len(b, MIB);
	}
	free(buf);
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_oob_messages_in_flight_are_capped_by_count)
{
	/* The smallest out-of-band message, 128 of them: 8 MiB, far below
	 * the default budget, and fewer records than the socket holds. What
	 * stops the sender is the count (kin.h, kin_chan_set_max_inflight),
	 * which bounds the fds it keeps whatever the sizes. */
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	size_t len = 65537;
	uint8_t *buf = calloc(1, len);
	ASSERT(buf);
	ASSERT_EQ(send_until_full(a, buf, len), 128);
	ASSERT_EQ(test_count_fds(), fds + 2 + 128);
	expect_len(b, len);
	ASSERT_OK(kin_chan_send_bytes(a, buf, len, 0));
	for (int i = 0; i < 128; i++)
		expect_len(b, len);
	ASSERT_EQ(send_until_full(a, buf, len), 128);
	free(buf);
	/* Freed with messages unread, by both ends: nothing is left. */
	kin_chan_free(b);
	kin_chan_free(a);
	ASSERT_EQ(test_count_fds(), fds);
}

struct oob_sender {
	kin_chan *c;
	const uint8_t *buf;
	int count;
	int err;
	int max_fds; /* the most fds the process had after a send */
};

static void *send_oob(void *arg)
{
	struct oob_sender *s = arg;
	for (int i = 0; i < s->count && s->err == 0; i++) {
		s->err = kin_chan_send_bytes(s->c, s->buf, MIB, LONG_WAIT);
		int n = test_count_fds();
		if (n > s->max_fds)
			s->max_fds = n;
	}
	return NULL;
}

TEST_TIMEOUT(chan_oob_senders_wait_for_a_slow_reader, 60)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_set_max_inflight(a, 4 * MIB));
	uint8_t *buf = malloc(MIB);
	ASSERT(buf);
	fill(buf, MIB, 3);
	struct oob_sender s[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		s[i] = (struct oob_sender){.c = a, .buf = buf, .count = 8};
		ASSERT_EQ(pthread_create(&t[i], NULL, send_oob, &s[i]), 0);
	}
	/* Reads slowly, so the senders spend most of their time waiting. */
	for (int i = 0; i < 24; i++) {
		usleep(5 * 1000);
		kin_msg m = KIN_MSG_INIT;
		recv_ok(b, &m);
		ASSERT(m.len == MIB && check(m.data, MIB, 3));
		kin_msg_release(&m);
	}
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(pthread_join(t[i], NULL), 0);
		ASSERT_OK(s[i].err);
		/* The pair, four memfds in flight, and at most one being made
		 * by each of the other two senders. */
		ASSERT(s[i].max_fds <= fds + 2 + 4 + 2);
	}
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &m, 0), -EAGAIN);
	free(buf);
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_oob_dropped_messages_count_as_taken)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_set_max_inflight(a, 2 * MIB));
	ASSERT_OK(kin_chan_set_max_message(b, 1000));
	uint8_t *buf = calloc(1, MIB);
	ASSERT(buf);
	ASSERT_EQ(send_until_full(a, buf, MIB), 2);
	/* Over the receiver's maximum: dropped, and the sender has room. */
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(b, &m, LONG_WAIT), -EMSGSIZE);
	ASSERT_EQ(kin_chan_recv(b, &m, LONG_WAIT), -EMSGSIZE);
	ASSERT_EQ(send_until_full(a, buf, MIB), 2);
	ASSERT_EQ(test_count_fds(), fds + 2 + 2);
	free(buf);
	kin_chan_free(b);
	kin_chan_free(a);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_oob_peer_freeing_unread_ends_the_wait)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_set_max_inflight(a, 2 * MIB));
	uint8_t *buf = calloc(1, MIB);
	ASSERT(buf);
	ASSERT_EQ(send_until_full(a, buf, MIB), 2);
	/* The reader frees its end with both unread while a send waits for
	 * room without a deadline: the send ends, -EPIPE, not a hang. */
	struct later l = {.c = b, .what = 2};
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, act_later, &l), 0);
	ASSERT_EQ(kin_chan_send_bytes(a, buf, MIB, KIN_FOREVER), -EPIPE);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	/* What was in flight is let go: only a's socket is left. */
	ASSERT_EQ(test_count_fds(), fds + 1);
	ASSERT_EQ(kin_chan_send_bytes(a, buf, MIB, 0), -EPIPE);
	ASSERT_EQ(kin_chan_send_bytes(a, "x", 1, 0), -EPIPE);
	kin_chan_free(a);

	/* The same with a full budget and no deadline given at all. */
	ASSERT_OK(kin_chan_pair(&a, &b));
	ASSERT_OK(kin_chan_set_max_inflight(a, MIB));
	ASSERT_OK(kin_chan_send_bytes(a, buf, MIB, 0));
	kin_chan_free(b);
	ASSERT_EQ(kin_chan_send_bytes(a, buf, MIB, 0), -EPIPE);
	ASSERT_EQ(test_count_fds(), fds + 1);
	kin_chan_free(a);
	free(buf);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_oob_taken_means_the_offset_moved)
{
	/* The receiver's side of the contract (docs/protocol.md 4.3): a
	 * memfd arrives at offset 0 and kin_chan_recv moves it on every path
	 * that disposes of it. A raw receiver that does not leaves the kin
	 * sender out of room. */
	int fds = test_count_fds();
	int raw;
	kin_chan *c = raw_pair(&raw);
	ASSERT_OK(kin_chan_set_max_inflight(c, MIB));
	uint8_t *buf = calloc(1, MIB);
	ASSERT(buf);
	ASSERT_OK(kin_chan_send_bytes(c, buf, MIB, 0));
	ASSERT_EQ(kin_chan_send_bytes(c, buf, MIB, 0), -EAGAIN);
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	uint8_t h[12];
	struct iovec v = {.iov_base = h, .iov_len = sizeof(h)};
	struct msghdr mh = {.msg_iov = &v,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl)};
	ASSERT_EQ(recvmsg(raw, &mh, MSG_CMSG_CLOEXEC), 12);
	int memfd;
	memcpy(&memfd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	ASSERT_EQ(lseek(memfd, 0, SEEK_CUR), 0);
	ASSERT_EQ(kin_chan_send_bytes(c, buf, MIB, 0), -EAGAIN); /* received is not taken */
	ASSERT_OK(lseek(memfd, 1, SEEK_SET) == 1 ? 0 : -errno);
	ASSERT_OK(kin_chan_send_bytes(c, buf, MIB, 0));
	close(memfd);
	kin_chan_free(c);
	close(raw);
	free(buf);

	/* kin_chan_recv moves it: delivered, over the maximum, malformed. */
	int mfd = make_memfd(100, ALL_SEALS);
	c = raw_pair(&raw);
	header(h, 0x6B, 1, 0, 0, 0, 100);
	raw_send(raw, h, 12, &mfd, 1);
	kin_msg m = KIN_MSG_INIT;
	recv_ok(c, &m);
	kin_msg_release(&m);
	ASSERT(lseek(mfd, 0, SEEK_CUR) != 0);
	ASSERT_EQ(lseek(mfd, 0, SEEK_SET), 0);
	ASSERT_OK(kin_chan_set_max_message(c, 99));
	raw_send(raw, h, 12, &mfd, 1);
	ASSERT_EQ(kin_chan_recv(c, &m, LONG_WAIT), -EMSGSIZE);
	ASSERT(lseek(mfd, 0, SEEK_CUR) != 0);
	kin_chan_free(c);
	close(raw);
	ASSERT_EQ(lseek(mfd, 0, SEEK_SET), 0);
	header(h, 0x6B, 1, 0, 0, 0, 99); /* the wrong length */
	expect_rejected(h, 12, &mfd, 1);
	ASSERT(lseek(mfd, 0, SEEK_CUR) != 0);
	ASSERT_EQ(lseek(mfd, 0, SEEK_SET), 0);
	header(h, 0x6B, 1, 0, 0, 1, 100); /* reserved bits: the header fails */
	expect_rejected(h, 12, &mfd, 1);
	ASSERT(lseek(mfd, 0, SEEK_CUR) != 0);
	close(mfd);
	ASSERT_EQ(test_count_fds(), fds);
}

/* ---- what a hostile peer may send */

TEST(chan_rejects_bad_magic_flags_and_reserved)
{
	uint8_t h[16] = {0};
	header(h, 'K', 0, 0, 0, 0, 4);
	memcpy(h + 12, "abcd", 4);
	expect_rejected(h, 16, NULL, 0);
	header(h, 0x6B, 0x02, 0, 0, 0, 4);
	expect_rejected(h, 16, NULL, 0);
	header(h, 0x6B, 0, 0, 0, 1, 4);
	expect_rejected(h, 16, NULL, 0);
}

TEST(chan_rejects_truncated_and_empty_records)
{
	uint8_t h[12];
	header(h, 0x6B, 0, 0, 0, 0, 0);
	expect_rejected(h, 11, NULL, 0);
	expect_rejected(h, 1, NULL, 0);
	/* A zero-length record is not the end of the stream. */
	expect_rejected(h, 0, NULL, 0);
	/* Nor is one with fds but no bytes. */
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	expect_rejected(h, 0, p, 2);
	close(p[0]);
	close(p[1]);
}

TEST(chan_rejects_length_mismatch)
{
	uint8_t rec[12 + 10];
	memset(rec, 'x', sizeof(rec));
	header(rec, 0x6B, 0, 0, 0, 0, 11);
	expect_rejected(rec, sizeof(rec), NULL, 0);
	header(rec, 0x6B, 0, 0, 0, 0, 9);
	expect_rejected(rec, sizeof(rec), NULL, 0);
	header(rec, 0x6B, 0, 0, 0, 0, 70000);
	expect_rejected(rec, sizeof(rec), NULL, 0);
	/* Longer than any inline record may be: truncated on receipt. */
	size_t n = 12 + 65537;
	uint8_t *big = calloc(1, n);
	header(big, 0x6B, 0, 0, 0, 0, 65537);
	expect_rejected(big, n, NULL, 0);
	free(big);
}

TEST(chan_rejects_wrong_fd_counts)
{
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	uint8_t h[12];
	header(h, 0x6B, 0, 2, 0, 0, 0);
	expect_rejected(h, 12, p, 1); /* says 2, carries 1 */
	header(h, 0x6B, 0, 1, 0, 0, 0);
	expect_rejected(h, 12, p, 2); /* says 1, carries 2 */
	header(h, 0x6B, 0, 0, 0, 0, 0);
	expect_rejected(h, 12, p, 1); /* says none */
	close(p[0]);
	close(p[1]);
}

TEST(chan_rejects_too_many_fds)
{
	/* 253 is the kernel's SCM_MAX_FD, more than the receiver makes room
	 * for: the control data arrives truncated (MSG_CTRUNC). */
	int fds[253];
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < 253; i++)
		fds[i] = null;
	uint8_t h[12];
	header(h, 0x6B, 0, 253, 0, 0, 0);
	expect_rejected(h, 12, fds, 253);
	header(h, 0x6B, 0, 252, 0, 0, 0);
	expect_rejected(h, 12, fds, 252);
	close(null);
}

TEST(chan_rejects_non_socket_as_chan)
{
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	uint8_t h[12];
	header(h, 0x6B, 0, 0, 1, 0, 0);
	expect_rejected(h, 12, p, 1);
	int sv[2];
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	expect_rejected(h, 12, sv, 1);
	close(sv[0]);
	close(sv[1]);
	/* A good chan after a bad one: still refused, and both closed. */
	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	int two[] = {sv[0], p[0]};
	header(h, 0x6B, 0, 0, 2, 0, 0);
	expect_rejected(h, 12, two, 2);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

TEST(chan_rejects_bad_oob)
{
	uint8_t h[16] = {0};
	/* Bogus lengths against a properly sealed memfd. */
	int good = make_memfd(100, ALL_SEALS);
	header(h, 0x6B, 1, 0, 0, 0, 101);
	expect_rejected(h, 12, &good, 1);
	header(h, 0x6B, 1, 0, 0, 0, 99);
	expect_rejected(h, 12, &good, 1);
	header(h, 0x6B, 1, 0, 0, 0, 0);
	expect_rejected(h, 12, &good, 1);
	/* OOB with bytes inline as well. */
	header(h, 0x6B, 1, 0, 0, 0, 100);
	expect_rejected(h, 16, &good, 1);
	/* OOB without its memfd. */
	expect_rejected(h, 12, NULL, 0);
	/* Unsealed, or missing one seal. */
	int unsealed = make_memfd(100, 0);
	expect_rejected(h, 12, &unsealed, 1);
	int no_write_seal = make_memfd(100, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW);
	expect_rejected(h, 12, &no_write_seal, 1);
	/* Not a memfd at all. */
	int p[2];
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	expect_rejected(h, 12, &p[0], 1);
	close(p[0]);
	close(p[1]);

	/* The same sealed memfd with the right length is accepted, even for
	 * a payload small enough to have gone inline. */
	int raw;
	kin_chan *c = raw_pair(&raw);
	ASSERT_EQ(pwrite(good, "x", 1, 0), -1); /* sealed: no more writes */
	ASSERT_EQ(errno, EPERM);
	raw_send(raw, h, 12, &good, 1);
	kin_msg m = KIN_MSG_INIT;
	recv_ok(c, &m);
	ASSERT_EQ(m.len, 100);
	ASSERT_EQ(m.priv_mapped, 100);
	kin_msg_release(&m);
	kin_chan_free(c);
	close(raw);
	close(good);
	close(unsealed);
	close(no_write_seal);
}

TEST(chan_rejects_foreign_control_messages)
{
	/* Credentials the receiver never asked for: not SCM_RIGHTS. */
	int raw;
	kin_chan *c = raw_pair(&raw);
	int on = 1;
	ASSERT_OK(setsockopt(kin_chan_fd(c), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)));
	uint8_t h[12];
	header(h, 0x6B, 0, 0, 0, 0, 0);
	raw_send(raw, h, 12, NULL, 0);
	kin_msg m = KIN_MSG_INIT;
	ASSERT_EQ(kin_chan_recv(c, &m, LONG_WAIT), -EPROTO);
	kin_chan_free(c);
	close(raw);
}

/* ---- threads */

#define SENDERS 4
#define PER_SENDER 1000

struct sender {
	kin_chan *c;
	int index;
	int err;
};

static size_t msg_size(int sender, int seq)
{
	/* Mostly small, every 97th out of band. */
	return seq % 97 == 0 ? 70000 : 16 + (size_t)((sender * 131 + seq * 17) % 3000);
}

static void *send_many(void *arg)
{
	struct sender *s = arg;
	uint8_t *buf = malloc(70000);
	for (int i = 0; i < PER_SENDER && !s->err; i++) {
		size_t n = msg_size(s->index, i);
		fill(buf, n, (unsigned)(s->index * PER_SENDER + i));
		buf[0] = (uint8_t)s->index;
		memcpy(buf + 1, &i, sizeof(i));
		s->err = kin_chan_send_bytes(s->c, buf, n, LONG_WAIT);
	}
	free(buf);
	return NULL;
}

TEST_TIMEOUT(chan_concurrent_senders_never_interleave, 60)
{
	int fds = test_count_fds();
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	pthread_t t[SENDERS];
	struct sender s[SENDERS];
	for (int i = 0; i < SENDERS; i++) {
		s[i] = (struct sender){.c = a, .index = i};
		ASSERT_EQ(pthread_create(&t[i], NULL, send_many, &s[i]), 0);
	}
	int next[SENDERS] = {0};
	for (int k = 0; k < SENDERS * PER_SENDER; k++) {
		kin_msg m = KIN_MSG_INIT;
		recv_ok(b, &m);
		ASSERT(m.len >= 5);
		int who = ((uint8_t *)m.data)[0], seq;
		memcpy(&seq, (uint8_t *)m.data + 1, sizeof(seq));
		ASSERT(who >= 0 && who < SENDERS);
		ASSERT_EQ(seq, next[who]); /* each sender's messages in its order */
		next[who]++;
		ASSERT_EQ(m.len, msg_size(who, seq));
		ASSERT(check_from((uint8_t *)m.data + 5, m.len - 5, 5,
				  (unsigned)(who * PER_SENDER + seq)));
		kin_msg_release(&m);
	}
	for (int i = 0; i < SENDERS; i++) {
		ASSERT_EQ(pthread_join(t[i], NULL), 0);
		ASSERT_OK(s[i].err);
		ASSERT_EQ(next[i], PER_SENDER);
	}
	kin_chan_free(a);
	kin_chan_free(b);
	ASSERT_EQ(test_count_fds(), fds);
}

TEST(chan_concurrent_receivers_share_the_messages)
{
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	struct slow_reader r[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		r[i] = (struct slow_reader){.c = b};
		ASSERT_EQ(pthread_create(&t[i], NULL, read_slowly, &r[i]), 0);
	}
	uint8_t buf[300];
	fill(buf, sizeof(buf), 1);
	for (int i = 0; i < 3000; i++)
		ASSERT_OK(kin_chan_send_bytes(a, buf, sizeof(buf), LONG_WAIT));
	kin_chan_free(a);
	int total = 0;
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(pthread_join(t[i], NULL), 0);
		total += r[i].got;
	}
	ASSERT_EQ(total, 3000);
	kin_chan_free(b);
}

/* ---- events */

struct readable {
	int messages, closed, errors, calls;
	kin_chan *chan;
};

static void on_message(kin_chan *c, void *userdata)
{
	struct readable *st = userdata;
	st->calls++;
	kin_msg m = KIN_MSG_INIT;
	int r = kin_chan_recv(c, &m, 0);
	if (r == 0) {
		st->messages++;
		kin_msg_release(&m);
	} else if (r == KIN_CLOSED) {
		st->closed++;
		kin_chan_on_readable(c, NULL, NULL, NULL);
	} else {
		st->errors++;
	}
}

TEST(chan_on_readable_fires_from_the_loop)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	struct readable st = {0};
	ASSERT_OK(kin_chan_on_readable(b, loop, on_message, &st));
	/* Nothing waiting yet: the loop times out without a call. */
	ASSERT_EQ(kin_loop_run(loop, kin_after(20 * KIN_MSEC)), -ETIMEDOUT);
	ASSERT_EQ(st.calls, 0);
	for (int i = 0; i < 3; i++)
		ASSERT_OK(kin_chan_send_bytes(a, "e", 1, 0));
	kin_chan_free(a);
	/* The callback stops its own watch at the close; then the loop has
	 * nothing left to wait for and returns. */
	ASSERT(kin_loop_run(loop, LONG_WAIT) >= 4);
	ASSERT_EQ(st.messages, 3);
	ASSERT_EQ(st.closed, 1);
	ASSERT_EQ(st.errors, 0);
	kin_chan_free(b);
	test_loop_finish(loop, fds);
}

TEST(chan_on_readable_reports_a_failure_once)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	int raw;
	kin_chan *c = raw_pair(&raw);
	struct readable st = {0};
	ASSERT_OK(kin_chan_on_readable(c, loop, on_message, &st));
	raw_send(raw, "garbage!!!!!!", 13, NULL, 0);
	/* The callback sees -EPROTO, never stops the watch itself, and yet
	 * the loop ends: a failed chan does not spin. */
	ASSERT(kin_loop_run(loop, LONG_WAIT) >= 1);
	ASSERT(st.errors >= 1 && st.errors <= 2);
	ASSERT_EQ(st.messages, 0);
	ASSERT_EQ(kin_chan_on_readable(c, loop, on_message, &st), -EPROTO);
	kin_chan_free(c);
	close(raw);
	test_loop_finish(loop, fds);
}

static void free_in_callback(kin_chan *c, void *userdata)
{
	int *calls = userdata;
	(*calls)++;
	kin_chan_free(c);
}

TEST(chan_free_inside_callback_and_loop_freed_first)
{
	int fds;
	kin_loop *loop = test_loop_start(&fds);
	kin_chan *a, *b;
	ASSERT_OK(kin_chan_pair(&a, &b));
	int calls = 0;
	ASSERT_OK(kin_chan_on_readable(b, loop, free_in_callback, &calls));
	ASSERT_OK(kin_chan_send_bytes(a, "bye", 3, 0));
	ASSERT(kin_loop_run(loop, LONG_WAIT) >= 1);
	ASSERT_EQ(calls, 1);

	/* A loop freed while a chan still watches on it: the chan outlives
	 * it and can still be used and freed. */
	kin_loop *other;
	ASSERT_OK(kin_loop_new(&other));
	ASSERT_OK(kin_chan_on_readable(a, other, free_in_callback, &calls));
	kin_loop_free(other);
	kin_chan *c, *d;
	ASSERT_OK(kin_chan_pair(&c, &d));
	ASSERT_OK(kin_chan_send_bytes(c, "still", 5, 0));
	expect_text(d, "still");
	/* And it can move to another loop. */
	ASSERT_OK(kin_chan_on_readable(a, loop, free_in_callback, &calls));
	ASSERT_OK(kin_chan_on_readable(a, NULL, NULL, NULL));
	ASSERT_EQ(kin_loop_run(loop, 0), 0); /* nothing watched: returns at once */
	kin_chan_free(a);
	kin_chan_free(c);
	kin_chan_free(d);
	test_loop_finish(loop, fds);
}
