/* Parsers for the values kin's command line takes. They are pure functions
 * of their string (no I/O, no globals, no allocation), so they can be unit
 * tested and fuzzed on their own. Each returns 0 and fills its output, or a
 * negative errno and leaves the output untouched. */
#ifndef KIN_CLI_PARSE_H
#define KIN_CLI_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* A duration: decimal seconds with an optional fraction and an optional
 * unit, "s" (the default) or "ms": "10", "1.5s", ".25", "500ms", "0.5ms".
 * Nothing else is allowed: no sign, no spaces, no exponent, no trailing "."
 * The result is rounded up to whole nanoseconds, so a non-zero duration
 * never becomes zero. Returns -EINVAL for malformed text (NULL and "" too)
 * and -ERANGE when it is well formed but exceeds INT64_MAX ns (~292 years). */
int cli_parse_duration(const char *s, int64_t *ns);

/* A signal by name, with or without "SIG", in any case ("TERM", "SIGTERM",
 * "sigterm"), or by number ("15"), from 1 to SIGRTMAX. Real-time signals are
 * taken by number only. Returns -EINVAL for anything else. */
int cli_parse_signal(const char *s, int *sig);

/* True for "NAME=VALUE" with a non-empty NAME (VALUE may be empty). */
bool cli_env_assignment_ok(const char *s);
/* True for a non-empty variable name without '='. */
bool cli_env_name_ok(const char *s);

/* A plain decimal number from 0 to max: digits only, no sign, no spaces,
 * no suffix. Returns -EINVAL for malformed text and -ERANGE above max. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *n);

/* A size in bytes: decimal digits with an optional suffix K, M, G or T in
 * either case, each 1024 times the one before: "4096", "512K", "2g".
 * Returns -EINVAL for malformed text, -ERANGE above UINT64_MAX. */
int cli_parse_size(const char *s, uint64_t *bytes);

/* A number of CPUs in thousandths: "2" is 2000, "0.5" is 500, "1.25" is
 * 1250. At most three fraction digits that matter (more are allowed only
 * if they are zeros). Returns -EINVAL for malformed text, -ERANGE above
 * UINT32_MAX thousandths. */
int cli_parse_cpus(const char *s, uint32_t *millis);

/* File permissions in octal, as chmod(1) takes them: "755", "0700",
 * "1777". Returns -EINVAL for malformed text, -ERANGE above 07777. */
int cli_parse_mode(const char *s, mode_t *mode);

/* A resource limit's name as setrlimit(2) and prlimit(1) spell it, in any
 * case, with or without "RLIMIT_": "NOFILE", "nofile", "RLIMIT_AS".
 * Returns -EINVAL for any other text. */
int cli_parse_rlimit_name(const char *s, int *resource);

/* A resource limit's value: "N" for both the soft and the hard limit, or
 * "SOFT:HARD"; each is a size as cli_parse_size takes it, or "unlimited"
 * (also "infinity"). Returns -EINVAL for malformed text, -ERANGE for a
 * number above UINT64_MAX, and -EDOM for a soft limit above the hard one. */
int cli_parse_rlimit_value(const char *s, struct rlimit *limit);

/* The 41 capabilities Linux 5.9 and later know, CAP_CHOWN (0) to
 * CAP_CHECKPOINT_RESTORE (40). */
#define CLI_CAP_COUNT 41
#define CLI_CAPS_ALL ((UINT64_C(1) << CLI_CAP_COUNT) - 1)

/* A capability by name, in any case, with or without "CAP_" ("CAP_CHOWN",
 * "net_admin"), as its bit (1 << number); "ALL" gives CLI_CAPS_ALL.
 * Returns -EINVAL for any other text. */
int cli_parse_capability(const char *s, uint64_t *mask);

/* "CAP_CHOWN" for 0, ..., or NULL outside 0..CLI_CAP_COUNT-1. */
const char *cli_capability_name(int cap);

#endif
