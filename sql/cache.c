/* The build cache's handle: one per thread, its statements prepared once,
 * opened again when its database was moved aside (by another handle that
 * found it damaged), removed, or could not be written; a failed call's
 * error kept for cache_error, and a damaged database replaced. */
#include "sql/cache_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mkdirs.h"

/* What each handle prepares once, by the calls' names (cache_db.h). */
static const char *const sql_text[STMT_COUNT] = {
	/* A cached manifest's whole read: one statement, one read transaction. */
	[REQUEST_LOOKUP] = "SELECT r.image_key, r.evaluated, i.docker_manifest, i.oci_manifest, i.used, "
		"EXISTS (SELECT 1 FROM tags WHERE name = ?2 AND tag = ?3), i.is_index, i.platforms "
		"FROM requests r JOIN images i ON i.image_key = r.image_key WHERE r.request_key = ?1",
	[REQUEST_PUT] = "INSERT OR REPLACE INTO requests (request_key, image_key, evaluated) VALUES (?1, ?2, ?3)",
	[REQUEST_CLAIM] = "UPDATE requests SET evaluated = ?3 WHERE request_key = ?1 AND evaluated = ?2",
	[IMAGE_GET] = "SELECT docker_manifest, oci_manifest, used, is_index, platforms FROM images WHERE image_key = ?1",
	[IMAGE_PUT] = "INSERT OR REPLACE INTO images (image_key, docker_manifest, oci_manifest, created, used, is_index, platforms) "
		"VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
	[IMAGE_USED] = "UPDATE images SET used = ?2 WHERE image_key = ?1",
	[LAYER_GET] = "SELECT l.digest, l.diff_id, l.size FROM layers l JOIN blobs b ON b.digest = l.digest WHERE l.layer_key = ?1",
	[LAYER_PUT] = "INSERT OR REPLACE INTO layers (layer_key, digest, diff_id, size) VALUES (?1, ?2, ?3, ?4)",
	[BLOB_GET] = "SELECT size, media_type FROM blobs WHERE digest = ?1",
	[BLOB_PUT] = "INSERT OR REPLACE INTO blobs (digest, size, media_type) VALUES (?1, ?2, ?3)",
	[BLOB_FORGET] = "DELETE FROM blobs WHERE digest = ?1",
	[LAYER_FORGET] = "DELETE FROM layers WHERE digest = ?1",
	[BUILD_BEGIN] = "INSERT INTO builds (image_key, packages, started, status, name, platforms, requester) VALUES (?1, ?2, ?3 / 1000, 'running', ?4, ?5, ?6)",
	[BUILD_LEFT_OUT] = "INSERT INTO builds (image_key, packages, started, finished, finished_ms, seconds, packed, status, message, name, platforms, requester) "
		"VALUES (?1, ?2, ?3 / 1000, ?3 / 1000, ?3, 0, 0, 'left out', ?4, ?5, ?6, ?7)",
	[BUILD_END] = "UPDATE builds SET status = ?2, message = ?3, seconds = ?4, packed = ?5, finished = ?6 / 1000, finished_ms = ?6, size = ?7 WHERE id = ?1",
	[BUILD_LOG] = "UPDATE builds SET log = ?2 WHERE id = ?1",
	[BUILD_LAST_FAILURE] = "SELECT status, message FROM builds WHERE image_key = ?1 AND finished_ms >= ?2 AND status IN ('failed', 'timeout') ORDER BY finished_ms DESC LIMIT 1",
	[TAG_PUT] = "INSERT OR REPLACE INTO tags (name, tag, image_key, evaluated) VALUES (?1, ?2, ?3, ?4)",
	[TAG_LIST] = "SELECT tag FROM tags WHERE name = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3",
	[NAME_LIST] = "SELECT DISTINCT name FROM tags WHERE name > ?1 ORDER BY name LIMIT ?2",
	[BLOB_TOTALS] = "SELECT count(*), coalesce(sum(size), 0) FROM blobs",
	[NAMES_GET] = "SELECT names, listed FROM names WHERE source = ?1 AND prefix = ?2",
	[NAMES_PUT] = "INSERT OR REPLACE INTO names (source, prefix, listed, names) VALUES (?1, ?2, ?3, ?4)",
	[LAST_EVALUATED] = "SELECT coalesce(max(evaluated), 0) FROM requests",
};

const char *cache_error(const struct cache *c)
{
	return c->err[0] ? c->err : "no error";
}

/* A database removed under a running registry (with its folder, maybe)
 * is made again, empty, as at a first start, by the first handle that
 * finds it gone: images are built again as they are asked for. */
