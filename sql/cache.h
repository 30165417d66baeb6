/* The build cache in SQLite ($NIXERY_STATE_DIR/cache.db, WAL mode). One
 * handle per thread; all SQL of the project lives in sql/. */
#ifndef NIXERY_CACHE_H
#define NIXERY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/manifest.h"

#define CACHE_KEY_LEN DIGEST_HEX_LEN

struct cache;

struct cache_image {
	char docker_manifest[DIGEST_HEX_LEN + 1];
	char oci_manifest[DIGEST_HEX_LEN + 1];
};

struct cache_blob {
	uint64_t size;
	char media_type[128];
};

/* Creates or upgrades the database and puts it in WAL mode; once per
 * process, before any cache_open. */
int cache_init(const char *state_dir, char *err, size_t errlen);
int cache_open(const char *state_dir, struct cache **c, char *err, size_t errlen);
void cache_close(struct cache *c);

/* Look-ups return 0 when found, -ENOENT when not, another negative code
 * on a database error. */
int cache_request_get(struct cache *c, const char *request_key,
		      char image_key[CACHE_KEY_LEN + 1], int64_t *evaluated);
int cache_request_put(struct cache *c, const char *request_key, const char *image_key,
		      int64_t evaluated);
/* Claims the re-evaluation of an expired request: 0 for exactly one of the
 * callers that saw evaluation time `seen`, -EBUSY for the others. */
int cache_request_claim(struct cache *c, const char *request_key, int64_t seen, int64_t now);
int cache_image_get(struct cache *c, const char *image_key, struct cache_image *img);
/* Records an image and the request that named it, in one transaction. */
int cache_image_put(struct cache *c, const char *image_key, const struct cache_image *img,
		    const char *request_key, int64_t now);
int cache_layer_get(struct cache *c, const char *layer_key, struct manifest_layer *layer);
int cache_layer_put(struct cache *c, const char *layer_key, const struct manifest_layer *layer);
int cache_blob_get(struct cache *c, const char *digest, struct cache_blob *blob);
int cache_blob_put(struct cache *c, const char *digest, uint64_t size, const char *media_type);

int cache_build_begin(struct cache *c, const char *image_key, const char *packages,
		      int64_t now, int64_t *id);
enum build_status { BUILD_OK, BUILD_FAILED, BUILD_TIMEOUT };

int cache_build_end(struct cache *c, int64_t id, enum build_status status, const char *message,
		    double seconds, uint64_t packed, int64_t now);
/* How and why the last build of image_key that ended at or after `since`
 * failed: -ENOENT when none did. */
int cache_build_failed_since(struct cache *c, const char *image_key, int64_t since,
			     enum build_status *status, char *message, size_t len);

const char *cache_error(struct cache *c);

#endif
