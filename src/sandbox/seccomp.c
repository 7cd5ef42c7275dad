/* seccomp: the owner compiles the profiles into one BPF program through
 * libseccomp, so the child only has to hand it to the kernel.
 *
 * Every profile only ever denies: a call runs when nothing denies it.
 * libseccomp refuses two rules with different actions for one system call
 * (and a rule whose action is the default one), so this file decides each
 * call's fate itself and gives libseccomp one consistent set of rules. */
#include "sandbox.h"

#include "../proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* KIN_SECCOMP_DEFAULT: denied whatever their arguments. Names this
 * architecture lacks (umount on x86_64) are skipped. */
static const char *const default_denied[] = {
	"ptrace",   "mount",   "umount",      "umount2",         "pivot_root", "fsopen",
	"fsconfig", "fsmount", "fspick",      "move_mount",      "open_tree",  "mount_setattr",
	"unshare",  "setns",   "kexec_load",  "kexec_file_load", "bpf",        "perf_event_open",
	"keyctl",   "add_key", "request_key",
};

/* KIN_SECCOMP_NO_NETWORK: an io_uring can make sockets of its own (and
 * one inherited is as good as a new one). */
static const char *const network_denied[] = {
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
};

/* clone() with any of these makes a namespace. CLONE_NEWTIME is not
 * here: clone() cannot take it (its bit is the exit signal's), and
 * clone3 and unshare are denied whole. */
#define CLONE_NEW_ANY                                                                              \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)
static const uint64_t clone_new_flags[] = {
	CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

/* Which argument of clone() holds the flags: s390 swaps the first two. */
#if defined(__s390__) || defined(__s390x__) || defined(__CRIS__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

/* ioctl commands that push input into a terminal, which a sandboxed
 * program could use to type commands into its owner's shell. */
static const uint32_t tty_injecting[] = {TIOCSTI, TIOCLINUX};

/* What the built-in profiles do to one system call. */
typedef enum builtin_fate {
	FATE_FREE,        /* nothing said */
	FATE_DENIED,      /* whatever the arguments */
	FATE_CONDITIONAL, /* for some arguments (clone, ioctl, socket, socketpair) */
	FATE_ENOSYS,      /* clone3 */
} builtin_fate;

typedef struct compiler {
	scmp_filter_ctx ctx;
	unsigned profiles;
	uint32_t deny; /* the action of a denied call */
	bool default_deny;
	/* System call numbers of this architecture, -1 where it has none. */
	int nr_clone, nr_clone3, nr_ioctl, nr_socket, nr_socketpair;
	int denied[KIN_ARRAY_SIZE(default_denied) + KIN_ARRAY_SIZE(network_denied)];
	const char *denied_name[KIN_ARRAY_SIZE(default_denied) + KIN_ARRAY_SIZE(network_denied)];
	size_t ndenied;
	/* The profile file, when there is one. */
	const char *file;
	const kin__seccomp_profile *custom;
	kin_spawn_error *why;
} compiler;

/* A name's number on this architecture, or -1. libseccomp answers a
 * negative "pseudo" number for calls it knows only on other ones. */
static int resolve(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	return nr < 0 ? -1 : nr;
}

static builtin_fate builtin(const compiler *c, int nr)
{
	for (size_t i = 0; i < c->ndenied; i++)
		if (c->denied[i] == nr)
			return FATE_DENIED;
	if (c->profiles & KIN_SECCOMP_DEFAULT) {
		if (nr == c->nr_clone3)
			return FATE_ENOSYS;
		if (nr == c->nr_clone || nr == c->nr_ioctl)
			return FATE_CONDITIONAL;
	}
	if ((c->profiles & KIN_SECCOMP_NO_NETWORK) &&
	    (nr == c->nr_socket || nr == c->nr_socketpair))
		return FATE_CONDITIONAL;
	return FATE_FREE;
}

/* What the profile file says of a call (its default when not named). */
static kin__seccomp_verdict file_verdict(const compiler *c, const char *name)
{
	for (size_t i = 0; i < c->custom->nrules; i++)
		if (strcmp(c->custom->rules[i].name, name) == 0)
			return c->custom->rules[i].verdict;
	return c->custom->default_verdict;
}

static int rule(compiler *c, uint32_t action, int nr, const char *name, unsigned n,
		const struct scmp_arg_cmp *cmp)
{
	int r = seccomp_rule_add_array(c->ctx, action, nr, n, cmp);
	if (r < 0)
		kin__spawn_error(c->why, r, KIN_STEP_SECCOMP,
				 "seccomp: libseccomp refused a rule for %s: %s", name,
				 kin_strerror(r));
	return r;
}

/* Denies the call for the arguments the built-in profiles deny. */
static int deny_some(compiler *c, int nr, const char *name)
{
	int r = 0;
	if (nr == c->nr_clone) {
		for (size_t i = 0; i < KIN_ARRAY_SIZE(clone_new_flags) && r == 0; i++) {
			struct scmp_arg_cmp cmp = SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ,
							   clone_new_flags[i], clone_new_flags[i]);
			r = rule(c, c->deny, nr, name, 1, &cmp);
		}
	} else if (nr == c->nr_ioctl) {
		/* The kernel reads the command as 32 bits: compare only those,
		 * or TIOCSTI with a high bit set would get through. */
		for (size_t i = 0; i < KIN_ARRAY_SIZE(tty_injecting) && r == 0; i++) {
			struct scmp_arg_cmp cmp =
				SCMP_CMP(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, tty_injecting[i]);
			r = rule(c, c->deny, nr, name, 1, &cmp);
		}
	} else if (nr == c->nr_socket || nr == c->nr_socketpair) {
		/* All 64 bits: a domain with junk above its 32 is denied, which
		 * costs no honest caller anything. */
		struct scmp_arg_cmp cmp = SCMP_CMP(0, SCMP_CMP_NE, AF_UNIX);
		r = rule(c, c->deny, nr, name, 1, &cmp);
	}
	return r;
}

