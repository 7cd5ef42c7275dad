/* The worker protocol codec (src/worker/protocol.c): each message both
 * ways, the exact bytes docs/protocol.md shows, and every rule the strict
 * decoder enforces. */
#include "harness.h"

#include "../src/worker/protocol.h"

#include <stdint.h>

#define BYTES(lit) (const void *)(lit), (sizeof(lit) - 1)

static void append(kin_buf *b, const void *p, size_t n)
{
	/* Through kin_mp_pack's own buffer handling: a raw bin body is added
	 * by packing it and dropping the bin header it wrote. */
	size_t start = b->len;
	ASSERT_OK(kin_mp_pack(b, "b", p, n));
	size_t hdr = b->len - start - n;
	memmove(b->data + start, b->data + start + hdr, n);
	b->len = start + n;
}

static void assert_bytes(const kin_buf *b, const void *want, size_t n, int line)
{
	if (b->len != n || memcmp(b->data, want, n) != 0) {
		char got[256] = "";
		for (size_t k = 0; k < b->len && k < 60; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%02x ",
				 (unsigned char)b->data[k]);
		test_fail(__FILE__, line, "encoded %zu bytes (%s), expected %zu", b->len, got, n);
	}
}
#define ASSERT_BYTES(b, lit) assert_bytes((b), BYTES(lit), __LINE__)

/* Decodes, expecting -EPROTO, and checks the message was left empty. */
static void expect_eproto(const kin_buf *b, int line)
{
	kin__pmsg m;
	memset(&m, 0xa5, sizeof(m));
	int r = kin__proto_decode(b->data, b->len, &m);
	if (r != -EPROTO)
		test_fail(__FILE__, line, "decode gave %d, expected -EPROTO", r);
	if (m.names != NULL || m.nnames != 0 || m.name != NULL || m.body != NULL)
		test_fail(__FILE__, line, "a failed decode left fields set");
}
#define EXPECT_EPROTO(b) expect_eproto((b), __LINE__)

TEST(protocol_hello_round_trip)
{
	kin_buf b = KIN_BUF_INIT;
	const char *names[] = {"echo", "add", "a.b/c d"};
	ASSERT_OK(kin__proto_hello(&b, 4242, names, 3));
	kin__pmsg m;
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_HELLO);
	ASSERT_EQ(m.version, KIN__PROTOCOL_VERSION);
	ASSERT_EQ(m.pid, 4242);
	ASSERT_EQ(m.nnames, 3);
	for (size_t k = 0; k < 3; k++)
		ASSERT_STR_EQ(m.names[k], names[k]);
	/* Copies, not pointers into the message. */
	ASSERT(m.names[0] < b.data || m.names[0] >= b.data + b.len);
	kin__pmsg_free(&m);
	ASSERT(m.names == NULL);
	kin__pmsg_free(&m); /* twice is harmless */
	kin__pmsg_free(NULL);
	kin_buf_free(&b);

	/* No names at all is a worker that serves nothing yet: allowed. */
	ASSERT_OK(kin__proto_hello(&b, 1, NULL, 0));
	ASSERT_BYTES(&b, "\x94\x00\x01\x01\x90");
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.nnames, 0);
	kin__pmsg_free(&m);
	kin_buf_free(&b);
}

TEST(protocol_call_cast_reply_detach_round_trip)
{
	kin_buf b = KIN_BUF_INIT;
	kin__pmsg m;
	ASSERT_OK(kin__proto_call_prefix(&b, 77, "echo", 5));
	append(&b, "hello", 5);
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_CALL);
	ASSERT_EQ(m.id, 77);
	ASSERT(m.name_len == 4 && memcmp(m.name, "echo", 4) == 0);
	ASSERT(m.body_len == 5 && memcmp(m.body, "hello", 5) == 0);
	/* Name and body point into the message. */
	ASSERT(m.name > b.data && m.name < b.data + b.len);
	ASSERT((const char *)m.body + m.body_len == b.data + b.len);
	kin__pmsg_free(&m);
	kin_buf_free(&b);

	ASSERT_OK(kin__proto_cast_prefix(&b, "kin.exit", 0));
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_CAST);
	ASSERT(m.name_len == 8 && memcmp(m.name, "kin.exit", 8) == 0);
	ASSERT_EQ(m.body_len, 0);
	kin__pmsg_free(&m);
	kin_buf_free(&b);

	ASSERT_OK(kin__proto_reply_prefix(&b, UINT64_MAX, -38, 3));
	append(&b, "abc", 3);
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_REPLY);
	ASSERT(m.id == UINT64_MAX);
	ASSERT_EQ(m.error, KIN__NO_HANDLER);
	ASSERT(m.body_len == 3 && memcmp(m.body, "abc", 3) == 0);
	kin__pmsg_free(&m);
	kin_buf_free(&b);

	ASSERT_OK(kin__proto_reply_prefix(&b, 1, INT64_MIN, 0));
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT(m.error == INT64_MIN);
	kin_buf_free(&b);

	ASSERT_OK(kin__proto_detach(&b, 3));
	ASSERT_BYTES(&b, "\x92\x04\x03");
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_DETACH);
	ASSERT_EQ(m.id, 3);
	kin_buf_free(&b);
	ASSERT_OK(kin__proto_detach(&b, UINT64_MAX));
	ASSERT_BYTES(&b, "\x92\x04\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_DETACH);
	ASSERT(m.id == UINT64_MAX);
	kin_buf_free(&b);

	/* Bodies past 64 KiB take the bin 32 header the spec names. */
	ASSERT_OK(kin__proto_call_prefix(&b, 2, "x", 70000));
	ASSERT_BYTES(&b, "\x94\x01\x02\xa1x\xc6\x00\x01\x11\x70");
	char *big = calloc(1, 70000);
	ASSERT(big);
	append(&b, big, 70000);
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.body_len, 70000);
	free(big);
	kin_buf_free(&b);
}

