/* The builds table: every build, from its start to how it ended, what
 * Nix last printed while it ran, and the records pruned by gc. */
#include "sql/cache_db.h"

#include <errno.h>
#include <string.h>

int cache_build_begin(struct cache *c, const char *image_key, const char *packages,
		      const char *name, const char *platform, const char *requester, int64_t now_ms, int64_t *id)
{
	int rc = cache_db_step_done(c, cache_db_bind(c, BUILD_BEGIN, "ssisss", image_key, packages, now_ms, name,
						     platform, requester));

	*id = rc == 0 ? sqlite3_last_insert_rowid(c->db) : 0;
	return rc;
}

int cache_build_left_out(struct cache *c, const char *image_key, const char *packages,
			 const char *name, const char *platform, const char *requester, const char *why,
			 int64_t now_ms)
{
	return cache_db_step_done(c, cache_db_bind(c, BUILD_LEFT_OUT, "ssissss", image_key, packages, now_ms, why,
						   name, platform, requester));
}

static const char *const build_status_name[] = {
	[BUILD_OK] = "ok", [BUILD_FAILED] = "failed", [BUILD_TIMEOUT] = "timeout", [BUILD_CANCELLED] = "cancelled",
};

int cache_build_end(struct cache *c, int64_t id, enum build_status status, const char *message,
		    double seconds, uint64_t packed, uint64_t size, int64_t now_ms)
{
	return cache_db_step_done(c, cache_db_bind(c, BUILD_END, "issdiii", id, build_status_name[status],
						   message ? message : "", seconds, (int64_t)packed, now_ms,
						   (int64_t)size));
}

int cache_build_log(struct cache *c, int64_t id, const char *line)
{
	return cache_db_step_done(c, cache_db_bind(c, BUILD_LOG, "is", id, line));
}

int cache_build_failed_since(struct cache *c, const char *image_key, int64_t since_ms,
			     enum build_status *status, char *message, size_t len)
{
	sqlite3_stmt *st = cache_db_bind(c, BUILD_LAST_FAILURE, "si", image_key, since_ms);
	int rc = cache_db_step_row(c, st);

	if (rc == 0) {
		const unsigned char *s = sqlite3_column_text(st, 0);

		*status = s && strcmp((const char *)s, "timeout") == 0 ? BUILD_TIMEOUT : BUILD_FAILED;
		cache_db_copy_text(st, 1, message, len);
		sqlite3_reset(st);
	}
	return rc;
}

static int build_row(sqlite3_stmt *st, const struct cache_db_walk *w)
{
	struct cache_build b = { 0 };

	b.id = sqlite3_column_int64(st, 0);
	cache_db_copy_text(st, 1, b.image_key, sizeof b.image_key);
	cache_db_copy_text(st, 2, b.packages, sizeof b.packages);
	b.started = sqlite3_column_int64(st, 3);
	b.seconds = sqlite3_column_double(st, 4);
	b.packed = (uint64_t)sqlite3_column_int64(st, 5);
	cache_db_copy_text(st, 6, b.status, sizeof b.status);
	cache_db_copy_text(st, 7, b.message, sizeof b.message);
	cache_db_copy_text(st, 8, b.name, sizeof b.name);
	b.size = (uint64_t)sqlite3_column_int64(st, 9);
	cache_db_copy_text(st, 10, b.log, sizeof b.log);
	cache_db_copy_text(st, 11, b.platforms, sizeof b.platforms);
	cache_db_copy_text(st, 12, b.requester, sizeof b.requester);
	return w->fn.build(w->ctx, &b);
}

int cache_each_build(struct cache *c, int running, int64_t limit, cache_build_fn fn, void *ctx)
{
	struct cache_db_walk w = { .fn.build = fn, .ctx = ctx };

	return cache_db_each_row(c, running ?
			"SELECT id, image_key, packages, started, seconds, packed, status, message, name, size, log, platforms, requester FROM builds WHERE status = 'running' ORDER BY id DESC LIMIT ?1" :
			"SELECT id, image_key, packages, started, seconds, packed, status, message, name, size, log, platforms, requester FROM builds WHERE status != 'running' ORDER BY id DESC LIMIT ?1",
			"i", limit, build_row, &w);
}

int cache_builds_prune(struct cache *c, int64_t before, int keep, int64_t *removed)
{
	sqlite3_stmt *st = NULL;
	int src;

	*removed = 0;
	if (!c->db)
		return -EIO;
	src = sqlite3_prepare_v2(c->db,
		"DELETE FROM builds WHERE status != 'running' AND started < ?1 "
		"AND id NOT IN (SELECT id FROM builds ORDER BY id DESC LIMIT ?2)", -1, &st, NULL);
	if (src == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, before);
		sqlite3_bind_int64(st, 2, keep);
		src = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (src != SQLITE_DONE)
		return cache_db_fail(c, src);
	*removed = sqlite3_changes(c->db);
	return 0;
}
