/* Locks shared by every worker process of a host: files under
 * $NIXERY_STATE_DIR/locks held with flock, so that a lock dies with its
 * holder and a killed worker never leaves one behind. Waits are bounded by
 * the request's deadline (flock itself cannot wait with a time limit, so
 * waiting polls). The lock files stay: removing one while another worker
 * opens it would let two holders in at once. */
#ifndef NIXERY_LOCK_H
#define NIXERY_LOCK_H

#include <stdint.h>

#include "core/deadline.h"

#define LOCK_MAX_SLOTS 256

/* Takes locks/<kind>-<key>.lock. Returns the descriptor that holds it, or
 * -ETIMEDOUT / -ECANCELED when the deadline came first, or another
 * negative errno code. *waited_from_ms is 0 when the lock was free, else
 * the time (ms since the epoch) the wait began. */
int lock_take(const char *state_dir, const char *kind, const char *key,
	      const struct deadline *dl, int64_t *waited_from_ms);

/* Takes one of the host's n build slots (NIXERY_MAX_BUILDS), waiting
 * within the deadline; -EBUSY when none came free in time, -ECANCELED when
 * the worker stops. *waited_ms is how long the wait took. */
int lock_slot(const char *state_dir, int n, const struct deadline *dl, long *waited_ms);

/* Takes locks/<kind>-<key>.lock only if it is free right now: the
 * descriptor, or -EWOULDBLOCK. */
int lock_try(const char *state_dir, const char *kind, const char *key);

void lock_release(int fd);

/* Milliseconds since the epoch. */
int64_t lock_now_ms(void);

#endif