/* The bytes of the worked example in docs/protocol.md. */
TEST(protocol_bytes_match_the_spec_example)
{
	kin_buf b = KIN_BUF_INIT;
	const char *names[] = {"echo", "add"};
	ASSERT_OK(kin__proto_hello(&b, 4242, names, 2));
	ASSERT_BYTES(&b, "\x94\x00\x01\xcd\x10\x92\x92\xa4"
			 "echo"
			 "\xa3"
			 "add");
	kin_buf_free(&b);
	ASSERT_OK(kin__proto_call_prefix(&b, 1, "add", 3));
	append(&b, "\x92\x02\x03", 3);
	ASSERT_BYTES(&b, "\x94\x01\x01\xa3"
			 "add"
			 "\xc4\x03\x92\x02\x03");
	kin_buf_free(&b);
	ASSERT_OK(kin__proto_reply_prefix(&b, 1, 0, 1));
	append(&b, "\x05", 1);
	ASSERT_BYTES(&b, "\x94\x03\x01\x00\xc4\x01\x05");
	kin_buf_free(&b);
	ASSERT_OK(kin__proto_cast_prefix(&b, "echo", 0));
	ASSERT_BYTES(&b, "\x93\x02\xa4"
			 "echo"
			 "\xc4\x00");
	kin_buf_free(&b);
	/* DETACH [4, 5] and the REPLY [3, 5, 0, b""] that acknowledges it. */
	ASSERT_OK(kin__proto_detach(&b, 5));
	ASSERT_BYTES(&b, "\x92\x04\x05");
	kin_buf_free(&b);
	ASSERT_OK(kin__proto_reply_prefix(&b, 5, 0, 0));
	ASSERT_BYTES(&b, "\x94\x03\x05\x00\xc4\x00");
	kin_buf_free(&b);
}

TEST(protocol_encoders_refuse_what_decoders_would)
{
	kin_buf b = KIN_BUF_INIT;
	ASSERT_OK(kin__proto_detach(&b, 1));
	size_t len = b.len;
	char long_name[KIN__MAX_NAME + 2];
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[KIN__MAX_NAME + 1] = 0;
	const char *bad[] = {"ok", "", long_name};
	ASSERT_EQ(kin__proto_hello(&b, 1, bad, 2), -EINVAL);
	ASSERT_EQ(kin__proto_hello(&b, 1, bad + 2, 1), -EINVAL);
	ASSERT_EQ(kin__proto_hello(&b, 1, NULL, 1), -EINVAL);
	const char **many = calloc(KIN__MAX_HANDLERS + 1, sizeof(char *));
	ASSERT(many);
	for (size_t k = 0; k <= KIN__MAX_HANDLERS; k++)
		many[k] = "h";
	ASSERT_EQ(kin__proto_hello(&b, 1, many, KIN__MAX_HANDLERS + 1), -EINVAL);
	ASSERT_EQ(kin__proto_call_prefix(&b, 1, "", 0), -EINVAL);
	ASSERT_EQ(kin__proto_call_prefix(&b, 1, long_name, 0), -EINVAL);
	ASSERT_EQ(kin__proto_call_prefix(&b, 1, NULL, 0), -EINVAL);
	ASSERT_EQ(kin__proto_call_prefix(&b, 0, "x", 0), -EINVAL);
	ASSERT_EQ(kin__proto_call_prefix(&b, 1, "x", (size_t)UINT32_MAX + 1), -EINVAL);
	ASSERT_EQ(kin__proto_cast_prefix(&b, "", 0), -EINVAL);
	ASSERT_EQ(kin__proto_reply_prefix(&b, 0, 0, 0), -EINVAL);
	ASSERT_EQ(kin__proto_detach(&b, 0), -EINVAL);
	ASSERT_EQ(b.len, len);

	/* The limits themselves are fine: 1024 names, 255 bytes each. */
	long_name[KIN__MAX_NAME] = 0;
	for (size_t k = 0; k < KIN__MAX_HANDLERS; k++)
		many[k] = long_name;
	kin_buf_free(&b);
	ASSERT_OK(kin__proto_hello(&b, 99, many, KIN__MAX_HANDLERS));
	kin__pmsg m;
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.nnames, KIN__MAX_HANDLERS);
	ASSERT_STR_EQ(m.names[KIN__MAX_HANDLERS - 1], long_name);
	kin__pmsg_free(&m);
	free(many);
	kin_buf_free(&b);
}

