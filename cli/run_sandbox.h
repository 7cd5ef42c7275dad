/* `kin run`'s sandbox options, spelled as bubblewrap spells them: parsed
 * one by one as getopt meets them, then checked against each other and
 * turned into a kin_sandbox (run_sandbox.c). Kept apart from the other
 * options because they are many and have their own rules: two-value
 * options, --perms that belongs to the next option, flags that only mean
 * something together. */
#ifndef KIN_CLI_RUN_SANDBOX_H
#define KIN_CLI_RUN_SANDBOX_H

#include "kin.h"

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct run_config;

/* getopt_long values of the sandbox options, above those of run_options.c. */
enum {
	RUN_OPT_SANDBOX_FIRST = 512,
	RUN_OPT_UNSHARE_USER = RUN_OPT_SANDBOX_FIRST,
	RUN_OPT_UNSHARE_PID,
	RUN_OPT_UNSHARE_NET,
	RUN_OPT_UNSHARE_IPC,
	RUN_OPT_UNSHARE_UTS,
	RUN_OPT_UNSHARE_CGROUP,
	RUN_OPT_UNSHARE_ALL,
	RUN_OPT_SHARE_NET,
	RUN_OPT_UID,
	RUN_OPT_GID,
	RUN_OPT_HOSTNAME,
	/* The mount steps, in kin_mount_kind's order. */
	RUN_OPT_BIND,
	RUN_OPT_RO_BIND,
	RUN_OPT_DEV_BIND,
	RUN_OPT_TMPFS,
	RUN_OPT_PROC,
	RUN_OPT_DEV,
	RUN_OPT_DIR,
	RUN_OPT_SYMLINK,
	RUN_OPT_REMOUNT_RO,
	RUN_OPT_PERMS,
	RUN_OPT_CHDIR,
	RUN_OPT_SETENV,
	RUN_OPT_UNSETENV,
	RUN_OPT_SECCOMP,
	RUN_OPT_SECCOMP_KILL,
	RUN_OPT_CAP_ADD,
	RUN_OPT_CAP_DROP,
	RUN_OPT_AS_PID_1,
	RUN_OPT_RLIMIT,
	RUN_OPT_MEMORY,
	RUN_OPT_PIDS,
	RUN_OPT_CPUS,
	RUN_OPT_CGROUP_PARENT,
	/* Landlock rules, in KIN_LANDLOCK_*'s order: kin's own spelling. */
	RUN_OPT_LANDLOCK_READ,
	RUN_OPT_LANDLOCK_WRITE,
	RUN_OPT_LANDLOCK_EXEC,
	RUN_OPT_SANDBOX_END,
};

/* Their entries in run_options.c's table of long options. */
/* clang-format off */
#define RUN_SANDBOX_LONG_OPTIONS                                                                   \
	{"unshare-user", no_argument, NULL, RUN_OPT_UNSHARE_USER},                                 \
	{"unshare-pid", no_argument, NULL, RUN_OPT_UNSHARE_PID},                                   \
	{"unshare-net", no_argument, NULL, RUN_OPT_UNSHARE_NET},                                   \
	{"unshare-ipc", no_argument, NULL, RUN_OPT_UNSHARE_IPC},                                   \
	{"unshare-uts", no_argument, NULL, RUN_OPT_UNSHARE_UTS},                                   \
	{"unshare-cgroup", no_argument, NULL, RUN_OPT_UNSHARE_CGROUP},                             \
	{"unshare-all", no_argument, NULL, RUN_OPT_UNSHARE_ALL},                                   \
	{"share-net", no_argument, NULL, RUN_OPT_SHARE_NET},                                       \
	{"uid", required_argument, NULL, RUN_OPT_UID},                                             \
	{"gid", required_argument, NULL, RUN_OPT_GID},                                             \
	{"hostname", required_argument, NULL, RUN_OPT_HOSTNAME},                                   \
	{"bind", required_argument, NULL, RUN_OPT_BIND},                                           \
	{"ro-bind", required_argument, NULL, RUN_OPT_RO_BIND},                                     \
	{"dev-bind", required_argument, NULL, RUN_OPT_DEV_BIND},                                   \
	{"tmpfs", required_argument, NULL, RUN_OPT_TMPFS},                                         \
	{"proc", required_argument, NULL, RUN_OPT_PROC},                                           \
	{"dev", required_argument, NULL, RUN_OPT_DEV},                                             \
	{"dir", required_argument, NULL, RUN_OPT_DIR},                                             \
	{"symlink", required_argument, NULL, RUN_OPT_SYMLINK},                                     \
	{"remount-ro", required_argument, NULL, RUN_OPT_REMOUNT_RO},                               \
	{"perms", required_argument, NULL, RUN_OPT_PERMS},                                         \
	{"chdir", required_argument, NULL, RUN_OPT_CHDIR},                                         \
	{"setenv", required_argument, NULL, RUN_OPT_SETENV},                                       \
	{"unsetenv", required_argument, NULL, RUN_OPT_UNSETENV},                                   \
	{"seccomp", required_argument, NULL, RUN_OPT_SECCOMP},                                     \
	{"seccomp-kill", no_argument, NULL, RUN_OPT_SECCOMP_KILL},                                 \
	{"cap-add", required_argument, NULL, RUN_OPT_CAP_ADD},                                     \
	{"cap-drop", required_argument, NULL, RUN_OPT_CAP_DROP},                                   \
	{"as-pid-1", no_argument, NULL, RUN_OPT_AS_PID_1},                                         \
	{"rlimit", required_argument, NULL, RUN_OPT_RLIMIT},                                       \
	{"memory", required_argument, NULL, RUN_OPT_MEMORY},                                       \
	{"cgroup-parent", required_argument, NULL, RUN_OPT_CGROUP_PARENT},                         \
	{"pids", required_argument, NULL, RUN_OPT_PIDS},                                           \
	{"cpus", required_argument, NULL, RUN_OPT_CPUS},                                           \
	{"landlock-read", required_argument, NULL, RUN_OPT_LANDLOCK_READ},                         \
	{"landlock-write", required_argument, NULL, RUN_OPT_LANDLOCK_WRITE},                       \
	{"landlock-exec", required_argument, NULL, RUN_OPT_LANDLOCK_EXEC}
