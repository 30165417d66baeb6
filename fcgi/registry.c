#include "fcgi/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/blobstore.h"
#include "core/image.h"
#include "core/layers.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/rootfs.h"
#include "core/source.h"
#include "core/tarball.h"
#include "nix/nixbuild.h"
#include "nix/spawn.h"

/* Part of every key: a change to how images are laid out or packed must
 * never be answered from blobs made the old way. */
#define FORMAT_VERSION "nixery-fcgi-format-1"
#define MAX_MANIFEST_BYTES (4u << 20)

/* What a killed worker leaves behind: half-written blobs and folders of
 * GC roots nobody will release. Anything a day old is no work in progress. */
#define STALE_SECONDS (24 * 3600)

static void remove_stale(const char *dir)
{
	time_t cutoff = time(NULL) - STALE_SECONDS;
	char path[4096];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0 || st.st_mtime >= cutoff)
			continue;
		if (S_ISDIR(st.st_mode))
			nix_release(path);
		else
			unlink(path);
		log_info("removed %s, left by a worker that stopped mid-build", path);
	}
	closedir(d);
}

int registry_prepare(const struct config *cfg, char *err, size_t errlen)
{
	const char *subdirs[] = { "", "/locks", "/gcroots" };
	char path[4096];
	size_t i;
	int rc;

	if ((rc = blobstore_init(cfg->storage_path, err, errlen)) < 0)
		return rc;
	for (i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		snprintf(path, sizeof path, "%s%s", cfg->state_dir, subdirs[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			return -errno;
		}
	}
	snprintf(path, sizeof path, "%s/tmp", cfg->storage_path);
	remove_stale(path);
	snprintf(path, sizeof path, "%s/gcroots", cfg->state_dir);
	remove_stale(path);
	return cache_init(cfg->state_dir, err, errlen);
}

int registry_open(struct registry *reg, const struct config *cfg,
		  struct popularity_source *popularity, char *err, size_t errlen)
{
	reg->cfg = cfg;
	reg->popularity = popularity;
	return cache_open(cfg->state_dir, &reg->cache, err, errlen);
}

void registry_close(struct registry *reg)
{
	cache_close(reg->cache);
	reg->cache = NULL;
}

static void internal_error(struct reply *rep, const char *message)
{
	log_error("%s", message);
	reply_error(rep, 500, "UNKNOWN", message, NULL);
}

/* A key over NUL-separated fields: the hash of what determines a result. */
static void key_of(char key[DIGEST_HEX_LEN + 1], const char *const *fields, size_t n,
		   char *const *more, size_t nmore)
{
	struct digest_ctx *d = digest_new();
	size_t i;

	for (i = 0; i < n; i++)
		digest_update(d, fields[i], strlen(fields[i]) + 1);
	for (i = 0; i < nmore; i++)
		digest_update(d, more[i], strlen(more[i]) + 1);
	digest_final(d, key);
	digest_free(d);
}

/* What a request asks for: pinned requests map to their image for good,
 * so everything that shapes the image is part of it, the budget too. */
static void request_key(char key[DIGEST_HEX_LEN + 1], const struct source *src,
			const struct image_request *req, int max_layers)
{
	char budget[16];
	const char *fields[] = { FORMAT_VERSION, "request", src->type, src->args, req->system,
				 req->nonroot ? "nonroot" : "root", budget };

	snprintf(budget, sizeof budget, "%d", max_layers);
	key_of(key, fields, 7, req->packages, req->npackages);
}

/* The package-set hash: what the request evaluated to, and everything else
 * that shapes the image. */
static void image_key(char key[DIGEST_HEX_LEN + 1], const struct registry *reg,
		      const struct image_request *req, const struct nix_eval *ev)
{
	char budget[16];
	const char *fields[] = { FORMAT_VERSION, "image", req->system, req->arch,
				 req->cmd_bash ? "cmd-bash" : "no-cmd",
				 req->nonroot ? "nonroot" : "root", budget };

	snprintf(budget, sizeof budget, "%d", reg->cfg->max_layers);
	key_of(key, fields, 7, ev->outputs, ev->noutputs);
}

/* Answers with a stored manifest blob. */
static void serve_manifest(struct registry *reg, const char *hex, struct reply *rep)
{
	struct cache_blob blob;
	char path[4096];
	int fd = -1;
	ssize_t n;

	if (cache_blob_get(reg->cache, hex, &blob) < 0 ||
	    (strcmp(blob.media_type, MEDIA_DOCKER_MANIFEST) != 0 &&
	     strcmp(blob.media_type, MEDIA_OCI_MANIFEST) != 0)) {
		reply_error(rep, 404, "MANIFEST_UNKNOWN", "manifest unknown to this registry", NULL);
		return;
	}
	blobstore_path(reg->cfg->storage_path, hex, path, sizeof path);
	rep->body.len = 0;
	if (blob.size > MAX_MANIFEST_BYTES || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    buf_append(&rep->body, "", 0) < 0) {
		reply_error(rep, 404, "MANIFEST_UNKNOWN", "manifest is missing from storage", NULL);
		goto out;
	}
	while (rep->body.len < blob.size) {
		char chunk[8192];

		n = read(fd, chunk, sizeof chunk);
		if (n <= 0 || buf_append(&rep->body, chunk, (size_t)n) < 0)
			break;
	}
	if (rep->body.len != blob.size) {
		internal_error(rep, "a stored manifest could not be read whole");
		goto out;
	}
	rep->status = 200;
	snprintf(rep->content_type, sizeof rep->content_type, "%s", blob.media_type);
	snprintf(rep->digest, sizeof rep->digest, DIGEST_PREFIX "%s", hex);
out:
	if (fd >= 0)
		close(fd);
}

static void serve_image(struct registry *reg, const struct cache_image *img,
			enum manifest_format fmt, struct reply *rep)
{
	serve_manifest(reg, fmt == MANIFEST_OCI ? img->oci_manifest : img->docker_manifest, rep);
	/* A cache in front must not give one client's format to another. */
	rep->vary_accept = 1;
}

/* Waits for the flock of one build (an image, or a layer that images
 * share): a lock dies with its holder, so a killed worker never leaves one
 * behind. The lock files stay (one small file per image and layer ever
 * built): removing one while another worker opens it would let two builds
 * run at once. Returns the descriptor holding the lock. */
static int take_lock(struct registry *reg, const char *kind, const char *key)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/locks/%s-%s.lock", reg->cfg->state_dir, kind, key);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int rc = -errno;

			close(fd);
			return rc;
		}
	}
	return fd;
}

