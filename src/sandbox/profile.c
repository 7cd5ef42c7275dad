/* Custom seccomp profiles: a small, strict, line-based text format
 * (docs/sandbox.md). This file only parses; whether a name is a system
 * call of this architecture is seccomp.c's question, so this part has no
 * libseccomp in it and is fuzzed on its own (fuzz/fuzz_seccomp_profile.c).
 *
 * The text comes from a file the caller names, which may be anything, so
 * every limit is checked and every error says which line is wrong. */
#include "sandbox.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits: a real profile is a few hundred lines of names, so these only
 * stop a wrong file (or a hostile one) from costing much. The kernel takes
 * at most 4096 BPF instructions anyway. */
#define PROFILE_MAX_TEXT (1024 * 1024)
#define PROFILE_MAX_LINE 4096
#define PROFILE_MAX_RULES 4096
#define NAME_MAX_LEN (sizeof(((kin__seccomp_rule *)0)->name) - 1)

typedef struct parser {
	kin__seccomp_profile p;
	size_t cap;
	bool have_default;
	unsigned default_line;
	char *err;
	size_t errsize;
} parser;

__attribute__((format(printf, 3, 4))) static int fail(parser *ps, unsigned line, const char *fmt,
						      ...)
{
	if (ps->err && ps->errsize) {
		int n = line ? snprintf(ps->err, ps->errsize, "line %u: ", line) : 0;
		if (n >= 0 && (size_t)n < ps->errsize) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(ps->err + n, ps->errsize - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static const char *verdict_word(kin__seccomp_verdict v)
{
	return v == KIN__SECCOMP_ALLOW ? "allowed" : "denied";
}

/* One word of a line: [start, start + len). */
typedef struct word {
	const char *s;
	size_t len;
} word;

static bool word_is(word w, const char *lit)
{
	return w.len == strlen(lit) && memcmp(w.s, lit, w.len) == 0;
}

/* Quotes a word for an error message, cut short since it came from the
 * file. Words hold printable ASCII only (parse_line checks), but a quote
 * or a backslash is escaped so the message stays unambiguous. */
static const char *quote(word w, char *buf, size_t cap)
{
	size_t o = 0, i = 0;
	for (; i < w.len && o + 2 + 3 + 1 <= cap; i++) { /* an escaped byte, "..." and NUL */
		if (w.s[i] == '"' || w.s[i] == '\\')
			buf[o++] = '\\';
		buf[o++] = w.s[i];
	}
	if (i < w.len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = 0;
	return buf;
}

static int add_rule(parser *ps, unsigned line, word name, kin__seccomp_verdict v)
{
	char q[80];
	if (name.len > NAME_MAX_LEN)
		return fail(ps, line, "system call name \"%s\" is longer than %zu characters",
			    quote(name, q, sizeof(q)), NAME_MAX_LEN);
	for (size_t i = 0; i < name.len; i++) {
		char c = name.s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return fail(ps, line,
				    "\"%s\" is not a system call name (only a-z, 0-9 and _)",
				    quote(name, q, sizeof(q)));
	}
	/* A linear search: at most 4096 names of a few bytes each. */
	for (size_t i = 0; i < ps->p.nrules; i++) {
		kin__seccomp_rule *r = &ps->p.rules[i];
		if (strlen(r->name) != name.len || memcmp(r->name, name.s, name.len) != 0)
			continue;
		if (r->verdict == v)
			return 0; /* said twice, meant once */
		return fail(ps, line, "\"%s\" is %s here but %s on line %u", r->name,
			    verdict_word(v), verdict_word(r->verdict), r->line);
	}
	if (ps->p.nrules == PROFILE_MAX_RULES)
		return fail(ps, line, "more than %d rules", PROFILE_MAX_RULES);
	if (ps->p.nrules == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		kin__seccomp_rule *rules = realloc(ps->p.rules, cap * sizeof(*rules));
		if (!rules)
			return -ENOMEM;
		ps->p.rules = rules;
		ps->cap = cap;
	}
	kin__seccomp_rule *r = &ps->p.rules[ps->p.nrules];
	memset(r, 0, sizeof(*r));
	memcpy(r->name, name.s, name.len);
	r->verdict = v;
	r->line = line;
	ps->p.nrules++;
	return 0;
}

/* The next word of s[*at, len) (words are separated by spaces and
 * tabs); false at the end. */
static bool next_word(const char *s, size_t len, size_t *at, word *w)
{
	size_t i = *at;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == len)
		return false;
	size_t start = i;
	while (i < len && s[i] != ' ' && s[i] != '\t')
		i++;
	*w = (word){s + start, i - start};
	*at = i;
	return true;
}

static int parse_line(parser *ps, unsigned line, const char *s, size_t len)
{
	char q[80];
	if (len > PROFILE_MAX_LINE)
		return fail(ps, line, "longer than %d bytes", PROFILE_MAX_LINE);
	/* A comment runs from '#' to the end of the line, wherever it starts:
	 * no name or keyword can hold one. */
	const char *hash = memchr(s, '#', len);
	size_t code = hash ? (size_t)(hash - s) : len;
	/* A file edited on Windows ends its lines in "\r\n": the '\r' is
	 * whitespace at the end of a line, nowhere else. */
	if (!hash && code && s[code - 1] == '\r')
		code--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* Any text (UTF-8 too) may go in a comment, but no control
		 * character anywhere: a NUL or an escape sequence in a profile
		 * is a wrong file, not a profile. */
		if ((c < 0x20 && c != '\t' && !(c == '\r' && i == len - 1)) || c == 0x7f)
			return fail(ps, line, "control character 0x%02x", c);
		if (i < code && c >= 0x80)
			return fail(ps, line, "byte 0x%02x outside a comment", c);
	}

	size_t at = 0;
	word key, w;
	if (!next_word(s, code, &at, &key))
		return 0; /* blank, or only a comment */
	if (word_is(key, "default")) {
		word extra;
		if (!next_word(s, code, &at, &w) || next_word(s, code, &at, &extra) ||
		    !(word_is(w, "allow") || word_is(w, "deny")))
			return fail(ps, line, "expected \"default allow\" or \"default deny\"");
		if (ps->have_default)
			return fail(ps, line, "a second \"default\" (the first is on line %u)",
				    ps->default_line);
		ps->have_default = true;
		ps->default_line = line;
		ps->p.default_verdict =
			word_is(w, "allow") ? KIN__SECCOMP_ALLOW : KIN__SECCOMP_DENY;
		return 0;
	}
	kin__seccomp_verdict v;
	if (word_is(key, "allow"))
		v = KIN__SECCOMP_ALLOW;
	else if (word_is(key, "deny"))
		v = KIN__SECCOMP_DENY;
	else
		return fail(ps, line, "unknown keyword \"%s\" (expected default, allow or deny)",
			    quote(key, q, sizeof(q)));
	size_t names = 0;
	for (; next_word(s, code, &at, &w); names++) {
		int r = add_rule(ps, line, w, v);
		if (r < 0)
			return r;
	}
	if (!names)
		return fail(ps, line, "\"%s\" names no system call", v ? "deny" : "allow");
	return 0;
}

int kin__seccomp_profile_parse(const char *text, size_t len, kin__seccomp_profile *out, char *err,
			       size_t errsize)
{
	parser ps = {.p.default_verdict = KIN__SECCOMP_ALLOW, .err = err, .errsize = errsize};
	if (err && errsize)
		err[0] = 0;
	int r = 0;
	if (len > PROFILE_MAX_TEXT) {
		r = fail(&ps, 0, "larger than %d bytes", PROFILE_MAX_TEXT);
		goto out;
	}
	unsigned line = 0;
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - text) : len;
		/* 1 MiB of text has fewer lines than an unsigned counts. */
		r = parse_line(&ps, ++line, text + at, end - at);
		if (r < 0)
			goto out;
		at = end + 1;
	}
out:
	if (r < 0) {
		if (r == -ENOMEM)
			fail(&ps, 0, "out of memory");
		free(ps.p.rules);
		return r;
	}
	if (!ps.p.nrules) {
		free(ps.p.rules);
		ps.p.rules = NULL;
	}
	*out = ps.p;
	return 0;
}

void kin__seccomp_profile_free(kin__seccomp_profile *p)
{
	if (!p)
		return;
	free(p->rules);
	p->rules = NULL;
	p->nrules = 0;
}
