/* Test helper for test-run.sh: runs a command on a new pseudo-terminal,
 * as a terminal session would, and types one control character into it.
 *
 *   ptyrun READY_FILE CHAR_CODE COMMAND [ARG...]
 *
 * The command leads a new session whose controlling terminal is the pty,
 * so it is the terminal's foreground process group. Once READY_FILE
 * exists, CHAR_CODE (3 is ^C, 28 is ^\) is written to the terminal, and
 * the terminal itself signals the foreground group (SI_KERNEL). Copies the
 * terminal's output to stdout and exits with the command's shell status.
 * Gives up after 15 s. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		return 2;
	const char *name = ptsname(master);
	unlink(argv[1]);
	pid_t pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		setsid();
		int slave = open(name, O_RDWR);
		if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
			_exit(2);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		if (slave > 2)
			close(slave);
		execvp(argv[3], argv + 3);
		_exit(127);
	}
	double deadline = now() + 15;
	char c = (char)atoi(argv[2]);
	int sent = 0, status = 0;
	for (;;) {
		if (!sent && access(argv[1], F_OK) == 0) {
			if (write(master, &c, 1) == 1)
				sent = 1;
		}
		struct pollfd pf = {.fd = master, .events = POLLIN};
		if (poll(&pf, 1, 20) > 0) {
			char buf[512];
			ssize_t n = read(master, buf, sizeof(buf));
			if (n > 0)
				fwrite(buf, 1, (size_t)n, stdout);
		}
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (now() > deadline) {
			fprintf(stderr, "ptyrun: timed out\n");
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 124;
		}
	}
	/* Output written just before exit is still in the terminal. */
	struct pollfd pf = {.fd = master, .events = POLLIN};
	while (poll(&pf, 1, 50) > 0) {
		char buf[512];
		ssize_t n = read(master, buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
