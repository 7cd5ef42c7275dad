/* kin_chan: messages of bytes, fds and other chans over an AF_UNIX
 * SOCK_SEQPACKET socket, one record per message (the frame is in chan.h).
 *
 * A SEQPACKET record is sent and received whole by one syscall, so
 * concurrent senders never interleave and each record reaches exactly one
 * receiver, without a lock. The shared state a call changes is `failed`,
 * an atomic flag, and, for payloads sent out of band only, the ledger of
 * what is in flight (inflight.c), which has a mutex of its own.
 *
 * The socket is left blocking, and every call that may not wait passes
 * MSG_DONTWAIT. A call with no deadline (KIN_FOREVER) then sleeps inside
 * sendmsg or recvmsg itself, one syscall per message as in plain blocking
 * I/O, where a non-blocking socket costs a failed attempt, a poll() and
 * the attempt again. That cut kin's overhead on a round trip between two
 * processes from 25-30% over raw send/recv to 10-15% (bench/chan.c,
 * chan_rtt). If someone sharing the open file turns O_NONBLOCK on, such a
 * call takes the poll() path instead and still waits. */
#include "chan.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* Records up to this size are gathered into one buffer before they are
 * sent. The kernel copies a single buffer markedly faster than an iovec
 * array (here sendmsg with header and payload as two iovecs cost about a
 * quarter more CPU per 64 B message than send of one buffer), and copying
 * a few KiB ourselves costs less than that difference. */
#define GATHER_MAX 4096

struct kin_chan {
	int fd;
	/* Set once the peer broke the protocol. The socket is then shut down
	 * (waking every thread waiting on it) but stays open until
	 * kin_chan_free, so its number cannot be reused under those threads. */
	atomic_bool failed;
	_Atomic size_t max;
	/* Out-of-band payloads this end sent that the peer has not taken. */
	kin__oob_ledger oob;

	/* kin_chan_on_readable; these belong to the loop's thread. While
	 * there is a watch, `link` sits in loop->procs so that a
	 * kin_loop_free coming first frees the watch and tells us. */
	kin_loop *loop;
	kin_watch *watch;
	kin__link link;
	kin_chan_cb cb;
	void *userdata;
};

/* The control buffer holds one more fd than a message may carry: the
 * memfd of an out-of-band payload. A peer that sends more makes the kernel
 * set MSG_CTRUNC, which is a protocol error. */
#define CTL_FDS (KIN_CHAN_MAX_FDS + 1)
typedef union chan_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * CTL_FDS)];
} chan_ctl;
/* More than the kernel can ever install from one chan_ctl (alignment
 * padding leaves room for a spare fd or so), so none goes uncounted. */
#define RECV_FDS (sizeof(chan_ctl) / sizeof(int))

static int chan_new(int fd, kin_chan **ret)
{
	kin_chan *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = fd;
	atomic_init(&c->failed, false);
	atomic_init(&c->max, KIN_CHAN_DEFAULT_MAX);
	kin__oob_init(&c->oob);
	kin__list_init(&c->link);
	*ret = c;
	return 0;
}

/* Frees what chan_new made; the socket is the caller's business. */
static void chan_discard(kin_chan *c)
{
	if (!c)
		return;
	kin__oob_destroy(&c->oob);
	free(c);
}

static void chan_fail(kin_chan *c)
{
	if (!atomic_exchange(&c->failed, true))
		(void)shutdown(c->fd, SHUT_RDWR);
}

static bool chan_failed(const kin_chan *c)
{
	return atomic_load_explicit(&c->failed, memory_order_relaxed);
}

static bool deadline_passed(kin_time deadline)
{
	return deadline <= 0 || (deadline != KIN_FOREVER && kin_now() >= deadline);
}

