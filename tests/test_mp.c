/* kin_mp_pack and kin_mp_unpack: every format character both ways, the
 * exact bytes other MessagePack implementations expect, and input that is
 * short, wrong or hostile. */
#include "harness.h"

#include <math.h>
#include <stdint.h>

/* Bytes written as a string literal, with their length. */
#define BYTES(lit) (const void *)(lit), (sizeof(lit) - 1)

static void assert_bytes(const kin_buf *b, const void *want, size_t n, int line)
{
	if (b->len != n || memcmp(b->data, want, n) != 0) {
		char got[256] = "";
		for (size_t k = 0; k < b->len && k < 60; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%02x ",
				 (unsigned char)b->data[k]);
		test_fail(__FILE__, line, "packed %zu bytes (%s), expected %zu", b->len, got, n);
	}
}
#define ASSERT_BYTES(b, lit) assert_bytes((b), BYTES(lit), __LINE__)

TEST(mp_round_trip_every_fmt_char)
{
	kin_buf b = KIN_BUF_INIT;
	static const char bin[] = {0, 1, 2, (char)0xff};
	ASSERT_OK(kin_mp_pack(&b, "[iudtnsSb]", (size_t)8, (int64_t)-5, (uint64_t)UINT64_MAX, 2.5,
			      true, "hello", "wor\0ld", (size_t)6, bin, sizeof(bin)));
	int64_t i = 0;
	uint64_t u = 0;
	double d = 0;
	bool t = false;
	const char *s, *S;
	const void *bp;
	size_t slen, Slen, blen, count = 0;
	ssize_t n = kin_mp_unpack(b.data, b.len, "[iudtnsSb]", &count, &i, &u, &d, &t, &s, &slen,
				  &S, &Slen, &bp, &blen);
	ASSERT_EQ(n, b.len);
	ASSERT_EQ(count, 8);
	ASSERT_EQ(i, -5);
	ASSERT(u == UINT64_MAX);
	ASSERT(d == 2.5);
	ASSERT(t);
	ASSERT_EQ(slen, 5);
	ASSERT(memcmp(s, "hello", 5) == 0);
	ASSERT_EQ(Slen, 6);
	ASSERT(memcmp(S, "wor\0ld", 6) == 0);
	ASSERT_EQ(blen, 4);
	ASSERT(memcmp(bp, bin, 4) == 0);
	/* Strings and bins point into the input, not into a copy. */
	ASSERT(s > b.data && s < b.data + b.len);
	ASSERT((const char *)bp > b.data && (const char *)bp + blen == b.data + b.len);
	kin_buf_free(&b);
}

TEST(mp_pack_writes_standard_bytes)
{
	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&b, "[is]", (size_t)2, (int64_t)1, "a"));
	ASSERT_BYTES(&b, "\x92\x01\xa1"
			 "a");
	kin_buf_free(&b);
	/* The smallest encoding for each integer, as the spec asks. */
	ASSERT_OK(kin_mp_pack(&b, "iiiiiii", (int64_t)127, (int64_t)128, (int64_t)-32, (int64_t)-33,
			      (int64_t)65536, (int64_t)-129, (int64_t)INT64_MIN));
	ASSERT_BYTES(&b, "\x7f"
			 "\xcc\x80"
			 "\xe0"
			 "\xd0\xdf"
			 "\xce\x00\x01\x00\x00"
			 "\xd1\xff\x7f"
			 "\xd3\x80\x00\x00\x00\x00\x00\x00\x00");
	kin_buf_free(&b);
	ASSERT_OK(kin_mp_pack(&b, "ntt{sn}d", 1, 0, (size_t)1, (const char *)NULL, 1.0));
	ASSERT_BYTES(&b, "\xc0\xc3\xc2\x81\xc0\xc0\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00");
	kin_buf_free(&b);
	ASSERT_OK(kin_mp_pack(&b, "bS", "", (size_t)0, (const char *)NULL, (size_t)0));
	ASSERT_BYTES(&b, "\xc4\x00\xa0");
	kin_buf_free(&b);
	/* Lengths and counts beyond the fix forms. */
	char big[300];
	memset(big, 'x', sizeof(big));
	ASSERT_OK(kin_mp_pack(&b, "S", big, (size_t)32));
	ASSERT_EQ(b.len, 34);
	ASSERT_EQ((unsigned char)b.data[0], 0xd9);
	kin_buf_free(&b);
	ASSERT_OK(kin_mp_pack(&b, "b", big, sizeof(big)));
	ASSERT_EQ((unsigned char)b.data[0], 0xc5);
	ASSERT_EQ((unsigned char)b.data[1], 0x01);
	ASSERT_EQ((unsigned char)b.data[2], 0x2c);
	kin_buf_free(&b);
	/* Counts are the caller's promise: the headers alone show the forms. */
	ASSERT_OK(kin_mp_pack(&b, "[]{}", (size_t)16, (size_t)70000));
	ASSERT_BYTES(&b, "\xdc\x00\x10\xdf\x00\x01\x11\x70");
	kin_buf_free(&b);
}

