/* kin run: a supervisor to use in place of timeout(1), tini or setsid(1).
 *
 * It runs one program, passes on the signals a supervisor should pass on,
 * enforces an optional timeout, and exits with the program's status. By
 * default the program runs in tree mode, so even a SIGKILL of kin takes the
 * program and everything it started with it. All process work goes through
 * libkin; this file only turns the command line into kin calls and statuses
 * into exit codes and messages. */
#include "run.h"

#include "kin.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
			return run_fail("%s: cannot open \"%s\": %s", run_stdio_names[i], path,
				    kin_strerror(-errno));
		if (fd < 3) {
			/* kin's own stdio was closed. Keep the file clear of 0..2 so
			 * it is never mistaken for an inherited fd. */
			int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
			int err = errno;
			close(fd);
			if (high < 0)
				return run_fail("%s: %s", run_stdio_names[i], kin_strerror(-err));
			fd = high;
		}
		fds[i] = fd;
		o->stdio[i].kind = KIN_STDIO_FD;
		o->stdio[i].fd = fd;
	}
	return 0;
}

/* How the child's path looks from kin, for a better message. Returns false
 * if it does not fit, or if the child has a root of its own, where kin
 * cannot look. */
static bool child_view(const run_config *cfg, const char *path, char *buf, size_t size)
{
	if (cfg->sandbox.nmounts)
		return false;
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
		else if (r == -EACCES && cfg->sandbox.nlandlock)
			/* Landlock answers EACCES for an executable file it fences. */
			fprintf(stderr,
				"kin run: %s: permission denied (not executable, or it or its "
				"loader is outside the --landlock-read and --landlock-exec paths)\n",
				prog);
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
		if (!cfg->cwd) /* a sandbox's own choice of directory */
			return run_fail("%s", why->message);
		return run_fail("%s: cannot change directory to \"%s\": %s", cfg->cwd_option,
			    cfg->cwd, kin_strerror(r));
	case KIN_STEP_CLONE:
		/* --no-tree helps only where tree mode alone wants the PID
		 * namespace; a sandbox's namespaces fail for their own reasons. */
		if (cfg->tree && !cfg->sandbox.used)
			return run_fail("%s; --no-tree runs without it", why->message);
		return run_fail("%s: %s", prog, why->message);
	case KIN_STEP_RLIMIT:
		/* The library cannot say which one; EPERM is the usual why. */
		return run_fail("--rlimit: cannot set the limits of %s: %s%s", prog, kin_strerror(r),
			    r == -EPERM ? " (raising a hard limit needs privilege, and NOFILE "
					  "stops at fs.nr_open)"
					: "");
	case KIN_STEP_NAMESPACES:
	case KIN_STEP_MOUNT:
	case KIN_STEP_NETWORK:
	case KIN_STEP_CGROUP:
	case KIN_STEP_INIT_HOOK:
	case KIN_STEP_PRIVILEGES:
	case KIN_STEP_LANDLOCK:
	case KIN_STEP_SECCOMP:
		/* The library says what failed, on what and why, in a sentence. */
		return run_fail("%s", why->message[0] ? why->message : kin_strerror(r));
	default:
		return run_fail("%s: cannot start: %s", prog,
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
		run_fail("%s: cannot supervise: %s", cfg->argv[0], kin_strerror(r));
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
			run_fail("event loop failed: %s; waiting for %s without forwarding signals",
			     kin_strerror(r), cfg->argv[0]);
		r = kin_proc_wait(st.proc, KIN_FOREVER, &st.status);
		if (r < 0) {
			run_fail("%s: cannot wait: %s", cfg->argv[0], kin_strerror(r));
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
		code = run_fail("%s: ended, but its status is unknown", cfg->argv[0]);
out:
	kin_watch_free(sigwatch);
	kin_timer_free(st.timer);
	kin_proc_free(st.proc);
	return code;
}

int cli_run(int argc, char **argv)
{
	run_config cfg;
	int fds[3] = {-1, -1, -1};
	int sigfd = -1;
	kin_loop *loop = NULL;
	int code = CLI_EXIT_FAILURE;
	if (run_config_init(&cfg, argc) < 0) {
		run_fail("out of memory");
		goto out;
	}
	code = run_parse_args(argc, argv, &cfg);
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
	run_sandbox_apply(&cfg, &o);
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
		run_fail("cannot set up signal forwarding: %s", kin_strerror(-errno));
		goto out;
	}
	/* Only stderr messages are written; a closed reader must not kill kin
	 * (and with it, in tree mode, the program). */
	signal(SIGPIPE, SIG_IGN);

	int r = kin_loop_new(&loop);
	if (r < 0) {
		run_fail("cannot create the event loop: %s", kin_strerror(r));
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
	run_config_free(&cfg);
	fflush(stdout);
	return code;
}
