/* Parsers for the values kin's command line takes. They are pure functions
 * of their string (no I/O, no globals, no allocation), so they can be unit
 * tested and fuzzed on their own. Each returns 0 and fills its output, or a
 * negative errno and leaves the output untouched. */
#ifndef KIN_CLI_PARSE_H
#define KIN_CLI_PARSE_H

#include <stdbool.h>
#include <stdint.h>

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

#endif
