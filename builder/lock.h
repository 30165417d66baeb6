/* Locks shared by every worker process of a host: files under
 * $NIXERY_STATE_DIR/locks held with flock, so that a lock dies with its
 * holder and a killed worker never leaves one behind. Waits are bounded by
 * the request's deadline (flock itself cannot wait with a time limit, so
 * waiting polls). gc removes lock files nobody holds: a taker that had
 * one open, and locked it after it was removed, finds it no longer at its
 * path and opens the path again, so that every holder of a name holds the
 * same file and no two hold it at once. */
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
 * the worker stops. *waited_ms is how long the wait took: 0 when a slot
 * was free at once. */
int lock_slot(const char *state_dir, int n, const struct deadline *dl, long *waited_ms);

/* Takes one of the host's n cold-request tickets (admission.h) if one is
 * free right now: the descriptor, or -EBUSY. */
int lock_ticket(const char *state_dir, int n);

/* Takes one of a client's n places (admission.h) if one is free right
 * now: the descriptor, or -EBUSY. client is a name of hex digits. */
int lock_client(const char *state_dir, const char *client, int n);

/* Takes locks/<kind>-<key>.lock only if it is free right now: the
 * descriptor, or -EWOULDBLOCK. */
int lock_try(const char *state_dir, const char *kind, const char *key);

/* Whether someone holds locks/<kind>-<key>.lock right now: 1 or 0. It
 * creates nothing (a lock file that is not there is held by nobody), for
 * tools that only look. */
int lock_held(const char *state_dir, const char *kind, const char *key);

/* Builds and the garbage collector. A build holds locks/pack.lock shared
 * from its first look at the layers it may reuse to the record of its
 * image; gc holds it exclusively while it removes, so it never removes a
 * blob a build is about to name. Before either, locks/gate.lock: gc takes
 * it first, so builds that start meanwhile wait instead of starving it.
 * Both wait within the deadline: -ETIMEDOUT, or -ECANCELED. */
int lock_build(const char *state_dir, const struct deadline *dl);
int lock_gc(const char *state_dir, const struct deadline *dl, int *gate);

/* Removes the image, layer and client lock files nobody holds (gc, under
 * lock_gc). A request may be waiting on one: it takes the file made
 * again at the path instead. Returns how many went. */
int lock_remove_free(const char *state_dir);

void lock_release(int fd);

#endif
