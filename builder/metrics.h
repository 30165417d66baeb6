/* Counters of what the registry did, shared by every worker process of a
 * host through a file they all map ($NIXERY_STATE_DIR/metrics.shm), and
 * written in the Prometheus text format. Counting is an atomic add in
 * shared memory: no system call, no lock, no write to the cache. */
#ifndef NIXERY_METRICS_H
#define NIXERY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/platform.h"

struct metrics;

enum metrics_level { METRICS_REQUEST, METRICS_IMAGE, METRICS_LAYER, METRICS_LEVELS };
/* How a build ended; every build started ends in one of these, or is
 * still running. */
enum metrics_build { METRICS_BUILD_OK, METRICS_BUILD_FAILED, METRICS_BUILD_TIMEOUT, METRICS_BUILD_CANCELLED,
		     METRICS_BUILD_RESULTS };

/* Maps the counters, creating the file the first time (or when a newer
 * layout replaces an older one). */
int metrics_open(const char *state_dir, struct metrics **m, char *err, size_t errlen);
void metrics_close(struct metrics *m);

/* Every function takes NULL as "not counting". route is a label of the
 * router's (manifest, blob, tags, ...); an unknown one counts as other. */
void metrics_request(struct metrics *m, const char *route, int status);
void metrics_cache(struct metrics *m, enum metrics_level level, int hit);
/* Builds are counted by the platform they are for. */
void metrics_build_started(struct metrics *m, const struct platform *p);
void metrics_build_ended(struct metrics *m, const struct platform *p, enum metrics_build result, double seconds,
			 uint64_t packed);
void metrics_slot_wait(struct metrics *m, long ms);

/* The Prometheus text format, with the blob store's size (from the cache)
 * as gauges; the builds of each platform served (n of them), and of any
 * other that has some (served before). */
void metrics_render(const struct metrics *m, const struct platform *const *served, size_t n,
		    uint64_t store_blobs, uint64_t store_bytes, struct buf *out);

#endif
