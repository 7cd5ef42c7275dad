/* The kin command: picks the subcommand and answers --help and --version.
 * Each subcommand lives in its own file. */
#include "cli.h"

#include "kin.h"

#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: kin COMMAND [ARGS...]\n"
		   "       kin --help | --version\n"
		   "\n"
		   "Commands:\n"
		   "  run     run a program under supervision: timeouts, signal forwarding,\n"
		   "          and nothing left behind when kin dies\n"
		   "  help    show this text, or `kin help COMMAND` for one command\n"
		   "\n"
		   "Exit status of kin run: the program's own, 128+N if signal N killed it,\n"
		   "124 timed out, 125 kin failed, 126 cannot execute, 127 not found.\n");
}

static int help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "run") == 0) {
		cli_run_usage(stdout);
		return 0;
	}
	fprintf(stderr, "kin: no help for unknown command '%s'; try 'kin --help'\n", argv[1]);
	return CLI_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "kin: missing COMMAND\n");
		usage(stderr);
		return CLI_EXIT_FAILURE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return cli_run(argc - 1, argv + 1);
	if (strcmp(cmd, "help") == 0)
		return help(argc - 1, argv + 1);
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("kin %s\n", kin_version());
		return 0;
	}
	if (cmd[0] == '-')
		fprintf(stderr, "kin: unknown option '%s'\n", cmd);
	else
		fprintf(stderr, "kin: unknown command '%s'\n", cmd);
	usage(stderr);
	return CLI_EXIT_FAILURE;
}
