/* kin_pipeline_spawn: a | b | c, joined by kernel pipes that only the
 * stages hold. The owner makes each pipe, lends its ends to the two stages
 * as KIN_STDIO_FD, and closes its own copies right after each spawn: then
 * when a writer exits its reader sees EOF, and when a reader exits its
 * writer sees EPIPE, exactly as in a shell. */
#include "../proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bury(kin_proc **procs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* kin_proc_free spares a detached stage; a half-built pipeline
		 * must not leave one running. */
		(void)kin_proc_kill(procs[i], SIGKILL);
		kin_proc_free(procs[i]);
	}
}

/* Prefixes the message with the failing stage's index in stages[]. */
__attribute__((format(printf, 5, 6))) static void
stage_error(kin_spawn_error *why, size_t stage, int err, kin_spawn_step step, const char *fmt, ...)
{
	if (!why)
		return;
	char msg[sizeof(why->message)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kin__spawn_error(why, err, step, "stage %zu: %s", stage, msg);
}

int kin_pipeline_spawn(kin_loop *loop, const kin_spawn_opts *const *stages, size_t n,
		       kin_proc **procs, kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!loop || !stages || !procs || n == 0) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "kin_pipeline_spawn: loop, stages, procs and n > 0 are required");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!stages[i]) {
			stage_error(why, i, -EINVAL, KIN_STEP_OPTIONS, "no options given");
			return -EINVAL;
		}
	/* procs[] is only written once every stage runs. */
	kin_proc **started = calloc(n, sizeof(*started));
	if (!started) {
		kin__spawn_error(why, -ENOMEM, KIN_STEP_RESOURCES, "out of memory");
		return -ENOMEM;
	}
	int r = 0;
	int upstream = -1; /* read end of the pipe from the previous stage */
	size_t i;
	for (i = 0; i < n; i++) {
		kin_spawn_opts o = *stages[i];
		int p[2] = {-1, -1};
		if (i > 0)
			o.stdio[0] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = upstream};
		if (i + 1 < n) {
			if ((r = kin__pipe(p)) < 0) {
				stage_error(why, i, r, KIN_STEP_RESOURCES, "cannot make a pipe: %s", kin_strerror(r));
				break;
			}
			/* The writer's pipe_size sizes the pipe it writes into. */
			if (o.pipe_size && fcntl(p[0], F_SETPIPE_SZ, (int)o.pipe_size) < 0) {
				r = -errno;
				stage_error(why, i, r, KIN_STEP_OPTIONS, "cannot set pipe size %zu: %s",
					    o.pipe_size, kin_strerror(r));
				kin__close_p(&p[0]);
				kin__close_p(&p[1]);
				break;
			}
			o.stdio[1] = (kin_stdio){.kind = KIN_STDIO_FD, .fd = p[1]};
		}
		kin_spawn_error stage_why;
		r = kin_proc_spawn(loop, &o, &started[i], &stage_why);
		/* The stages hold their own copies now; ours would keep EOF away. */
		kin__close_p(&upstream);
		kin__close_p(&p[1]);
		upstream = p[0];
		if (r < 0) {
			stage_error(why, i, r, stage_why.step, "%s", stage_why.message);
			break;
		}
	}
	kin__close_p(&upstream);
	if (r < 0) {
		bury(started, i);
		free(started);
		return r;
	}
	memcpy(procs, started, n * sizeof(*procs));
	free(started);
	return 0;
}
