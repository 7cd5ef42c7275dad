/* kin run: a supervisor to use in place of timeout(1), tini or setsid(1).
 *
 * It runs one program, passes on the signals a supervisor should pass on,
 * enforces an optional timeout, and exits with the program's status. By
 * default the program runs in tree mode, so even a SIGKILL of kin takes the
 * program and everything it started with it. All process work goes through
 * libkin; this file only turns the command line into kin calls and statuses
 * into exit codes and messages. */
#include "cli.h"
#include "parse.h"

#include "kin.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a supervisor passes on, as tini and timeout(1) do. Stop signals
 * (TSTP, TTIN, TTOU) are left alone: they stop kin, and the terminal stops
 * the program too when it shares kin's process group. */
static const int forwarded_signals[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM,
					SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

static const char *const stdio_names[3] = {"--stdin", "--stdout", "--stderr"};

typedef struct run_config {
	int64_t timeout_ns; /* 0: no timeout */
	int timeout_signal;
	int64_t kill_after_ns; /* 0: send only timeout_signal, never SIGKILL */
	const char *cwd;
	bool clearenv;
	const char **env_set; /* NULL-terminated, in command-line order */
	size_t nset;
	const char **env_unset;
	size_t nunset;
	const char *stdio_path[3]; /* NULL inherits; "null" is /dev/null */
	bool verbose, group, tree, new_session;
	char **argv; /* the program and its arguments */
} run_config;

/* The timeout's states: each timer expiry moves one step right. */
typedef enum timeout_phase {
	TIMEOUT_OFF,      /* no timeout, or nothing left to send */
	TIMEOUT_ARMED,    /* waiting for the timeout itself */
	TIMEOUT_KILL_DUE, /* the timeout signal went out; SIGKILL follows */
} timeout_phase;

typedef struct run_state {
	const run_config *cfg;
	kin_loop *loop;
	kin_proc *proc;
	kin_timer *timer;
	int sigfd;
	timeout_phase phase;
	bool timed_out;
	bool ended;
	kin_status status;
	/* kin's child (the program, or its tree-mode init) is in kin's own
	 * process group, so a signal the terminal sent to that group has
	 * reached it already. */
	bool shares_our_group;
} run_state;

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
		"\n"
		"DUR is seconds, with optional fraction and unit s or ms: 10, 1.5s, 500ms.\n"
		"A DUR of 0 turns the timeout (or the kill-after) off.\n"
		"\n"
		"Exit status: PROGRAM's own; 128+N if signal N killed it; 124 timed out;\n"
		"125 kin failed (bad option, bad --cwd, ...); 126 cannot execute; 127 not found.\n");
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kin run: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_EXIT_FAILURE;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
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
		return usage_error("unknown option '-%c'", optopt);
	const char *arg = optind - 1 < argc ? argv[optind - 1] : "";
	if (strncmp(arg, "--", 2) != 0)
		return usage_error("unknown option '%s'", arg);
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
		return usage_error("ambiguous option '--%.*s'", (int)len, name);
	if (nmatch == 1 && name[len] == '=' && match->has_arg == no_argument)
		return usage_error("option '--%s' takes no value", match->name);
	return usage_error("unknown option '%s'", arg);
}

