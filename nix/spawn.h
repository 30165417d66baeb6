/* Running a command under a deadline: its own process group, standard
 * output collected, standard error drained at the same time (its tail kept
 * for messages), and at the deadline the whole group is stopped: SIGTERM so
 * Nix can stop its builders, SIGKILL after a grace period. */
#ifndef NIXERY_SPAWN_H
#define NIXERY_SPAWN_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"

#define SPAWN_ERR_TAIL 4096

struct spawn_result {
	struct buf out;                  /* standard output, whole */
	char err_tail[SPAWN_ERR_TAIL];   /* the last bytes of standard error */
	int status;                      /* exit status, or 128 + signal */
	int timed_out;
};

/* A deadline seconds from now, on the monotonic clock. */
struct timespec spawn_deadline(int seconds);

/* Runs argv (found on PATH). Returns 0 when the command ran to completion
 * (whatever its status), -ETIMEDOUT at the deadline, -E2BIG when its output
 * passed max_out, another negative code when it could not be started. */
int spawn_run(char *const argv[], struct timespec deadline, size_t max_out,
	      struct spawn_result *res, char *err, size_t errlen);
void spawn_result_free(struct spawn_result *res);

#endif
