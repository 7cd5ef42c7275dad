/* What the kin command's files share: one entry point per subcommand, and
 * the exit codes every subcommand uses. */
#ifndef KIN_CLI_H
#define KIN_CLI_H

#include <stdio.h>

/* timeout(1) and env(1) conventions, so scripts can tell kin's own
 * failures from the program's. */
enum {
	CLI_EXIT_TIMEOUT = 124,      /* the program ran out of time */
	CLI_EXIT_FAILURE = 125,      /* kin itself failed, bad usage included */
	CLI_EXIT_CANNOT_EXEC = 126,  /* found but could not be executed */
	CLI_EXIT_NOT_FOUND = 127,    /* no such program */
};

/* `kin run`: argv[0] is "run". Returns the exit status for kin. */
int cli_run(int argc, char **argv);
void cli_run_usage(FILE *f);

#endif