TEST(mp_integers_at_every_boundary)
{
	static const int64_t vals[] = {
		0,         1,      127,    128,          255,
		256,       65535,  65536,  4294967295LL, 4294967296LL,
		INT64_MAX, -1,     -32,    -33,          -128,
		-129,      -32768, -32769, INT32_MIN,    (int64_t)INT32_MIN - 1,
		INT64_MIN,
	};
	for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		kin_buf b = KIN_BUF_INIT;
		ASSERT_OK(kin_mp_pack(&b, "i", vals[k]));
		int64_t i = 0;
		ASSERT_EQ(kin_mp_unpack(b.data, b.len, "i", &i), b.len);
		ASSERT_EQ(i, vals[k]);
		uint64_t u = 0;
		if (vals[k] >= 0) {
			ASSERT_EQ(kin_mp_unpack(b.data, b.len, "u", &u), b.len);
			ASSERT(u == (uint64_t)vals[k]);
		} else {
			ASSERT_EQ(kin_mp_unpack(b.data, b.len, "u", &u), -EPROTO);
		}
		double d = 0;
		ASSERT_EQ(kin_mp_unpack(b.data, b.len, "d", &d), b.len);
		ASSERT(d == (double)vals[k]);
		kin_buf_free(&b);
	}
	/* Above INT64_MAX fits only a u. */
	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&b, "u", (uint64_t)INT64_MAX + 1));
	int64_t i = 7;
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "i", &i), -EPROTO);
	uint64_t u = 0;
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "u", &u), 9);
	ASSERT(u == (uint64_t)INT64_MAX + 1);
	kin_buf_free(&b);
}

/* Encodings kin does not write itself but other packers do. */
TEST(mp_unpack_reads_other_packers_forms)
{
	int64_t i = 0;
	uint64_t u = 0;
	/* A positive number in a signed form, a small one in a wide form. */
	ASSERT_EQ(kin_mp_unpack(BYTES("\xd2\x00\x00\x00\x05"), "u", &u), 5);
	ASSERT(u == 5);
	ASSERT_EQ(kin_mp_unpack(BYTES("\xcf\x00\x00\x00\x00\x00\x00\x00\x07"), "i", &i), 9);
	ASSERT_EQ(i, 7);
	ASSERT_EQ(kin_mp_unpack(BYTES("\xd1\x80\x00"), "i", &i), 3);
	ASSERT_EQ(i, -32768);
	/* float 32. */
	double d = 0;
	ASSERT_EQ(kin_mp_unpack(BYTES("\xca\x3f\xc0\x00\x00"), "d", &d), 5);
	ASSERT(d == 1.5);
	/* str 8/16/32, bin 32, and a str read as bytes by 'b'. */
	const char *s;
	size_t n;
	ASSERT_EQ(kin_mp_unpack(BYTES("\xd9\x02hi"), "S", &s, &n), 4);
	ASSERT(n == 2 && memcmp(s, "hi", 2) == 0);
	ASSERT_EQ(kin_mp_unpack(BYTES("\xda\x00\x02hi"), "s", &s, &n), 5);
	ASSERT_EQ(kin_mp_unpack(BYTES("\xdb\x00\x00\x00\x02hi"), "S", &s, &n), 7);
	const void *p;
	ASSERT_EQ(kin_mp_unpack(BYTES("\xc6\x00\x00\x00\x01z"), "b", &p, &n), 6);
	ASSERT(n == 1 && *(const char *)p == 'z');
	ASSERT_EQ(kin_mp_unpack(BYTES("\xa2hi"), "b", &p, &n), 3);
	ASSERT_EQ(n, 2);
	/* 's' gives NULL for nil (what packing 's' NULL writes); 'S' does not. */
	s = "x";
	ASSERT_EQ(kin_mp_unpack(BYTES("\xc0"), "s", &s, &n), 1);
	ASSERT(s == NULL && n == 0);
	ASSERT_EQ(kin_mp_unpack(BYTES("\xc0"), "S", &s, &n), -EPROTO);
	/* array 16, map 16 and 32, and exts, skipped by '*'. */
	size_t count;
	ASSERT_EQ(kin_mp_unpack(BYTES("\xdc\x00\x02\x01\x02"), "[", &count), 3);
	ASSERT_EQ(count, 2);
	ASSERT_EQ(kin_mp_unpack(BYTES("\xde\x00\x01\xa1k\x01"), "{", &count), 3);
	ASSERT_EQ(count, 1);
	ASSERT_EQ(kin_mp_unpack(BYTES("\xdf\x00\x00\x00\x01\xa1k\x01"), "{**}", &count), 8);
	static const char exts[] =
		"\xd4\x01\xaa"
		"\xd5\x01\xaa\xbb"
		"\xd6\xff\x00\x00\x00\x00"
		"\xd7\xff\x00\x00\x00\x00\x00\x00\x00\x00"
		"\xd8\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		"\xc7\x02\x07zz"
		"\xc8\x00\x01\x07z"
		"\xc9\x00\x00\x00\x00\x07";
	ASSERT_EQ(kin_mp_unpack(BYTES(exts), "********"), sizeof(exts) - 1);
	/* An ext is none of the typed values. */
	ASSERT_EQ(kin_mp_unpack(BYTES("\xd4\x01\xaa"), "b", &p, &n), -EPROTO);
}