/* What goes into one layer, written by a pack_layer caller. */
typedef int (*layer_fill)(struct tarball *t, const void *ctx, char *err, size_t errlen);

/* Writes one layer to storage in a single pass and adds its size to
 * *packed. */
static int pack_layer(struct registry *reg, layer_fill fill, const void *ctx,
		      struct manifest_layer *out, uint64_t *packed, char *err, size_t errlen)
{
	struct tarball_result res;
	struct tarball *t = NULL;
	char tmp[4096];
	int fd = -1, rc;

	if ((rc = blobstore_begin(reg->cfg->storage_path, tmp, sizeof tmp, &fd, err, errlen)) < 0 ||
	    (rc = tarball_open(&t, fd, err, errlen)) < 0)
		goto out;
	if ((rc = fill(t, ctx, err, errlen)) < 0) {
		tarball_abort(t);
		goto out;
	}
	if ((rc = tarball_close(t, &res, err, errlen)) < 0)
		goto out;
	memcpy(out->digest, res.digest, sizeof out->digest);
	memcpy(out->diff_id, res.diff_id, sizeof out->diff_id);
	out->size = res.size;
	*packed += res.size;
	rc = blobstore_commit(reg->cfg->storage_path, fd, tmp, res.digest, err, errlen);
	fd = -1;
out:
	if (fd >= 0)
		blobstore_discard(fd, tmp);
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

/* Packs paths (closure indexes) into one layer, unless that group was
 * packed before for any image; adds what it packed to *packed. */
static int pack_store_layer(struct registry *reg, const struct closure *c,
			    const struct layer_group *g, struct manifest_layer *out,
			    uint64_t *packed, char *err, size_t errlen)
{
	struct store_paths sp = { .paths = calloc(g->npaths + 1, sizeof(char *)), .n = g->npaths };
	const char *fields[] = { FORMAT_VERSION, "layer" };
	char key[DIGEST_HEX_LEN + 1];
	size_t i;
	int lock = -1, rc = -ENOMEM;

	if (!sp.paths) {
		snprintf(err, errlen, "out of memory packing a layer");
		goto out;
	}
	for (i = 0; i < g->npaths; i++)
		sp.paths[i] = c->paths[g->paths[i]].path;
	key_of(key, fields, 2, sp.paths, sp.n);
	if ((rc = cache_layer_get(reg->cache, key, out)) == 0)
		goto out;
	/* Two images sharing a layer nobody packed yet: one packs it. */
	if ((lock = take_lock(reg, "layer", key)) < 0) {
		rc = lock;
		snprintf(err, errlen, "cannot take a layer lock: check NIXERY_STATE_DIR permissions");
		goto out;
	}
	if ((rc = cache_layer_get(reg->cache, key, out)) == 0 ||
	    (rc = pack_layer(reg, fill_store_paths, &sp, out, packed, err, errlen)) < 0)
		goto out;
	if ((rc = cache_layer_put(reg->cache, key, out)) < 0)
		snprintf(err, errlen, "cannot record a layer: %s", cache_error(reg->cache));
out:
	if (lock >= 0)
		close(lock);
	free(sp.paths);
	return rc;
}

struct symlink_tree {
	const struct nix_eval *ev;
	int nonroot;
};

static int fill_symlinks(struct tarball *t, const void *ctx, char *err, size_t errlen)
{
	const struct symlink_tree *st = ctx;

	return rootfs_pack(t, st->ev->outputs, st->ev->noutputs, st->nonroot, err, errlen);
}

/* The image's own layer: links into the store and the system files. */
static int pack_symlink_layer(struct registry *reg, const struct nix_job *job,
			      const struct nix_eval *ev, struct manifest_layer *out,
			      uint64_t *packed, char *err, size_t errlen)
{
	struct symlink_tree st = { .ev = ev, .nonroot = job->req->nonroot };
	int rc = pack_layer(reg, fill_symlinks, &st, out, packed, err, errlen);

	if (rc == 0 && cache_blob_put(reg->cache, out->digest, out->size, "application/octet-stream") < 0) {
		snprintf(err, errlen, "cannot record a layer: %s", cache_error(reg->cache));
		rc = -EIO;
	}
	return rc;
}

/* Stores a small JSON blob and records it. */
static int put_json_blob(struct registry *reg, const char *json, const char *media_type,
			 char hex[DIGEST_HEX_LEN + 1], char *err, size_t errlen)
{
	int rc;

	if (!json) {
		snprintf(err, errlen, "out of memory writing %s", media_type);
		return -ENOMEM;
	}
	if ((rc = blobstore_put(reg->cfg->storage_path, json, strlen(json), hex, err, errlen)) < 0)
		return rc;
	if (cache_blob_put(reg->cache, hex, strlen(json), media_type) < 0) {
		snprintf(err, errlen, "cannot record a blob: %s", cache_error(reg->cache));
		return -EIO;
	}
	return 0;
}

static int write_manifests(struct registry *reg, const struct image_request *req,
			   const struct manifest_layer *layers, size_t n,
			   struct cache_image *img, char *err, size_t errlen)
{
	struct image_config ic = { .arch = req->arch, .cmd_bash = req->cmd_bash, .nonroot = req->nonroot };
	char config_hex[DIGEST_HEX_LEN + 1];
	char *config = manifest_config_json(&ic, layers, n), *docker = NULL, *oci = NULL;
	int rc;

