/* An image evaluated but not cached, built under its lock, once for all
 * the workers of the host that ask for it: taken over from another host
 * sharing the bucket where one built it, else built by Nix, laid out,
 * packed and recorded, each build in its row and in the metrics from its
 * start to its end. */
#include "builder/request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "builder/lock.h"
#include "builder/pack.h"
#include "builder/shared.h"
#include "core/clock.h"
#include "core/layers.h"
#include "core/log.h"

/* What nix-build prints, into the builds row: the landing page shows it. */
static void build_progress(void *ctx, const char *line)
{
	struct request *r = ctx;

	cache_build_log(r->b->cache, r->build_id, line);
}

/* Makes the outputs and reads their closure; only a build reports
 * progress (into the cache, from this thread). */
static int realise_closure(struct request *r, const char *gcroot, struct closure *c, char *err, size_t errlen)
{
	struct spawn_progress progress = { build_progress, r };
	int rc;

	r->job.progress = &progress;
	rc = r->b->nix->realise(&r->job, &r->evs[0], gcroot, c, err, errlen);
	r->job.progress = NULL;
	return rc;
}

/* Builds, lays out and packs the image; the caller holds its lock. */
static int build(struct request *r, struct cache_image *img, uint64_t *packed, uint64_t *size,
		 char *err, size_t errlen)
{
	const struct config *cfg = r->b->cfg;
	struct popularity *pop = popularity_acquire(r->b->popularity);
	struct packer p = { .cfg = cfg, .cache = r->b->cache, .storage = r->b->storage,
			    .deadline = r->dl, .metrics = r->b->metrics };
	struct closure c = { 0 };
	struct layer_plan plan = { 0 };
	long ms[3] = { 0 };
	struct timespec lap;
	char gcroot[4096];
	int rc;

	snprintf(gcroot, sizeof gcroot, "%s/gcroots/%s", cfg->state_dir, r->key);
	lap = clock_start();
	if ((rc = realise_closure(r, gcroot, &c, err, errlen)) < 0)
		goto out;
	ms[0] = clock_lap_ms(&lap);
	if ((rc = layers_group(&c, (size_t)cfg->max_layers, popularity_lookup, pop,
			       &plan, err, errlen)) < 0)
		goto out;
	ms[1] = clock_lap_ms(&lap);
	if ((rc = pack_image(&p, &c, &plan, &r->req, r->evs[0].outputs, r->evs[0].noutputs,
			     img, err, errlen)) < 0)
		goto out;
	ms[2] = clock_lap_ms(&lap);
	snprintf(img->platforms, sizeof img->platforms, "%s", r->req.platform->name);
	log_info("built image %s for %s: %zu store paths in %zu layers, %llu bytes newly packed "
		 "(build and closure %ld ms, layout %ld ms, packing %ld ms)",
		 r->key, r->req.platform->name, c.n, plan.n + 1, (unsigned long long)p.packed, ms[0], ms[1], ms[2]);
out:
	*packed = p.packed;
	*size = p.size;
	nix_release(gcroot);
	popularity_release(r->b->popularity, pop);
	layers_plan_free(&plan);
	closure_free(&c);
	return rc;
}

/* How a failed build's error reaches the client. A platform Nix here
 * cannot build for is the host's configuration, not the registry's
 * fault: not found here, as the platforms not served. */
int build_failed(struct request *r, int rc, const char *err)
{
	if (rc == -ETIMEDOUT || rc == -ECANCELED)
		return request_stopped(r, rc, err);
	if (rc == -ENOEXEC) {
		log_warn("image %s: %s", r->key, err);
		return request_say(r, -ENOENT, "%s", err);
	}
	if (rc == -EAGAIN || rc == -ENOSPC || rc == -EBUSY || rc == -EHOSTUNREACH)
		return request_say(r, rc, "%s", err);
	log_error("image %s: %s", r->key, err);
	return request_say(r, -EIO, "%s", err);
}

/* An image that another host sharing the bucket built, or is building:
 * taken over, or -ENOENT for this host to build it, with the claim it
 * made (if the bucket took one) in r->claim. */
static int from_other_host(struct request *r)
{
	const struct storage *s = r->b->storage;
	struct cache_image img;
	char err[1024] = "";
	int rc = shared_adopt(s, r->b->cache, r->key, r->req_key, &img, err, sizeof err);

	if (rc == -ENOENT) {
		rc = shared_claim(s, r->b->cache, r->key, r->req_key, r->b->cfg->nix_timeout + 60, r->dl, &img,
				  r->claim, err, sizeof err);
		if (rc == 0)
			return -ENOENT;
	}
	if (rc == -ETIMEDOUT || rc == -ECANCELED)
		return request_stopped(r, rc, "the wait for another host's build of it stopped");
	if (rc < 0)
		return request_say(r, rc == -EHOSTUNREACH ? rc : -EIO, "%s", err);
	log_info("image %s: taken over from the bucket, where another host built it", r->key);
	if ((rc = request_use_image(r, &img)) == 0)
		rc = request_remember(r, 0);
	return rc;
}

/* How a build ended, in its row and in the metrics. A stop is nobody's
 * failure: the requests that waited for it build themselves. */
static enum build_status ended_as(int rc)
{
	return rc == 0 ? BUILD_OK : rc == -ETIMEDOUT ? BUILD_TIMEOUT : rc == -ECANCELED ? BUILD_CANCELLED : BUILD_FAILED;
}

