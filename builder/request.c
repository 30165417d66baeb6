/* What every step of an image request does alike: its answer in words,
 * a stop by the deadline or the worker, a cache error that is never a
 * reason to build, a build slot, and an image the cache holds whole,
 * answered and remembered. */
#include "builder/request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "builder/health.h"
#include "builder/lock.h"
#include "builder/walk.h"
#include "core/log.h"

const char *request_asker(const struct request *r)
{
	return r->who ? admission_asker_name(r->who) : "nixery-admin";
}

int request_say(struct request *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->out->message, sizeof r->out->message, fmt, ap);
	va_end(ap);
	return rc;
}

/* A cache error that is not a miss, as the request's answer: busy, or
 * storage full; never a reason to build. */
int request_answer_cache_error(struct request *r, int rc)
{
	if (rc == -EAGAIN)
		return rc;
	log_error("build cache: %s", cache_error(r->b->cache));
	return request_say(r, rc == -ENOSPC ? rc : -EBUSY,
			   "the build cache cannot be read or written (%s): try again shortly", cache_error(r->b->cache));
}

/* A request stopped by its deadline, or by the worker's stop; what
 * says which step stopped. */
int request_stopped(struct request *r, int rc, const char *what)
{
	if (rc == -ECANCELED)
		return request_say(r, rc, "the registry is restarting: try again");
	return request_say(r, -ETIMEDOUT, "the image was not ready within NIX_TIMEOUT (%d seconds): %s",
			   r->b->cfg->nix_timeout, what);
}

static int blob_present(void *ctx, const char *hex, uint64_t size)
{
	struct request *r = ctx;

	return r->verify_blobs ? health_check(r->b->cache, r->b->storage, hex, size) : 0;
}

/* Reads manifest hex into the answer; one that cannot be read (missing,
 * cut, damaged) is forgotten: -ENOENT. */
static int read_manifest(struct request *r, const char *hex)
{
	int rc;

	r->out->manifest.len = 0;
	snprintf(r->out->digest, sizeof r->out->digest, "%s", hex);
	rc = storage_read(r->b->storage, hex, MANIFEST_MAX_BYTES, &r->out->manifest);
	return rc < 0 ? health_lost(r->b->cache, r->b->storage, hex, rc) : 0;
}

int request_load_answer(struct request *r, const struct cache_image *img, int check)
{
	int as_index = img->index && r->accept.index;
	enum manifest_format f = as_index ? r->accept.index_format : r->accept.manifest;
	const char *hex = f == MANIFEST_OCI ? img->oci_manifest : img->docker_manifest;
	char child[DIGEST_HEX_LEN + 1];
	int rc;

	r->out->media_type = as_index ? manifest_index_media_type(f) : manifest_media_type(f);
	if ((rc = read_manifest(r, hex)) < 0)
		return rc;
	/* Not a manifest, nor an index: damaged. */
	if (check && (rc = walk_image(r->b->storage, r->out->manifest.data, blob_present, r)) == -EINVAL)
		return health_lost(r->b->cache, r->b->storage, hex, rc);
	if (rc != 0 || !img->index || as_index)
		return rc;
	/* A client that takes no index gets the first platform's image. */
	if (walk_first_child(r->out->manifest.data, child) < 0)
		return health_lost(r->b->cache, r->b->storage, hex, -EINVAL);
	return read_manifest(r, child);
}

/* Loads a cached image's answer, if it and every blob it names are
 * there whole: -ENOENT when something was lost (and is forgotten now:
 * health.h), and the image is built again. */
static int load_whole_image(struct request *r, const struct cache_image *img)
{
	int rc = request_load_answer(r, img, 1);

	if (rc == 0 || rc == -ENOENT)
		return rc;
	if (rc == -EHOSTUNREACH || rc == -EACCES)
		return request_say(r, rc == -EACCES ? -EIO : rc, "the image's blobs cannot be looked for in the bucket "
				   "(the log says why): try again shortly");
	return request_answer_cache_error(r, rc);
}

/* Answers with the image recorded as img under r->key, if it is there
 * whole. Its last use is written at most once an hour: gc needs days,
 * not every request. A bucket's objects, a round trip each, are tested
 * at that moment too: a lifecycle rule may have removed them. */
int request_use_image(struct request *r, const struct cache_image *img)
{
	int64_t now = time(NULL);
	int stale = now - img->used >= REQUEST_USED_PRECISION, rc;

	r->verify_blobs = !storage_remote(r->b->storage) || stale;
	rc = load_whole_image(r, img);
	if (rc == 0 && stale && (rc = cache_image_used(r->b->cache, r->key, now)) < 0)
		return request_answer_cache_error(r, rc);
	if (rc == 0)
		r->img = *img;
	return rc;
}

/* The image under r->key, if it is cached whole. */
int request_cached_image(struct request *r)
{
	struct cache_image img;
	int rc = cache_image_get(r->b->cache, r->key, &img);

	if (rc == -ENOENT)
		return rc;
	return rc < 0 ? request_answer_cache_error(r, rc) : request_use_image(r, &img);
}

/* Records what the request evaluated to (unless the image's record did
 * already), and the tag under its name, for tags/list: on evaluation,
 * never on a request answered from the cache. */
int request_remember(struct request *r, int request_too)
{
	int64_t now = time(NULL);
	int rc = request_too ? cache_request_put(r->b->cache, r->req_key, r->key, now) : 0;

	if (rc == 0 && !r->part)
		rc = cache_tag_put(r->b->cache, r->name, r->ref, r->key, now);
	return rc < 0 ? request_answer_cache_error(r, rc) : 0;
}

/* A build slot: one of the host's NIXERY_MAX_BUILDS Nix jobs; *waited_ms
 * (if not NULL) says how long it took. */
int request_take_slot(struct request *r, const char *what, long *waited_ms)
{
	long waited = 0;
	int slot = lock_slot(r->b->cfg->state_dir, r->b->cfg->max_builds, r->dl, &waited);

	if (waited_ms)
		*waited_ms = waited;
	if (slot == -EBUSY)
		return request_say(r, -EBUSY,
				   "all %d build slots (NIXERY_MAX_BUILDS) stayed busy %s: try again shortly",
				   r->b->cfg->max_builds, what);
	if (slot < 0)
		return slot == -ECANCELED ? request_stopped(r, slot, "") :
			request_say(r, -EIO, "cannot take a build slot: %s", strerror(-slot));
	if (waited > 0)
		metrics_slot_wait(r->b->metrics, waited);
	if (waited > 1000)
		log_info("waited %.1f s for a build slot", (double)waited / 1000);
	return slot;
}
