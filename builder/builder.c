/* The builder's face: a thread's builder opened and closed, the process's
 * state prepared, and an image request resolved, step by step: the name
 * parsed, the request looked up in the cache and trusted while its
 * evaluation is current, else evaluated by Nix to its image, answered
 * from the cache or built (build.c); the answer kept for the web server
 * (publish.c). */
#include "builder/builder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder/index.h"
#include "builder/keys.h"
#include "builder/lock.h"
#include "builder/publish.h"
#include "builder/request.h"
#include "core/log.h"
#include "core/mkdirs.h"
#include "core/policy.h"
#include "core/strv.h"

/* Refused names explained one by one, each a Nix evaluation. */
#define MAX_EXPLAINED 8

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

/* Unknown names, refused ones with Nix's reason, and those not offered
 * for the platform (ev, the request's first): the user's mistake, told in
 * one answer. The caller holds a build slot. */
static int packages_at_fault(struct request *r, const struct nix_eval *ev)
{
	struct buf msg = { 0 };
	char reason[400];
	size_t i;

	if (ev->nunknown) {
		buf_printf(&msg, "Could not find Nix packages:");
		for (i = 0; i < ev->nunknown; i++)
			buf_printf(&msg, " %s", ev->unknown[i]);
	}
	if (ev->nrefused)
		buf_printf(&msg, "%sNix refused packages:", msg.len ? "; " : "");
	for (i = 0; i < ev->nrefused; i++) {
		if (i >= MAX_EXPLAINED ||
		    r->b->nix->explain(&r->job, ev->refused[i], reason, sizeof reason) < 0)
			snprintf(reason, sizeof reason, "its evaluation failed");
		buf_printf(&msg, "%s %s (%s)", i ? ";" : "", ev->refused[i], reason);
	}
	if (ev->nunsupported)
		buf_printf(&msg, "%sNot offered for %s (meta.platforms):", msg.len ? "; " : "", r->req.system);
	for (i = 0; i < ev->nunsupported; i++)
		buf_printf(&msg, " %s", ev->unsupported[i]);
	add_names(r->out, ev->unknown, ev->nunknown);
	add_names(r->out, ev->refused, ev->nrefused);
	add_names(r->out, ev->unsupported, ev->nunsupported);
	request_say(r, -ENOENT, "%s", msg.data ? msg.data : "Could not find Nix packages");
	buf_free(&msg);
	return -ENOENT;
}

/* Nix evaluates the request to output paths, for every platform at once;
 * packages at fault on every platform are the request's fault (an index
 * leaves out only the platforms where they are). */
static int evaluate(struct request *r)
{
	struct nix_eval *ev = r->evs;
	const char *systems[PLATFORM_MAX];
	char err[1024];
	size_t i, complete = 0;
	long waited;
	int slot = request_take_slot(r, "before it could be evaluated", &waited), rc;

	if (slot < 0)
		return slot;
	/* A host busy enough to make the evaluation wait makes the build wait
	 * too: a store session started beside the evaluation would idle. */
	if (waited > 0)
		r->job.build_likely = 0;
	for (i = 0; i < r->nplat; i++)
		systems[i] = r->plat[i]->system;
	r->job.systems = systems;
	r->job.nsystems = r->nplat;
	rc = r->b->nix->evaluate(&r->job, ev, err, sizeof err);
	r->job.systems = NULL;
	r->job.nsystems = 0;
	for (i = 0; rc == 0 && i < r->nplat; i++)
		complete += nix_eval_complete(&ev[i]);
	if (rc == 0 && !complete)
		rc = packages_at_fault(r, &ev[0]);
	else if (rc == -ENOENT)
		request_say(r, rc, "unknown tag '%s': %s", r->ref, err);
	else if (rc == -ETIMEDOUT || rc == -ECANCELED)
		request_stopped(r, rc, err);
	else if (rc < 0)
		request_say(r, -EIO, "%s", err);
	lock_release(slot);
	return rc < 0 && rc != -ENOENT && rc != -ETIMEDOUT && rc != -ECANCELED ? -EIO : rc;
}

/* Cold work, anything that runs Nix or waits for it, first needs the
 * request admitted; held until the request ends. */
static int admit(struct request *r)
{
	int rc;

	if (r->admitted)
		return 0;
	if ((rc = admission_enter(r->b->admission, r->who, "this image is not built yet: building it", &r->pass,
				  r->out->message, sizeof r->out->message)) == 0)
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
	return rc < 0 ? request_answer_cache_error(r, rc) : 0;
}

/* The platforms the request is for: the one its name chose, if it is
 * served, or every one served, the first as the request's own. */
