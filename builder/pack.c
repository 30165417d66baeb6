#include "builder/pack.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "builder/keys.h"
#include "builder/lock.h"
#include "core/gzip.h"
#include "builder/health.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/rootfs.h"
#include "core/tarball.h"

/* A layer over one piece of the compressor's is packed alone, its pieces
 * on every compression thread; the smaller ones, one piece each, are
 * packed side by side on one thread each. */
#define BIG_LAYER ((uint64_t)GZIP_PIECE)

/* A database error while packing, in words in err; rc is kept. */
static int describe_cache_error(struct packer *p, int rc, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot record %s: %s", what, cache_error(p->cache));
	return rc;
}

/* What goes into one layer, written by a pack_layer caller. */
typedef int (*layer_fill)(struct tarball *t, const void *ctx, char *err, size_t errlen);

static int to_storage(void *ctx, const void *data, size_t len, char *err, size_t errlen)
{
	return storage_write(ctx, data, len, err, errlen);
}

/* Writes one layer to storage in a single pass, compressed on `threads`
 * threads, adding its size to p->packed. */
static int pack_layer(struct packer *p, unsigned threads, layer_fill fill, const void *ctx,
		      struct manifest_layer *out, char *err, size_t errlen)
{
	struct tarball_gzip gzip = { threads, p->cfg->gzip_level };
	struct tarball_result res;
	struct storage_writer *w = NULL;
	struct tarball *t = NULL;
	int rc;

	if ((rc = storage_begin(p->storage, &w, err, errlen)) < 0 ||
	    (rc = tarball_open(&t, gzip, to_storage, w, err, errlen)) < 0)
		goto out;
	tarball_set_deadline(t, p->deadline);
	if ((rc = fill(t, ctx, err, errlen)) < 0) {
		tarball_abort(t);
		goto out;
	}
	if ((rc = tarball_close(t, &res, err, errlen)) < 0)
		goto out;
	memcpy(out->digest, res.digest, sizeof out->digest);
	memcpy(out->diff_id, res.diff_id, sizeof out->diff_id);
	out->size = res.size;
	p->packed += res.size;
	rc = storage_commit(w, res.digest, err, errlen);
	w = NULL;
out:
	storage_discard(w);
	return rc;
}

struct store_paths {
	char **paths;
	size_t n;
};

static int fill_store_paths(struct tarball *t, const void *ctx, char *err, size_t errlen)
{
	const struct store_paths *sp = ctx;
	size_t i;
	int rc = tarball_add_dir(t, "nix", 0755);

	if (rc == 0)
		rc = tarball_add_dir(t, "nix/store", 0755);
	for (i = 0; i < sp->n && rc == 0; i++)
		rc = tarball_add_tree(t, sp->paths[i]);
	if (rc < 0)
		snprintf(err, errlen, "%s", tarball_error(t));
	return rc;
}

/* A layer packed before, whose blob is still there whole; else -ENOENT,
 * and the layer is packed again (health.h). */
static int cached_layer(struct packer *p, const char *key, struct manifest_layer *out,
			char *err, size_t errlen)
{
	int rc = cache_layer_get(p->cache, key, out);

	if (rc == -ENOENT)
		return rc;
	if (rc < 0)
		return describe_cache_error(p, rc, "a layer", err, errlen);
	rc = health_check(p->cache, p->storage, out->digest, out->size);
	if (rc == 0 || rc == -ENOENT)
		return rc;
	if (rc == -EHOSTUNREACH || rc == -EACCES) {
		snprintf(err, errlen, "layer blob %s cannot be looked for in the bucket (the log says why)", out->digest);
		return rc;
	}
	return describe_cache_error(p, rc, "a lost layer", err, errlen);
}

/* Packs one group of closure paths into a layer, unless that group was
 * packed before for any image. */
static int pack_store_layer(struct packer *p, const struct closure *c,
			    const struct layer_group *g, unsigned threads,
			    struct manifest_layer *out, char *err, size_t errlen)
{
	struct store_paths sp = { .paths = calloc(g->npaths + 1, sizeof(char *)), .n = g->npaths };
	char key[DIGEST_HEX_LEN + 1];
	int64_t waited;
	size_t i;
	int lock = -1, rc = -ENOMEM;

