/* Internal state of one kin_run call, shared by run.c (options, spawn,
 * reaping) and run_pump.c (moving the bytes). */
#ifndef KIN_RUN_H
#define KIN_RUN_H

#include "../proc/proc.h"

#include <errno.h>

/* The child's stdin side. */
typedef struct kin__run_src {
	const kin_io *io;
	kin_stream *pipe; /* closed (fd -1) once input is over */
	char *buf;        /* staging for FD and CALLBACK input */
	const char *data; /* next bytes to write: into io->buf or buf */
	size_t pending;
	bool eof; /* the source has nothing beyond `pending` */
	uint64_t moved;
} kin__run_src;

/* The child's stdout or stderr side. */
typedef struct kin__run_sink {
	const kin_io *io;
	kin_stream *pipe; /* NULL when not piped; fd -1 after EOF */
	char *buf;        /* staging for FD/CALLBACK, scratch for a full BUFFER */
	size_t pending, off; /* FD: buf[off..pending) still to write */
	size_t filled;       /* BUFFER: bytes stored */
	bool small_writes;   /* FD that may block: PIPE_BUF at a time after POLLOUT */
	/* Bytes still in the pipe when the child exited: those were written by
	 * it (or before it ended) and are always delivered. */
	int64_t quota;
	uint64_t moved;
} kin__run_sink;

typedef struct kin__run {
	kin_proc *proc;
	kin__run_src in;
	kin__run_sink out, err;
	size_t bufsize;
	kin_time deadline; /* KIN_FOREVER when none */
	int timeout_signal;
	int64_t kill_after;
	kin_time kill_at; /* pending SIGKILL after the timeout signal */
	bool timed_out;
	bool truncated;
	bool exited;
	kin_time exit_at;
	kin_time last_data; /* after exit: when output last arrived */
} kin__run;

/* Moves data until the child has exited and its output is delivered.
 * Returns 0, or a negative errno to abort (the caller kills the child). */
int kin__run_pump(kin__run *st);

#endif
