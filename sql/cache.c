#include "sql/cache.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sql/schema.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 10000

enum stmt_id {
	REQUEST_GET, REQUEST_PUT, REQUEST_CLAIM, IMAGE_GET, IMAGE_PUT, LAYER_GET, LAYER_PUT,
	BLOB_GET, BLOB_PUT, BUILD_BEGIN, BUILD_END, BUILD_LAST_FAILURE, STMT_COUNT
};

static const char *const sql_text[STMT_COUNT] = {
	[REQUEST_GET] = "SELECT image_key, evaluated FROM requests WHERE request_key = ?1",
	[REQUEST_PUT] = "INSERT OR REPLACE INTO requests (request_key, image_key, evaluated) VALUES (?1, ?2, ?3)",
	[REQUEST_CLAIM] = "UPDATE requests SET evaluated = ?3 WHERE request_key = ?1 AND evaluated = ?2",
	[IMAGE_GET] = "SELECT docker_manifest, oci_manifest FROM images WHERE image_key = ?1",
	[IMAGE_PUT] = "INSERT OR IGNORE INTO images (image_key, docker_manifest, oci_manifest, created) VALUES (?1, ?2, ?3, ?4)",
	[LAYER_GET] = "SELECT l.digest, l.diff_id, l.size FROM layers l JOIN blobs b ON b.digest = l.digest WHERE l.layer_key = ?1",
	[LAYER_PUT] = "INSERT OR IGNORE INTO layers (layer_key, digest, diff_id, size) VALUES (?1, ?2, ?3, ?4)",
	[BLOB_GET] = "SELECT size, media_type FROM blobs WHERE digest = ?1",
	[BLOB_PUT] = "INSERT OR IGNORE INTO blobs (digest, size, media_type) VALUES (?1, ?2, ?3)",
	[BUILD_BEGIN] = "INSERT INTO builds (image_key, packages, started, status) VALUES (?1, ?2, ?3, 'running')",
	[BUILD_END] = "UPDATE builds SET status = ?2, message = ?3, seconds = ?4, packed = ?5, finished = ?6 WHERE id = ?1",
	[BUILD_LAST_FAILURE] = "SELECT status, message FROM builds WHERE image_key = ?1 AND finished >= ?2 AND status IN ('failed', 'timeout') ORDER BY finished DESC LIMIT 1",
};

struct cache {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_COUNT];
};

const char *cache_error(struct cache *c)
{
	return sqlite3_errmsg(c->db);
}

