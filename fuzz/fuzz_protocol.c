/* Fuzz target: the worker protocol decoder and kin_mp_unpack, which read
 * every byte a worker or its owner sends. Any input must give a clean
 * result or a negative errno, never a crash, a read out of bounds, a leak
 * or a result that breaks the decoders' own promises. */
#include "../src/worker/protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks what a successful decode promises, then encodes the message again
 * and expects to decode the same thing. */
static void check_decoded(const uint8_t *in, size_t size, const kin__pmsg *m)
{
	const uint8_t *end = in + size;
	kin_buf b = KIN_BUF_INIT;
	int r = 0;
	switch (m->type) {
	case KIN__P_HELLO:
		if (m->version != KIN__PROTOCOL_VERSION) {
			if (m->names || m->nnames)
				abort();
			return;
		}
		if (m->nnames > KIN__MAX_HANDLERS || m->pid <= 0)
			abort();
		for (size_t k = 0; k < m->nnames; k++) {
			size_t n = strlen(m->names[k]);
			if (n < 1 || n > KIN__MAX_NAME)
				abort();
		}
		r = kin__proto_hello(&b, m->pid, (const char *const *)m->names, m->nnames);
		break;
	case KIN__P_CALL:
	case KIN__P_CAST:
	case KIN__P_REPLY: {
		const uint8_t *body = m->body;
		if (body < in || body + m->body_len != end)
			abort(); /* the body is always last, pointing into the input */
		char name[KIN__MAX_NAME + 1];
		if (m->type != KIN__P_REPLY) {
			const uint8_t *np = (const uint8_t *)m->name;
			if (np < in || np + m->name_len > end || m->name_len < 1 ||
			    m->name_len > KIN__MAX_NAME || memchr(np, 0, m->name_len))
				abort();
			memcpy(name, m->name, m->name_len);
			name[m->name_len] = 0;
		}
		if (m->type != KIN__P_CAST && m->id == 0)
			abort();
		if (m->type == KIN__P_CALL)
			r = kin__proto_call_prefix(&b, m->id, name, m->body_len);
		else if (m->type == KIN__P_CAST)
			r = kin__proto_cast_prefix(&b, name, m->body_len);
		else
			r = kin__proto_reply_prefix(&b, m->id, m->error, m->body_len);
		if (r == 0)
			r = kin_buf_append(&b, m->body, m->body_len);
		break;
	}
	case KIN__P_DETACH:
		if (m->id == 0 || m->name || m->body || m->names)
			abort();
		r = kin__proto_detach(&b, m->id);
		break;
	default:
		abort();
	}
	if (r == -ENOMEM) {
		kin_buf_free(&b);
		return;
	}
	kin__pmsg again;
	if (r != 0 || kin__proto_decode(b.data, b.len, &again) != 0)
		abort();
	if (again.type != m->type || again.id != m->id || again.error != m->error ||
	    again.pid != m->pid || again.nnames != m->nnames || again.name_len != m->name_len ||
	    again.body_len != m->body_len ||
	    (m->body_len && memcmp(again.body, m->body, m->body_len) != 0) ||
	    (m->name_len && memcmp(again.name, m->name, m->name_len) != 0))
		abort();
	for (size_t k = 0; k < m->nnames; k++)
		if (strcmp(again.names[k], m->names[k]) != 0)
			abort();
	kin__pmsg_free(&again);
	kin_buf_free(&b);
}

static void decode(const uint8_t *in, size_t size)
{
	kin__pmsg m;
	int r = kin__proto_decode(in, size, &m);
	if (r == 0) {
		check_decoded(in, size, &m);
		kin__pmsg_free(&m);
	} else if (r != -EPROTO && r != -ENOMEM) {
		abort();
	}
}

/* Formats that read exactly one whole value: when one succeeds it must
 * consume what '*' (skip one value) consumes. */
static void unpack(const uint8_t *in, size_t size)
{
	ssize_t whole = kin_mp_unpack(in, size, "*");
	if (whole != -EPROTO && (whole < 1 || (size_t)whole > size))
		abort();

	int64_t i;
	uint64_t u, id;
	double d;
	bool t;
	const char *s;
	const void *p;
	size_t n, n2, count;
	ssize_t got[] = {
		kin_mp_unpack(in, size, "i", &i),
		kin_mp_unpack(in, size, "u", &u),
		kin_mp_unpack(in, size, "d", &d),
		kin_mp_unpack(in, size, "t", &t),
		kin_mp_unpack(in, size, "n"),
		kin_mp_unpack(in, size, "s", &s, &n),
		kin_mp_unpack(in, size, "b", &p, &n2),
		kin_mp_unpack(in, size, "[iS]", NULL, &i, &s, &n),
		kin_mp_unpack(in, size, "[uu*b]", NULL, &u, &id, &p, &n2),
		kin_mp_unpack(in, size, "[*]", &count),
		kin_mp_unpack(in, size, "{sb}", &count, &s, &n, &p, &n2),
		kin_mp_unpack(in, size, "[[*][*]*]", &count, NULL, NULL),
		kin_mp_unpack(in, size, "{*[*]}", NULL, &count),
	};
	for (size_t k = 0; k < sizeof(got) / sizeof(got[0]); k++) {
		if (got[k] == -EPROTO)
			continue;
		if (got[k] != whole)
			abort();
	}
	/* Strings and bins point into the input. */
	if (kin_mp_unpack(in, size, "b", &p, &n2) > 0 &&
	    ((const uint8_t *)p < in || (const uint8_t *)p + n2 > in + size))
		abort();

	/* An array left open: then each element in turn, as a reader of a
	 * list of unknown length does. */
	ssize_t off = kin_mp_unpack(in, size, "[", &count);
	if (off > 0) {
		for (size_t k = 0; k < count && off > 0; k++) {
			ssize_t e = kin_mp_unpack(in + off, size - (size_t)off, "*");
			off = e < 0 ? -1 : off + e;
		}
		if (off > 0 && off != whole)
			abort();
	}
}

/* MessagePack's tag bytes, for the small structured mutation below. */
static const uint8_t tags[] = {
	0x00, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x94, 0x9f, 0xa0, 0xa1, 0xbf,
	0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb,
	0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
	0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan sees any read past the end. */
	uint8_t *in = malloc(size ? size : 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	decode(in, size);
	unpack(in, size);

	/* Every input also stands for one variant with a MessagePack tag at
	 * one place, chosen from its own bytes: cheap structure-aware
	 * mutation for the plain driver, whose mutations know nothing of
	 * MessagePack. Then the variant's prefixes, cut short. */
	if (size) {
		uint32_t h = 2166136261u;
		for (size_t k = 0; k < size; k++)
			h = (h ^ in[k]) * 16777619u;
		in[h % size] = tags[(h >> 16) % sizeof(tags)];
		decode(in, size);
		unpack(in, size);
		for (size_t cut = size - 1; cut > 0; cut /= 2) {
			uint8_t *prefix = malloc(cut);
			if (!prefix)
				break;
			memcpy(prefix, in, cut);
			decode(prefix, cut);
			free(prefix);
		}
	}
	free(in);
	return 0;
}