int kin_chan_pair(kin_chan **a, kin_chan **b)
{
	if (!a || !b)
		return -EINVAL;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	kin_chan *ca = NULL, *cb = NULL;
	int r = 0;
	sv[0] = kin__fd_above_stdio(sv[0]);
	sv[1] = kin__fd_above_stdio(sv[1]);
	if (sv[0] < 0 || sv[1] < 0)
		r = -errno;
	if (r == 0 && (r = chan_new(sv[0], &ca)) == 0 && (r = chan_new(sv[1], &cb)) < 0) {
		chan_discard(ca);
		ca = NULL;
	}
	if (r < 0) {
		kin__close(sv[0]);
		kin__close(sv[1]);
		return r;
	}
	*a = ca;
	*b = cb;
	return 0;
}

int kin_chan_from_fd(int fd, kin_chan **ret)
{
	if (!ret)
		return -EINVAL;
	int domain, type;
	socklen_t len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno; /* -ENOTSOCK for a pipe or a file, -EBADF */
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (domain != AF_UNIX || type != SOCK_SEQPACKET)
		return -EPROTOTYPE;
	int fdflags = fcntl(fd, F_GETFD);
	if (fdflags < 0)
		return -errno;
	kin_chan *c;
	int r = chan_new(fd, &c);
	if (r < 0)
		return r;
	if (!(fdflags & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0) {
		r = -errno;
		chan_discard(c);
		return r;
	}
	/* Blocking, for the one-syscall wait above; nothing depends on it. */
	(void)kin__set_nonblock(fd, false);
	*ret = c;
	return 0;
}

int kin_chan_fd(const kin_chan *chan)
{
	return chan && !chan_failed(chan) ? chan->fd : -1;
}

int kin_chan_set_max_message(kin_chan *chan, size_t bytes)
{
	if (!chan || bytes == 0 || bytes > KIN_CHAN_MAX_MESSAGE)
		return -EINVAL;
	if (chan_failed(chan))
		return -EPROTO;
	atomic_store(&chan->max, bytes);
	return 0;
}

int kin_chan_set_max_inflight(kin_chan *chan, size_t bytes)
{
	if (!chan || bytes == 0)
		return -EINVAL;
	if (chan_failed(chan))
		return -EPROTO;
	atomic_store(&chan->oob.budget, bytes);
	return 0;
}

/* ---------------------------------------------------------------- sending */

/* Gathers the fds a message carries, plain fds then chans, into out[],
 * refusing what could not be moved safely: after a successful send each of
 * them is closed once, so one fd named twice would close whatever another
 * thread opened under that number in between. */
static int gather_fds(const kin_chan *chan, const kin_msg *attach, int *out)
{
	size_t n = 0;
	for (size_t i = 0; i < attach->nfds; i++) {
		if (attach->fds[i] < 0)
			return -EBADF;
		out[n++] = attach->fds[i];
	}
	for (size_t i = 0; i < attach->nchans; i++) {
		const kin_chan *c = attach->chans[i];
		if (!c || c == chan)
			return -EINVAL;
		if (chan_failed(c))
			return -EPROTO;
		out[n++] = c->fd;
	}
	for (size_t i = 0; i < n; i++) {
		if (out[i] == chan->fd)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (out[j] == out[i])
				return -EINVAL;
	}
	return (int)n;
}

/* Copies the payload into a sealed memfd: the receiver then maps it, and
 * the seals guarantee that what it maps can no longer change under it. */
static int make_memfd(const struct iovec *iov, int iovcnt)
{
	/* MFD_NOEXEC_SEAL (Linux 6.3) keeps newer kernels from warning about
	 * an executable memfd, and is required where vm.memfd_noexec says so;
	 * older kernels refuse the flag. */
	int fd = memfd_create("kin-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("kin-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	fd = kin__fd_above_stdio(fd);
	if (fd < 0)
		return -errno;
	/* pwrite, so that the file offset is still 0 when the memfd goes:
	 * the receiver moves it to say it took the payload (inflight.c). */
	int r = 0;
	off_t at = 0;
	for (int i = 0; i < iovcnt && r == 0; i++) {
		const char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left > 0) {
			ssize_t w = pwrite(fd, p, left, at);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				r = w < 0 ? -errno : -EIO;
				break;
			}
			p += w;
			at += w;
			left -= (size_t)w;
		}
	}
	if (r == 0 && fcntl(fd, F_ADD_SEALS, KIN__FRAME_SEALS) < 0)
		r = -errno;
	if (r < 0) {
		kin__close(fd);
		return r;
	}
	return fd;
}

