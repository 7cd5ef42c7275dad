/* Fuzz target: the parsers of kin's command-line values, the only decoder
 * of outside bytes in the foundation. Any input must give 0 with a sane
 * value or a negative errno, and never crash or read out of bounds. */
#include "../cli/parse.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan sees any read past the terminator. */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	int64_t ns = -1;
	int r = cli_parse_duration(s, &ns);
	if (r == 0 && ns < 0)
		abort();
	if (r != 0 && r != -EINVAL && r != -ERANGE)
		abort();
	if (r != 0 && ns != -1)
		abort(); /* output must be untouched on failure */

	int sig = -1;
	r = cli_parse_signal(s, &sig);
	if (r == 0 && (sig < 1 || sig > SIGRTMAX))
		abort();
	if (r != 0 && (r != -EINVAL || sig != -1))
		abort();

	bool assign = cli_env_assignment_ok(s), name = cli_env_name_ok(s);
	if (name && (assign || strchr(s, '=')))
		abort(); /* a name has no '=', an assignment needs one */

	free(s);
	return 0;
}
