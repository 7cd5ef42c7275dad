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
 * to wait for (it then still does kin's own chores that are ready, such as
 * reaping a detached worker that ended). Returns the number of callbacks
 * run, or -ETIMEDOUT if the deadline passed before any ran and work is
 * still pending. Of the watches
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
	/* A pipe whose other end is already closed: reads see end of file,
	 * writes fail with EPIPE. The fd number stays taken, unlike CLOSED. */
	KIN_STDIO_CLOSED_PIPE,
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

/* ---------------------------------------------------------------- sandbox */

/* New namespaces for a sandboxed child, each on its own or all together. */
enum {
	KIN_NS_USER = 1u << 0,
	KIN_NS_PID = 1u << 1,
	KIN_NS_NET = 1u << 2,
	KIN_NS_MOUNT = 1u << 3,
	KIN_NS_UTS = 1u << 4,
	KIN_NS_IPC = 1u << 5,
	KIN_NS_CGROUP = 1u << 6,
	KIN_NS_ALL = (1u << 7) - 1,
};

/* One step of building a sandbox's root, as bubblewrap spells them. Paths
 * inside (dest) are resolved in the new root without following any
 * symlink; a step whose dest goes through one fails with -ELOOP. */
typedef enum kin_mount_kind {
	KIN_MOUNT_BIND = 1,   /* host path `source` at `dest`, read-write */
	KIN_MOUNT_RO_BIND,    /* the same, read-only all the way down */
	KIN_MOUNT_DEV_BIND,   /* the same, with its device nodes usable */
	KIN_MOUNT_TMPFS,      /* an empty tmpfs (mode 0755 unless set) */
	KIN_MOUNT_PROC,       /* proc of the sandbox's pid namespace */
	KIN_MOUNT_DEV,        /* a minimal /dev: null zero full random urandom
			       * tty, the fd/stdin/stdout/stderr links, pts, shm */
	KIN_MOUNT_DIR,        /* a directory (mode 0755 unless set) */
	KIN_MOUNT_SYMLINK,    /* a symlink at `dest` whose target is `source` */
	KIN_MOUNT_REMOUNT_RO, /* the mount at `dest` becomes read-only */
} kin_mount_kind;

typedef struct kin_mount {
	kin_mount_kind kind;
	const char *source; /* BIND kinds: a host path; SYMLINK: the target */
	const char *dest;   /* absolute, inside the sandbox */
	mode_t mode;        /* TMPFS and DIR; 0 means 0755 */
} kin_mount;

/* seccomp profiles, any together (through libseccomp). */
enum {
	/* Denies ptrace, mount and the new mount API, unshare, setns, clone
	 * with namespace flags (clone3: ENOSYS, so libc falls back to clone),
	 * kexec_*, bpf, perf_event_open, keyctl, add_key, request_key, and
	 * TIOCSTI and TIOCLINUX on ttys. */
	KIN_SECCOMP_DEFAULT = 1u << 0,
	/* Denies new sockets other than AF_UNIX, and io_uring, which could
	 * make them. */
	KIN_SECCOMP_NO_NETWORK = 1u << 1,
};

typedef enum kin_seccomp_action {
	KIN_SECCOMP_EPERM = 0, /* a denied call fails with EPERM */
	KIN_SECCOMP_KILL,      /* a denied call kills the process (SIGSYS) */
} kin_seccomp_action;

/* Landlock: with any rule, the sandbox may reach only these paths. */
enum {
	KIN_LANDLOCK_READ = 1u << 0,  /* read files, list directories */
	KIN_LANDLOCK_WRITE = 1u << 1, /* write, create, remove, rename */
	KIN_LANDLOCK_EXEC = 1u << 2,  /* execute files */
};

typedef struct kin_landlock_rule {
	const char *path; /* inside the sandbox, after its mounts */
	unsigned access;  /* KIN_LANDLOCK_* */
} kin_landlock_rule;

/* Runs in the child once the sandbox is built (namespaces, mounts,
 * hostname, network), before privileges are dropped and the program
 * starts: it may still mount, say. The child is a fork of this process:
 * if the process has other threads, call only async-signal-safe functions.
 * Return 0, or a negative errno to fail the spawn with it. */
typedef int (*kin_sandbox_init)(int fd, void *userdata);