/* waited: the caller already waited for this send (for room out of band),
 * so a deadline that passes now is -ETIMEDOUT, not -EAGAIN. */
static int send_record(kin_chan *chan, struct iovec *v, int nv, const int *fds, size_t nfds,
		       kin_time deadline, bool waited)
{
	chan_ctl ctl;
	struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)nv};
	if (nfds) {
		memset(ctl.buf, 0, CMSG_SPACE(nfds * sizeof(int)));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	int flags = MSG_NOSIGNAL | (deadline == KIN_FOREVER ? 0 : MSG_DONTWAIT);
	for (;;) {
		/* A SEQPACKET record goes whole or not at all: no short sends. */
		ssize_t w = nfds == 0 && nv == 1
				    ? send(chan->fd, v[0].iov_base, v[0].iov_len, flags)
				    : sendmsg(chan->fd, &mh, flags);
		if (w >= 0)
			return 0;
		int err = errno;
		if (err == EINTR)
			continue;
		/* Our own shutdown (another thread saw a malformed record)
		 * also shows up as EPIPE. */
		if (chan_failed(chan))
			return -EPROTO;
		/* A peer that closed with our messages unread leaves
		 * ECONNRESET behind once; either way it is gone. */
		if (err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ECONNREFUSED)
			return -EPIPE;
		if (err != EAGAIN)
			return -err;
		if (!waited && deadline_passed(deadline))
			return -EAGAIN;
		int pr = kin__poll_fd(chan->fd, POLLOUT, deadline);
		if (pr < 0)
			return pr;
		waited = true;
	}
}

int kin__chan_sendv(kin_chan *chan, const struct iovec *iov, int iovcnt, const kin_msg *attach,
		    kin_time deadline)
{
	if (!chan || iovcnt < 0 || iovcnt > KIN__CHAN_MAX_IOV || (iovcnt > 0 && !iov))
		return -EINVAL;
	if (chan_failed(chan))
		return -EPROTO;
	static const kin_msg none = KIN_MSG_INIT;
	if (!attach)
		attach = &none;
	if (attach->nfds > KIN_CHAN_MAX_FDS || attach->nchans > KIN_CHAN_MAX_FDS - attach->nfds ||
	    (attach->nfds && !attach->fds) || (attach->nchans && !attach->chans))
		return -EINVAL;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return -EINVAL;
		if (iov[i].iov_len > SIZE_MAX - len)
			return -EMSGSIZE;
		len += iov[i].iov_len;
	}
	if (len > atomic_load(&chan->max))
		return -EMSGSIZE;
	int fds[CTL_FDS];
	int nfds = gather_fds(chan, attach, fds);
	if (nfds < 0)
		return nfds;

	kin__frame f = {
		.oob = len > KIN__FRAME_INLINE_MAX,
		.nfds = (uint16_t)attach->nfds,
		.nchans = (uint16_t)attach->nchans,
		.length = (uint32_t)len,
	};
	uint8_t small[GATHER_MAX];
	struct iovec v[KIN__CHAN_MAX_IOV + 1];
	v[0] = (struct iovec){.iov_base = small, .iov_len = KIN__FRAME_HEADER};
	kin__frame_encode(&f, small);
	int nv = 1;
	int memfd = -1;
	bool waited = false;
	if (f.oob) {
		/* Room in the budget first, then the memfd: a sender kept
		 * waiting holds no payload of its own meanwhile. */
		int r = kin__oob_reserve(&chan->oob, len, chan->fd, deadline);
		if (r < 0)
			return r == -EPIPE && chan_failed(chan) ? -EPROTO : r;
		waited = r > 0;
		memfd = make_memfd(iov, iovcnt);
		if (memfd < 0) {
			kin__oob_cancel(&chan->oob, len, false);
			return memfd;
		}
		fds[nfds++] = memfd;
	} else if (KIN__FRAME_HEADER + len <= sizeof(small)) {
		for (int i = 0; i < iovcnt; i++) {
			if (iov[i].iov_len)
				memcpy(small + v[0].iov_len, iov[i].iov_base, iov[i].iov_len);
			v[0].iov_len += iov[i].iov_len;
		}
	} else {
		for (int i = 0; i < iovcnt; i++)
			if (iov[i].iov_len)
				v[nv++] = iov[i];
	}
	int r = send_record(chan, v, nv, fds, (size_t)nfds, deadline, waited);
	if (memfd >= 0) {
		/* Sent, the memfd stays in the ledger until the peer takes it. */
		if (r == 0) {
			kin__oob_commit(&chan->oob, memfd, len);
		} else {
			kin__close(memfd);
			kin__oob_cancel(&chan->oob, len, r == -EPIPE);
		}
	}
	if (r < 0)
		return r;
	/* Moved: the receiver has its own copies now. */
	for (size_t i = 0; i < attach->nfds; i++)
		kin__close(attach->fds[i]);
	for (size_t i = 0; i < attach->nchans; i++)
		kin_chan_free(attach->chans[i]);
	return 0;
}

