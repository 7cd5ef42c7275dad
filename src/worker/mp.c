/* kin_mp_pack and kin_mp_unpack: MessagePack by format string.
 *
 * Packing goes through msgpack-c's packer, writing into a kin_buf.
 *
 * Unpacking does not use msgpack-c. msgpack_unpack_next would hand back
 * str and bin pointers into `data` (checked), but it builds the whole
 * object tree first and sizes each array from its header alone: five
 * bytes announcing 2^32 elements make it ask for 96 GiB, and 2^20 elements
 * cost 24 MiB before it notices the input is too short. Bytes from a peer
 * must not be able to do that, so the decoder below walks the input in
 * place, one value at a time, following fmt. It allocates nothing, reads
 * each length before trusting it, and skips values without recursion. */
#include "kin.h"

#include <errno.h>
#include <limits.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* Brackets a format may nest. Deeper formats are refused (-EINVAL): the
 * limit keeps the decoder's stack of open containers fixed in size. */
#define MP_MAX_DEPTH 64

/* Checks fmt before anything is packed or stored, so that -EINVAL leaves
 * the outputs untouched. `unpack` allows the extra '*' and leaving
 * brackets open at the end (the caller then carries on from the returned
 * offset, which is how a list of unknown length is read). */
static int check_fmt(const char *fmt, bool unpack)
{
	if (!fmt)
		return -EINVAL;
	char open[MP_MAX_DEPTH];
	size_t depth = 0;
	for (const char *f = fmt; *f; f++) {
		switch (*f) {
		case 'i':
		case 'u':
		case 'd':
		case 't':
		case 'n':
		case 's':
		case 'S':
		case 'b':
			break;
		case '*':
			if (!unpack)
				return -EINVAL;
			break;
		case '[':
		case '{':
			if (depth == MP_MAX_DEPTH)
				return -EINVAL;
			open[depth++] = *f;
			break;
		case ']':
		case '}':
			if (depth == 0 || open[depth - 1] != (*f == ']' ? '[' : '{'))
				return -EINVAL;
			depth--;
			break;
		default:
			return -EINVAL;
		}
	}
	return depth == 0 || unpack ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------ packing */

static int buf_write(void *data, const char *bytes, size_t n)
{
	return kin_buf_append(data, bytes, n);
}

static int pack_one(msgpack_packer *pk, char c, va_list *ap)
{
	switch (c) {
	case 'i':
		return msgpack_pack_int64(pk, va_arg(*ap, int64_t));
	case 'u':
		return msgpack_pack_uint64(pk, va_arg(*ap, uint64_t));
	case 'd':
		return msgpack_pack_double(pk, va_arg(*ap, double));
	case 't':
		return va_arg(*ap, int) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case 'n':
		return msgpack_pack_nil(pk);
	case 's': {
		const char *s = va_arg(*ap, const char *);
		if (!s)
			return msgpack_pack_nil(pk);
		size_t n = strlen(s);
		if (n > UINT32_MAX)
			return -EINVAL;
		int r = msgpack_pack_str(pk, n);
		return r ? r : msgpack_pack_str_body(pk, s, n);
	}
	case 'S':
	case 'b': {
		const void *p = va_arg(*ap, const void *);
		size_t n = va_arg(*ap, size_t);
		/* msgpack-c would silently truncate a longer length to 32 bits. */
		if (n > UINT32_MAX || (!p && n))
			return -EINVAL;
		int r;
		if (c == 'S')
			r = msgpack_pack_str(pk, n);
		else
			r = msgpack_pack_bin(pk, n);
		if (r || n == 0)
			return r;
		return c == 'S' ? msgpack_pack_str_body(pk, p, n) : msgpack_pack_bin_body(pk, p, n);
	}
	case '[':
	case '{': {
		size_t n = va_arg(*ap, size_t);
		if (n > UINT32_MAX)
			return -EINVAL;
		return c == '[' ? msgpack_pack_array(pk, n) : msgpack_pack_map(pk, n);
	}
	default: /* ']' and '}' write nothing: the header carried the count. */
		return 0;
	}
}

int kin_mp_pack(kin_buf *out, const char *fmt, ...)
{
	if (!out)
		return -EINVAL;
	int r = check_fmt(fmt, false);
	if (r < 0)
		return r;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_write);
	size_t start = out->len;
	va_list ap;
	va_start(ap, fmt);
	for (const char *f = fmt; *f && r == 0; f++)
		r = pack_one(&pk, *f, &ap);
	va_end(ap);
	if (r != 0) {
		/* Leave the buffer as it was, not with half a value at its end. */
		out->len = start;
		return r < 0 ? r : -ENOMEM;
	}
	return 0;
}

/* ---------------------------------------------------------------- unpacking */

typedef enum mp_kind {
	MP_NIL,
	MP_BOOL,
	MP_UINT,  /* .u: positive fixint and uint 8..64 */
	MP_INT,   /* .i: negative fixint and int 8..64 (which may hold a value >= 0) */
	MP_FLOAT, /* .d: float 32 and 64 */
	MP_STR,   /* .ptr, .n */
	MP_BIN,   /* .ptr, .n */
	MP_EXT,   /* .ptr, .n (the ext type is not kept) */
	MP_ARRAY, /* .n elements follow */
	MP_MAP,   /* .n pairs follow */
} mp_kind;