TEST(mp_nesting_round_trip)
{
	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&b, "[i[ss]{sisi}[]]", (size_t)4, (int64_t)1, (size_t)2, "a", "bc",
			      (size_t)2, "x", (int64_t)10, "y", (int64_t)-20, (size_t)0));
	int64_t one, x, y;
	const char *a, *bc, *kx, *ky;
	size_t al, bcl, kxl, kyl, pairs, empty;
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "[i[ss]{sisi}[]]", NULL, &one, NULL, &a, &al, &bc,
				&bcl, &pairs, &kx, &kxl, &x, &ky, &kyl, &y, &empty),
		  b.len);
	ASSERT_EQ(one, 1);
	ASSERT(al == 1 && a[0] == 'a');
	ASSERT(bcl == 2 && memcmp(bc, "bc", 2) == 0);
	ASSERT_EQ(pairs, 2);
	ASSERT(kxl == 1 && kx[0] == 'x' && x == 10);
	ASSERT(kyl == 1 && ky[0] == 'y' && y == -20);
	ASSERT_EQ(empty, 0);
	/* '*' skips a whole nested value; NULL outputs only check the type. */
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "[i**[]]", NULL, NULL, NULL), b.len);
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "*"), b.len);
	kin_buf_free(&b);
}

TEST(mp_array_counts_exact_or_reported)
{
	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&b, "[iii]i", (size_t)3, (int64_t)1, (int64_t)2, (int64_t)3,
			      (int64_t)4));
	int64_t v1 = 0, v2 = 0, v4 = 0;
	/* NULL count: the format must list every element. */
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "[ii]", NULL, &v1, &v2), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "[iiii]", NULL, &v1, &v2, &v1, &v2), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "[iii]", NULL, &v1, &v2, &v2), 4);
	/* A count asked for: the elements not listed are skipped. */
	size_t count = 0;
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "[i]i", &count, &v1, &v4), 5);
	ASSERT_EQ(count, 3);
	ASSERT_EQ(v1, 1);
	ASSERT_EQ(v4, 4);
	/* Still never more than there are. */
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "[iiii]", &count, &v1, &v1, &v1, &v1), -EPROTO);
	/* Left open, the offset lands on the first element: a list of any
	 * length is read one element at a time. */
	ssize_t off = kin_mp_unpack(b.data, b.len, "[", &count);
	ASSERT_EQ(off, 1);
	int64_t sum = 0;
	for (size_t k = 0; k < count; k++) {
		int64_t v;
		ssize_t n = kin_mp_unpack(b.data + off, b.len - (size_t)off, "i", &v);
		ASSERT(n > 0);
		off += n;
		sum += v;
	}
	ASSERT_EQ(sum, 6);
	ASSERT_EQ(off, 4);
	/* Maps: a count in pairs. */
	kin_buf_free(&b);
	ASSERT_OK(kin_mp_pack(&b, "{sisi}", (size_t)2, "a", (int64_t)1, "b", (int64_t)2));
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "{si}", NULL, NULL, NULL, &v1), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "{si}", &count, NULL, NULL, &v1), b.len);
	ASSERT_EQ(count, 2);
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "{****}", NULL), b.len);
	kin_buf_free(&b);
}

