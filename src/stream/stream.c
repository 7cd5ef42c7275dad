/* Back-pressured byte streams over the owner's end of a pipe. kin keeps no
 * buffer of its own here: bytes go from the kernel pipe straight into the
 * caller's buffer and back, so the pipe's capacity is all a stream holds. */
#include "../proc/proc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct kin_stream {
	kin_proc *proc;
	int fd;
	bool writer;
	kin_watch *watch;
	kin_stream_cb cb;
	void *userdata;
};

int kin__stream_new(kin_proc *proc, int fd, bool writer, kin_stream **ret)
{
	kin_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->proc = proc;
	s->fd = fd;
	s->writer = writer;
	*ret = s;
	return 0;
}

void kin_stream_close(kin_stream *s)
{
	if (!s || s->fd < 0)
		return;
	kin_watch_free(s->watch);
	s->watch = NULL;
	kin__close_p(&s->fd);
}

void kin__stream_free(kin_stream *s)
{
	kin_stream_close(s);
	free(s);
}

int kin_stream_fd(const kin_stream *s)
{
	return s ? s->fd : -1;
}

ssize_t kin_stream_read(kin_stream *s, void *buf, size_t n, kin_time deadline)
{
	if (!s || s->writer)
		return -EINVAL;
	if (n == 0)
		return 0;
	for (;;) {
		if (s->fd < 0)
			return -EBADF;
		ssize_t r = read(s->fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int pr = kin__poll_fd(s->fd, POLLIN, deadline);
		if (pr < 0)
			return pr;
	}
}

ssize_t kin_stream_write(kin_stream *s, const void *buf, size_t n, kin_time deadline)
{
	if (!s || !s->writer)
		return -EINVAL;
	size_t done = 0;
	int err = 0;
	while (done < n) {
		if (s->fd < 0) {
			err = -EBADF;
			break;
		}
		ssize_t r = kin__write_nosigpipe(s->fd, (const char *)buf + done, n - done);
		if (r > 0) {
			done += (size_t)r;
			/* A short write means the pipe is full: with no time left,
			 * don't spend a syscall learning that again. */
			if (done < n && kin_now() >= deadline)
				break;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN) {
			err = -errno;
			break;
		}
		int pr = kin__poll_fd(s->fd, POLLOUT, deadline);
		if (pr < 0) {
			err = pr;
			break;
		}
		/* POLLERR alone means the reader is gone; the next write says EPIPE. */
	}
	return done ? (ssize_t)done : err ? err : 0;
}

static void on_ready(kin_watch *w, unsigned events, void *userdata)
{
	(void)w;
	(void)events;
	kin_stream *s = userdata;
	if (s->cb)
		s->cb(s, s->userdata);
}

static int watch_for(kin_stream *s, bool want_writer, kin_stream_cb cb, void *userdata)
{
	if (!s || s->writer != want_writer)
		return -EINVAL;
	if (s->fd < 0)
		return cb ? -EBADF : 0;
	s->cb = cb;
	s->userdata = userdata;
	if (!cb)
		return s->watch ? kin_watch_set(s->watch, 0) : 0;
	if (!s->watch) {
		int r = kin_watch_new(s->proc->loop, s->fd, on_ready, s, &s->watch);
		if (r < 0)
			return r;
	}
	return kin_watch_set(s->watch, want_writer ? KIN_WRITABLE : KIN_READABLE);
}

int kin_stream_on_readable(kin_stream *s, kin_stream_cb cb, void *userdata)
{
	return watch_for(s, false, cb, userdata);
}

int kin_stream_on_writable(kin_stream *s, kin_stream_cb cb, void *userdata)
{
	return watch_for(s, true, cb, userdata);
}
