/* The worker protocol's messages (docs/protocol.md): MessagePack arrays.
 * Encoding goes through msgpack-c's packer. Decoding goes through
 * kin_mp_unpack (src/worker/mp.c), which reads the message in place and
 * allocates nothing however large the counts it announces: see the note at
 * the top of mp.c for why msgpack-c's own unpacker is not used on bytes
 * from a peer. */
#include "protocol.h"

#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static int buf_write(void *data, const char *bytes, size_t n)
{
	return kin_buf_append(data, bytes, n);
}

static bool name_ok(const char *name)
{
	if (!name)
		return false;
	size_t n = strnlen(name, KIN__MAX_NAME + 1);
	return n >= 1 && n <= KIN__MAX_NAME;
}

/* msgpack-c calls return what buf_write returned; a message half written
 * when memory ran out is cut off again, so out holds whole messages only. */
static int finish(kin_buf *out, size_t start, int r)
{
	if (r == 0)
		return 0;
	out->len = start;
	return r < 0 ? r : -ENOMEM;
}

static int pack_name(msgpack_packer *pk, const char *name)
{
	size_t n = strlen(name);
	int r = msgpack_pack_str(pk, n);
	return r ? r : msgpack_pack_str_body(pk, name, n);
}

int kin__proto_hello(kin_buf *out, int64_t pid, const char *const *names, size_t n)
{
	if (n > KIN__MAX_HANDLERS || (n && !names))
		return -EINVAL;
	for (size_t k = 0; k < n; k++)
		if (!name_ok(names[k]))
			return -EINVAL;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_write);
	size_t start = out->len;
	int r = msgpack_pack_array(&pk, 4);
	if (!r)
		r = msgpack_pack_uint8(&pk, KIN__P_HELLO);
	if (!r)
		r = msgpack_pack_uint64(&pk, KIN__PROTOCOL_VERSION);
	if (!r)
		r = msgpack_pack_int64(&pk, pid);
	if (!r)
		r = msgpack_pack_array(&pk, n);
	for (size_t k = 0; k < n && !r; k++)
		r = pack_name(&pk, names[k]);
	return finish(out, start, r);
}

/* The bin header of a body sent after the prefix; bin 32 is the largest. */
static int pack_body_header(msgpack_packer *pk, size_t body_len)
{
	return msgpack_pack_bin(pk, body_len);
}

int kin__proto_call_prefix(kin_buf *out, uint64_t id, const char *name, size_t body_len)
{
	if (id == 0 || !name_ok(name) || body_len > UINT32_MAX)
		return -EINVAL;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_write);
	size_t start = out->len;
	int r = msgpack_pack_array(&pk, 4);
	if (!r)
		r = msgpack_pack_uint8(&pk, KIN__P_CALL);
	if (!r)
		r = msgpack_pack_uint64(&pk, id);
	if (!r)
		r = pack_name(&pk, name);
	if (!r)
		r = pack_body_header(&pk, body_len);
	return finish(out, start, r);
}

int kin__proto_cast_prefix(kin_buf *out, const char *name, size_t body_len)
{
	if (!name_ok(name) || body_len > UINT32_MAX)
		return -EINVAL;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_write);
	size_t start = out->len;
	int r = msgpack_pack_array(&pk, 3);
	if (!r)
		r = msgpack_pack_uint8(&pk, KIN__P_CAST);
	if (!r)
		r = pack_name(&pk, name);
	if (!r)
		r = pack_body_header(&pk, body_len);
	return finish(out, start, r);
}

int kin__proto_reply_prefix(kin_buf *out, uint64_t id, int64_t error, size_t body_len)
{
	if (id == 0 || body_len > UINT32_MAX)
		return -EINVAL;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_write);
	size_t start = out->len;
	int r = msgpack_pack_array(&pk, 4);
	if (!r)
		r = msgpack_pack_uint8(&pk, KIN__P_REPLY);
	if (!r)
		r = msgpack_pack_uint64(&pk, id);
	if (!r)
		r = msgpack_pack_int64(&pk, error);
	if (!r)
		r = pack_body_header(&pk, body_len);
	return finish(out, start, r);
}

int kin__proto_detach(kin_buf *out, uint64_t id)
{
	if (id == 0)
		return -EINVAL;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_write);
	size_t start = out->len;
	int r = msgpack_pack_array(&pk, 2);
	if (!r)
		r = msgpack_pack_uint8(&pk, KIN__P_DETACH);
	if (!r)
		r = msgpack_pack_uint64(&pk, id);
	return finish(out, start, r);
}

/* ----------------------------------------------------------------- decoding */

/* The decoder walks the message with kin_mp_unpack one field at a time,
 * carrying the offset along: `d` below. Every step checks the exact type,
 * since kin_mp_unpack is lenient where the protocol is not ('b' also
 * takes a str). */
typedef struct dec {
	const uint8_t *p;
	size_t len, off;
} dec;

static int dec_step(dec *d, ssize_t n)
{
	if (n < 0)
		return -EPROTO;
	d->off += (size_t)n;
	return 0;
}

static int dec_uint(dec *d, uint64_t *v)
{
	return dec_step(d, kin_mp_unpack(d->p + d->off, d->len - d->off, "u", v));
}

static int dec_int(dec *d, int64_t *v)
{
	return dec_step(d, kin_mp_unpack(d->p + d->off, d->len - d->off, "i", v));
}

