/* `kin run`'s sandbox options: bubblewrap's spelling where the meaning is
 * the same, checked here so that a bad or impossible command line fails
 * with one line before anything runs, and turned into the kin_sandbox the
 * library builds the sandbox from. */
#include "parse.h"
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A uid or gid of -1 means "unchanged" to the kernel, so it is no id. */
#define MAX_ID 4294967294u
/* PID_MAX_LIMIT on 64-bit: no cgroup can hold more processes. */
#define MAX_PIDS 4194304u
/* HOST_NAME_MAX, which sethostname enforces. */
#define MAX_HOSTNAME 64

int run_sandbox_init(run_sandbox *rs, int argc)
{
	memset(rs, 0, sizeof(*rs));
	size_t n = (size_t)argc + 1;
	rs->mounts = calloc(n, sizeof(*rs->mounts));
	rs->rlimits = calloc(n, sizeof(*rs->rlimits));
	rs->owned = calloc(n, sizeof(*rs->owned));
	rs->landlock = calloc(n, sizeof(*rs->landlock));
	if (!rs->mounts || !rs->rlimits || !rs->owned || !rs->landlock)
		return -ENOMEM;
	return 0;
}

void run_sandbox_free(run_sandbox *rs)
{
	for (size_t i = 0; i < rs->nowned; i++)
		free(rs->owned[i]);
	free(rs->owned);
	free(rs->mounts);
	free(rs->rlimits);
	free(rs->landlock);
	memset(rs, 0, sizeof(*rs));
}

static bool is_mount_option(int opt)
{
	return opt >= RUN_OPT_BIND && opt <= RUN_OPT_REMOUNT_RO;
}

static kin_mount_kind mount_kind(int opt)
{
	return (kin_mount_kind)(KIN_MOUNT_BIND + (opt - RUN_OPT_BIND));
}

/* The mount options that take a host path or a target before DEST. */
static bool mount_has_source(int opt)
{
	return opt == RUN_OPT_BIND || opt == RUN_OPT_RO_BIND || opt == RUN_OPT_DEV_BIND ||
	       opt == RUN_OPT_SYMLINK;
}

/* The option's name as the user types it, from its getopt value. */
static const char *const sandbox_option_names[] = {
	"--unshare-user",  "--unshare-pid",   "--unshare-net",
	"--unshare-ipc",   "--unshare-uts",   "--unshare-cgroup",
	"--unshare-all",   "--share-net",     "--uid",
	"--gid",           "--hostname",      "--bind",
	"--ro-bind",       "--dev-bind",      "--tmpfs",
	"--proc",          "--dev",           "--dir",
	"--symlink",       "--remount-ro",    "--perms",
	"--chdir",         "--setenv",        "--unsetenv",
	"--seccomp",       "--seccomp-kill",  "--cap-add",
	"--cap-drop",      "--as-pid-1",      "--rlimit",
	"--memory",        "--pids",          "--cpus",
	"--cgroup-parent", "--landlock-read", "--landlock-write",
	"--landlock-exec",
};
_Static_assert(sizeof(sandbox_option_names) / sizeof(sandbox_option_names[0]) ==
		       RUN_OPT_SANDBOX_END - RUN_OPT_SANDBOX_FIRST,
	       "one name per sandbox option");

static const char *name_of(int opt)
{
	return sandbox_option_names[opt - RUN_OPT_SANDBOX_FIRST];
}

const char *run_sandbox_two_values(int opt)
{
	if (opt == RUN_OPT_SETENV)
		return "VAR VALUE";
	if (opt == RUN_OPT_SYMLINK)
		return "TARGET DEST";
	if (mount_has_source(opt))
		return "SRC DEST";
	return NULL;
}

static int parse_id(const char *opt, const char *text, unsigned *id)
{
	uint64_t n;
	int r = cli_parse_uint(text, MAX_ID, &n);
	if (r == -ERANGE)
		return run_fail("%s: %s is too large (at most %u)", opt, text, MAX_ID);
	if (r < 0)
		return run_fail("%s: \"%s\" is not a number", opt, text);
	*id = (unsigned)n;
	return 0;
}

