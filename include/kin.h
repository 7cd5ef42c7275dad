/* kin: start, talk to and bury processes.
 *
 * One public header. Every type is opaque or a plain option struct with an
 * _INIT macro. Functions return 0 (or a count) on success and a negative errno
 * on failure; output parameters come last and are untouched on failure.
 *
 * Threads: a kin_loop and everything registered on it belong to the thread
 * that runs the loop. The exceptions, safe from any thread, are marked
 * "thread-safe" below: spawning, killing, blocking waits and blocking stream
 * I/O on distinct streams. A loop does not survive fork(): use it in the
 * process that made it.
 */
#ifndef KIN_H
#define KIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KIN_VERSION_MAJOR 0
#define KIN_VERSION_MINOR 1
#define KIN_VERSION_PATCH 0
#define KIN_VERSION_STRING "0.1.0"

/* The version of the library actually linked, e.g. "0.1.0". */
const char *kin_version(void);

/* ---------------------------------------------------------------- time */

/* Deadlines are absolute CLOCK_MONOTONIC times in nanoseconds. A deadline in
 * the past (0 included) means "try once, do not wait"; KIN_FOREVER never
 * passes. */
typedef int64_t kin_time;
#define KIN_FOREVER INT64_MAX
#define KIN_MSEC ((int64_t)1000000)
#define KIN_SEC ((int64_t)1000000000)

kin_time kin_now(void);
/* kin_now() + ns, saturating at KIN_FOREVER. Negative ns gives "now". */
kin_time kin_after(int64_t ns);

/* ---------------------------------------------------------------- errors */

/* A description of a negative errno returned by kin, e.g. kin_strerror(-ENOENT). */
const char *kin_strerror(int err);

/* ---------------------------------------------------------------- loop */

typedef struct kin_loop kin_loop;

int kin_loop_new(kin_loop **ret);
/* Kills (SIGKILL) and reaps every child of the loop that was not detached,
 * then frees the loop and everything registered on it. Accepts NULL. */
void kin_loop_free(kin_loop *loop);

/* One fd that becomes readable whenever the loop has work: child exits,
 * stream readiness and timers. Embed kin in another event loop by polling it
 * and calling kin_loop_run(loop, 0). */
int kin_loop_fd(const kin_loop *loop);

/* Dispatches events until the deadline, kin_loop_stop(), or nothing is left
 * to wait for. Returns the number of callbacks run, or -ETIMEDOUT if the
 * deadline passed before any ran and work is still pending. Of the watches
 * ready at one wakeup, those that became writable run first. */
int kin_loop_run(kin_loop *loop, kin_time deadline);
/* Makes the running kin_loop_run return after the current callback. */
void kin_loop_stop(kin_loop *loop);

/* Timers: one-shot at `deadline`, then every `interval_ns` if that is > 0. */
typedef struct kin_timer kin_timer;
typedef void (*kin_timer_cb)(kin_timer *timer, void *userdata);
int kin_timer_new(kin_loop *loop, kin_timer_cb cb, void *userdata, kin_timer **ret);
int kin_timer_start(kin_timer *timer, kin_time deadline, int64_t interval_ns);
void kin_timer_stop(kin_timer *timer);
void kin_timer_free(kin_timer *timer);

/* Watching any fd of yours on the loop (level-triggered). */
enum {
	KIN_READABLE = 1u << 0,
	KIN_WRITABLE = 1u << 1,
	KIN_HANGUP = 1u << 2,
	KIN_ERROR = 1u << 3,
};
typedef struct kin_watch kin_watch;
typedef void (*kin_watch_cb)(kin_watch *watch, unsigned events, void *userdata);
int kin_watch_new(kin_loop *loop, int fd, kin_watch_cb cb, void *userdata, kin_watch **ret);
/* Which of KIN_READABLE|KIN_WRITABLE to wait for; 0 pauses the watch. */
int kin_watch_set(kin_watch *watch, unsigned events);
void kin_watch_free(kin_watch *watch);

/* ---------------------------------------------------------------- spawning */

typedef struct kin_proc kin_proc;
typedef struct kin_stream kin_stream;

typedef enum kin_stdio_kind {
	KIN_STDIO_INHERIT = 0, /* the owner's own fd of that number */
	KIN_STDIO_PIPE,        /* a kin_stream to or from the owner */
	KIN_STDIO_NULL,        /* /dev/null */
	KIN_STDIO_FD,          /* the owner's fd in .fd (left open in the owner) */
	KIN_STDIO_CLOSED,      /* the child starts with this fd closed */
	KIN_STDIO_TO_STDOUT,   /* stderr only: whatever the child's stdout is */
} kin_stdio_kind;

