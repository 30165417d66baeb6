/* The build cache in SQLite ($NIXERY_STATE_DIR/cache.db, WAL mode). One
 * handle per thread; all SQL of the project lives in sql/.
 *
 * Every call returns 0, or -ENOENT for a miss, or an error that is not a
 * miss, which the caller must never take for one:
 *   -EAGAIN  the database was damaged: it has been moved aside
 *            (cache.db.corrupt-<time>) and a new one created; ask again
 *   -EBUSY   the database stayed locked past the busy timeout
 *   -ENOSPC  the disk is full
 *   -EIO     any other database error
 * cache_error then says what happened. */
#ifndef NIXERY_CACHE_H
#define NIXERY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "core/manifest.h"

#define CACHE_KEY_LEN DIGEST_HEX_LEN

struct cache;

/* Room for every platform's name, separated by spaces. */
#define CACHE_PLATFORMS_LEN 256

/* An image, or an image index (index: its manifests are the Docker
 * manifest list and the OCI index). */
struct cache_image {
	char docker_manifest[DIGEST_HEX_LEN + 1];
	char oci_manifest[DIGEST_HEX_LEN + 1];
	int64_t used;            /* unix time it last answered a request, to the hour */
	int index;
	char platforms[CACHE_PLATFORMS_LEN];   /* "linux/amd64 linux/arm64"; "" when not recorded */
};

struct cache_blob {
	uint64_t size;
	char media_type[128];
};

/* Creates or upgrades the database and puts it in WAL mode; once per
 * process, before any cache_open. A database that cannot be opened or
 * read is moved aside and a new one created. */
int cache_init(const char *state_dir, char *err, size_t errlen);
/* A handle; one per thread. A database removed later, with its folder or not, is made again
 * by the handle that finds it gone. */
int cache_open(const char *state_dir, struct cache **c, char *err, size_t errlen);
/* Opens the cache as it is, to read only: nothing is created or
 * upgraded; -ENOENT when there is no cache.db yet. */
int cache_open_existing(const char *state_dir, struct cache **c, char *err, size_t errlen);
void cache_close(struct cache *c);

/* Follows a database another handle moved aside (one stat), and opens
 * again a handle that SQLite opened read-only (the file was not writable
 * to this user) once a write found it so or the file is writable again;
 * call before each request. */
int cache_refresh(struct cache *c);

/* A request answered from the cache, read in one query: the image it
 * evaluated to and when, the image's record, and whether name:tag was
 * recorded too. */
struct cache_hit {
	char image_key[CACHE_KEY_LEN + 1];
	int64_t evaluated;
	struct cache_image img;
	int tagged;
};
/* -ENOENT when the request or its image is not recorded. */
int cache_request_lookup(struct cache *c, const char *request_key, const char *name, const char *tag,
			 struct cache_hit *hit);
int cache_request_put(struct cache *c, const char *request_key, const char *image_key,
		      int64_t evaluated);
/* Claims the re-evaluation of an expired request: 0 for exactly one of the
 * callers that saw evaluation time `seen`, -EBUSY for the others. */
int cache_request_claim(struct cache *c, const char *request_key, int64_t seen, int64_t now);
int cache_image_get(struct cache *c, const char *image_key, struct cache_image *img);
/* Records that the image answered a request at `now`. */
int cache_image_used(struct cache *c, const char *image_key, int64_t now);
/* Records an image (replacing one whose blobs were lost) and the request
 * that named it, in one transaction. */
int cache_image_put(struct cache *c, const char *image_key, const struct cache_image *img,
		    const char *request_key, int64_t now);
int cache_layer_get(struct cache *c, const char *layer_key, struct manifest_layer *layer);
int cache_layer_put(struct cache *c, const char *layer_key, const struct manifest_layer *layer);
int cache_blob_get(struct cache *c, const char *digest, struct cache_blob *blob);
int cache_blob_put(struct cache *c, const char *digest, uint64_t size, const char *media_type);
/* How many blobs the cache records, and their bytes. */
int cache_blob_totals(struct cache *c, uint64_t *blobs, uint64_t *bytes);
/* Forgets a blob whose file is gone or damaged, and the layers made of it,
 * so that they are packed again. */
int cache_blob_forget(struct cache *c, const char *digest);

