/* Content-addressed blobs on the file system:
 *   ROOT/blobs/sha256/<hex>   what the web server serves
 *   ROOT/tmp/                 writes in progress, renamed into place
 * A blob appears under its digest only once it is complete and on disk
 * (written, fsynced, renamed, directory fsynced), so a worker killed at any
 * moment leaves nothing half-written that could be served. Blobs are never
 * rewritten in place. */
#ifndef NIXERY_BLOBSTORE_H
#define NIXERY_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"

int blobstore_init(const char *root, char *err, size_t errlen);

/* ROOT/blobs/sha256/<hex>; hex must already be validated. */
int blobstore_path(const char *root, const char *hex, char *out, size_t outlen);

/* A new temporary file for a blob being written. */
int blobstore_begin(const char *root, char *tmp_path, size_t len, int *fd,
		    char *err, size_t errlen);
/* Makes the temporary file the blob hex (closing fd); if that blob already
 * exists the new copy is dropped. */
int blobstore_commit(const char *root, int fd, const char *tmp_path, const char *hex,
		     char *err, size_t errlen);
void blobstore_discard(int fd, const char *tmp_path);

/* Stores a small blob held in memory and returns its digest. */
int blobstore_put(const char *root, const void *data, size_t len,
		  char hex[DIGEST_HEX_LEN + 1], char *err, size_t errlen);

#endif
