/* Grouping store paths into image layers, after Nixery's popularity and
 * dominator algorithm, made deterministic: paths that many images share (or
 * that are big) get layers of their own so those layers are shared between
 * images; the rest merges until the layer budget fits. */
#ifndef NIXERY_LAYERS_H
#define NIXERY_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/closure.h"

/* Closures bigger than this get a layer of their own. */
#define LAYERS_BIG_CLOSURE (100ULL * 1000 * 1000)
/* Paths at least this popular get a layer of their own. */
#define LAYERS_POPULAR 100

/* How many packages reference a "name-version"; NULL means 1 for all. */
typedef uint64_t (*layers_popularity_fn)(void *ctx, const char *name);

struct layer_group {
	size_t *paths;       /* indexes into the closure, sorted by path */
	size_t npaths;
	uint64_t rating;     /* popularity x size: higher ratings come first */
};

struct layer_plan {
	struct layer_group *groups;  /* in image order: highest rating first, then
	                              * the merged remainder (if the budget forced one) */
	size_t n;
};

int layers_group(const struct closure *c, size_t budget,
		 layers_popularity_fn popularity, void *ctx,
		 struct layer_plan *plan, char *err, size_t errlen);
void layers_plan_free(struct layer_plan *plan);

/* Popularity of a store path by Nixery's rule: CA certificates and
 * iana-etc are in every image, so they always rank as very popular. */
uint64_t layers_popularity_of(const char *path, layers_popularity_fn popularity, void *ctx);

#endif
