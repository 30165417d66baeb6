/* The requests and images tables: what a request evaluated to, and the
 * images built, with their manifests and last use. */
#include "sql/cache_db.h"

#include <errno.h>

static int read_hit(sqlite3_stmt *st, void *out)
{
	struct cache_hit *hit = out;

	cache_db_copy_text(st, 0, hit->image_key, sizeof hit->image_key);
	hit->evaluated = sqlite3_column_int64(st, 1);
	cache_db_copy_text(st, 2, hit->img.docker_manifest, sizeof hit->img.docker_manifest);
	cache_db_copy_text(st, 3, hit->img.oci_manifest, sizeof hit->img.oci_manifest);
	hit->img.used = sqlite3_column_int64(st, 4);
	hit->tagged = sqlite3_column_int(st, 5);
	hit->img.index = sqlite3_column_int(st, 6);
	cache_db_copy_text(st, 7, hit->img.platforms, sizeof hit->img.platforms);
	return 0;
}

int cache_request_lookup(struct cache *c, const char *request_key, const char *name, const char *tag,
			 struct cache_hit *hit)
{
	return cache_db_read_row(c, cache_db_bind(c, REQUEST_LOOKUP, "sss", request_key, name, tag), read_hit, hit);
}

int cache_request_put(struct cache *c, const char *request_key, const char *image_key,
		      int64_t evaluated)
{
	return cache_db_step_done(c, cache_db_bind(c, REQUEST_PUT, "ssi", request_key, image_key, evaluated));
}

int cache_request_claim(struct cache *c, const char *request_key, int64_t seen, int64_t now)
{
	int rc = cache_db_step_done(c, cache_db_bind(c, REQUEST_CLAIM, "sii", request_key, seen, now));

	if (rc < 0)
		return rc;
	return sqlite3_changes(c->db) == 1 ? 0 : -EBUSY;
}

int cache_last_evaluated(struct cache *c, int64_t *when)
{
	sqlite3_stmt *st = cache_db_bind(c, LAST_EVALUATED, "");
	int rc = cache_db_step_row(c, st);

	if (rc == 0) {
		*when = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	return rc;
}

static int read_image(sqlite3_stmt *st, void *out)
{
	struct cache_image *img = out;

	cache_db_copy_text(st, 0, img->docker_manifest, sizeof img->docker_manifest);
	cache_db_copy_text(st, 1, img->oci_manifest, sizeof img->oci_manifest);
	img->used = sqlite3_column_int64(st, 2);
	img->index = sqlite3_column_int(st, 3);
	cache_db_copy_text(st, 4, img->platforms, sizeof img->platforms);
	return 0;
}

int cache_image_get(struct cache *c, const char *image_key, struct cache_image *img)
{
	return cache_db_read_row(c, cache_db_bind(c, IMAGE_GET, "s", image_key), read_image, img);
}

int cache_image_used(struct cache *c, const char *image_key, int64_t now)
{
	return cache_db_step_done(c, cache_db_bind(c, IMAGE_USED, "si", image_key, now));
}

int cache_image_put(struct cache *c, const char *image_key, const struct cache_image *img,
		    const char *request_key, int64_t now)
{
	int rc = cache_db_begin(c);

	if (rc < 0)
		return rc;
	if ((rc = cache_db_step_done(c, cache_db_bind(c, IMAGE_PUT, "sssiis", image_key, img->docker_manifest,
						       img->oci_manifest, now, (int64_t)img->index, img->platforms))) == 0)
		rc = cache_request_put(c, request_key, image_key, now);
	return cache_db_end(c, rc);
}

static int image_row(sqlite3_stmt *st, const struct cache_db_walk *w)
{
	struct cache_image img;
	char key[CACHE_KEY_LEN + 1];

	cache_db_copy_text(st, 0, key, sizeof key);
	cache_db_copy_text(st, 1, img.docker_manifest, sizeof img.docker_manifest);
	cache_db_copy_text(st, 2, img.oci_manifest, sizeof img.oci_manifest);
	img.used = sqlite3_column_int64(st, 3);
	img.index = sqlite3_column_int(st, 5);
	cache_db_copy_text(st, 6, img.platforms, sizeof img.platforms);
	return w->fn.image(w->ctx, key, &img, sqlite3_column_int64(st, 4));
}

int cache_each_image(struct cache *c, cache_image_fn fn, void *ctx)
{
	struct cache_db_walk w = { .fn.image = fn, .ctx = ctx };

	return cache_db_each_row(c, "SELECT image_key, docker_manifest, oci_manifest, used, created, is_index, platforms FROM images ORDER BY used DESC",
				 "", 0, image_row, &w);
}

int cache_image_forget(struct cache *c, const char *image_key)
{
	static const char *const sql[] = {
		"DELETE FROM tags WHERE image_key = ?1",
		"DELETE FROM requests WHERE image_key = ?1",
		"DELETE FROM images WHERE image_key = ?1",
	};
	size_t i;
	int rc = cache_db_begin(c), src;

	for (i = 0; rc == 0 && i < sizeof sql / sizeof *sql; i++) {
		sqlite3_stmt *st = NULL;

		if ((src = sqlite3_prepare_v2(c->db, sql[i], -1, &st, NULL)) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, image_key, -1, SQLITE_STATIC);
			src = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		if (src != SQLITE_DONE)
			rc = cache_db_fail(c, src);
	}
	return cache_db_end(c, rc);
}