/* Builds one message with kin_mp_pack and expects the decoder to refuse it. */
#define REJECT(...)                                                                                \
	do {                                                                                       \
		kin_buf rb_ = KIN_BUF_INIT;                                                        \
		ASSERT_OK(kin_mp_pack(&rb_, __VA_ARGS__));                                         \
		EXPECT_EPROTO(&rb_);                                                               \
		kin_buf_free(&rb_);                                                                \
	} while (0)
#define I(x) ((int64_t)(x))
#define U(x) ((uint64_t)(x))
#define Z(x) ((size_t)(x))

TEST(protocol_decoder_is_strict)
{
	char n255[256], n256[257];
	memset(n255, 'a', 255);
	n255[255] = 0;
	memset(n256, 'a', 256);
	n256[256] = 0;

	/* Not an array of a known type. */
	REJECT("i", I(1));
	REJECT("{}", Z(0));
	REJECT("[]", Z(0));
	REJECT("[i]", Z(1), I(-1));
	REJECT("[s]", Z(1), "1");
	REJECT("[u]", Z(1), U(5));
	REJECT("[u]", Z(1), U(1) << 40);
	REJECT("[d]", Z(1), 1.0);
	REJECT("[n]", Z(1));

	/* CALL [1, id, name, args(bin)]. */
	REJECT("[uusb]", Z(4), U(1), U(0), "f", "", Z(0));          /* id 0 */
	REJECT("[uisb]", Z(4), U(1), I(-3), "f", "", Z(0));         /* id < 0 */
	REJECT("[ussb]", Z(4), U(1), "7", "f", "", Z(0));           /* id not an int */
	REJECT("[udsb]", Z(4), U(1), 7.0, "f", "", Z(0));           /* id a float */
	REJECT("[uusb]", Z(4), U(1), U(1), "", "", Z(0));           /* empty name */
	REJECT("[uusb]", Z(4), U(1), U(1), n256, "", Z(0));         /* name too long */
	REJECT("[uuSb]", Z(4), U(1), U(1), "a\0b", Z(3), "", Z(0)); /* NUL in name */
	REJECT("[uubb]", Z(4), U(1), U(1), "f", Z(1), "", Z(0));    /* name a bin */
	REJECT("[uuns]", Z(4), U(1), U(1), "f");                    /* name nil */
	REJECT("[uuss]", Z(4), U(1), U(1), "f", "args");            /* args a str */
	REJECT("[uusn]", Z(4), U(1), U(1), "f");                    /* args nil */
	REJECT("[uus]", Z(3), U(1), U(1), "f");                     /* too short */
	REJECT("[uusbn]", Z(5), U(1), U(1), "f", "", Z(0));         /* too long */
	REJECT("[uusb]i", Z(4), U(1), U(1), "f", "", Z(0), I(0));   /* trailing */

	/* CAST [2, name, args(bin)]. */
	REJECT("[usb]", Z(3), U(2), "", "", Z(0));
	REJECT("[uSb]", Z(3), U(2), "\0", Z(1), "", Z(0));
	REJECT("[uss]", Z(3), U(2), "f", "");
	REJECT("[uusb]", Z(4), U(2), U(1), "f", "", Z(0));
	REJECT("[us]", Z(2), U(2), "f");

	/* REPLY [3, id, error, data(bin)]. */
	REJECT("[uuib]", Z(4), U(3), U(0), I(0), "", Z(0));
	REJECT("[usib]", Z(4), U(3), "1", I(0), "", Z(0));
	REJECT("[uusb]", Z(4), U(3), U(1), "0", "", Z(0));
	REJECT("[uuub]", Z(4), U(3), U(1), U(INT64_MAX) + 1, "", Z(0));
	REJECT("[uuis]", Z(4), U(3), U(1), I(0), "");
	REJECT("[uui]", Z(3), U(3), U(1), I(0));
	REJECT("[uuibb]", Z(5), U(3), U(1), I(0), "", Z(0), "", Z(0));

	/* DETACH [4, id]. */
	REJECT("[u]", Z(1), U(4));                   /* the old [4], without an id */
	REJECT("[uu]", Z(2), U(4), U(0));            /* id 0 */
	REJECT("[ui]", Z(2), U(4), I(-1));           /* id < 0 */
	REJECT("[us]", Z(2), U(4), "1");             /* id not an int */
	REJECT("[ud]", Z(2), U(4), 1.0);             /* id a float */
	REJECT("[un]", Z(2), U(4));                  /* id nil */
	REJECT("[uub]", Z(3), U(4), U(1), "", Z(0)); /* too long */
	REJECT("[uu]n", Z(2), U(4), U(1));           /* trailing */

	/* HELLO [0, version, pid, [names]]. */
	REJECT("[uuu[]]", Z(3), U(0), U(1), U(5), Z(0));
	REJECT("[uui[]n]", Z(5), U(0), U(1), I(5), Z(0));
	REJECT("[uui[]]", Z(4), U(0), U(1), I(0), Z(0));
	REJECT("[uui[]]", Z(4), U(0), U(1), I(-5), Z(0));
	REJECT("[uui[]]", Z(4), U(0), U(1), I(INT32_MAX) + 1, Z(0));
	REJECT("[uus[]]", Z(4), U(0), U(1), "5", Z(0));
	REJECT("[uuis]", Z(4), U(0), U(1), I(5), "echo");
	REJECT("[uui{}]", Z(4), U(0), U(1), I(5), Z(0));
	REJECT("[uui[s]]", Z(4), U(0), U(1), I(5), Z(1), "");
	REJECT("[uui[s]]", Z(4), U(0), U(1), I(5), Z(1), n256);
	REJECT("[uui[S]]", Z(4), U(0), U(1), I(5), Z(1), "a\0", Z(2));
	REJECT("[uui[b]]", Z(4), U(0), U(1), I(5), Z(1), "echo", Z(4));
	REJECT("[uui[si]]", Z(4), U(0), U(1), I(5), Z(2), "echo", I(1));
	REJECT("[uui[s]]n", Z(4), U(0), U(1), I(5), Z(1), "echo");
	REJECT("[u]", Z(1), U(0));
	REJECT("[ui]", Z(2), U(0), I(-1));
	REJECT("[us]", Z(2), U(0), "1");

	/* The same shapes with everything right do decode (so the rejections
	 * above are about the one thing changed). */
	kin_buf b = KIN_BUF_INIT;
	kin__pmsg m;
	ASSERT_OK(kin_mp_pack(&b, "[uui[ss]]", Z(4), U(0), U(1), I(5), Z(2), n255, "x"));
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	kin__pmsg_free(&m);
	kin_buf_free(&b);
	/* Integers in any width or signedness the value fits. */
	ASSERT_OK(kin_mp_pack(&b, "[iisb]", Z(4), I(1), I(1), "f", "", Z(0)));
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_CALL);
	kin_buf_free(&b);
	ASSERT_OK(kin_mp_pack(&b, "[uuib]", Z(4), U(3), U(1), I(INT64_MIN), "", Z(0)));
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	kin_buf_free(&b);
	ASSERT_OK(kin_mp_pack(&b, "[ii]", Z(2), I(4), I(9)));
	ASSERT_OK(kin__proto_decode(b.data, b.len, &m));
	ASSERT_EQ(m.type, KIN__P_DETACH);
	ASSERT_EQ(m.id, 9);
	kin_buf_free(&b);

	/* Arrays whose count promises more than the message holds. */
	kin_buf lie = KIN_BUF_INIT;
	ASSERT_OK(kin_mp_pack(&lie, "[uusb]", Z(5), U(1), U(1), "f", "", Z(0)));
	EXPECT_EPROTO(&lie);
	kin_buf_free(&lie);
	ASSERT_OK(kin_mp_pack(&lie, "[uui[ss]]", Z(4), U(0), U(1), I(5), Z(3), "a", "b"));
	EXPECT_EPROTO(&lie);
	kin_buf_free(&lie);

	/* More than 1024 names. */
	ASSERT_OK(kin_mp_pack(&lie, "[uui[]]", Z(4), U(0), U(1), I(5), Z(KIN__MAX_HANDLERS + 1)));
	for (size_t k = 0; k <= KIN__MAX_HANDLERS; k++)
		ASSERT_OK(kin_mp_pack(&lie, "s", "h"));
	EXPECT_EPROTO(&lie);
	kin_buf_free(&lie);

	/* Not MessagePack, or nothing at all. */
	ASSERT_EQ(kin__proto_decode("", 0, &m), -EPROTO);
	ASSERT_EQ(kin__proto_decode(NULL, 0, &m), -EPROTO);
	ASSERT_EQ(kin__proto_decode(BYTES("\x91\xc1"), &m), -EPROTO);
	ASSERT_EQ(kin__proto_decode(BYTES("\xc1"), &m), -EPROTO);
}

