/* Who may start cold work, and how much. A request that needs Nix (an
 * evaluation, a build, a listing of the package set's names, or the wait
 * for another request's build of its image) holds a worker thread, or a
 * whole mod_fcgid process, for as long as Nix takes, and costs the host
 * memory and CPU. So such a request is admitted only
 *   - when its asker may build (NIXERY_BUILD_USERS): else -EPERM, 403;
 *   - while its asker has fewer than NIXERY_MAX_BUILDS_PER_CLIENT such
 *     requests in progress on the host: else -EDQUOT, 429;
 *   - while it leaves room for requests answered from what exists: one of
 *     the host's NIXERY_MAX_COLD tickets, and a place among its process's
 *     threads less a reserve: else -EBUSY, 503.
 * Tickets and a client's places are flocks under NIXERY_STATE_DIR/locks,
 * shared by every worker process of the host and dying with their holder.
 * A refusal is at once, never queued: a queue of cold requests is what
 * used to hold every thread. */
#ifndef NIXERY_ADMISSION_H
#define NIXERY_ADMISSION_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/config.h"

/* Who asked, as the web server tells it, never by a header a client can
 * set: the user it authenticated, else the address it saw the request
 * come from. The caller validates both (a name policy_user_valid takes,
 * an IP address); NULL when there is none. */
struct asker {
	const char *user;         /* REMOTE_USER, with AUTH_TYPE set */
	const char *addr;         /* REMOTE_ADDR */
};

/* The asker in words, for the audit: the user, else the address, else
 * "unknown". */
const char *admission_asker_name(const struct asker *who);

/* One per process, shared by its threads. */
struct admission {
	const char *state_dir;
	const char *build_users;  /* NIXERY_BUILD_USERS; NULL: anyone */
	int client_max;           /* NIXERY_MAX_BUILDS_PER_CLIENT; 0: no limit */
	int host_max;             /* NIXERY_MAX_COLD */
	int process_max;          /* NIXERY_THREADS less the reserve */
	atomic_int cold;          /* this process's requests admitted */
};

/* What an admitted request holds until it ends. */
struct admission_pass {
	int host, client;         /* lock descriptors, or -1 */
	int counted;              /* among the process's cold requests */
};
#define ADMISSION_PASS_NONE ((struct admission_pass){ -1, -1, 0 })

/* The reserve: a quarter of the threads, at least one, for a process
 * with more than one (a process of one thread, as under mod_fcgid, is
 * kept free by the host's limit). */
void admission_init(struct admission *a, const struct config *cfg);

/* Admits one request's cold work for who: 0 and *pass to hand back to
 * admission_leave, or -EPERM, -EDQUOT or -EBUSY (above) with a sentence
 * in err; what says what the work is, for the 403 ("this image is not
 * built yet: building it"). A NULL admission (nixery-admin) admits
 * everything. */
int admission_enter(struct admission *a, const struct asker *who, const char *what, struct admission_pass *pass,
		    char *err, size_t errlen);
void admission_leave(struct admission *a, struct admission_pass *pass);

#endif