static int parse_duration_option(const char *opt, const char *text, int64_t *ns)
{
	int r = cli_parse_duration(text, ns);
	if (r == -ERANGE)
		return fail("%s: duration \"%s\" is too large", opt, text);
	if (r < 0)
		return fail("%s: invalid duration \"%s\" (use e.g. 10, 1.5s, 500ms)", opt, text);
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

/* Returns -1 to go on, or the exit status kin should end with now. */
static int parse_args(int argc, char **argv, run_config *cfg)
{
	opterr = 0;
	optind = 1;
	int c;
	/* '+': stop at the first non-option, so PROGRAM's own options are its
	 * own. ':': report a missing value as ':' rather than '?'. */
	while ((c = getopt_long(argc, argv, "+:hv", long_options, NULL)) != -1) {
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
				return fail("--signal: unknown signal \"%s\" (use e.g. TERM, SIGINT, 9)",
					    optarg);
			break;
		case OPT_CWD:
			if (!*optarg)
				return fail("--cwd: the directory name is empty");
			cfg->cwd = optarg;
			break;
		case OPT_ENV: {
			if (!cli_env_assignment_ok(optarg))
				return fail("--env: \"%s\" is not NAME=VALUE", optarg);
			/* A later --env wins over an earlier --unset of the same name;
			 * the library applies every unset after every set. */
			char name[256];
			size_t len = strcspn(optarg, "=");
			if (len < sizeof(name)) {
				memcpy(name, optarg, len);
				name[len] = '\0';
				drop_name(cfg->env_unset, &cfg->nunset, name);
			}
			cfg->env_set[cfg->nset++] = optarg;
			break;
		}
		case OPT_UNSET:
			if (!cli_env_name_ok(optarg))
				return fail("--unset: \"%s\" is not a variable name", optarg);
			cfg->env_unset[cfg->nunset++] = optarg;
			break;
		case OPT_CLEARENV:
			cfg->clearenv = true;
			break;
		case OPT_STDIN:
		case OPT_STDOUT:
		case OPT_STDERR:
			if (!*optarg)
				return fail("%s: the file name is empty", stdio_names[c - OPT_STDIN]);
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
			if (optopt >= 256)
				return usage_error("option '--%s' needs a value", option_name(optopt));
			return usage_error("option '-%c' needs a value", optopt);
		default:
			return bad_option(argc, argv);
		}
	}
	if (optind >= argc)
		return usage_error("missing PROGRAM to run");
	cfg->argv = argv + optind;
	return -1;
}

/* Opens what --stdin/--stdout/--stderr name. The files are opened by kin,
 * relative to kin's own directory, the way a shell redirection would be. */
static int open_stdio(const run_config *cfg, kin_spawn_opts *o, int fds[3])
{
	for (int i = 0; i < 3; i++) {
		const char *path = cfg->stdio_path[i];
		if (!path)
			continue; /* KIN_STDIO_INHERIT */
		if (strcmp(path, "null") == 0) {
			o->stdio[i].kind = KIN_STDIO_NULL;
			continue;
		}
		if (i == 2 && cfg->stdio_path[1] && strcmp(path, cfg->stdio_path[1]) == 0) {
			/* One open file, so the two streams share an offset
			 * instead of overwriting each other. */
			o->stdio[i].kind = KIN_STDIO_TO_STDOUT;
			continue;
		}
		int fd = i == 0 ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
				: open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd < 0)
			return fail("%s: cannot open \"%s\": %s", stdio_names[i], path,
				    kin_strerror(-errno));
		if (fd < 3) {
			/* kin's own stdio was closed. Keep the file clear of 0..2 so
			 * it is never mistaken for an inherited fd. */
			int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
			int err = errno;
			close(fd);
			if (high < 0)
				return fail("%s: %s", stdio_names[i], kin_strerror(-err));
			fd = high;
		}
		fds[i] = fd;
		o->stdio[i].kind = KIN_STDIO_FD;
		o->stdio[i].fd = fd;
	}
	return 0;
}

/* How the child's path looks from kin, for a better message. Returns false
 * if it does not fit. */
static bool child_view(const run_config *cfg, const char *path, char *buf, size_t size)
{
	int n = cfg->cwd && path[0] != '/' ? snprintf(buf, size, "%s/%s", cfg->cwd, path)
					   : snprintf(buf, size, "%s", path);
	return n >= 0 && (size_t)n < size;
}

/* One line that names the program and the reason; returns the exit code. */
static int report_spawn_failure(const run_config *cfg, int r, const kin_spawn_error *why)
{
	const char *prog = cfg->argv[0];
	char where[4096];
	struct stat sb;
	bool has_slash = strchr(prog, '/') != NULL;
	bool seen = has_slash && child_view(cfg, prog, where, sizeof(where)) && stat(where, &sb) == 0;
	switch (why->step) {
	case KIN_STEP_EXEC:
		if (r == -ENOENT) {
			if (!has_slash)
				fprintf(stderr, "kin run: %s: not found in PATH\n", prog);
			else if (seen)
				fprintf(stderr,
					"kin run: %s: cannot execute: its #! interpreter was not found\n",
					prog);
			else
				fprintf(stderr, "kin run: %s: not found\n", prog);
			return CLI_EXIT_NOT_FOUND;
		}
		if (r == -EACCES && seen && S_ISDIR(sb.st_mode))
			fprintf(stderr, "kin run: %s: is a directory\n", prog);
		else if (r == -EACCES)
			fprintf(stderr, "kin run: %s: permission denied (not executable)\n", prog);
		else if (r == -ENOEXEC)
			fprintf(stderr,
				"kin run: %s: cannot execute: not a binary and no #! line (%s)\n", prog,
				kin_strerror(r));
		else
			fprintf(stderr, "kin run: %s: cannot execute: %s\n", prog, kin_strerror(r));
		return CLI_EXIT_CANNOT_EXEC;
	case KIN_STEP_CWD:
		/* The directory, not the program, is what is wrong: kin's own
		 * failure, 125, not env(1)'s 127 for a missing program. */
		return fail("--cwd: cannot change directory to \"%s\": %s", cfg->cwd,
			    kin_strerror(r));
	case KIN_STEP_CLONE:
		if (cfg->tree)
			return fail("%s; --no-tree runs without it", why->message);
		return fail("%s: %s", prog, why->message);
	default:
		return fail("%s: cannot start: %s", prog,
			    why->message[0] ? why->message : kin_strerror(r));
	}
}