int kin_chan_send(kin_chan *chan, const kin_msg *msg, kin_time deadline)
{
	if (!msg)
		return -EINVAL;
	struct iovec v = {.iov_base = msg->data, .iov_len = msg->len};
	return kin__chan_sendv(chan, &v, 1, msg, deadline);
}

int kin_chan_send_bytes(kin_chan *chan, const void *data, size_t len, kin_time deadline)
{
	struct iovec v = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
	return kin__chan_sendv(chan, &v, 1, NULL, deadline);
}

/* ---------------------------------------------------------------- receiving */

static void close_all(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kin__close(fds[i]);
}

/* A record is being dropped unread; the peer must still learn that its
 * memfd was taken, or it would wait for room forever. The record may be
 * anything, so act only on what looks like an OOB record whose last fd
 * is a memfd (has seals), and never lseek a stranger's fd. */
static void drop_oob(const uint8_t *rec, size_t size, const int *fds, size_t n)
{
	if (size < 2 || !(rec[1] & KIN__FRAME_OOB) || n == 0 || fds[n - 1] < 0)
		return;
	if (fcntl(fds[n - 1], F_GET_SEALS) >= 0)
		kin__oob_mark_taken(fds[n - 1]);
}

/* Collects every fd the kernel installed with a record, whatever else is
 * wrong with it, so that none can leak. Returns the count; *odd is set if
 * anything but SCM_RIGHTS came along. */
static size_t collect_fds(struct msghdr *mh, int *fds, bool *odd)
{
	size_t n = 0;
	*odd = false;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0)) {
			*odd = true;
			continue;
		}
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(cm);
		for (size_t i = 0; i < k && n < RECV_FDS; i++)
			memcpy(&fds[n++], data + i * sizeof(int), sizeof(int));
	}
	return n;
}

/* Turns a checked record and its fds into *msg. Takes the fds: on failure
 * every one of them is closed. */