typedef struct kin_stdio {
	kin_stdio_kind kind;
	int fd;
} kin_stdio;

/* Gives the child the owner's `parent_fd` as its fd `child_fd` (3 or more). */
typedef struct kin_fd_map {
	int parent_fd;
	int child_fd;
} kin_fd_map;

typedef struct kin_rlimit {
	int resource; /* RLIMIT_NOFILE, ... */
	struct rlimit limit;
} kin_rlimit;

typedef enum kin_env_mode {
	KIN_ENV_INHERIT = 0, /* the owner's environ at spawn time */
	KIN_ENV_EMPTY,
	KIN_ENV_LIST, /* exactly .env */
} kin_env_mode;

enum {
	/* The child leads a new process group (setpgid). */
	KIN_SPAWN_NEW_PGROUP = 1u << 0,
	/* The child leads a new session (setsid); implies a new process group. */
	KIN_SPAWN_NEW_SESSION = 1u << 1,
	/* The child runs under a tiny init in a new PID namespace, so the whole
	 * tree dies with the owner, even descendants that called setsid or
	 * double-forked. Fails with a clear kin_spawn_error where no PID
	 * namespace can be made. */
	KIN_SPAWN_TREE = 1u << 2,
	/* The child is not linked to the owner: it survives the owner's death,
	 * is re-parented away (double fork) and starts a new session. Its exit
	 * is observed, but its status is not available (KIN_EXIT_UNKNOWN). */
	KIN_SPAWN_DETACHED = 1u << 3,
	/* Apply .umask, .uid and .gid (the latter two need privilege). */
	KIN_SPAWN_SET_UMASK = 1u << 4,
	KIN_SPAWN_SET_UID = 1u << 5,
	KIN_SPAWN_SET_GID = 1u << 6,
};

typedef struct kin_spawn_opts {
	/* argv[0] names the program: a path if it contains '/', else it is
	 * searched in the child's PATH. NULL-terminated, at least one entry. */
	const char *const *argv;
	/* What the program sees as argv[0]; NULL keeps argv[0]. */
	const char *argv0;
	const char *cwd;
	kin_env_mode env_mode;
	const char *const *env;       /* "K=V" list for KIN_ENV_LIST */
	const char *const *env_set;   /* "K=V" applied on top, in order */
	const char *const *env_unset; /* names removed, after env_set */
	kin_stdio stdio[3];
	const kin_fd_map *fds;
	size_t nfds;
	unsigned flags; /* KIN_SPAWN_* */
	mode_t umask;
	uid_t uid;
	gid_t gid;
	const kin_rlimit *rlimits;
	size_t nrlimits;
	/* Capacity of each pipe kin creates, in bytes; 0 keeps the kernel's
	 * default (64 KiB). This is the most a stream ever holds. */
	size_t pipe_size;
} kin_spawn_opts;

#define KIN_SPAWN_OPTS_INIT {0}

/* Which step of starting the child failed. */
typedef enum kin_spawn_step {
	KIN_STEP_NONE = 0,
	KIN_STEP_OPTIONS,   /* the options were refused before anything ran */
	KIN_STEP_RESOURCES, /* pipes, memory or fds in the owner */
	KIN_STEP_CLONE,     /* creating the process (or its PID namespace) */
	KIN_STEP_FDS,       /* arranging stdio and mapped fds */
	KIN_STEP_SESSION,   /* setsid / setpgid */
	KIN_STEP_RLIMIT,
	KIN_STEP_CREDENTIALS, /* setgroups/setgid/setuid */
	KIN_STEP_CWD,
	KIN_STEP_EXEC,
} kin_spawn_step;

typedef struct kin_spawn_error {
	int error; /* the same negative errno kin_proc_spawn returned */
	kin_spawn_step step;
	/* One line for a human: what failed, on what, and why. */
	char message[256];
} kin_spawn_error;

const char *kin_spawn_step_name(kin_spawn_step step);

