/* What the pieces of the build cache share; only sql/ sees this. The
 * public face is sql/cache.h; each file of sql/ owns one concern:
 *   cache.c         the handle: its statements, opened again when the
 *                   database moved, was removed, or could not be written,
 *                   or replaced when a call found it damaged
 *   cache_file.c    the database file: set up in WAL mode with the current
 *                   schema, moved aside when damaged, shared with the group;
 *                   SQLite's result codes as the cache's
 *   cache_stmt.c    how a call runs SQL: bindings, rows, transactions, and
 *                   the operators' walks
 *   cache_images.c  the requests and images tables
 *   cache_tags.c    the tags table
 *   cache_blobs.c   the blobs and layers tables
 *   cache_builds.c  the builds table
 *   cache_names.c   the names table: a package set's names, for search */
#ifndef NIXERY_CACHE_DB_H
#define NIXERY_CACHE_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "sql/cache.h"

#define CACHE_DB_PATH_LEN 4096

/* The statements each handle prepares once; their text is in cache.c. */
enum cache_db_stmt {
	REQUEST_LOOKUP, REQUEST_PUT, REQUEST_CLAIM, IMAGE_GET, IMAGE_PUT, IMAGE_USED, LAYER_GET, LAYER_PUT,
	BLOB_GET, BLOB_PUT, BLOB_FORGET, LAYER_FORGET, BUILD_BEGIN, BUILD_LEFT_OUT, BUILD_END,
	BUILD_LAST_FAILURE, BUILD_LOG, TAG_PUT, TAG_LIST, NAME_LIST, BLOB_TOTALS,
	NAMES_GET, NAMES_PUT, LAST_EVALUATED, STMT_COUNT
};

struct cache {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_COUNT];
	char state_dir[CACHE_DB_PATH_LEN];
	int flags;                /* how the database is opened */
	mode_t umask_bits;        /* the process's umask */
	int stale;                /* a write found the handle read-only: open it again */
	char err[512];
};

#define CACHE_DB_OPEN_WRITE (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)
/* A cache opened as it is, to read, never writes (query_only); it is
 * opened for writing all the same, so that the last handle to close it
 * removes the WAL and shared memory it made, as it would if it wrote:
 * a handle opened read-only leaves them behind. */
#define CACHE_DB_OPEN_READ (SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX)

/* The database file (cache_file.c); these return SQLite's codes, which
 * cache_db_error_code turns into the cache's (sql/cache.h). */
int cache_db_exec(sqlite3 *db, const char *sql);
int cache_db_error_code(int sqlite_rc);
int cache_db_open(const char *state_dir, int flags, sqlite3 **db);
int cache_db_setup(const char *state_dir, char *why, size_t len);
void cache_db_move_aside(const char *state_dir, const char *why);
int cache_db_lock_recovery(const char *state_dir);
mode_t cache_db_read_umask(void);
void cache_db_share_as_umask_allows(const char *state_dir, mode_t mask);

/* A failed call: its message kept for cache_error, a damaged database
 * replaced (cache.c); the cache's result. */
int cache_db_fail(struct cache *c, int sqlite_rc);

/* Running SQL (cache_stmt.c), with the cache's results. */
sqlite3_stmt *cache_db_bind(struct cache *c, enum cache_db_stmt id, const char *fmt, ...);
int cache_db_step_row(struct cache *c, sqlite3_stmt *st);
/* A query of at most one row, which read takes into out before the
 * statement is reset: read's result, or -ENOENT without a row. */
int cache_db_read_row(struct cache *c, sqlite3_stmt *st, int (*read)(sqlite3_stmt *st, void *out), void *out);
int cache_db_step_done(struct cache *c, sqlite3_stmt *st);
void cache_db_copy_text(sqlite3_stmt *st, int col, char *out, size_t len);
int cache_db_begin(struct cache *c);
int cache_db_end(struct cache *c, int rc);
int cache_db_texts(struct cache *c, sqlite3_stmt *st, char ***out, size_t *n);

/* A walk's caller, as cache.h names it: each row goes to one of its
 * functions, with its context. */
struct cache_db_walk {
	union {
		cache_image_fn image;
		cache_blob_fn blob;
		cache_build_fn build;
	} fn;
	void *ctx;
};
int cache_db_each_row(struct cache *c, const char *sql, const char *fmt, int64_t arg,
		      int (*row)(sqlite3_stmt *st, const struct cache_db_walk *w), const struct cache_db_walk *w);

#endif
