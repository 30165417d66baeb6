/* The order of the checks is the order of what a client can do about
 * them: nothing (403, another user must ask), wait for its own requests
 * (429), wait for everyone's (503). */
#include "builder/admission.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "builder/lock.h"
#include "core/digest.h"
#include "core/policy.h"

const char *admission_asker_name(const struct asker *who)
{
	if (who && who->user)
		return who->user;
	return who && who->addr ? who->addr : "unknown";
}

void admission_init(struct admission *a, const struct config *cfg)
{
	int reserve = cfg->threads > 1 ? (cfg->threads / 4 > 1 ? cfg->threads / 4 : 1) : 0;

	a->state_dir = cfg->state_dir;
	a->build_users = cfg->build_users;
	a->client_max = cfg->max_per_client;
	a->host_max = cfg->max_cold;
	a->process_max = cfg->threads - reserve;
	atomic_init(&a->cold, 0);
}

/* The client's places: a user's wherever it comes from, an address's for
 * everyone unauthenticated there. Named by a hash: names and addresses
 * never reach a path. */
static int take_client_place(struct admission *a, const struct asker *who, int *fd, char *err, size_t errlen)
{
	char id[POLICY_WORD_MAX + 64], hex[DIGEST_HEX_LEN + 1];

	*fd = -1;
	if (a->client_max == 0)
		return 0;
	snprintf(id, sizeof id, "%s %s", who && who->user ? "user" : "address", admission_asker_name(who));
	if (digest_hex(id, strlen(id), hex) < 0)
		return 0;
	hex[32] = '\0';
	*fd = lock_client(a->state_dir, hex, a->client_max);
	if (*fd == -EBUSY) {
		*fd = -1;
		snprintf(err, errlen, "%s has %d requests (NIXERY_MAX_BUILDS_PER_CLIENT) waiting for images to be "
			 "evaluated or built already: try again once they are answered",
			 who && who->user ? "this user" : "this address", a->client_max);
		return -EDQUOT;
	}
	/* A lock file that cannot be opened limits nothing: the build's own
	 * locks will say what is wrong. */
	if (*fd < 0)
		*fd = -1;
	return 0;
}

static int take_host_ticket(struct admission *a, struct admission_pass *pass, char *err, size_t errlen)
{
	if (atomic_fetch_add(&a->cold, 1) >= a->process_max) {
		atomic_fetch_sub(&a->cold, 1);
		snprintf(err, errlen, "this worker's threads that may wait for Nix are all waiting for it "
			 "(the rest answer what is built already): try again shortly");
		return -EBUSY;
	}
	pass->counted = 1;
	pass->host = lock_ticket(a->state_dir, a->host_max);
	if (pass->host == -EBUSY) {
		pass->host = -1;
		snprintf(err, errlen, "%d requests (NIXERY_MAX_COLD) are already waiting for images to be "
			 "evaluated or built on this host: try again shortly", a->host_max);
		return -EBUSY;
	}
	if (pass->host < 0)
		pass->host = -1;
	return 0;
}

int admission_enter(struct admission *a, const struct asker *who, const char *what, struct admission_pass *pass,
		    char *err, size_t errlen)
{
	int rc;

	*pass = ADMISSION_PASS_NONE;
	if (!a)
		return 0;
	if (!policy_may_build(a->build_users, who ? who->user : NULL)) {
		snprintf(err, errlen, "%s needs a user allowed to build (NIXERY_BUILD_USERS)%s; "
			 "images built already can be pulled", what, who && who->user ? "" : ": log in as one");
		return -EPERM;
	}
	if ((rc = take_client_place(a, who, &pass->client, err, errlen)) < 0 ||
	    (rc = take_host_ticket(a, pass, err, errlen)) < 0) {
		admission_leave(a, pass);
		return rc;
	}
	return 0;
}

void admission_leave(struct admission *a, struct admission_pass *pass)
{
	if (!a)
		return;
	lock_release(pass->host);
	lock_release(pass->client);
	if (pass->counted)
		atomic_fetch_sub(&a->cold, 1);
	*pass = ADMISSION_PASS_NONE;
}