typedef struct kin_sandbox {
	unsigned namespaces; /* KIN_NS_*. Without privilege, a user
			      * namespace comes with any other, as in bwrap. */
	/* Inside a new user namespace the caller is this uid and gid (0, root
	 * of the namespace, unless set); setgroups is denied. */
	uid_t uid;
	gid_t gid;
	const char *hostname; /* needs KIN_NS_UTS */
	/* With steps (or ro_root), the child gets a new root: a tmpfs built
	 * from the steps in order, then pivot_root. Needs KIN_NS_MOUNT. At
	 * most 65536 steps, as at most 65536 landlock rules. */
	const kin_mount *mounts;
	size_t nmounts;
	/* Keep the host's root, read-only, as the first steps: ro-bind / /,
	 * then a minimal dev at /dev (a nodev bind leaves the host's device
	 * nodes unusable). */
	bool ro_root;
	/* A new net namespace has only `lo`, up unless this is set. */
	bool lo_down;
	/* Capabilities kept (bit N for capability N, e.g. 1ull << 12 for
	 * CAP_NET_ADMIN); every other one is dropped from every set, bounding
	 * and ambient included. no_new_privs is always set. */
	uint64_t caps;
	unsigned seccomp;         /* KIN_SECCOMP_* */
	const char *seccomp_file; /* a profile of your own: docs/sandbox.md */
	kin_seccomp_action seccomp_action;
	const kin_landlock_rule *landlock;
	size_t nlandlock;
	/* cgroup v2 limits, 0 for none: bytes, processes, and thousandths of
	 * a CPU (1500 = one and a half). kin makes a cgroup for the child
	 * under `cgroup_parent` (NULL: the one this process is in), which must
	 * be delegated with those controllers, and removes it afterwards.
	 * Without them the spawn fails with a message saying what is missing. */
	uint64_t memory_max;
	uint64_t pids_max;
	uint32_t cpu_millis;
	const char *cgroup_parent;
	/* Runs in the child (see kin_sandbox_init); init_fd is its argument
	 * and crosses into the child even if no fd map names it. */
	kin_sandbox_init init;
	void *init_userdata;
	int init_fd;
	/* With KIN_NS_PID the program runs under a small pid 1 of kin's, which
	 * forwards signals, reaps orphans and exits with the program's status;
	 * this makes the program pid 1 itself instead. */
	bool as_pid_1;
} kin_sandbox;

#define KIN_SANDBOX_INIT {.init_fd = -1}

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
	/* Run the child in a sandbox (NULL: none). Inside one the environment
	 * starts empty unless env_mode is KIN_ENV_LIST (env_set adds to it),
	 * and only stdio and the mapped fds cross in. */
	const kin_sandbox *sandbox;
} kin_spawn_opts;

#define KIN_SPAWN_OPTS_INIT {0}

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
	/* KIN_KILLED by the kernel's out-of-memory killer, in the cgroup of a
	 * sandbox with memory_max (kin only knows where it made the cgroup). */
	bool oom_killed;
	struct rusage rusage;
} kin_status;

/* The shell's view: the code, or 128+signal. -1 while running or unknown. */
int kin_status_shell_code(const kin_status *status);
/* "exited(0)", "killed(SIGKILL)", "killed(SIGSEGV, core dumped)". Returns
 * what snprintf would. */
int kin_status_format(const kin_status *status, char *buf, size_t size);

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
	KIN_STEP_HANDSHAKE, /* a worker's first message (kin_worker_spawn) */
	KIN_STEP_NAMESPACES,  /* sandbox: new namespaces, the user maps */
	KIN_STEP_MOUNT,       /* sandbox: a step of the new root, or pivot_root */
	KIN_STEP_NETWORK,     /* sandbox: the hostname, lo */
	KIN_STEP_CGROUP,      /* sandbox: the cgroup and its limits */
	KIN_STEP_INIT_HOOK,   /* sandbox: the caller's init callback */
	KIN_STEP_PRIVILEGES,  /* sandbox: capabilities, no_new_privs */
	KIN_STEP_LANDLOCK,
	KIN_STEP_SECCOMP,
} kin_spawn_step;

