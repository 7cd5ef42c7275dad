/* The kin command's value parsers. The Makefile builds cli/ only into the
 * kin binary, so the parser source is compiled into this test directly; it
 * is self-contained (libc only) for exactly this reason. */
#include "harness.h"

#include "../cli/parse.c"

#include <signal.h>

static int64_t dur(const char *s)
{
	int64_t ns = -42;
	int r = cli_parse_duration(s, &ns);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "duration \"%s\" refused: %s", s, kin_strerror(r));
	return ns;
}

TEST(cli_parse_duration_accepts_the_documented_forms)
{
	ASSERT_EQ(dur("10"), 10 * KIN_SEC);
	ASSERT_EQ(dur("10s"), 10 * KIN_SEC);
	ASSERT_EQ(dur("1.5s"), 1500 * KIN_MSEC);
	ASSERT_EQ(dur("1.5"), 1500 * KIN_MSEC);
	ASSERT_EQ(dur(".25"), 250 * KIN_MSEC);
	ASSERT_EQ(dur("500ms"), 500 * KIN_MSEC);
	ASSERT_EQ(dur("0.5ms"), 500000);
	ASSERT_EQ(dur("0"), 0);
	ASSERT_EQ(dur("0ms"), 0);
	ASSERT_EQ(dur("0.000000001"), 1);
	ASSERT_EQ(dur("007"), 7 * KIN_SEC);
	ASSERT_EQ(dur("0.123456789s"), 123456789);
	ASSERT_EQ(dur("1.000001ms"), 1000001);
}

TEST(cli_parse_duration_rounds_up_never_to_zero)
{
	/* Below a nanosecond, but not nothing. */
	ASSERT_EQ(dur("0.0000000001"), 1);
	ASSERT_EQ(dur("0.0000001ms"), 1);
	ASSERT_EQ(dur("1.0000000001"), KIN_SEC + 1);
	/* Trailing zeros past nanoseconds change nothing. */
	ASSERT_EQ(dur("2.0000000000000000000000"), 2 * KIN_SEC);
}

TEST(cli_parse_duration_refuses_garbage)
{
	static const char *const bad[] = {
		"",   " 1", "1 ",  "+1",  "-1",   "-0",  "1.",    ".",      "s",   "ms",
		"1x", "5x", "1m",  "1h",  "1S",   "1MS", "1sms",  "1mss",   "1e3", "0x10",
		"1,5", "1.5.2", "inf", "nan", "1s ", "\t1", "1\n", "１", "1..5", ".s",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ns = -42;
		int r = cli_parse_duration(bad[i], &ns);
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "\"%s\": got %d, want -EINVAL", bad[i], r);
		ASSERT_EQ(ns, -42); /* untouched on failure */
	}
	int64_t ns = -42;
	ASSERT_EQ(cli_parse_duration(NULL, &ns), -EINVAL);
	ASSERT_EQ(ns, -42);
}

TEST(cli_parse_duration_refuses_overflow_but_takes_the_maximum)
{
	int64_t ns = -42;
	/* INT64_MAX ns is 9223372036.854775807 s. */
	ASSERT_EQ(dur("9223372036.854775807"), INT64_MAX);
	ASSERT_EQ(cli_parse_duration("9223372036.854775808", &ns), -ERANGE);
	ASSERT_EQ(cli_parse_duration("9223372037", &ns), -ERANGE);
	ASSERT_EQ(dur("9223372036854ms"), 9223372036854 * KIN_MSEC);
	ASSERT_EQ(cli_parse_duration("9223372036855ms", &ns), -ERANGE);
	ASSERT_EQ(cli_parse_duration("99999999999999999999999999999", &ns), -ERANGE);
	ASSERT_EQ(cli_parse_duration("18446744073709551616", &ns), -ERANGE);
	ASSERT_EQ(ns, -42);
	/* Malformed wins over too large: the text is wrong either way. */
	ASSERT_EQ(cli_parse_duration("99999999999999999999999x", &ns), -EINVAL);
	ASSERT_EQ(ns, -42);
	/* Leading zeros are not magnitude. */
	ASSERT_EQ(dur("000000000000000000000000000001"), KIN_SEC);
}

/* An independent, slower model of the grammar: digits, at most one '.'
 * followed by a digit, a unit, nothing else. */
static bool model_well_formed(const char *s)
{
	size_t n = strlen(s);
	if (n >= 2 && strcmp(s + n - 2, "ms") == 0)
		n -= 2;
	else if (n >= 1 && s[n - 1] == 's')
		n -= 1;
	bool any = false, dot = false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			any = true;
		} else if (s[i] == '.' && !dot) {
			dot = true;
			if (i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9')
				return false;
		} else {
			return false;
		}
	}
	return any;
}

