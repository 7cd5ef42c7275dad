/* `kin run`'s command line: the options, their help text, and the one
 * line of explanation a bad option gets. */
#include "parse.h"
#include "run.h"

#include "kin.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const run_stdio_names[3] = {"--stdin", "--stdout", "--stderr"};

enum {
	OPT_TIMEOUT = 256,
	OPT_SIGNAL,
	OPT_KILL_AFTER,
	OPT_CWD,
	OPT_ENV,
	OPT_UNSET,
	OPT_CLEARENV,
	OPT_STDIN,
	OPT_STDOUT,
	OPT_STDERR,
	OPT_GROUP,
	OPT_NO_TREE,
	OPT_NEW_SESSION,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"signal", required_argument, NULL, OPT_SIGNAL},
	{"kill-after", required_argument, NULL, OPT_KILL_AFTER},
	{"cwd", required_argument, NULL, OPT_CWD},
	{"env", required_argument, NULL, OPT_ENV},
	{"unset", required_argument, NULL, OPT_UNSET},
	{"clearenv", no_argument, NULL, OPT_CLEARENV},
	{"stdin", required_argument, NULL, OPT_STDIN},
	{"stdout", required_argument, NULL, OPT_STDOUT},
	{"stderr", required_argument, NULL, OPT_STDERR},
	{"group", no_argument, NULL, OPT_GROUP},
	{"no-tree", no_argument, NULL, OPT_NO_TREE},
	{"new-session", no_argument, NULL, OPT_NEW_SESSION},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	RUN_SANDBOX_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

void cli_run_usage(FILE *f)
{
	fprintf(f,
		"usage: kin run [OPTIONS] [--] PROGRAM [ARG...]\n"
		"\n"
		"Runs PROGRAM, forwards HUP INT QUIT TERM USR1 USR2 WINCH CONT to it, and\n"
		"exits with its status. By default PROGRAM and all its descendants run in\n"
		"a new PID namespace, so nothing outlives kin, even if kin is SIGKILLed.\n"
		"\n"
		"Options:\n"
		"  --timeout DUR      send the timeout signal after DUR, then exit 124\n"
		"  --signal SIG       the timeout signal: TERM (default), SIGINT, 9, ...\n"
		"  --kill-after DUR   also send KILL if still running DUR after that\n"
		"  --cwd DIR          run in DIR\n"
		"  --env NAME=VALUE   set a variable (repeatable)\n"
		"  --unset NAME       remove a variable (repeatable)\n"
		"  --clearenv         start from an empty environment\n"
		"  --stdin FILE       read stdin from FILE, or 'null' for /dev/null\n"
		"  --stdout FILE      write stdout to FILE (truncated), or 'null'\n"
		"  --stderr FILE      write stderr to FILE (truncated), or 'null'\n"
		"  --group            run in a new process group; signals go to the group\n"
		"  --new-session      run in a new session (setsid)\n"
		"  --no-tree          no PID namespace; descendants may outlive kin\n"
		"  -v, --verbose      report how the program ended on stderr\n"
		"  -h, --help         show this help\n"
		"      --version      show kin's version\n"
		"  --chdir DIR, --setenv VAR VALUE, --unsetenv VAR\n"
		"                     bubblewrap's spellings of --cwd, --env, --unset\n"
		"\n"
		"Sandbox (spelled as in bubblewrap):\n"
		"  --unshare-user|pid|net|ipc|uts|cgroup\n"
		"                     a new namespace of that kind\n"
		"  --unshare-all      all of them; with --share-net, the host's network\n"
		"  --uid N, --gid N   the ids inside a new user namespace\n"
		"  --hostname NAME    the hostname inside a new uts namespace\n"
		"  --bind SRC DEST, --ro-bind SRC DEST, --dev-bind SRC DEST, --tmpfs DEST,\n"
		"  --dir DEST, --proc DEST, --dev DEST, --symlink TARGET DEST, --remount-ro DEST\n"
		"                     build a new root from these steps, in order\n"
		"  --perms OCTAL      the mode of the --tmpfs or --dir right after it\n"
		"  --seccomp PROFILE  deny calls: default, no-network, or a profile file\n"
		"                     (docs/sandbox.md); repeatable\n"
		"  --seccomp-kill     a denied call kills the program instead of EPERM\n"
		"  --cap-add CAP      keep a capability: CAP_NET_ADMIN, net_admin, ALL;\n"
		"  --cap-drop CAP     a sandbox drops all others; applied in order\n"
		"  --as-pid-1         the program is pid 1 itself, without kin's init\n"
		"  --rlimit RES=N     a resource limit: NOFILE=1024, AS=4G:unlimited, CORE=0\n"
		"  --memory SIZE      cgroup limits: bytes (512M, 2G), processes, CPUs (0.5);\n"
		"  --pids N, --cpus X   they need a cgroup delegated with those controllers\n"
		"  --cgroup-parent DIR  the delegated cgroup to make the child's under\n"
		"  --landlock-read PATH, --landlock-write PATH, --landlock-exec PATH\n"
		"                     kin's own: with landlock, the program reaches only the\n"
		"                     PATHs named, for that access; absolute, repeatable\n"
		"In a sandbox the environment starts empty: only --env and --setenv go in\n"
		"(cgroup limits and landlock rules alone keep kin's environment).\n"
		"\n"
		"DUR is seconds, with optional fraction and unit s or ms: 10, 1.5s, 500ms.\n"
		"A DUR of 0 turns the timeout (or the kill-after) off.\n"
		"\n"
		"Exit status: PROGRAM's own; 128+N if signal N killed it; 124 timed out;\n"
		"125 kin failed (bad option, bad --cwd, ...); 126 cannot execute; 127 not found.\n");
}

