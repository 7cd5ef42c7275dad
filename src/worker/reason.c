#include "worker.h"

#include <stdio.h>

int kin_exit_reason_format(const kin_exit_reason *r, char *buf, size_t size)
{
	if (!r)
		return snprintf(buf, size, "unknown");
	switch (r->kind) {
	case KIN_REASON_NONE:
		return snprintf(buf, size, "running");
	case KIN_REASON_NORMAL:
		return snprintf(buf, size, "normal");
	case KIN_REASON_EXIT:
		return snprintf(buf, size, "exit(%d)", r->code);
	case KIN_REASON_SIGNAL:
		return snprintf(buf, size, "signal(%d)", r->signal);
	case KIN_REASON_KILLED:
		return snprintf(buf, size, "killed");
	case KIN_REASON_HANDSHAKE:
		return snprintf(buf, size, "handshake failed");
	case KIN_REASON_PROTOCOL:
		return snprintf(buf, size, "protocol error");
	case KIN_REASON_CONNECTION_LOST:
		return snprintf(buf, size, "connection lost");
	case KIN_REASON_OUT_OF_MEMORY:
		return snprintf(buf, size, "out of memory");
	}
	return snprintf(buf, size, "unknown(%d)", (int)r->kind);
}