TEST(protocol_other_version_hello_decodes_version_only)
{
	kin__pmsg m;
	static const struct {
		const char *b;
		size_t n;
		uint64_t version;
	} cases[] = {
		/* [0, 2, "anything", {}, 1.5]: another layout entirely. */
		{"\x95\x00\x02\xa8"
		 "anything"
		 "\x80\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
		 22, 2},
		/* [0, 0] and [0, 2^40]. */
		{"\x92\x00\x00", 3, 0},
		{"\x92\x00\xcf\x00\x00\x01\x00\x00\x00\x00\x00", 11, (uint64_t)1 << 40},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(&m, 0xa5, sizeof(m));
		ASSERT_EQ(kin__proto_decode(cases[k].b, cases[k].n, &m), 0);
		ASSERT_EQ(m.type, KIN__P_HELLO);
		ASSERT(m.version == cases[k].version);
		ASSERT(m.names == NULL && m.nnames == 0 && m.pid == 0);
		kin__pmsg_free(&m);
	}
	/* Version 1 with that layout is refused. */
	ASSERT_EQ(kin__proto_decode(BYTES("\x95\x00\x01\xa8"
					  "anything"
					  "\x80\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"),
				    &m),
		  -EPROTO);
	ASSERT_EQ(kin__proto_decode(BYTES("\x92\x00\x01"), &m), -EPROTO);
	/* Whatever the version, the array must at least hold what it claims
	 * to as MessagePack, and the version must be a number >= 0. */
	ASSERT_EQ(kin__proto_decode(BYTES("\x94\x00\x02"), &m), -EPROTO);
	ASSERT_EQ(kin__proto_decode(BYTES("\x92\x00\xff"), &m), -EPROTO);
	ASSERT_EQ(kin__proto_decode(BYTES("\x92\x00\xa1\x32"), &m), -EPROTO);
}