/* Starts a child. Thread-safe. On failure returns a negative errno (the
 * child's own errno when it could not exec: -ENOENT, -EACCES, -ENOEXEC, ...)
 * and, if `why` is not NULL, fills it. A failed spawn leaves no zombie.
 *
 * A linked child dies with the owner process, never merely because the
 * thread that asked for it exited (a main thread that calls pthread_exit
 * counts as the process here): the main thread makes children itself
 * while the loop holds few, and every other spawn goes through the loop's
 * spawner thread (started when first needed, stopped by kin_loop_free),
 * which keeps a private fd table of a few fds. So a spawn costs the same
 * with ten children alive or ten thousand. */
int kin_proc_spawn(kin_loop *loop, const kin_spawn_opts *opts, kin_proc **ret,
		   kin_spawn_error *why);

/* ---------------------------------------------------------------- status */

typedef enum kin_exit_kind {
	KIN_EXIT_NONE = 0, /* still running */
	KIN_EXITED,        /* exit(code) */
	KIN_KILLED,        /* killed by a signal */
	KIN_EXIT_UNKNOWN,  /* gone, but not ours to reap (detached) */
} kin_exit_kind;

typedef struct kin_status {
	kin_exit_kind kind;
	int code;   /* KIN_EXITED */
	int signal; /* KIN_KILLED */
	bool core_dumped;
	struct rusage rusage;
} kin_status;

/* The shell's view: the code, or 128+signal. -1 while running or unknown. */
int kin_status_shell_code(const kin_status *status);
/* "exited(0)", "killed(SIGKILL)", "killed(SIGSEGV, core dumped)". Returns
 * what snprintf would. */
int kin_status_format(const kin_status *status, char *buf, size_t size);

/* ---------------------------------------------------------------- procs */

pid_t kin_proc_pid(const kin_proc *proc);
int kin_proc_pidfd(const kin_proc *proc);

/* The owner's end of a piped stdio fd, or NULL when that fd is not a pipe.
 * Streams belong to the proc. */
kin_stream *kin_proc_stdin(kin_proc *proc);
kin_stream *kin_proc_stdout(kin_proc *proc);
kin_stream *kin_proc_stderr(kin_proc *proc);

/* Waits for the child to end, until the deadline. Thread-safe. Returns 0 and
 * fills *status, or -ETIMEDOUT. Once ended, every call returns the same
 * status. */
int kin_proc_wait(kin_proc *proc, kin_time deadline, kin_status *status);

/* Non-blocking: 1 and *status if it has ended, 0 if it still runs. */
int kin_proc_poll(kin_proc *proc, kin_status *status);

/* Sends a signal through the pidfd, so a recycled pid is never hit.
 * Thread-safe. -ESRCH once the child has been reaped. */
int kin_proc_kill(kin_proc *proc, int sig);
/* The same, to the child's whole process group (the child must lead one:
 * KIN_SPAWN_NEW_PGROUP or KIN_SPAWN_NEW_SESSION, else -EINVAL). */
int kin_proc_kill_group(kin_proc *proc, int sig);

/* Sends SIGTERM now and SIGKILL if the child still runs after grace_ns.
 * Returns at once; the SIGKILL is sent by the loop's timer or by any
 * kin_proc_wait that is waiting when the grace period ends. */
int kin_proc_terminate(kin_proc *proc, int64_t grace_ns);

/* Calls cb exactly once, from the loop, when the child has ended. If it has
 * already ended, cb runs on the next loop iteration. NULL cb cancels. */
typedef void (*kin_exit_cb)(kin_proc *proc, const kin_status *status, void *userdata);
int kin_proc_on_exit(kin_proc *proc, kin_exit_cb cb, void *userdata);

/* Frees the proc. A child still running that was not spawned detached is
 * killed and reaped first, so nothing is left behind. Accepts NULL. */
void kin_proc_free(kin_proc *proc);

/* ---------------------------------------------------------------- streams */

/* Reads up to n bytes, waiting until the deadline for at least one.
 * Returns the count (> 0), 0 at end of file, -ETIMEDOUT, or -EBADF once
 * closed. Thread-safe per stream. */
ssize_t kin_stream_read(kin_stream *stream, void *buf, size_t n, kin_time deadline);

/* Writes all n bytes, waiting for room until the deadline. Returns n, or a
 * shorter count if the deadline passed part way, or -ETIMEDOUT if nothing
 * fit, or -EPIPE once the reader is gone (SIGPIPE is never raised). */
ssize_t kin_stream_write(kin_stream *stream, const void *buf, size_t n, kin_time deadline);

