/* Tag files: STORAGE_PATH/tags/<name>/@<tag>, which the web server reads
 * to answer a tag's manifest without a worker (etc/lighttpd-files.lua).
 * This file owns their format, written by storage_tag_write and read by
 * storage_tag_read; storage_tag_answer is the whole rule the script
 * follows (tests/e2e/tagformat.sh holds the script to it). One line:
 *
 *   <expires> SP <docker hex> SP <oci hex>
 *       [ SP "index" SP <docker list hex> SP <oci index hex> ]
 *       *( SP <blob hex> ":" <size> ) LF
 *
 * numbers of 1 to TAG_DIGITS decimal digits, digests of 64 lower-case hex
 * digits; nothing before, between or after. The blobs are the image's
 * config and layers (of an index: each platform's manifests, configs and
 * layers); the web server sends the manifest, or the index a client takes
 * (by its Accept: core/manifest.c), until <expires> (unix time) while each
 * of them, and what it sends, is there as it was committed (its size, and
 * its stamped time: filesystem_stamped). For an index, <docker> and
 * <oci> are the first platform's manifests, for clients that take none.
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

#include "core/image.h"
#include "core/mkdirs.h"
#include "core/source.h"
#include "storage/filesystem.h"

#define PATH_LEN 4096
/* The most a tag file may hold: an image's blobs take about 80 bytes
 * each. The script refuses a longer file too. */
#define TAG_FILE_MAX (1 << 20)
/* Digits in a number: it then fits an int64_t, and stays an integer in
 * the script's Lua (a longer one would turn into a float there). */
#define TAG_DIGITS 18

