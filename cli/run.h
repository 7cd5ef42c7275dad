/* `kin run`'s two halves: run_options.c turns the command line into a
 * run_config, run.c supervises the program it names. */
#ifndef KIN_CLI_RUN_H
#define KIN_CLI_RUN_H

#include "cli.h"
#include "run_sandbox.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct run_config {
	int64_t timeout_ns; /* 0: no timeout */
	int timeout_signal;
	int64_t kill_after_ns; /* 0: send only timeout_signal, never SIGKILL */
	const char *cwd;
	const char *cwd_option; /* "--cwd" or "--chdir", for messages */
	bool clearenv;
	const char **env_set; /* NULL-terminated, in command-line order */
	size_t nset;
	const char **env_unset;
	size_t nunset;
	const char *stdio_path[3]; /* NULL inherits; "null" is /dev/null */
	bool verbose, group, tree, new_session;
	run_sandbox sandbox;
	char **argv; /* the program and its arguments */
} run_config;

/* Sets the defaults and sizes the lists for argc arguments; 0 or -ENOMEM.
 * run_config_free frees it again (also after a failed init). */
int run_config_init(run_config *cfg, int argc);
void run_config_free(run_config *cfg);

/* "--stdin", "--stdout", "--stderr", for messages. */
extern const char *const run_stdio_names[3];

/* Parses argv into cfg (made by run_config_init with the same argc).
 * Returns -1 to go on, or the exit status kin should end with now
 * (0 after --help or --version, 125 after a bad option, with its line
 * already printed). */
int run_parse_args(int argc, char **argv, run_config *cfg);

/* Prints "kin run: <message>" on stderr; returns CLI_EXIT_FAILURE. */
int run_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, ending in "; try 'kin run --help'", for a misused option. */
int run_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --env/--setenv and --unset/--unsetenv: `opt` names the option for the
 * message. Return 0, or CLI_EXIT_FAILURE with its line printed. */
int run_env_set(run_config *cfg, const char *opt, const char *assignment);
int run_env_unset(run_config *cfg, const char *opt, const char *name);

#endif