/* Every prefix of every valid message is refused, read from an exact-size
 * heap copy so the sanitizers catch a read past the end. */
TEST(protocol_truncated_messages_are_eproto)
{
	kin_buf msgs[6] = {KIN_BUF_INIT, KIN_BUF_INIT, KIN_BUF_INIT,
			   KIN_BUF_INIT, KIN_BUF_INIT, KIN_BUF_INIT};
	const char *names[] = {"echo", "add", "fail", "pid"};
	ASSERT_OK(kin__proto_hello(&msgs[0], 123456, names, 4));
	ASSERT_OK(kin__proto_call_prefix(&msgs[1], 1u << 20, "echo", 300));
	char body[300];
	memset(body, 'b', sizeof(body));
	append(&msgs[1], body, 300);
	ASSERT_OK(kin__proto_cast_prefix(&msgs[2], "kin.exit", 4));
	append(&msgs[2], "\x94\x01\xa0\x00", 4);
	ASSERT_OK(kin__proto_reply_prefix(&msgs[3], 99, 7, 17));
	append(&msgs[3], "failed on purpose", 17);
	ASSERT_OK(kin__proto_detach(&msgs[4], 1u << 20));
	ASSERT_OK(kin__proto_reply_prefix(&msgs[5], 1, -200000, 0));
	for (size_t k = 0; k < 6; k++) {
		kin__pmsg m;
		ASSERT_OK(kin__proto_decode(msgs[k].data, msgs[k].len, &m));
		kin__pmsg_free(&m);
		for (size_t len = 0; len < msgs[k].len; len++) {
			char *copy = malloc(len ? len : 1);
			ASSERT(copy);
			memcpy(copy, msgs[k].data, len);
			int r = kin__proto_decode(copy, len, &m);
			if (r != -EPROTO)
				test_fail(__FILE__, __LINE__, "message %zu cut to %zu/%zu: %d", k,
					  len, msgs[k].len, r);
			free(copy);
		}
		kin_buf_free(&msgs[k]);
	}
}
