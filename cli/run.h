/* `kin run`'s two halves: run_options.c turns the command line into a
 * run_config, run.c supervises the program it names. */
#ifndef KIN_CLI_RUN_H
#define KIN_CLI_RUN_H

#include "cli.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct run_config {
	int64_t timeout_ns; /* 0: no timeout */
	int timeout_signal;
	int64_t kill_after_ns; /* 0: send only timeout_signal, never SIGKILL */
	const char *cwd;
	bool clearenv;
	const char **env_set; /* NULL-terminated, in command-line order */
	size_t nset;
	const char **env_unset;
	size_t nunset;
	const char *stdio_path[3]; /* NULL inherits; "null" is /dev/null */
	bool verbose, group, tree, new_session;
	char **argv; /* the program and its arguments */
} run_config;

/* "--stdin", "--stdout", "--stderr", for messages. */
extern const char *const run_stdio_names[3];

/* Parses argv into cfg (whose lists the caller sized for argc entries).
 * Returns -1 to go on, or the exit status kin should end with now
 * (0 after --help or --version, 125 after a bad option, with its line
 * already printed). */
int run_parse_args(int argc, char **argv, run_config *cfg);

/* Prints "kin run: <message>" on stderr; returns CLI_EXIT_FAILURE. */
int run_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
