#include "builder/admission.h"

#include <errno.h>
#include <stdio.h>

#include "builder/lock.h"

void admission_init(struct admission *a, const struct config *cfg)
{
	int reserve = cfg->threads > 1 ? (cfg->threads / 4 > 1 ? cfg->threads / 4 : 1) : 0;

	a->state_dir = cfg->state_dir;
	a->host_max = cfg->max_cold;
	a->process_max = cfg->threads - reserve;
	atomic_init(&a->cold, 0);
}

int admission_enter(struct admission *a, int *ticket, char *err, size_t errlen)
{
	*ticket = -1;
	if (!a)
		return 0;
	if (atomic_fetch_add(&a->cold, 1) >= a->process_max) {
		atomic_fetch_sub(&a->cold, 1);
		snprintf(err, errlen, "this worker's threads that may wait for Nix are all waiting for it "
			 "(the rest answer what is built already): try again shortly");
		return -EBUSY;
	}
	*ticket = lock_ticket(a->state_dir, a->host_max);
	if (*ticket == -EBUSY) {
		atomic_fetch_sub(&a->cold, 1);
		snprintf(err, errlen, "%d requests (NIXERY_MAX_COLD) are already waiting for images to be "
			 "evaluated or built on this host: try again shortly", a->host_max);
		*ticket = -1;
		return -EBUSY;
	}
	/* A lock file that cannot be opened limits nothing: the build's own
	 * locks will say what is wrong. */
	if (*ticket < 0)
		*ticket = -1;
	return 0;
}

void admission_leave(struct admission *a, int ticket)
{
	if (!a)
		return;
	lock_release(ticket);
	atomic_fetch_sub(&a->cold, 1);
}
