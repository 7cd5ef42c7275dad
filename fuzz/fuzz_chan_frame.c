/* Fuzz target: the chan frame decoder, through a real socket. Each input
 * describes one record a hostile peer sends, fds included:
 *
 *   byte 0   bits 0-3: how many fds to attach (0-15)
 *            bit 4:    attach 253 fds instead (the kernel's most; more
 *                      than a receiver makes room for)
 *            bit 5:    the receiver accepts at most 16 bytes
 *   then     one byte per attached fd, choosing its kind (enum below)
 *   the rest the record itself: header and payload
 *
 * The record goes out on a raw SOCK_SEQPACKET socketpair whose other end
 * is a kin_chan, followed by a valid one-byte message. kin_chan_recv must
 * then give a well-formed message, -EMSGSIZE or -EPROTO, and nothing else;
 * after the first two the valid message must come next, intact; after
 * -EPROTO the chan must stay failed. And no fd may be left open. */
#include "kin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fd_kind {
	K_PIPE_READ,
	K_PIPE_WRITE,
	K_SEQPACKET,  /* a proper chan endpoint */
	K_STREAM,     /* a unix socket of the wrong type */
	K_MEMFD,      /* sealed, as long as the header says */
	K_MEMFD_LONG, /* sealed, one byte longer than the header says */
	K_MEMFD_OPEN, /* the right length, not sealed */
	K_DEV_NULL,
	K_KINDS,
};

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		abort();
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* The header's length field, or 0 for a record too short to have one. */
static uint32_t declared_length(const uint8_t *rec, size_t n)
{
	if (n < 12)
		return 0;
	return rec[8] | (uint32_t)rec[9] << 8 | (uint32_t)rec[10] << 16 | (uint32_t)rec[11] << 24;
}

static int make_memfd(size_t size, unsigned seals)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    (seals && fcntl(fd, F_ADD_SEALS, seals) < 0))
		abort();
	return fd;
}

/* One fd of the given kind; the caller sends it and then closes it. */
static int make_fd(enum fd_kind kind, uint32_t len)
{
	int p[2], keep;
	/* Sparse, so a large declared length costs nothing; a huge one is
	 * made wrong instead. */
	size_t size = len <= (1u << 20) ? len : 1;
	switch (kind) {
	case K_PIPE_READ:
	case K_PIPE_WRITE:
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		keep = kind == K_PIPE_READ ? 0 : 1;
		close(p[1 - keep]);
		return p[keep];
	case K_SEQPACKET:
	case K_STREAM:
		if (socketpair(AF_UNIX,
			       (kind == K_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC,
			       0, p) < 0)
			abort();
		close(p[1]);
		return p[0];
	case K_MEMFD:
		return make_memfd(size, SEALS);
	case K_MEMFD_LONG:
		return make_memfd(size + 1, SEALS);
	case K_MEMFD_OPEN:
		return make_memfd(size, 0);
	default:
		break;
	}
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		abort();
	return fd;
}

static int raw_send(int sock, const void *rec, size_t n, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 253)];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec v = {.iov_base = (void *)(uintptr_t)rec, .iov_len = n};
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
	return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n ? 0 : -1;
}

/* Every byte of a received message is read, so the sanitizers see any
 * bound kin got wrong; every fd and chan must be real. */
static void inspect(const kin_msg *m)
{
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < m->len; i++)
		sum ^= ((const uint8_t *)m->data)[i];
	(void)sum;
	if ((m->len && !m->data) || m->nfds + m->nchans > KIN_CHAN_MAX_FDS)
		abort();
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i] < 3 || !(fcntl(m->fds[i], F_GETFD) & FD_CLOEXEC))
			abort();
	for (size_t i = 0; i < m->nchans; i++)
		if (!m->chans[i] || kin_chan_fd(m->chans[i]) < 3)
			abort();
}

static void expect_sentinel(kin_chan *c)
{
	kin_msg m = KIN_MSG_INIT;
	if (kin_chan_recv(c, &m, 0) != 0 || m.len != 1 || ((const char *)m.data)[0] != '!' ||
	    m.nfds || m.nchans)
		abort();
	kin_msg_release(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int base = count_fds();

	unsigned ctl = data[0];
	size_t nkinds = ctl & 0x0f;
	if (1 + nkinds > size)
		nkinds = size - 1;
	const uint8_t *kinds = data + 1;
	const uint8_t *rec = kinds + nkinds;
	size_t n = size - 1 - nkinds;
	uint32_t len = declared_length(rec, n);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	kin_chan *c;
	if (kin_chan_from_fd(sv[0], &c) < 0)
		abort();
	if ((ctl & 0x20) && kin_chan_set_max_message(c, 16) < 0)
		abort();

	int fds[253];
	size_t nfds;
	if (ctl & 0x10) {
		nfds = 253;
		fds[0] = make_fd(K_DEV_NULL, 0);
		for (size_t i = 1; i < nfds; i++)
			fds[i] = fds[0];
	} else {
		nfds = nkinds;
		for (size_t i = 0; i < nfds; i++)
			fds[i] = make_fd((enum fd_kind)(kinds[i] % K_KINDS), len);
	}
	/* A record the kernel refuses (none can be too big here) is skipped. */
	bool sent = raw_send(sv[1], rec, n, fds, nfds) == 0;
	for (size_t i = 0; i < nfds; i++)
		if (!(ctl & 0x10) || i == 0)
			close(fds[i]);
	static const uint8_t sentinel[13] = {0x6b, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, '!'};
	if (raw_send(sv[1], sentinel, sizeof(sentinel), NULL, 0) < 0)
		abort();

	kin_msg m = KIN_MSG_INIT;
	int r = sent ? kin_chan_recv(c, &m, 0) : 0;
	if (!sent) {
		expect_sentinel(c);
	} else if (r == 0) {
		inspect(&m);
		kin_msg_release(&m);
		expect_sentinel(c);
	} else if (r == -EMSGSIZE) {
		if (!(ctl & 0x20) || kin_chan_fd(c) < 0)
			abort();
		expect_sentinel(c);
	} else if (r == -EPROTO) {
		if (kin_chan_fd(c) != -1 || kin_chan_recv(c, &m, 0) != -EPROTO ||
		    kin_chan_send_bytes(c, "x", 1, 0) != -EPROTO)
			abort();
	} else {
		abort(); /* KIN_CLOSED, -EAGAIN or anything else: wrong */
	}
	if (m.data || m.fds || m.chans)
		abort();

	kin_chan_free(c);
	close(sv[1]);
	if (count_fds() != base)
		abort();
	return 0;
}
