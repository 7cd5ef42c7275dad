/* The sender's ledger of out-of-band payloads in flight (chan.h).
 *
 * Without it a sender facing a slow reader could queue a few hundred
 * memfds of up to 4 GiB each, all charged to the sender, before the socket
 * said it was full: SEQPACKET back-pressure counts records, not what their
 * fds hold. So each chan keeps at most its budget of OOB bytes (and
 * KIN__OOB_SLOTS messages) sent and not yet taken by the peer.
 *
 * "Taken" is read from the memfd's file offset. The sender keeps its own
 * fd of each memfd it sent; SCM_RIGHTS gives the receiver the same open
 * file description, so both see one offset. The sender writes the payload
 * with pwrite, so the offset arrives at 0, and a receiver moves it once it
 * has the payload (kin__oob_mark_taken). The seals forbid any write, but
 * lseek is not a write. There is no event for an offset moving, so a
 * sender short of room checks again after short sleeps.
 *
 * Inline messages never come here: their bytes sit in the socket buffer,
 * which the kernel bounds. A chan that sends only inline messages never
 * takes the lock. */
#include "chan.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while waiting for room: from the first, doubling to the last. A
 * receiver takes a payload as soon as it maps it, so the first check
 * usually succeeds; the cap keeps a sender behind a slow peer from
 * spinning, and bounds how late it notices room (or the peer's close). */
#define NAP_FIRST KIN_MSEC
#define NAP_MAX (20 * KIN_MSEC)

void kin__oob_init(kin__oob_ledger *l)
{
	pthread_mutex_init(&l->lock, NULL);
	atomic_init(&l->budget, KIN_CHAN_DEFAULT_INFLIGHT);
	l->bytes = 0;
	l->reserved = 0;
	l->n = 0;
	l->sent = NULL;
}

static void drop_all(kin__oob_ledger *l)
{
	for (size_t i = 0; i < l->n; i++) {
		kin__close(l->sent[i].fd);
		l->bytes -= l->sent[i].len;
	}
	l->n = 0;
}

void kin__oob_destroy(kin__oob_ledger *l)
{
	drop_all(l);
	free(l->sent);
	l->sent = NULL;
	pthread_mutex_destroy(&l->lock);
}

/* A memfd whose offset has left 0 was taken. lseek cannot fail on a memfd;
 * if it somehow did, counting the message as taken errs towards sending,
 * never towards a sender stuck for good. */
static bool taken(int fd)
{
	return lseek(fd, 0, SEEK_CUR) != 0;
}

/* Forgets the messages the peer has taken. `all` looks at every one; else
 * the oldest ones only, up to the first not yet taken, which is all it
 * takes when the peer reads in order (one syscall per send, typically). */
static void reap(kin__oob_ledger *l, bool all)
{
	size_t k = 0;
	bool look = true;
	for (size_t i = 0; i < l->n; i++) {
		if (look && taken(l->sent[i].fd)) {
			kin__close(l->sent[i].fd);
			l->bytes -= l->sent[i].len;
			continue;
		}
		look = all;
		l->sent[k++] = l->sent[i];
	}
	l->n = k;
}

/* Whether len more bytes fit. One message larger than the whole budget
 * still goes when nothing else is in flight, so no message is refused for
 * good; the budget then means one at a time. */
static bool fits(const kin__oob_ledger *l, size_t len)
{
	if (l->n + l->reserved >= KIN__OOB_SLOTS)
		return false;
	size_t budget = atomic_load_explicit(&l->budget, memory_order_relaxed);
	return l->bytes == 0 || (len <= budget && l->bytes <= budget - len);
}

/* Whether the peer has closed (or the socket was shut down both ways, as
 * chan_fail does). Then nothing in flight will ever be taken, and waiting
 * would last forever. POLLHUP, not POLLRDHUP: a peer that only shut down
 * its sending side may still be reading. POLLERR: the peer closed with our
 * records unread (the kernel leaves ECONNRESET behind). */
static bool peer_gone(int sock)
{
	struct pollfd p = {.fd = sock, .events = 0};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* Sleeps for nap, but not past the deadline. */
static void nap_until(kin_time nap, kin_time deadline)
{
	kin_time wake = kin_now() + nap;
	if (deadline != KIN_FOREVER && deadline < wake)
		wake = deadline;
	struct timespec ts = {.tv_sec = wake / KIN_SEC, .tv_nsec = wake % KIN_SEC};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int kin__oob_reserve(kin__oob_ledger *l, size_t len, int sock, kin_time deadline)
{
	kin_time nap = NAP_FIRST;
	bool waited = false;
	pthread_mutex_lock(&l->lock);
	if (!l->sent && !(l->sent = malloc(KIN__OOB_SLOTS * sizeof(*l->sent)))) {
		pthread_mutex_unlock(&l->lock);
		return -ENOMEM;
	}
	reap(l, false);
	while (!fits(l, len)) {
		size_t before = l->n;
		reap(l, true);
		if (fits(l, len))
			break;
		/* The peer is taking them, just not fast enough: look again
		 * soon rather than after the longest nap. */
		if (l->n < before)
			nap = NAP_FIRST;
		if (peer_gone(sock)) {
			drop_all(l);
			pthread_mutex_unlock(&l->lock);
			return -EPIPE;
		}
		pthread_mutex_unlock(&l->lock);
		kin_time now = kin_now();
		if (deadline <= 0 || (deadline != KIN_FOREVER && now >= deadline))
			return waited ? -ETIMEDOUT : -EAGAIN;
		nap_until(nap, deadline);
		waited = true;
		if (nap < NAP_MAX)
			nap = nap * 2 < NAP_MAX ? nap * 2 : NAP_MAX;
		pthread_mutex_lock(&l->lock);
	}
	l->bytes += len;
	l->reserved++;
	pthread_mutex_unlock(&l->lock);
	return waited ? 1 : 0;
}

void kin__oob_commit(kin__oob_ledger *l, int memfd, size_t len)
{
	pthread_mutex_lock(&l->lock);
	l->reserved--; /* its bytes were counted then */
	/* fits() left a slot for every reservation. */
	l->sent[l->n++] = (kin__oob_sent){.fd = memfd, .len = len};
	pthread_mutex_unlock(&l->lock);
}

void kin__oob_cancel(kin__oob_ledger *l, size_t len, bool peer_gone_now)
{
	pthread_mutex_lock(&l->lock);
	l->reserved--;
	l->bytes -= len;
	if (peer_gone_now)
		drop_all(l);
	pthread_mutex_unlock(&l->lock);
}

void kin__oob_mark_taken(int memfd)
{
	/* Any offset but 0 says "taken" (see the top of this file). 1 is
	 * within every memfd a sender makes: none is empty. */
	(void)lseek(memfd, 1, SEEK_SET);
}
