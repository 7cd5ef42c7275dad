/* `seq 1 1000000 | grep 7 | wc -l`, with the data going from child to
 * child through kernel pipes; this program only reads the final answer. */
#include <kin.h>

#include <stdio.h>

int main(void)
{
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 1;
	const char *seq[] = {"seq", "1", "1000000", NULL};
	const char *grep[] = {"grep", "7", NULL};
	const char *wc[] = {"wc", "-l", NULL};
	kin_spawn_opts a = KIN_SPAWN_OPTS_INIT, b = KIN_SPAWN_OPTS_INIT, c = KIN_SPAWN_OPTS_INIT;
	a.argv = seq;
	b.argv = grep;
	c.argv = wc;
	c.stdio[1].kind = KIN_STDIO_PIPE; /* only the last stage talks to us */
	const kin_spawn_opts *stages[] = {&a, &b, &c};
	kin_proc *procs[3];
	kin_spawn_error why;
	if (kin_pipeline_spawn(loop, stages, 3, procs, &why) < 0) {
		fprintf(stderr, "pipeline: %s\n", why.message);
		return 1;
	}
	char answer[64] = "";
	size_t len = 0;
	ssize_t n;
	while ((n = kin_stream_read(kin_proc_stdout(procs[2]), answer + len,
				    sizeof(answer) - 1 - len, kin_after(10 * KIN_SEC))) > 0)
		len += (size_t)n;
	answer[len] = 0;
	printf("numbers up to a million containing a 7: %s", answer);
	for (int i = 0; i < 3; i++) {
		kin_status st;
		char how[64];
		kin_proc_wait(procs[i], kin_after(10 * KIN_SEC), &st);
		kin_status_format(&st, how, sizeof(how));
		printf("  stage %d (%s): %s\n", i, stages[i]->argv[0], how);
		kin_proc_free(procs[i]);
	}
	kin_loop_free(loop);
	return 0;
}