TEST(cli_parse_duration_matches_a_model_on_random_input)
{
	/* A tiny deterministic fuzz: short strings over the characters that
	 * matter, checked against the model and against strtold's value. */
	static const char alphabet[] = "0123456789..sm-+ x";
	uint32_t seed = 12345;
	for (int iter = 0; iter < 200000; iter++) {
		char s[16];
		seed = seed * 1103515245u + 12345u;
		size_t len = (seed >> 16) % 12;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		s[len] = '\0';
		int64_t ns = -42;
		int r = cli_parse_duration(s, &ns);
		bool ok = model_well_formed(s);
		if (!ok && r != -EINVAL)
			test_fail(__FILE__, __LINE__, "\"%s\" accepted (%d), model refuses", s, r);
		if (ok && r == -EINVAL)
			test_fail(__FILE__, __LINE__, "\"%s\" refused, model accepts", s);
		if (r == 0) {
			long double want = strtold(s, NULL) * (strstr(s, "ms") ? 1e6L : 1e9L);
			long double diff = (long double)ns - want;
			/* Rounded up to whole ns; allow for long double's own error. */
			if (diff < -1e-6L * want - 1 || diff > 1e-6L * want + 1)
				test_fail(__FILE__, __LINE__, "\"%s\" gave %lld ns, expected ~%Lf", s,
					  (long long)ns, want);
		}
	}
}

static int sig(const char *s)
{
	int n = -42;
	int r = cli_parse_signal(s, &n);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "signal \"%s\" refused: %s", s, kin_strerror(r));
	return n;
}

TEST(cli_parse_signal_takes_names_and_numbers)
{
	ASSERT_EQ(sig("TERM"), SIGTERM);
	ASSERT_EQ(sig("SIGTERM"), SIGTERM);
	ASSERT_EQ(sig("sigterm"), SIGTERM);
	ASSERT_EQ(sig("Term"), SIGTERM);
	ASSERT_EQ(sig("15"), SIGTERM);
	ASSERT_EQ(sig("KILL"), SIGKILL);
	ASSERT_EQ(sig("9"), SIGKILL);
	ASSERT_EQ(sig("INT"), SIGINT);
	ASSERT_EQ(sig("HUP"), SIGHUP);
	ASSERT_EQ(sig("USR1"), SIGUSR1);
	ASSERT_EQ(sig("SIGUSR2"), SIGUSR2);
	ASSERT_EQ(sig("WINCH"), SIGWINCH);
	ASSERT_EQ(sig("CHLD"), SIGCHLD);
	ASSERT_EQ(sig("CLD"), SIGCHLD);
	ASSERT_EQ(sig("IOT"), SIGABRT);
	ASSERT_EQ(sig("1"), 1);
	ASSERT_EQ(sig("64"), 64);
	ASSERT_EQ(sig("064"), 64);
	/* Every signal with a name round-trips through the table. */
	for (int s = 1; s < SIGRTMIN; s++) {
		const char *name = sigabbrev_np(s);
		if (name && s != 32 && s != 33)
			ASSERT_EQ(sig(name), s);
	}
}

TEST(cli_parse_signal_refuses_garbage)
{
	static const char *const bad[] = {
		"",     "0",    "00",     "65",   "99999999999999999999", "-1", "+9",
		" 9",   "9 ",   "SIG",    "sig",  "SIGSIGTERM", "TERMX",  "TER",
		"SIG15", "15x", "0x0f",   "RTMIN", "SIGKILL ", "K1LL",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = -42;
		int r = cli_parse_signal(bad[i], &n);
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "\"%s\": got %d, want -EINVAL", bad[i], r);
		ASSERT_EQ(n, -42);
	}
	int n = -42;
	ASSERT_EQ(cli_parse_signal(NULL, &n), -EINVAL);
}

TEST(cli_env_checks)
{
	ASSERT(cli_env_assignment_ok("A=1"));
	ASSERT(cli_env_assignment_ok("A="));
	ASSERT(cli_env_assignment_ok("A=b=c"));
	ASSERT(!cli_env_assignment_ok("A"));
	ASSERT(!cli_env_assignment_ok("=1"));
	ASSERT(!cli_env_assignment_ok(""));
	ASSERT(!cli_env_assignment_ok(NULL));
	ASSERT(cli_env_name_ok("PATH"));
	ASSERT(!cli_env_name_ok("A=1"));
	ASSERT(!cli_env_name_ok(""));
	ASSERT(!cli_env_name_ok(NULL));
}