/* A build stopped with its worker (the registry stopping) is cancelled:
 * nobody's failure, never told to the requests that waited for it. */
enum build_status { BUILD_OK, BUILD_FAILED, BUILD_TIMEOUT, BUILD_CANCELLED };

/* Times are in milliseconds since the epoch; platform is the one built
 * for (linux/arm64), requester who asked (NULL: nobody known). */
int cache_build_begin(struct cache *c, const char *image_key, const char *packages, const char *name,
		      const char *platform, const char *requester, int64_t now_ms, int64_t *id);
/* Records that an index left a platform out, and why, where the builds
 * are listed: no build ran for it. */
int cache_build_left_out(struct cache *c, const char *image_key, const char *packages, const char *name,
			 const char *platform, const char *requester, const char *why, int64_t now_ms);
int cache_build_end(struct cache *c, int64_t id, enum build_status status, const char *message,
		    double seconds, uint64_t packed, uint64_t size, int64_t now_ms);
/* The last line Nix printed for a build in progress. */
int cache_build_log(struct cache *c, int64_t id, const char *line);
/* When any request was last evaluated (0: never). */
int cache_last_evaluated(struct cache *c, int64_t *when);
/* The attribute names listed from a source under a prefix ('' for the top
 * level), as a JSON list the caller frees, and when they were listed. */
int cache_names_get(struct cache *c, const char *source, const char *prefix, char **json, int64_t *listed);
int cache_names_put(struct cache *c, const char *source, const char *prefix, const char *json, int64_t now);
/* How and why the last build of image_key that ended at or after since_ms
 * failed: -ENOENT when none did. */
int cache_build_failed_since(struct cache *c, const char *image_key, int64_t since_ms,
			     enum build_status *status, char *message, size_t len);

/* Records that name:tag was evaluated to image_key. */
int cache_tag_put(struct cache *c, const char *name, const char *tag, const char *image_key,
		  int64_t now);
/* The tags recorded for name, in byte order, after `after`, at most max;
 * a NULL-terminated vector of copies (strv_free). */
int cache_tags(struct cache *c, const char *name, const char *after, int max, char ***tags, size_t *n);
/* The image names with a recorded tag, likewise. */
int cache_names(struct cache *c, const char *after, int max, char ***names, size_t *n);

/* The name:tag references recorded for an image, sorted (strv_free). */
int cache_image_tags(struct cache *c, const char *image_key, char ***refs, size_t *n);

/* For operators' tools: walks, which stop at the first non-zero result of
 * fn and return it. Images come most recently used first. */
typedef int (*cache_image_fn)(void *ctx, const char *image_key, const struct cache_image *img,
			      int64_t created);
int cache_each_image(struct cache *c, cache_image_fn fn, void *ctx);
typedef int (*cache_blob_fn)(void *ctx, const char *digest, const struct cache_blob *blob);
int cache_each_blob(struct cache *c, cache_blob_fn fn, void *ctx);

struct cache_build {
	int64_t id;
	char image_key[CACHE_KEY_LEN + 1];
	char packages[512];      /* JSON list */
	int64_t started;         /* unix time */
	double seconds;
	uint64_t packed;         /* bytes newly packed */
	char status[16];         /* running, ok, failed, timeout, cancelled, left out */
	char message[512];
	char name[300];          /* the image as asked: name:tag */
	uint64_t size;           /* bytes of the image's blobs, once built */
	char log[400];           /* the last line Nix printed, while it runs */
	char platforms[CACHE_PLATFORMS_LEN];   /* built for; "" when not recorded */
	char requester[160];     /* who asked: a user, an address, or nixery-admin */
};
typedef int (*cache_build_fn)(void *ctx, const struct cache_build *b);
/* The last `limit` builds, newest first: those running, or those ended. */
int cache_each_build(struct cache *c, int running, int64_t limit, cache_build_fn fn, void *ctx);

/* Forgets an image, the requests and tags that name it (its blobs stay:
 * other images may share them). */
int cache_image_forget(struct cache *c, const char *image_key);
/* Removes the records of builds that ended before `before`, all but the
 * `keep` newest; *removed says how many went. */
int cache_builds_prune(struct cache *c, int64_t before, int keep, int64_t *removed);

const char *cache_error(const struct cache *c);

#endif
