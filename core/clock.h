/* The two clocks: CLOCK_MONOTONIC for how long something took (no step
 * of the wall clock shows in it), and the wall clock, in milliseconds,
 * for what is recorded and compared between processes. */
#ifndef NIXERY_CLOCK_H
#define NIXERY_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Now on CLOCK_MONOTONIC, to measure from. */
struct timespec clock_start(void);
/* Seconds since start (clock_start). */
double clock_seconds_since(struct timespec start);
/* Milliseconds since *t, which becomes now: one stage's time of several. */
long clock_lap_ms(struct timespec *t);
/* Milliseconds since the epoch. */
int64_t clock_now_ms(void);

#endif
