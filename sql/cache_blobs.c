/* The blobs and layers tables: every blob in storage with its size and
 * media type, and the layers packed, by the store paths they hold. */
#include "sql/cache_db.h"

#include <errno.h>

static int read_layer(sqlite3_stmt *st, void *out)
{
	struct manifest_layer *layer = out;

	cache_db_copy_text(st, 0, layer->digest, sizeof layer->digest);
	cache_db_copy_text(st, 1, layer->diff_id, sizeof layer->diff_id);
	layer->size = (uint64_t)sqlite3_column_int64(st, 2);
	return 0;
}

int cache_layer_get(struct cache *c, const char *layer_key, struct manifest_layer *layer)
{
	return cache_db_read_row(c, cache_db_bind(c, LAYER_GET, "s", layer_key), read_layer, layer);
}

int cache_layer_put(struct cache *c, const char *layer_key, const struct manifest_layer *layer)
{
	int rc = cache_db_begin(c);

	if (rc < 0)
		return rc;
	if ((rc = cache_blob_put(c, layer->digest, layer->size, "application/octet-stream")) == 0)
		rc = cache_db_step_done(c, cache_db_bind(c, LAYER_PUT, "sssi", layer_key, layer->digest,
							 layer->diff_id, (int64_t)layer->size));
	return cache_db_end(c, rc);
}

static int read_blob(sqlite3_stmt *st, void *out)
{
	struct cache_blob *blob = out;

	blob->size = (uint64_t)sqlite3_column_int64(st, 0);
	cache_db_copy_text(st, 1, blob->media_type, sizeof blob->media_type);
	return 0;
}

int cache_blob_get(struct cache *c, const char *digest, struct cache_blob *blob)
{
	return cache_db_read_row(c, cache_db_bind(c, BLOB_GET, "s", digest), read_blob, blob);
}

int cache_blob_totals(struct cache *c, uint64_t *blobs, uint64_t *bytes)
{
	sqlite3_stmt *st = cache_db_bind(c, BLOB_TOTALS, "");
	int rc = cache_db_step_row(c, st);

	if (rc == 0) {
		*blobs = (uint64_t)sqlite3_column_int64(st, 0);
		*bytes = (uint64_t)sqlite3_column_int64(st, 1);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_blob_put(struct cache *c, const char *digest, uint64_t size, const char *media_type)
{
	return cache_db_step_done(c, cache_db_bind(c, BLOB_PUT, "sis", digest, (int64_t)size, media_type));
}

int cache_blob_forget(struct cache *c, const char *digest)
{
	int rc = cache_db_begin(c);

	if (rc < 0)
		return rc;
	if ((rc = cache_db_step_done(c, cache_db_bind(c, LAYER_FORGET, "s", digest))) == 0)
		rc = cache_db_step_done(c, cache_db_bind(c, BLOB_FORGET, "s", digest));
	return cache_db_end(c, rc);
}

static int blob_row(sqlite3_stmt *st, const struct cache_db_walk *w)
{
	struct cache_blob blob;
	char digest[DIGEST_HEX_LEN + 1];

	cache_db_copy_text(st, 0, digest, sizeof digest);
	blob.size = (uint64_t)sqlite3_column_int64(st, 1);
	cache_db_copy_text(st, 2, blob.media_type, sizeof blob.media_type);
	return w->fn.blob(w->ctx, digest, &blob);
}

int cache_each_blob(struct cache *c, cache_blob_fn fn, void *ctx)
{
	struct cache_db_walk w = { .fn.blob = fn, .ctx = ctx };

	return cache_db_each_row(c, "SELECT digest, size, media_type FROM blobs", "", 0, blob_row, &w);
}
