/* Packing an image: its store-path layers (each packed once for every
 * image that shares it, under a lock of its own), the symlink layer, the
 * config and both manifests, written to storage and recorded in the cache,
 * blobs before rows. Up to NIXERY_PACK_THREADS layers are packed side by
 * side, each helper thread with a cache handle of its own; a layer of more
 * than one compressed piece gets every thread to itself. */
#ifndef NIXERY_PACK_H
#define NIXERY_PACK_H

#include <stdint.h>

#include "builder/metrics.h"
#include "core/closure.h"
#include "core/config.h"
#include "core/deadline.h"
#include "core/image.h"
#include "core/layers.h"
#include "sql/cache.h"
#include "storage/storage.h"

struct packer {
	const struct config *cfg;
	struct cache *cache;
	const struct storage *storage;
	const struct deadline *deadline;
	struct metrics *metrics;      /* may be NULL */
	uint64_t packed;              /* compressed bytes newly packed */
	uint64_t size;                /* bytes of the image's layers and config */
};

/* Packs the plan's groups of closure paths and the symlink layer over the
 * requested outputs, then the config and manifests; fills img. Errors are
 * those of storage, the cache and the deadline, with a message in err. */
int pack_image(struct packer *p, const struct closure *c, const struct layer_plan *plan,
	       const struct image_request *req, char *const *outputs, size_t noutputs,
	       struct cache_image *img, char *err, size_t errlen);

#endif