static int build_msg(const kin__frame *f, const uint8_t *rec, int *fds, size_t nfd, kin_msg *msg)
{
	kin_msg m = KIN_MSG_INIT;
	int r = -ENOMEM;
	if (f->oob) {
		/* Whether it is delivered or dropped below, the payload is
		 * ours now: the sender may stop counting it against its
		 * budget. */
		kin__oob_mark_taken(fds[nfd - 1]);
		/* Read-only: the seals forbid writes to the memfd anyway, and a
		 * private mapping shares the page cache until written. */
		void *p = mmap(NULL, f->length, PROT_READ, MAP_PRIVATE, fds[nfd - 1], 0);
		if (p == MAP_FAILED) {
			r = -errno;
			goto fail;
		}
		m.data = p;
		m.len = f->length;
		m.priv_mapped = f->length;
	} else if (f->length) {
		m.data = malloc(f->length);
		if (!m.data)
			goto fail;
		memcpy(m.data, rec + KIN__FRAME_HEADER, f->length);
		m.len = f->length;
	}
	if (f->nfds && !(m.fds = malloc(f->nfds * sizeof(int))))
		goto fail;
	if (f->nchans) {
		if (!(m.chans = calloc(f->nchans, sizeof(kin_chan *))))
			goto fail;
		for (size_t i = 0; i < f->nchans; i++)
			if (chan_new(fds[f->nfds + i], &m.chans[i]) < 0)
				goto fail;
	}
	/* Nothing can fail from here on: hand the fds over. */
	if (f->nfds)
		memcpy(m.fds, fds, f->nfds * sizeof(int));
	m.nfds = f->nfds;
	for (size_t i = 0; i < f->nchans; i++)
		(void)kin__set_nonblock(m.chans[i]->fd, false);
	m.nchans = f->nchans;
	if (f->oob)
		kin__close(fds[nfd - 1]);
	*msg = m;
	return 0;
fail:
	if (m.priv_mapped)
		munmap(m.data, m.priv_mapped);
	else
		free(m.data);
	free(m.fds);
	if (m.chans)
		for (size_t i = 0; i < f->nchans; i++)
			chan_discard(m.chans[i]); /* not kin_chan_free: the fd is closed below */
	free(m.chans);
	close_all(fds, nfd);
	return r;
}

/* One record has arrived (recvmsg returned `size`): check it and fill
 * *msg, or say why not. */
