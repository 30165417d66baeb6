/* When a blob counts as whole, and what becomes of one that is not: one
 * policy for every caller (a cached image's check before its manifest is
 * sent, a layer's reuse, the registry's blob and manifest answers,
 * nixery-admin verify). A blob found missing or damaged is forgotten by
 * the cache, with the layers made of it, and a damaged file is removed,
 * so that nothing sends its bytes again and the next request for its
 * image packs it again, byte for byte. */
#ifndef NIXERY_HEALTH_H
#define NIXERY_HEALTH_H

#include <stdint.h>

#include "sql/cache.h"
#include "storage/storage.h"

/* 0 when blob hex is there whole (storage_check); -ENOENT when it was
 * missing or damaged, and is forgotten now; -EHOSTUNREACH or -EACCES when
 * a bucket cannot be asked; any other negative code is the cache's, which
 * could not forget it (cache_error says why). */
int health_check(struct cache *c, const struct storage *s, const char *hex, uint64_t size);

/* Forgets blob hex, which its reader found missing (why -ENOENT) or
 * damaged (any other code): -ENOENT, or the cache's error. */
int health_lost(struct cache *c, const struct storage *s, const char *hex, int why);

#endif
