#include "proc.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

void kin__status_from_wait(kin_status *st, int ws)
{
	if (WIFEXITED(ws)) {
		st->kind = KIN_EXITED;
		st->code = WEXITSTATUS(ws);
	} else if (WIFSIGNALED(ws)) {
		st->kind = KIN_KILLED;
		st->signal = WTERMSIG(ws);
		st->core_dumped = WCOREDUMP(ws);
	}
}

void kin__status_from_siginfo(kin_status *st, const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		st->kind = KIN_EXITED;
		st->code = si->si_status;
		break;
	case CLD_DUMPED:
		st->core_dumped = true;
		/* fall through */
	case CLD_KILLED:
		st->kind = KIN_KILLED;
		st->signal = si->si_status;
		break;
	default:
		break;
	}
}

int kin_status_shell_code(const kin_status *st)
{
	switch (st->kind) {
	case KIN_EXITED:
		return st->code;
	case KIN_KILLED:
		return 128 + st->signal;
	default:
		return -1;
	}
}

int kin_status_format(const kin_status *st, char *buf, size_t size)
{
	switch (st->kind) {
	case KIN_EXITED:
		return snprintf(buf, size, "exited(%d)", st->code);
	case KIN_KILLED: {
		const char *name = sigabbrev_np(st->signal);
		const char *why = st->oom_killed    ? ", out of memory"
				  : st->core_dumped ? ", core dumped"
						    : "";
		if (name)
			return snprintf(buf, size, "killed(SIG%s%s)", name, why);
		return snprintf(buf, size, "killed(%d%s)", st->signal, why);
	}
	case KIN_EXIT_UNKNOWN:
		return snprintf(buf, size, "ended(status unknown: detached)");
	default:
		return snprintf(buf, size, "running");
	}
}
