/* Internal interface of the worker layer: the owner's view of a worker,
 * its pending calls, and the pieces the files of src/worker/ share. */
#ifndef KIN_WORKER_WORKER_H
#define KIN_WORKER_WORKER_H

#include "../chan/chan.h"
#include "../proc/proc.h"
#include "protocol.h"

struct kin_pending {
	kin__link link; /* in worker->pending while unanswered */
	kin_worker *worker;
	uint64_t id;
	bool done;
	int result;
	kin_reply reply;
};

struct kin_monitor {
	kin__link link; /* in worker->monitors */
	kin_worker *worker;
	kin_down_cb cb;
	void *userdata;
	bool fired;
};

/* One end of a link; each linked pair holds two, one in each worker. */
typedef struct kin__link_end {
	kin__link link; /* in worker->links */
	kin_worker *peer;
} kin__link_end;

struct kin_worker {
	kin_loop *loop;
	kin_proc *proc;
	kin_chan *chan;
	char **names; /* one block: free(names) frees the strings too */
	size_t nnames;
	unsigned spawn_flags;

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;  /* replies arrived, or the receiver left */
	bool receiving;       /* a caller is reading the chan for everyone */
	uint64_t next_id;
	kin__link pending;
	atomic_uint inflight; /* unanswered calls: how busy it is, for pools */
	/* kin_pending handles not yet awaited or cancelled: they keep the
	 * struct (its lock above all) alive past kin_worker_free. */
	unsigned handles;
	bool freed; /* kin_worker_free has run; the last handle frees it */

	/* How it ended. `settled` once the reason is final and every pending
	 * call has failed with it. */
	bool chan_down;
	bool killed_by_kin;
	bool protocol_error;
	bool connection_lost;
	bool detached;
	bool stopping; /* kin_worker_stop: its own SIGKILL deadline applies */
	bool settled;
	kin_time down_at; /* when chan_down was first set */
	kin_exit_reason reason;

	/* Loop thread only. */
	kin__link monitors;
	kin__link links;
	bool trap_exits;
	bool down_delivered; /* monitors and links have acted */
	int firing;          /* inside monitor callbacks, which may free it */
	bool free_requested; /* kin_worker_free from such a callback */
	kin_timer *late;     /* fires monitors added after the end */
};

/* worker.c: the reason a worker with this process status ended, given what
 * kin knows of why (lock held). */
void kin__worker_reason(kin_worker *w, const kin_status *st, kin_exit_reason *out);
/* worker.c: after the chan is gone, waits (bounded) for the process, fixes
 * the reason and fails every pending call with it. Takes the lock itself;
 * call without it. */
int kin__worker_settle(kin_worker *w, kin_time deadline);
/* worker.c: marks the chan lost for everyone (lock held). */
void kin__worker_chan_down(kin_worker *w, bool protocol_error);
/* worker.c: the process has ended with st (reaped): fixes the reason. */
void kin__worker_ended(kin_worker *w, const kin_status *st);

/* call.c: kin_call_start for a CALL, or a DETACH (name and args unused),
 * whose answer is a REPLY all the same. */
int kin__request_start(kin_worker *w, kin__ptype type, const char *name, const kin_msg *args,
		       kin_time deadline, kin_pending **ret);

/* call.c: fails every pending call with the settled reason (lock held). */
void kin__calls_fail_all(kin_worker *w);
void kin__calls_drain_and_fail(kin_worker *w);

/* worker.c: drops one kin_pending handle (lock held; unlocks). Frees the
 * worker if it was the last thing keeping a freed worker's memory. */
void kin__worker_put_handle(kin_worker *w);
/* worker.c: kin_worker_free's work, once no monitor callback is running. */
void kin__worker_destroy(kin_worker *w);

/* monitor.c: runs the monitors and links of a worker that has ended (loop
 * thread). */
void kin__worker_deliver_down(kin_worker *w);
void kin__worker_fire_late(kin_worker *w);
/* monitor.c: removes every link of w (loop thread). */
void kin__worker_unlink_all(kin_worker *w);
/* monitor.c: frees every monitor of w, fired or not. */
void kin__monitors_free_all(kin_worker *w);

/* A worker whose chan closed gets this long to exit; then it is killed
 * and its reason is "connection lost", so nothing waits on a process that
 * went quiet. */
#define KIN__SETTLE_GRACE (1 * KIN_SEC)
/* How long kin_worker_detach waits for the worker to confirm: a worker
 * busy with calls reads the request only when a thread is free. */
#define KIN__DETACH_WAIT (10 * KIN_SEC)

/* Exit status of a worker that cannot start or was sent garbage; its owner
 * reports it as the worker's exit reason. */
#define KIN__WORKER_FAILED 125

/* serve.c: the worker side. Prints one line about what failed and exits
 * with KIN__WORKER_FAILED. */
_Noreturn void kin__worker_fail(const char *what, int err);
/* serve.c: sends the hello for these handlers. */
int kin__send_hello(kin_chan *chan, const kin_handler *handlers);
/* serve.c: the names of `handlers`, in a NULL-terminated array to free(). */
const char **kin__handler_names(const kin_handler *handlers, size_t *n);
/* serve.c: says hello on chan and serves calls on `threads` threads until
 * the chan closes; then exits 0. */
_Noreturn void kin__serve(const kin_handler *handlers, kin_chan *chan, long threads, bool greeted);
/* zygote.c: the zygote's side: forks a spare worker per request, never
 * returns. */
_Noreturn void kin__zygote_serve(const kin_handler *handlers, kin_chan *chan);

/* start.c: kin_worker_spawn, with one more "NAME=VALUE" for the worker's
 * environment (may be NULL). */
int kin__worker_spawn_as(kin_loop *loop, const kin_worker_opts *opts, const char *extra_env,
			 kin_worker **ret, kin_spawn_error *why);
/* start.c: the chan pair a new worker and its owner talk over. */
int kin__worker_chan_pair(kin_chan **ours, kin_chan **theirs, kin_spawn_error *why);
/* zygote.c: a new worker's process and chan, forked by the zygote. */
int kin__zygote_fork(kin_zygote *z, kin_loop *loop, unsigned threads, kin_time deadline,
		     kin_proc **proc, kin_chan **chan, kin__pmsg *hello, kin_spawn_error *why);
/* start.c: checks that msg is a hello kin can talk to and decodes it. */
int kin__hello_check(const kin_msg *msg, kin__pmsg *hello, kin_spawn_error *why);

/* self.c: an O_PATH fd on this program's own binary, opened once; -errno
 * if it cannot be opened. */
int kin__self_exe_fd(void);
/* self.c: argv[0] as kin_main saw it, or "kin-worker". */
const char *kin__self_argv0(void);
void kin__self_remember(int argc, char **argv);

#endif