typedef struct kin_spawn_error {
	int error; /* the same negative errno kin_proc_spawn returned */
	kin_spawn_step step;
	/* One line for a human: what failed, on what, and why. */
	char message[256];
	/* A worker that died during its handshake (-ECHILD): how it ended. */
	kin_status status;
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

/* ---------------------------------------------------------------- buffers */

/* A growable byte buffer: replies, packed arguments. {0} is empty. */
typedef struct kin_buf {
	char *data;
	size_t len;
	size_t cap;
} kin_buf;

#define KIN_BUF_INIT {0}

/* Appends n bytes, growing as needed: 0 or -ENOMEM. */
int kin_buf_append(kin_buf *buf, const void *data, size_t n);
/* Makes room for n more bytes without changing len: 0 or -ENOMEM. */
int kin_buf_reserve(kin_buf *buf, size_t n);
/* Frees the memory and empties the buffer. */
void kin_buf_free(kin_buf *buf);

/* ---------------------------------------------------------------- chans */

/* A message endpoint over an AF_UNIX SOCK_SEQPACKET socket. A message is
 * bytes plus fds plus other chans, delivered whole or not at all. Sending
 * a chan hands the receiver a working endpoint: a capability. */
typedef struct kin_chan kin_chan;

/* Default of kin_chan_set_max_message: 64 MiB. */
#define KIN_CHAN_DEFAULT_MAX ((size_t)64 << 20)
/* Ceiling of kin_chan_set_max_message: what the frame's u32 length holds,
 * 4 GiB - 1. */
#define KIN_CHAN_MAX_MESSAGE ((size_t)UINT32_MAX)
/* Default of kin_chan_set_max_inflight: 128 MiB. */
#define KIN_CHAN_DEFAULT_INFLIGHT ((size_t)128 << 20)
/* fds plus chans in one message. */
#define KIN_CHAN_MAX_FDS 250

/* kin_chan_recv: the peer has closed and every message it sent has been
 * received. Not an error: a status of its own. */
#define KIN_CLOSED 1

/* A message. Sending reads it; kin_chan_recv fills one that must then be
 * released with kin_msg_release. */
typedef struct kin_msg {
	void *data;
	size_t len;
	/* Received fds and chans belong to the message until taken: take one
	 * by copying it and setting its slot to -1 (or NULL). */
	int *fds;
	size_t nfds;
	kin_chan **chans;
	size_t nchans;
	/* kin's own bookkeeping for a received message; leave alone. */
	size_t priv_mapped; /* non-zero: data is a read-only mapping of that length */
} kin_msg;

#define KIN_MSG_INIT {0}

/* A connected pair of endpoints. Both fds are close-on-exec and left
 * blocking: no call depends on the flag (one with a deadline never blocks
 * past it), and a wait without a deadline then sleeps in the kernel's own
 * send or receive instead of in poll(), a cheaper round trip. */
int kin_chan_pair(kin_chan **a, kin_chan **b);

/* Adopts fd, which must be an AF_UNIX SOCK_SEQPACKET socket (else -ENOTSOCK
 * or -EPROTOTYPE, and fd is left alone). A worker's chan on fd 3 is made
 * this way. The fd becomes close-on-exec and blocking (see kin_chan_pair). */
int kin_chan_from_fd(int fd, kin_chan **ret);

/* The endpoint's fd, e.g. to map it into a child with kin_fd_map, or to
 * poll it; -1 once the chan has failed. Do not read or write it. */
int kin_chan_fd(const kin_chan *chan);

/* The largest message this end sends or accepts, 1 byte to
 * KIN_CHAN_MAX_MESSAGE; KIN_CHAN_DEFAULT_MAX (64 MiB) until set. A message
 * goes through only if both ends allow its size. 0, -EINVAL, or -EPROTO
 * for a failed chan. */
int kin_chan_set_max_message(kin_chan *chan, size_t bytes);

/* The most bytes of out-of-band payload (messages over 64 KiB) this end
 * may have sent that the peer has not yet taken; KIN_CHAN_DEFAULT_INFLIGHT
 * (128 MiB) until set. Each such message is a memfd charged to the sender
 * until the receiver takes it, and the socket's own limit counts messages,
 * not bytes: this is what bounds that memory. Beyond the budget, or with
 * 128 such messages in flight, kin_chan_send waits for the peer to take
 * some, as for a full socket (it checks every few ms; there is no event to
 * wait on). A message larger than the budget still goes when nothing else
 * is in flight, so the budget may be below the largest message: it then
 * means one at a time. Inline messages are bounded by the socket buffer
 * and not counted. A peer takes a payload by moving its memfd's offset
 * (docs/protocol.md, 4.3); kin_chan_recv does, whether it delivers the
 * message or drops it. 0, -EINVAL for 0 bytes, or -EPROTO. */
int kin_chan_set_max_inflight(kin_chan *chan, size_t bytes);

/* Sends one message, waiting for room until the deadline: 0, -ETIMEDOUT, or
 * -EAGAIN when the deadline had already passed (non-blocking use) and there
 * was no room: in the socket, or for a payload over 64 KiB in the budget
 * of kin_chan_set_max_inflight. -EPIPE: the peer has closed. -EMSGSIZE:
 * over the maximum (kin_chan_set_max_message).
 * -EINVAL: more than KIN_CHAN_MAX_FDS fds and chans, a chan sent through
 * itself, or a bad fd (-EBADF).
 *
 * fds and chans move: once the send succeeds the sender's fds are closed
 * and its chans freed. A failed send leaves them all with the sender.
 * Payloads above 64 KiB travel out of band in a sealed memfd, so a large
 * message costs the receiver one mapping, and never holds up another chan.
 * Thread-safe: concurrent sends never interleave. */
int kin_chan_send(kin_chan *chan, const kin_msg *msg, kin_time deadline);

/* kin_chan_send of bytes alone. */
int kin_chan_send_bytes(kin_chan *chan, const void *data, size_t len, kin_time deadline);

/* Receives one message into *msg (release it with kin_msg_release): 0, or
 * KIN_CLOSED, -ETIMEDOUT, -EAGAIN (the deadline had passed and nothing was
 * waiting). -EMSGSIZE: the peer sent more than this end accepts; that
 * message is dropped and the chan stays usable. -EPROTO: the peer sent
 * something malformed (truncated control data, wrong fd counts, bogus
 * lengths, an unsealed memfd); every fd that came with it is closed and
 * the chan is dropped: from then on every call on it returns -EPROTO.
 * Thread-safe: each message goes to exactly one receiver. */
int kin_chan_recv(kin_chan *chan, kin_msg *msg, kin_time deadline);

/* Frees what kin_chan_recv put in *msg, closing every fd and freeing every
 * chan not taken, and resets it to KIN_MSG_INIT. Accepts an empty msg. */
void kin_msg_release(kin_msg *msg);

/* Event style: cb runs from the loop while a message (or the peer's close)
 * is waiting; inside it call kin_chan_recv with deadline 0. NULL stops. */
typedef void (*kin_chan_cb)(kin_chan *chan, void *userdata);
int kin_chan_on_readable(kin_chan *chan, kin_loop *loop, kin_chan_cb cb, void *userdata);

/* Closes the endpoint; the peer then sees KIN_CLOSED (after any messages
 * still queued) and -EPIPE on send, also a send waiting for out-of-band
 * room. Stops its watch. Accepts NULL. */
void kin_chan_free(kin_chan *chan);

/* ---------------------------------------------------------------- MessagePack */

/* Packs values as MessagePack (msgpack-c underneath), appending to out.
 * Each character of fmt takes arguments:
 *   i  int64_t        u  uint64_t       d  double        t  bool (int)
 *   n  nil (none)     s  const char * (NUL-terminated; NULL packs nil)
 *   S  const char *, size_t (string of that length)
 *   b  const void *, size_t (bin)
 *   [  size_t count: starts an array of count values; ] ends it
 *   {  size_t count: starts a map of count key/value pairs; } ends it
 * Brackets are checked for balance only; count is the caller's promise.
 * Returns 0, -EINVAL for a bad fmt, or -ENOMEM. */
int kin_mp_pack(kin_buf *out, const char *fmt, ...);

/* Unpacks data as fmt says, with the same characters as kin_mp_pack:
 *   i  int64_t *      u  uint64_t *     d  double * (ints accepted)
 *   t  bool *         n  (nothing: expects nil)
 *   s, S  const char **, size_t * (points into data; not NUL-terminated)
 *   b  const void **, size_t * (bin, or str)
 *   [  size_t *: the array's count (NULL: must match the values listed)
 *   {  size_t *: the map's pair count
 *   ]  }  close what [ and { opened
 *   *  skips one value of any type
 * Returns the number of bytes consumed, or -EPROTO when the data is not
 * MessagePack or a value has the wrong type (outputs may then be partly
 * filled), or -EINVAL for a bad fmt. */
ssize_t kin_mp_unpack(const void *data, size_t len, const char *fmt, ...);

/* ---------------------------------------------------------------- workers */

/* A worker is a process that serves named calls over a chan on its fd 3:
 * your own binary re-executed (or forked from a zygote), or any program
 * that speaks docs/protocol.md. */
typedef struct kin_worker kin_worker;

/* Worker side. A handler gets the call's arguments and fills req->reply.
 * It returns 0, or a non-zero error code of its own; the caller then gets
 * -EREMOTEIO with that code, and req->reply as the error's detail. */
typedef struct kin_request {
	const char *name;
	const void *args;
	size_t len;
	/* fds and chans that came with the call: take one by copying it and
	 * setting the slot to -1 (or NULL); the rest are closed afterwards. */
	int *fds;
	size_t nfds;
	kin_chan **chans;
	size_t nchans;
	kin_buf reply;
} kin_request;

typedef int (*kin_handler_fn)(kin_request *req, void *userdata);

typedef struct kin_handler {
	const char *name;
	kin_handler_fn fn;
	void *userdata;
} kin_handler;

/* Call first thing in main(). In the owner it remembers this binary (so
 * replacing it on disk cannot break later spawns) and returns 0. In a
 * worker it serves `handlers` (ending with a {NULL} entry) and never
 * returns: it exits 0 when its chan closes, and dies with its owner. The
 * variables that mark a worker are removed first, so the worker's own
 * children are ordinary processes. A reserved handler name, "kin.exit",
 * receives exit notices when the owner made this worker trap exits.
 * Returns a negative errno only in the owner, if the binary cannot be
 * opened; workers can still be spawned from a path then. */
int kin_main(int argc, char **argv, const kin_handler *handlers);

/* A zygote: a copy of this program stopped inside its kin_main, before
 * main() does anything of its own, that forks ready workers on request,
 * for programs that start many. It keeps one worker forked ahead (a
 * spare, one more process), so a spawn only starts it and the zygote
 * forks the next meanwhile. A forked worker is still the owner's own
 * child, linked to it and reaped by it like any other; it inherits the
 * zygote's environment, cwd and stdio (set through `spawn`, whose argv
 * must be NULL; tree mode, sandboxes and detaching are refused: sandbox a
 * worker by spawning it with spawn->sandbox). Thread-safe. */
typedef struct kin_zygote kin_zygote;
int kin_zygote_new(kin_loop *loop, const kin_spawn_opts *spawn, kin_zygote **ret,
		   kin_spawn_error *why);
pid_t kin_zygote_pid(const kin_zygote *zygote);
/* Kills the zygote and its spare; the workers it forked live on. Accepts
 * NULL. */
void kin_zygote_free(kin_zygote *zygote);

typedef struct kin_worker_opts {
	/* How to start it; NULL means the defaults. argv NULL re-executes this
	 * binary (argv[0] kept); otherwise the program to run, which must speak
	 * docs/protocol.md. Fd 3 is kin's. stdin INHERIT becomes /dev/null; a
	 * PIPE for stdout or stderr gives streams on kin_worker_proc(). */
	const kin_spawn_opts *spawn;
	/* Calls the worker serves at once, each on its own thread; 0 means 1. */
	unsigned threads;
	/* Time allowed for the handshake; 0 means 10 s. */
	int64_t handshake_timeout_ns;
	/* Fork the worker from this zygote instead of executing a binary;
	 * `spawn` is then ignored. */
	kin_zygote *zygote;
} kin_worker_opts;

#define KIN_WORKER_OPTS_INIT {0}

/* Starts a worker and completes the handshake (protocol version, pid,
 * handler names). Thread-safe. Errors, each with `why` filled:
 * -ENOENT and the other exec errors as kin_proc_spawn gives them;
 * -ETIMEDOUT: no handshake in time (the worker is killed and reaped);
 * -EPROTO: a protocol version other than kin's, or a malformed handshake;
 * -ECHILD: the worker died during the handshake; why->status says how. */
int kin_worker_spawn(kin_loop *loop, const kin_worker_opts *opts, kin_worker **ret,
		     kin_spawn_error *why);

pid_t kin_worker_pid(const kin_worker *worker);
/* The worker's process, for its pidfd and captured output streams. */
kin_proc *kin_worker_proc(kin_worker *worker);
/* Whether the worker announced a handler of that name. */
bool kin_worker_has(const kin_worker *worker, const char *name);

/* Why a worker ended: exactly one of these, learned exactly once. */
typedef enum kin_reason_kind {
	KIN_REASON_NONE = 0,        /* still running */
	KIN_REASON_NORMAL,          /* exited 0 */
	KIN_REASON_EXIT,            /* exited with a non-zero code */
	KIN_REASON_SIGNAL,          /* killed by a signal kin did not send */
	KIN_REASON_KILLED,          /* killed by kin: kill, stop, a link */
	KIN_REASON_HANDSHAKE,       /* never finished the handshake */
	KIN_REASON_PROTOCOL,        /* broke the protocol; kin killed it */
	KIN_REASON_CONNECTION_LOST, /* its chan closed while it ran on (kin killed
				     * it), or it was spawned detached and its
				     * status is not ours to know */
	KIN_REASON_OUT_OF_MEMORY,   /* killed by the kernel's out-of-memory killer
				     * in its sandbox's cgroup (memory_max) */
} kin_reason_kind;

typedef struct kin_exit_reason {
	kin_reason_kind kind;
	int code;          /* KIN_REASON_EXIT */
	int signal;        /* KIN_REASON_SIGNAL, KIN_REASON_KILLED */
	kin_status status; /* how the process itself ended, if known */
} kin_exit_reason;

/* "normal", "exit(3)", "signal(9)", "killed", "handshake failed",
 * "protocol error", "connection lost", "out of memory". Returns what
 * snprintf would. */
int kin_exit_reason_format(const kin_exit_reason *reason, char *buf, size_t size);

/* ---- calls */

/* A reply, or the reason a call failed. Release with kin_reply_release. */
typedef struct kin_reply {
	int error;   /* -EREMOTEIO: the handler's own non-zero code */
	void *data;  /* the reply, or the handler's error detail */
	size_t len;
	kin_exit_reason reason; /* -ECONNRESET: why the worker ended */
} kin_reply;

void kin_reply_release(kin_reply *reply);

/* Calls a handler and waits for its reply until the deadline. Thread-safe.
 * Returns 0 (reply->data), -EREMOTEIO (the handler failed: reply->error),
 * -ETIMEDOUT (a late reply is discarded), -ENOSYS (no handler of that
 * name), or -ECONNRESET (the worker ended: reply->reason). args may carry
 * fds and chans (moved as by kin_chan_send); NULL sends no arguments. */
int kin_call(kin_worker *worker, const char *name, const kin_msg *args, kin_time deadline,
	     kin_reply *reply);

/* One way: no reply, no error from the handler. Waits for room until the
 * deadline. Thread-safe. */
int kin_cast(kin_worker *worker, const char *name, const kin_msg *args, kin_time deadline);

/* Pipelining: start many calls, then await them in any order. */
typedef struct kin_pending kin_pending;
int kin_call_start(kin_worker *worker, const char *name, const kin_msg *args,
		   kin_time deadline, kin_pending **ret);
/* Waits for one call. On any result but -ETIMEDOUT the call is finished
 * and freed; after -ETIMEDOUT it is still pending (await again, or cancel
 * it with kin_pending_cancel). */
int kin_await(kin_pending *call, kin_time deadline, kin_reply *reply);
/* Waits until any of calls[0..n) finishes: its index in *index, its reply
 * in *reply, and calls[*index] set to NULL (freed). NULL entries are
 * skipped; -EINVAL if all are NULL or they are not all calls to one
 * worker. */
int kin_await_any(kin_pending **calls, size_t n, kin_time deadline, size_t *index,
		  kin_reply *reply);
/* Waits for all: results[i] and replies[i] as kin_await gives them, and
 * calls[i] set to NULL once finished. NULL entries are skipped (their
 * results[i] and replies[i] untouched). Returns 0 when all finished, or
 * -ETIMEDOUT when some remain: their results[i] is -ETIMEDOUT and their
 * replies[i] is empty. */
int kin_await_all(kin_pending **calls, size_t n, kin_time deadline, int *results,
		  kin_reply *replies);
/* Abandons a pending call; its reply, if one comes, is discarded. */
void kin_pending_cancel(kin_pending *call);

/* ---- lifetimes, as Erlang has them */

/* A monitor: cb runs once, from the loop, with the worker's exit reason (a
 * DOWN event). On a worker that has already ended it runs on the next loop
 * iteration, like Erlang's noproc. Any number per worker. */
typedef struct kin_monitor kin_monitor;
typedef void (*kin_down_cb)(kin_worker *worker, const kin_exit_reason *reason, void *userdata);
int kin_worker_monitor(kin_worker *worker, kin_down_cb cb, void *userdata, kin_monitor **ret);
/* Removes a monitor that has not fired; after it fired, only frees it.
 * kin_worker_free frees the monitors still on the worker: do not free one
 * after its worker. */
void kin_monitor_free(kin_monitor *monitor);

/* Links a and b both ways: when one ends abnormally (anything but
 * KIN_REASON_NORMAL), kin kills the other (KIN_REASON_KILLED), unless that
 * one traps exits, in which case its "kin.exit" handler is cast the
 * notice instead. Both must belong to the same loop; the loop must run for
 * links to act. Linking an ended worker acts at once. */
int kin_worker_link(kin_worker *a, kin_worker *b);
int kin_worker_unlink(kin_worker *a, kin_worker *b);
/* Whether exits of linked workers arrive as "kin.exit" casts
 * ([pid, reason, code, signal] in MessagePack) instead of killing it.
 * -ENOSYS for a worker that serves no "kin.exit". */
int kin_worker_trap_exits(kin_worker *worker, bool trap);

/* Sends a signal through the pidfd; the reason becomes KIN_REASON_KILLED.
 * Thread-safe. */
int kin_worker_kill(kin_worker *worker, int sig);
/* Closes the worker's chan (it exits 0 when idle), and sends SIGKILL if it
 * still runs after grace_ns. Returns at once; calls in flight fail with
 * -ECONNRESET. */
int kin_worker_stop(kin_worker *worker, int64_t grace_ns);
/* Lets the worker outlive its owner: kin tells it to stop dying with its
 * owner, and neither kin_worker_free nor kin_loop_free kills it from then
 * on (the loop still reaps it if it ends while the loop runs). It serves
 * calls while its chan is open; once the chan closes it ends when the last
 * thread its handlers started has ended. It returns once the worker has
 * confirmed; one busy with calls confirms when a thread of it is free,
 * and after 10 s this gives up with -ETIMEDOUT (the worker then still
 * counts as linked). -EINVAL in tree mode or in a sandbox with a pid
 * namespace (kin's pid 1 dies with the owner and takes it along), -ESRCH if
 * it is gone. Thread-safe. */
int kin_worker_detach(kin_worker *worker);

/* Waits for the worker to end, until the deadline: 0 and *reason, or
 * -ETIMEDOUT. Thread-safe. */
int kin_worker_wait(kin_worker *worker, kin_time deadline, kin_exit_reason *reason);

/* Frees the worker: one not detached that still runs is killed and reaped
 * first. Monitors that have not fired fire with that reason, and calls
 * not yet awaited fail with it (await or cancel them still, before or
 * after). May be called from the worker's own DOWN callback. Free workers
 * before their loop. Accepts NULL. */
void kin_worker_free(kin_worker *worker);

/* ---------------------------------------------------------------- supervisors */

/* When a supervisor restarts a child that ended. */
typedef enum kin_restart {
	KIN_RESTART_PERMANENT = 0, /* always */
	KIN_RESTART_TRANSIENT,     /* only after an abnormal end (not KIN_REASON_NORMAL) */
	KIN_RESTART_TEMPORARY,     /* never: it is removed */
} kin_restart;

/* Which children a restart takes along, as in OTP. */
typedef enum kin_strategy {
	KIN_ONE_FOR_ONE = 0, /* only the one that ended */
	KIN_ONE_FOR_ALL,     /* all of them: the others are stopped first */
	KIN_REST_FOR_ONE,    /* it and those started after it */
} kin_strategy;

typedef struct kin_child_spec {
	const char *id; /* unique within the supervisor */
	kin_worker_opts worker;
	kin_restart restart;
	/* Grace before SIGKILL when the supervisor stops it; 0 means 5 s. */
	int64_t shutdown_ns;
} kin_child_spec;

typedef struct kin_sup kin_sup;
/* The supervisor gave up: `why` says which child ended how, and that the
 * restart limit was passed. Every child has been stopped by then. */
typedef void (*kin_sup_cb)(kin_sup *sup, const char *why, void *userdata);

typedef struct kin_sup_opts {
	kin_strategy strategy;
	/* Restart intensity, as OTP's: a restart that would make more than
	 * max_restarts within period_ns makes the supervisor give up instead.
	 * KIN_SUP_OPTS_INIT sets 3 restarts in 5 s. max_restarts 0 allows no
	 * restart: the first end that needs one gives up; more than 65536 is
	 * refused (-EINVAL). period_ns 0 means 5 s (OTP has no period of 0). */
	unsigned max_restarts;
	int64_t period_ns;
	/* Delay before a restart: backoff_ns, doubling with each restart of
	 * the same child inside the period, at most backoff_max_ns (0: 30 s).
	 * 0 restarts at once. */
	int64_t backoff_ns;
	int64_t backoff_max_ns;
	kin_sup_cb on_give_up;
	void *userdata;
} kin_sup_opts;

/* Not {0}: max_restarts 0 is meaningful (never restart), so the default
 * is spelled out. A NULL opts to kin_sup_start means these. */
#define KIN_SUP_OPTS_INIT {.max_restarts = 3, .period_ns = 5 * KIN_SEC}

/* Starts the children in order (copying the specs; id strings and the
 * worker options they point to must outlive the supervisor) and
 * supervises them from the loop, which must run for restarts to happen.
 * If a child cannot start, those already started are stopped and the
 * error is returned with `why`. */
int kin_sup_start(kin_loop *loop, const kin_sup_opts *opts, const kin_child_spec *children,
		  size_t n, kin_sup **ret, kin_spawn_error *why);
/* The child's current worker, or NULL while it is being restarted, after
 * it was removed, or once the supervisor gave up. Valid until the loop
 * runs again. */
kin_worker *kin_sup_worker(kin_sup *sup, const char *id);
/* Restarts so far, of all children. */
unsigned kin_sup_restarts(const kin_sup *sup);
/* NULL while supervising; after giving up, the reason (as on_give_up had). */
const char *kin_sup_failure(const kin_sup *sup);
/* Stops every child, last started first, and frees the supervisor. */
void kin_sup_free(kin_sup *sup);

/* ---------------------------------------------------------------- pools */

/* N workers of one kind. Each call goes to the least busy one, and the
 * next call that finds a worker dead replaces it. kin_pool_call is
 * thread-safe; the other pool functions belong to the loop's thread. A
 * replaced worker (its struct, pidfd and chan) is freed by the loop's
 * thread the next time the loop runs, so a pool whose workers keep dying
 * holds no more than its live ones plus those that died since the last
 * pass; a loop that never runs keeps them until kin_pool_resize or
 * kin_pool_free. The pool asks the loop for that one pass only (through a
 * timer armed when a worker is replaced), never to keep running. Since
 * that timer's callback touches the pool, kin_pool_resize and
 * kin_pool_free must run on the loop's thread with the loop not running
 * on another thread at the same time: a program that runs its loop on a
 * thread of its own stops that thread first, or makes these calls from
 * one of the loop's callbacks. kin_pool_resize waits for the calls on
 * workers it removes, and for replacements under way in them, to end.
 * Every kin_pool_call must have returned before kin_pool_free. */
typedef struct kin_pool kin_pool;
int kin_pool_new(kin_loop *loop, const kin_worker_opts *opts, size_t size, kin_pool **ret,
		 kin_spawn_error *why);
/* kin_call on the least busy worker. A call that finds dead idle workers
 * first replaces them (one spawn each, outside the pool's lock: calls on
 * other threads go on to the live workers meanwhile, skipping one being
 * replaced). A call that was in flight when its worker died fails with
 * -ECONNRESET as usual; it is not retried. With no worker alive but a
 * replacement under way on another thread, the call waits for it until
 * the deadline: -ETIMEDOUT. -ECHILD: no worker is alive and none could be
 * started now (the replacement failed to start, or every dead one still
 * has another caller's call in it). */
int kin_pool_call(kin_pool *pool, const char *name, const kin_msg *args, kin_time deadline,
		  kin_reply *reply);
/* Grows (spawning now) or shrinks (stopping the idlest) to size >= 1. */
int kin_pool_resize(kin_pool *pool, size_t size, kin_spawn_error *why);
size_t kin_pool_size(kin_pool *pool);
/* Workers replaced so far after dying. */
unsigned kin_pool_replaced(kin_pool *pool);
void kin_pool_free(kin_pool *pool);

#ifdef __cplusplus
}
#endif

#endif /* KIN_H */
