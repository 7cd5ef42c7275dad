#include "core.h"

#include <time.h>

kin_time kin_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (kin_time)ts.tv_sec * KIN_SEC + ts.tv_nsec;
}

kin_time kin_after(int64_t ns)
{
	kin_time now = kin_now();
	if (ns <= 0)
		return now;
	if (ns >= KIN_FOREVER - now)
		return KIN_FOREVER;
	return now + ns;
}

int kin__timeout_ms(kin_time deadline)
{
	if (deadline == KIN_FOREVER)
		return -1;
	kin_time left = deadline - kin_now();
	if (left <= 0)
		return 0;
	int64_t ms = (left + KIN_MSEC - 1) / KIN_MSEC;
	return ms > 1000000000 ? 1000000000 : (int)ms;
}