TEST(mp_type_mismatch_is_eproto)
{
	/* One encoding of each type; each format character accepts only some. */
	static const struct {
		const char *bytes;
		size_t len;
		const char *accepts; /* format characters that read it */
	} vals[] = {
		{"\x05", 1, "iud*"},
		{"\xff", 1, "id*"},
		{"\xcb\x40\x00\x00\x00\x00\x00\x00\x00", 9, "d*"},
		{"\xc3", 1, "t*"},
		{"\xc0", 1, "ns*"},
		{"\xa1x", 2, "sSb*"},
		{"\xc4\x01x", 3, "b*"},
		{"\x91\x01", 2, "[*"},
		{"\x81\x01\x01", 3, "{*"},
		{"\xd4\x01\x00", 3, "*"},
	};
	static const char *const fmts[] = {"i", "u", "d",   "t",    "n", "s",
					   "S", "b", "[*]", "{**}", "*"};
	for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
		for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
			/* Every output slot a format could want, all pointing at scratch. */
			union {
				int64_t i;
				double d;
				bool t;
				const void *p;
				size_t n;
			} o1, o2;
			ssize_t r = kin_mp_unpack(vals[v].bytes, vals[v].len, fmts[f], &o1, &o2);
			bool ok = strchr(vals[v].accepts, fmts[f][0]) != NULL;
			if (ok && r != (ssize_t)vals[v].len)
				test_fail(__FILE__, __LINE__, "value %zu fmt %s: %zd, expected %zu",
					  v, fmts[f], r, vals[v].len);
			if (!ok && r != -EPROTO)
				test_fail(__FILE__, __LINE__,
					  "value %zu fmt %s: %zd, expected -EPROTO", v, fmts[f], r);
		}
	}
}

/* Every prefix of a valid encoding is short: -EPROTO, never a crash or a
 * read past the end (the sanitizer build checks the latter, on a heap
 * copy of exactly the prefix). */
static void check_prefixes(const kin_buf *b, const char *fmt)
{
	for (size_t len = 0; len < b->len; len++) {
		char *copy = malloc(len ? len : 1);
		ASSERT(copy);
		memcpy(copy, b->data, len);
		/* Outputs are scratch space; many formats want several. */
		uint64_t scratch[32];
		ssize_t r = kin_mp_unpack(copy, len, fmt, &scratch[0], &scratch[1], &scratch[2],
					  &scratch[3], &scratch[4], &scratch[5], &scratch[6],
					  &scratch[7], &scratch[8], &scratch[9], &scratch[10],
					  &scratch[11], &scratch[12], &scratch[13], &scratch[14],
					  &scratch[15], &scratch[16], &scratch[17], &scratch[18]);
		if (r != -EPROTO)
			test_fail(__FILE__, __LINE__, "fmt %s, prefix of %zu/%zu bytes: %zd", fmt,
				  len, b->len, r);
		r = kin_mp_unpack(copy, len, "*");
		if (r != -EPROTO)
			test_fail(__FILE__, __LINE__, "'*', prefix of %zu/%zu bytes: %zd", len,
				  b->len, r);
		free(copy);
	}
}