static int dec_array(dec *d, size_t *n)
{
	return dec_step(d, kin_mp_unpack(d->p + d->off, d->len - d->off, "[", n));
}

/* A handler name: a str of 1..KIN__MAX_NAME bytes without NUL. */
static int dec_name(dec *d, const char **name, size_t *n)
{
	const char *s;
	size_t sl;
	int r = dec_step(d, kin_mp_unpack(d->p + d->off, d->len - d->off, "S", &s, &sl));
	if (r)
		return r;
	if (sl < 1 || sl > KIN__MAX_NAME || memchr(s, 0, sl))
		return -EPROTO;
	*name = s;
	*n = sl;
	return 0;
}

/* A body is a bin (0xc4..0xc6), never a str. */
static int dec_body(dec *d, const void **body, size_t *n)
{
	if (d->off >= d->len || d->p[d->off] < 0xc4 || d->p[d->off] > 0xc6)
		return -EPROTO;
	return dec_step(d, kin_mp_unpack(d->p + d->off, d->len - d->off, "b", body, n));
}

static int dec_id(dec *d, uint64_t *id)
{
	int r = dec_uint(d, id);
	return r ? r : *id == 0 ? -EPROTO : 0;
}

/* [names]: validated in a first pass, then copied into one allocation
 * (the pointers, then the strings), so there is one thing to free and no
 * half-built list to undo. */
static int dec_names(dec *d, kin__pmsg *m)
{
	size_t n;
	int r = dec_array(d, &n);
	if (r)
		return r;
	if (n > KIN__MAX_HANDLERS)
		return -EPROTO;
	size_t first = d->off, bytes = 0;
	for (size_t k = 0; k < n; k++) {
		const char *s;
		size_t sl;
		r = dec_name(d, &s, &sl);
		if (r)
			return r;
		bytes += sl + 1;
	}
	/* n <= 1024 names of <= 256 bytes: no overflow. */
	char **names = malloc(n * sizeof(char *) + bytes + 1);
	if (!names)
		return -ENOMEM;
	char *at = (char *)(names + n);
	d->off = first;
	for (size_t k = 0; k < n; k++) {
		const char *s;
		size_t sl;
		dec_name(d, &s, &sl); /* cannot fail: checked above */
		memcpy(at, s, sl);
		at[sl] = 0;
		names[k] = at;
		at += sl + 1;
	}
	m->names = names;
	m->nnames = n;
	return 0;
}

static int decode(dec *d, kin__pmsg *m)
{
	size_t n;
	uint64_t type;
	int r = dec_array(d, &n);
	if (!r && n == 0)
		r = -EPROTO;
	if (!r)
		r = dec_uint(d, &type);
	if (r)
		return r;
	switch (type) {
	case KIN__P_HELLO:
		if (n < 2)
			return -EPROTO;
		m->type = KIN__P_HELLO;
		r = dec_uint(d, &m->version);
		if (r)
			return r;
		/* Another version may lay out the rest differently: the owner
		 * only needs the number to name the mismatch. */
		if (m->version != KIN__PROTOCOL_VERSION)
			return 0;
		if (n != 4)
			return -EPROTO;
		r = dec_int(d, &m->pid);
		if (!r && (m->pid <= 0 || m->pid > INT32_MAX))
			r = -EPROTO;
		return r ? r : dec_names(d, m);
	case KIN__P_CALL:
		if (n != 4)
			return -EPROTO;
		m->type = KIN__P_CALL;
		r = dec_id(d, &m->id);
		if (!r)
			r = dec_name(d, &m->name, &m->name_len);
		return r ? r : dec_body(d, &m->body, &m->body_len);
	case KIN__P_CAST:
		if (n != 3)
			return -EPROTO;
		m->type = KIN__P_CAST;
		r = dec_name(d, &m->name, &m->name_len);
		return r ? r : dec_body(d, &m->body, &m->body_len);
	case KIN__P_REPLY:
		if (n != 4)
			return -EPROTO;
		m->type = KIN__P_REPLY;
		r = dec_id(d, &m->id);
		if (!r)
			r = dec_int(d, &m->error);
		return r ? r : dec_body(d, &m->body, &m->body_len);
	case KIN__P_DETACH:
		if (n != 2)
			return -EPROTO;
		m->type = KIN__P_DETACH;
		return dec_id(d, &m->id);
	default:
		return -EPROTO;
	}
}

int kin__proto_decode(const void *data, size_t len, kin__pmsg *msg)
{
	if (!data && len)
		return -EPROTO;
	kin__pmsg m = {0};
	dec d = {data, len, 0};
	int r = decode(&d, &m);
	/* A hello of another version may carry anything after its number. */
	bool foreign = r == 0 && m.type == KIN__P_HELLO && m.version != KIN__PROTOCOL_VERSION;
	if (r == 0 && !foreign && d.off != len)
		r = -EPROTO; /* trailing bytes */
	if (r) {
		kin__pmsg_free(&m);
		/* Emptied rather than left as it was, so that a caller who frees
		 * unconditionally frees nothing. */
		memset(msg, 0, sizeof(*msg));
		return r;
	}
	*msg = m;
	return 0;
}

void kin__pmsg_free(kin__pmsg *msg)
{
	if (!msg)
		return;
	free(msg->names);
	msg->names = NULL;
	msg->nnames = 0;
}
