/* A tag's answer kept for the web server (storage_tag_write), so that it
 * sends the manifest itself for a while instead of asking a worker: the
 * tag files that etc/lighttpd-files.lua and the other servers read. */
#include "builder/publish.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"

static int list_blob(void *ctx, const char *hex, uint64_t size)
{
	return buf_printf(ctx, " %s:%llu", hex, (unsigned long long)size);
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
	if (storage_tag_read(s, name, ref, &old) == 0 && strcmp(old.docker, t.docker) == 0 &&
	    strcmp(old.oci, t.oci) == 0 && old.expires <= t.expires && old.expires - now >= (t.expires - now) / 2)
		return;
	if (!storage_remote(s) && manifest_each_blob(manifest, list_blob, &blobs) < 0)
		rc = -ENOMEM;
	else
		rc = storage_tag_write(s, name, ref, &t, blobs.data ? blobs.data : "");
	/* -EINVAL: a name the web server's route does not admit. */
	if (rc < 0 && rc != -EINVAL)
		log_warn("cannot keep %s:%s's manifest for the web server to send: %s", name, ref, strerror(-rc));
	buf_free(&blobs);
}
