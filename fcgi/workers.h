/* The threads of a nixery-fcgi process (workers.c): each accepts requests
 * on the listening socket and answers them with a registry of its own,
 * until the process is told to stop. */
#ifndef NIXERY_WORKERS_H
#define NIXERY_WORKERS_H

#include "builder/metrics.h"
#include "core/config.h"
#include "core/popularity.h"
#include "storage/storage.h"

/* Serves on listen_fd with cfg->threads threads, which share the process's
 * storage, popularity data and metrics, until SIGTERM, SIGINT or SIGUSR1:
 * then no thread accepts again, the socket is given up, and requests in
 * progress get NIXERY_STOP_GRACE seconds before they are cancelled. 0
 * once every thread ended; -1 when serving could not start (the reason is
 * logged). Requests that outlive their cancelling end the process. */
int workers_run(const struct config *cfg, int listen_fd, const struct storage *storage,
		struct popularity_source *popularity, struct metrics *metrics);

#endif
