/* The build cache's database file, $NIXERY_STATE_DIR/cache.db: set up in
 * WAL mode with the current schema (sql/schema.sql, and the steps from
 * each older version), moved aside when it is damaged, and shared with the
 * workers of the group as the umask allows; and what SQLite's result codes
 * mean to the cache's callers. */
#include "sql/cache_db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "sql/schema.h"

#define SCHEMA_VERSION 7
#define NIXERY_XSTR(x) #x
#define NIXERY_STR(x) NIXERY_XSTR(x)
#define BUSY_TIMEOUT_MS 10000

int cache_db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

int cache_db_error_code(int sqlite_rc)
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

/* Creates the schema once, under a write lock, so workers starting
 * together do not race; upgrades an older one in the same transaction. */
static int migrate(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int version = -1, rc;

	if ((rc = cache_db_exec(db, "BEGIN IMMEDIATE")) != SQLITE_OK)
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
		rc = cache_db_exec(db, "ALTER TABLE builds ADD COLUMN finished_ms INTEGER");
	if (rc == SQLITE_OK && version >= 1 && version <= 3)
		rc = cache_db_exec(db, "ALTER TABLE images ADD COLUMN used INTEGER NOT NULL DEFAULT 0;"
				   "UPDATE images SET used = created");
	/* Version 5: what the landing page shows of each build. */
	if (rc == SQLITE_OK && version >= 1 && version <= 4)
		rc = cache_db_exec(db, "ALTER TABLE builds ADD COLUMN name TEXT;"
				   "ALTER TABLE builds ADD COLUMN size INTEGER;"
				   "ALTER TABLE builds ADD COLUMN log TEXT");
	/* Version 6: image indexes, and the platforms of images and builds. */
	if (rc == SQLITE_OK && version >= 1 && version <= 5)
		rc = cache_db_exec(db, "ALTER TABLE images ADD COLUMN is_index INTEGER NOT NULL DEFAULT 0;"
				   "ALTER TABLE images ADD COLUMN platforms TEXT NOT NULL DEFAULT '';"
				   "ALTER TABLE builds ADD COLUMN platforms TEXT");
	/* Version 7: who asked for each build. */
	if (rc == SQLITE_OK && version >= 1 && version <= 6)
		rc = cache_db_exec(db, "ALTER TABLE builds ADD COLUMN requester TEXT");
	if (rc == SQLITE_OK && version < SCHEMA_VERSION)
		rc = cache_db_exec(db, cache_schema_sql);
	if (rc == SQLITE_OK && version < SCHEMA_VERSION)
		rc = cache_db_exec(db, "PRAGMA user_version = " NIXERY_STR(SCHEMA_VERSION));
	if (rc == SQLITE_OK)
		rc = cache_db_exec(db, "COMMIT");
	if (rc != SQLITE_OK)
		cache_db_exec(db, "ROLLBACK");
	return rc;
}

int cache_db_open(const char *state_dir, int flags, sqlite3 **db)
{
	char path[CACHE_DB_PATH_LEN];
	int rc;

	snprintf(path, sizeof path, "%s/cache.db", state_dir);
	rc = sqlite3_open_v2(path, db, flags, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
		/* NORMAL keeps every commit atomic and consistent in WAL
		 * mode, losing at most the last one on power loss. */
		rc = cache_db_exec(*db, "PRAGMA synchronous = NORMAL");
	}
	if (rc == SQLITE_OK && !(flags & SQLITE_OPEN_CREATE))
		rc = cache_db_exec(*db, "PRAGMA query_only = 1");
	return rc;
}

/* Moves a damaged database aside with its WAL and shared memory, the
 * WAL first: a new database must never pick up the old one's log. */
void cache_db_move_aside(const char *state_dir, const char *why)
{
	static const char *const suffixes[] = { "-wal", "-shm", "" };
	char from[CACHE_DB_PATH_LEN], to[CACHE_DB_PATH_LEN], stamp[64];
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
int cache_db_lock_recovery(const char *state_dir)
{
	char path[CACHE_DB_PATH_LEN];
	int fd;

	snprintf(path, sizeof path, "%s/cache.recover.lock", state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	while (fd >= 0 && flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	return fd;
}

/* Opens the database in WAL mode with the current schema. */
int cache_db_setup(const char *state_dir, char *why, size_t len)
{
	sqlite3 *db = NULL;
	int attempt, rc = cache_db_open(state_dir, CACHE_DB_OPEN_WRITE, &db);

	/* Switching to WAL needs the database to itself and does not wait for
	 * the busy timeout: worker processes starting together take turns. */
	for (attempt = 0; rc == SQLITE_OK; attempt++) {
		if ((rc = cache_db_exec(db, "PRAGMA journal_mode = WAL")) == SQLITE_OK &&
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
 * the workers of another user what they need. */
mode_t cache_db_read_umask(void)
{
	/* Read without setting it where Linux tells it (4.7 on): umask()
	 * would widen every thread's for a moment. */
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	unsigned mask;
	mode_t old;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Umask: %o", &mask) == 1) {
			fclose(f);
			return (mode_t)mask;
		}
	if (f)
		fclose(f);
	old = umask(0);
	umask(old);
	return old;
}

void cache_db_share_as_umask_allows(const char *state_dir, mode_t mask)
{
	char path[CACHE_DB_PATH_LEN];
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
	int rc = cache_db_setup(state_dir, why, sizeof why), lock;

	if (cache_db_error_code(rc) == -EAGAIN) {
		if ((lock = cache_db_lock_recovery(state_dir)) >= 0) {
			/* Another process may have done it meanwhile. */
			if (cache_db_error_code(cache_db_setup(state_dir, why, sizeof why)) == -EAGAIN)
				cache_db_move_aside(state_dir, why);
			close(lock);
		}
		rc = cache_db_setup(state_dir, why, sizeof why);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up the build cache %s/cache.db: %s", state_dir, why);
		return cache_db_error_code(rc);
	}
	cache_db_share_as_umask_allows(state_dir, cache_db_read_umask());
	return 0;
}
