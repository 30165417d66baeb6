#include "sql/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/mkdirs.h"
#include "sql/schema.h"

#define SCHEMA_VERSION 5
#define BUSY_TIMEOUT_MS 10000
#define PATH_LEN 4096

enum stmt_id {
	REQUEST_LOOKUP, REQUEST_PUT, REQUEST_CLAIM, IMAGE_GET, IMAGE_PUT, IMAGE_USED, LAYER_GET, LAYER_PUT,
	BLOB_GET, BLOB_PUT, BLOB_FORGET, LAYER_FORGET, BUILD_BEGIN, BUILD_END,
	BUILD_LAST_FAILURE, BUILD_LOG, TAG_PUT, TAG_LIST, NAME_LIST, BLOB_TOTALS,
	NAMES_GET, NAMES_PUT, LAST_EVALUATED, STMT_COUNT
};

static const char *const sql_text[STMT_COUNT] = {
	/* A cached manifest's whole read: one statement, one read transaction. */
	[REQUEST_LOOKUP] = "SELECT r.image_key, r.evaluated, i.docker_manifest, i.oci_manifest, i.used, "
		"EXISTS (SELECT 1 FROM tags WHERE name = ?2 AND tag = ?3) "
		"FROM requests r JOIN images i ON i.image_key = r.image_key WHERE r.request_key = ?1",
	[REQUEST_PUT] = "INSERT OR REPLACE INTO requests (request_key, image_key, evaluated) VALUES (?1, ?2, ?3)",
	[REQUEST_CLAIM] = "UPDATE requests SET evaluated = ?3 WHERE request_key = ?1 AND evaluated = ?2",
	[IMAGE_GET] = "SELECT docker_manifest, oci_manifest, used FROM images WHERE image_key = ?1",
	[IMAGE_PUT] = "INSERT OR REPLACE INTO images (image_key, docker_manifest, oci_manifest, created, used) VALUES (?1, ?2, ?3, ?4, ?4)",
	[IMAGE_USED] = "UPDATE images SET used = ?2 WHERE image_key = ?1",
	[LAYER_GET] = "SELECT l.digest, l.diff_id, l.size FROM layers l JOIN blobs b ON b.digest = l.digest WHERE l.layer_key = ?1",
	[LAYER_PUT] = "INSERT OR REPLACE INTO layers (layer_key, digest, diff_id, size) VALUES (?1, ?2, ?3, ?4)",
	[BLOB_GET] = "SELECT size, media_type FROM blobs WHERE digest = ?1",
	[BLOB_PUT] = "INSERT OR REPLACE INTO blobs (digest, size, media_type) VALUES (?1, ?2, ?3)",
	[BLOB_FORGET] = "DELETE FROM blobs WHERE digest = ?1",
	[LAYER_FORGET] = "DELETE FROM layers WHERE digest = ?1",
	[BUILD_BEGIN] = "INSERT INTO builds (image_key, packages, started, status, name) VALUES (?1, ?2, ?3 / 1000, 'running', ?4)",
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

struct cache {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_COUNT];
	char state_dir[PATH_LEN];
	int flags;                /* how the database is opened */
	mode_t umask_bits;        /* the process's umask, read before any thread */
	int stale;                /* a write found the handle read-only: open it again */
	char err[512];
};

const char *cache_error(const struct cache *c)
{
	return c->err[0] ? c->err : "no error";
}

static int error_code(int sqlite_rc)
{
	switch (sqlite_rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EAGAIN;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Creates the schema once, under a write lock, so workers starting
 * together do not race; upgrades an older one in the same transaction. */
static int migrate(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int version = -1, rc;

	if ((rc = exec(db, "BEGIN IMMEDIATE")) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL)) == SQLITE_OK &&
	    (rc = sqlite3_step(st)) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && version > SCHEMA_VERSION)
		rc = SQLITE_ERROR;
	/* Version 1 timed builds in whole seconds only; up to version 3
	 * images had no time of last use. */
	if (rc == SQLITE_OK && version == 1)
		rc = exec(db, "ALTER TABLE builds ADD COLUMN finished_ms INTEGER");
	if (rc == SQLITE_OK && version >= 1 && version <= 3)
		rc = exec(db, "ALTER TABLE images ADD COLUMN used INTEGER NOT NULL DEFAULT 0;"
			  "UPDATE images SET used = created");
	/* Version 5: what the landing page shows of each build. */
	if (rc == SQLITE_OK && version >= 1 && version <= 4)
		rc = exec(db, "ALTER TABLE builds ADD COLUMN name TEXT;"
			  "ALTER TABLE builds ADD COLUMN size INTEGER;"
			  "ALTER TABLE builds ADD COLUMN log TEXT");
	if (rc == SQLITE_OK && version < SCHEMA_VERSION)
		rc = exec(db, cache_schema_sql);
	if (rc == SQLITE_OK && version < SCHEMA_VERSION)
		rc = exec(db, "PRAGMA user_version = 5");
	if (rc == SQLITE_OK)
		rc = exec(db, "COMMIT");
	if (rc != SQLITE_OK)
		exec(db, "ROLLBACK");
	return rc;
}