TEST(mp_truncated_input_at_every_length)
{
	kin_buf b = KIN_BUF_INIT;
	char big[70000];
	memset(big, 'q', sizeof(big));
	ASSERT_OK(kin_mp_pack(&b, "[iudtnsSb{si}[]]", (size_t)10, (int64_t)-100000,
			      (uint64_t)1 << 40, 0.25, false, "text", big, (size_t)300, "bin",
			      (size_t)3, (size_t)1, "k", (int64_t)1, (size_t)0));
	check_prefixes(&b, "[iudtnsSb{si}[]]");
	kin_buf_free(&b);
	/* A str 32 and a bin 32 are long: check a few of their prefixes only. */
	ASSERT_OK(kin_mp_pack(&b, "Sb", big, sizeof(big), big, sizeof(big)));
	ssize_t whole = kin_mp_unpack(b.data, b.len, "**");
	ASSERT_EQ(whole, b.len);
	for (size_t len = 0; len < 10; len++)
		ASSERT_EQ(kin_mp_unpack(b.data, len, "S", NULL, NULL), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(b.data, b.len - 1, "Sb", NULL, NULL, NULL, NULL), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(b.data, b.len - 1, "**"), -EPROTO);
	kin_buf_free(&b);
	/* Every fixed-size form cut short. */
	static const struct {
		const char *b;
		size_t n;
	} forms[] = {
#define FORM(lit) {lit, sizeof(lit) - 1}
		FORM("\xcc\x01"),
		FORM("\xcd\x00\x01"),
		FORM("\xce\x00\x00\x00\x01"),
		FORM("\xcf\x00\x00\x00\x00\x00\x00\x00\x01"),
		FORM("\xd0\x01"),
		FORM("\xd1\x00\x01"),
		FORM("\xd2\x00\x00\x00\x01"),
		FORM("\xd3\x00\x00\x00\x00\x00\x00\x00\x01"),
		FORM("\xca\x00\x00\x00\x01"),
		FORM("\xcb\x00\x00\x00\x00\x00\x00\x00\x01"),
		FORM("\xd4\x01\x01"),
		FORM("\xd5\x01\x00\x01"),
		FORM("\xc7\x01\x01\x01"),
		FORM("\xc8\x00\x01\x01\x01"),
		FORM("\xc9\x00\x00\x00\x01\x01\x01"),
		FORM("\xc4\x01\x01"),
		FORM("\xc5\x00\x01\x01"),
		FORM("\xc6\x00\x00\x00\x01\x01"),
		FORM("\xd9\x01\x01"),
		FORM("\xda\x00\x01\x01"),
		FORM("\xdb\x00\x00\x00\x01\x01"),
		FORM("\xdc\x00\x01\x01"),
		FORM("\xdd\x00\x00\x00\x01\x01"),
		FORM("\xde\x00\x01\x01\x01"),
		FORM("\xdf\x00\x00\x00\x01\x01\x01"),
#undef FORM
	};
	for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
		ASSERT_EQ(kin_mp_unpack(forms[k].b, forms[k].n, "*"), forms[k].n);
		for (size_t len = 0; len < forms[k].n; len++)
			if (kin_mp_unpack(forms[k].b, len, "*") != -EPROTO)
				test_fail(__FILE__, __LINE__, "form %zu cut to %zu bytes", k, len);
	}
}

TEST(mp_hostile_counts_fail_without_allocating)
{
	/* Counts and lengths far beyond the input, as a peer could send them. */
	static const char *const evil[] = {
		"\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff",     "\xdb\xff\xff\xff\xff",
		"\xc6\xff\xff\xff\xff", "\xc9\xff\xff\xff\xff\x01", "\xdc\xff\xff",
	};
	long rss = test_rss_kib();
	for (size_t k = 0; k < sizeof(evil) / sizeof(evil[0]); k++) {
		size_t n = k == 4 ? 6 : k == 5 ? 3 : 5;
		size_t count;
		ASSERT_EQ(kin_mp_unpack(evil[k], n, "*"), -EPROTO);
		ASSERT_EQ(kin_mp_unpack(evil[k], n, "[", &count), -EPROTO);
		ASSERT_EQ(kin_mp_unpack(evil[k], n, "b", NULL, NULL), -EPROTO);
	}
	/* Deep nesting costs no stack: 200000 arrays of one, then a nil. */
	size_t depth = 200000;
	char *deep = malloc(depth + 1);
	ASSERT(deep);
	memset(deep, 0x91, depth);
	deep[depth] = (char)0xc0;
	ASSERT_EQ(kin_mp_unpack(deep, depth + 1, "*"), depth + 1);
	ASSERT_EQ(kin_mp_unpack(deep, depth, "*"), -EPROTO);
	free(deep);
	ASSERT(test_rss_kib() - rss < 10 * 1024);
	/* 0xc1 is never used. */
	ASSERT_EQ(kin_mp_unpack(BYTES("\xc1"), "*"), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(BYTES("\x91\xc1"), "*"), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(NULL, 0, "*"), -EPROTO);
	ASSERT_EQ(kin_mp_unpack(NULL, 0, ""), 0);
}

