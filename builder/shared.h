/* Images shared by the hosts of one bucket. A host that builds an image
 * leaves its record in the bucket (images/<key>: its two manifests); a
 * host asked for an image it has not built looks there first, and takes
 * the image over (blobs and image into its own cache) with no build and
 * no packing. Two hosts asked for the same new image at once build it
 * once: the first creates a claim (claims/<key>, created only if absent,
 * which GCS and S3 both check), the other waits for the record. A claim
 * lasts NIX_TIMEOUT and a minute: a dead host's claim runs out. A claim
 * is removed only by version (GCS's generation, S3's ETag), so that no
 * host removes a claim other than the one it made or read. */
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

/* Claims the build of key: 0 when this host is to build it, with held
 * the version of the claim it made, or "" when it builds without one
 * (the bucket could not be asked, or would not say which claim it
 * holds): the work may be done twice, which is harmless. 1 when another
 * host built it meanwhile and it was taken over (img filled); -ETIMEDOUT
 * or -ECANCELED when dl came first. A claim that ran out is removed only
 * while it is the one read: one made anew meanwhile stays. */
int shared_claim(const struct storage *s, struct cache *cache, const char *key, const char *request_key,
		 int lease_s, const struct deadline *dl, struct cache_image *img,
		 char held[STORAGE_VERSION_MAX], char *err, size_t errlen);
/* Removes this host's claim, held: only while it is still that claim,
 * never one another host made since. */
void shared_release(const struct storage *s, const char *key, const char *held);

#endif
