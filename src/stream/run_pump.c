/* The data pump of kin_run. One poll() set covers the child's stdin pipe,
 * the input fd, the stdout and stderr pipes, the output fds and the pidfd.
 * Each fd is in the set only while its side can make progress: the stdin
 * pipe while input is staged, a pipe for reading only while its sink can
 * take a chunk, an output fd only while it has bytes to take. Nothing ever
 * waits on one fd alone, which is what keeps both sides from deadlocking,
 * and each side holds at most one buffer, which keeps memory bounded. */
#include "run.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Once the child has exited, a grandchild may still hold its pipes open
 * (`sh -c 'daemon & echo hi'`), so EOF may never come. What the child
 * wrote is already in the pipe when its exit is seen; that much (the
 * quota) is always delivered. Beyond it we read on only while more keeps
 * arriving: 100 ms of silence ends the wait, and so does the deadline. No
 * program's own output is lost this way, and no grandchild can hold
 * kin_run hostage. */
#define RUN_EXIT_GRACE (100 * KIN_MSEC)

static bool pipe_open(kin_stream *s)
{
	return s && kin_stream_fd(s) >= 0;
}

static kin_time sat_add(kin_time t, int64_t ns)
{
	return ns >= KIN_FOREVER - t ? KIN_FOREVER : t + ns;
}

static bool again(void)
{
	return errno == EINTR || errno == EAGAIN;
}

/* ---- stdin */

/* No more input: closing our end gives the child EOF. */
static void src_stop(kin__run_src *in)
{
	kin_stream_close(in->pipe);
	in->pending = 0;
	in->eof = true;
}

/* Stages the next input when nothing is staged. FD input is read only
 * once poll() says it is readable (src_read_fd). */
static int src_refill(kin__run *st)
{
	kin__run_src *in = &st->in;
	if (!pipe_open(in->pipe) || in->pending || in->eof)
		return 0;
	const kin_io *io = in->io;
	if (io->kind == KIN_IO_BUFFER) {
		/* Written straight from the caller's buffer: no copy, no staging. */
		in->data = io->buf;
		in->pending = io->len;
		in->eof = true;
	} else if (io->kind == KIN_IO_CALLBACK) {
		ssize_t n = io->input(in->buf, st->bufsize, io->userdata);
		if (n < 0)
			return n < -4095 ? -EIO : (int)n;
		if ((size_t)n > st->bufsize)
			return -EOVERFLOW; /* the callback wrote past the buffer */
		in->data = in->buf;
		in->pending = (size_t)n;
		in->eof = n == 0;
	}
	return 0;
}

static int src_read_fd(kin__run *st)
{
	kin__run_src *in = &st->in;
	ssize_t n = read(in->io->fd, in->buf, st->bufsize);
	if (n < 0)
		return again() ? 0 : -errno;
	in->data = in->buf;
	in->pending = (size_t)n;
	in->eof = n == 0;
	return 0;
}

static int src_write(kin__run_src *in)
{
	ssize_t n = write(kin_stream_fd(in->pipe), in->data, in->pending);
	if (n < 0) {
		if (again())
			return 0;
		/* The child closed its stdin, like `head` does: it wants no more.
		 * That is its right, not an error. */
		if (errno == EPIPE) {
			src_stop(in);
			return 0;
		}
		return -errno;
	}
	in->data += n;
	in->pending -= (size_t)n;
	in->moved += (uint64_t)n;
	return 0;
}

/* ---- stdout and stderr */