static int add_mount(run_config *cfg, int opt, const char *source, const char *dest)
{
	run_sandbox *rs = &cfg->sandbox;
	const char *name = name_of(opt);
	if (source && !*source)
		return run_fail("%s: %s is empty", name, opt == RUN_OPT_SYMLINK ? "TARGET" : "SRC");
	if (dest[0] != '/')
		return run_fail("%s: DEST \"%s\" is not an absolute path", name, dest);
	if (source && source[0] != '/' && opt != RUN_OPT_SYMLINK) {
		/* A host path is kin's to resolve, as a shell would: from kin's
		 * directory, whatever the child's --cwd and root become. */
		char *cwd = getcwd(NULL, 0);
		if (!cwd)
			return run_fail("%s: cannot resolve \"%s\": %s", name, source,
					kin_strerror(-errno));
		char *abs = NULL;
		int n = asprintf(&abs, "%s/%s", cwd, source);
		free(cwd);
		if (n < 0)
			return run_fail("out of memory");
		rs->owned[rs->nowned++] = abs;
		source = abs;
	}
	kin_mount *m = &rs->mounts[rs->nmounts++];
	*m = (kin_mount){.kind = mount_kind(opt), .source = source, .dest = dest};
	if (rs->perms_pending) {
		/* run_sandbox_check_perms let it through: TMPFS or DIR. */
		m->mode = rs->perms;
		rs->perms_pending = NULL;
	}
	return 0;
}

static int parse_perms(run_sandbox *rs, const char *text)
{
	mode_t mode;
	int r = cli_parse_mode(text, &mode);
	if (r == -ERANGE)
		return run_fail("--perms: \"%s\" is above 07777", text);
	if (r < 0)
		return run_fail("--perms: \"%s\" is not an octal mode (use e.g. 0700, 1777)", text);
	/* kin_mount takes mode 0 to mean its default, 0755. */
	if (mode == 0)
		return run_fail(
			"--perms: mode 0000 is not supported (0 stands for the default, 0755)");
	rs->perms = mode;
	rs->perms_pending = text;
	return 0;
}

static int add_seccomp(run_sandbox *rs, const char *text)
{
	if (strcmp(text, "default") == 0) {
		rs->sb.seccomp |= KIN_SECCOMP_DEFAULT;
	} else if (strcmp(text, "no-network") == 0) {
		rs->sb.seccomp |= KIN_SECCOMP_NO_NETWORK;
	} else if (strchr(text, '/')) {
		if (rs->seccomp_file && strcmp(rs->seccomp_file, text) != 0)
			return run_fail(
				"--seccomp: only one profile file can be given (\"%s\" and \"%s\")",
				rs->seccomp_file, text);
		rs->seccomp_file = text;
	} else {
		return run_fail("--seccomp: unknown profile \"%s\" (use default, no-network, or a "
				"file's path with a '/', e.g. ./my.profile)",
				text);
	}
	return 0;
}

/* The capabilities the running kernel has: up to its cap_last_cap, or
 * to CAP_CHECKPOINT_RESTORE (40) if it cannot tell. */
static uint64_t kernel_caps(void)
{
	int last = CLI_CAP_COUNT - 1;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = CLI_CAP_COUNT - 1;
		fclose(f);
	}
	return last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

static int change_caps(run_sandbox *rs, int opt, const char *text)
{
	uint64_t mask;
	if (cli_parse_capability(text, &mask) < 0)
		return run_fail("%s: unknown capability \"%s\" (use e.g. CAP_NET_ADMIN, net_admin, "
				"or ALL)",
				name_of(opt), text);
	/* ALL means all this kernel has. A name it does not have could only
	 * fail later, in the library, with less to say; dropping one is
	 * harmless. */
	uint64_t known = kernel_caps();
	if (mask == CLI_CAPS_ALL)
		mask &= known;
	else if (opt == RUN_OPT_CAP_ADD && !(mask & known))
		return run_fail("--cap-add: %s is not known to this kernel", text);
	/* In command-line order, as bwrap: --cap-add ALL --cap-drop X keeps
	 * all but X; --cap-drop ALL --cap-add X keeps only X. */
	if (opt == RUN_OPT_CAP_ADD)
		rs->sb.caps |= mask;
	else
		rs->sb.caps &= ~mask;
	rs->caps_given = true;
	return 0;
}

