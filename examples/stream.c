/* Talk to a child through back-pressured streams, event style.
 *
 * We feed 200,000 lines to `tr a-z A-Z` and read its output as it comes.
 * Nothing is buffered by kin: we write only when the pipe has room and read
 * only when we want to, so memory stays flat however big the data. */
#include <kin.h>

#include <stdio.h>
#include <string.h>

struct job {
	kin_loop *loop;
	int lines_sent, lines_total;
	char pending[64];
	size_t pending_len, pending_off;
	unsigned long bytes_back;
	char last[64];
	char how[64];
};

static void feed(kin_stream *in, void *userdata)
{
	struct job *j = userdata;
	for (;;) {
		if (j->pending_off == j->pending_len) {
			if (j->lines_sent == j->lines_total) {
				kin_stream_close(in); /* EOF for tr; we keep reading */
				return;
			}
			j->pending_len = (size_t)snprintf(j->pending, sizeof(j->pending),
							  "line %d of the example\n", ++j->lines_sent);
			j->pending_off = 0;
		}
		/* Deadline 0: write what fits now, come back when writable. */
		ssize_t n = kin_stream_write(in, j->pending + j->pending_off,
					     j->pending_len - j->pending_off, 0);
		if (n < 0)
			return;
		j->pending_off += (size_t)n;
	}
}

static void drain(kin_stream *out, void *userdata)
{
	struct job *j = userdata;
	char buf[16384];
	ssize_t n = kin_stream_read(out, buf, sizeof(buf), 0);
	if (n > 0) {
		j->bytes_back += (unsigned long)n;
		size_t keep = (size_t)n < sizeof(j->last) - 1 ? (size_t)n : sizeof(j->last) - 1;
		memcpy(j->last, buf + n - (ssize_t)keep, keep);
		j->last[keep] = 0;
	} else if (n == 0) {
		kin_stream_on_readable(out, NULL, NULL); /* EOF */
	}
}

static void ended(kin_proc *proc, const kin_status *st, void *userdata)
{
	(void)proc;
	struct job *j = userdata;
	/* Output may still sit in the pipe: exit and EOF are separate events. */
	kin_status_format(st, j->how, sizeof(j->how));
}

int main(void)
{
	struct job j = {.lines_total = 200000};
	if (kin_loop_new(&j.loop) < 0)
		return 1;
	const char *argv[] = {"tr", "a-z", "A-Z", NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.stdio[0].kind = KIN_STDIO_PIPE;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *tr;
	kin_spawn_error why;
	if (kin_proc_spawn(j.loop, &o, &tr, &why) < 0) {
		fprintf(stderr, "stream: %s\n", why.message);
		return 1;
	}
	kin_stream_on_writable(kin_proc_stdin(tr), feed, &j);
	kin_stream_on_readable(kin_proc_stdout(tr), drain, &j);
	kin_proc_on_exit(tr, ended, &j);
	/* Returns when nothing is left to wait for: input sent, output at EOF,
	 * and the exit reported. */
	kin_loop_run(j.loop, KIN_FOREVER);
	const char *nl = strrchr(j.last, '\n');
	while (nl && nl > j.last && nl[-1] != '\n')
		nl--;
	printf("tr %s after sending %d lines; %lu bytes came back, the last line:\n%s", j.how,
	       j.lines_sent, j.bytes_back, nl ? nl : "");
	kin_proc_free(tr);
	kin_loop_free(j.loop);
	return 0;
}
