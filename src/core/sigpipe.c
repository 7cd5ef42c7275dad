/* Holding SIGPIPE off while kin writes to pipes, so a reader that is gone
 * gives EPIPE instead of killing the process. The disposition is the
 * program's and is never touched: the signal is blocked in the calling
 * thread only, and one we raised is consumed before the mask is restored.
 * If the caller had SIGPIPE blocked already, a pending one may be theirs,
 * so it is left alone. Where the kernel can say "no signal" per write
 * (RWF_NOSIGNAL), single writes skip the mask dance altogether. */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Linux 6.15 and later take this pwritev2 flag: EPIPE without the signal. */
#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x00000100
#endif

static void pipe_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGPIPE);
}

void kin__sigpipe_block(kin__sigpipe_guard *g)
{
	sigset_t set;
	pipe_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

void kin__sigpipe_restore(const kin__sigpipe_guard *g, bool maybe_raised)
{
	if (maybe_raised && !sigismember(&g->old, SIGPIPE)) {
		sigset_t set, pending;
		pipe_set(&set);
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE) == 1) {
			struct timespec zero = {0, 0};
			while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
				;
		}
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Set once a kernel (or a seccomp filter) has refused RWF_NOSIGNAL. */
static atomic_bool nosignal_refused;

ssize_t kin__write_nosigpipe(int fd, const void *buf, size_t n)
{
	if (!atomic_load_explicit(&nosignal_refused, memory_order_relaxed)) {
		/* One syscall instead of three for every write to a pipe. */
		struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = n};
		ssize_t r = pwritev2(fd, &v, 1, -1, RWF_NOSIGNAL);
		if (r >= 0 ||
		    (errno != EOPNOTSUPP && errno != EINVAL && errno != ENOSYS && errno != EPERM))
			return r;
		atomic_store_explicit(&nosignal_refused, true, memory_order_relaxed);
	}
	kin__sigpipe_guard guard;
	kin__sigpipe_block(&guard);
	ssize_t r = write(fd, buf, n);
	int saved = errno;
	kin__sigpipe_restore(&guard, r < 0 && saved == EPIPE);
	errno = saved;
	return r;
}