static int add_rlimit(run_sandbox *rs, const char *text)
{
	const char *eq = strchr(text, '=');
	if (!eq)
		return run_fail("--rlimit: \"%s\" is not RESOURCE=VALUE (use e.g. NOFILE=1024, "
				"CORE=0, AS=4G:unlimited)",
				text);
	char name[32];
	size_t len = (size_t)(eq - text);
	int resource = -1;
	if (len < sizeof(name)) {
		memcpy(name, text, len);
		name[len] = '\0';
		(void)cli_parse_rlimit_name(name, &resource);
	}
	if (resource < 0)
		return run_fail(
			"--rlimit: unknown resource \"%.*s\" (use e.g. NOFILE, NPROC, CORE, "
			"AS, CPU, FSIZE, MEMLOCK, STACK)",
			(int)len, text);
	struct rlimit lim;
	int r = cli_parse_rlimit_value(eq + 1, &lim);
	if (r == -EDOM)
		return run_fail("--rlimit: %s: the soft limit is above the hard one in \"%s\"",
				name, eq + 1);
	if (r == -ERANGE)
		return run_fail("--rlimit: %s: \"%s\" is too large", name, eq + 1);
	if (r < 0)
		return run_fail("--rlimit: %s: invalid value \"%s\" (use a number, unlimited, or "
				"SOFT:HARD; K, M, G, T suffixes allowed)",
				name, eq + 1);
	/* A later --rlimit of the same resource replaces the earlier one. */
	size_t i = 0;
	while (i < rs->nrlimits && rs->rlimits[i].resource != resource)
		i++;
	rs->rlimits[i] = (kin_rlimit){.resource = resource, .limit = lim};
	if (i == rs->nrlimits)
		rs->nrlimits++;
	return 0;
}

static int parse_memory(run_sandbox *rs, const char *text)
{
	uint64_t bytes;
	int r = cli_parse_size(text, &bytes);
	if (r == -ERANGE)
		return run_fail("--memory: \"%s\" is too large", text);
	if (r < 0)
		return run_fail(
			"--memory: invalid size \"%s\" (bytes, or with a K, M, G or T suffix: "
			"512M, 2G)",
			text);
	if (bytes == 0)
		return run_fail("--memory: the limit must be more than 0");
	rs->sb.memory_max = bytes;
	return 0;
}

static int parse_pids(run_sandbox *rs, const char *text)
{
	uint64_t n;
	int r = cli_parse_uint(text, MAX_PIDS, &n);
	if (r == -ERANGE)
		return run_fail("--pids: %s is too large (at most %u)", text, MAX_PIDS);
	if (r < 0)
		return run_fail("--pids: \"%s\" is not a number", text);
	if (n == 0)
		return run_fail("--pids: the limit must be more than 0");
	rs->sb.pids_max = n;
	return 0;
}

static int parse_cpus(run_sandbox *rs, const char *text)
{
	uint32_t millis;
	int r = cli_parse_cpus(text, &millis);
	if (r == -ERANGE)
		return run_fail("--cpus: \"%s\" is too large", text);
	if (r < 0)
		return run_fail("--cpus: invalid number of CPUs \"%s\" (use e.g. 0.5, 2, 1.25)",
				text);
	if (millis == 0)
		return run_fail("--cpus: the limit must be more than 0");
	rs->sb.cpu_millis = millis;
	return 0;
}

