/* The filesystem backend: STORAGE_PATH/blobs/sha256/<hex>, which the web
 * server sends. Every blob carries its commit's time (BLOB_MTIME): one
 * whose time changed is hashed again before it is trusted. How a blob is
 * written: filesystem_writer.c. */
#define _GNU_SOURCE   /* O_TMPFILE */
#include "storage/filesystem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mkdirs.h"

/* Every blob's modification time, set as it is committed. A write to the
 * file afterwards (a disk's repair, a hand, a restore that does not keep
 * times) makes it the time of that write, which says that the bytes must
 * be hashed again before they are trusted. One second past the epoch, as
 * in the Nix store; the web servers' ETag and Last-Modified come from it. */
#define BLOB_MTIME 1
/* What a blob is read by when it is hashed. */
#define HASH_CHUNK (256 * 1024)

static const struct storage_ops filesystem_ops;

/* Named temporary files are locked by their writers: one that can be
 * locked was left by a writer that died. */
static void remove_abandoned(const struct filesystem *s)
{
	char tmp[FILESYSTEM_PATH_LEN], path[FILESYSTEM_PATH_LEN + 256];
	struct dirent *e;
	DIR *d;

	snprintf(tmp, sizeof tmp, "%s/tmp", s->root);
	d = opendir(tmp);
	if (!d)
		return;
	while ((e = readdir(d))) {
		int fd;

		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) == 0)
			log_info("removed %s, left by a worker that stopped while writing it", path);
		close(fd);
	}
	closedir(d);
}

/* The folders under STORAGE_PATH. empty/ is the document root the server
 * configurations give the web server, so that it serves nothing but
 * blobs. Made at the start, and again whenever one has gone: a folder
 * removed under a running registry comes back with the next write. */
int filesystem_make_folders(const char *root, char *err, size_t errlen)
{
	const char *subdirs[] = { "/blobs/sha256", "/empty", "/tmp" };
	char path[FILESYSTEM_PATH_LEN];
	size_t i;
	int rc;

	for (i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		snprintf(path, sizeof path, "%s%s", root, subdirs[i]);
		if ((rc = mkdirs(path, 0777, err, errlen)) < 0)
			return rc;
	}
	return 0;
}

/* The backend on root, as it is. */
static int fs_new(const char *root, struct storage **out, char *err, size_t errlen)
{
	struct filesystem *s = calloc(1, sizeof *s);
	char path[FILESYSTEM_PATH_LEN];
	mode_t mask;
	int fd;

	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((size_t)snprintf(s->root, sizeof s->root, "%s", root) >= sizeof s->root) {
		snprintf(err, errlen, "STORAGE_PATH is too long");
		free(s);
		return -ENAMETOOLONG;
	}
	/* The umask says who may write (a group shared by the workers of two
	 * web servers, say); the web server, another user, must read. Read
	 * once, before any thread: umask() cannot be read without setting. */
	mask = umask(0);
	umask(mask);
	s->blob_mode = (0666 & ~mask) | 0444;
	snprintf(path, sizeof path, "%s/tmp", root);
	fd = open(path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (fd >= 0)
		close(fd);
	else
		s->named_temps = 1;
	s->base.ops = &filesystem_ops;
	*out = &s->base;
	return 0;
}

int filesystem_open(const char *root, struct storage **out, char *err, size_t errlen)
{
	int rc;

	*out = NULL;
	if ((rc = filesystem_make_folders(root, err, errlen)) < 0)
		return rc;
	if ((rc = fs_new(root, out, err, errlen)) == 0)
		remove_abandoned((const struct filesystem *)*out);
	return rc;
}

int filesystem_open_existing(const char *root, struct storage **out, char *err, size_t errlen)
{
	return fs_new(root, out, err, errlen);
}

static void fs_close(struct storage *s)
{
	free(s);
}

int filesystem_path(const struct filesystem *s, const char *hex, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s/blobs/sha256/%s", s->root, hex) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int filesystem_stamped(const struct stat *st)
{
	return st->st_mtim.tv_sec == BLOB_MTIME && st->st_mtim.tv_nsec == 0;
}

int filesystem_stamp(int fd)
{
	const struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = BLOB_MTIME } };

	return futimens(fd, times) < 0 ? -errno : 0;
}

/* Hashes the open blob file whole: 0 when its bytes are blob hex. Each
 * chunk read is told to pace, if any. */
