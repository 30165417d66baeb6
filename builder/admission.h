/* Warm work never waits for cold work. A request that needs Nix (an
 * evaluation, a build, a listing of the package set's names, or the wait
 * for another request's build of its image) holds a worker thread, or a
 * whole mod_fcgid process, for as long as Nix takes. So such a request is
 * admitted only while it leaves room for requests answered from what
 * exists: it takes one of the host's NIXERY_MAX_COLD tickets (flocks under
 * NIXERY_STATE_DIR/locks, which die with their holder), and a place among
 * its process's threads less a reserve. When neither is free it is
 * refused at once (503 with Retry-After), never queued: a queue of cold
 * requests is what used to hold every thread. */
#ifndef NIXERY_ADMISSION_H
#define NIXERY_ADMISSION_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/config.h"

/* One per process, shared by its threads. */
struct admission {
	const char *state_dir;
	int host_max;            /* NIXERY_MAX_COLD */
	int process_max;         /* NIXERY_THREADS less the reserve */
	atomic_int cold;         /* this process's requests admitted */
};

/* The reserve: a quarter of the threads, at least one, for a process
 * with more than one (a process of one thread, as under mod_fcgid, is
 * kept free by the host's limit). */
void admission_init(struct admission *a, const struct config *cfg);

/* Admits one request's cold work: 0 and *ticket to hand back to
 * admission_leave, or -EBUSY with a sentence in err. A NULL admission
 * (nixery-admin) admits everything. */
int admission_enter(struct admission *a, int *ticket, char *err, size_t errlen);
void admission_leave(struct admission *a, int ticket);

#endif