static const unsigned landlock_access[] = {
	[RUN_OPT_LANDLOCK_READ - RUN_OPT_LANDLOCK_READ] = KIN_LANDLOCK_READ,
	[RUN_OPT_LANDLOCK_WRITE - RUN_OPT_LANDLOCK_READ] = KIN_LANDLOCK_WRITE,
	[RUN_OPT_LANDLOCK_EXEC - RUN_OPT_LANDLOCK_READ] = KIN_LANDLOCK_EXEC,
};

/* --landlock-read/-write/-exec PATH. A path named again gets the union of
 * the access: one rule per path is what the user meant, and it keeps the
 * list to one entry per argument. The path is the sandbox's, after its
 * mounts, so it cannot be resolved from kin's directory as a mount's SRC
 * is: a relative one is refused. */
static int add_landlock(run_sandbox *rs, int opt, const char *path)
{
	if (path[0] != '/')
		return run_fail("%s: \"%s\" is not an absolute path", name_of(opt), path);
	unsigned access = landlock_access[opt - RUN_OPT_LANDLOCK_READ];
	for (size_t i = 0; i < rs->nlandlock; i++) {
		if (strcmp(rs->landlock[i].path, path) == 0) {
			rs->landlock[i].access |= access;
			return 0;
		}
	}
	rs->landlock[rs->nlandlock++] = (kin_landlock_rule){.path = path, .access = access};
	return 0;
}

/* --setenv VAR VALUE is --env VAR=VALUE; the string is made here. */
static int setenv_option(run_config *cfg, const char *var, const char *value)
{
	run_sandbox *rs = &cfg->sandbox;
	if (!cli_env_name_ok(var))
		return run_fail("--setenv: \"%s\" is not a variable name", var);
	size_t nvar = strlen(var), nvalue = strlen(value);
	char *s = malloc(nvar + 1 + nvalue + 1);
	if (!s)
		return run_fail("out of memory");
	memcpy(s, var, nvar);
	s[nvar] = '=';
	memcpy(s + nvar + 1, value, nvalue + 1);
	rs->owned[rs->nowned++] = s;
	return run_env_set(cfg, "--setenv", s);
}

static const unsigned unshare_ns[] = {
	[RUN_OPT_UNSHARE_USER - RUN_OPT_SANDBOX_FIRST] = KIN_NS_USER,
	[RUN_OPT_UNSHARE_PID - RUN_OPT_SANDBOX_FIRST] = KIN_NS_PID,
	[RUN_OPT_UNSHARE_NET - RUN_OPT_SANDBOX_FIRST] = KIN_NS_NET,
	[RUN_OPT_UNSHARE_IPC - RUN_OPT_SANDBOX_FIRST] = KIN_NS_IPC,
	[RUN_OPT_UNSHARE_UTS - RUN_OPT_SANDBOX_FIRST] = KIN_NS_UTS,
	[RUN_OPT_UNSHARE_CGROUP - RUN_OPT_SANDBOX_FIRST] = KIN_NS_CGROUP,
};