typedef struct mp_val {
	mp_kind kind;
	union {
		bool b;
		uint64_t u;
		int64_t i;
		double d;
	};
	const uint8_t *ptr;
	uint64_t n;
} mp_val;

typedef struct mp_cur {
	const uint8_t *p;
	size_t len, off;
} mp_cur;

/* Reads an n-byte big-endian unsigned number, if that many bytes are left. */
static int take_be(mp_cur *c, size_t n, uint64_t *v)
{
	if (c->len - c->off < n)
		return -EPROTO;
	uint64_t x = 0;
	for (size_t k = 0; k < n; k++)
		x = x << 8 | c->p[c->off + k];
	c->off += n;
	*v = x;
	return 0;
}

/* Points v at n payload bytes, if the input holds them. */
static int take_bytes(mp_cur *c, uint64_t n, mp_val *v)
{
	if (c->len - c->off < n)
		return -EPROTO;
	v->ptr = c->p + c->off;
	v->n = n;
	c->off += n;
	return 0;
}

/* Reads one value's header. Scalars, strings, bins and exts are consumed
 * whole; for an array or a map only the header is, and v->n says how many
 * values (2 per map pair) follow. A count that could not fit in the bytes
 * left is refused here, since every value takes at least one byte: this
 * also keeps every later count small enough not to overflow. */
static int next_val(mp_cur *c, mp_val *v)
{
	uint64_t x;
	int r;
	if (c->off >= c->len)
		return -EPROTO;
	uint8_t tag = c->p[c->off++];
	memset(v, 0, sizeof(*v));

	if (tag <= 0x7f) {
		v->kind = MP_UINT;
		v->u = tag;
		return 0;
	}
	if (tag >= 0xe0) {
		v->kind = MP_INT;
		v->i = (int8_t)tag;
		return 0;
	}
	if (tag >= 0xa0 && tag <= 0xbf) {
		v->kind = MP_STR;
		return take_bytes(c, tag & 0x1f, v);
	}
	if (tag >= 0x80 && tag <= 0x9f) {
		v->kind = tag <= 0x8f ? MP_MAP : MP_ARRAY;
		x = tag & 0x0f;
		goto container;
	}

	switch (tag) {
	case 0xc0:
		v->kind = MP_NIL;
		return 0;
	case 0xc2:
	case 0xc3:
		v->kind = MP_BOOL;
		v->b = tag == 0xc3;
		return 0;
	case 0xc4:
	case 0xc5:
	case 0xc6: /* bin 8, 16, 32 */
	case 0xd9:
	case 0xda:
	case 0xdb: /* str 8, 16, 32 */
		v->kind = tag <= 0xc6 ? MP_BIN : MP_STR;
		r = take_be(c, (size_t)1 << (tag <= 0xc6 ? tag - 0xc4 : tag - 0xd9), &x);
		return r ? r : take_bytes(c, x, v);
	case 0xc7:
	case 0xc8:
	case 0xc9: /* ext 8, 16, 32: length, type, data */
		v->kind = MP_EXT;
		r = take_be(c, (size_t)1 << (tag - 0xc7), &x);
		if (r == 0 && c->off == c->len)
			r = -EPROTO;
		if (r)
			return r;
		c->off++;
		return take_bytes(c, x, v);
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8: /* fixext 1..16 */
		v->kind = MP_EXT;
		if (c->off == c->len)
			return -EPROTO;
		c->off++;
		return take_bytes(c, (uint64_t)1 << (tag - 0xd4), v);
	case 0xca: { /* float 32 */
		r = take_be(c, 4, &x);
		if (r)
			return r;
		uint32_t bits = (uint32_t)x;
		float f;
		memcpy(&f, &bits, sizeof(f));
		v->kind = MP_FLOAT;
		v->d = f;
		return 0;
	}
	case 0xcb: /* float 64 */
		r = take_be(c, 8, &x);
		if (r)
			return r;
		memcpy(&v->d, &x, sizeof(v->d));
		v->kind = MP_FLOAT;
		return 0;
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf: /* uint 8..64 */
		v->kind = MP_UINT;
		return take_be(c, (size_t)1 << (tag - 0xcc), &v->u);
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: { /* int 8..64: sign-extend */
		size_t n = (size_t)1 << (tag - 0xd0);
		r = take_be(c, n, &x);
		if (r)
			return r;
		if (n < 8 && (x >> (8 * n - 1)))
			x |= UINT64_MAX << (8 * n);
		v->kind = MP_INT;
		memcpy(&v->i, &x, sizeof(v->i)); /* two's complement, without UB */
		return 0;
	}
	case 0xdc:
	case 0xdd: /* array 16, 32 */
	case 0xde:
	case 0xdf: /* map 16, 32 */
		v->kind = tag <= 0xdd ? MP_ARRAY : MP_MAP;
		r = take_be(c, tag == 0xdc || tag == 0xde ? 2 : 4, &x);
		if (r)
			return r;
		goto container;
	default: /* 0xc1 is never used */
		return -EPROTO;
	}

container:
	v->n = v->kind == MP_MAP ? 2 * x : x; /* x < 2^32: no overflow */
	return v->n <= c->len - c->off ? 0 : -EPROTO;
}