/* Closes the owner's end, e.g. stdin to send EOF while still reading
 * stdout. Idempotent. */
void kin_stream_close(kin_stream *stream);
/* The underlying non-blocking fd, or -1 once closed. */
int kin_stream_fd(const kin_stream *stream);

/* Event style: cb runs from the loop while the stream is readable (or
 * writable); inside it use kin_stream_read/write with deadline 0. A NULL cb
 * stops watching. Readable also fires at end of file. */
typedef void (*kin_stream_cb)(kin_stream *stream, void *userdata);
int kin_stream_on_readable(kin_stream *stream, kin_stream_cb cb, void *userdata);
int kin_stream_on_writable(kin_stream *stream, kin_stream_cb cb, void *userdata);

/* ---------------------------------------------------------------- run: feed and collect */

/* Where kin_run takes input from and sends output to. */
typedef enum kin_io_kind {
	KIN_IO_NONE = 0, /* input: /dev/null; output: discarded */
	KIN_IO_BUFFER,
	KIN_IO_FD,
	KIN_IO_CALLBACK,
} kin_io_kind;

/* Input callback: fill up to n bytes of buf; return the count, 0 at the end,
 * or a negative errno to abort. Output callback: consume all n bytes; return
 * 0 or a negative errno to abort. A slow callback slows the child down. */
typedef ssize_t (*kin_input_cb)(void *buf, size_t n, void *userdata);
typedef int (*kin_output_cb)(const void *buf, size_t n, void *userdata);

typedef struct kin_io {
	kin_io_kind kind;
	void *buf;         /* BUFFER: input data, or output space */
	size_t len;        /* BUFFER: input length, or output capacity */
	size_t *filled;    /* BUFFER output: bytes stored (may be NULL) */
	int fd;            /* FD */
	kin_input_cb input;   /* CALLBACK, for stdin */
	kin_output_cb output; /* CALLBACK, for stdout/stderr */
	void *userdata;
} kin_io;

typedef struct kin_run_opts {
	kin_io in;
	kin_io out;
	kin_io err; /* ignored when stderr is merged into stdout */
	bool merge_stderr; /* send stderr down the stdout stream */
	kin_time deadline; /* 0 means KIN_FOREVER */
	/* At the deadline: this signal (default SIGTERM), then SIGKILL after
	 * kill_after_ns (default 1 s). */
	int timeout_signal;
	int64_t kill_after_ns;
	/* Bytes kin holds per stream while moving data; default 64 KiB. */
	size_t buffer_size;
} kin_run_opts;

#define KIN_RUN_OPTS_INIT {0}

typedef struct kin_run_result {
	kin_status status;
	bool timed_out;
	bool out_truncated; /* an output BUFFER filled up; the rest was drained and dropped */
	uint64_t bytes_in, bytes_out, bytes_err;
} kin_run_result;

/* Spawns `spawn` (its stdio[0..2] are overridden), feeds `in`, delivers
 * stdout and stderr, and waits for the child, never deadlocking however
 * much either side writes. Returns 0 when the child ended (see
 * result->status; result->timed_out if the deadline killed it), or a
 * negative errno (spawn failure, -EBADF for a closed fd, or a callback's
 * error, after which the child is killed and reaped). On failure *result
 * is untouched.
 *
 * Everything the child wrote before it exited is delivered. A grandchild
 * may keep the pipes open after that (`sh -c 'daemon & echo hi'`), so once
 * the child has exited kin_run reads on only while data keeps coming: 100 ms
 * of silence, EOF or the deadline ends it. Runs in the calling thread, with
 * SIGPIPE blocked in that thread while it does; it needs no loop running. */
int kin_run(kin_loop *loop, const kin_spawn_opts *spawn, const kin_run_opts *run,
	    kin_run_result *result, kin_spawn_error *why);

/* ---------------------------------------------------------------- pipelines */

/* Spawns stages[0] | stages[1] | ... with each stdout joined to the next
 * stdin by a kernel pipe that the owner never reads. The first stage's
 * stdin and the last stage's stdout come from their own opts (a PIPE gives
 * a stream on that proc). procs[] receives n procs. On failure every stage
 * already started is killed and reaped. */
int kin_pipeline_spawn(kin_loop *loop, const kin_spawn_opts *const *stages, size_t n,
		       kin_proc **procs, kin_spawn_error *why);

#ifdef __cplusplus
}
#endif

#endif /* KIN_H */