int run_sandbox_option(run_config *cfg, int opt, const char *arg, int argc, char **argv, int *next)
{
	run_sandbox *rs = &cfg->sandbox;
	/* getopt_long hands over one value; a second is the next argument,
	 * whatever it looks like, as bwrap takes it. */
	const char *second = NULL;
	const char *two = run_sandbox_two_values(opt);
	if (two) {
		if (*next >= argc)
			return run_usage_error("option '%s' needs two values: %s", name_of(opt),
					       two);
		second = argv[(*next)++];
	}
	switch (opt) {
	case RUN_OPT_UNSHARE_USER:
	case RUN_OPT_UNSHARE_PID:
	case RUN_OPT_UNSHARE_NET:
	case RUN_OPT_UNSHARE_IPC:
	case RUN_OPT_UNSHARE_UTS:
	case RUN_OPT_UNSHARE_CGROUP:
		rs->unshare |= unshare_ns[opt - RUN_OPT_SANDBOX_FIRST];
		return 0;
	case RUN_OPT_UNSHARE_ALL:
		rs->unshare_all = true;
		return 0;
	case RUN_OPT_SHARE_NET:
		rs->share_net = true;
		return 0;
	case RUN_OPT_UID:
		rs->uid_given = true;
		return parse_id("--uid", arg, &rs->sb.uid);
	case RUN_OPT_GID:
		rs->gid_given = true;
		return parse_id("--gid", arg, &rs->sb.gid);
	case RUN_OPT_HOSTNAME:
		if (!*arg)
			return run_fail("--hostname: the name is empty");
		if (strlen(arg) > MAX_HOSTNAME)
			return run_fail("--hostname: \"%s\" is longer than %d bytes", arg,
					MAX_HOSTNAME);
		rs->sb.hostname = arg;
		return 0;
	case RUN_OPT_PERMS:
		return parse_perms(rs, arg);
	case RUN_OPT_CHDIR:
		if (!*arg)
			return run_fail("--chdir: the directory name is empty");
		cfg->cwd = arg;
		cfg->cwd_option = "--chdir";
		return 0;
	case RUN_OPT_SETENV:
		return setenv_option(cfg, arg, second);
	case RUN_OPT_UNSETENV:
		return run_env_unset(cfg, "--unsetenv", arg);
	case RUN_OPT_SECCOMP:
		return add_seccomp(rs, arg);
	case RUN_OPT_SECCOMP_KILL:
		rs->seccomp_kill = true;
		return 0;
	case RUN_OPT_CAP_ADD:
	case RUN_OPT_CAP_DROP:
		return change_caps(rs, opt, arg);
	case RUN_OPT_AS_PID_1:
		rs->as_pid_1 = true;
		return 0;
	case RUN_OPT_RLIMIT:
		return add_rlimit(rs, arg);
	case RUN_OPT_MEMORY:
		return parse_memory(rs, arg);
	case RUN_OPT_PIDS:
		return parse_pids(rs, arg);
	case RUN_OPT_CPUS:
		return parse_cpus(rs, arg);
	case RUN_OPT_CGROUP_PARENT:
		if (arg[0] != '/')
			return run_fail("--cgroup-parent: \"%s\" is not an absolute path", arg);
		rs->sb.cgroup_parent = arg;
		return 0;
	case RUN_OPT_LANDLOCK_READ:
	case RUN_OPT_LANDLOCK_WRITE:
	case RUN_OPT_LANDLOCK_EXEC:
		return add_landlock(rs, opt, arg);
	default:
		if (is_mount_option(opt))
			return second ? add_mount(cfg, opt, arg, second)
				      : add_mount(cfg, opt, NULL, arg);
		return run_fail("internal error: unknown sandbox option %d", opt);
	}
}

int run_sandbox_check_perms(const run_config *cfg, int opt, const char *opt_name)
{
	const run_sandbox *rs = &cfg->sandbox;
	if (!rs->perms_pending || opt == RUN_OPT_TMPFS || opt == RUN_OPT_DIR)
		return 0;
	if (opt == 0)
		return run_usage_error("--perms %s must be followed by --tmpfs or --dir",
				       rs->perms_pending);
	return run_usage_error("--perms %s must be followed by --tmpfs or --dir, not %s",
			       rs->perms_pending, opt_name);
}

/* The flag that asked for a pid namespace, for messages: the first of
 * those given, in the order a reader would look for them. */
static const char *pid_ns_flag(const run_sandbox *rs)
{
	if (rs->unshare & KIN_NS_PID)
		return "--unshare-pid";
	if (rs->unshare_all)
		return "--unshare-all";
	return "--as-pid-1";
}

