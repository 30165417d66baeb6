#include "builder/index.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "builder/keys.h"
#include "builder/lock.h"
#include "core/clock.h"
#include "core/log.h"
#include "nix/batch.h"

/* One platform's image of an index request, found or built on a thread
 * of its own, with a cache handle of its own. */
struct part {
	struct request r;
	struct builder b;
	struct builder_result out;
	pthread_t thread;
	int started, rc;
};

static void names(struct buf *b, const char *what, char *const *v, size_t n)
{
	size_t i;

	if (!n)
		return;
	buf_printf(b, "%s%s:", b->len && b->data[b->len - 1] != ' ' ? "; " : "", what);
	for (i = 0; i < n; i++)
		buf_printf(b, " %s", v[i]);
}

/* Why a platform is left out, in the words of the index's annotation. */
static void why_left_out(struct buf *b, const struct platform *p, const struct nix_eval *ev)
{
	char what[96];

	snprintf(what, sizeof what, "not offered for %s (meta.platforms)", p->system);
	names(b, what, ev->unsupported, ev->nunsupported);
	names(b, "refused by Nix there", ev->refused, ev->nrefused);
	names(b, "not in the package set there", ev->unknown, ev->nunknown);
}

/* A part's request: the index request's, for platform i alone, whose
 * evaluation it takes over. Its tag is the index's: it records only what
 * its request (that platform alone) evaluated to. */
static int part_init(struct part *p, struct request *r, size_t i, const char *key, struct nix_batch *batch)
{
	p->b = *r->b;
	p->b.cache = NULL;
	p->r = (struct request){ .b = &p->b, .who = r->who, .dl = r->dl, .name = r->name, .ref = r->ref,
				 .accept = MANIFEST_ACCEPT_DOCKER, .req = r->req, .src = r->src, .part = 1,
				 .admitted = 1, .pass = ADMISSION_PASS_NONE, .evaluated = r->evaluated,
				 .out = &p->out };
	image_set_platform(&p->r.req, r->plat[i]);
	p->r.plat[0] = r->plat[i];
	p->r.nplat = 1;
	p->r.job = (struct nix_job){ .cfg = r->b->cfg, .src = &p->r.src, .req = &p->r.req, .deadline = r->dl,
				     .build_likely = 1, .batch = batch };
	memcpy(p->r.key, key, sizeof p->r.key);
	if (keys_request(p->r.req_key, &r->src, &p->r.req, &r->plat[i], 1, r->b->cfg->max_layers) < 0)
		return -ENOMEM;
	/* Taken over only by a part that runs: it frees it. */
	p->r.evs[0] = r->evs[i];
	memset(&r->evs[i], 0, sizeof r->evs[i]);
	return 0;
}

/* The platform's image: from the cache, or built (build.c), as a
 * request for it alone would have it. */
static void *part_run(void *arg)
{
	struct part *p = arg;
	char err[512];

	if (cache_open(p->b.cfg->state_dir, &p->b.cache, err, sizeof err) < 0) {
		p->rc = request_say(&p->r, -EBUSY, "the build cache cannot be opened (%s): try again shortly", err);
		goto out;
	}
	p->rc = request_cached_image(&p->r);
	metrics_cache(p->b.metrics, METRICS_IMAGE, p->rc == 0);
	if (p->rc == 0)
		p->rc = request_remember(&p->r, 1);
	else if (p->rc == -ENOENT)
		p->rc = build_locked(&p->r);
	cache_close(p->b.cache);
out:
	nix_eval_free(&p->r.evs[0]);
	return NULL;
}

/* Stores one of the index's two forms and records it. Another host of
 * the bucket that made the same index stored the same bytes: a copy is
 * kept here, and nothing uploaded again. */
static int put_index(struct request *r, const char *json, const char *media_type, char hex[DIGEST_HEX_LEN + 1])
{
	const struct storage *s = r->b->storage;
	char err[512];
	int rc;

	if (!json || digest_hex(json, strlen(json), hex) < 0)
		return request_say(r, -EIO, "out of memory writing an image index");
	if (storage_remote(s) && storage_check(s, hex, strlen(json)) == 0)
		rc = storage_keep(s, json, strlen(json), hex, err, sizeof err);
	else
		rc = storage_put(s, json, strlen(json), hex, err, sizeof err);
	if (rc < 0)
		return request_say(r, rc == -ENOSPC || rc == -EHOSTUNREACH ? rc : -EIO, "%s", err);
	if ((rc = cache_blob_put(r->b->cache, hex, strlen(json), media_type)) < 0)
		return request_answer_cache_error(r, rc);
	return 0;
}