int run_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kin run: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_EXIT_FAILURE;
}

int run_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kin run: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("; try 'kin run --help'\n", stderr);
	va_end(ap);
	return CLI_EXIT_FAILURE;
}

static const char *option_name(int val)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

/* getopt_long said '?'. Tell apart the ways an option can be wrong, since
 * its own messages are off (opterr = 0) to keep to one line. */
static int bad_option(int argc, char **argv)
{
	if (optopt > 0 && optopt < 256 && optopt != 'h' && optopt != 'v')
		return run_usage_error("unknown option '-%c'", optopt);
	const char *arg = optind - 1 < argc ? argv[optind - 1] : "";
	if (strncmp(arg, "--", 2) != 0)
		return run_usage_error("unknown option '%s'", arg);
	const char *name = arg + 2;
	size_t len = strcspn(name, "=");
	const struct option *match = NULL;
	int nmatch = 0;
	for (const struct option *o = long_options; o->name; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (strlen(o->name) == len) {
			match = o;
			nmatch = 1;
			break;
		}
		match = o;
		nmatch++;
	}
	if (nmatch > 1)
		return run_usage_error("ambiguous option '--%.*s'", (int)len, name);
	if (nmatch == 1 && name[len] == '=' && match->has_arg == no_argument)
		return run_usage_error("option '--%s' takes no value", match->name);
	return run_usage_error("unknown option '%s'", arg);
}

static int parse_duration_option(const char *opt, const char *text, int64_t *ns)
{
	int r = cli_parse_duration(text, ns);
	if (r == -ERANGE)
		return run_fail("%s: duration \"%s\" is too large", opt, text);
	if (r < 0)
		return run_fail("%s: invalid duration \"%s\" (use e.g. 10, 1.5s, 500ms)", opt, text);
	return 0;
}

/* Removes `name` from a NULL-terminated list of names, in place. */
static void drop_name(const char **list, size_t *n, const char *name)
{
	size_t out = 0;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], name) != 0)
			list[out++] = list[i];
	*n = out;
	list[out] = NULL;
}

int run_env_set(run_config *cfg, const char *opt, const char *assignment)
{
	if (!cli_env_assignment_ok(assignment))
		return run_fail("%s: \"%s\" is not NAME=VALUE", opt, assignment);
	/* A later --env wins over an earlier --unset of the same name; the
	 * library applies every unset after every set. */
	char name[256];
	size_t len = strcspn(assignment, "=");
	if (len < sizeof(name)) {
		memcpy(name, assignment, len);
		name[len] = '\0';
		drop_name(cfg->env_unset, &cfg->nunset, name);
	}
	cfg->env_set[cfg->nset++] = assignment;
	return 0;
}

int run_env_unset(run_config *cfg, const char *opt, const char *name)
{
	if (!cli_env_name_ok(name))
		return run_fail("%s: \"%s\" is not a variable name", opt, name);
	cfg->env_unset[cfg->nunset++] = name;
	return 0;
}