TEST(mp_bad_fmt_is_einval_and_touches_nothing)
{
	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&b, "i", (int64_t)1));
	static const char *const bad_pack[] = {"x",  "[", "]",  "{",  "}",  "[}",
					       "{]", "*", "[i", " i", "i ", "ii]"};
	for (size_t k = 0; k < sizeof(bad_pack) / sizeof(bad_pack[0]); k++) {
		if (kin_mp_pack(&b, bad_pack[k], (size_t)1, (int64_t)1) != -EINVAL)
			test_fail(__FILE__, __LINE__, "pack fmt \"%s\" accepted", bad_pack[k]);
		ASSERT_EQ(b.len, 1);
	}
	ASSERT_EQ(kin_mp_pack(&b, NULL), -EINVAL);
	ASSERT_EQ(kin_mp_pack(NULL, "n"), -EINVAL);
	/* Arguments the format cannot encode: the buffer is left as it was,
	 * even when part of the value had already been written. */
	ASSERT_EQ(kin_mp_pack(&b, "[iS]", (size_t)2, (int64_t)5, (const char *)NULL, (size_t)3),
		  -EINVAL);
	ASSERT_EQ(b.len, 1);
	ASSERT_EQ(kin_mp_pack(&b, "b", "x", (size_t)UINT32_MAX + 1), -EINVAL);
	ASSERT_EQ(kin_mp_pack(&b, "[", (size_t)UINT32_MAX + 1), -EINVAL);
	ASSERT_EQ(b.len, 1);

	static const char *const bad_unpack[] = {"x", "]", "}", "[}", "{]", "i]", " ", "i*x"};
	for (size_t k = 0; k < sizeof(bad_unpack) / sizeof(bad_unpack[0]); k++) {
		int64_t v = 42;
		if (kin_mp_unpack(b.data, b.len, bad_unpack[k], &v) != -EINVAL)
			test_fail(__FILE__, __LINE__, "unpack fmt \"%s\" accepted", bad_unpack[k]);
		ASSERT_EQ(v, 42);
	}
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, NULL), -EINVAL);
	ASSERT_EQ(kin_mp_unpack(NULL, 3, "*"), -EINVAL);
	kin_buf_free(&b);

	/* 64 brackets deep is allowed, 65 is not. */
	char fmt[200];
	memset(fmt, '[', 64);
	memset(fmt + 64, ']', 64);
	fmt[128] = 0;
	char deep[64];
	memset(deep, 0x91, 63);
	deep[63] = (char)0x90;
	ASSERT_EQ(kin_mp_unpack(deep, 64, fmt, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
				NULL,                                           /* 8 */
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, /* 16 */
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, /* 24 */
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, /* 32 */
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, /* 40 */
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, /* 48 */
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, /* 56 */
				NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		  64);
	memset(fmt, '[', 65);
	memset(fmt + 65, ']', 65);
	fmt[130] = 0;
	ASSERT_EQ(kin_mp_unpack(deep, 64, fmt), -EINVAL);
	ASSERT_EQ(kin_mp_pack(&b, fmt), -EINVAL);
	ASSERT_EQ(b.len, 0);
}

TEST(mp_pack_appends_and_reads_back_in_sequence)
{
	kin_buf b = KIN_BUF_INIT;
	for (int64_t k = 0; k < 1000; k++)
		ASSERT_OK(kin_mp_pack(&b, "[is]", (size_t)2, k * 1000 - 7, "x"));
	size_t off = 0;
	for (int64_t k = 0; k < 1000; k++) {
		int64_t v;
		ssize_t n = kin_mp_unpack(b.data + off, b.len - off, "[is]", NULL, &v, NULL, NULL);
		ASSERT(n > 0);
		ASSERT_EQ(v, k * 1000 - 7);
		off += (size_t)n;
	}
	ASSERT_EQ(off, b.len);
	/* Trailing bytes are not an error: the count says where the value ended. */
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "*"), 4);
	/* Doubles keep every bit, including the odd ones. */
	kin_buf_free(&b);
	ASSERT_OK(kin_mp_pack(&b, "ddd", -0.0, INFINITY, 1e-310));
	double d1, d2, d3;
	ASSERT_EQ(kin_mp_unpack(b.data, b.len, "ddd", &d1, &d2, &d3), 27);
	ASSERT(d1 == 0 && signbit(d1));
	ASSERT(isinf(d2));
	ASSERT(d3 == 1e-310);
	kin_buf_free(&b);
}