/* Skips n whole values, counting what containers add rather than
 * recursing, so nesting depth in the data costs nothing. */
static int skip_vals(mp_cur *c, uint64_t n)
{
	while (n > 0) {
		mp_val v;
		int r = next_val(c, &v);
		if (r)
			return r;
		n--;
		if (v.kind == MP_ARRAY || v.kind == MP_MAP) {
			n += v.n;
			/* Each pending value needs a byte: refuse early, and keep n
			 * bounded by len so it never overflows. */
			if (n > c->len - c->off)
				return -EPROTO;
		}
	}
	return 0;
}

/* One container the format has opened and not yet closed. */
typedef struct mp_frame {
	uint64_t count; /* values it holds (2 per map pair) */
	uint64_t used;  /* values the format has read from it so far */
	bool exact;     /* opened with a NULL count: the format must list all */
} mp_frame;

ssize_t kin_mp_unpack(const void *data, size_t len, const char *fmt, ...)
{
	int r = check_fmt(fmt, true);
	if (r < 0)
		return r;
	if (!data && len)
		return -EINVAL;
	if (len > SSIZE_MAX)
		return -EINVAL;
	mp_cur c = {data, len, 0};
	mp_frame stack[MP_MAX_DEPTH];
	size_t depth = 0;
	va_list ap;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f == ']' || *f == '}') {
			mp_frame *fr = &stack[--depth];
			if (fr->exact && fr->used != fr->count) {
				r = -EPROTO;
				break;
			}
			/* A count the caller asked for means "I know there may be
			 * more": the rest is skipped so the offset lands after it. */
			r = skip_vals(&c, fr->count - fr->used);
			if (r)
				break;
			continue;
		}
		if (depth > 0) {
			mp_frame *fr = &stack[depth - 1];
			if (fr->used == fr->count) {
				r = -EPROTO; /* the format lists more than the data holds */
				break;
			}
			fr->used++;
		}
		if (*f == '*') {
			r = skip_vals(&c, 1);
			if (r)
				break;
			continue;
		}
		mp_val v;
		r = next_val(&c, &v);
		if (r)
			break;
		r = -EPROTO; /* for every type mismatch below */
		switch (*f) {
		case 'i': {
			int64_t *out = va_arg(ap, int64_t *);
			if (v.kind == MP_UINT && v.u <= INT64_MAX)
				v.i = (int64_t)v.u;
			else if (v.kind != MP_INT)
				goto done;
			if (out)
				*out = v.i;
			break;
		}
		case 'u': {
			uint64_t *out = va_arg(ap, uint64_t *);
			if (v.kind == MP_INT && v.i >= 0)
				v.u = (uint64_t)v.i;
			else if (v.kind != MP_UINT)
				goto done;
			if (out)
				*out = v.u;
			break;
		}
		case 'd': {
			double *out = va_arg(ap, double *);
			if (v.kind == MP_UINT)
				v.d = (double)v.u;
			else if (v.kind == MP_INT)
				v.d = (double)v.i;
			else if (v.kind != MP_FLOAT)
				goto done;
			if (out)
				*out = v.d;
			break;
		}
		case 't': {
			bool *out = va_arg(ap, bool *);
			if (v.kind != MP_BOOL)
				goto done;
			if (out)
				*out = v.b;
			break;
		}
		case 'n':
			if (v.kind != MP_NIL)
				goto done;
			break;
		case 's':
		case 'S': {
			const char **out = va_arg(ap, const char **);
			size_t *out_len = va_arg(ap, size_t *);
			/* 's' reads back what packing 's' wrote: NULL as nil. */
			if (*f == 's' && v.kind == MP_NIL)
				v.ptr = NULL;
			else if (v.kind != MP_STR)
				goto done;
			if (out)
				*out = (const char *)v.ptr;
			if (out_len)
				*out_len = (size_t)v.n;
			break;
		}
		case 'b': {
			const void **out = va_arg(ap, const void **);
			size_t *out_len = va_arg(ap, size_t *);
			/* A str is taken as bytes too: many packers write only strs. */
			if (v.kind != MP_BIN && v.kind != MP_STR)
				goto done;
			if (out)
				*out = v.ptr;
			if (out_len)
				*out_len = (size_t)v.n;
			break;
		}
		case '[':
		case '{': {
			size_t *out = va_arg(ap, size_t *);
			if (v.kind != (*f == '[' ? MP_ARRAY : MP_MAP))
				goto done;
			if (out)
				*out = (size_t)(*f == '[' ? v.n : v.n / 2);
			stack[depth++] = (mp_frame){.count = v.n, .exact = out == NULL};
			break;
		}
		}
		r = 0;
	}
done:
	va_end(ap);
	return r < 0 ? r : (ssize_t)c.off;
}
