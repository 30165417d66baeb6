/* Bit rot changes no file's time, so the check before each use (health.h)
 * cannot see it: verify hashes every blob whole, at a bounded rate so that
 * the registry keeps serving beside it, and forgets the damaged ones
 * (health_lost), so that the next pull of their images packs them again. */
#ifndef NIXERY_VERIFY_H
#define NIXERY_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "sql/cache.h"
#include "storage/storage.h"

struct verify_report {
	size_t blobs;            /* blobs hashed */
	uint64_t bytes;          /* their bytes */
	size_t damaged;          /* found damaged, and forgotten */
};

/* Hashes every blob in storage at most rate bytes a second (0: as fast
 * as the disk goes). Each damaged one is named on out as it is found;
 * progress goes to progress every ten seconds (NULL: none). -EOPNOTSUPP
 * for a bucket, which keeps its objects' checksums itself; another
 * negative code when storage cannot be listed or the cache cannot forget
 * (err says). */
int verify_run(struct cache *cache, const struct storage *s, uint64_t rate, FILE *out, FILE *progress,
	       struct verify_report *report, char *err, size_t errlen);

#endif