static const enum metrics_build counted_as[] = {
	[BUILD_OK] = METRICS_BUILD_OK, [BUILD_FAILED] = METRICS_BUILD_FAILED,
	[BUILD_TIMEOUT] = METRICS_BUILD_TIMEOUT, [BUILD_CANCELLED] = METRICS_BUILD_CANCELLED,
};

/* Builds the image and records it; the caller holds its locks. A build
 * counts as started once its row is written, and every one started ends,
 * in its row and in the metrics, whatever stops it. */
static int build_recorded(struct request *r, const char *packages, struct cache_image *img, uint64_t *packed)
{
	struct cache *cache = r->b->cache;
	char err[1024] = "", name[IMAGE_NAME_MAX + 200];
	struct timespec started;
	enum build_status status;
	uint64_t size = 0;
	int rc;

	started = clock_start();
	snprintf(name, sizeof name, "%s:%s", r->name, r->ref);
	if ((rc = cache_build_begin(cache, r->key, packages, name, r->req.platform->name, request_asker(r),
				    clock_now_ms(), &r->build_id)) < 0)
		return request_answer_cache_error(r, rc);
	log_info("building image %s for %s, asked by %s: %s", r->key, r->req.platform->name, request_asker(r),
		 packages);
	metrics_build_started(r->b->metrics, r->req.platform);
	if ((rc = build(r, img, packed, &size, err, sizeof err)) == 0)
		r->img = *img;
	if (rc == 0 && (rc = cache_image_put(cache, r->key, img, r->req_key, time(NULL))) < 0)
		snprintf(err, sizeof err, "cannot record the image: %s", cache_error(cache));
	if (rc == 0 && storage_remote(r->b->storage) && shared_publish(r->b->storage, r->key, img, err, sizeof err) < 0)
		log_warn("image %s is built, but other hosts will not find it: %s", r->key, err);
	status = ended_as(rc);
	metrics_build_ended(r->b->metrics, r->req.platform, counted_as[status], clock_seconds_since(started), *packed);
	if (cache_build_end(cache, r->build_id, status, rc == 0 ? NULL : err, clock_seconds_since(started), *packed,
			    rc == 0 ? size : 0, clock_now_ms()) < 0)
		log_warn("cannot record the end of build %lld: %s", (long long)r->build_id, cache_error(cache));
	return rc < 0 ? build_failed(r, rc, err) : 0;
}

/* A lock the build waits for (the image's, or the garbage collector's
 * gate): its descriptor, or the request's answer when the wait stopped
 * (what names it) or the lock could not be taken. */
static int locked(struct request *r, int lock, const char *what)
{
	if (lock >= 0)
		return lock;
	if (lock == -ETIMEDOUT || lock == -ECANCELED)
		return request_stopped(r, lock, what);
	return request_say(r, -EIO, "cannot take the build lock: %s: check NIXERY_STATE_DIR", strerror(-lock));
}

/* While the request waited for the image's lock, another worker may have
 * built it, or failed to: that is the answer; -ENOENT when neither, and
 * the image is to be built. */
static int built_meanwhile(struct request *r, int64_t waited_from)
{
	enum build_status status;
	char err[1024] = "";
	int rc;

	if ((rc = request_cached_image(r)) != -ENOENT)
		return rc == 0 ? request_remember(r, 1) : rc;
	/* The build we waited for failed: that is the answer, not a second
	 * try on what the wait left of the deadline. A request that came
	 * after the failure never waited for it, and builds again. */
	if (!waited_from ||
	    (rc = cache_build_failed_since(r->b->cache, r->key, waited_from, &status, err, sizeof err)) == -ENOENT)
		return -ENOENT;
	return rc < 0 ? request_answer_cache_error(r, rc) :
		build_failed(r, status == BUILD_TIMEOUT ? -ETIMEDOUT : -EIO, err);
}

/* The image just built, as the request's answer. */
static int answer_built(struct request *r, const struct cache_image *img, uint64_t packed)
{
	int rc;

	if (request_load_answer(r, img, 0) < 0)
		return request_say(r, -EIO, "the image was built, but its manifest cannot be read back from storage");
	if ((rc = request_remember(r, 0)) == 0) {
		r->out->built = 1;
		r->out->packed = packed;
	}
	return rc;
}

int build_locked(struct request *r)
{
	char *packages = image_packages_json(&r->req);
	struct cache_image img = { 0 };
	int64_t waited_from;
	uint64_t packed = 0;
	int lock, slot = -1, pack = -1, rc;

	if ((rc = lock = locked(r, lock_take(r->b->cfg->state_dir, "image", r->key, r->dl, &waited_from),
				"the wait for another build of it stopped")) < 0 ||
	    (rc = built_meanwhile(r, waited_from)) != -ENOENT)
		goto out;
	if (storage_remote(r->b->storage) && (rc = from_other_host(r)) != -ENOENT)
		goto out;
	if ((rc = slot = request_take_slot(r, "before it could be built", NULL)) < 0)
		goto out;
	/* Until the image is recorded, gc keeps its hands off the blobs. */
	if ((rc = pack = locked(r, lock_build(r->b->cfg->state_dir, r->dl),
				"the wait for the garbage collector stopped")) < 0)
		goto out;
	if ((rc = build_recorded(r, packages ? packages : "", &img, &packed)) == 0)
		rc = answer_built(r, &img, packed);
out:
	shared_release(r->b->storage, r->key, r->claim);
	lock_release(pack);
	lock_release(slot);
	lock_release(lock);
	cJSON_free(packages);
	return rc;
}