/* An index entry for the manifest hex of platform p. */
static int entry(struct request *r, struct manifest_entry *e, const struct platform *p, const char *hex)
{
	struct cache_blob blob;
	int rc = cache_blob_get(r->b->cache, hex, &blob);

	if (rc < 0)
		return rc == -ENOENT ? request_say(r, -EIO, "manifest %s of %s is not recorded", hex, p->name) :
			request_answer_cache_error(r, rc);
	*e = (struct manifest_entry){ .size = blob.size, .os = p->os, .arch = p->arch, .variant = p->variant };
	memcpy(e->digest, hex, sizeof e->digest);
	return 0;
}

/* The index of the parts' images, in platform order, stored, recorded
 * under r->key for r->req_key, and answered. */
static int compose(struct request *r, struct part *parts, const char *left_out)
{
	struct manifest_entry docker[PLATFORM_MAX], oci[PLATFORM_MAX];
	struct cache_image img = { .index = 1 };
	char *list = NULL, *index = NULL;
	size_t i, n = 0, used = 0;
	int rc = 0;

	for (i = 0; i < r->nplat && rc == 0; i++) {
		if (!parts[i].r.part)
			continue;
		if ((rc = entry(r, &docker[n], r->plat[i], parts[i].r.img.docker_manifest)) == 0 &&
		    (rc = entry(r, &oci[n], r->plat[i], parts[i].r.img.oci_manifest)) == 0)
			n++;
		used += (size_t)snprintf(img.platforms + used, sizeof img.platforms - used, "%s%s", used ? " " : "",
					 r->plat[i]->name);
	}
	if (rc < 0)
		return rc;
	list = manifest_index_json(MANIFEST_DOCKER, docker, n, left_out);
	index = manifest_index_json(MANIFEST_OCI, oci, n, left_out);
	if ((rc = put_index(r, list, MEDIA_DOCKER_LIST, img.docker_manifest)) == 0 &&
	    (rc = put_index(r, index, MEDIA_OCI_INDEX, img.oci_manifest)) == 0 &&
	    (rc = cache_image_put(r->b->cache, r->key, &img, r->req_key, time(NULL))) < 0)
		rc = request_answer_cache_error(r, rc);
	if (rc == 0 && (rc = request_load_answer(r, &img, 0)) < 0)
		rc = request_say(r, -EIO, "the image index was made, but cannot be read back from storage");
	if (rc == 0 && (rc = request_remember(r, 0)) == 0)
		r->img = img;
	cJSON_free(list);
	cJSON_free(index);
	return rc;
}

/* Each platform left out, in the log and where the builds are listed. */
static void record_left_out(struct request *r, const char *const *keys)
{
	char *packages = image_packages_json(&r->req), name[IMAGE_NAME_MAX + 200];
	struct buf why = { 0 };
	size_t i;

	snprintf(name, sizeof name, "%s:%s", r->name, r->ref);
	for (i = 0; i < r->nplat; i++) {
		if (keys[i])
			continue;
		why.len = 0;
		why_left_out(&why, r->plat[i], &r->evs[i]);
		log_info("image %s: %s is left out of its index: %s", name, r->plat[i]->name, why.data);
		if (cache_build_left_out(r->b->cache, r->key, packages ? packages : "", name, r->plat[i]->name,
					 request_asker(r), why.data, clock_now_ms()) < 0)
			log_warn("cannot record that %s was left out: %s", r->plat[i]->name, cache_error(r->b->cache));
	}
	buf_free(&why);
	cJSON_free(packages);
}

/* Every platform's image, side by side, those to build by one nix-build
 * (nix/batch.h) but with a bucket, where another host may have built
 * some; the first failure, in platform order, is the request's. */