#define OPEN_WRITE (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)
/* A cache opened as it is, to read, never writes (query_only); it is
 * opened for writing all the same, so that the last handle to close it
 * removes the WAL and shared memory it made, as it would if it wrote:
 * a handle opened read-only leaves them behind. */
#define OPEN_READ (SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX)

static int open_db(const char *state_dir, int flags, sqlite3 **db)
{
	char path[PATH_LEN];
	int rc;

	snprintf(path, sizeof path, "%s/cache.db", state_dir);
	rc = sqlite3_open_v2(path, db, flags, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
		/* NORMAL keeps every commit atomic and consistent in WAL
		 * mode, losing at most the last one on power loss. */
		rc = exec(*db, "PRAGMA synchronous = NORMAL");
	}
	if (rc == SQLITE_OK && !(flags & SQLITE_OPEN_CREATE))
		rc = exec(*db, "PRAGMA query_only = 1");
	return rc;
}

/* Moves a damaged database aside with its WAL and shared memory, the
 * WAL first: a new database must never pick up the old one's log. */
static void move_aside(const char *state_dir, const char *why)
{
	static const char *const suffixes[] = { "-wal", "-shm", "" };
	char from[PATH_LEN], to[PATH_LEN], stamp[64];
	time_t now = time(NULL);
	size_t i;

	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&now));
	for (i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		snprintf(from, sizeof from, "%s/cache.db%s", state_dir, suffixes[i]);
		snprintf(to, sizeof to, "%s/cache.db.corrupt-%s-%ld%s", state_dir, stamp,
			 (long)getpid(), suffixes[i]);
		rename(from, to);
	}
	log_error("the build cache %s/cache.db was damaged (%s): moved it aside as cache.db.corrupt-%s-%ld and started a new one; images are built again as they are asked for",
		  state_dir, why, stamp, (long)getpid());
}

