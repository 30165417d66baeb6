#include "builder/pack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "builder/keys.h"
#include "builder/lock.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/rootfs.h"
#include "core/tarball.h"

/* A database error while packing, in words. */
static int cache_failed(struct packer *p, int rc, const char *what, char *err, size_t errlen)
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

/* Writes one layer to storage in a single pass, adding its size to
 * p->packed. */
static int pack_layer(struct packer *p, layer_fill fill, const void *ctx,
		      struct manifest_layer *out, char *err, size_t errlen)
{
	struct tarball_gzip gzip = { (unsigned)p->cfg->pack_threads, p->cfg->gzip_level };
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

/* A layer packed before, whose blob is still there whole. A lost or
 * damaged blob is forgotten, so that the layer is packed again. */
static int cached_layer(struct packer *p, const char *key, struct manifest_layer *out,
			char *err, size_t errlen)
{
	int rc = cache_layer_get(p->cache, key, out);

	if (rc == -ENOENT)
		return rc;
	if (rc < 0)
		return cache_failed(p, rc, "a layer", err, errlen);
	if ((rc = storage_check(p->storage, out->digest, out->size)) == 0)
		return 0;
	if (rc != -ENOENT && rc != -EIO) {
		snprintf(err, errlen, "layer blob %s cannot be looked for in the bucket (the log says why)", out->digest);
		return rc;
	}
	log_warn("layer blob %s is missing or damaged in storage: packing it again", out->digest);
	if ((rc = cache_blob_forget(p->cache, out->digest)) < 0)
		return cache_failed(p, rc, "a lost layer", err, errlen);
	return -ENOENT;
}

/* Packs one group of closure paths into a layer, unless that group was
 * packed before for any image. */
static int pack_store_layer(struct packer *p, const struct closure *c,
			    const struct layer_group *g, struct manifest_layer *out,
			    char *err, size_t errlen)
{
	struct store_paths sp = { .paths = calloc(g->npaths + 1, sizeof(char *)), .n = g->npaths };
	char key[DIGEST_HEX_LEN + 1];
	int64_t waited;
	size_t i;
	int lock = -1, rc = -ENOMEM;

	if (!sp.paths) {
		snprintf(err, errlen, "out of memory packing a layer");
		goto out;
	}
	for (i = 0; i < g->npaths; i++)
		sp.paths[i] = c->paths[g->paths[i]].path;
	keys_layer(key, sp.paths, sp.n);
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
	    (rc = pack_layer(p, fill_store_paths, &sp, out, err, errlen)) < 0)
		goto out;
	if ((rc = cache_layer_put(p->cache, key, out)) < 0)
		cache_failed(p, rc, "a layer", err, errlen);
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
	int rc = pack_layer(p, fill_symlinks, &st, out, err, errlen);

	if (rc == 0 && (rc = cache_blob_put(p->cache, out->digest, out->size, "application/octet-stream")) < 0)
		cache_failed(p, rc, "a layer", err, errlen);
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
		return cache_failed(p, rc, "a blob", err, errlen);
	return 0;
}

static int write_manifests(struct packer *p, const struct image_request *req,
			   const struct manifest_layer *layers, size_t n,
			   struct cache_image *img, char *err, size_t errlen)
{
	struct image_config ic = { .arch = req->arch, .cmd_bash = req->cmd_bash, .nonroot = req->nonroot };
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

int pack_image(struct packer *p, const struct closure *c, const struct layer_plan *plan,
	       const struct image_request *req, char *const *outputs, size_t noutputs,
	       struct cache_image *img, char *err, size_t errlen)
{
	struct manifest_layer *layers = calloc(plan->n + 1, sizeof *layers);
	size_t i;
	int rc = 0;

	if (!layers) {
		snprintf(err, errlen, "out of memory packing an image");
		return -ENOMEM;
	}
	for (i = 0; i < plan->n && rc == 0; i++)
		rc = pack_store_layer(p, c, &plan->groups[i], &layers[i], err, errlen);
	if (rc == 0)
		rc = pack_symlink_layer(p, req, outputs, noutputs, &layers[plan->n], err, errlen);
	for (i = 0; rc == 0 && i <= plan->n; i++)
		p->size += layers[i].size;
	if (rc == 0)
		rc = write_manifests(p, req, layers, plan->n + 1, img, err, errlen);
	free(layers);
	return rc;
}
