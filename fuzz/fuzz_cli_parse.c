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

	/* The sandbox options' values: same contract, and each result within
	 * its documented range. */
	uint64_t n = 42;
	r = cli_parse_uint(s, 1000, &n);
	if ((r == 0 && n > 1000) || (r != 0 && ((r != -EINVAL && r != -ERANGE) || n != 42)))
		abort();
	n = 42;
	r = cli_parse_size(s, &n);
	if (r != 0 && ((r != -EINVAL && r != -ERANGE) || n != 42))
		abort();
	if (r == 0 && strchr(s, 'K') && n % 1024)
		abort();
	uint32_t millis = 42;
	r = cli_parse_cpus(s, &millis);
	if (r != 0 && ((r != -EINVAL && r != -ERANGE) || millis != 42))
		abort();
	mode_t mode = 0777777;
	r = cli_parse_mode(s, &mode);
	if ((r == 0 && mode > 07777) || (r != 0 && ((r != -EINVAL && r != -ERANGE) || mode != 0777777)))
		abort();
	int res = -1;
	r = cli_parse_rlimit_name(s, &res);
	if ((r == 0 && (res < 0 || res >= RLIM_NLIMITS)) || (r != 0 && (r != -EINVAL || res != -1)))
		abort();
	struct rlimit lim = {7, 7};
	r = cli_parse_rlimit_value(s, &lim);
	if (r == 0 && lim.rlim_cur > lim.rlim_max)
		abort();
	if (r != 0 && ((r != -EINVAL && r != -ERANGE && r != -EDOM) || lim.rlim_cur != 7 ||
		       lim.rlim_max != 7))
		abort();
	uint64_t caps = 0;
	r = cli_parse_capability(s, &caps);
	if (r == 0 && (caps == 0 || (caps & ~CLI_CAPS_ALL) ||
		       (caps != CLI_CAPS_ALL && (caps & (caps - 1)))))
		abort(); /* one capability, or all of them */
	if (r != 0 && (r != -EINVAL || caps != 0))
		abort();

	free(s);
	return 0;
}