/* Allows an ioctl whose command is none of tty_injecting, as a union of
 * rules (libseccomp joins the rules of one call with "or", and takes one
 * comparison per argument in a rule): each rule fixes the command's top
 * `bits` bits to `prefix`, split further wherever an excluded command
 * still matches. Two excluded commands need 34 rules. */
static int allow_ioctl_except(compiler *c, int nr, uint32_t prefix, unsigned bits,
			      const uint32_t *excluded, size_t nexcluded)
{
	if (!nexcluded) {
		uint64_t mask = bits ? (uint32_t)(0xffffffffu << (32 - bits)) : 0;
		struct scmp_arg_cmp cmp = SCMP_CMP(1, SCMP_CMP_MASKED_EQ, mask, prefix);
		return rule(c, SCMP_ACT_ALLOW, nr, "ioctl", 1, &cmp);
	}
	if (bits == 32)
		return 0; /* exactly an excluded command */
	uint32_t bit = 1u << (31 - bits);
	for (uint32_t half = 0; half <= 1; half++) {
		uint32_t sub[KIN_ARRAY_SIZE(tty_injecting)];
		size_t n = 0;
		for (size_t i = 0; i < nexcluded; i++)
			if (!!(excluded[i] & bit) == half)
				sub[n++] = excluded[i];
		int r = allow_ioctl_except(c, nr, prefix | (half ? bit : 0), bits + 1, sub, n);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Allows the call for the arguments the built-in profiles do not deny:
 * deny_some's complement, for a filter that denies by default. */
static int allow_rest(compiler *c, int nr, const char *name)
{
	if (nr == c->nr_clone) {
		struct scmp_arg_cmp cmp =
			SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, CLONE_NEW_ANY, 0);
		return rule(c, SCMP_ACT_ALLOW, nr, name, 1, &cmp);
	}
	if (nr == c->nr_ioctl)
		return allow_ioctl_except(c, nr, 0, 0, tty_injecting,
					  KIN_ARRAY_SIZE(tty_injecting));
	struct scmp_arg_cmp cmp = SCMP_CMP(0, SCMP_CMP_EQ, AF_UNIX);
	return rule(c, SCMP_ACT_ALLOW, nr, name, 1, &cmp);
}

/* Checks the file's names against this architecture, by line. */
static int resolve_file(compiler *c, int *nrs)
{
	for (size_t i = 0; i < c->custom->nrules; i++) {
		const char *name = c->custom->rules[i].name;
		int nr = seccomp_syscall_resolve_name(name);
		if (nr >= 0) {
			nrs[i] = nr;
			continue;
		}
		unsigned line = c->custom->rules[i].line;
		kin__spawn_error(c->why, -EINVAL, KIN_STEP_SECCOMP,
				 nr == __NR_SCMP_ERROR
					 ? "seccomp profile %s: line %u: unknown system call \"%s\""
					 : "seccomp profile %s: line %u: system call \"%s\" does "
					   "not exist on this architecture",
				 c->file, line, name);
		return -EINVAL;
	}
	return 0;
}

static int add_rules(compiler *c)
{
	int r;
	/* clone3 answers ENOSYS whenever anything denies it, with either
	 * action: libc then falls back to clone, which the filter can see
	 * into (clone3 keeps its flags in memory, out of the filter's reach). */
	if (c->nr_clone3 >= 0 &&
	    ((c->profiles & KIN_SECCOMP_DEFAULT) ||
	     (c->custom && file_verdict(c, "clone3") == KIN__SECCOMP_DENY)) &&
	    (r = rule(c, SCMP_ACT_ERRNO(ENOSYS), c->nr_clone3, "clone3", 0, NULL)) < 0)
		return r;

	size_t nrules = c->custom ? c->custom->nrules : 0;
	int *nrs = calloc(nrules ? nrules : 1, sizeof(*nrs));
	if (!nrs)
		return -ENOMEM;
	if (c->custom && (r = resolve_file(c, nrs)) < 0)
		goto out;

	if (!c->default_deny) {
		/* Allowed by default: a rule for each denial. */
		for (size_t i = 0; i < c->ndenied; i++)
			if ((r = rule(c, c->deny, c->denied[i], c->denied_name[i], 0, NULL)) < 0)
				goto out;
		for (size_t i = 0; i < nrules; i++) {
			const kin__seccomp_rule *fr = &c->custom->rules[i];
			builtin_fate f = builtin(c, nrs[i]);
			if (fr->verdict != KIN__SECCOMP_DENY || nrs[i] == c->nr_clone3 ||
			    f == FATE_DENIED)
				continue;
			if ((r = rule(c, c->deny, nrs[i], fr->name, 0, NULL)) < 0)
				goto out;
		}
		const int conditional[] = {c->nr_clone, c->nr_ioctl, c->nr_socket,
					   c->nr_socketpair};
		const char *const names[] = {"clone", "ioctl", "socket", "socketpair"};
		for (size_t i = 0; i < KIN_ARRAY_SIZE(conditional); i++) {
			int nr = conditional[i];
			/* Denied whole by the file already: nothing to add. */
			if (nr < 0 || builtin(c, nr) != FATE_CONDITIONAL ||
			    (c->custom && file_verdict(c, names[i]) == KIN__SECCOMP_DENY))
				continue;
			if ((r = deny_some(c, nr, names[i])) < 0)
				goto out;
		}
	} else {
		/* Denied by default: a rule for each call the file allows and
		 * nothing denies whole. */
		for (size_t i = 0; i < nrules; i++) {
			const kin__seccomp_rule *fr = &c->custom->rules[i];
			if (fr->verdict != KIN__SECCOMP_ALLOW || nrs[i] == c->nr_clone3)
				continue;
			switch (builtin(c, nrs[i])) {
			case FATE_FREE:
				r = rule(c, SCMP_ACT_ALLOW, nrs[i], fr->name, 0, NULL);
				break;
			case FATE_CONDITIONAL:
				r = allow_rest(c, nrs[i], fr->name);
				break;
			case FATE_DENIED:
			case FATE_ENOSYS:
				r = 0;
				break;
			}
			if (r < 0)
				goto out;
		}
		/* clone3, skipped above: allowed only when the file allows it
		 * and KIN_SECCOMP_DEFAULT is not there to make it ENOSYS (an
		 * unnamed one got ENOSYS at the top, as the default's denial). */
		if (c->nr_clone3 >= 0 && !(c->profiles & KIN_SECCOMP_DEFAULT) &&
		    file_verdict(c, "clone3") == KIN__SECCOMP_ALLOW &&
		    (r = rule(c, SCMP_ACT_ALLOW, c->nr_clone3, "clone3", 0, NULL)) < 0)
			goto out;
	}
	r = 0;
out:
	free(nrs);
	return r;
}

/* Reads a profile file whole, up to one byte past what the parser takes
 * (so it reports the size). */
static int read_file(const char *path, char **text, size_t *len)
{
	const size_t cap = 1024 * 1024 + 1;
	/* O_NONBLOCK: a FIFO named by mistake must not hang the spawn. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(fd, &st) < 0     ? -errno
		  : S_ISDIR(st.st_mode)  ? -EISDIR
		  : !S_ISREG(st.st_mode) ? -EINVAL
					 : 0;
	if (err) {
		kin__close(fd);
		return err;
	}
	/* Sized by the file when it says (a pipe does not). */
	size_t size = st.st_size > 0 && (size_t)st.st_size < cap ? (size_t)st.st_size + 1 : 4096;
	char *buf = malloc(size);
	size_t n = 0;
	while (buf) {
		if (n == size) {
			if (size == cap)
				break;
			size = size * 2 < cap ? size * 2 : cap;
			char *more = realloc(buf, size);
			if (!more) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = more;
		}
		ssize_t got = read(fd, buf + n, size - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	kin__close(fd);
	if (!buf)
		return -ENOMEM;
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	*len = n;
	return 0;
}

/* libseccomp writes the program to an fd: a memfd takes it whole,
 * whatever its size, where a pipe would fill up with no reader. */
static int export_bpf(compiler *c, struct sock_fprog *prog)
{
	int fd = memfd_create("kin-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		kin__spawn_error(c->why, err, KIN_STEP_SECCOMP, "seccomp: memfd_create: %s",
				 kin_strerror(err));
		return err;
	}
	int r = seccomp_export_bpf(c->ctx, fd);
	if (r < 0) {
		kin__spawn_error(c->why, r, KIN_STEP_SECCOMP,
				 "seccomp: cannot export the filter: %s", kin_strerror(r));
		kin__close(fd);
		return r;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	size_t count = size > 0 ? (size_t)size / sizeof(struct sock_filter) : 0;
	if (size <= 0 || (size_t)size % sizeof(struct sock_filter) != 0) {
		kin__spawn_error(c->why, -EIO, KIN_STEP_SECCOMP,
				 "seccomp: libseccomp exported %lld bytes, not a whole program",
				 (long long)size);
		kin__close(fd);
		return -EIO;
	}
	/* The kernel's limit; prog->len is 16 bits, and this is far below. */
	if (count > BPF_MAXINSNS) {
		kin__spawn_error(
			c->why, -E2BIG, KIN_STEP_SECCOMP,
			"seccomp: the filter has %zu instructions, more than the kernel's %d",
			count, BPF_MAXINSNS);
		kin__close(fd);
		return -E2BIG;
	}
	struct sock_filter *filter = malloc((size_t)size);
	if (!filter) {
		kin__close(fd);
		return -ENOMEM;
	}
	size_t n = 0;
	while (n < (size_t)size) {
		ssize_t got = pread(fd, (char *)filter + n, (size_t)size - n, (off_t)n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			int err = got < 0 ? -errno : -EIO;
			kin__spawn_error(c->why, err, KIN_STEP_SECCOMP,
					 "seccomp: cannot read the exported filter back: %s",
					 kin_strerror(err));
			free(filter);
			kin__close(fd);
			return err;
		}
		n += (size_t)got;
	}
	kin__close(fd);
	prog->filter = filter;
	prog->len = (unsigned short)count;
	return 0;
}

static void add_denied(compiler *c, const char *name)
{
	int nr = resolve(name);
	if (nr < 0)
		return;
	c->denied[c->ndenied] = nr;
	c->denied_name[c->ndenied++] = name;
}

/* Killing the whole process (Linux 4.14) rather than the calling thread.
 * libseccomp asks the running kernel whether it can and refuses the
 * action if not; under valgrind, which lacks seccomp(2), the answer is
 * always no. The thread's death blocks the call all the same. */
static uint32_t kill_action(void)
{
	return seccomp_api_get() >= 3 ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_KILL_THREAD;
}

static int build(compiler *c, kin_seccomp_action action, struct sock_fprog *prog)
{
	uint32_t kill = kill_action();
	c->deny = action == KIN_SECCOMP_KILL ? kill : SCMP_ACT_ERRNO(EPERM);
	c->default_deny = c->custom && c->custom->default_verdict == KIN__SECCOMP_DENY;
	c->nr_clone = resolve("clone");
	c->nr_clone3 = resolve("clone3");
	c->nr_ioctl = resolve("ioctl");
	c->nr_socket = resolve("socket");
	c->nr_socketpair = resolve("socketpair");
	if (c->profiles & KIN_SECCOMP_DEFAULT)
		for (size_t i = 0; i < KIN_ARRAY_SIZE(default_denied); i++)
			add_denied(c, default_denied[i]);
	if (c->profiles & KIN_SECCOMP_NO_NETWORK)
		for (size_t i = 0; i < KIN_ARRAY_SIZE(network_denied); i++)
			add_denied(c, network_denied[i]);

	c->ctx = seccomp_init(c->default_deny ? c->deny : SCMP_ACT_ALLOW);
	if (!c->ctx)
		return -ENOMEM;
	/* Only this architecture's calls are filtered, so any other's (i386
	 * through int 0x80 or x32 on x86_64) could get past every rule: the
	 * process dies instead. Even with the EPERM action: a program whose
	 * every call failed would only misbehave more slowly. */
	int r = seccomp_attr_set(c->ctx, SCMP_FLTATR_ACT_BADARCH, kill);
	if (r < 0) {
		kin__spawn_error(c->why, r, KIN_STEP_SECCOMP,
				 "seccomp: cannot set the foreign-architecture action: %s",
				 kin_strerror(r));
		goto out;
	}
	/* A binary tree of system calls: long allow lists stay cheap. */
	(void)seccomp_attr_set(c->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if ((r = add_rules(c)) < 0)
		goto out;
	r = export_bpf(c, prog);
out:
	seccomp_release(c->ctx);
	return r;
}

int kin__seccomp_compile(unsigned profiles, const char *file, kin_seccomp_action action,
			 struct sock_fprog *prog, kin_spawn_error *why)
{
	compiler c = {.profiles = profiles, .file = file, .why = why};
	char *text = NULL;
	kin__seccomp_profile custom = {0};
	int r;
	if (file) {
		size_t len = 0;
		if ((r = read_file(file, &text, &len)) < 0) {
			kin__spawn_error(why, r, KIN_STEP_SECCOMP, "seccomp profile %s: %s", file,
					 kin_strerror(r));
			return r;
		}
		char err[200];
		r = kin__seccomp_profile_parse(text, len, &custom, err, sizeof(err));
		free(text);
		if (r < 0) {
			kin__spawn_error(why, r, KIN_STEP_SECCOMP, "seccomp profile %s: %s", file,
					 err);
			return r;
		}
		c.custom = &custom;
	}
	r = build(&c, action, prog);
	if (r == -ENOMEM)
		kin__spawn_error(why, r, KIN_STEP_SECCOMP, "seccomp: out of memory");
	kin__seccomp_profile_free(&custom);
	return r;
}

void kin__seccomp_free(struct sock_fprog *prog)
{
	if (!prog)
		return;
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}

/* Runs in the child between clone and exec: one raw system call. The
 * caller has set no_new_privs, without which the kernel demands
 * CAP_SYS_ADMIN. */
KIN__CHILD_SIDE int kin__seccomp_install(const struct sock_fprog *prog)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return -errno;
	return 0;
}
