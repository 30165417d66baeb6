#include "builder/gc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder/builder.h"
#include "builder/lock.h"
#include "builder/walk.h"
#include "core/digests.h"
#include "core/log.h"
#include "core/manifest.h"

/* Build records kept whatever their age, for the status page. */
#define KEEP_BUILDS 50

struct walk {
	const struct storage *storage;
	int64_t cutoff;
	struct digests live;       /* blobs a remaining image names */
	struct digests expired;    /* image keys to forget */
	struct digests doomed;     /* blobs to remove, with their sizes */
};

static int keep_blob(void *ctx, const char *hex, uint64_t size)
{
	(void)size;
	return digests_add(&((struct walk *)ctx)->live, hex, 0);
}

static int visit_image(void *ctx, const char *key, const struct cache_image *img, int64_t created)
{
	struct walk *w = ctx;
	struct buf manifest = { 0 };
	int rc;

	(void)created;
	if (img->used < w->cutoff)
		return digests_add(&w->expired, key, 0);
	if ((rc = digests_add(&w->live, img->docker_manifest, 0)) < 0 ||
	    (rc = digests_add(&w->live, img->oci_manifest, 0)) < 0)
		return rc;
	/* Both manifests name the same config and layers; an index's two
	 * forms name each platform's manifests of their format, and those
	 * the same configs and layers. A manifest that cannot be read names
	 * nothing: the image is built again when asked for, as for any lost
	 * blob. */
	if (storage_read(w->storage, img->docker_manifest, MANIFEST_MAX_BYTES, &manifest) == 0)
		rc = walk_image(w->storage, manifest.data, keep_blob, w);
	manifest.len = 0;
	if ((rc == 0 || rc == -EINVAL || rc == -ENOENT) && img->index &&
	    storage_read(w->storage, img->oci_manifest, MANIFEST_MAX_BYTES, &manifest) == 0)
		rc = walk_image(w->storage, manifest.data, keep_blob, w);
	buf_free(&manifest);
	return rc == -EINVAL || rc == -ENOENT ? 0 : rc;
}

static int doom_file(void *ctx, const char *hex, uint64_t size)
{
	struct walk *w = ctx;

	return digests_has(&w->live, hex) ? 0 : digests_add(&w->doomed, hex, size);
}

/* A row whose file is gone already: only the row goes. */
static int doom_row(void *ctx, const char *hex, const struct cache_blob *blob)
{
	struct walk *w = ctx;

	(void)blob;
	return digests_has(&w->live, hex) ? 0 : digests_add(&w->doomed, hex, 0);
}

static int sweep(struct cache *cache, const struct storage *storage, const struct walk *w,
		 char *err, size_t errlen)
{
	size_t i;
	int rc;

	for (i = 0; i < w->expired.n; i++) {
		if ((rc = cache_image_forget(cache, w->expired.hex[i])) < 0) {
			snprintf(err, errlen, "cannot forget image %s: %s", w->expired.hex[i], cache_error(cache));
			return rc;
		}
	}
	/* The row first: a blob without a row is never named by a new
	 * image, while a row without its file would be. */
	for (i = 0; i < w->doomed.n; i++) {
		if ((rc = cache_blob_forget(cache, w->doomed.hex[i])) < 0) {
			snprintf(err, errlen, "cannot forget blob %s: %s", w->doomed.hex[i], cache_error(cache));
			return rc;
		}
		if ((rc = storage_remove(storage, w->doomed.hex[i])) < 0) {
			snprintf(err, errlen, "cannot remove blob %s: %s", w->doomed.hex[i], strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int gc_run(const struct config *cfg, struct cache *cache, const struct storage *storage,
	   int keep_days, int dry_run, struct gc_report *report, char *err, size_t errlen)
{
	struct walk w = { .storage = storage, .cutoff = time(NULL) - (int64_t)keep_days * 86400 };
	/* Builds end within NIX_TIMEOUT: the lock comes by then. */
	struct deadline dl = deadline_in((cfg->nix_timeout + 60) * 1000L, NULL);
	int gate = -1, pack = -1, rc;
	size_t i;

	memset(report, 0, sizeof *report);
	if (!dry_run && (pack = lock_gc(cfg->state_dir, &dl, &gate)) < 0) {
		snprintf(err, errlen, "builds kept running past NIX_TIMEOUT + 60 s: %s", strerror(-pack));
		return pack;
	}
	if ((rc = cache_each_image(cache, visit_image, &w)) < 0) {
		snprintf(err, errlen, "cannot read the images: %s", rc == -ENOMEM ? "out of memory" : cache_error(cache));
		goto out;
	}
	digests_sort(&w.live);
	if ((rc = storage_each(storage, doom_file, &w)) < 0 ||
	    (rc = cache_each_blob(cache, doom_row, &w)) < 0) {
		snprintf(err, errlen, "cannot list the blobs: %s", rc == -ENOMEM ? "out of memory" : cache_error(cache));
		goto out;
	}
	report->images = (int)w.expired.n;
	for (i = 0; i < w.doomed.n; i++)
		report->bytes += w.doomed.size[i];
	/* A blob with both a file and a row was added twice. */
	digests_sort(&w.doomed);
	report->blobs = (int)w.doomed.n;
	if (dry_run)
		goto out;
	if ((rc = sweep(cache, storage, &w, err, errlen)) < 0)
		goto out;
	/* The web server's copies of tag answers go too: none may name a
	 * blob just removed (a worker writes them again on the next pull). */
	if ((rc = storage_tags_clear(storage)) < 0) {
		snprintf(err, errlen, "cannot remove the tag files under STORAGE_PATH/tags: %s", strerror(-rc));
		goto out;
	}
	report->locks = lock_remove_free(cfg->state_dir);
	report->roots = builder_release_roots(cfg->state_dir);
	if ((rc = cache_builds_prune(cache, w.cutoff, KEEP_BUILDS, &report->builds)) < 0)
		snprintf(err, errlen, "cannot remove old build records: %s", cache_error(cache));
	log_info("gc: forgot %d images, removed %d blobs (%llu bytes), %d lock files, %d GC-root folders, %lld build records",
		 report->images, report->blobs, (unsigned long long)report->bytes, report->locks,
		 report->roots, (long long)report->builds);
out:
	lock_release(pack);
	lock_release(gate);
	digests_free(&w.live);
	digests_free(&w.expired);
	digests_free(&w.doomed);
	return rc;
}