static int hash_file(int fd, const char *hex, storage_pace_fn pace, void *ctx)
{
	struct digest_ctx *d = digest_new();
	char got[DIGEST_HEX_LEN + 1], *chunk = malloc(HASH_CHUNK);
	ssize_t n;
	int rc = 0;

	if (!d || !chunk) {
		rc = -ENOMEM;
		goto out;
	}
	while ((n = read(fd, chunk, HASH_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -EIO;
			goto out;
		}
		digest_update(d, chunk, (size_t)n);
		if (pace)
			pace(ctx, (uint64_t)n);
	}
	digest_final(d, got);
	rc = strcmp(got, hex) == 0 ? 0 : -EIO;
out:
	digest_free(d);
	free(chunk);
	return rc;
}

/* A blob whose file changed since it was committed is hashed again: the
 * same bytes are stamped anew; other bytes, or bytes that cannot be
 * stamped (another user's file), are damaged, and packed again. */
static int rehash(const char *path, const char *hex)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	rc = hash_file(fd, hex, NULL, NULL);
	if (rc == 0 && filesystem_stamp(fd) < 0)
		rc = -EIO;
	close(fd);
	return rc == -ENOMEM ? rc : rc < 0 ? -EIO : 0;
}

int filesystem_check(const struct filesystem *s, const char *hex, uint64_t size)
{
	char path[FILESYSTEM_PATH_LEN];
	struct stat st;

	filesystem_path(s, hex, path, sizeof path);
	if (stat(path, &st) < 0)
		return -ENOENT;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return -EIO;
	return filesystem_stamped(&st) ? 0 : rehash(path, hex);
}

static int verify(const struct filesystem *s, const char *hex, storage_pace_fn pace, void *ctx)
{
	char path[FILESYSTEM_PATH_LEN];
	int fd, rc;

	filesystem_path(s, hex, path, sizeof path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	rc = hash_file(fd, hex, pace, ctx);
	close(fd);
	return rc;
}

int filesystem_read_blob(const struct filesystem *s, const char *hex, size_t max, struct buf *out)
{
	char path[FILESYSTEM_PATH_LEN], chunk[8192], got[DIGEST_HEX_LEN + 1];
	struct stat st;
	ssize_t n = 0;
	int fd, rc = 0;

	filesystem_path(s, hex, path, sizeof path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	out->len = 0;
	while (rc == 0 && (n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (out->len + (size_t)n > max)
			rc = -EFBIG;
		else if (buf_append(out, chunk, (size_t)n) < 0)
			rc = -ENOMEM;
	}
	/* An empty file still reads as text. */
	if (rc == 0 && !out->data && buf_append(out, "", 0) < 0)
		rc = -ENOMEM;
	if (rc == 0 && (rc = digest_hex(out->data, out->len, got)) == 0)
		rc = strcmp(got, hex) == 0 ? 0 : -EIO;
	/* Checked whole: the web server may trust its time again. */
	if (rc == 0 && !filesystem_stamped(&st))
		filesystem_stamp(fd);
out:
	close(fd);
	return rc;
}

static int each(const struct filesystem *s, storage_blob_fn fn, void *ctx)
{
	char dir[FILESYSTEM_PATH_LEN], path[FILESYSTEM_PATH_LEN + 256];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = 0;

	snprintf(dir, sizeof dir, "%s/blobs/sha256", s->root);
	/* Not made yet (a storage opened as it is): no blobs. */
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : -errno;
	while (rc == 0 && (e = readdir(d))) {
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (digest_is_hex(e->d_name) && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = fn(ctx, e->d_name, (uint64_t)st.st_size);
	}
	closedir(d);
	return rc;
}

static int remove_blob(const struct filesystem *s, const char *hex)
{
	char path[FILESYSTEM_PATH_LEN];

	filesystem_path(s, hex, path, sizeof path);
	return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

/* The operations, on the generic types. */
#define FS(s) ((const struct filesystem *)(s))

static int op_locate(const struct storage *s, const char *hex, struct storage_location *loc,
		     char *err, size_t errlen)
{
	loc->redirect = 0;
	if (filesystem_path(FS(s), hex, loc->target, sizeof loc->target) < 0) {
		snprintf(err, errlen, "STORAGE_PATH is too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

static int op_check(const struct storage *s, const char *hex, uint64_t size)
{
	return filesystem_check(FS(s), hex, size);
}

static int op_verify(const struct storage *s, const char *hex, storage_pace_fn pace, void *ctx)
{
	return verify(FS(s), hex, pace, ctx);
}

static int op_read(const struct storage *s, const char *hex, size_t max, struct buf *out)
{
	return filesystem_read_blob(FS(s), hex, max, out);
}

static int op_each(const struct storage *s, storage_blob_fn fn, void *ctx)
{
	return each(FS(s), fn, ctx);
}

static int op_remove(const struct storage *s, const char *hex)
{
	return remove_blob(FS(s), hex);
}

static const char *op_local_root(const struct storage *s)
{
	return FS(s)->root;
}

static const struct storage_ops filesystem_ops = {
	.close = fs_close,
	.locate = op_locate,
	.check = op_check,
	.verify = op_verify,
	.read = op_read,
	.begin = filesystem_begin,
	.put = filesystem_put,
	.each = op_each,
	.remove = op_remove,
	.local_root = op_local_root,
};