static int run_parts(struct request *r, struct part *parts, const char *const *keys)
{
	struct nix_batch batch;
	char gcroots[4096];
	int batched = !storage_remote(r->b->storage);
	size_t i;
	int rc = 0;

	snprintf(gcroots, sizeof gcroots, "%s/gcroots/%s", r->b->cfg->state_dir, r->key);
	nix_batch_begin(&batch, gcroots);
	for (i = 0; i < r->nplat && batched && rc == 0; i++)
		if (keys[i] && nix_batch_add(&batch, r->plat[i]->system, r->evs[i].outputs, r->evs[i].noutputs) < 0)
			rc = request_say(r, -EIO, "out of memory");
	for (i = 0; i < r->nplat && rc == 0; i++) {
		if (!keys[i])
			continue;
		if (part_init(&parts[i], r, i, keys[i], batched ? &batch : NULL) < 0) {
			rc = request_say(r, -EIO, "out of memory");
			break;
		}
		parts[i].started = pthread_create(&parts[i].thread, NULL, part_run, &parts[i]) == 0;
		if (!parts[i].started)
			part_run(&parts[i]);
	}
	for (i = 0; i < r->nplat; i++) {
		if (parts[i].started)
			pthread_join(parts[i].thread, NULL);
		if (keys[i] && parts[i].rc < 0 && rc == 0)
			rc = request_say(r, parts[i].rc, "%s: %s", r->plat[i]->name, parts[i].out.message);
		r->out->built |= parts[i].out.built;
		r->out->packed += parts[i].out.packed;
	}
	nix_batch_end(&batch);
	return rc;
}

/* Makes the index under its lock, once for all the workers of the host
 * that ask for it. */
static int index_build(struct request *r, const char *const *keys, const char *left_out)
{
	struct part *parts = calloc(r->nplat, sizeof *parts);
	int64_t waited_from;
	size_t i;
	int lock = -1, rc;

	if (!parts)
		return request_say(r, -EIO, "out of memory");
	if ((rc = lock = lock_take(r->b->cfg->state_dir, "image", r->key, r->dl, &waited_from)) < 0) {
		rc = rc == -ETIMEDOUT || rc == -ECANCELED ? request_stopped(r, rc, "the wait for another build of it stopped") :
			request_say(r, -EIO, "cannot take the build lock: %s: check NIXERY_STATE_DIR", strerror(-rc));
		goto out;
	}
	if ((rc = request_cached_image(r)) != -ENOENT) {
		if (rc == 0)
			rc = request_remember(r, 1);
		goto out;
	}
	if (*left_out)
		record_left_out(r, keys);
	if ((rc = run_parts(r, parts, keys)) == 0)
		rc = compose(r, parts, left_out);
	if (rc == 0)
		log_info("image %s:%s: index %s of %s", r->name, r->ref, r->key, r->img.platforms);
out:
	for (i = 0; i < r->nplat; i++)
		builder_result_free(&parts[i].out);
	free(parts);
	lock_release(lock);
	return rc;
}

int index_resolve(struct request *r)
{
	char part_keys[PLATFORM_MAX][DIGEST_HEX_LEN + 1];
	const char *keys[PLATFORM_MAX] = { 0 };
	struct buf left_out = { 0 };
	struct image_request req;
	size_t i;
	int rc;

	for (i = 0; i < r->nplat; i++) {
		if (!nix_eval_complete(&r->evs[i])) {
			buf_printf(&left_out, "%s%s: ", left_out.len ? "; " : "", r->plat[i]->name);
			why_left_out(&left_out, r->plat[i], &r->evs[i]);
			continue;
		}
		req = r->req;
		image_set_platform(&req, r->plat[i]);
		if (keys_image(part_keys[i], &req, r->evs[i].outputs, r->evs[i].noutputs, r->b->cfg->max_layers) < 0)
			return request_say(r, -EIO, "out of memory");
		keys[i] = part_keys[i];
	}
	if (keys_index(r->key, r->plat, keys, r->nplat, left_out.data) < 0) {
		buf_free(&left_out);
		return request_say(r, -EIO, "out of memory");
	}
	rc = request_cached_image(r);
	metrics_cache(r->b->metrics, METRICS_IMAGE, rc == 0);
	if (rc == 0)
		rc = request_remember(r, 1);
	else if (rc == -ENOENT)
		rc = index_build(r, keys, left_out.data ? left_out.data : "");
	buf_free(&left_out);
	return rc;
}
