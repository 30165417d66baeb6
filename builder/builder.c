#include "builder/builder.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "builder/health.h"
#include "builder/keys.h"
#include "builder/lock.h"
#include "builder/pack.h"
#include "builder/publish.h"
#include "builder/shared.h"
#include "core/clock.h"
#include "core/image.h"
#include "core/layers.h"
#include "core/log.h"
#include "core/mkdirs.h"
#include "core/source.h"
#include "core/strv.h"

/* Seconds between two records of an image's last use. */
#define USED_PRECISION 3600
/* Refused names explained one by one, each a Nix evaluation. */
#define MAX_EXPLAINED 8

/* One request on its way through the pipeline. */
struct request {
	struct builder *b;
	const struct deadline *dl;
	const char *name, *ref;
	enum manifest_format fmt;
	struct image_request req;
	struct source src;
	struct nix_eval ev;
	struct nix_job job;
	char req_key[DIGEST_HEX_LEN + 1];
	char key[DIGEST_HEX_LEN + 1];
	int64_t build_id;             /* the builds row, while building */
	int64_t evaluated;            /* when the answer's evaluation was made */
	struct cache_image img;       /* the answer */
	int verify_blobs;             /* a cached image's blobs are tested */
	int admitted, ticket;         /* to cold work (admission.h) */
	char claim[STORAGE_VERSION_MAX];  /* the bucket's claim this host made to build it: its version */
	struct builder_result *out;
};

static int say(struct request *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(struct request *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->out->message, sizeof r->out->message, fmt, ap);
	va_end(ap);
	return rc;
}

/* A cache error that is not a miss, as the request's answer: busy, or
 * storage full; never a reason to build. */
static int answer_cache_error(struct request *r, int rc)
{
	if (rc == -EAGAIN)
		return rc;
	log_error("build cache: %s", cache_error(r->b->cache));
	return say(r, rc == -ENOSPC ? rc : -EBUSY, "the build cache cannot be read or written (%s): try again shortly",
		   cache_error(r->b->cache));
}

/* A request stopped by its deadline, or by the worker's stop; what
 * says which step stopped. */
static int stopped(struct request *r, int rc, const char *what)
{
	if (rc == -ECANCELED)
		return say(r, rc, "the registry is restarting: try again");
	return say(r, -ETIMEDOUT, "the image was not ready within NIX_TIMEOUT (%d seconds): %s",
		   r->b->cfg->nix_timeout, what);
}

static int load_manifest(struct request *r, const char *hex)
{
	int rc = storage_read(r->b->storage, hex, MANIFEST_MAX_BYTES, &r->out->manifest);

	snprintf(r->out->digest, sizeof r->out->digest, "%s", hex);
	r->out->media_type = manifest_media_type(r->fmt);
	return rc;
}

static int blob_present(void *ctx, const char *hex, uint64_t size)
{
	struct request *r = ctx;

	return r->verify_blobs ? health_check(r->b->cache, r->b->storage, hex, size) : 0;
}

/* Loads a cached image's manifest, if it and every blob it names are
 * there whole: -ENOENT when something was lost (and is forgotten now:
 * health.h), and the image is built again. */
static int load_whole_image(struct request *r, const struct cache_image *img)
{
	const char *hex = r->fmt == MANIFEST_OCI ? img->oci_manifest : img->docker_manifest;
	int rc = load_manifest(r, hex);

	/* A manifest missing, cut, damaged, or no manifest. */
	if (rc < 0 || (rc = manifest_each_blob(r->out->manifest.data, blob_present, r)) == -EINVAL)
		rc = health_lost(r->b->cache, r->b->storage, hex, rc);
	if (rc == 0 || rc == -ENOENT)
		return rc;
	if (rc == -EHOSTUNREACH || rc == -EACCES)
		return say(r, rc == -EACCES ? -EIO : rc, "the image's blobs cannot be looked for in the bucket "
			   "(the log says why): try again shortly");
	return answer_cache_error(r, rc);
}

/* Answers with the image recorded as img under r->key, if it is there
 * whole. Its last use is written at most once an hour: gc needs days,
 * not every request. A bucket's objects, a round trip each, are tested
 * at that moment too: a lifecycle rule may have removed them. */
static int use_image(struct request *r, const struct cache_image *img)
{
	int64_t now = time(NULL);
	int stale = now - img->used >= USED_PRECISION, rc;

	r->verify_blobs = !storage_remote(r->b->storage) || stale;
	rc = load_whole_image(r, img);
	if (rc == 0 && stale && (rc = cache_image_used(r->b->cache, r->key, now)) < 0)
		return answer_cache_error(r, rc);
	if (rc == 0)
		r->img = *img;
	return rc;
}

