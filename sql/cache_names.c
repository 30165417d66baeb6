/* The names table: the attribute names Nix listed from a package source
 * under a prefix, kept for the landing page's search (builder/search.c).
 * The image names with a tag (cache_names) are the tags table's. */
#include "sql/cache_db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cache_names_get(struct cache *c, const char *source, const char *prefix, char **json, int64_t *listed)
{
	sqlite3_stmt *st = cache_db_bind(c, NAMES_GET, "ss", source, prefix);
	int rc = cache_db_step_row(c, st);

	if (rc == 0) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		*listed = sqlite3_column_int64(st, 1);
		rc = (*json = strdup(t ? (const char *)t : "[]")) ? 0 : -ENOMEM;
		sqlite3_reset(st);
	}
	return rc;
}

int cache_names_put(struct cache *c, const char *source, const char *prefix, const char *json, int64_t now)
{
	return cache_db_step_done(c, cache_db_bind(c, NAMES_PUT, "ssis", source, prefix, now, json));
}