int storage_tag_file(const char *name, const char *tag, char *path, size_t len)
{
	/* The names and tags the registry takes, and so the route
	 * (etc/lighttpd.conf; tests/e2e/names.sh holds it to these): no
	 * component is "." or "..", so the path stays under tags/. */
	if (!image_name_valid(name) || !source_tag_valid(tag))
		return -EINVAL;
	if ((size_t)snprintf(path, len, "tags/%s/@%s", name, tag) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int tag_path(const struct storage *s, const char *name, const char *tag, char *path, size_t len)
{
	char rel[PATH_LEN];
	int rc;

	if ((rc = storage_tag_file(name, tag, rel, sizeof rel)) < 0)
		return rc;
	if ((size_t)snprintf(path, len, "%s/%s", s->ops->local_root(s), rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* 1 to TAG_DIGITS digits at *p, their value in *out; *p moves past them. */
static int number(const char **p, int64_t *out)
{
	int64_t v = 0;
	int n = 0;

	while (**p >= '0' && **p <= '9') {
		if (++n > TAG_DIGITS)
			return -EINVAL;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return n > 0 ? 0 : -EINVAL;
}

/* A digest's 64 lower-case hex digits at *p, copied to out; *p moves
 * past them. */
static int hex(const char **p, char out[DIGEST_HEX_LEN + 1])
{
	if (strspn(*p, "0123456789abcdef") < DIGEST_HEX_LEN)
		return -EINVAL;
	memcpy(out, *p, DIGEST_HEX_LEN);
	out[DIGEST_HEX_LEN] = '\0';
	*p += DIGEST_HEX_LEN;
	return 0;
}

typedef int (*tag_blob_fn)(void *ctx, const char *hex, int64_t size);

/* Parses a tag file's text (NUL-terminated, no NUL inside) into t, and
 * calls fn (unless NULL) for each blob listed, stopping at its first
 * non-zero result, which it returns: -EINVAL for anything not in the
 * format. */
static int tag_parse(const char *text, struct storage_tag *t, tag_blob_fn fn, void *ctx)
{
	const char *p = text;
	char blob[DIGEST_HEX_LEN + 1];
	int64_t size;
	int rc;

	memset(t, 0, sizeof *t);
	if (number(&p, &t->expires) < 0 || *p++ != ' ' || hex(&p, t->docker) < 0 || *p++ != ' ' ||
	    hex(&p, t->oci) < 0)
		return -EINVAL;
	t->index = strncmp(p, " index ", 7) == 0;
	if (t->index && (p += 7, hex(&p, t->docker_list) < 0 || *p++ != ' ' || hex(&p, t->oci_index) < 0))
		return -EINVAL;
	while (*p == ' ') {
		p++;
		if (hex(&p, blob) < 0 || *p++ != ':' || number(&p, &size) < 0)
			return -EINVAL;
		if (fn && (rc = fn(ctx, blob, size)) != 0)
			return rc;
	}
	return p[0] == '\n' && p[1] == '\0' ? 0 : -EINVAL;
}

/* The tag's file, whole, in a buffer the caller frees: -ENOENT when there
 * is none, -EINVAL when it is no tag file (too long, a NUL in it, not a
 * file). */
static int tag_load(const struct storage *s, const char *name, const char *tag, char **out)
{
	char path[PATH_LEN], *text = NULL;
	size_t len;
	FILE *f;
	int rc;

	*out = NULL;
	if ((rc = tag_path(s, name, tag, path, sizeof path)) < 0)
		return rc;
	if (!(f = fopen(path, "re")))
		return -ENOENT;
	if (!(text = malloc(TAG_FILE_MAX + 2))) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, TAG_FILE_MAX + 1, f);
	rc = ferror(f) || len > TAG_FILE_MAX || memchr(text, '\0', len) ? -EINVAL : 0;
	fclose(f);
	if (rc < 0) {
		free(text);
		return rc;
	}
	text[len] = '\0';
	*out = text;
	return 0;
}

int storage_tag_read(const struct storage *s, const char *name, const char *tag, struct storage_tag *out)
{
	char *text;
	int rc;

	if ((rc = tag_load(s, name, tag, &text)) < 0)
		return rc;
	rc = tag_parse(text, out, NULL, NULL);
	free(text);
	return rc;
}

/* Whether blob hex is under root as it was committed, as far as its
 * stat tells (all a web server can learn): a regular file of the size
 * (any size when size < 0) with the committed time. */
static int committed(const char *root, const char *hex, int64_t size)
{
	char path[PATH_LEN];
	struct stat st;

	if ((size_t)snprintf(path, sizeof path, "%s/blobs/sha256/%s", root, hex) >= sizeof path)
		return 0;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size < 0 || st.st_size == size) &&
	       filesystem_stamped(&st);
}

static int blob_committed(void *ctx, const char *hex, int64_t size)
{
	return committed(ctx, hex, size) ? 0 : -EIO;
}

int storage_tag_answer(const struct storage *s, const char *name, const char *tag,
		       const struct manifest_accept *a, int64_t now, char out[DIGEST_HEX_LEN + 1], int *as_index)
{
	const char *root = s->ops->local_root(s);
	struct storage_tag t;
	char *text;
	int rc;

	if ((rc = tag_load(s, name, tag, &text)) < 0)
		return rc;
	/* As the script does it: the line, then its time, then its blobs. */
	if ((rc = tag_parse(text, &t, NULL, NULL)) == 0 && t.expires <= now)
		rc = -ESTALE;
	if (rc == 0)
		rc = tag_parse(text, &t, blob_committed, (void *)root);
	free(text);
	if (rc < 0)
		return rc;
	*as_index = t.index && a->index;
	if (*as_index)
		memcpy(out, a->index_format == MANIFEST_OCI ? t.oci_index : t.docker_list, DIGEST_HEX_LEN + 1);
	else
		memcpy(out, a->manifest == MANIFEST_OCI ? t.oci : t.docker, DIGEST_HEX_LEN + 1);
	return committed(root, out, -1) ? 0 : -EIO;
}

int storage_tag_write(const struct storage *s, const char *name, const char *tag, const struct storage_tag *t,
		      const char *blobs)
{
	char path[PATH_LEN], tmp[PATH_LEN + 16], err[256], *slash;
	struct storage_tag check;
	int fd = -1, len, rc;
	char *line = NULL;

	if ((rc = tag_path(s, name, tag, path, sizeof path)) < 0)
		return rc;
	/* Only what the reader takes back is written. */
	if (t->expires < 0 ||
	    asprintf(&line, "%" PRId64 " %s %s%s%s%s%s%s\n", t->expires, t->docker, t->oci, t->index ? " index " : "",
		     t->index ? t->docker_list : "", t->index ? " " : "", t->index ? t->oci_index : "", blobs) < 0)
		return t->expires < 0 ? -EINVAL : -ENOMEM;
	rc = strlen(line) <= TAG_FILE_MAX ? tag_parse(line, &check, NULL, NULL) : -EINVAL;
	if (rc < 0)
		goto out;
	slash = strrchr(path, '/');
	*slash = '\0';
	rc = mkdirs(path, 0777, err, sizeof err);
	/* Written aside, in the same folder (no route names a dot file),
	 * and renamed over the old one: the web server reads a whole line or
	 * none. */
	snprintf(tmp, sizeof tmp, "%s/.tag-XXXXXX", path);
	*slash = '/';
	if (rc < 0)
		goto out;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	len = dprintf(fd, "%s", line);
	rc = len > 0 && fchmod(fd, 0644) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
	if (rc < 0)
		unlink(tmp);
	close(fd);
out:
	free(line);
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
