/* Starting a worker: spawn it with a chan on fd 3 (through the proc layer,
 * like any child), then wait for its hello. */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_HANDSHAKE (10 * KIN_SEC)

/* The caller's spawn options plus what makes the child a worker. The
 * arrays are allocated; free them with free_worker_spawn. */
typedef struct worker_spawn {
	kin_spawn_opts opts;
	const char *argv[2];
	kin_fd_map *fds;
	const char **env_set;
	char threads_var[48];
} worker_spawn;

static void free_worker_spawn(worker_spawn *ws)
{
	free(ws->fds);
	free(ws->env_set);
}

static int build_worker_spawn(worker_spawn *ws, const kin_worker_opts *o, int chan_fd,
			      const char *extra_env, kin_spawn_error *why)
{
	memset(ws, 0, sizeof(*ws));
	if (o->spawn)
		ws->opts = *o->spawn;
	kin_spawn_opts *s = &ws->opts;
	if (!s->argv) {
		ws->argv[0] = kin__self_argv0();
		s->argv = ws->argv;
	}
	if (s->stdio[0].kind == KIN_STDIO_INHERIT)
		s->stdio[0].kind = KIN_STDIO_NULL;
	for (size_t i = 0; i < s->nfds; i++)
		if (s->fds[i].child_fd == KIN__WORKER_FD) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "fd 3 of a worker is its chan; map your fds elsewhere");
			return -EINVAL;
		}
	ws->fds = calloc(s->nfds + 1, sizeof(*ws->fds));
	size_t nset = 0;
	while (s->env_set && s->env_set[nset])
		nset++;
	ws->env_set = calloc(nset + 4, sizeof(*ws->env_set));
	if (!ws->fds || !ws->env_set) {
		kin__spawn_error(why, -ENOMEM, KIN_STEP_RESOURCES, "out of memory");
		return -ENOMEM;
	}
	if (s->nfds)
		memcpy(ws->fds, s->fds, s->nfds * sizeof(*ws->fds));
	ws->fds[s->nfds] = (kin_fd_map){.parent_fd = chan_fd, .child_fd = KIN__WORKER_FD};
	s->fds = ws->fds;
	s->nfds++;
	/* Ours go last, so the caller cannot turn the marker off by accident. */
	if (nset)
		memcpy(ws->env_set, s->env_set, nset * sizeof(*ws->env_set));
	snprintf(ws->threads_var, sizeof(ws->threads_var), "%s=%u", KIN__ENV_THREADS,
		 o->threads ? o->threads : 1);
	ws->env_set[nset] = KIN__ENV_WORKER "=1";
	ws->env_set[nset + 1] = ws->threads_var;
	ws->env_set[nset + 2] = extra_env;
	s->env_set = ws->env_set;
	return 0;
}

/* The handshake failed: the worker must not outlive the failed spawn. */
static void bury(kin_proc *proc, kin_status *st)
{
	(void)kin_proc_kill(proc, SIGKILL);
	(void)kin_proc_wait(proc, KIN_FOREVER, st);
	kin_proc_free(proc);
}

int kin__hello_check(const kin_msg *msg, kin__pmsg *hello, kin_spawn_error *why)
{
	int r = kin__proto_decode(msg->data, msg->len, hello);
	if (r == 0 && hello->type != KIN__P_HELLO) {
		kin__pmsg_free(hello);
		r = -EPROTO;
	}
	if (r == 0 && hello->version != KIN__PROTOCOL_VERSION) {
		kin__spawn_error(why, -EPROTO, KIN_STEP_HANDSHAKE,
				 "the worker speaks protocol %llu, kin speaks %d",
				 (unsigned long long)hello->version, KIN__PROTOCOL_VERSION);
		kin__pmsg_free(hello);
		return -EPROTO;
	}
	if (r < 0)
		kin__spawn_error(why, -EPROTO, KIN_STEP_HANDSHAKE,
				 "the worker's first message is not a valid hello");
	return r < 0 ? -EPROTO : 0;
}

static int handshake(kin_chan *chan, kin_proc *proc, int64_t timeout, kin__pmsg *hello,
		     kin_spawn_error *why)
{
	kin_msg msg = KIN_MSG_INIT;
	int r = kin_chan_recv(chan, &msg, kin_after(timeout));
	if (r == 0) {
		r = kin__hello_check(&msg, hello, why);
		kin_msg_release(&msg);
		if (r < 0) {
			kin_status st;
			bury(proc, &st);
			if (why)
				why->status = st;
		}
		return r;
	}
	kin_status st;
	if (r == KIN_CLOSED) {
		/* It went away, or closed fd 3: tell which, and how it ended. */
		r = kin_proc_wait(proc, kin_after(KIN__SETTLE_GRACE), &st);
		bool ended = r == 0;
		bury(proc, &st);
		char how[64];
		kin_status_format(&st, how, sizeof(how));
		kin__spawn_error(why, -ECHILD, KIN_STEP_HANDSHAKE,
				 ended ? "the worker died during the handshake: %s"
				       : "the worker closed its chan during the handshake: %s",
				 how);
		if (why)
			why->status = st;
		return -ECHILD;
	}
	bury(proc, &st);
	if (r == -ETIMEDOUT)
		kin__spawn_error(why, r, KIN_STEP_HANDSHAKE,
				 "no hello from the worker within %.3g s",
				 (double)timeout / (double)KIN_SEC);
	else
		kin__spawn_error(why, r, KIN_STEP_HANDSHAKE, "the handshake failed: %s",
				 kin_strerror(r));
	if (why)
		why->status = st;
	return r;
}