	for (i = 0; sp.paths && i < g->npaths; i++)
		sp.paths[i] = c->paths[g->paths[i]].path;
	if (!sp.paths || keys_layer(key, sp.paths, sp.n) < 0) {
		snprintf(err, errlen, "out of memory packing a layer");
		goto out;
	}
	rc = cached_layer(p, key, out, err, errlen);
	metrics_cache(p->metrics, METRICS_LAYER, rc == 0);
	if (rc != -ENOENT)
		goto out;
	/* Two images sharing a layer nobody packed yet: one packs it. */
	if ((lock = lock_take(p->cfg->state_dir, "layer", key, p->deadline, &waited)) < 0) {
		rc = lock;
		snprintf(err, errlen, "cannot take a layer lock: %s", strerror(-rc));
		goto out;
	}
	if ((rc = cached_layer(p, key, out, err, errlen)) != -ENOENT ||
	    (rc = pack_layer(p, threads, fill_store_paths, &sp, out, err, errlen)) < 0)
		goto out;
	if ((rc = cache_layer_put(p->cache, key, out)) < 0)
		describe_cache_error(p, rc, "a layer", err, errlen);
out:
	lock_release(lock);
	free(sp.paths);
	return rc;
}

struct symlink_tree {
	char *const *outputs;
	size_t noutputs;
	int nonroot;
};

static int fill_symlinks(struct tarball *t, const void *ctx, char *err, size_t errlen)
{
	const struct symlink_tree *st = ctx;

	return rootfs_pack(t, st->outputs, st->noutputs, st->nonroot, err, errlen);
}

/* The image's own layer: links into the store and the system files. */
static int pack_symlink_layer(struct packer *p, const struct image_request *req,
			      char *const *outputs, size_t noutputs,
			      struct manifest_layer *out, char *err, size_t errlen)
{
	struct symlink_tree st = { .outputs = outputs, .noutputs = noutputs, .nonroot = req->nonroot };
	int rc = pack_layer(p, 1, fill_symlinks, &st, out, err, errlen);

	if (rc == 0 && (rc = cache_blob_put(p->cache, out->digest, out->size, "application/octet-stream")) < 0)
		describe_cache_error(p, rc, "a layer", err, errlen);
	return rc;
}

/* Stores a small JSON blob and records it. */
static int put_json_blob(struct packer *p, const char *json, const char *media_type,
			 char hex[DIGEST_HEX_LEN + 1], char *err, size_t errlen)
{
	int rc;

	if (!json) {
		snprintf(err, errlen, "out of memory writing %s", media_type);
		return -ENOMEM;
	}
	if ((rc = storage_put(p->storage, json, strlen(json), hex, err, errlen)) < 0)
		return rc;
	if ((rc = cache_blob_put(p->cache, hex, strlen(json), media_type)) < 0)
		return describe_cache_error(p, rc, "a blob", err, errlen);
	return 0;
}

static int write_manifests(struct packer *p, const struct image_request *req,
			   const struct manifest_layer *layers, size_t n,
			   struct cache_image *img, char *err, size_t errlen)
{
	struct image_config ic = { .arch = req->arch, .variant = req->platform ? req->platform->variant : NULL,
				   .cmd_bash = req->cmd_bash, .nonroot = req->nonroot };
	char config_hex[DIGEST_HEX_LEN + 1];
	char *config = manifest_config_json(&ic, layers, n), *docker = NULL, *oci = NULL;
	int rc;

	if ((rc = put_json_blob(p, config, MEDIA_DOCKER_CONFIG, config_hex, err, errlen)) < 0)
		goto out;
	p->size += strlen(config);
	docker = manifest_json(MANIFEST_DOCKER, config_hex, strlen(config), layers, n);
	oci = manifest_json(MANIFEST_OCI, config_hex, strlen(config), layers, n);
	if ((rc = put_json_blob(p, docker, MEDIA_DOCKER_MANIFEST, img->docker_manifest, err, errlen)) < 0)
		goto out;
	rc = put_json_blob(p, oci, MEDIA_OCI_MANIFEST, img->oci_manifest, err, errlen);
out:
	cJSON_free(config);
	cJSON_free(docker);
	cJSON_free(oci);
	return rc;
}

/* An image's layers, packed side by side: the store-path groups in plan
 * order, then the symlink layer. Each lands in its own place in `layers`,
 * so the manifest does not depend on which thread finished first. */
struct layer_jobs {
	const struct closure *c;
	const struct layer_plan *plan;
	const struct image_request *req;
	char *const *outputs;
	size_t noutputs;
	struct manifest_layer *layers;
	size_t *small, nsmall;        /* the jobs packed one thread each */
	atomic_size_t next;           /* the next of them to take */
	atomic_int failed;
};

/* A thread that packs small layers with a packer (and a cache handle) of
 * its own. */
struct layer_helper {
	struct layer_jobs *jobs;
	struct packer p;
	pthread_t thread;
	int started, rc;
	char err[1024];
};

