#define _GNU_SOURCE   /* newlocale, uselocale */
#include "core/tarball.h"
#include "core/dirlist.h"
#include "core/gzip.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define CHUNK 65536

/* What names are taken to be, see write_header_owned: made once for the
 * process and never freed, because glibc's freelocale and newlocale in
 * other threads (layers are packed side by side) hand locale data to each
 * other under a lock of the C library's own. */
static locale_t utf8;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_load(void)
{
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

struct tarball {
	struct archive *a;
	struct gzip *gzip;
	struct digest_ctx *diff;    /* over the tar stream */
	struct digest_ctx *gz;      /* over the gzip stream */
	tarball_sink sink;
	void *sink_ctx;
	const struct deadline *deadline;
	uint64_t size;
	int rc;                     /* the first error's code */
	char err[512];
	unsigned char in[CHUNK];
};

/* Records the first error; returns its code. */
static int fail_with(struct tarball *t, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_with(struct tarball *t, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!t->rc) {
		t->rc = rc;
		va_start(ap, fmt);
		vsnprintf(t->err, sizeof t->err, fmt, ap);
		va_end(ap);
	}
	return t->rc;
}
#define fail(t, ...) fail_with(t, -EIO, __VA_ARGS__)

const char *tarball_error(const struct tarball *t)
{
	return t->err[0] ? t->err : "unknown error";
}

int tarball_fd_sink(void *ctx, const void *data, size_t len, char *err, size_t errlen)
{
	const char *p = data;
	int fd = *(int *)ctx;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot write layer: %s", strerror(errno));
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void tarball_set_deadline(struct tarball *t, const struct deadline *d)
{
	t->deadline = d;
}

/* The gzip stream's way out: counted, hashed, then to the caller's sink. */
static int emit(void *ctx, const void *data, size_t len, char *err, size_t errlen)
{
	struct tarball *t = ctx;

	digest_update(t->gz, data, len);
	t->size += len;
	return t->sink(t->sink_ctx, data, len, err, errlen);
}

/* Between chunks: a layer stops at the request's deadline too. */
static int in_time(struct tarball *t)
{
	int rc = t->deadline ? deadline_check(t->deadline) : 0;

	if (rc == -ETIMEDOUT)
		return fail_with(t, rc, "packing stopped at the deadline");
	if (rc == -ECANCELED)
		return fail_with(t, rc, "packing stopped: the worker is shutting down");
	return 0;
}

/* Compresses tar bytes, recording the first error. */
static int to_gzip(struct tarball *t, const void *data, size_t len)
{
	char why[sizeof t->err];
	int rc;

	if (t->rc)
		return t->rc;
	if ((rc = gzip_write(t->gzip, data, len, why, sizeof why)) < 0)
		return fail_with(t, rc, "%s", why);
	return 0;
}

static la_ssize_t on_tar_bytes(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct tarball *t = ctx;

	(void)a;
	if (t->rc)
		return -1;
	digest_update(t->diff, buf, len);
	if (to_gzip(t, buf, len) < 0)
		return -1;
	return (la_ssize_t)len;
}

int tarball_open(struct tarball **out, struct tarball_gzip gz, tarball_sink sink, void *ctx,
		 char *err, size_t errlen)
{
	struct tarball *t = calloc(1, sizeof *t);

	*out = NULL;
	if (!t)
		goto nomem;
	t->sink = sink;
	t->sink_ctx = ctx;
	t->diff = digest_new();
	t->gz = digest_new();
	t->a = archive_write_new();
	if (!t->diff || !t->gz || !t->a || gzip_open(&t->gzip, gz.threads, gz.level, emit, t, err, errlen) < 0)
		goto nomem;
	pthread_once(&utf8_once, utf8_load);
	if (!utf8) {
		snprintf(err, errlen, "cannot start a layer: the C library has no C.UTF-8 locale");
		tarball_abort(t);
		return -EIO;
	}
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
	if (in_time(t) < 0) {
		rc = t->rc;
	} else {
		/* Names are bytes. Taken as UTF-8 whatever the process's
		 * locale, one that is UTF-8 goes in the PAX header as it is,
		 * and one that is not goes in raw, with hdrcharset=BINARY and
		 * a warning (the entry is still whole): the same bytes on
		 * every host. */
		locale_t old = uselocale(utf8);
		int arc = archive_write_header(t->a, e);

		uselocale(old);
		if (arc < ARCHIVE_WARN)
			rc = t->rc ? t->rc : fail(t, "cannot add %s: %s", name, archive_error_string(t->a));
	}
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
		return t->rc ? t->rc : fail(t, "cannot add %s: %s", name, archive_error_string(t->a));
	return in_time(t);
}

int tarball_add_data(struct tarball *t, const char *name, mode_t mode,
		     const void *data, size_t len)
{
	if (write_header(t, name, AE_IFREG, mode, (int64_t)len, NULL) < 0)
		return t->rc;
	return write_data(t, name, data, len);
}

static int add_file(struct tarball *t, const char *path, const char *name, const struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	off_t left = st->st_size;

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
out:
	close(fd);
	return t->rc;
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
		return t->rc;
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
	char why[sizeof t->err];
	int rc;

	if (archive_write_close(t->a) != ARCHIVE_OK) {
		fail(t, "cannot finish tar stream: %s", archive_error_string(t->a));
		goto out;
	}
	if (!t->rc && (rc = gzip_finish(t->gzip, why, sizeof why)) < 0)
		fail_with(t, rc, "%s", why);
	if (t->rc)
		goto out;
	digest_final(t->diff, res->diff_id);
	digest_final(t->gz, res->digest);
	res->size = t->size;
out:
	rc = t->rc;
	if (rc < 0)
		snprintf(err, errlen, "%s", tarball_error(t));
	tarball_abort(t);
	return rc;
}

void tarball_abort(struct tarball *t)
{
	if (!t)
		return;
	/* Freeing closes the archive, which would pad the entry in progress
	 * to its declared size, and finish the stream: nothing is to be
	 * written any more. */
	if (!t->rc)
		t->rc = -ECANCELED;
	if (t->a)
		archive_write_free(t->a);
	gzip_free(t->gzip);
	digest_free(t->diff);
	digest_free(t->gz);
	free(t);
}
