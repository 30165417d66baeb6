/* Deterministic layer tarballs, written in one streaming pass:
 * tar -> sha256 (diff_id) -> gzip -> sha256 (digest) + size -> file.
 * Memory stays constant whatever the size of the files packed. Entries have
 * uid/gid 0, a fixed mtime, no user names, and sorted directory walks, so the
 * same tree always packs to the same bytes. */
#ifndef NIXERY_TARBALL_H
#define NIXERY_TARBALL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/digest.h"

/* Store paths carry mtime 1; every entry gets it. */
#define TARBALL_MTIME 1

struct tarball;

struct tarball_result {
	char digest[DIGEST_HEX_LEN + 1];   /* sha256 of the gzip stream */
	char diff_id[DIGEST_HEX_LEN + 1];  /* sha256 of the uncompressed tar */
	uint64_t size;                     /* bytes of the gzip stream */
};

int tarball_open(struct tarball **t, int fd, char *err, size_t errlen);

int tarball_add_dir(struct tarball *t, const char *name, mode_t mode);
/* A directory owned by someone other than root (a home directory). */
int tarball_add_dir_owned(struct tarball *t, const char *name, mode_t mode,
			  unsigned uid, unsigned gid);
int tarball_add_symlink(struct tarball *t, const char *name, const char *target);
int tarball_add_data(struct tarball *t, const char *name, mode_t mode,
		     const void *data, size_t len);
/* Adds an absolute path and everything below it (named without the leading
 * '/'), walking directories in byte order. Files are read, never mapped. */
int tarball_add_tree(struct tarball *t, const char *path);

/* Finishes the stream and frees t; the result is valid only when 0 is
 * returned, and otherwise err says why. */
int tarball_close(struct tarball *t, struct tarball_result *res, char *err, size_t errlen);
/* Frees without finishing (after an error). */
void tarball_abort(struct tarball *t);

/* The message of the first error the tarball met. */
const char *tarball_error(const struct tarball *t);

#endif
