/* Blobs written to the filesystem backend: into a file under
 * STORAGE_PATH/tmp/ (with no name, where the file system allows, else a
 * name locked for as long as its writer lives), stamped, synced and
 * renamed into place, so that a blob is whole under its name or absent. */
#define _GNU_SOURCE   /* O_TMPFILE, mkostemp */
#include "storage/filesystem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct storage_ops writer_ops;

struct fs_writer {
	struct storage_writer base;
	const struct filesystem *s;
	int fd;
	int anonymous;                   /* O_TMPFILE: no name until committed */
	char path[FILESYSTEM_PATH_LEN];  /* the named temporary file, if any */
};

/* The error a user can act on, for a failed write. */
static int write_error(int rc, const char *what, const char *root, char *err, size_t errlen)
{
	if (rc == -ENOSPC || rc == -EDQUOT)
		snprintf(err, errlen, "storage is full: cannot write %s under STORAGE_PATH %s (%s): free space there",
			 what, root, strerror(-rc));
	else
		snprintf(err, errlen, "cannot write %s under STORAGE_PATH %s: %s", what, root, strerror(-rc));
	return rc == -EDQUOT ? -ENOSPC : rc;
}

/* A named temporary file, locked for as long as its writer lives. */
static int open_named(struct fs_writer *w)
{
	struct stat st;

	for (;;) {
		snprintf(w->path, sizeof w->path, "%s/tmp/blob-XXXXXX", w->s->root);
		if ((w->fd = mkostemp(w->path, O_CLOEXEC)) < 0)
			return -errno;
		if (flock(w->fd, LOCK_EX) < 0) {
			close(w->fd);
			return -errno;
		}
		/* A sweep may have taken it between creation and lock. */
		if (fstat(w->fd, &st) == 0 && st.st_nlink > 0)
			return 0;
		close(w->fd);
	}
}

static int begin(const struct filesystem *s, struct fs_writer **out, char *err, size_t errlen)
{
	struct fs_writer *w = calloc(1, sizeof *w);
	char tmp[FILESYSTEM_PATH_LEN];
	int rc = 0, attempt;

	*out = NULL;
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->s = s;
	snprintf(tmp, sizeof tmp, "%s/tmp", s->root);
	for (attempt = 0; attempt < 2; attempt++) {
		/* Locked as named ones are: between its link and its rename,
		 * an O_TMPFILE file has a name too. */
		if (!s->named_temps && (w->fd = open(tmp, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666)) >= 0) {
			w->anonymous = 1;
			flock(w->fd, LOCK_EX);
			rc = 0;
		} else {
			rc = open_named(w);
		}
		if (rc != -ENOENT || attempt > 0 || filesystem_make_folders(s->root, err, errlen) < 0)
			break;
	}
	if (rc < 0) {
		free(w);
		return write_error(rc, "a blob", s->root, err, errlen);
	}
	fchmod(w->fd, s->blob_mode);
	w->base.ops = &writer_ops;
	*out = w;
	return 0;
}

