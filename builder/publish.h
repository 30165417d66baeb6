/* The tag files: a tag's answer kept under STORAGE_PATH for the web
 * server, which sends the manifest itself until the answer expires
 * (storage_tag_write has their format). */
#ifndef NIXERY_PUBLISH_H
#define NIXERY_PUBLISH_H

#include <stdint.h>

#include "sql/cache.h"
#include "storage/storage.h"

/* Keeps name:ref's answer, the image img whose manifest (as answered) is
 * manifest, until `until` (unix time; nothing when it is not after now).
 * It is written anew only when it changed or has less than half its time
 * left, not on every request; a failure is only logged. */
void publish_tag(const struct storage *s, const char *name, const char *ref, const struct cache_image *img,
		 const char *manifest, int64_t now, int64_t until);

#endif