static int choose_platforms(struct request *r)
{
	const struct config *cfg = r->b->cfg;
	const struct platform *const *served = cfg->platforms;
	size_t i, n = cfg->nplatforms;
	char names[PLATFORM_MAX * 24];

	if (!r->req.platform_named) {
		memcpy(r->plat, served, n * sizeof *served);
		r->nplat = n;
		image_set_platform(&r->req, served[0]);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (served[i] == r->req.platform) {
			r->plat[0] = served[i];
			r->nplat = 1;
			return 0;
		}
	platform_list_text(served, n, " ", names, sizeof names);
	return request_say(r, -ENOENT, "this registry does not serve %s: it serves %s (NIXERY_PLATFORMS)",
			   r->req.platform->name, names);
}

/* The operator's package policy, over the names the path has (not the
 * meta-packages', nor those every image gets): before the cache, so that
 * a name denied since is not served either, and before any Nix. */
static int allowed_packages(struct request *r)
{
	const struct config *cfg = r->b->cfg;
	char *denied[IMAGE_NAME_MAX / 2 + 1];
	struct buf msg = { 0 };
	size_t i, n = 0;

	for (i = 0; i < r->req.nnamed; i++)
		if (!policy_package_allowed(cfg->allow_packages, cfg->deny_packages, r->req.named[i]))
			denied[n++] = r->req.named[i];
	if (!n)
		return 0;
	buf_printf(&msg, "not allowed on this registry (%s%s%s):", cfg->allow_packages ? "NIXERY_ALLOW_PACKAGES" : "",
		   cfg->allow_packages && cfg->deny_packages ? ", " : "", cfg->deny_packages ? "NIXERY_DENY_PACKAGES" : "");
	for (i = 0; i < n; i++)
		buf_printf(&msg, " %s", denied[i]);
	add_names(r->out, denied, n);
	request_say(r, -EPERM, "%s", msg.data ? msg.data : "packages not allowed on this registry");
	buf_free(&msg);
	return -EPERM;
}

static int resolve(struct request *r, const char *name, const char *ref)
{
	struct builder *b = r->b;
	struct cache_hit hit;
	int rc;

	if (image_parse(name, &r->req, r->out->message, sizeof r->out->message) < 0)
		return -EINVAL;
	if ((rc = allowed_packages(r)) < 0 || (rc = choose_platforms(r)) < 0)
		return rc;
	if (source_resolve(b->cfg, ref, &r->src) < 0 ||
	    keys_request(r->req_key, &r->src, &r->req, r->plat, r->nplat, b->cfg->max_layers) < 0)
		return request_say(r, -EIO, "out of memory");
	rc = cache_request_lookup(b->cache, r->req_key, name, ref, &hit);
	if (rc == 0) {
		memcpy(r->key, hit.image_key, sizeof r->key);
		r->evaluated = hit.evaluated;
		rc = request_use_image(r, &hit.img);
	}
	if (rc == 0 && (rc = still_current(r, hit.evaluated)) != 0) {
		/* A tag the source ignores (a path, a channel) names the
		 * image too: the first time, for tags/list. */
		if (rc < 0)
			return rc;
		metrics_cache(b->metrics, METRICS_REQUEST, 1);
		return hit.tagged ? 0 : request_remember(r, 0);
	}
	if (rc < 0 && rc != -ENOENT)
		return rc == -EAGAIN || r->out->message[0] ? rc : request_answer_cache_error(r, rc);
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
	if (r->nplat > 1)
		return index_resolve(r);
	if (keys_image(r->key, &r->req, r->evs[0].outputs, r->evs[0].noutputs, b->cfg->max_layers) < 0)
		return request_say(r, -EIO, "out of memory");
	rc = request_cached_image(r);
	metrics_cache(b->metrics, METRICS_IMAGE, rc == 0);
	if (rc == 0)
		return request_remember(r, 1);
	return rc == -ENOENT ? build_locked(r) : rc;
}

/* The answer, kept for the web server to give again without a worker
 * until the evaluation is due again, and for REQUEST_USED_PRECISION at
 * most: then a worker answers once more, which records the image's use
 * for gc and, on a bucket, tests its blobs (the web server tests only
 * files here). */
static void publish(struct request *r)
{
	int64_t now = time(NULL), until = now + REQUEST_USED_PRECISION;

	if (!r->src.pinned && r->evaluated + r->b->cfg->eval_ttl < until)
		until = r->evaluated + r->b->cfg->eval_ttl;
	publish_tag(r->b->storage, r->name, r->ref, &r->img, r->out->manifest.data, now, until);
}

int builder_image(struct builder *b, const struct asker *who, const char *name, const char *ref,
		  const struct manifest_accept *accept, int tag_file, const struct deadline *dl,
		  struct builder_result *out)
{
	int attempt, rc = 0;
	size_t i;

	memset(out, 0, sizeof *out);
	/* A damaged cache is replaced by a new one: then the request is
	 * asked again of it, once. */
	for (attempt = 0; attempt < 2; attempt++) {
		struct request r = { .b = b, .who = who, .dl = dl, .name = name, .ref = ref,
				     .accept = accept ? *accept : MANIFEST_ACCEPT_DOCKER, .out = out,
				     .pass = ADMISSION_PASS_NONE };

		out->message[0] = '\0';
		out->manifest.len = 0;
		if ((rc = cache_refresh(b->cache)) == 0 && (rc = resolve(&r, name, ref)) == 0 && tag_file)
			publish(&r);
		if (r.admitted)
			admission_leave(b->admission, &r.pass);
		for (i = 0; i < PLATFORM_MAX; i++)
			nix_eval_free(&r.evs[i]);
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
