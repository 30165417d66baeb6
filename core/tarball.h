/* Deterministic layer tarballs, written in one streaming pass:
 * tar -> sha256 (diff_id) -> gzip -> sha256 (digest) + size -> file,
 * compressed on several cores (core/gzip.h) with the same bytes for any
 * number. Memory stays constant whatever the size of the files packed. Entries have
 * uid/gid 0, a fixed mtime, no user names, and sorted directory walks, so the
 * same tree always packs to the same bytes. */
#ifndef NIXERY_TARBALL_H
#define NIXERY_TARBALL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/deadline.h"
#include "core/digest.h"

/* Store paths carry mtime 1; every entry gets it. */
#define TARBALL_MTIME 1

struct tarball;

struct tarball_result {
	char digest[DIGEST_HEX_LEN + 1];   /* sha256 of the gzip stream */
	char diff_id[DIGEST_HEX_LEN + 1];  /* sha256 of the uncompressed tar */
	uint64_t size;                     /* bytes of the gzip stream */
};

/* Where the gzip stream goes: 0, or a negative errno code with a message
 * in err (-ENOSPC when the storage is full). */
typedef int (*tarball_sink)(void *ctx, const void *data, size_t len, char *err, size_t errlen);

/* A sink writing to the file descriptor *(int *)ctx. */
int tarball_fd_sink(void *ctx, const void *data, size_t len, char *err, size_t errlen);

/* The gzip stream's threads and level (core/gzip.h). */
struct tarball_gzip {
	unsigned threads;   /* 1: the caller's alone */
	int level;          /* 1 to GZIP_LEVEL_MAX */
};

int tarball_open(struct tarball **t, struct tarball_gzip gz, tarball_sink sink, void *ctx,
		 char *err, size_t errlen);

/* Packing stops with -ETIMEDOUT or -ECANCELED once d has passed (d must
 * outlive t). */
void tarball_set_deadline(struct tarball *t, const struct deadline *d);

int tarball_add_dir(struct tarball *t, const char *name, mode_t mode);
/* A directory owned by someone other than root (a home directory). */
int tarball_add_dir_owned(struct tarball *t, const char *name, mode_t mode,
			  unsigned uid, unsigned gid);
int tarball_add_symlink(struct tarball *t, const char *name, const char *target);
int tarball_add_data(struct tarball *t, const char *name, mode_t mode,
		     const void *data, size_t len);
/* Adds an absolute path and everything below it (named without the leading
 * '/'), walking directories in byte order. Files are read, never mapped.
 * Names are bytes: whatever the locale, a name that is not UTF-8 is
 * written as it is (PAX hdrcharset=BINARY). Hard links are written as the
 * files they are, as a NAR holds them, so the bytes do not depend on
 * whether the store was optimised. */
int tarball_add_tree(struct tarball *t, const char *path);

/* Finishes the stream and frees t; the result is valid only when 0 is
 * returned, and otherwise err says why: the code is the first error's
 * (-ENOSPC from the sink, -ETIMEDOUT at the deadline, -EIO otherwise). */
int tarball_close(struct tarball *t, struct tarball_result *res, char *err, size_t errlen);
/* Frees without finishing (after an error). */
void tarball_abort(struct tarball *t);

/* The message of the first error the tarball met. */
const char *tarball_error(const struct tarball *t);

#endif
