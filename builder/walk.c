#include "builder/walk.h"

#include <errno.h>
#include <string.h>

#include "core/buf.h"

struct child_walk {
	const struct storage *s;
	manifest_blob_fn fn;
	void *ctx;
	struct buf text;
};

/* One manifest of an index: itself, then what it names. */
static int child(void *arg, const char *hex, uint64_t size)
{
	struct child_walk *w = arg;
	int rc = w->fn(w->ctx, hex, size);

	if (rc != 0)
		return rc;
	w->text.len = 0;
	if (storage_read(w->s, hex, MANIFEST_MAX_BYTES, &w->text) < 0)
		return -ENOENT;
	/* An index of indexes is none of this registry's. */
	rc = manifest_each_blob(w->text.data, w->fn, w->ctx);
	return rc == -EINVAL ? -ENOENT : rc;
}

int walk_image(const struct storage *s, const char *json, manifest_blob_fn fn, void *ctx)
{
	struct child_walk w = { .s = s, .fn = fn, .ctx = ctx };
	int rc;

	if (!manifest_is_index(json))
		return manifest_each_blob(json, fn, ctx);
	rc = manifest_each_child(json, child, &w);
	buf_free(&w.text);
	return rc;
}

static int take_first(void *ctx, const char *hex, uint64_t size)
{
	(void)size;
	memcpy(ctx, hex, DIGEST_HEX_LEN + 1);
	return 1;
}

int walk_first_child(const char *index_json, char hex[DIGEST_HEX_LEN + 1])
{
	return manifest_each_child(index_json, take_first, hex) == 1 ? 0 : -EINVAL;
}