	if ((rc = put_json_blob(reg, config, MEDIA_DOCKER_CONFIG, config_hex, err, errlen)) < 0)
		goto out;
	docker = manifest_json(MANIFEST_DOCKER, config_hex, strlen(config), layers, n);
	oci = manifest_json(MANIFEST_OCI, config_hex, strlen(config), layers, n);
	if ((rc = put_json_blob(reg, docker, MEDIA_DOCKER_MANIFEST, img->docker_manifest, err, errlen)) < 0 ||
	    (rc = put_json_blob(reg, oci, MEDIA_OCI_MANIFEST, img->oci_manifest, err, errlen)) < 0)
		goto out;
out:
	cJSON_free(config);
	cJSON_free(docker);
	cJSON_free(oci);
	return rc;
}

/* Builds, lays out and packs one image; the caller holds its lock. */
static int build_image(struct registry *reg, const struct nix_job *job, const struct nix_eval *ev,
		       const char *key, struct cache_image *img, uint64_t *packed,
		       char *err, size_t errlen)
{
	struct popularity *pop = popularity_acquire(reg->popularity);
	struct closure c = { 0 };
	struct layer_plan plan = { 0 };
	struct manifest_layer *layers = NULL;
	char gcroot[4096];
	size_t i;
	int rc;

	snprintf(gcroot, sizeof gcroot, "%s/gcroots/%s", reg->cfg->state_dir, key);
	if ((rc = nix_realise(job, gcroot, err, errlen)) < 0 ||
	    (rc = nix_closure(job, ev, &c, err, errlen)) < 0 ||
	    (rc = layers_group(&c, (size_t)reg->cfg->max_layers, popularity_lookup, pop,
				&plan, err, errlen)) < 0)
		goto out;
	rc = -ENOMEM;
	if (!(layers = calloc(plan.n + 1, sizeof *layers)))
		goto out;
	for (i = 0; i < plan.n; i++)
		if ((rc = pack_store_layer(reg, &c, &plan.groups[i], &layers[i], packed, err, errlen)) < 0)
			goto out;
	if ((rc = pack_symlink_layer(reg, job, ev, &layers[plan.n], packed, err, errlen)) < 0 ||
	    (rc = write_manifests(reg, job->req, layers, plan.n + 1, img, err, errlen)) < 0)
		goto out;
	log_info("built image %s: %zu store paths in %zu layers, %llu bytes newly packed",
		 key, c.n, plan.n + 1, (unsigned long long)*packed);
out:
	nix_release(gcroot);
	popularity_release(reg->popularity, pop);
	free(layers);
	layers_plan_free(&plan);
	closure_free(&c);
	return rc;
}

static double seconds_since(struct timespec start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
}

static void unknown_packages(struct reply *rep, const struct nix_eval *ev)
{
	cJSON *detail = cJSON_CreateObject();
	struct buf msg = { 0 };
	size_t i;

	buf_printf(&msg, "Could not find Nix packages:");
	for (i = 0; i < ev->nunknown; i++)
		buf_printf(&msg, " %s", ev->unknown[i]);
	if (detail)
		cJSON_AddItemToObject(detail, "packages",
				      cJSON_CreateStringArray((const char *const *)ev->unknown, (int)ev->nunknown));
	reply_error(rep, 404, "MANIFEST_UNKNOWN", msg.data ? msg.data : "Could not find Nix packages", detail);
	buf_free(&msg);
}

/* A build's failure as the client sees it. */
static void build_failed(struct reply *rep, enum build_status status, const char *key,
			 const char *err)
{
	if (status == BUILD_TIMEOUT) {
		log_warn("image %s: %s", key, err);
		reply_error(rep, 504, "UNKNOWN", err, NULL);
	} else {
		internal_error(rep, err);
	}
}

/* Evaluated, not cached: build under the image's lock. */
static void build_and_serve(struct registry *reg, const struct nix_job *evaluated,
			    const struct nix_eval *ev, const char *req_key, const char *key,
			    enum manifest_format fmt, struct reply *rep)
{
	struct nix_job job = *evaluated;
	struct cache_image img;
	struct timespec started;
	char err[1024] = "", *packages = image_packages_json(job.req);
	int64_t waited_from = (int64_t)time(NULL), build_id = 0;
	enum build_status status;
	uint64_t packed = 0;
	int lock, rc;