static int sink_read(kin__run *st, kin__run_sink *k)
{
	const kin_io *io = k->io;
	char *dst = k->buf;
	size_t room = st->bufsize;
	bool keep = true;
	if (io->kind == KIN_IO_BUFFER) {
		if (k->filled < io->len) {
			dst = (char *)io->buf + k->filled;
			room = io->len - k->filled;
		} else {
			/* Full: keep draining into scratch so the child never
			 * blocks on a pipe nobody reads. */
			keep = false;
		}
	}
	ssize_t n = read(kin_stream_fd(k->pipe), dst, room);
	if (n < 0)
		return again() ? 0 : -errno;
	if (n == 0) {
		kin_stream_close(k->pipe);
		return 0;
	}
	k->moved += (uint64_t)n;
	k->quota -= n;
	if (st->exited)
		st->last_data = kin_now();
	switch (io->kind) {
	case KIN_IO_BUFFER:
		if (keep)
			k->filled += (size_t)n;
		else
			st->truncated = true;
		return 0;
	case KIN_IO_FD:
		/* The pipe is not read again until this chunk is out: a slow
		 * consumer slows the child down. */
		k->off = 0;
		k->pending = (size_t)n;
		return 0;
	case KIN_IO_CALLBACK: {
		int r = io->output(dst, (size_t)n, io->userdata);
		return r < 0 ? r : 0;
	}
	case KIN_IO_NONE:
		break;
	}
	return 0;
}

static int sink_flush(kin__run_sink *k)
{
	size_t n = k->pending - k->off;
	if (k->small_writes && n > PIPE_BUF)
		n = PIPE_BUF;
	ssize_t w = write(k->io->fd, k->buf + k->off, n);
	if (w < 0)
		return again() ? 0 : -errno;
	k->off += (size_t)w;
	if (k->off == k->pending)
		k->off = k->pending = 0;
	return 0;
}

/* ---- the child's end and the clock */

static void take_quota(kin__run_sink *k)
{
	int n = 0;
	k->quota = 0;
	if (pipe_open(k->pipe) && ioctl(kin_stream_fd(k->pipe), FIONREAD, &n) == 0)
		k->quota = n;
}

static void mark_exited(kin__run *st)
{
	st->exited = true;
	st->exit_at = st->last_data = kin_now();
	/* Input was for the child; a grandchild that holds its stdin gets EOF. */
	src_stop(&st->in);
	take_quota(&st->out);
	take_quota(&st->err);
}

static void check_timers(kin__run *st, kin_time now)
{
	if (st->exited)
		return;
	if (!st->timed_out && now >= st->deadline) {
		/* It may have ended on its own just now; then it did not time out. */
		if (kin_proc_poll(st->proc, NULL) == 1) {
			mark_exited(st);
			return;
		}
		st->timed_out = true;
		(void)kin_proc_kill(st->proc, st->timeout_signal);
		if (st->timeout_signal != SIGKILL)
			st->kill_at = sat_add(now, st->kill_after);
	}
	if (now >= st->kill_at) {
		st->kill_at = KIN_FOREVER;
		(void)kin_proc_kill(st->proc, SIGKILL);
	}
}

/* After the deadline, waiting on output has this much longer, the same
 * patience the child itself got after the timeout signal; past it kin_run
 * returns even if an output fd's reader never drains. */
static kin_time give_up_at(const kin__run *st)
{
	kin_time from = st->deadline > st->exit_at ? st->deadline : st->exit_at;
	return st->deadline == KIN_FOREVER ? KIN_FOREVER : sat_add(from, st->kill_after);
}

static bool sink_done(kin__run_sink *k)
{
	return k->pending == 0 && !pipe_open(k->pipe);
}

/* Only the quota is owed: everything else is a grandchild's. */
static bool sink_owes_nothing(const kin__run_sink *k)
{
	return k->pending == 0 && k->quota <= 0;
}

static bool finished(kin__run *st, kin_time now)
{
	if (sink_done(&st->out) && sink_done(&st->err))
		return true;
	if (now >= give_up_at(st))
		return true;
	if (!sink_owes_nothing(&st->out) || !sink_owes_nothing(&st->err))
		return false;
	return now >= sat_add(st->last_data, RUN_EXIT_GRACE) || now >= st->deadline;
}