static int write_blob(struct fs_writer *w, const void *data, size_t len, char *err, size_t errlen)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return write_error(-errno, "a blob", w->s->root, err, errlen);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void discard(struct fs_writer *w)
{
	if (!w)
		return;
	if (!w->anonymous && w->path[0])
		unlink(w->path);
	close(w->fd);
	free(w);
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Gives an O_TMPFILE file a temporary name, to be renamed into place. */
static int name_anonymous(struct fs_writer *w)
{
	char proc[64];
	int attempt;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
	for (attempt = 0; attempt < 100; attempt++) {
		snprintf(w->path, sizeof w->path, "%s/tmp/commit-%ld-%d", w->s->root,
			 (long)getpid(), rand());
		if (linkat(AT_FDCWD, proc, AT_FDCWD, w->path, AT_SYMLINK_FOLLOW) == 0) {
			w->anonymous = 0;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Names the written file final: an O_TMPFILE file is linked under tmp/
 * first. A folder removed meanwhile is made again, once: blobs/, or
 * tmp/ before an O_TMPFILE file was linked into it (a named file went
 * with its folder: that write fails, the next one succeeds). */
static int place(struct fs_writer *w, const char *final, char *err, size_t errlen)
{
	int attempt, named = 0, rc = 0;

	for (attempt = 0; attempt < 2; attempt++) {
		rc = w->anonymous ? name_anonymous(w) : 0;
		named = rc == 0;
		if (named && rename(w->path, final) < 0)
			rc = -errno;
		if (rc != -ENOENT || attempt > 0 || filesystem_make_folders(w->s->root, err, errlen) < 0)
			break;
	}
	if (rc < 0 && named)
		snprintf(err, errlen, "cannot store a blob as %s: %s", final, strerror(-rc));
	else if (rc < 0)
		write_error(rc, "a blob", w->s->root, err, errlen);
	return rc;
}

/* keep: a copy already there whole stays as it is; one that is not is
 * replaced. */
static int commit(struct fs_writer *w, const char *hex, int keep, char *err, size_t errlen)
{
	char final[FILESYSTEM_PATH_LEN], dir[FILESYSTEM_PATH_LEN];
	struct stat st;
	int rc = 0;

	if ((rc = filesystem_stamp(w->fd)) < 0 || fsync(w->fd) < 0 || fstat(w->fd, &st) < 0) {
		rc = write_error(rc < 0 ? rc : -errno, "a blob", w->s->root, err, errlen);
		goto out;
	}
	if (keep && filesystem_check(w->s, hex, (uint64_t)st.st_size) == 0)
		goto out;
	filesystem_path(w->s, hex, final, sizeof final);
	if ((rc = place(w, final, err, errlen)) < 0)
		goto out;
	w->path[0] = '\0';
	snprintf(dir, sizeof dir, "%s/blobs/sha256", w->s->root);
	if ((rc = sync_dir(dir)) < 0)
		snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(-rc));
out:
	discard(w);
	return rc;
}

/* Whether blob hex is there whole: a small blob is checked against its
 * digest, so that a damaged copy of the same size is replaced too. */
static int holds(const struct filesystem *s, const char *hex, size_t len)
{
	struct buf have = { 0 };
	int whole = filesystem_read_blob(s, hex, len, &have) == 0;

	buf_free(&have);
	return whole;
}

static int put(const struct filesystem *s, const void *data, size_t len, const char *hex,
	       char *err, size_t errlen)
{
	struct fs_writer *w;
	int rc;

	if (holds(s, hex, len))
		return 0;
	if ((rc = begin(s, &w, err, errlen)) < 0)
		return rc;
	if ((rc = write_blob(w, data, len, err, errlen)) < 0) {
		discard(w);
		return rc;
	}
	return commit(w, hex, 0, err, errlen);
}

/* The operations, on the generic types. */
#define FS(s) ((const struct filesystem *)(s))
#define WRITER(w) ((struct fs_writer *)(w))

int filesystem_begin(const struct storage *s, struct storage_writer **out, char *err, size_t errlen)
{
	struct fs_writer *w;
	int rc = begin(FS(s), &w, err, errlen);

	*out = rc == 0 ? &w->base : NULL;
	return rc;
}

static int op_write(struct storage_writer *w, const void *data, size_t len, char *err, size_t errlen)
{
	return write_blob(WRITER(w), data, len, err, errlen);
}

static int op_commit(struct storage_writer *w, const char *hex, char *err, size_t errlen)
{
	return commit(WRITER(w), hex, 1, err, errlen);
}

static void op_discard(struct storage_writer *w)
{
	discard(WRITER(w));
}

int filesystem_put(const struct storage *s, const void *data, size_t len, const char *hex,
		  char *err, size_t errlen)
{
	return put(FS(s), data, len, hex, err, errlen);
}

/* A writer's own operations: the storage's are the backend's (filesystem.c). */
static const struct storage_ops writer_ops = {
	.write = op_write,
	.commit = op_commit,
	.discard = op_discard,
};
