/* Internal interface of the sandbox layer.
 *
 * The owner prepares everything that allocates or may fail for a reason a
 * human should read (kin__sandbox_prepare: copies, the seccomp program,
 * the cgroup); the child applies it on its way to exec with raw,
 * async-signal-safe calls only, and reports a failure as a step, an errno
 * and, for mounts, the index of the step. */
#ifndef KIN_SANDBOX_H
#define KIN_SANDBOX_H

#include "../core/core.h"

#include <linux/filter.h>
#include <stdint.h>

/* ---- mounts (mount.c; child side) */

/* One step of the new root, copied from the caller's kin_mount. */
typedef struct kin__mount_step {
	kin_mount_kind kind;
	const char *source; /* NULL where the kind has none */
	const char *dest;   /* absolute */
	mode_t mode;        /* 0755 where the caller left 0 */
} kin__mount_step;

typedef struct kin__root_plan {
	const kin__mount_step *steps;
	size_t nsteps;
	/* Scratch for path work in the child, which may not allocate: at least
	 * KIN__ROOT_SCRATCH bytes. */
	char *scratch;
} kin__root_plan;

#define KIN__ROOT_SCRATCH (3 * 4096)

/* In the child, inside its new mount namespace (and its new pid namespace,
 * for a proc step): makes every mount below / a slave (nothing we do
 * propagates back to the host), builds a tmpfs root from the steps in
 * order, and pivot_roots into it, leaving nothing of the old root
 * reachable. Dest paths are resolved in the new root without following
 * any symlink (-ELOOP). Returns 0, or -errno with *failed set to the index
 * of the step that failed (nsteps for the pivot itself). */
int kin__root_build(const kin__root_plan *plan, size_t *failed);

/* A short human name of a step kind: "bind", "ro-bind", ... */
const char *kin__mount_kind_name(kin_mount_kind kind);

/* ---- seccomp (seccomp.c: owner side through libseccomp; profile.c) */

/* Owner: compiles the profiles (KIN_SECCOMP_* and an optional profile
 * file) into a BPF program for this architecture. Returns 0 with
 * prog->filter allocated (free with kin__seccomp_free), or -errno with
 * `why` saying what is wrong (a profile file's problems by line). */
int kin__seccomp_compile(unsigned profiles, const char *file, kin_seccomp_action action,
			 struct sock_fprog *prog, kin_spawn_error *why);
void kin__seccomp_free(struct sock_fprog *prog);

/* Child: installs prog (no_new_privs must be set). 0 or -errno. */
int kin__seccomp_install(const struct sock_fprog *prog);

/* A custom profile, parsed (profile.c, fuzzed: it is outside input). */
typedef enum kin__seccomp_verdict {
	KIN__SECCOMP_ALLOW = 0,
	KIN__SECCOMP_DENY,
} kin__seccomp_verdict;

typedef struct kin__seccomp_rule {
	char name[64]; /* the syscall's name, as libseccomp knows it */
	kin__seccomp_verdict verdict;
	unsigned line; /* where the file first names it, for errors */
} kin__seccomp_rule;

typedef struct kin__seccomp_profile {
	kin__seccomp_verdict default_verdict;
	kin__seccomp_rule *rules; /* allocated */
	size_t nrules;
} kin__seccomp_profile;

/* Parses a profile's text (docs/sandbox.md has the format). Returns 0, or
 * -EINVAL with `err` saying which line and why ("line 3: ..."). Never
 * crashes on any input. */
int kin__seccomp_profile_parse(const char *text, size_t len, kin__seccomp_profile *out, char *err,
			       size_t errsize);
void kin__seccomp_profile_free(kin__seccomp_profile *p);

/* ---- the whole sandbox (plan.c: owner side; enter.c, privileges.c:
 * child side) */

