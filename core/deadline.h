/* One request's time limit, and the stop of the worker serving it. Every
 * wait and every Nix run of a request checks the same deadline, NIX_TIMEOUT
 * from the request's arrival to its answer. A worker that must stop sets
 * cancel once its grace period is over: whatever waits or runs on the
 * deadline then gives up at once. */
#ifndef NIXERY_DEADLINE_H
#define NIXERY_DEADLINE_H

#include <stdatomic.h>
#include <time.h>

struct deadline {
	struct timespec at;          /* on CLOCK_MONOTONIC */
	const atomic_int *cancel;    /* non-zero: give up now; may be NULL */
};

/* ms milliseconds from now. */
struct deadline deadline_in(long ms, const atomic_int *cancel);

/* Milliseconds left: 0 once passed or cancelled. */
long deadline_left_ms(const struct deadline *d);

/* 0 while time is left, -ECANCELED once cancelled, -ETIMEDOUT once passed. */
int deadline_check(const struct deadline *d);

/* Sleeps ms milliseconds, or less when the deadline comes first. */
void deadline_sleep(const struct deadline *d, long ms);

#endif
