#include "proc.h"

#include <stdarg.h>
#include <stdio.h>

const char *kin_spawn_step_name(kin_spawn_step step)
{
	switch (step) {
	case KIN_STEP_NONE:
		return "none";
	case KIN_STEP_OPTIONS:
		return "options";
	case KIN_STEP_RESOURCES:
		return "resources";
	case KIN_STEP_CLONE:
		return "clone";
	case KIN_STEP_FDS:
		return "fds";
	case KIN_STEP_SESSION:
		return "session";
	case KIN_STEP_RLIMIT:
		return "rlimit";
	case KIN_STEP_CREDENTIALS:
		return "credentials";
	case KIN_STEP_CWD:
		return "cwd";
	case KIN_STEP_EXEC:
		return "exec";
	case KIN_STEP_HANDSHAKE:
		return "handshake";
	case KIN_STEP_NAMESPACES:
		return "namespaces";
	case KIN_STEP_MOUNT:
		return "mount";
	case KIN_STEP_NETWORK:
		return "network";
	case KIN_STEP_CGROUP:
		return "cgroup";
	case KIN_STEP_INIT_HOOK:
		return "init hook";
	case KIN_STEP_PRIVILEGES:
		return "privileges";
	case KIN_STEP_LANDLOCK:
		return "landlock";
	case KIN_STEP_SECCOMP:
		return "seccomp";
	}
	return "unknown";
}

void kin__spawn_error(kin_spawn_error *why, int err, kin_spawn_step step, const char *fmt, ...)
{
	if (!why)
		return;
	why->error = err;
	why->step = step;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why->message, sizeof(why->message), fmt, ap);
	va_end(ap);
}
