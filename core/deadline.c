#include "core/deadline.h"

#include <errno.h>

struct deadline deadline_in(long ms, const atomic_int *cancel)
{
	struct deadline d = { .cancel = cancel };

	clock_gettime(CLOCK_MONOTONIC, &d.at);
	d.at.tv_sec += ms / 1000;
	d.at.tv_nsec += (ms % 1000) * 1000000L;
	d.at.tv_sec += d.at.tv_nsec / 1000000000L;
	d.at.tv_nsec %= 1000000000L;
	return d;
}

static long ms_until(const struct timespec *at)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (at->tv_sec - now.tv_sec) * 1000L + (at->tv_nsec - now.tv_nsec) / 1000000L;
}

int deadline_check(const struct deadline *d)
{
	if (d->cancel && atomic_load(d->cancel))
		return -ECANCELED;
	return ms_until(&d->at) > 0 ? 0 : -ETIMEDOUT;
}

long deadline_left_ms(const struct deadline *d)
{
	long left;

	if (deadline_check(d) < 0)
		return 0;
	left = ms_until(&d->at);
	return left > 0 ? left : 0;
}

void deadline_sleep(const struct deadline *d, long ms)
{
	long left = deadline_left_ms(d);
	struct timespec t;

	if (ms > left)
		ms = left;
	if (ms <= 0)
		return;
	t.tv_sec = ms / 1000;
	t.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}
