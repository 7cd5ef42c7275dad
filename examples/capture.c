/* Feed a program and collect what it says, in one call: Exile's `stream!`.
 *
 * `sort` must read all its input before writing anything, and `sh` writes
 * to stdout and stderr at once: the classic ways a naive loop deadlocks.
 * kin_run moves every stream at the same time, holding at most one small
 * buffer each, and kills the child if it overruns the deadline. */
#include <kin.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int count_lines(const void *buf, size_t n, void *userdata)
{
	unsigned long *lines = userdata;
	for (const char *p = buf; (p = memchr(p, '\n', n - (size_t)(p - (const char *)buf))); p++)
		(*lines)++;
	return 0;
}

int main(void)
{
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 1;

	/* 1. A buffer in, a buffer out. */
	const char *sort_argv[] = {"sort", "-r", NULL};
	kin_spawn_opts sort = KIN_SPAWN_OPTS_INIT;
	sort.argv = sort_argv;
	char input[] = "apple\ncherry\nbanana\n";
	char output[64];
	size_t got = 0;
	kin_run_opts r = KIN_RUN_OPTS_INIT;
	r.in = (kin_io){.kind = KIN_IO_BUFFER, .buf = input, .len = strlen(input)};
	r.out = (kin_io){.kind = KIN_IO_BUFFER, .buf = output, .len = sizeof(output), .filled = &got};
	kin_run_result res;
	kin_spawn_error why;
	if (kin_run(loop, &sort, &r, &res, &why) < 0) {
		fprintf(stderr, "capture: %s\n", why.message);
		return 1;
	}
	printf("sort -r gave:\n%.*s", (int)got, output);

	/* 2. Megabytes on both stdout and stderr, consumed by callbacks. */
	const char *noisy_argv[] = {"sh", "-c", "seq 1 200000; seq 1 100000 >&2", NULL};
	kin_spawn_opts noisy = KIN_SPAWN_OPTS_INIT;
	noisy.argv = noisy_argv;
	unsigned long out_lines = 0, err_lines = 0;
	kin_run_opts r2 = KIN_RUN_OPTS_INIT;
	r2.out = (kin_io){.kind = KIN_IO_CALLBACK, .output = count_lines, .userdata = &out_lines};
	r2.err = (kin_io){.kind = KIN_IO_CALLBACK, .output = count_lines, .userdata = &err_lines};
	if (kin_run(loop, &noisy, &r2, &res, &why) < 0)
		return 1;
	char how[64];
	kin_status_format(&res.status, how, sizeof(how));
	printf("sh %s: %lu stdout lines, %lu stderr lines, no deadlock\n", how, out_lines,
	       err_lines);

	/* 3. A deadline: SIGTERM at 200 ms, SIGKILL 100 ms later if ignored. */
	const char *stuck_argv[] = {"sleep", "30", NULL};
	kin_spawn_opts stuck = KIN_SPAWN_OPTS_INIT;
	stuck.argv = stuck_argv;
	kin_run_opts r3 = KIN_RUN_OPTS_INIT;
	r3.deadline = kin_after(200 * KIN_MSEC);
	r3.kill_after_ns = 100 * KIN_MSEC;
	if (kin_run(loop, &stuck, &r3, &res, &why) < 0)
		return 1;
	kin_status_format(&res.status, how, sizeof(how));
	printf("sleep 30 with a 200 ms deadline: %s%s\n", how, res.timed_out ? ", timed out" : "");

	kin_loop_free(loop);
	return 0;
}
