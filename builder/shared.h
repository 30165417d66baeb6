/* Images shared by the hosts of one bucket. A host that builds an image
 * leaves its record in the bucket (images/<key>: its two manifests); a
 * host asked for an image it has not built looks there first, and takes
 * the image over (blobs and image into its own cache) with no build and
 * no packing. Two hosts asked for the same new image at once build it
 * once: the first creates a claim (claims/<key>, created only if absent,
 * which GCS and S3 both check), the other waits for the record. A claim
 * lasts NIX_TIMEOUT and a minute: a dead host's claim runs out. */
#ifndef NIXERY_SHARED_H
#define NIXERY_SHARED_H

#include <stddef.h>

#include "core/deadline.h"
#include "sql/cache.h"
#include "storage/storage.h"

/* Takes over the image recorded under key, if its record and every blob
 * it names are in the bucket: 0, and img filled and recorded in cache
 * (with the request request_key); -ENOENT when it is not there whole;
 * another negative code when the bucket or the cache failed (err says). */
int shared_adopt(const struct storage *s, struct cache *cache, const char *key, const char *request_key,
		 struct cache_image *img, char *err, size_t errlen);

/* Leaves the record of an image this host built. */
int shared_publish(const struct storage *s, const char *key, const struct cache_image *img,
		   char *err, size_t errlen);

/* Claims the build of key: 0 when this host is to build it; 1 when
 * another host built it meanwhile and it was taken over (img filled);
 * -ETIMEDOUT or -ECANCELED when dl came first. Where the bucket cannot
 * be asked, 0: the work may be done twice, which is harmless. */
int shared_claim(const struct storage *s, struct cache *cache, const char *key, const char *request_key,
		 int lease_s, const struct deadline *dl, struct cache_image *img, char *err, size_t errlen);
void shared_release(const struct storage *s, const char *key);

#endif
