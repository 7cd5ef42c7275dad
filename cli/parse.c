/* Command-line value parsers. Written against the grammar rather than with
 * strtod/strtol, whose leniency (leading spaces, signs, hex, "inf", locale
 * decimal points) would let garbage through. */
#include "parse.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#define NS_PER_SEC 1000000000u
#define NS_PER_MSEC 1000000u

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int cli_parse_duration(const char *s, int64_t *ns)
{
	if (!s)
		return -EINVAL;
	const char *p = s;
	/* Whole units. Keep consuming after an overflow so that trailing junk
	 * still reports as malformed rather than as too large. */
	uint64_t whole = 0;
	bool overflow = false, digits = false;
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (whole > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			whole = whole * 10 + d;
		digits = true;
	}
	/* The fraction, as nanoparts of one unit: the first nine digits exactly,
	 * and whether any later digit is non-zero (for rounding up). */
	uint64_t frac = 0;
	unsigned nfrac = 0;
	bool frac_rest = false;
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL; /* "1." and "." */
		for (; is_digit(*p); p++) {
			unsigned d = (unsigned)(*p - '0');
			if (nfrac < 9) {
				frac = frac * 10 + d;
				nfrac++;
			} else if (d) {
				frac_rest = true;
			}
		}
		digits = true;
	}
	if (!digits)
		return -EINVAL;
	uint64_t unit;
	if (*p == '\0' || strcmp(p, "s") == 0)
		unit = NS_PER_SEC;
	else if (strcmp(p, "ms") == 0)
		unit = NS_PER_MSEC;
	else
		return -EINVAL;
	if (overflow || whole > (uint64_t)INT64_MAX / unit)
		return -ERANGE;
	for (; nfrac < 9; nfrac++)
		frac *= 10;
	/* frac < 1e9 and unit <= 1e9, so the product fits in 64 bits. */
	uint64_t part = frac * unit;
	uint64_t frac_ns = part / NS_PER_SEC;
	if (part % NS_PER_SEC || frac_rest)
		frac_ns++;
	uint64_t total = whole * unit;
	if (frac_ns > (uint64_t)INT64_MAX - total)
		return -ERANGE;
	*ns = (int64_t)(total + frac_ns);
	return 0;
}

/* ASCII-only, so the result does not depend on the locale. */
static bool same_name(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = *a, y = *b;
		if (x >= 'a' && x <= 'z')
			x = (char)(x - 'a' + 'A');
		if (y >= 'a' && y <= 'z')
			y = (char)(y - 'a' + 'A');
		if (x != y)
			return false;
		if (!x)
			return true;
	}
}

/* The classic signals by their names in signal(7); listed here rather than
 * asked of libc, so the parser stays a pure function. Aliases last. */
static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},     {"ILL", SIGILL},
	{"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"BUS", SIGBUS},       {"FPE", SIGFPE},
	{"KILL", SIGKILL},     {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},
	{"PIPE", SIGPIPE},     {"ALRM", SIGALRM},     {"TERM", SIGTERM},     {"STKFLT", SIGSTKFLT},
	{"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},
	{"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},       {"XCPU", SIGXCPU},
	{"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},     {"WINCH", SIGWINCH},
	{"IO", SIGIO},         {"PWR", SIGPWR},       {"SYS", SIGSYS},       {"IOT", SIGIOT},
	{"CLD", SIGCHLD},      {"POLL", SIGPOLL},
};

int cli_parse_signal(const char *s, int *sig)
{
	if (!s || !*s)
		return -EINVAL;
	if (is_digit(*s)) {
		/* SIGRTMAX is the kernel's _NSIG - 1 (64); signals go no higher. */
		int n = 0;
		for (const char *p = s; *p; p++) {
			if (!is_digit(*p))
				return -EINVAL;
			n = n * 10 + (*p - '0');
			if (n > _NSIG - 1)
				return -EINVAL;
		}
		if (n < 1)
			return -EINVAL;
		*sig = n;
		return 0;
	}
	const char *name = s;
	if ((name[0] == 'S' || name[0] == 's') && (name[1] == 'I' || name[1] == 'i') &&
	    (name[2] == 'G' || name[2] == 'g'))
		name += 3;
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
		if (same_name(name, signal_names[i].name)) {
			*sig = signal_names[i].sig;
			return 0;
		}
	}
	return -EINVAL;
}

bool cli_env_assignment_ok(const char *s)
{
	return s && s[0] != '\0' && s[0] != '=' && strchr(s, '=') != NULL;
}

bool cli_env_name_ok(const char *s)
{
	return s && s[0] != '\0' && strchr(s, '=') == NULL;
}