	if ((lock = take_lock(reg, "image", key)) < 0) {
		internal_error(rep, "cannot take the build lock: check NIXERY_STATE_DIR permissions");
		goto out;
	}
	/* Another worker may have built it, or failed to, while we waited. */
	if (cache_image_get(reg->cache, key, &img) == 0) {
		cache_request_put(reg->cache, req_key, key, (int64_t)time(NULL));
		serve_image(reg, &img, fmt, rep);
		goto out;
	}
	/* The build we waited for failed: that is the answer, not a second
	 * try on whatever time the wait left. */
	if (cache_build_failed_since(reg->cache, key, waited_from, &status, err, sizeof err) == 0) {
		build_failed(rep, status, key, err);
		goto out;
	}
	job.deadline = spawn_deadline(reg->cfg->nix_timeout);
	clock_gettime(CLOCK_MONOTONIC, &started);
	log_info("building image %s: %s", key, packages ? packages : "");
	cache_build_begin(reg->cache, key, packages ? packages : "", (int64_t)time(NULL), &build_id);
	rc = build_image(reg, &job, ev, key, &img, &packed, err, sizeof err);
	if (rc == 0 && cache_image_put(reg->cache, key, &img, req_key, (int64_t)time(NULL)) < 0) {
		snprintf(err, sizeof err, "cannot record the image: %s", cache_error(reg->cache));
		rc = -EIO;
	}
	status = rc == 0 ? BUILD_OK : rc == -ETIMEDOUT ? BUILD_TIMEOUT : BUILD_FAILED;
	cache_build_end(reg->cache, build_id, status, rc == 0 ? NULL : err, seconds_since(started),
			packed, (int64_t)time(NULL));
	if (rc < 0)
		build_failed(rep, status, key, err);
	else
		serve_image(reg, &img, fmt, rep);
out:
	if (lock >= 0)
		close(lock);
	cJSON_free(packages);
}

void registry_manifest(struct registry *reg, const char *name, const char *ref,
		       const char *accept, struct reply *rep)
{
	enum manifest_format fmt = manifest_negotiate(accept);
	struct image_request req = { 0 };
	struct source src = { 0 };
	struct nix_eval ev = { 0 };
	struct nix_job job;
	struct cache_image img;
	char err[1024], req_key[DIGEST_HEX_LEN + 1], key[DIGEST_HEX_LEN + 1];
	int64_t evaluated, now = (int64_t)time(NULL);
	int rc;

	if (strncmp(ref, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) == 0) {
		serve_manifest(reg, ref + strlen(DIGEST_PREFIX), rep);
		return;
	}
	if (image_parse(name, &req, err, sizeof err) < 0) {
		reply_error(rep, 400, "NAME_INVALID", err, NULL);
		return;
	}
	if (source_resolve(reg->cfg, ref, &src) < 0) {
		internal_error(rep, "out of memory");
		goto out;
	}
	request_key(req_key, &src, &req, reg->cfg->max_layers);
	/* A pinned source never changes; a moving one is trusted for a TTL.
	 * When the TTL runs out, one request re-evaluates; the others are
	 * answered with the image already built meanwhile. */
	if (cache_request_get(reg->cache, req_key, key, &evaluated) == 0 &&
	    cache_image_get(reg->cache, key, &img) == 0 &&
	    (src.pinned || now - evaluated < reg->cfg->eval_ttl ||
	     cache_request_claim(reg->cache, req_key, evaluated, now) == -EBUSY)) {
		serve_image(reg, &img, fmt, rep);
		goto out;
	}
	job.cfg = reg->cfg;
	job.src = &src;
	job.req = &req;
	job.deadline = spawn_deadline(reg->cfg->nix_timeout);
	rc = nix_evaluate(&job, &ev, err, sizeof err);
	if (rc == -ENOENT) {
		char message[1200];

		snprintf(message, sizeof message, "unknown tag '%s': %s", ref, err);
		reply_error(rep, 404, "MANIFEST_UNKNOWN", message, NULL);
		goto out;
	}
	if (rc == -ETIMEDOUT) {
		reply_error(rep, 504, "UNKNOWN", err, NULL);
		goto out;
	}
	if (rc < 0) {
		internal_error(rep, err);
		goto out;
	}
	if (ev.nunknown > 0) {
		unknown_packages(rep, &ev);
		goto out;
	}
	image_key(key, reg, &req, &ev);
	if (cache_image_get(reg->cache, key, &img) == 0) {
		cache_request_put(reg->cache, req_key, key, now);
		serve_image(reg, &img, fmt, rep);
		goto out;
	}
	build_and_serve(reg, &job, &ev, req_key, key, fmt, rep);
out:
	nix_eval_free(&ev);
	source_free(&src);
	image_request_free(&req);
}

void registry_blob(struct registry *reg, const char *hex, struct reply *rep)
{
	struct cache_blob blob;
	struct stat st;

	if (cache_blob_get(reg->cache, hex, &blob) < 0) {
		reply_error(rep, 404, "BLOB_UNKNOWN", "blob unknown to this registry", NULL);
		return;
	}
	blobstore_path(reg->cfg->storage_path, hex, rep->file, sizeof rep->file);
	if (stat(rep->file, &st) < 0) {
		rep->file[0] = '\0';
		reply_error(rep, 404, "BLOB_UNKNOWN", "blob is missing from storage", NULL);
		return;
	}
	rep->status = 200;
	snprintf(rep->content_type, sizeof rep->content_type, "%s", blob.media_type);
	rep->file_size = (uint64_t)st.st_size;
	snprintf(rep->file_hex, sizeof rep->file_hex, "%s", hex);
	snprintf(rep->digest, sizeof rep->digest, DIGEST_PREFIX "%s", hex);
}
