#define _GNU_SOURCE   /* mkostemp */
#include "core/blobstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int blobstore_init(const char *root, char *err, size_t errlen)
{
	const char *subdirs[] = { "", "/blobs", "/blobs/sha256", "/tmp" };
	char path[4096];
	size_t i;
	int rc;

	for (i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		snprintf(path, sizeof path, "%s%s", root, subdirs[i]);
		if ((rc = make_dir(path, err, errlen)) < 0)
			return rc;
	}
	return 0;
}

int blobstore_path(const char *root, const char *hex, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/blobs/sha256/%s", root, hex) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

int blobstore_begin(const char *root, char *tmp_path, size_t len, int *fd,
		    char *err, size_t errlen)
{
	if ((size_t)snprintf(tmp_path, len, "%s/tmp/blob-XXXXXX", root) >= len)
		return -ENAMETOOLONG;
	*fd = mkostemp(tmp_path, O_CLOEXEC);
	if (*fd < 0) {
		snprintf(err, errlen, "cannot create a file in %s/tmp: %s", root, strerror(errno));
		return -errno;
	}
	/* The web server reads blobs as another user. */
	fchmod(*fd, 0644);
	return 0;
}

void blobstore_discard(int fd, const char *tmp_path)
{
	if (fd >= 0)
		close(fd);
	unlink(tmp_path);
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

int blobstore_commit(const char *root, int fd, const char *tmp_path, const char *hex,
		     char *err, size_t errlen)
{
	char final[4096], dir[4096];
	int rc;

	if (fsync(fd) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot write blob %s to disk: %s", hex, strerror(errno));
		blobstore_discard(fd, tmp_path);
		return rc;
	}
	close(fd);
	blobstore_path(root, hex, final, sizeof final);
	if (access(final, F_OK) == 0) {
		unlink(tmp_path);
		return 0;
	}
	if (rename(tmp_path, final) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot move blob into %s: %s", final, strerror(errno));
		unlink(tmp_path);
		return rc;
	}
	snprintf(dir, sizeof dir, "%s/blobs/sha256", root);
	if ((rc = sync_dir(dir)) < 0) {
		snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(-rc));
		return rc;
	}
	return 0;
}

int blobstore_put(const char *root, const void *data, size_t len,
		  char hex[DIGEST_HEX_LEN + 1], char *err, size_t errlen)
{
	char tmp[4096];
	const char *p = data;
	size_t left = len;
	int fd, rc;

	digest_hex(data, len, hex);
	if ((rc = blobstore_begin(root, tmp, sizeof tmp, &fd, err, errlen)) < 0)
		return rc;
	while (left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot write blob %s: %s", hex, strerror(errno));
			blobstore_discard(fd, tmp);
			return rc;
		}
		p += n;
		left -= (size_t)n;
	}
	return blobstore_commit(root, fd, tmp, hex, err, errlen);
}