static int send_signal(run_state *st, int sig)
{
	return st->cfg->group ? kin_proc_kill_group(st->proc, sig) : kin_proc_kill(st->proc, sig);
}

/* As PID 1 (of a container, say), kin inherits every orphan of the
 * namespace, and zombies pile up unless it reaps them. waitpid without
 * __WALL only sees children whose exit signal is SIGCHLD, and kin's own
 * child has exit signal 0, so this can never take its status from libkin. */
static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void on_signal(kin_watch *w, unsigned events, void *userdata)
{
	(void)w;
	(void)events;
	run_state *st = userdata;
	struct signalfd_siginfo si;
	while (read(st->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			reap_orphans();
			continue;
		}
		/* SI_KERNEL: the terminal signalled its foreground group. If our
		 * child is in it, it has the signal already, and a second copy
		 * would count as a second Ctrl-C. */
		if (si.ssi_code == SI_KERNEL && st->shares_our_group)
			continue;
		/* -ESRCH: it ended meanwhile, and on_exit is on its way. */
		(void)send_signal(st, (int)si.ssi_signo);
	}
}

static void on_timer(kin_timer *t, void *userdata)
{
	run_state *st = userdata;
	switch (st->phase) {
	case TIMEOUT_ARMED:
		/* An exit that raced the deadline is not a timeout. */
		if (kin_proc_poll(st->proc, NULL) == 1) {
			st->phase = TIMEOUT_OFF;
			return;
		}
		st->timed_out = true;
		(void)send_signal(st, st->cfg->timeout_signal);
		if (st->cfg->kill_after_ns > 0 && st->cfg->timeout_signal != SIGKILL) {
			st->phase = TIMEOUT_KILL_DUE;
			if (kin_timer_start(t, kin_after(st->cfg->kill_after_ns), 0) < 0)
				(void)send_signal(st, SIGKILL); /* cannot wait: kill now */
		} else {
			st->phase = TIMEOUT_OFF;
		}
		break;
	case TIMEOUT_KILL_DUE:
		st->phase = TIMEOUT_OFF;
		(void)send_signal(st, SIGKILL);
		break;
	case TIMEOUT_OFF:
		break;
	}
}

static void on_child_exit(kin_proc *p, const kin_status *status, void *userdata)
{
	(void)p;
	run_state *st = userdata;
	st->ended = true;
	st->status = *status;
	kin_loop_stop(st->loop);
}