/* The image under r->key, if it is cached whole. */
static int cached_image(struct request *r)
{
	struct cache_image img;
	int rc = cache_image_get(r->b->cache, r->key, &img);

	if (rc == -ENOENT)
		return rc;
	return rc < 0 ? answer_cache_error(r, rc) : use_image(r, &img);
}

static void add_names(struct builder_result *out, char *const *names, size_t n)
{
	char **grown = realloc(out->packages, (out->npackages + n + 1) * sizeof *grown);
	size_t i;

	if (!grown)
		return;
	out->packages = grown;
	for (i = 0; i < n; i++)
		if ((grown[out->npackages] = strdup(names[i])))
			out->npackages++;
}

/* Unknown names, and refused ones with Nix's reason: the user's mistake,
 * told in one answer. The caller holds a build slot. */
static int packages_at_fault(struct request *r)
{
	struct buf msg = { 0 };
	char reason[400];
	size_t i;

	if (r->ev.nunknown) {
		buf_printf(&msg, "Could not find Nix packages:");
		for (i = 0; i < r->ev.nunknown; i++)
			buf_printf(&msg, " %s", r->ev.unknown[i]);
	}
	if (r->ev.nrefused)
		buf_printf(&msg, "%sNix refused packages:", r->ev.nunknown ? "; " : "");
	for (i = 0; i < r->ev.nrefused; i++) {
		if (i >= MAX_EXPLAINED ||
		    r->b->nix->explain(&r->job, r->ev.refused[i], reason, sizeof reason) < 0)
			snprintf(reason, sizeof reason, "its evaluation failed");
		buf_printf(&msg, "%s %s (%s)", i ? ";" : "", r->ev.refused[i], reason);
	}
	add_names(r->out, r->ev.unknown, r->ev.nunknown);
	add_names(r->out, r->ev.refused, r->ev.nrefused);
	say(r, -ENOENT, "%s", msg.data ? msg.data : "Could not find Nix packages");
	buf_free(&msg);
	return -ENOENT;
}

/* Records what the request evaluated to (unless the image's record did
 * already), and the tag under its name, for tags/list: on evaluation,
 * never on a request answered from the cache. */
static int remember(struct request *r, int request_too)
{
	int64_t now = time(NULL);
	int rc = request_too ? cache_request_put(r->b->cache, r->req_key, r->key, now) : 0;

	if (rc == 0)
		rc = cache_tag_put(r->b->cache, r->name, r->ref, r->key, now);
	return rc < 0 ? answer_cache_error(r, rc) : 0;
}

/* A build slot: one of the host's NIXERY_MAX_BUILDS Nix jobs; *waited_ms
 * (if not NULL) says how long it took. */
static int take_slot(struct request *r, const char *what, long *waited_ms)
{
	long waited = 0;
	int slot = lock_slot(r->b->cfg->state_dir, r->b->cfg->max_builds, r->dl, &waited);

	if (waited_ms)
		*waited_ms = waited;
	if (slot == -EBUSY)
		return say(r, -EBUSY, "all %d build slots (NIXERY_MAX_BUILDS) stayed busy %s: try again shortly",
			   r->b->cfg->max_builds, what);
	if (slot < 0)
		return slot == -ECANCELED ? stopped(r, slot, "") :
			say(r, -EIO, "cannot take a build slot: %s", strerror(-slot));
	if (waited > 0)
		metrics_slot_wait(r->b->metrics, waited);
	if (waited > 1000)
		log_info("waited %.1f s for a build slot", (double)waited / 1000);
	return slot;
}