/* Serialises recoveries between threads and processes. */
static int lock_recovery(const char *state_dir)
{
	char path[PATH_LEN];
	int fd;

	snprintf(path, sizeof path, "%s/cache.recover.lock", state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	while (fd >= 0 && flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	return fd;
}

/* Opens the database in WAL mode with the current schema. */
static int setup(const char *state_dir, char *why, size_t len)
{
	sqlite3 *db = NULL;
	int attempt, rc = open_db(state_dir, OPEN_WRITE, &db);

	/* Switching to WAL needs the database to itself and does not wait for
	 * the busy timeout: worker processes starting together take turns. */
	for (attempt = 0; rc == SQLITE_OK; attempt++) {
		if ((rc = exec(db, "PRAGMA journal_mode = WAL")) == SQLITE_OK &&
		    (rc = migrate(db)) == SQLITE_OK)
			break;
		if ((rc & 0xff) != SQLITE_BUSY || attempt == 100)
			break;
		rc = SQLITE_OK;
		usleep(100000);
	}
	snprintf(why, len, "%s", db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_close(db);
	return rc;
}

/* SQLite creates the database 0644 whatever the umask: workers of two
 * users sharing a group (umask 002) must both write it. Its WAL and shared
 * memory take the database's mode. The mode is only ever widened: a
 * process with a narrower umask (an operator's shell) must not take from
 * the workers of another user what they need. Once, before any thread. */
static mode_t read_umask(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return mask;
}

static void share_as_umask_allows(const char *state_dir, mode_t mask)
{
	char path[PATH_LEN];
	struct stat st;
	mode_t want;

	snprintf(path, sizeof path, "%s/cache.db", state_dir);
	if (stat(path, &st) < 0 || st.st_uid != geteuid())
		return;
	want = (st.st_mode & 0777) | (0666 & ~mask);
	if (want != (st.st_mode & 0777))
		chmod(path, want);
}

int cache_init(const char *state_dir, char *err, size_t errlen)
{
	char why[512];
	int rc = setup(state_dir, why, sizeof why), lock;

	if (error_code(rc) == -EAGAIN) {
		if ((lock = lock_recovery(state_dir)) >= 0) {
			/* Another process may have done it meanwhile. */
			if (error_code(setup(state_dir, why, sizeof why)) == -EAGAIN)
				move_aside(state_dir, why);
			close(lock);
		}
		rc = setup(state_dir, why, sizeof why);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up the build cache %s/cache.db: %s", state_dir, why);
		return error_code(rc);
	}
	share_as_umask_allows(state_dir, read_umask());
	return 0;
}

/* A database removed under a running registry (with its folder, maybe)
 * is made again, empty, as at a first start, by the first handle that
 * finds it gone: images are built again as they are asked for. */
static int recreate(struct cache *c)
{
	char path[PATH_LEN + 16], why[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/cache.db", c->state_dir);
	if (!(c->flags & SQLITE_OPEN_CREATE) || stat(path, &st) == 0 || errno != ENOENT)
		return 0;
	if (mkdirs(c->state_dir, 0777, why, sizeof why) < 0 || setup(c->state_dir, why, sizeof why) != SQLITE_OK) {
		snprintf(c->err, sizeof c->err, "cannot make the build cache again: %.200s", why);
		return -EIO;
	}
	share_as_umask_allows(c->state_dir, c->umask_bits);
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
	rc = open_db(c->state_dir, c->flags, &c->db);
	for (i = 0; i < STMT_COUNT && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v3(c->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
					&c->stmt[i], NULL);
	if (rc != SQLITE_OK) {
		snprintf(c->err, sizeof c->err, "cannot open the build cache: %s",
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		close_db(c);
		return error_code(rc);
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
	int lock = lock_recovery(c->state_dir), rc;

	snprintf(why, sizeof why, "%s", c->err);
	if (!moved(c))
		move_aside(c->state_dir, why);
	close_db(c);
	rc = setup(c->state_dir, c->err, sizeof c->err);
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
static int fail(struct cache *c, int sqlite_rc)
{
	int rc = error_code(sqlite_rc);

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
	c->umask_bits = read_umask();
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
	return open_cache(state_dir, OPEN_WRITE, out, err, errlen);
}

int cache_open_existing(const char *state_dir, struct cache **out, char *err, size_t errlen)
{
	char path[PATH_LEN + 16];

	*out = NULL;
	snprintf(path, sizeof path, "%s/cache.db", state_dir);
	if (access(path, F_OK) < 0) {
		snprintf(err, errlen, "there is no build cache %s", path);
		return -ENOENT;
	}
	return open_cache(state_dir, OPEN_READ, out, err, errlen);
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
	char path[PATH_LEN + 16];

	if (!(c->flags & SQLITE_OPEN_CREATE) || sqlite3_db_readonly(c->db, "main") != 1)
		return 0;
	snprintf(path, sizeof path, "%s/cache.db", c->state_dir);
	return access(path, W_OK) == 0;
}

int cache_refresh(struct cache *c)
{
	return moved(c) || c->stale || writable_again(c) ? reopen(c) : 0;
}

/* Binds arguments by a small format: 's' text, 'i' int64, 'd' double.
 * NULL without a database (a failed recovery). */
static sqlite3_stmt *bind(struct cache *c, enum stmt_id id, const char *fmt, ...)
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
static int step_row(struct cache *c, sqlite3_stmt *st)
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
	return fail(c, rc);
}

static int step_done(struct cache *c, sqlite3_stmt *st)
{
	int rc = step_row(c, st);

	if (rc == 0) {
		/* A statement that returned a row it should not have. */
		sqlite3_reset(st);
		return -EIO;
	}
	return rc == -ENOENT ? 0 : rc;
}

static void copy_text(sqlite3_stmt *st, int col, char *out, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, len, "%s", t ? (const char *)t : "");
}

static int begin(struct cache *c)
{
	int rc;

	if (!c->db)
		return cache_refresh(c) < 0 ? -EIO : -EAGAIN;
	rc = exec(c->db, "BEGIN IMMEDIATE");
	return rc == SQLITE_OK ? 0 : fail(c, rc);
}

/* Commits when rc is 0, else rolls back; the first error is the one told. */
static int end(struct cache *c, int rc)
{
	int src;

	if (!c->db)
		return rc;
	if (rc == 0 && (src = exec(c->db, "COMMIT")) != SQLITE_OK)
		rc = fail(c, src);
	if (rc < 0 && c->db && sqlite3_get_autocommit(c->db) == 0)
		exec(c->db, "ROLLBACK");
	return rc;
}

int cache_request_lookup(struct cache *c, const char *request_key, const char *name, const char *tag,
			 struct cache_hit *hit)
{
	sqlite3_stmt *st = bind(c, REQUEST_LOOKUP, "sss", request_key, name, tag);
	int rc = step_row(c, st);

	if (rc == 0) {
		copy_text(st, 0, hit->image_key, sizeof hit->image_key);
		hit->evaluated = sqlite3_column_int64(st, 1);
		copy_text(st, 2, hit->img.docker_manifest, sizeof hit->img.docker_manifest);
		copy_text(st, 3, hit->img.oci_manifest, sizeof hit->img.oci_manifest);
		hit->img.used = sqlite3_column_int64(st, 4);
		hit->tagged = sqlite3_column_int(st, 5);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_request_put(struct cache *c, const char *request_key, const char *image_key,
		      int64_t evaluated)
{
	return step_done(c, bind(c, REQUEST_PUT, "ssi", request_key, image_key, evaluated));
}

int cache_request_claim(struct cache *c, const char *request_key, int64_t seen, int64_t now)
{
	int rc = step_done(c, bind(c, REQUEST_CLAIM, "sii", request_key, seen, now));

	if (rc < 0)
		return rc;
	return sqlite3_changes(c->db) == 1 ? 0 : -EBUSY;
}

int cache_image_get(struct cache *c, const char *image_key, struct cache_image *img)
{
	sqlite3_stmt *st = bind(c, IMAGE_GET, "s", image_key);
	int rc = step_row(c, st);

	if (rc == 0) {
		copy_text(st, 0, img->docker_manifest, sizeof img->docker_manifest);
		copy_text(st, 1, img->oci_manifest, sizeof img->oci_manifest);
		img->used = sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_image_used(struct cache *c, const char *image_key, int64_t now)
{
	return step_done(c, bind(c, IMAGE_USED, "si", image_key, now));
}

int cache_image_put(struct cache *c, const char *image_key, const struct cache_image *img,
		    const char *request_key, int64_t now)
{
	int rc = begin(c);

	if (rc < 0)
		return rc;
	if ((rc = step_done(c, bind(c, IMAGE_PUT, "sssi", image_key, img->docker_manifest,
				     img->oci_manifest, now))) == 0)
		rc = cache_request_put(c, request_key, image_key, now);
	return end(c, rc);
}

int cache_layer_get(struct cache *c, const char *layer_key, struct manifest_layer *layer)
{
	sqlite3_stmt *st = bind(c, LAYER_GET, "s", layer_key);
	int rc = step_row(c, st);

	if (rc == 0) {
		copy_text(st, 0, layer->digest, sizeof layer->digest);
		copy_text(st, 1, layer->diff_id, sizeof layer->diff_id);
		layer->size = (uint64_t)sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_layer_put(struct cache *c, const char *layer_key, const struct manifest_layer *layer)
{
	int rc = begin(c);

	if (rc < 0)
		return rc;
	if ((rc = cache_blob_put(c, layer->digest, layer->size, "application/octet-stream")) == 0)
		rc = step_done(c, bind(c, LAYER_PUT, "sssi", layer_key, layer->digest,
				       layer->diff_id, (int64_t)layer->size));
	return end(c, rc);
}

int cache_blob_get(struct cache *c, const char *digest, struct cache_blob *blob)
{
	sqlite3_stmt *st = bind(c, BLOB_GET, "s", digest);
	int rc = step_row(c, st);

	if (rc == 0) {
		blob->size = (uint64_t)sqlite3_column_int64(st, 0);
		copy_text(st, 1, blob->media_type, sizeof blob->media_type);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_blob_totals(struct cache *c, uint64_t *blobs, uint64_t *bytes)
{
	sqlite3_stmt *st = bind(c, BLOB_TOTALS, "");
	int rc = step_row(c, st);

	if (rc == 0) {
		*blobs = (uint64_t)sqlite3_column_int64(st, 0);
		*bytes = (uint64_t)sqlite3_column_int64(st, 1);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_blob_put(struct cache *c, const char *digest, uint64_t size, const char *media_type)
{
	return step_done(c, bind(c, BLOB_PUT, "sis", digest, (int64_t)size, media_type));
}

int cache_blob_forget(struct cache *c, const char *digest)
{
	int rc = begin(c);

	if (rc < 0)
		return rc;
	if ((rc = step_done(c, bind(c, LAYER_FORGET, "s", digest))) == 0)
		rc = step_done(c, bind(c, BLOB_FORGET, "s", digest));
	return end(c, rc);
}

int cache_build_begin(struct cache *c, const char *image_key, const char *packages,
		      const char *name, int64_t now_ms, int64_t *id)
{
	int rc = step_done(c, bind(c, BUILD_BEGIN, "ssis", image_key, packages, now_ms, name));

	*id = rc == 0 ? sqlite3_last_insert_rowid(c->db) : 0;
	return rc;
}

static const char *const build_status_name[] = {
	[BUILD_OK] = "ok", [BUILD_FAILED] = "failed", [BUILD_TIMEOUT] = "timeout", [BUILD_CANCELLED] = "cancelled",
};

int cache_build_end(struct cache *c, int64_t id, enum build_status status, const char *message,
		    double seconds, uint64_t packed, uint64_t size, int64_t now_ms)
{
	return step_done(c, bind(c, BUILD_END, "issdiii", id, build_status_name[status],
				 message ? message : "", seconds, (int64_t)packed, now_ms, (int64_t)size));
}

int cache_build_log(struct cache *c, int64_t id, const char *line)
{
	return step_done(c, bind(c, BUILD_LOG, "is", id, line));
}

int cache_last_evaluated(struct cache *c, int64_t *when)
{
	sqlite3_stmt *st = bind(c, LAST_EVALUATED, "");
	int rc = step_row(c, st);

	if (rc == 0) {
		*when = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_names_get(struct cache *c, const char *source, const char *prefix, char **json, int64_t *listed)
{
	sqlite3_stmt *st = bind(c, NAMES_GET, "ss", source, prefix);
	int rc = step_row(c, st);

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
	return step_done(c, bind(c, NAMES_PUT, "ssis", source, prefix, now, json));
}

int cache_build_failed_since(struct cache *c, const char *image_key, int64_t since_ms,
			     enum build_status *status, char *message, size_t len)
{
	sqlite3_stmt *st = bind(c, BUILD_LAST_FAILURE, "si", image_key, since_ms);
	int rc = step_row(c, st);

	if (rc == 0) {
		const unsigned char *s = sqlite3_column_text(st, 0);

		*status = s && strcmp((const char *)s, "timeout") == 0 ? BUILD_TIMEOUT : BUILD_FAILED;
		copy_text(st, 1, message, len);
		sqlite3_reset(st);
	}
	return rc;
}

int cache_tag_put(struct cache *c, const char *name, const char *tag, const char *image_key,
		  int64_t now)
{
	return step_done(c, bind(c, TAG_PUT, "sssi", name, tag, image_key, now));
}

/* Steps a query of one text column into a vector of copies. */
static int texts(struct cache *c, sqlite3_stmt *st, char ***out, size_t *n)
{
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	while ((rc = step_row(c, st)) == 0) {
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

int cache_tags(struct cache *c, const char *name, const char *after, int max, char ***tags, size_t *n)
{
	return texts(c, bind(c, TAG_LIST, "ssi", name, after, (int64_t)max), tags, n);
}

int cache_names(struct cache *c, const char *after, int max, char ***names, size_t *n)
{
	return texts(c, bind(c, NAME_LIST, "si", after, (int64_t)max), names, n);
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
		return fail(c, src);
	sqlite3_bind_text(st, 1, image_key, -1, SQLITE_STATIC);
	rc = texts(c, st, refs, n);
	sqlite3_finalize(st);
	return rc;
}

/* A query run once, row by row: for the operators' tools, which walk the
 * whole cache (the workers' statements are prepared once per thread). */
static int each_row(struct cache *c, const char *sql, const char *fmt, int64_t arg,
		    int (*fn)(sqlite3_stmt *st, void *ctx), void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	if (!c->db)
		return -EIO;
	if ((src = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL)) != SQLITE_OK)
		return fail(c, src);
	if (fmt[0] == 'i')
		sqlite3_bind_int64(st, 1, arg);
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = fn(st, ctx)) != 0)
			goto out;
	rc = src == SQLITE_DONE ? 0 : fail(c, src);
out:
	sqlite3_finalize(st);
	return rc;
}

struct image_walk {
	cache_image_fn fn;
	void *ctx;
};

static int image_row(sqlite3_stmt *st, void *ctx)
{
	struct image_walk *w = ctx;
	struct cache_image img;
	char key[CACHE_KEY_LEN + 1];

	copy_text(st, 0, key, sizeof key);
	copy_text(st, 1, img.docker_manifest, sizeof img.docker_manifest);
	copy_text(st, 2, img.oci_manifest, sizeof img.oci_manifest);
	img.used = sqlite3_column_int64(st, 3);
	return w->fn(w->ctx, key, &img, sqlite3_column_int64(st, 4));
}

int cache_each_image(struct cache *c, cache_image_fn fn, void *ctx)
{
	struct image_walk w = { fn, ctx };

	return each_row(c, "SELECT image_key, docker_manifest, oci_manifest, used, created FROM images ORDER BY used DESC",
			"", 0, image_row, &w);
}

struct blob_walk {
	cache_blob_fn fn;
	void *ctx;
};

static int blob_row(sqlite3_stmt *st, void *ctx)
{
	struct blob_walk *w = ctx;
	struct cache_blob blob;
	char digest[DIGEST_HEX_LEN + 1];

	copy_text(st, 0, digest, sizeof digest);
	blob.size = (uint64_t)sqlite3_column_int64(st, 1);
	copy_text(st, 2, blob.media_type, sizeof blob.media_type);
	return w->fn(w->ctx, digest, &blob);
}

int cache_each_blob(struct cache *c, cache_blob_fn fn, void *ctx)
{
	struct blob_walk w = { fn, ctx };

	return each_row(c, "SELECT digest, size, media_type FROM blobs", "", 0, blob_row, &w);
}

struct build_walk {
	cache_build_fn fn;
	void *ctx;
};

static int build_row(sqlite3_stmt *st, void *ctx)
{
	struct build_walk *w = ctx;
	struct cache_build b = { 0 };

	b.id = sqlite3_column_int64(st, 0);
	copy_text(st, 1, b.image_key, sizeof b.image_key);
	copy_text(st, 2, b.packages, sizeof b.packages);
	b.started = sqlite3_column_int64(st, 3);
	b.seconds = sqlite3_column_double(st, 4);
	b.packed = (uint64_t)sqlite3_column_int64(st, 5);
	copy_text(st, 6, b.status, sizeof b.status);
	copy_text(st, 7, b.message, sizeof b.message);
	copy_text(st, 8, b.name, sizeof b.name);
	b.size = (uint64_t)sqlite3_column_int64(st, 9);
	copy_text(st, 10, b.log, sizeof b.log);
	return w->fn(w->ctx, &b);
}

int cache_each_build(struct cache *c, int running, int64_t limit, cache_build_fn fn, void *ctx)
{
	struct build_walk w = { fn, ctx };

	return each_row(c, running ?
			"SELECT id, image_key, packages, started, seconds, packed, status, message, name, size, log FROM builds WHERE status = 'running' ORDER BY id DESC LIMIT ?1" :
			"SELECT id, image_key, packages, started, seconds, packed, status, message, name, size, log FROM builds WHERE status != 'running' ORDER BY id DESC LIMIT ?1",
			"i", limit, build_row, &w);
}

int cache_image_forget(struct cache *c, const char *image_key)
{
	static const char *const sql[] = {
		"DELETE FROM tags WHERE image_key = ?1",
		"DELETE FROM requests WHERE image_key = ?1",
		"DELETE FROM images WHERE image_key = ?1",
	};
	size_t i;
	int rc = begin(c), src;

	for (i = 0; rc == 0 && i < sizeof sql / sizeof *sql; i++) {
		sqlite3_stmt *st = NULL;

		if ((src = sqlite3_prepare_v2(c->db, sql[i], -1, &st, NULL)) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, image_key, -1, SQLITE_STATIC);
			src = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		if (src != SQLITE_DONE)
			rc = fail(c, src);
	}
	return end(c, rc);
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
		return fail(c, src);
	*removed = sqlite3_changes(c->db);
	return 0;
}
