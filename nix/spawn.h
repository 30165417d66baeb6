/* Running a command under a deadline: its own process group, standard
 * output collected, standard error drained at the same time (its tail kept
 * for messages). At the deadline, or when the worker stops, the whole group
 * is stopped: SIGTERM so Nix can stop its builders, SIGKILL after a short
 * grace. The command is also stopped when the thread that started it dies
 * (PR_SET_PDEATHSIG), so a worker killed by any signal leaves no Nix
 * behind. */
#ifndef NIXERY_SPAWN_H
#define NIXERY_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/deadline.h"

#define SPAWN_ERR_TAIL 4096

struct spawn_result {
	struct buf out;                  /* standard output, whole */
	char err_tail[SPAWN_ERR_TAIL];   /* the last bytes of standard error */
	int status;                      /* exit status, or 128 + signal */
};

/* Told the last line the command printed on standard error, at most once
 * a second, while it runs: what a build is doing, for the landing page. */
struct spawn_progress {
	void (*fn)(void *ctx, const char *line);
	void *ctx;
};

/* Runs argv (found on PATH). Returns 0 when the command ran to completion
 * (whatever its status), -ETIMEDOUT at the deadline, -ECANCELED when the
 * worker stops, -E2BIG when its output passed max_out, another negative
 * code when it could not be started. progress may be NULL. */
int spawn_run(char *const argv[], const struct deadline *dl, size_t max_out,
	      const struct spawn_progress *progress, struct spawn_result *res,
	      char *err, size_t errlen);
void spawn_result_free(struct spawn_result *res);

/* A command kept running to be talked to through its standard input and
 * output; its standard error is kept as a tail, for messages. */
struct spawn_session {
	pid_t pid;
	int in, out, err;                /* its standard input, output, error */
	char err_tail[SPAWN_ERR_TAIL];
};

int spawn_open(char *const argv[], struct spawn_session *s, char *err, size_t errlen);
/* Writes all of data; reads what has come, at least a byte (0 when the
 * command closed its output). Both drain its standard error meanwhile
 * and return -ETIMEDOUT at the deadline, -ECANCELED when the worker
 * stops, another negative code when the pipe fails. */
int spawn_write(struct spawn_session *s, const void *data, size_t len, const struct deadline *dl);
long spawn_read(struct spawn_session *s, void *data, size_t len, const struct deadline *dl);
/* Closes its pipes, which ends a command that reads to the end, and
 * waits grace_ms for it to exit; then its group is killed. */
void spawn_close(struct spawn_session *s, long grace_ms);

#endif
