/* How the build cache's calls run SQL: statements bound by a small
 * format and stepped for one row, none, or a list of texts;
 * transactions; and queries run once, row by row, for the operators'
 * tools. */
#include "sql/cache_db.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binds arguments by a small format: 's' text, 'i' int64, 'd' double.
 * NULL without a database (a failed recovery). */
sqlite3_stmt *cache_db_bind(struct cache *c, enum cache_db_stmt id, const char *fmt, ...)
{
	sqlite3_stmt *st = c->stmt[id];
	va_list ap;
	int i;

	if (!st)
		return NULL;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	va_start(ap, fmt);
	for (i = 0; fmt[i]; i++) {
		if (fmt[i] == 's')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
		else if (fmt[i] == 'i')
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else
			sqlite3_bind_double(st, i + 1, va_arg(ap, double));
	}
	va_end(ap);
	return st;
}

/* Steps a query expected to return at most one row; the caller reads it,
 * then resets. */
int cache_db_step_row(struct cache *c, sqlite3_stmt *st)
{
	int rc;

	if (!st)
		return cache_refresh(c) < 0 ? -EIO : -EAGAIN;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return -ENOENT;
	}
	sqlite3_reset(st);
	return cache_db_fail(c, rc);
}

int cache_db_read_row(struct cache *c, sqlite3_stmt *st, int (*read)(sqlite3_stmt *st, void *out), void *out)
{
	int rc = cache_db_step_row(c, st);

	if (rc == 0) {
		rc = read(st, out);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_db_step_done(struct cache *c, sqlite3_stmt *st)
{
	int rc = cache_db_step_row(c, st);

	if (rc == 0) {
		/* A statement that returned a row it should not have. */
		sqlite3_reset(st);
		return -EIO;
	}
	return rc == -ENOENT ? 0 : rc;
}

void cache_db_copy_text(sqlite3_stmt *st, int col, char *out, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, len, "%s", t ? (const char *)t : "");
}

int cache_db_begin(struct cache *c)
{
	int rc;

	if (!c->db)
		return cache_refresh(c) < 0 ? -EIO : -EAGAIN;
	rc = cache_db_exec(c->db, "BEGIN IMMEDIATE");
	return rc == SQLITE_OK ? 0 : cache_db_fail(c, rc);
}

/* Commits when rc is 0, else rolls back; the first error is the one told. */
int cache_db_end(struct cache *c, int rc)
{
	int src;

	if (!c->db)
		return rc;
	if (rc == 0 && (src = cache_db_exec(c->db, "COMMIT")) != SQLITE_OK)
		rc = cache_db_fail(c, src);
	if (rc < 0 && c->db && sqlite3_get_autocommit(c->db) == 0)
		cache_db_exec(c->db, "ROLLBACK");
	return rc;
}

/* Steps a query of one text column into a vector of copies. */
int cache_db_texts(struct cache *c, sqlite3_stmt *st, char ***out, size_t *n)
{
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	while ((rc = cache_db_step_row(c, st)) == 0) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		if (*n + 1 >= cap) {
			char **grown = realloc(*out, (cap = cap * 2 + 16) * sizeof **out);

			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			*out = grown;
		}
		if (!((*out)[*n] = strdup(t ? (const char *)t : ""))) {
			rc = -ENOMEM;
			break;
		}
		(*out)[++*n] = NULL;
	}
	if (st)
		sqlite3_reset(st);
	return rc == -ENOENT ? 0 : rc;
}

/* A query run once, row by row: for the operators' tools, which walk the
 * whole cache (the workers' statements are prepared once per thread). */
int cache_db_each_row(struct cache *c, const char *sql, const char *fmt, int64_t arg,
		      int (*row)(sqlite3_stmt *st, const struct cache_db_walk *w), const struct cache_db_walk *w)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	if (!c->db)
		return -EIO;
	if ((src = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL)) != SQLITE_OK)
		return cache_db_fail(c, src);
	if (fmt[0] == 'i')
		sqlite3_bind_int64(st, 1, arg);
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = row(st, w)) != 0)
			goto out;
	rc = src == SQLITE_DONE ? 0 : cache_db_fail(c, src);
out:
	sqlite3_finalize(st);
	return rc;
}