int run_sandbox_finish(run_config *cfg)
{
	run_sandbox *rs = &cfg->sandbox;
	kin_sandbox *sb = &rs->sb;

	/* --share-net means something only next to --unshare-all, and says
	 * the opposite of --unshare-net. */
	if (rs->share_net && !rs->unshare_all)
		return run_fail("--share-net needs --unshare-all");
	if (rs->share_net && (rs->unshare & KIN_NS_NET))
		return run_fail("--share-net and --unshare-net contradict each other");
	unsigned ns = rs->unshare;
	if (rs->unshare_all)
		ns |= KIN_NS_ALL & ~(rs->share_net ? (unsigned)KIN_NS_NET : 0u);
	/* bwrap always makes a mount namespace; kin needs one for the steps. */
	if (rs->nmounts)
		ns |= KIN_NS_MOUNT;

	/* A new pid namespace is where tree mode runs the program: kin's pid 1
	 * or, with --as-pid-1, the program itself. Without tree mode nothing
	 * could be pid 1 of it. */
	bool wants_pid_ns = (ns & KIN_NS_PID) || rs->as_pid_1;
	if (!cfg->tree && wants_pid_ns)
		return run_fail("%s cannot go with --no-tree (a new PID namespace is what tree "
				"mode makes)",
				pid_ns_flag(rs));
	if (rs->as_pid_1 && !(ns & KIN_NS_PID))
		return run_fail("--as-pid-1 needs --unshare-pid (or --unshare-all)");
	if (sb->hostname && !(ns & KIN_NS_UTS))
		return run_fail("--hostname needs --unshare-uts (or --unshare-all)");
	if (rs->uid_given && !(ns & KIN_NS_USER))
		return run_fail("--uid needs --unshare-user (or --unshare-all)");
	if (rs->gid_given && !(ns & KIN_NS_USER))
		return run_fail("--gid needs --unshare-user (or --unshare-all)");
	if (rs->seccomp_kill && !sb->seccomp && !rs->seccomp_file)
		return run_fail("--seccomp-kill needs --seccomp");
	int r = run_sandbox_check_perms(cfg, 0, NULL);
	if (r != 0)
		return r;

	sb->namespaces = ns;
	sb->mounts = rs->nmounts ? rs->mounts : NULL;
	sb->nmounts = rs->nmounts;
	sb->seccomp_file = rs->seccomp_file;
	sb->seccomp_action = rs->seccomp_kill ? KIN_SECCOMP_KILL : KIN_SECCOMP_EPERM;
	sb->as_pid_1 = rs->as_pid_1;
	sb->landlock = rs->nlandlock ? rs->landlock : NULL;
	sb->nlandlock = rs->nlandlock;
	sb->init_fd = -1;
	rs->confined = ns || rs->caps_given || sb->seccomp || rs->seccomp_file;
	rs->used =
		rs->confined || sb->memory_max || sb->pids_max || sb->cpu_millis || rs->nlandlock;
	/* Limits and landlock rules alone confine nothing else: keep every
	 * capability kin has (the library drops all those not kept).
	 * no_new_privs, which landlock needs without CAP_SYS_ADMIN, comes
	 * with every sandbox. */
	if (!rs->confined)
		sb->caps = kernel_caps();
	return 0;
}

void run_sandbox_apply(const run_config *cfg, kin_spawn_opts *o)
{
	const run_sandbox *rs = &cfg->sandbox;
	o->rlimits = rs->nrlimits ? rs->rlimits : NULL;
	o->nrlimits = rs->nrlimits;
	if (!rs->used)
		return;
	o->sandbox = &rs->sb;
	/* A real sandbox starts from an empty environment: only --env and
	 * --setenv go in (the library's default in a sandbox too; said here
	 * so that kin run does not depend on it). Limits alone should not
	 * change what the program sees, so they get kin's own environment
	 * as the list (--unset still applies on top). */
	if (o->env_mode == KIN_ENV_INHERIT) {
		if (rs->confined) {
			o->env_mode = KIN_ENV_EMPTY;
		} else {
			o->env_mode = KIN_ENV_LIST;
			o->env = (const char *const *)environ;
		}
	}
	/* As pid 1 the program replaces kin's init, which tree mode is. */
	if (rs->as_pid_1)
		o->flags &= ~(unsigned)KIN_SPAWN_TREE;
}
