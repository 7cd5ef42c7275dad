/* kin_run: spawn a child, feed its stdin, deliver its stdout and stderr, and
 * wait for it, all from one poll() set. Every direction only moves when the
 * kernel says it can, so a child that writes megabytes to both outputs while
 * we are still feeding its input never deadlocks against us. The state of
 * each direction and the loop that drives them live in run_pump.c; this file
 * checks the options, starts the child and buries it. */
#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RUN_DEFAULT_BUFFER ((size_t)64 * 1024)
#define RUN_DEFAULT_KILL_AFTER KIN_SEC

static int check_io(const kin_io *io, bool input, const char *name, kin_spawn_error *why)
{
	switch (io->kind) {
	case KIN_IO_NONE:
		return 0;
	case KIN_IO_BUFFER:
		if (!io->buf && io->len) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "kin_run %s: a BUFFER of %zu bytes needs .buf", name, io->len);
			return -EINVAL;
		}
		return 0;
	case KIN_IO_FD:
		if (io->fd < 0 || fcntl(io->fd, F_GETFD) < 0) {
			kin__spawn_error(why, -EBADF, KIN_STEP_OPTIONS,
					 "kin_run %s: fd %d is not open", name, io->fd);
			return -EBADF;
		}
		return 0;
	case KIN_IO_CALLBACK:
		if (input ? !io->input : !io->output) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "kin_run %s: a CALLBACK needs .%s", name,
					 input ? "input" : "output");
			return -EINVAL;
		}
		return 0;
	}
	kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "kin_run %s: unknown kind %d", name,
			 (int)io->kind);
	return -EINVAL;
}

static int check_opts(const kin_run_opts *run, kin_spawn_error *why)
{
	int r;
	if ((r = check_io(&run->in, true, "in", why)) < 0 ||
	    (r = check_io(&run->out, false, "out", why)) < 0)
		return r;
	if (!run->merge_stderr && (r = check_io(&run->err, false, "err", why)) < 0)
		return r;
	if (run->timeout_signal < 0 || run->timeout_signal >= NSIG) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "kin_run: bad timeout_signal %d",
				 run->timeout_signal);
		return -EINVAL;
	}
	if (run->kill_after_ns < 0) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "kin_run: negative kill_after_ns");
		return -EINVAL;
	}
	return 0;
}

/* A blocking fd that is not a regular file or block device can block a
 * write for as long as its reader likes. Such an fd gets at most PIPE_BUF
 * bytes per write, and only after poll() reports room, which a pipe then
 * always accepts whole; so kin_run keeps its other streams and its deadline
 * going even behind a slow consumer. */
static bool write_may_block(int fd)
{
	struct stat sb;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		return false;
	if (fstat(fd, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode)))
		return false;
	return true;
}

static bool needs_buffer(const kin_io *io, bool input)
{
	if (io->kind == KIN_IO_FD || io->kind == KIN_IO_CALLBACK)
		return true;
	/* An output BUFFER that fills up still drains the pipe, into scratch. */
	return !input && io->kind == KIN_IO_BUFFER;
}

static kin_stdio_kind stdio_for(const kin_io *io)
{
	return io->kind == KIN_IO_NONE ? KIN_STDIO_NULL : KIN_STDIO_PIPE;
}

/* SIGPIPE stays blocked in this thread while data moves (see
 * src/core/sigpipe.c), so a child that closes its stdin, or an output fd
 * whose reader left, gives EPIPE rather than killing the host. User
 * callbacks run inside this window too. */
int kin_run(kin_loop *loop, const kin_spawn_opts *spawn, const kin_run_opts *run,
	    kin_run_result *result, kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!loop || !spawn || !run) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "kin_run: loop, spawn and run are required");
		return -EINVAL;
	}
	int r = check_opts(run, why);
	if (r < 0)
		return r;

	kin__run st;
	memset(&st, 0, sizeof(st));
	st.bufsize = run->buffer_size ? run->buffer_size : RUN_DEFAULT_BUFFER;
	st.deadline = run->deadline ? run->deadline : KIN_FOREVER;
	st.timeout_signal = run->timeout_signal ? run->timeout_signal : SIGTERM;
	st.kill_after = run->kill_after_ns ? run->kill_after_ns : RUN_DEFAULT_KILL_AFTER;
	st.kill_at = KIN_FOREVER;
	st.in.io = &run->in;
	st.out.io = &run->out;
	static const kin_io none = {.kind = KIN_IO_NONE};
	st.err.io = run->merge_stderr ? &none : &run->err;

	/* All staging memory in one allocation, made before the child exists so
	 * running out of it needs no cleanup of a process. */
	size_t nbuf = (size_t)needs_buffer(st.in.io, true) + needs_buffer(st.out.io, false) +
		      needs_buffer(st.err.io, false);
	char *mem = NULL;
	if (nbuf) {
		if (st.bufsize > SIZE_MAX / nbuf || !(mem = malloc(nbuf * st.bufsize))) {
			kin__spawn_error(why, -ENOMEM, KIN_STEP_RESOURCES,
					 "kin_run: cannot allocate %zu x %zu bytes of buffers", nbuf,
					 st.bufsize);
			return -ENOMEM;
		}
	}
	char *next = mem;
	if (needs_buffer(st.in.io, true)) {
		st.in.buf = next;
		next += st.bufsize;
	}
	if (needs_buffer(st.out.io, false)) {
		st.out.buf = next;
		next += st.bufsize;
	}
	if (needs_buffer(st.err.io, false))
		st.err.buf = next;
	st.out.small_writes = run->out.kind == KIN_IO_FD && write_may_block(run->out.fd);
	st.err.small_writes = st.err.io->kind == KIN_IO_FD && write_may_block(st.err.io->fd);

	kin_spawn_opts o = *spawn;
	o.stdio[0] = (kin_stdio){.kind = stdio_for(&run->in), .fd = -1};
	o.stdio[1] = (kin_stdio){.kind = stdio_for(&run->out), .fd = -1};
	o.stdio[2] = (kin_stdio){.kind = run->merge_stderr ? KIN_STDIO_TO_STDOUT
							   : stdio_for(&run->err),
				 .fd = -1};
	r = kin_proc_spawn(loop, &o, &st.proc, why);
	if (r < 0) {
		free(mem);
		return r;
	}
	st.in.pipe = kin_proc_stdin(st.proc);
	st.out.pipe = kin_proc_stdout(st.proc);
	st.err.pipe = kin_proc_stderr(st.proc);

	kin__sigpipe_guard guard;
	kin__sigpipe_block(&guard);
	r = kin__run_pump(&st);
	kin__sigpipe_restore(&guard, true); /* cheap once per run: it checks */

	kin_status status;
	if (r < 0) {
		/* An aborted run must not leave the child behind, whatever its
		 * spawn flags: kin_proc_free alone spares a detached one. */
		(void)kin_proc_kill(st.proc, SIGKILL);
	}
	(void)kin_proc_wait(st.proc, KIN_FOREVER, &status);
	kin_proc_free(st.proc);
	free(mem);
	if (r < 0)
		return r;
	if (run->out.kind == KIN_IO_BUFFER && run->out.filled)
		*run->out.filled = st.out.filled;
	if (st.err.io->kind == KIN_IO_BUFFER && run->err.filled)
		*run->err.filled = st.err.filled;
	if (result) {
		memset(result, 0, sizeof(*result));
		result->status = status;
		result->timed_out = st.timed_out;
		result->out_truncated = st.truncated;
		result->bytes_in = st.in.moved;
		result->bytes_out = st.out.moved;
		result->bytes_err = st.err.moved;
	}
	return 0;
}
