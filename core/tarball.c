#include "core/tarball.h"
#include "core/dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#define CHUNK 65536

struct tarball {
	struct archive *a;
	z_stream z;
	struct digest_ctx *diff;    /* over the tar stream */
	struct digest_ctx *gz;      /* over the gzip stream */
	int fd;
	uint64_t size;
	char err[512];
	unsigned char out[CHUNK];
	unsigned char in[CHUNK];
};

static int fail(struct tarball *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct tarball *t, const char *fmt, ...)
{
	va_list ap;

	if (!t->err[0]) {
		va_start(ap, fmt);
		vsnprintf(t->err, sizeof t->err, fmt, ap);
		va_end(ap);
	}
	return -EIO;
}

const char *tarball_error(const struct tarball *t)
{
	return t->err[0] ? t->err : "unknown error";
}

static int emit(struct tarball *t, size_t len)
{
	const unsigned char *p = t->out;

	digest_update(t->gz, p, len);
	t->size += len;
	while (len > 0) {
		ssize_t n = write(t->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(t, "cannot write layer: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Runs deflate until it has consumed its input (or finished, with flush
 * Z_FINISH), emitting every full output buffer. */
static int deflate_all(struct tarball *t, int flush)
{
	int zrc;

	do {
		t->z.next_out = t->out;
		t->z.avail_out = CHUNK;
		zrc = deflate(&t->z, flush);
		if (zrc == Z_STREAM_ERROR)
			return fail(t, "gzip stream error");
		if (emit(t, CHUNK - t->z.avail_out) < 0)
			return -EIO;
	} while (t->z.avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
	return 0;
}

static la_ssize_t on_tar_bytes(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct tarball *t = ctx;

	(void)a;
	digest_update(t->diff, buf, len);
	t->z.next_in = (unsigned char *)buf;
	t->z.avail_in = (uInt)len;
	if (deflate_all(t, Z_NO_FLUSH) < 0)
		return -1;
	return (la_ssize_t)len;
}

int tarball_open(struct tarball **out, int fd, char *err, size_t errlen)
{
	struct tarball *t = calloc(1, sizeof *t);

	*out = NULL;
	if (!t)
		goto nomem;
	t->fd = fd;
	t->diff = digest_new();
	t->gz = digest_new();
	t->a = archive_write_new();
	if (!t->diff || !t->gz || !t->a)
		goto nomem;
	/* Level 6 as gzip and Nixery; zlib's gzip header has mtime 0. */
	if (deflateInit2(&t->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		goto nomem;
	if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(t->a, 1) != ARCHIVE_OK ||
	    archive_write_open(t->a, t, NULL, on_tar_bytes, NULL) != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot start tar stream: %s", archive_error_string(t->a));
		tarball_abort(t);
		return -EIO;
	}
	*out = t;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory starting a layer");
	tarball_abort(t);
	return -ENOMEM;
}

static int write_header_owned(struct tarball *t, const char *name, mode_t type, mode_t mode,
			      int64_t size, const char *target, unsigned uid, unsigned gid)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (!e)
		return fail(t, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode & 07777);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, TARBALL_MTIME, 0);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	if (target)
		archive_entry_set_symlink(e, target);
	if (archive_write_header(t->a, e) != ARCHIVE_OK)
		rc = fail(t, "cannot add %s: %s", name, archive_error_string(t->a));
	archive_entry_free(e);
	return rc;
}

static int write_header(struct tarball *t, const char *name, mode_t type, mode_t mode,
			int64_t size, const char *target)
{
	return write_header_owned(t, name, type, mode, size, target, 0, 0);
}

int tarball_add_dir(struct tarball *t, const char *name, mode_t mode)
{
	return write_header(t, name, AE_IFDIR, mode, 0, NULL);
}

int tarball_add_dir_owned(struct tarball *t, const char *name, mode_t mode,
			  unsigned uid, unsigned gid)
{
	return write_header_owned(t, name, AE_IFDIR, mode, 0, NULL, uid, gid);
}

int tarball_add_symlink(struct tarball *t, const char *name, const char *target)
{
	return write_header(t, name, AE_IFLNK, 0777, 0, target);
}

static int write_data(struct tarball *t, const char *name, const void *data, size_t len)
{
	if (len > 0 && archive_write_data(t->a, data, len) != (la_ssize_t)len)
		return fail(t, "cannot add %s: %s", name, archive_error_string(t->a));
	return 0;
}

int tarball_add_data(struct tarball *t, const char *name, mode_t mode,
		     const void *data, size_t len)
{
	if (write_header(t, name, AE_IFREG, mode, (int64_t)len, NULL) < 0)
		return -EIO;
	return write_data(t, name, data, len);
}

static int add_file(struct tarball *t, const char *path, const char *name, const struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	off_t left = st->st_size;
	int rc = -EIO;

	if (fd < 0)
		return fail(t, "cannot read %s: %s", path, strerror(errno));
	if (write_header(t, name, AE_IFREG, st->st_mode, st->st_size, NULL) < 0)
		goto out;
	while (left > 0) {
		ssize_t n = read(fd, t->in, left < CHUNK ? (size_t)left : CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail(t, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "file shrank while packing");
			goto out;
		}
		if (write_data(t, name, t->in, (size_t)n) < 0)
			goto out;
		left -= n;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

static int add_path(struct tarball *t, const char *path)
{
	const char *name = path + 1;   /* tar names are relative */
	struct dirent **list = NULL;
	char target[PATH_MAX], child[PATH_MAX];
	struct stat st;
	int n, i, rc = 0;
	ssize_t tl;

	if (lstat(path, &st) < 0)
		return fail(t, "cannot read %s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode))
		return add_file(t, path, name, &st);
	if (S_ISLNK(st.st_mode)) {
		tl = readlink(path, target, sizeof target - 1);
		if (tl < 0)
			return fail(t, "cannot read link %s: %s", path, strerror(errno));
		target[tl] = '\0';
		return tarball_add_symlink(t, name, target);
	}
	if (!S_ISDIR(st.st_mode))
		return fail(t, "%s is neither a file, a link nor a directory", path);
	if (tarball_add_dir(t, name, st.st_mode) < 0)
		return -EIO;
	n = dirlist_sorted(path, &list);
	if (n < 0)
		return fail(t, "cannot list %s: %s", path, strerror(errno));
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			if ((size_t)snprintf(child, sizeof child, "%s/%s", path, list[i]->d_name) >= sizeof child)
				rc = fail(t, "path too long under %s", path);
			else
				rc = add_path(t, child);
		}
	}
	dirlist_free(list, n);
	return rc;
}

int tarball_add_tree(struct tarball *t, const char *path)
{
	if (path[0] != '/')
		return fail(t, "%s is not an absolute path", path);
	return add_path(t, path);
}

int tarball_close(struct tarball *t, struct tarball_result *res, char *err, size_t errlen)
{
	int rc = -EIO;

	if (archive_write_close(t->a) != ARCHIVE_OK) {
		fail(t, "cannot finish tar stream: %s", archive_error_string(t->a));
		goto out;
	}
	t->z.next_in = NULL;
	t->z.avail_in = 0;
	if (deflate_all(t, Z_FINISH) < 0)
		goto out;
	digest_final(t->diff, res->diff_id);
	digest_final(t->gz, res->digest);
	res->size = t->size;
	rc = t->err[0] ? -EIO : 0;
out:
	if (rc < 0)
		snprintf(err, errlen, "%s", tarball_error(t));
	tarball_abort(t);
	return rc;
}

void tarball_abort(struct tarball *t)
{
	if (!t)
		return;
	if (t->a)
		archive_write_free(t->a);
	deflateEnd(&t->z);
	digest_free(t->diff);
	digest_free(t->gz);
	free(t);
}
