/* Command-line value parsers. Written against the grammar rather than with
 * strtod/strtol, whose leniency (leading spaces, signs, hex, "inf", locale
 * decimal points) would let garbage through. */
#include "parse.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

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

/* Digits from *p on, into *n; false on overflow of UINT64_MAX. Keeps
 * consuming after an overflow, so the caller can still see trailing junk
 * and call the text malformed rather than too large. */
static bool scan_digits(const char **p, uint64_t *n, bool *any)
{
	uint64_t v = 0;
	bool ok = true;
	*any = false;
	for (; is_digit(**p); (*p)++) {
		unsigned d = (unsigned)(**p - '0');
		if (v > (UINT64_MAX - d) / 10)
			ok = false;
		else
			v = v * 10 + d;
		*any = true;
	}
	*n = v;
	return ok;
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *n)
{
	if (!s)
		return -EINVAL;
	const char *p = s;
	uint64_t v;
	bool any;
	bool fits = scan_digits(&p, &v, &any);
	if (!any || *p)
		return -EINVAL;
	if (!fits || v > max)
		return -ERANGE;
	*n = v;
	return 0;
}

/* A size in [s, end): digits, then at most one suffix letter. */
static int parse_size_range(const char *s, const char *end, uint64_t *bytes)
{
	const char *p = s;
	uint64_t v;
	bool any;
	bool fits = scan_digits(&p, &v, &any);
	if (!any || p > end)
		return -EINVAL;
	unsigned shift = 0;
	if (p < end) {
		switch (*p) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		case 't':
		case 'T':
			shift = 40;
			break;
		default:
			return -EINVAL;
		}
		if (p + 1 != end)
			return -EINVAL;
	}
	if (!fits || v > UINT64_MAX >> shift)
		return -ERANGE;
	*bytes = v << shift;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *bytes)
{
	if (!s)
		return -EINVAL;
	return parse_size_range(s, s + strlen(s), bytes);
}

int cli_parse_cpus(const char *s, uint32_t *millis)
{
	if (!s)
		return -EINVAL;
	const char *p = s;
	uint64_t whole;
	bool any;
	bool fits = scan_digits(&p, &whole, &any);
	uint64_t frac = 0;
	unsigned nfrac = 0;
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL; /* "1." and "." */
		/* Thousandths are what the cgroup gets; finer digits would be
		 * silently lost, so only zeros may follow them. */
		for (; is_digit(*p); p++) {
			if (nfrac < 3) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				nfrac++;
			} else if (*p != '0') {
				return -EINVAL;
			}
		}
		any = true;
	}
	if (!any || *p)
		return -EINVAL;
	for (; nfrac < 3; nfrac++)
		frac *= 10; /* ".5" is 500, ".05" is 50 */
	if (!fits || whole > (UINT32_MAX - frac) / 1000)
		return -ERANGE;
	*millis = (uint32_t)(whole * 1000 + frac);
	return 0;
}

int cli_parse_mode(const char *s, mode_t *mode)
{
	if (!s || !*s)
		return -EINVAL;
	unsigned v = 0;
	bool big = false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return -EINVAL;
		v = v * 8 + (unsigned)(*p - '0');
		if (v > 07777) {
			big = true;
			v = 07777; /* keep scanning for junk without overflowing */
		}
	}
	if (big)
		return -ERANGE;
	*mode = (mode_t)v;
	return 0;
}

/* Whether s starts with prefix, in any case (ASCII). */
static bool has_prefix(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++) {
		char c = *s;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != *prefix)
			return false;
	}
	return true;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{"CPU", RLIMIT_CPU},         {"FSIZE", RLIMIT_FSIZE},       {"DATA", RLIMIT_DATA},
	{"STACK", RLIMIT_STACK},     {"CORE", RLIMIT_CORE},         {"RSS", RLIMIT_RSS},
	{"NPROC", RLIMIT_NPROC},     {"NOFILE", RLIMIT_NOFILE},     {"MEMLOCK", RLIMIT_MEMLOCK},
	{"AS", RLIMIT_AS},           {"LOCKS", RLIMIT_LOCKS},       {"SIGPENDING", RLIMIT_SIGPENDING},
	{"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},       {"RTPRIO", RLIMIT_RTPRIO},
	{"RTTIME", RLIMIT_RTTIME},
};

int cli_parse_rlimit_name(const char *s, int *resource)
{
	if (!s)
		return -EINVAL;
	if (has_prefix(s, "RLIMIT_"))
		s += strlen("RLIMIT_");
	for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
		if (same_name(s, rlimit_names[i].name)) {
			*resource = rlimit_names[i].resource;
			return 0;
		}
	}
	return -EINVAL;
}

/* One side of a limit, the text in [s, end). */
static int parse_limit(const char *s, const char *end, rlim_t *v)
{
	static const char *const infinite[] = {"unlimited", "infinity"};
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(infinite[i]);
		if ((size_t)(end - s) == n && memcmp(s, infinite[i], n) == 0) {
			*v = RLIM_INFINITY;
			return 0;
		}
	}
	uint64_t n;
	int r = parse_size_range(s, end, &n);
	if (r < 0)
		return r;
	*v = (rlim_t)n;
	return 0;
}

int cli_parse_rlimit_value(const char *s, struct rlimit *limit)
{
	if (!s || !*s)
		return -EINVAL;
	const char *colon = strchr(s, ':');
	const char *end = s + strlen(s);
	rlim_t soft, hard;
	int r = parse_limit(s, colon ? colon : end, &soft);
	if (r < 0)
		return r;
	if (colon) {
		if ((r = parse_limit(colon + 1, end, &hard)) < 0)
			return r;
	} else {
		hard = soft;
	}
	/* RLIM_INFINITY is the largest value, so this compares it right. */
	if (soft > hard)
		return -EDOM;
	limit->rlim_cur = soft;
	limit->rlim_max = hard;
	return 0;
}

/* Indexed by number, as in capability(7); listed here rather than taken
 * from <linux/capability.h> so that the names are there even where the
 * headers are older than the kernel. */
static const char *const cap_names[CLI_CAP_COUNT] = {
	"CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
	"CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
	"CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
	"CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

int cli_parse_capability(const char *s, uint64_t *mask)
{
	if (!s)
		return -EINVAL;
	if (same_name(s, "ALL")) {
		*mask = CLI_CAPS_ALL;
		return 0;
	}
	if (has_prefix(s, "CAP_"))
		s += strlen("CAP_");
	for (int i = 0; i < CLI_CAP_COUNT; i++) {
		if (same_name(s, cap_names[i] + strlen("CAP_"))) {
			*mask = UINT64_C(1) << i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *cli_capability_name(int cap)
{
	return cap >= 0 && cap < CLI_CAP_COUNT ? cap_names[cap] : NULL;
}