/* Spawns and supervises; returns kin's exit status. */
static int supervise(const run_config *cfg, kin_loop *loop, kin_spawn_opts *o, int sigfd)
{
	run_state st = {.cfg = cfg, .loop = loop, .sigfd = sigfd};
	kin_spawn_error why;
	int r = kin_proc_spawn(loop, o, &st.proc, &why);
	if (r < 0)
		return report_spawn_failure(cfg, r, &why);
	/* A tree-mode init never leaves kin's group (only the program below it
	 * does), and it passes terminal signals on to the program itself. So in
	 * tree mode kin leaves those to it, even with --group: the leader gets
	 * one copy rather than two, and the rest of its group dies with it. */
	st.shares_our_group = (o->flags & KIN_SPAWN_TREE) ||
			      !(o->flags & (KIN_SPAWN_NEW_PGROUP | KIN_SPAWN_NEW_SESSION));

	kin_watch *sigwatch = NULL;
	int code = CLI_EXIT_FAILURE;
	r = kin_watch_new(loop, sigfd, on_signal, &st, &sigwatch);
	if (r == 0)
		r = kin_watch_set(sigwatch, KIN_READABLE);
	if (r == 0)
		r = kin_timer_new(loop, on_timer, &st, &st.timer);
	if (r == 0 && cfg->timeout_ns > 0) {
		st.phase = TIMEOUT_ARMED;
		r = kin_timer_start(st.timer, kin_after(cfg->timeout_ns), 0);
	}
	if (r == 0)
		r = kin_proc_on_exit(st.proc, on_child_exit, &st);
	if (r < 0) {
		fail("%s: cannot supervise: %s", cfg->argv[0], kin_strerror(r));
		goto out; /* kin_proc_free kills and reaps it */
	}

	while (!st.ended) {
		r = kin_loop_run(loop, KIN_FOREVER);
		if (r <= 0)
			break;
	}
	if (!st.ended) {
		/* The loop failed; at least wait for the program, unsupervised. */
		if (r < 0)
			fail("event loop failed: %s; waiting for %s without forwarding signals",
			     kin_strerror(r), cfg->argv[0]);
		r = kin_proc_wait(st.proc, KIN_FOREVER, &st.status);
		if (r < 0) {
			fail("%s: cannot wait: %s", cfg->argv[0], kin_strerror(r));
			goto out;
		}
	}

	if (cfg->verbose) {
		char how[96];
		kin_status_format(&st.status, how, sizeof(how));
		fprintf(stderr, "kin run: %s: %s%s\n", cfg->argv[0], how,
			st.timed_out ? " after timeout" : "");
	}
	if (st.timed_out)
		code = CLI_EXIT_TIMEOUT;
	else
		code = kin_status_shell_code(&st.status);
	if (code < 0)
		code = fail("%s: ended, but its status is unknown", cfg->argv[0]);
out:
	kin_watch_free(sigwatch);
	kin_timer_free(st.timer);
	kin_proc_free(st.proc);
	return code;
}

int cli_run(int argc, char **argv)
{
	run_config cfg = {.timeout_signal = SIGTERM, .tree = true};
	int fds[3] = {-1, -1, -1};
	int sigfd = -1;
	kin_loop *loop = NULL;
	/* At most one entry per argument, plus the terminating NULL. */
	cfg.env_set = calloc((size_t)argc + 1, sizeof(*cfg.env_set));
	cfg.env_unset = calloc((size_t)argc + 1, sizeof(*cfg.env_unset));
	int code = CLI_EXIT_FAILURE;
	if (!cfg.env_set || !cfg.env_unset) {
		fail("out of memory");
		goto out;
	}
	code = parse_args(argc, argv, &cfg);
	if (code >= 0)
		goto out;
	code = CLI_EXIT_FAILURE;
	if (cfg.argv[0][0] == '\0') {
		fprintf(stderr, "kin run: '': not found (the program name is empty)\n");
		code = CLI_EXIT_NOT_FOUND;
		goto out;
	}

	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = (const char *const *)cfg.argv;
	o.cwd = cfg.cwd;
	o.env_mode = cfg.clearenv ? KIN_ENV_EMPTY : KIN_ENV_INHERIT;
	o.env_set = cfg.env_set;
	o.env_unset = cfg.env_unset;
	if (cfg.tree)
		o.flags |= KIN_SPAWN_TREE;
	if (cfg.group)
		o.flags |= KIN_SPAWN_NEW_PGROUP;
	if (cfg.new_session)
		o.flags |= KIN_SPAWN_NEW_SESSION;
	if (open_stdio(&cfg, &o, fds) != 0)
		goto out;

	/* Block the forwarded signals before the child exists, so none is lost
	 * or acts on kin in between; they queue for the signalfd. The library
	 * gives the child an empty mask and default handlers. */
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(&set, forwarded_signals[i]);
	if (getpid() == 1)
		sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fail("cannot set up signal forwarding: %s", kin_strerror(-errno));
		goto out;
	}
	/* Only stderr messages are written; a closed reader must not kill kin
	 * (and with it, in tree mode, the program). */
	signal(SIGPIPE, SIG_IGN);

	int r = kin_loop_new(&loop);
	if (r < 0) {
		fail("cannot create the event loop: %s", kin_strerror(r));
		goto out;
	}
	code = supervise(&cfg, loop, &o, sigfd);
out:
	kin_loop_free(loop);
	if (sigfd >= 0)
		close(sigfd);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(cfg.env_set);
	free(cfg.env_unset);
	fflush(stdout);
	return code;
}
