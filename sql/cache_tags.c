/* The tags table: the name:tag references evaluated to each image, for
 * the registry's listings (tags/list, _catalog) and the operators' tools. */
#include "sql/cache_db.h"

#include <errno.h>

int cache_tag_put(struct cache *c, const char *name, const char *tag, const char *image_key,
		  int64_t now)
{
	return cache_db_step_done(c, cache_db_bind(c, TAG_PUT, "sssi", name, tag, image_key, now));
}

int cache_tags(struct cache *c, const char *name, const char *after, int max, char ***tags, size_t *n)
{
	return cache_db_texts(c, cache_db_bind(c, TAG_LIST, "ssi", name, after, (int64_t)max), tags, n);
}

int cache_names(struct cache *c, const char *after, int max, char ***names, size_t *n)
{
	return cache_db_texts(c, cache_db_bind(c, NAME_LIST, "si", after, (int64_t)max), names, n);
}

int cache_image_tags(struct cache *c, const char *image_key, char ***refs, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int src, rc;

	*refs = NULL;
	*n = 0;
	if (!c->db)
		return -EIO;
	if ((src = sqlite3_prepare_v2(c->db, "SELECT name || ':' || tag FROM tags WHERE image_key = ?1 ORDER BY 1",
				      -1, &st, NULL)) != SQLITE_OK)
		return cache_db_fail(c, src);
	sqlite3_bind_text(st, 1, image_key, -1, SQLITE_STATIC);
	rc = cache_db_texts(c, st, refs, n);
	sqlite3_finalize(st);
	return rc;
}
