#include "core.h"

#include <string.h>

const char *kin_version(void)
{
	return KIN_VERSION_STRING;
}

const char *kin_strerror(int err)
{
	if (err > 0)
		err = -err;
	if (err == 0)
		return "success";
	/* strerrordesc_np is thread-safe and never formats into a buffer. */
	const char *s = strerrordesc_np(-err);
	return s ? s : "unknown error";
}