/* clang-format on */

/* What the sandbox options said, and what kin run hands the library. */
typedef struct run_sandbox {
	/* The result, valid after run_sandbox_finish. */
	kin_sandbox sb;
	/* Hand sb to the spawn: some option needs the sandbox layer. */
	bool used;
	/* Namespaces, mounts, capabilities or seccomp: a real sandbox, whose
	 * environment starts empty. The cgroup limits and landlock rules
	 * alone need the sandbox layer too, but confine nothing else (files
	 * are all landlock fences), so they keep kin's environment and
	 * capabilities as they are. */
	bool confined;

	kin_mount *mounts; /* in command-line order; one per argument at most */
	size_t nmounts;
	kin_rlimit *rlimits; /* --rlimit, with or without a sandbox */
	size_t nrlimits;
	/* --landlock-*: one rule per path, with the union of the access
	 * every option naming it gave; in order of first mention. */
	kin_landlock_rule *landlock;
	size_t nlandlock;
	/* Strings made here (--setenv's VAR=VALUE, absolute SRC paths), freed
	 * with it; at most one per argument. */
	char **owned;
	size_t nowned;

	/* As given, for the checks that need the whole command line. */
	unsigned unshare; /* KIN_NS_* named one by one */
	bool unshare_all, share_net, as_pid_1, seccomp_kill;
	bool uid_given, gid_given, caps_given;
	const char *seccomp_file;
	const char *perms_pending; /* the text of a --perms not yet used */
	mode_t perms;
} run_sandbox;

/* Sizes the lists for argc arguments. 0 or -ENOMEM. */
int run_sandbox_init(run_sandbox *rs, int argc);
/* Accepts a zeroed or initialised run_sandbox. */
void run_sandbox_free(run_sandbox *rs);

/* "SRC DEST" or "VAR VALUE" for the options that take two values, NULL for
 * the others. */
const char *run_sandbox_two_values(int opt);

/* One sandbox option (opt in RUN_OPT_SANDBOX_FIRST..END), whose first value
 * is arg; an option with two takes argv[*next] too and moves *next past it.
 * Returns 0, or CLI_EXIT_FAILURE with its line printed. */
int run_sandbox_option(struct run_config *cfg, int opt, const char *arg, int argc, char **argv,
		       int *next);

/* Whether a --perms is waiting for its --tmpfs or --dir: the option parser
 * asks before each option and at the end. Returns 0, or CLI_EXIT_FAILURE
 * with its line printed when `opt` (0 at the end) is not one of those. */
int run_sandbox_check_perms(const struct run_config *cfg, int opt, const char *opt_name);

/* After the last option: checks the options against each other (one line
 * and CLI_EXIT_FAILURE for an impossible combination, before anything
 * runs) and fills cfg->sandbox.sb, .used and .confined. */
int run_sandbox_finish(struct run_config *cfg);

/* Sets what the sandbox options change in the spawn options run.c made
 * from cfg: the sandbox itself, the rlimits, the environment (kin's own,
 * when only cgroup limits are asked for) and tree mode (off for
 * --as-pid-1, whose program is the namespace's pid 1 itself). */
void run_sandbox_apply(const struct run_config *cfg, kin_spawn_opts *o);

#endif
