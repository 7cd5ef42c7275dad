/* Internal interface of the chan layer: the wire frame (frame.c) and the
 * entry point the worker layer sends through (chan.c).
 *
 * The frame, one SOCK_SEQPACKET record per message (docs/protocol.md):
 *
 *   u8  magic   0x6B ('k')
 *   u8  flags   bit 0: OOB, the payload travels in a sealed memfd
 *   u16 nfds    plain fds attached
 *   u16 nchans  chan endpoints attached, after the plain fds
 *   u16 reserved = 0
 *   u32 length  payload bytes
 *
 * all little-endian, then the payload itself when it is inline. SCM_RIGHTS
 * carries the plain fds, then the chans, then (OOB only) the memfd. */
#ifndef KIN_CHAN_H
#define KIN_CHAN_H

#include "../core/core.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#define KIN__FRAME_HEADER 12
#define KIN__FRAME_MAGIC 0x6B
#define KIN__FRAME_OOB 0x01
/* Largest payload carried inline; anything longer goes in a memfd. */
#define KIN__FRAME_INLINE_MAX 65536
/* The seals an OOB memfd must carry, so what the receiver maps can no
 * longer change under it (or be shrunk to fault it with SIGBUS). */
#define KIN__FRAME_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/* Most iovecs kin__chan_sendv takes (one more goes to the header). */
#define KIN__CHAN_MAX_IOV 64

typedef struct kin__frame {
	bool oob;
	uint16_t nfds;
	uint16_t nchans;
	uint32_t length;
} kin__frame;

/* Writes the 12-byte header for f. */
void kin__frame_encode(const kin__frame *f, uint8_t out[KIN__FRAME_HEADER]);

/* Checks a received record of `size` bytes (the header and any inline
 * payload) and fills *f: 0, or -EPROTO for a short record, bad magic,
 * flags or reserved bits, more than KIN_CHAN_MAX_FDS fds and chans, an
 * inline length above KIN__FRAME_INLINE_MAX or not matching the record's
 * size, or an OOB record with a payload inline or a length of 0. */
int kin__frame_decode(const uint8_t *rec, size_t size, kin__frame *f);

/* Checks the fds that came with a decoded frame (in SCM_RIGHTS order):
 * their count, that each chan is an AF_UNIX SOCK_SEQPACKET socket, and
 * that an OOB memfd carries KIN__FRAME_SEALS and exactly f->length bytes.
 * 0 or -EPROTO; closes nothing. */
int kin__frame_check_fds(const kin__frame *f, const int *fds, size_t n);

/* Sends the concatenation of iov[0..iovcnt) as one message, with
 * attach->fds and attach->chans attached (attach->data and ->len are
 * ignored; attach may be NULL). The same rules and results as
 * kin_chan_send, which is this with one iovec. Inline payloads go
 * straight from the iovecs into sendmsg, without a copy, except records of
 * at most 4 KiB, which are gathered into one buffer first because that is
 * cheaper for the kernel (chan.c). -EINVAL for more than
 * KIN__CHAN_MAX_IOV iovecs. Thread-safe. */
int kin__chan_sendv(kin_chan *chan, const struct iovec *iov, int iovcnt, const kin_msg *attach,
		    kin_time deadline);

/* ---- the sender's ledger of out-of-band payloads in flight (inflight.c)
 *
 * The socket's back-pressure counts records, and an OOB record is 12
 * bytes whatever its memfd holds, so the sender bounds the bytes itself.
 * It keeps its own fd of every memfd it sent. That fd shares the open
 * file description (and so the file offset) with the receiver's, and the
 * receiver moves the offset off 0 once it has taken the payload
 * (kin__oob_mark_taken; docs/protocol.md 4.3). An offset still at 0 is a
 * message the peer has not taken yet. */

/* Most OOB messages one chan may have in flight, whatever their sizes:
 * each costs the sender an fd. About what a socket's default buffer holds
 * of OOB records anyway (some 280). */
#define KIN__OOB_SLOTS 128

typedef struct kin__oob_sent {
	int fd;
	size_t len;
} kin__oob_sent;

typedef struct kin__oob_ledger {
	pthread_mutex_t lock;
	_Atomic size_t budget; /* kin_chan_set_max_inflight */
	size_t bytes;          /* of sent[] and of the reservations */
	size_t reserved;       /* sends between reserve and commit or cancel */
	size_t n;
	kin__oob_sent *sent; /* KIN__OOB_SLOTS, oldest first; made on first use */
} kin__oob_ledger;

void kin__oob_init(kin__oob_ledger *l);
/* Closes every fd the ledger holds and frees it. No send may be running. */
void kin__oob_destroy(kin__oob_ledger *l);
/* Makes room for a payload of len bytes on the chan whose socket is sock,
 * waiting until the deadline: 0 (room at once) or 1 (after waiting), else
 * -EAGAIN (no room and the deadline had passed), -ETIMEDOUT, -EPIPE (the
 * peer closed, or the socket was shut down), -ENOMEM. Every success must be
 * followed by kin__oob_commit or kin__oob_cancel. Thread-safe. */
int kin__oob_reserve(kin__oob_ledger *l, size_t len, int sock, kin_time deadline);
/* The reserved payload went out in memfd, which the ledger now owns. */
void kin__oob_commit(kin__oob_ledger *l, int memfd, size_t len);
/* The reserved payload did not go. peer_gone_now: the send saw the peer's
 * close, so nothing in flight will ever be taken; let go of it all. */
void kin__oob_cancel(kin__oob_ledger *l, size_t len, bool peer_gone_now);
/* Receiver side: tells the sender that the payload in memfd was taken (or
 * dropped). Call it on every path that disposes of a received memfd. */
void kin__oob_mark_taken(int memfd);

#endif