static int exec(struct cache *c, const char *sql)
{
	return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Creates the schema once, under a write lock, so workers starting
 * together do not race. */
static int migrate(struct cache *c)
{
	sqlite3_stmt *st = NULL;
	int version = -1;

	if (exec(c, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0 || version > SCHEMA_VERSION)
		goto fail;
	if (version < SCHEMA_VERSION &&
	    (exec(c, cache_schema_sql) < 0 || exec(c, "PRAGMA user_version = 1") < 0))
		goto fail;
	return exec(c, "COMMIT");
fail:
	exec(c, "ROLLBACK");
	return -EIO;
}

static int open_db(const char *state_dir, struct cache *c, char *err, size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/cache.db", state_dir);
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		return -EIO;
	}
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	/* NORMAL keeps every commit atomic and consistent in WAL mode, losing
	 * at most the last one on power loss. */
	if (exec(c, "PRAGMA synchronous = NORMAL") < 0) {
		snprintf(err, errlen, "cannot set up %s: %s", path, sqlite3_errmsg(c->db));
		return -EIO;
	}
	return 0;
}

int cache_init(const char *state_dir, char *err, size_t errlen)
{
	struct cache c = { 0 };
	int attempt, rc = open_db(state_dir, &c, err, errlen);

	/* Switching to WAL needs the database to itself and does not wait for
	 * the busy timeout: worker processes starting together take turns. */
	for (attempt = 0; rc == 0; attempt++) {
		if (exec(&c, "PRAGMA journal_mode = WAL") == 0 && migrate(&c) == 0)
			break;
		if (sqlite3_errcode(c.db) != SQLITE_BUSY || attempt == 100) {
			snprintf(err, errlen, "cannot set up %s/cache.db: %s", state_dir,
				 sqlite3_errmsg(c.db));
			rc = -EIO;
			break;
		}
		usleep(100000);
	}
	sqlite3_close(c.db);
	return rc;
}

int cache_open(const char *state_dir, struct cache **out, char *err, size_t errlen)
{
	struct cache *c = calloc(1, sizeof *c);
	int i;

	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (open_db(state_dir, c, err, errlen) < 0)
		goto fail;
	for (i = 0; i < STMT_COUNT; i++)
		if (sqlite3_prepare_v3(c->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &c->stmt[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare cache query: %s", sqlite3_errmsg(c->db));
			goto fail;
		}
	*out = c;
	return 0;
fail:
	cache_close(c);
	return -EIO;
}

void cache_close(struct cache *c)
{
	int i;

	if (!c)
		return;
	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

/* Binds text, text-or-int arguments by a small format: 's' text, 'i' int64,
 * 'd' double. */
static sqlite3_stmt *bind(struct cache *c, enum stmt_id id, const char *fmt, ...)
{
	sqlite3_stmt *st = c->stmt[id];
	va_list ap;
	int i;

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

/* Steps a query expected to return at most one row. */
static int step_row(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void copy_text(sqlite3_stmt *st, int col, char *out, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, len, "%s", t ? (const char *)t : "");
}

int cache_request_get(struct cache *c, const char *request_key,
		      char image_key[CACHE_KEY_LEN + 1], int64_t *evaluated)
{
	sqlite3_stmt *st = bind(c, REQUEST_GET, "s", request_key);
	int rc = step_row(st);

	if (rc == 0) {
		copy_text(st, 0, image_key, CACHE_KEY_LEN + 1);
		*evaluated = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc;
}

int cache_request_put(struct cache *c, const char *request_key, const char *image_key,
		      int64_t evaluated)
{
	return step_done(bind(c, REQUEST_PUT, "ssi", request_key, image_key, evaluated));
}

int cache_request_claim(struct cache *c, const char *request_key, int64_t seen, int64_t now)
{
	if (step_done(bind(c, REQUEST_CLAIM, "sii", request_key, seen, now)) < 0)
		return -EIO;
	return sqlite3_changes(c->db) == 1 ? 0 : -EBUSY;
}

int cache_image_get(struct cache *c, const char *image_key, struct cache_image *img)
{
	sqlite3_stmt *st = bind(c, IMAGE_GET, "s", image_key);
	int rc = step_row(st);

	if (rc == 0) {
		copy_text(st, 0, img->docker_manifest, sizeof img->docker_manifest);
		copy_text(st, 1, img->oci_manifest, sizeof img->oci_manifest);
	}
	sqlite3_reset(st);
	return rc;
}

int cache_image_put(struct cache *c, const char *image_key, const struct cache_image *img,
		    const char *request_key, int64_t now)
{
	if (exec(c, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (step_done(bind(c, IMAGE_PUT, "sssi", image_key, img->docker_manifest,
			   img->oci_manifest, now)) < 0 ||
	    cache_request_put(c, request_key, image_key, now) < 0 ||
	    exec(c, "COMMIT") < 0) {
		exec(c, "ROLLBACK");
		return -EIO;
	}
	return 0;
}

int cache_layer_get(struct cache *c, const char *layer_key, struct manifest_layer *layer)
{
	sqlite3_stmt *st = bind(c, LAYER_GET, "s", layer_key);
	int rc = step_row(st);

	if (rc == 0) {
		copy_text(st, 0, layer->digest, sizeof layer->digest);
		copy_text(st, 1, layer->diff_id, sizeof layer->diff_id);
		layer->size = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc;
}

int cache_layer_put(struct cache *c, const char *layer_key, const struct manifest_layer *layer)
{
	if (exec(c, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (cache_blob_put(c, layer->digest, layer->size, "application/octet-stream") < 0 ||
	    step_done(bind(c, LAYER_PUT, "sssi", layer_key, layer->digest, layer->diff_id,
			   (int64_t)layer->size)) < 0 ||
	    exec(c, "COMMIT") < 0) {
		exec(c, "ROLLBACK");
		return -EIO;
	}
	return 0;
}

int cache_blob_get(struct cache *c, const char *digest, struct cache_blob *blob)
{
	sqlite3_stmt *st = bind(c, BLOB_GET, "s", digest);
	int rc = step_row(st);

	if (rc == 0) {
		blob->size = (uint64_t)sqlite3_column_int64(st, 0);
		copy_text(st, 1, blob->media_type, sizeof blob->media_type);
	}
	sqlite3_reset(st);
	return rc;
}

int cache_blob_put(struct cache *c, const char *digest, uint64_t size, const char *media_type)
{
	return step_done(bind(c, BLOB_PUT, "sis", digest, (int64_t)size, media_type));
}

int cache_build_begin(struct cache *c, const char *image_key, const char *packages,
		      int64_t now, int64_t *id)
{
	int rc = step_done(bind(c, BUILD_BEGIN, "ssi", image_key, packages, now));

	*id = rc == 0 ? sqlite3_last_insert_rowid(c->db) : 0;
	return rc;
}

static const char *const build_status_name[] = {
	[BUILD_OK] = "ok", [BUILD_FAILED] = "failed", [BUILD_TIMEOUT] = "timeout",
};

int cache_build_end(struct cache *c, int64_t id, enum build_status status, const char *message,
		    double seconds, uint64_t packed, int64_t now)
{
	return step_done(bind(c, BUILD_END, "issdii", id, build_status_name[status],
			      message ? message : "", seconds, (int64_t)packed, now));
}

int cache_build_failed_since(struct cache *c, const char *image_key, int64_t since,
			     enum build_status *status, char *message, size_t len)
{
	sqlite3_stmt *st = bind(c, BUILD_LAST_FAILURE, "si", image_key, since);
	int rc = step_row(st);

	if (rc == 0) {
		*status = strcmp((const char *)sqlite3_column_text(st, 0), "timeout") == 0 ?
			BUILD_TIMEOUT : BUILD_FAILED;
		copy_text(st, 1, message, len);
	}
	sqlite3_reset(st);
	return rc;
}