static int take_record(kin_chan *chan, const uint8_t *rec, size_t size, struct msghdr *mh,
		       kin_msg *msg)
{
	int fds[RECV_FDS];
	bool odd;
	size_t nfd = collect_fds(mh, fds, &odd);
	/* kin hands out no fd below 3 (see kin__fd_above_stdio). */
	int r = 0;
	for (size_t i = 0; i < nfd; i++) {
		fds[i] = kin__fd_above_stdio(fds[i]);
		if (fds[i] < 0 && r == 0)
			r = -errno;
	}
	if (r < 0) {
		drop_oob(rec, size, fds, nfd);
		for (size_t i = 0; i < nfd; i++)
			kin__close(fds[i]);
		return r;
	}

	if (size == 0 && nfd == 0 && !odd && !(mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		/* recvmsg says 0 both at end of stream and for an empty
		 * record, which no kin peer sends (every record has a header).
		 * Only a real end of stream leaves the socket shut down. */
		if (chan_failed(chan))
			return -EPROTO;
		struct pollfd p = {.fd = chan->fd, .events = POLLRDHUP};
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP)))
			return KIN_CLOSED;
		chan_fail(chan);
		return -EPROTO;
	}

	kin__frame f;
	if (odd || (mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		r = -EPROTO;
	else if ((r = kin__frame_decode(rec, size, &f)) == 0)
		r = kin__frame_check_fds(&f, fds, nfd);
	if (r < 0) {
		drop_oob(rec, size, fds, nfd);
		close_all(fds, nfd);
		chan_fail(chan);
		return -EPROTO;
	}
	if (f.length > atomic_load(&chan->max)) {
		if (f.oob)
			kin__oob_mark_taken(fds[nfd - 1]);
		close_all(fds, nfd);
		return -EMSGSIZE;
	}
	return build_msg(&f, rec, fds, nfd, msg);
}

int kin_chan_recv(kin_chan *chan, kin_msg *msg, kin_time deadline)
{
	if (!chan || !msg)
		return -EINVAL;
	/* Big enough for the largest inline record, so a longer one is
	 * MSG_TRUNC: malformed. */
	uint8_t rec[KIN__FRAME_HEADER + KIN__FRAME_INLINE_MAX];
	chan_ctl ctl;
	int flags = MSG_CMSG_CLOEXEC | (deadline == KIN_FOREVER ? 0 : MSG_DONTWAIT);
	bool waited = false;
	for (;;) {
		if (chan_failed(chan))
			return -EPROTO;
		struct iovec v = {.iov_base = rec, .iov_len = sizeof(rec)};
		struct msghdr mh = {
			.msg_iov = &v,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(chan->fd, &mh, flags);
		if (n >= 0)
			return take_record(chan, rec, (size_t)n, &mh, msg);
		int err = errno;
		if (err == EINTR)
			continue;
		if (chan_failed(chan))
			return -EPROTO;
		if (err != EAGAIN)
			return -err;
		if (!waited && deadline_passed(deadline))
			return -EAGAIN;
		int pr = kin__poll_fd(chan->fd, POLLIN, deadline);
		if (pr < 0)
			return pr;
		waited = true;
	}
}

void kin_msg_release(kin_msg *msg)
{
	if (!msg)
		return;
	if (msg->priv_mapped)
		munmap(msg->data, msg->priv_mapped);
	else
		free(msg->data);
	if (msg->fds)
		close_all(msg->fds, msg->nfds);
	free(msg->fds);
	if (msg->chans)
		for (size_t i = 0; i < msg->nchans; i++)
			kin_chan_free(msg->chans[i]);
	free(msg->chans);
	*msg = (kin_msg)KIN_MSG_INIT;
}

/* ---------------------------------------------------------------- events */

static void stop_watch(kin_chan *c)
{
	if (!c->watch)
		return;
	kin_watch_free(c->watch);
	c->watch = NULL;
	pthread_mutex_lock(&c->loop->lock);
	kin__list_del(&c->link);
	pthread_mutex_unlock(&c->loop->lock);
	c->loop = NULL;
}

/* kin_loop_free reached us before kin_chan_free did. */
static void release_watch(kin__link *link)
{
	stop_watch(KIN__CONTAINER_OF(link, kin_chan, link));
}

static void on_ready(kin_watch *w, unsigned events, void *userdata)
{
	(void)events;
	kin_chan *c = userdata;
	/* A failed chan stays readable for good (it is shut down). Its user
	 * hears about it once more, through -EPROTO from kin_chan_recv, and
	 * then the watch stops instead of spinning the loop. It is paused
	 * before the callback, which may free the chan. */
	if (chan_failed(c))
		(void)kin_watch_set(w, 0);
	if (c->cb)
		c->cb(c, c->userdata);
}

int kin_chan_on_readable(kin_chan *chan, kin_loop *loop, kin_chan_cb cb, void *userdata)
{
	if (!chan)
		return -EINVAL;
	if (!cb) {
		stop_watch(chan);
		chan->cb = NULL;
		return 0;
	}
	if (!loop)
		return -EINVAL;
	if (chan_failed(chan))
		return -EPROTO;
	if (chan->watch && chan->loop != loop)
		stop_watch(chan);
	if (!chan->watch) {
		int r = kin_watch_new(loop, chan->fd, on_ready, chan, &chan->watch);
		if (r < 0)
			return r;
		chan->loop = loop;
		chan->link.release = release_watch;
		pthread_mutex_lock(&loop->lock);
		kin__list_add(&loop->procs, &chan->link);
		pthread_mutex_unlock(&loop->lock);
	}
	chan->cb = cb;
	chan->userdata = userdata;
	int r = kin_watch_set(chan->watch, KIN_READABLE);
	if (r < 0)
		stop_watch(chan);
	return r;
}

void kin_chan_free(kin_chan *chan)
{
	if (!chan)
		return;
	stop_watch(chan);
	kin__close(chan->fd);
	/* Closes our fds of the memfds still in flight, too. */
	chan_discard(chan);
}