static int recreate(struct cache *c)
{
	char path[CACHE_DB_PATH_LEN + 16], why[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/cache.db", c->state_dir);
	if (!(c->flags & SQLITE_OPEN_CREATE) || stat(path, &st) == 0 || errno != ENOENT)
		return 0;
	if (mkdirs(c->state_dir, 0777, why, sizeof why) < 0 ||
	    cache_db_setup(c->state_dir, why, sizeof why) != SQLITE_OK) {
		snprintf(c->err, sizeof c->err, "cannot make the build cache again: %.200s", why);
		return -EIO;
	}
	cache_db_share_as_umask_allows(c->state_dir, c->umask_bits);
	log_warn("the build cache %s was removed: started a new one; images are built again as they are asked for",
		 path);
	return 0;
}

static void close_db(struct cache *c)
{
	int i;

	for (i = 0; i < STMT_COUNT; i++) {
		sqlite3_finalize(c->stmt[i]);
		c->stmt[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

static int reopen(struct cache *c)
{
	int i, rc;

	close_db(c);
	c->stale = 0;
	if ((rc = recreate(c)) < 0)
		return rc;
	rc = cache_db_open(c->state_dir, c->flags, &c->db);
	for (i = 0; i < STMT_COUNT && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v3(c->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
					&c->stmt[i], NULL);
	if (rc != SQLITE_OK) {
		snprintf(c->err, sizeof c->err, "cannot open the build cache: %s",
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		close_db(c);
		return cache_db_error_code(rc);
	}
	return 0;
}

static int moved(struct cache *c)
{
	int has_moved = 0;

	return !c->db ||
	       sqlite3_file_control(c->db, "main", SQLITE_FCNTL_HAS_MOVED, &has_moved) != SQLITE_OK ||
	       has_moved;
}

/* A damaged database: moves it aside (unless another handle did already)
 * and starts a new one. -EAGAIN when the caller may ask again. */
static int recover(struct cache *c)
{
	char why[512];
	int lock = cache_db_lock_recovery(c->state_dir), rc;

	snprintf(why, sizeof why, "%s", c->err);
	if (!moved(c))
		cache_db_move_aside(c->state_dir, why);
	close_db(c);
	rc = cache_db_setup(c->state_dir, c->err, sizeof c->err);
	if (lock >= 0)
		close(lock);
	if (rc != SQLITE_OK) {
		log_error("cannot start a new build cache in %s: %s", c->state_dir, c->err);
		return -EIO;
	}
	rc = reopen(c);
	snprintf(c->err, sizeof c->err, "%s", why);
	return rc == 0 ? -EAGAIN : rc;
}

/* Records a failed call's message and turns its code into the caller's.
 * A handle that SQLite opened read-only (the file was not writable to this
 * user then) stays so: it is opened again before the next request. */
int cache_db_fail(struct cache *c, int sqlite_rc)
{
	int rc = cache_db_error_code(sqlite_rc);

	snprintf(c->err, sizeof c->err, "%s", c->db ? sqlite3_errmsg(c->db) : "no database");
	if ((sqlite_rc & 0xff) == SQLITE_READONLY)
		c->stale = 1;
	if (rc == -EAGAIN)
		rc = recover(c);
	return rc;
}

static int open_cache(const char *state_dir, int flags, struct cache **out, char *err, size_t errlen)
{
	struct cache *c = calloc(1, sizeof *c);
	int rc;

	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(c->state_dir, sizeof c->state_dir, "%s", state_dir);
	c->flags = flags;
	c->umask_bits = cache_db_read_umask();
	if ((rc = reopen(c)) < 0) {
		snprintf(err, errlen, "%s", c->err);
		cache_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int cache_open(const char *state_dir, struct cache **out, char *err, size_t errlen)
{
	return open_cache(state_dir, CACHE_DB_OPEN_WRITE, out, err, errlen);
}

int cache_open_existing(const char *state_dir, struct cache **out, char *err, size_t errlen)
{
	char path[CACHE_DB_PATH_LEN + 16];

	*out = NULL;
	snprintf(path, sizeof path, "%s/cache.db", state_dir);
	if (access(path, F_OK) < 0) {
		snprintf(err, errlen, "there is no build cache %s", path);
		return -ENOENT;
	}
	return open_cache(state_dir, CACHE_DB_OPEN_READ, out, err, errlen);
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	close_db(c);
	free(c);
}

/* Whether a handle SQLite opened read-only could now write: the file was
 * made writable to this user since (its mode widened). */
static int writable_again(const struct cache *c)
{
	char path[CACHE_DB_PATH_LEN + 16];

	if (!(c->flags & SQLITE_OPEN_CREATE) || sqlite3_db_readonly(c->db, "main") != 1)
		return 0;
	snprintf(path, sizeof path, "%s/cache.db", c->state_dir);
	return access(path, W_OK) == 0;
}

int cache_refresh(struct cache *c)
{
	return moved(c) || c->stale || writable_again(c) ? reopen(c) : 0;
}