static int new_worker(kin_loop *loop, kin_proc *proc, kin_chan *chan, kin__pmsg *hello,
		      unsigned flags, kin_worker **ret)
{
	kin_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->proc = proc;
	w->chan = chan;
	/* The decoded names are one block: the worker takes it over. */
	w->names = hello->names;
	w->nnames = hello->nnames;
	hello->names = NULL;
	hello->nnames = 0;
	w->spawn_flags = flags;
	w->next_id = 1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->lock, NULL);
	kin__list_init(&w->pending);
	kin__list_init(&w->monitors);
	kin__list_init(&w->links);
	*ret = w;
	return 0;
}

int kin__worker_chan_pair(kin_chan **ours, kin_chan **theirs, kin_spawn_error *why)
{
	int r = kin_chan_pair(ours, theirs);
	if (r < 0)
		kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot make the worker's chan: %s",
				 kin_strerror(r));
	return r;
}

/* A new worker's process and chan, executed from a binary. */
static int exec_worker(kin_loop *loop, const kin_worker_opts *o, const char *extra_env,
		       kin_proc **proc, kin_chan **chan, kin_spawn_error *why)
{
	kin_chan *ours, *theirs;
	int r = kin__worker_chan_pair(&ours, &theirs, why);
	if (r < 0)
		return r;
	worker_spawn ws;
	r = build_worker_spawn(&ws, o, kin_chan_fd(theirs), extra_env, why);
	if (r == 0) {
		int exec_fd = -1;
		if (!(o->spawn && o->spawn->argv) && (exec_fd = kin__self_exe_fd()) < 0) {
			r = exec_fd;
			kin__spawn_error(why, r, KIN_STEP_EXEC,
					 "cannot open this program's binary: %s", kin_strerror(r));
		} else {
			r = kin__proc_spawn(loop, &ws.opts, exec_fd, proc, why);
		}
	}
	free_worker_spawn(&ws);
	kin_chan_free(theirs); /* the worker has its own copy now */
	if (r < 0) {
		kin_chan_free(ours);
		return r;
	}
	*chan = ours;
	return 0;
}

int kin_worker_spawn(kin_loop *loop, const kin_worker_opts *opts, kin_worker **ret,
		     kin_spawn_error *why)
{
	return kin__worker_spawn_as(loop, opts, NULL, ret, why);
}

int kin__worker_spawn_as(kin_loop *loop, const kin_worker_opts *opts, const char *extra_env,
			 kin_worker **ret, kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!loop || !ret) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "loop and ret are required");
		return -EINVAL;
	}
	static const kin_worker_opts defaults = KIN_WORKER_OPTS_INIT;
	const kin_worker_opts *o = opts ? opts : &defaults;
	if (o->handshake_timeout_ns < 0 || o->threads > 1024) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "handshake_timeout_ns must be >= 0 and threads <= 1024");
		return -EINVAL;
	}
	kin_proc *proc = NULL;
	kin_chan *ours = NULL;
	kin__pmsg hello;
	int r;
	int64_t timeout = o->handshake_timeout_ns ? o->handshake_timeout_ns : DEFAULT_HANDSHAKE;
	if (o->zygote) {
		r = kin__zygote_fork(o->zygote, loop, o->threads, kin_after(timeout), &proc, &ours,
				     &hello, why);
		if (r < 0)
			return r;
	} else {
		r = exec_worker(loop, o, extra_env, &proc, &ours, why);
		if (r < 0)
			return r;
		r = handshake(ours, proc, timeout, &hello, why);
		if (r < 0) {
			kin_chan_free(ours);
			return r;
		}
	}
	unsigned flags = o->zygote || !o->spawn ? 0 : o->spawn->flags;
	/* A sandbox's pid namespace runs under kin's pid 1, as tree mode does
	 * (and, like it, cannot be detached from the owner). */
	const kin_sandbox *sb = o->zygote || !o->spawn ? NULL : o->spawn->sandbox;
	if (sb && (sb->namespaces & KIN_NS_PID) && !sb->as_pid_1)
		flags |= KIN_SPAWN_TREE;
	r = new_worker(loop, proc, ours, &hello, flags, ret);
	kin__pmsg_free(&hello);
	if (r < 0) {
		kin_status st;
		bury(proc, &st);
		kin_chan_free(ours);
		kin__spawn_error(why, r, KIN_STEP_RESOURCES, "out of memory");
	}
	return r;
}
