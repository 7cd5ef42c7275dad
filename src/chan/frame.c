/* The chan wire frame: encoding the header and checking what arrives.
 * Everything a peer sends is untrusted; these checks are what stands
 * between its bytes and the rest of kin (fuzz/fuzz_chan_frame.c). */
#include "chan.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

void kin__frame_encode(const kin__frame *f, uint8_t out[KIN__FRAME_HEADER])
{
	out[0] = KIN__FRAME_MAGIC;
	out[1] = f->oob ? KIN__FRAME_OOB : 0;
	put16(out + 2, f->nfds);
	put16(out + 4, f->nchans);
	put16(out + 6, 0);
	put32(out + 8, f->length);
}

int kin__frame_decode(const uint8_t *rec, size_t size, kin__frame *f)
{
	if (size < KIN__FRAME_HEADER)
		return -EPROTO;
	if (rec[0] != KIN__FRAME_MAGIC || (rec[1] & ~KIN__FRAME_OOB) || get16(rec + 6) != 0)
		return -EPROTO;
	kin__frame d = {
		.oob = rec[1] & KIN__FRAME_OOB,
		.nfds = get16(rec + 2),
		.nchans = get16(rec + 4),
		.length = get32(rec + 8),
	};
	if ((size_t)d.nfds + d.nchans > KIN_CHAN_MAX_FDS)
		return -EPROTO;
	if (d.oob) {
		/* A sender never makes an empty memfd, and nothing may ride
		 * inline beside one. */
		if (d.length == 0 || size != KIN__FRAME_HEADER)
			return -EPROTO;
	} else if (d.length > KIN__FRAME_INLINE_MAX ||
		   size != KIN__FRAME_HEADER + (size_t)d.length) {
		return -EPROTO;
	}
	*f = d;
	return 0;
}

static bool is_seqpacket_socket(int fd)
{
	int domain, type;
	socklen_t len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || len != sizeof(domain))
		return false;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || len != sizeof(type))
		return false;
	return domain == AF_UNIX && type == SOCK_SEQPACKET;
}

int kin__frame_check_fds(const kin__frame *f, const int *fds, size_t n)
{
	size_t want = (size_t)f->nfds + f->nchans + (f->oob ? 1 : 0);
	if (n != want)
		return -EPROTO;
	for (size_t i = f->nfds; i < (size_t)f->nfds + f->nchans; i++)
		if (!is_seqpacket_socket(fds[i]))
			return -EPROTO;
	if (f->oob) {
		int memfd = fds[n - 1];
		/* Seals first: until F_SEAL_SHRINK|F_SEAL_GROW hold, the size
		 * read next could still change. Anything that is not a memfd
		 * (a pipe, a socket, a plain file) has no seals and fails here. */
		int seals = fcntl(memfd, F_GET_SEALS);
		if (seals < 0 || (seals & KIN__FRAME_SEALS) != KIN__FRAME_SEALS)
			return -EPROTO;
		struct stat st;
		if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != (off_t)f->length)
			return -EPROTO;
	}
	return 0;
}
