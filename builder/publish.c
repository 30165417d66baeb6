/* A tag's answer kept for the web server (storage_tag_write), so that it
 * sends the manifest itself for a while instead of asking a worker: the
 * tag files that etc/lighttpd-files.lua and the other servers read. */
#include "builder/publish.h"

#include <errno.h>
#include <string.h>

#include "builder/walk.h"
#include "core/log.h"

/* Lists a blob once: both forms of an index name the same configs and
 * layers. */
static int list_blob(void *ctx, const char *hex, uint64_t size)
{
	struct buf *blobs = ctx;

	if (blobs->data && strstr(blobs->data, hex))
		return 0;
	return buf_printf(blobs, " %s:%llu", hex, (unsigned long long)size) < 0 ? -ENOMEM : 0;
}

/* An index's two forms, each platform's manifests and their blobs (to
 * blobs, unless NULL), and the first platform's manifests, which clients
 * that take no index get. */
static int list_index(const struct storage *s, const struct cache_image *img, struct storage_tag *t,
		      struct buf *blobs)
{
	const char *forms[] = { img->docker_manifest, img->oci_manifest };
	char *firsts[] = { t->docker, t->oci };
	struct buf text = { 0 };
	size_t i;
	int rc = 0;

	t->index = 1;
	memcpy(t->docker_list, img->docker_manifest, sizeof t->docker_list);
	memcpy(t->oci_index, img->oci_manifest, sizeof t->oci_index);
	for (i = 0; i < 2 && rc == 0; i++) {
		text.len = 0;
		if ((rc = storage_read(s, forms[i], MANIFEST_MAX_BYTES, &text)) == 0 &&
		    (rc = walk_first_child(text.data, firsts[i])) == 0 && blobs)
			rc = walk_image(s, text.data, list_blob, blobs);
	}
	buf_free(&text);
	return rc;
}

void publish_tag(const struct storage *s, const char *name, const char *ref, const struct cache_image *img,
		 const char *manifest, int64_t now, int64_t until)
{
	struct storage_tag t = { .expires = until }, old;
	struct buf blobs = { 0 };
	int rc;

	if (t.expires <= now)
		return;
	memcpy(t.docker, img->docker_manifest, sizeof t.docker);
	memcpy(t.oci, img->oci_manifest, sizeof t.oci);
	if (storage_tag_read(s, name, ref, &old) == 0 && old.index == img->index &&
	    strcmp(img->index ? old.docker_list : old.docker, img->docker_manifest) == 0 &&
	    strcmp(img->index ? old.oci_index : old.oci, img->oci_manifest) == 0 &&
	    old.expires <= t.expires && old.expires - now >= (t.expires - now) / 2)
		return;
	/* A bucket's blobs are not the web server's to look at: none listed. */
	if (img->index)
		rc = list_index(s, img, &t, storage_remote(s) ? NULL : &blobs);
	else
		rc = storage_remote(s) ? 0 : manifest_each_blob(manifest, list_blob, &blobs);
	if (rc == 0)
		rc = storage_tag_write(s, name, ref, &t, blobs.data ? blobs.data : "");
	/* -EINVAL: a name the web server's route does not admit. */
	if (rc < 0 && rc != -EINVAL)
		log_warn("cannot keep %s:%s's manifest for the web server to send: %s", name, ref, strerror(-rc));
	buf_free(&blobs);
}
