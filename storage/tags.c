/* Tag files: STORAGE_PATH/tags/<name>/@<tag>, one line
 * "<expires> <docker manifest hex> <oci manifest hex> <hex>:<size>...",
 * which the web server reads to answer a tag's manifest without a worker
 * (etc/lighttpd-files.lua), once it has found the image's blobs whole.
 * The '@' keeps a tag's file apart from the folder of a longer name
 * (shell/latest beside shell:latest). */
#define _GNU_SOURCE   /* mkostemp */
#include "storage/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mkdirs.h"
#include "core/source.h"

#define PATH_LEN 4096

static int is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Only what the web server's route admits: components of lower-case
 * letters and digits joined by single '.', '_' or '-', separated by '/'.
 * No component is "." or "..", so the path stays under tags/. */
static int plain_name(const char *name)
{
	const char *p = name;

	for (;;) {
		if (!is_alnum_lower(*p))
			return 0;
		while (is_alnum_lower(*p))
			p++;
		if (*p == '\0')
			return 1;
		if (!strchr("._-/", *p))
			return 0;
		p++;
	}
}

static int tag_path(const struct storage *s, const char *name, const char *tag, char *path, size_t len)
{
	if (!plain_name(name) || !source_tag_valid(tag))
		return -EINVAL;
	if ((size_t)snprintf(path, len, "%s/tags/%s/@%s", s->ops->local_root(s), name, tag) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int storage_tag_read(const struct storage *s, const char *name, const char *tag, struct storage_tag *out)
{
	char path[PATH_LEN];
	int64_t expires;
	FILE *f;
	int rc;

	if ((rc = tag_path(s, name, tag, path, sizeof path)) < 0)
		return rc;
	if (!(f = fopen(path, "re")))
		return -ENOENT;
	rc = fscanf(f, "%" SCNd64 " %64s %64s", &expires, out->docker, out->oci) == 3 &&
	     digest_is_hex(out->docker) && digest_is_hex(out->oci) ? 0 : -EINVAL;
	fclose(f);
	if (rc == 0)
		out->expires = expires;
	return rc;
}

int storage_tag_write(const struct storage *s, const char *name, const char *tag, const struct storage_tag *t,
		      const char *blobs)
{
	char path[PATH_LEN], tmp[PATH_LEN + 16], err[256], *slash;
	int fd = -1, len, rc;

	if ((rc = tag_path(s, name, tag, path, sizeof path)) < 0)
		return rc;
	if (!digest_is_hex(t->docker) || !digest_is_hex(t->oci))
		return -EINVAL;
	slash = strrchr(path, '/');
	*slash = '\0';
	rc = mkdirs(path, 0777, err, sizeof err);
	/* Written aside, in the same folder (no route names a dot file),
	 * and renamed over the old one: the web server reads a whole line or
	 * none. */
	snprintf(tmp, sizeof tmp, "%s/.tag-XXXXXX", path);
	*slash = '/';
	if (rc < 0)
		return rc;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -errno;
	len = dprintf(fd, "%" PRId64 " %s %s%s\n", t->expires, t->docker, t->oci, blobs);
	rc = len > 0 && fchmod(fd, 0644) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
	if (rc < 0)
		unlink(tmp);
	close(fd);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	/* The top folder stays; a folder a worker just wrote into stays too. */
	if (ftw->level > 0)
		(type == FTW_DP ? rmdir : unlink)(path);
	return 0;
}

int storage_tags_clear(const struct storage *s)
{
	char path[PATH_LEN];

	snprintf(path, sizeof path, "%s/tags", s->ops->local_root(s));
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