/* Nix evaluates the request to output paths. */
static int evaluate(struct request *r)
{
	char err[1024];
	long waited;
	int slot = take_slot(r, "before it could be evaluated", &waited), rc;

	if (slot < 0)
		return slot;
	/* A host busy enough to make the evaluation wait makes the build wait
	 * too: a store session started beside the evaluation would idle. */
	if (waited > 0)
		r->job.build_likely = 0;
	rc = r->b->nix->evaluate(&r->job, &r->ev, err, sizeof err);
	if (rc == 0 && (r->ev.nunknown || r->ev.nrefused))
		rc = packages_at_fault(r);
	else if (rc == -ENOENT)
		say(r, rc, "unknown tag '%s': %s", r->ref, err);
	else if (rc == -ETIMEDOUT || rc == -ECANCELED)
		stopped(r, rc, err);
	else if (rc < 0)
		say(r, -EIO, "%s", err);
	lock_release(slot);
	return rc < 0 && rc != -ENOENT && rc != -ETIMEDOUT && rc != -ECANCELED ? -EIO : rc;
}

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
	rc = r->b->nix->realise(&r->job, &r->ev, gcroot, c, err, errlen);
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
	if ((rc = pack_image(&p, &c, &plan, &r->req, r->ev.outputs, r->ev.noutputs,
			     img, err, errlen)) < 0)
		goto out;
	ms[2] = clock_lap_ms(&lap);
	log_info("built image %s: %zu store paths in %zu layers, %llu bytes newly packed "
		 "(build and closure %ld ms, layout %ld ms, packing %ld ms)",
		 r->key, c.n, plan.n + 1, (unsigned long long)p.packed, ms[0], ms[1], ms[2]);
out:
	*packed = p.packed;
	*size = p.size;
	nix_release(gcroot);
	popularity_release(r->b->popularity, pop);
	layers_plan_free(&plan);
	closure_free(&c);
	return rc;
}

/* How a failed build's error reaches the client. */
static int build_failed(struct request *r, int rc, const char *err)
{
	if (rc == -ETIMEDOUT || rc == -ECANCELED)
		return stopped(r, rc, err);
	if (rc == -EAGAIN || rc == -ENOSPC || rc == -EBUSY || rc == -EHOSTUNREACH)
		return say(r, rc, "%s", err);
	log_error("image %s: %s", r->key, err);
	return say(r, -EIO, "%s", err);
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
		return stopped(r, rc, "the wait for another host's build of it stopped");
	if (rc < 0)
		return say(r, rc == -EHOSTUNREACH ? rc : -EIO, "%s", err);
	log_info("image %s: taken over from the bucket, where another host built it", r->key);
	if ((rc = use_image(r, &img)) == 0)
		rc = remember(r, 0);
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
	if ((rc = cache_build_begin(cache, r->key, packages, name, clock_now_ms(), &r->build_id)) < 0)
		return answer_cache_error(r, rc);
	log_info("building image %s: %s", r->key, packages);
	metrics_build_started(r->b->metrics);
	if ((rc = build(r, img, packed, &size, err, sizeof err)) == 0)
		r->img = *img;
	if (rc == 0 && (rc = cache_image_put(cache, r->key, img, r->req_key, time(NULL))) < 0)
		snprintf(err, sizeof err, "cannot record the image: %s", cache_error(cache));
	if (rc == 0 && storage_remote(r->b->storage) && shared_publish(r->b->storage, r->key, img, err, sizeof err) < 0)
		log_warn("image %s is built, but other hosts will not find it: %s", r->key, err);
	status = ended_as(rc);
	metrics_build_ended(r->b->metrics, counted_as[status], clock_seconds_since(started), *packed);
	if (cache_build_end(cache, r->build_id, status, rc == 0 ? NULL : err, clock_seconds_since(started), *packed,
			    rc == 0 ? size : 0, clock_now_ms()) < 0)
		log_warn("cannot record the end of build %lld: %s", (long long)r->build_id, cache_error(cache));
	return rc < 0 ? build_failed(r, rc, err) : 0;
}

/* Evaluated, not cached: build under the image's lock, once for all the
 * workers asking for it. */
