/* Fuzz target: the seccomp profile parser (src/sandbox/profile.c), which
 * reads a file the caller names. Any input must give a clean profile or
 * -EINVAL with a message, never a crash, a read out of bounds or a leak;
 * and a profile that parses must keep the parser's own promises and come
 * back the same when written out again. */
#include "../src/sandbox/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_name(const char *s)
{
	size_t n = strnlen(s, sizeof(((kin__seccomp_rule *)0)->name));
	if (n < 1 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* Writes the profile out in the file format; NULL when out of memory. */
static char *write_out(const kin__seccomp_profile *p, size_t *len)
{
	size_t cap = 32 + p->nrules * 72;
	char *t = malloc(cap);
	if (!t)
		return NULL;
	size_t n = (size_t)snprintf(t, cap, "default %s\n",
				    p->default_verdict == KIN__SECCOMP_DENY ? "deny" : "allow");
	for (size_t i = 0; i < p->nrules; i++)
		n += (size_t)snprintf(t + n, cap - n, "%s %s\n",
				      p->rules[i].verdict == KIN__SECCOMP_DENY ? "deny" : "allow",
				      p->rules[i].name);
	*len = n;
	return t;
}

static void check(const char *text, size_t len)
{
	kin__seccomp_profile p;
	char err[128];
	memset(err, 'x', sizeof(err));
	int r = kin__seccomp_profile_parse(text, len, &p, err, sizeof(err));
	if (r == -EINVAL || r == -ENOMEM) {
		/* A message, terminated, saying where when it can. */
		if (!memchr(err, 0, sizeof(err)) || !err[0])
			abort();
		if (r == -EINVAL && strncmp(err, "line ", 5) != 0 && strncmp(err, "larger", 6) != 0)
			abort();
		/* Small buffers and none at all are fine too. */
		char tiny[7];
		if (kin__seccomp_profile_parse(text, len, &p, tiny, sizeof(tiny)) != r ||
		    !memchr(tiny, 0, sizeof(tiny)))
			abort();
		if (kin__seccomp_profile_parse(text, len, &p, NULL, 0) != r)
			abort();
		return;
	}
	if (r != 0)
		abort();
	if (p.default_verdict != KIN__SECCOMP_ALLOW && p.default_verdict != KIN__SECCOMP_DENY)
		abort();
	if (p.nrules > 4096 || (p.nrules == 0) != (p.rules == NULL))
		abort();
	for (size_t i = 0; i < p.nrules; i++) {
		if (!valid_name(p.rules[i].name) || (p.rules[i].verdict != KIN__SECCOMP_ALLOW &&
						     p.rules[i].verdict != KIN__SECCOMP_DENY))
			abort();
		for (size_t j = 0; j < i; j++) /* each name once */
			if (strcmp(p.rules[i].name, p.rules[j].name) == 0)
				abort();
	}
	size_t olen;
	char *out = write_out(&p, &olen);
	if (out) {
		kin__seccomp_profile again;
		if (kin__seccomp_profile_parse(out, olen, &again, err, sizeof(err)) != 0 ||
		    again.default_verdict != p.default_verdict || again.nrules != p.nrules)
			abort();
		for (size_t i = 0; i < p.nrules; i++)
			if (strcmp(again.rules[i].name, p.rules[i].name) != 0 ||
			    again.rules[i].verdict != p.rules[i].verdict)
				abort();
		kin__seccomp_profile_free(&again);
		free(out);
	}
	kin__seccomp_profile_free(&p);
}

/* Pieces of profiles: each input byte also picks one, so the plain driver
 * (which mutates bytes knowing nothing of the format) reaches deep into
 * the parser: keywords, names (the longest, and one byte longer), repeats,
 * conflicts, odd whitespace. */
/* clang-format off */
static const char *const pieces[] = {
	"allow ", "deny ", "default ", "allow", "deny", "\n", " ", "\t", "\r", "\r\n", "#",
	"# c\n", "read", "write", "ptrace", "clone3", "getcwd", "exit_group", "a", "z9_", "Read",
	"re-ad", "\xc3\xa9", "\x01", "\x7f", "x\"\\y",
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk",
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
	"default allow\n", "default deny\n", "allow read write\n", "deny read\n",
};
/* clang-format on */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan sees any read past the end (the
	 * text is not NUL-terminated: the parser must not need it). */
	char *in = malloc(size ? size : 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	check(in, size);
	free(in);

	size_t cap = 0;
	for (size_t i = 0; i < size; i++)
		cap += strlen(pieces[data[i] % (sizeof(pieces) / sizeof(pieces[0]))]);
	char *built = malloc(cap ? cap : 1);
	if (!built)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < size; i++) {
		const char *p = pieces[data[i] % (sizeof(pieces) / sizeof(pieces[0]))];
		memcpy(built + n, p, strlen(p));
		n += strlen(p);
	}
	check(built, n);
	free(built);
	return 0;
}