int run_config_init(run_config *cfg, int argc)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_signal = SIGTERM;
	cfg->tree = true;
	cfg->cwd_option = "--cwd";
	/* At most one entry per argument, plus the terminating NULL. */
	cfg->env_set = calloc((size_t)argc + 1, sizeof(*cfg->env_set));
	cfg->env_unset = calloc((size_t)argc + 1, sizeof(*cfg->env_unset));
	if (!cfg->env_set || !cfg->env_unset || run_sandbox_init(&cfg->sandbox, argc) < 0)
		return -ENOMEM;
	return 0;
}

void run_config_free(run_config *cfg)
{
	free(cfg->env_set);
	free(cfg->env_unset);
	run_sandbox_free(&cfg->sandbox);
	cfg->env_set = cfg->env_unset = NULL;
}

/* Returns -1 to go on, or the exit status kin should end with now. */
int run_parse_args(int argc, char **argv, run_config *cfg)
{
	opterr = 0;
	/* 0, not 1: glibc then forgets any state of an earlier parse (the
	 * tests parse many command lines in one process). */
	optind = 0;
	int c;
	/* '+': stop at the first non-option, so PROGRAM's own options are its
	 * own. ':': report a missing value as ':' rather than '?'. */
	while ((c = getopt_long(argc, argv, "+:hv", long_options, NULL)) != -1) {
		/* A --perms belongs to the option right after it. */
		if (c != '?' && c != ':') {
			char name[40];
			if (c < 256)
				snprintf(name, sizeof(name), "-%c", c);
			else
				snprintf(name, sizeof(name), "--%s", option_name(c));
			if (run_sandbox_check_perms(cfg, c, name) != 0)
				return CLI_EXIT_FAILURE;
		}
		if (c >= RUN_OPT_SANDBOX_FIRST && c < RUN_OPT_SANDBOX_END) {
			if (run_sandbox_option(cfg, c, optarg, argc, argv, &optind) != 0)
				return CLI_EXIT_FAILURE;
			continue;
		}
		switch (c) {
		case OPT_TIMEOUT:
			if (parse_duration_option("--timeout", optarg, &cfg->timeout_ns) != 0)
				return CLI_EXIT_FAILURE;
			break;
		case OPT_KILL_AFTER:
			if (parse_duration_option("--kill-after", optarg, &cfg->kill_after_ns) != 0)
				return CLI_EXIT_FAILURE;
			break;
		case OPT_SIGNAL:
			if (cli_parse_signal(optarg, &cfg->timeout_signal) < 0)
				return run_fail("--signal: unknown signal \"%s\" (use e.g. TERM, SIGINT, 9)",
					    optarg);
			break;
		case OPT_CWD:
			if (!*optarg)
				return run_fail("--cwd: the directory name is empty");
			cfg->cwd = optarg;
			cfg->cwd_option = "--cwd";
			break;
		case OPT_ENV:
			if (run_env_set(cfg, "--env", optarg) != 0)
				return CLI_EXIT_FAILURE;
			break;
		case OPT_UNSET:
			if (run_env_unset(cfg, "--unset", optarg) != 0)
				return CLI_EXIT_FAILURE;
			break;
		case OPT_CLEARENV:
			cfg->clearenv = true;
			break;
		case OPT_STDIN:
		case OPT_STDOUT:
		case OPT_STDERR:
			if (!*optarg)
				return run_fail("%s: the file name is empty", run_stdio_names[c - OPT_STDIN]);
			cfg->stdio_path[c - OPT_STDIN] = optarg;
			break;
		case OPT_GROUP:
			cfg->group = true;
			break;
		case OPT_NO_TREE:
			cfg->tree = false;
			break;
		case OPT_NEW_SESSION:
			cfg->new_session = true;
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			cli_run_usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("kin %s\n", kin_version());
			return 0;
		case ':':
			if (run_sandbox_two_values(optopt))
				return run_usage_error("option '--%s' needs two values: %s",
						       option_name(optopt), run_sandbox_two_values(optopt));
			if (optopt >= 256)
				return run_usage_error("option '--%s' needs a value", option_name(optopt));
			return run_usage_error("option '-%c' needs a value", optopt);
		default:
			return bad_option(argc, argv);
		}
	}
	if (run_sandbox_finish(cfg) != 0)
		return CLI_EXIT_FAILURE;
	if (optind >= argc)
		return run_usage_error("missing PROGRAM to run");
	cfg->argv = argv + optind;
	return -1;
}