static int build_locked(struct request *r)
{
	struct cache *cache = r->b->cache;
	struct cache_image img;
	enum build_status status;
	char err[1024] = "", *packages = image_packages_json(&r->req);
	int64_t waited_from;
	uint64_t packed = 0;
	int lock, slot = -1, pack = -1, rc;

	if ((lock = lock_take(r->b->cfg->state_dir, "image", r->key, r->dl, &waited_from)) < 0) {
		rc = lock == -ETIMEDOUT || lock == -ECANCELED ?
			stopped(r, lock, "the wait for another build of it stopped") :
			say(r, -EIO, "cannot take the build lock: %s: check NIXERY_STATE_DIR", strerror(-lock));
		goto out;
	}
	/* Another worker may have built it, or failed to, while we waited. */
	if ((rc = cached_image(r)) != -ENOENT) {
		if (rc == 0)
			rc = remember(r, 1);
		goto out;
	}
	/* The build we waited for failed: that is the answer, not a second
	 * try on what the wait left of the deadline. A request that came
	 * after the failure never waited for it, and builds again. */
	if (waited_from &&
	    (rc = cache_build_failed_since(cache, r->key, waited_from, &status, err, sizeof err)) != -ENOENT) {
		rc = rc < 0 ? answer_cache_error(r, rc) : build_failed(r, status == BUILD_TIMEOUT ? -ETIMEDOUT : -EIO, err);
		goto out;
	}
	if (storage_remote(r->b->storage) && (rc = from_other_host(r)) != -ENOENT)
		goto out;
	if ((rc = slot = take_slot(r, "before it could be built", NULL)) < 0)
		goto out;
	/* Until the image is recorded, gc keeps its hands off the blobs. */
	if ((rc = pack = lock_build(r->b->cfg->state_dir, r->dl)) < 0) {
		rc = rc == -ETIMEDOUT || rc == -ECANCELED ? stopped(r, rc, "the wait for the garbage collector stopped") :
			say(r, -EIO, "cannot take the build lock: %s: check NIXERY_STATE_DIR", strerror(-rc));
		goto out;
	}
	if ((rc = build_recorded(r, packages ? packages : "", &img, &packed)) < 0)
		goto out;
	if (load_manifest(r, r->fmt == MANIFEST_OCI ? img.oci_manifest : img.docker_manifest) < 0)
		rc = say(r, -EIO, "the image was built, but its manifest cannot be read back from storage");
	else if ((rc = remember(r, 0)) == 0) {
		r->out->built = 1;
		r->out->packed = packed;
	}
out:
	shared_release(r->b->storage, r->key, r->claim);
	lock_release(pack);
	lock_release(slot);
	lock_release(lock);
	cJSON_free(packages);
	return rc;
}

/* Cold work, anything that runs Nix or waits for it, first needs the
 * request admitted; held until the request ends. */
static int admit(struct request *r)
{
	int rc;

	if (r->admitted)
		return 0;
	if ((rc = admission_enter(r->b->admission, &r->ticket, r->out->message, sizeof r->out->message)) == 0)
		r->admitted = 1;
	return rc;
}

/* A moving source's evaluation is trusted for NIXERY_EVAL_TTL; a pinned
 * one for good. When the TTL runs out one request evaluates again; the
 * others, and that one when the host admits no more cold work, are
 * answered with the image already built meanwhile. */
static int still_current(struct request *r, int64_t evaluated)
{
	int64_t now = time(NULL);
	int rc;

	if (r->src.pinned || now - evaluated < r->b->cfg->eval_ttl)
		return 1;
	if (admit(r) < 0) {
		r->out->message[0] = '\0';
		return 1;
	}
	rc = cache_request_claim(r->b->cache, r->req_key, evaluated, now);
	if (rc == -EBUSY)
		return 1;
	return rc < 0 ? answer_cache_error(r, rc) : 0;
}

static int resolve(struct request *r, const char *name, const char *ref)
{
	struct builder *b = r->b;
	struct cache_hit hit;
	int rc;

	if (image_parse(name, &r->req, r->out->message, sizeof r->out->message) < 0)
		return -EINVAL;
	if (source_resolve(b->cfg, ref, &r->src) < 0 ||
	    keys_request(r->req_key, &r->src, &r->req, b->cfg->max_layers) < 0)
		return say(r, -EIO, "out of memory");
	rc = cache_request_lookup(b->cache, r->req_key, name, ref, &hit);
	if (rc == 0) {
		memcpy(r->key, hit.image_key, sizeof r->key);
		r->evaluated = hit.evaluated;
		rc = use_image(r, &hit.img);
	}
	if (rc == 0 && (rc = still_current(r, hit.evaluated)) != 0) {
		/* A tag the source ignores (a path, a channel) names the
		 * image too: the first time, for tags/list. */
		if (rc < 0)
			return rc;
		metrics_cache(b->metrics, METRICS_REQUEST, 1);
		return hit.tagged ? 0 : remember(r, 0);
	}
	if (rc < 0 && rc != -ENOENT)
		return rc == -EAGAIN || r->out->message[0] ? rc : answer_cache_error(r, rc);
	metrics_cache(b->metrics, METRICS_REQUEST, 0);
	r->out->manifest.len = 0;
	/* A request not seen before is likely a build, unless a bucket is
	 * shared: then another host has most likely built it, and it is
	 * taken over without Nix beyond the evaluation. */
	r->job = (struct nix_job){ .cfg = b->cfg, .src = &r->src, .req = &r->req, .deadline = r->dl,
				   .build_likely = rc == -ENOENT && !storage_remote(b->storage) };
	if ((rc = admit(r)) < 0 || (rc = evaluate(r)) < 0)
		return rc;
	r->evaluated = time(NULL);
	if (keys_image(r->key, &r->req, r->ev.outputs, r->ev.noutputs, b->cfg->max_layers) < 0)
		return say(r, -EIO, "out of memory");
	rc = cached_image(r);
	metrics_cache(b->metrics, METRICS_IMAGE, rc == 0);
	if (rc == 0)
		return remember(r, 1);
	return rc == -ENOENT ? build_locked(r) : rc;
}

