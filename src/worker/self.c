/* The owner's own binary, held open from kin_main on, so a worker is
 * always the program that is running even after the file on disk was
 * replaced (an upgrade in place, a rebuilt test binary). */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;
static int self_fd = -1;
static const char *self_argv0;

int kin__self_exe_fd(void)
{
	pthread_mutex_lock(&self_lock);
	if (self_fd < 0)
		self_fd = kin__fd_above_stdio(open("/proc/self/exe", O_PATH | O_CLOEXEC));
	int r = self_fd >= 0 ? self_fd : -errno;
	pthread_mutex_unlock(&self_lock);
	return r;
}

const char *kin__self_argv0(void)
{
	return self_argv0 ? self_argv0 : "kin-worker";
}

void kin__self_remember(int argc, char **argv)
{
	if (argc > 0 && argv && argv[0])
		self_argv0 = argv[0];
}