typedef struct kin__sandbox_plan {
	unsigned namespaces;  /* KIN_NS_*, with USER added when unprivileged */
	uint64_t clone_flags; /* CLONE_NEW* for them */
	/* "inside outside 1" lines for a new user namespace, written by the
	 * owner through the pidfd-held child (userns.c). */
	char uid_map[64], gid_map[64];
	const char *hostname;
	bool lo_up;
	bool has_root; /* build a new root (root.steps may be empty) */
	kin__root_plan root;
	size_t implied_steps; /* ro_root's, before the caller's own */
	uint64_t caps;
	struct sock_fprog seccomp; /* filter NULL: none */
	const kin_landlock_rule *landlock;
	size_t nlandlock;
	int landlock_abi;
	kin_sandbox_init init;
	void *init_userdata;
	int init_fd;
	bool as_pid_1;
	/* The child waits on sync_r for the owner to finish its part (the
	 * maps): one byte means go on, end of file means give up. */
	int sync_r, sync_w;
	int cgroup_fd; /* -1, or the cgroup the child is cloned into */
	char *cgroup_path;
	/* Storage the plan owns. */
	void *alloc;
} kin__sandbox_plan;

/* cgroup.c, owner side: makes the child's cgroup with the limits of sb
 * (sp->cgroup_path, sp->cgroup_fd), or says why it cannot. */
int kin__cgroup_create(kin__sandbox_plan *sp, const kin_sandbox *sb, kin_spawn_error *why);
/* Whether the kernel's out-of-memory killer struck in the cgroup. */
bool kin__cgroup_oom_killed(const char *dir);
/* Removes the cgroup, killing what is left in it. Accepts NULL. */
void kin__cgroup_remove(const char *dir);

/* landlock.c: the kernel's landlock ABI version, or -errno without it. */
int kin__landlock_abi(void);
/* landlock.c, child side: restricts this process to the plan's rules.
 * 0, or -errno with *rule set to the index of the rule that failed (-1
 * when the ruleset itself did). */
int kin__landlock_apply(const kin__sandbox_plan *sp, int32_t *rule);

/* Owner: checks the sandbox options against each other and prepares
 * everything the child will need. 0, or -errno with `why` filled (step
 * KIN_STEP_OPTIONS for impossible combinations). `tree` says the spawn
 * wants kin's pid 1 (KIN_SPAWN_TREE). */
int kin__sandbox_prepare(kin__sandbox_plan *sp, const kin_sandbox *sb, bool tree,
			 kin_spawn_error *why);
void kin__sandbox_plan_free(kin__sandbox_plan *sp);

/* Owner: fills `why` for a failure the child reported in one of the
 * sandbox's own steps; false for any other step. */
bool kin__sandbox_failure(const kin__sandbox_plan *sp, kin_spawn_error *why, int err,
			  kin_spawn_step step, int32_t index);

/* Owner, right after the clone: writes the user maps of the new child
 * through /proc/<pid>, having checked with its pidfd that the pid is
 * still that child's, then lets the child go on. 0 or -errno (why set). */
int kin__sandbox_release_child(kin__sandbox_plan *sp, int pidfd, pid_t pid, kin_spawn_error *why);

/* Child: waits for the owner, then sets up what the namespaces share:
 * hostname, lo, the new root. Call it from pid 1 of a new pid namespace.
 * 0, or -errno with *step set, and *index to the mount step that failed
 * (the step count for the pivot itself), else -1. */
int kin__sandbox_enter(const kin__sandbox_plan *sp, kin_spawn_step *step, int32_t *index);

/* Child: kin's pid 1 of a sandbox, once it has started the program, gives
 * up what the program gave up, so taking it over gains nothing: every
 * capability, dumpable (no ptrace, no /proc/1/mem), no_new_privs. It can
 * still signal and reap the program, which runs as its own uid. */
int kin__sandbox_confine_pid1(void);

/* Child, last before exec: the init hook, then capabilities,
 * no_new_privs, landlock and seccomp. 0, or -errno with *step set (and
 * *index, the failed landlock rule's, or -1). */
int kin__sandbox_confine(const kin__sandbox_plan *sp, kin_spawn_step *step, int32_t *index);

#endif
