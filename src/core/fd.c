#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

void kin__close(int fd)
{
	if (fd < 0)
		return;
	int saved = errno;
	/* Never retry: on Linux the fd is gone even when close reports EINTR. */
	(void)close(fd);
	errno = saved;
}

void kin__close_p(int *fd)
{
	kin__close(*fd);
	*fd = -1;
}

int kin__set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	int want = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	if (want != flags && fcntl(fd, F_SETFL, want) < 0)
		return -errno;
	return 0;
}

int kin__poll_fd(int fd, short events, kin_time deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	for (;;) {
		int n = poll(&p, 1, kin__timeout_ms(deadline));
		if (n > 0)
			return p.revents;
		if (n == 0) {
			if (deadline != KIN_FOREVER && kin_now() >= deadline)
				return -ETIMEDOUT;
			continue; /* woke a hair early: poll rounds to ms */
		}
		if (errno != EINTR)
			return -errno;
	}
}

ssize_t kin__read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int kin__write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const char *)buf + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

int kin__write_file_at(int dir, const char *path, const char *text)
{
	int fd = openat(dir, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = kin__write_full(fd, text, strlen(text));
	kin__close(fd);
	return r;
}

/* kin never hands out an fd below 3: a program that closed its own stdin
 * would otherwise find a kin pipe sitting on fd 0, and inheriting "stdin"
 * would leak it into the child. */
int kin__fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int err = errno;
	kin__close(fd);
	errno = err;
	return moved;
}

int kin__pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	p[0] = kin__fd_above_stdio(p[0]);
	p[1] = kin__fd_above_stdio(p[1]);
	if (p[0] < 0 || p[1] < 0) {
		int err = -errno;
		kin__close_p(&p[0]);
		kin__close_p(&p[1]);
		return err;
	}
	return 0;
}