/* The answer, kept for the web server to give again without a worker
 * until the evaluation is due again, and for USED_PRECISION at most: then
 * a worker answers once more, which records the image's use for gc and,
 * on a bucket, tests its blobs (the web server tests only files here). */
static void publish(struct request *r)
{
	int64_t now = time(NULL), until = now + USED_PRECISION;

	if (!r->src.pinned && r->evaluated + r->b->cfg->eval_ttl < until)
		until = r->evaluated + r->b->cfg->eval_ttl;
	publish_tag(r->b->storage, r->name, r->ref, &r->img, r->out->manifest.data, now, until);
}

int builder_image(struct builder *b, const char *name, const char *ref, enum manifest_format fmt,
		  const struct deadline *dl, struct builder_result *out)
{
	int attempt, rc = 0;

	memset(out, 0, sizeof *out);
	/* A damaged cache is replaced by a new one: then the request is
	 * asked again of it, once. */
	for (attempt = 0; attempt < 2; attempt++) {
		struct request r = { .b = b, .dl = dl, .name = name, .ref = ref, .fmt = fmt, .out = out,
				     .ticket = -1 };

		out->message[0] = '\0';
		out->manifest.len = 0;
		if ((rc = cache_refresh(b->cache)) == 0 && (rc = resolve(&r, name, ref)) == 0)
			publish(&r);
		if (r.admitted)
			admission_leave(b->admission, r.ticket);
		nix_eval_free(&r.ev);
		source_free(&r.src);
		image_request_free(&r.req);
		if (rc != -EAGAIN)
			return rc;
	}
	snprintf(out->message, sizeof out->message,
		 "the build cache was damaged and has been replaced: try again");
	return -EBUSY;
}

void builder_result_free(struct builder_result *r)
{
	buf_free(&r->manifest);
	strv_free(r->packages, r->npackages);
	memset(r, 0, sizeof *r);
}

int builder_release_roots(const char *state_dir)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	int released = 0;

	snprintf(path, sizeof path, "%s/gcroots", state_dir);
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		int lock;

		if (!digest_is_hex(e->d_name) ||
		    (lock = lock_try(state_dir, "image", e->d_name)) < 0)
			continue;
		snprintf(path, sizeof path, "%s/gcroots/%s", state_dir, e->d_name);
		nix_release(path);
		log_info("released the GC roots of %s, left by a build that stopped", e->d_name);
		lock_release(lock);
		released++;
	}
	closedir(d);
	return released;
}

int builder_prepare(const struct config *cfg, char *err, size_t errlen)
{
	const char *subdirs[] = { "/locks", "/gcroots" };
	char path[4096];
	size_t i;
	int rc;

	for (i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		snprintf(path, sizeof path, "%s%s", cfg->state_dir, subdirs[i]);
		if ((rc = mkdirs(path, 0777, err, errlen)) < 0)
			return rc;
	}
	builder_release_roots(cfg->state_dir);
	return cache_init(cfg->state_dir, err, errlen);
}

int builder_open(struct builder *b, const struct config *cfg, const struct storage *storage,
		 struct popularity_source *popularity, struct metrics *metrics, struct admission *admission,
		 char *err, size_t errlen)
{
	*b = (struct builder){ .cfg = cfg, .storage = storage, .popularity = popularity, .nix = &nix_real,
			       .metrics = metrics, .admission = admission };
	return cache_open(cfg->state_dir, &b->cache, err, errlen);
}

int builder_open_existing(struct builder *b, const struct config *cfg, const struct storage *storage,
			  char *err, size_t errlen)
{
	*b = (struct builder){ .cfg = cfg, .storage = storage };
	return cache_open_existing(cfg->state_dir, &b->cache, err, errlen);
}

void builder_close(struct builder *b)
{
	cache_close(b->cache);
	b->cache = NULL;
}
