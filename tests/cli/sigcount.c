/* Test helper for test-run.sh: counts how often a signal arrives.
 *
 *   sigcount READY_FILE SIGNUM
 *
 * Creates READY_FILE once the handler is in place, waits (up to 10 s) for
 * the first signal, gives a duplicate 0.5 s to turn up, and prints
 * "count=N". The handler sleeps a little, with the signal blocked, so a
 * copy arriving just after the first is held pending and counted rather
 * than merged into the first. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t count;

static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void on_signal(int sig)
{
	(void)sig;
	count++;
	nap(200);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	if (sigaction(atoi(argv[2]), &sa, NULL) != 0)
		return 2;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return 2;
	close(fd);
	for (int i = 0; i < 1000 && count == 0; i++)
		nap(10);
	nap(500);
	printf("count=%d\n", (int)count);
	return 0;
}
