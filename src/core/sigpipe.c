/* Holding SIGPIPE off while kin writes to pipes, so a reader that is gone
 * gives EPIPE instead of killing the process. The disposition is the
 * program's and is never touched: the signal is blocked in the calling
 * thread only, and one we raised is consumed before the mask is restored.
 * If the caller had SIGPIPE blocked already, a pending one may be theirs,
 * so it is left alone. */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

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