static kin_time next_wake(const kin__run *st)
{
	kin_time wake = KIN_FOREVER;
	if (!st->exited) {
		wake = st->kill_at;
		if (!st->timed_out && st->deadline < wake)
			wake = st->deadline;
		return wake;
	}
	wake = give_up_at(st);
	if (sink_owes_nothing(&st->out) && sink_owes_nothing(&st->err)) {
		kin_time idle = sat_add(st->last_data, RUN_EXIT_GRACE);
		if (idle < wake)
			wake = idle;
		if (st->deadline < wake)
			wake = st->deadline;
	}
	return wake;
}

/* ---- the loop */

enum { P_STDIN, P_INFD, P_OUT, P_OUTFD, P_ERR, P_ERRFD, P_PIDFD, P_COUNT };

typedef struct pollset {
	struct pollfd fds[P_COUNT];
	int what[P_COUNT];
	nfds_t n;
} pollset;

static void want(pollset *ps, int fd, short events, int what)
{
	ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = events};
	ps->what[ps->n++] = what;
}

static void want_sink(pollset *ps, kin__run_sink *k, int pipe_what, int fd_what)
{
	if (pipe_open(k->pipe) && k->pending == 0)
		want(ps, kin_stream_fd(k->pipe), POLLIN, pipe_what);
	if (k->pending)
		want(ps, k->io->fd, POLLOUT, fd_what);
}

static void build(kin__run *st, pollset *ps)
{
	ps->n = 0;
	kin__run_src *in = &st->in;
	if (pipe_open(in->pipe) && in->pending)
		want(ps, kin_stream_fd(in->pipe), POLLOUT, P_STDIN);
	if (pipe_open(in->pipe) && !in->pending && !in->eof && in->io->kind == KIN_IO_FD)
		want(ps, in->io->fd, POLLIN, P_INFD);
	want_sink(ps, &st->out, P_OUT, P_OUTFD);
	want_sink(ps, &st->err, P_ERR, P_ERRFD);
	if (!st->exited)
		want(ps, kin_proc_pidfd(st->proc), POLLIN, P_PIDFD);
}

/* The state may have moved on since poll() (an earlier fd in the same
 * round can close the stdin pipe), so each case checks again. */
static int dispatch(kin__run *st, int what)
{
	kin__run_src *in = &st->in;
	switch (what) {
	case P_STDIN:
		return pipe_open(in->pipe) && in->pending ? src_write(in) : 0;
	case P_INFD:
		return pipe_open(in->pipe) && !in->pending && !in->eof ? src_read_fd(st) : 0;
	case P_OUT:
		return pipe_open(st->out.pipe) && !st->out.pending ? sink_read(st, &st->out) : 0;
	case P_ERR:
		return pipe_open(st->err.pipe) && !st->err.pending ? sink_read(st, &st->err) : 0;
	case P_OUTFD:
		return st->out.pending ? sink_flush(&st->out) : 0;
	case P_ERRFD:
		return st->err.pending ? sink_flush(&st->err) : 0;
	case P_PIDFD:
		if (!st->exited)
			mark_exited(st);
		return 0;
	}
	return 0;
}

int kin__run_pump(kin__run *st)
{
	for (;;) {
		kin_time now = kin_now();
		check_timers(st, now);
		int r = src_refill(st);
		if (r < 0)
			return r;
		if (st->in.eof && !st->in.pending)
			kin_stream_close(st->in.pipe);
		if (st->exited && finished(st, now))
			return 0;

		pollset ps;
		build(st, &ps);
		int ready = poll(ps.fds, ps.n, kin__timeout_ms(next_wake(st)));
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (nfds_t i = 0; i < ps.n && ready > 0; i++) {
			short rev = ps.fds[i].revents;
			if (!rev)
				continue;
			/* Someone closed an fd they lent us. */
			if (rev & POLLNVAL)
				return -EBADF;
			if ((r = dispatch(st, ps.what[i])) < 0)
				return r;
		}
	}
}