static int pack_job(struct packer *p, struct layer_jobs *j, size_t i, unsigned threads,
		    char *err, size_t errlen)
{
	if (i == j->plan->n)
		return pack_symlink_layer(p, j->req, j->outputs, j->noutputs, &j->layers[i], err, errlen);
	return pack_store_layer(p, j->c, &j->plan->groups[i], threads, &j->layers[i], err, errlen);
}

/* Takes small jobs until none is left, or one failed anywhere. */
static int pack_small(struct packer *p, struct layer_jobs *j, char *err, size_t errlen)
{
	size_t k;
	int rc = 0;

	while (!atomic_load(&j->failed) && (k = atomic_fetch_add(&j->next, 1)) < j->nsmall)
		if ((rc = pack_job(p, j, j->small[k], 1, err, errlen)) < 0) {
			atomic_store(&j->failed, 1);
			break;
		}
	return rc;
}

static void *helper(void *arg)
{
	struct layer_helper *h = arg;
	char err[512];

	/* Without a cache handle of its own, it leaves the work to the others. */
	if (cache_open(h->p.cfg->state_dir, &h->p.cache, err, sizeof err) < 0) {
		log_warn("a packing thread cannot open the cache: %s", err);
		return NULL;
	}
	h->rc = pack_small(&h->p, h->jobs, h->err, sizeof h->err);
	cache_close(h->p.cache);
	return NULL;
}

static uint64_t group_bytes(const struct closure *c, const struct layer_group *g)
{
	uint64_t bytes = 0;
	size_t i;

	for (i = 0; i < g->npaths; i++)
		bytes += c->paths[g->paths[i]].nar_size;
	return bytes;
}

/* The big layers one after the other on this thread, with every
 * compression thread; meanwhile helpers take the small ones, and this
 * thread joins them when its own are done. */
static int pack_layers(struct packer *p, struct layer_jobs *j, char *err, size_t errlen)
{
	unsigned threads = p->cfg->pack_threads > 1 ? (unsigned)p->cfg->pack_threads : 1;
	size_t i, nhelpers, *big = calloc(j->plan->n + 1, sizeof *big), nbig = 0;
	struct layer_helper *helpers = NULL;
	int rc = 0;

	j->small = calloc(j->plan->n + 1, sizeof *j->small);
	if (!big || !j->small) {
		snprintf(err, errlen, "out of memory packing an image");
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < j->plan->n; i++) {
		if (threads > 1 && group_bytes(j->c, &j->plan->groups[i]) > BIG_LAYER)
			big[nbig++] = i;
		else
			j->small[j->nsmall++] = i;
	}
	j->small[j->nsmall++] = j->plan->n;
	nhelpers = threads - 1 < j->nsmall ? threads - 1 : j->nsmall;
	if (nhelpers && !(helpers = calloc(nhelpers, sizeof *helpers)))
		nhelpers = 0;
	for (i = 0; i < nhelpers; i++) {
		helpers[i] = (struct layer_helper){ .jobs = j, .p = *p };
		helpers[i].p.packed = 0;
		helpers[i].started = pthread_create(&helpers[i].thread, NULL, helper, &helpers[i]) == 0;
	}
	for (i = 0; i < nbig && rc == 0 && !atomic_load(&j->failed); i++)
		if ((rc = pack_job(p, j, big[i], threads, err, errlen)) < 0)
			atomic_store(&j->failed, 1);
	if (rc == 0)
		rc = pack_small(p, j, err, errlen);
	for (i = 0; i < nhelpers; i++) {
		if (!helpers[i].started)
			continue;
		pthread_join(helpers[i].thread, NULL);
		p->packed += helpers[i].p.packed;
		if (rc == 0 && helpers[i].rc < 0) {
			rc = helpers[i].rc;
			snprintf(err, errlen, "%s", helpers[i].err);
		}
	}
out:
	free(helpers);
	free(big);
	free(j->small);
	return rc;
}

int pack_image(struct packer *p, const struct closure *c, const struct layer_plan *plan,
	       const struct image_request *req, char *const *outputs, size_t noutputs,
	       struct cache_image *img, char *err, size_t errlen)
{
	struct layer_jobs jobs = { .c = c, .plan = plan, .req = req, .outputs = outputs, .noutputs = noutputs,
				   .layers = calloc(plan->n + 1, sizeof *jobs.layers) };
	size_t i;
	int rc;

	memset(img, 0, sizeof *img);
	if (!jobs.layers) {
		snprintf(err, errlen, "out of memory packing an image");
		return -ENOMEM;
	}
	rc = pack_layers(p, &jobs, err, errlen);
	for (i = 0; rc == 0 && i <= plan->n; i++)
		p->size += jobs.layers[i].size;
	if (rc == 0)
		rc = write_manifests(p, req, jobs.layers, plan->n + 1, img, err, errlen);
	free(jobs.layers);
	return rc;
}
