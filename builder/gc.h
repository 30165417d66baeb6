/* Garbage collection: images not used for a while are forgotten, then the
 * blobs no remaining image names are removed, with the lock files and GC
 * roots nobody holds and the records of old builds. It is safe while
 * workers serve and build: it works under lock_gc, so no build is between
 * reusing a blob and recording its image. */
#ifndef NIXERY_GC_H
#define NIXERY_GC_H

#include <stdint.h>

#include "core/config.h"
#include "sql/cache.h"
#include "storage/storage.h"

struct gc_report {
	int images;          /* images forgotten: unused for keep_days */
	int blobs;           /* blobs removed */
	uint64_t bytes;      /* their bytes */
	int locks;           /* lock files removed */
	int roots;           /* GC-root folders of stopped builds released */
	int64_t builds;      /* build records removed */
};

/* keep_days: images used within this many days stay. dry_run: count what
 * would go, change nothing (and take no lock). */
int gc_run(const struct config *cfg, struct cache *cache, const struct storage *storage,
	   int keep_days, int dry_run, struct gc_report *report, char *err, size_t errlen);

#endif
