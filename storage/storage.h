/* Where blobs live: content-addressed, written once, and either complete
 * or absent. Today the file system (Nixery's "filesystem" backend):
 *   ROOT/blobs/sha256/<hex>   what the web server sends
 *   ROOT/tmp/                 writes in progress
 * A blob appears under its digest only once it is complete and on disk
 * (written, fsynced, renamed, folder fsynced). A write in progress has no
 * name (O_TMPFILE), so a worker killed at any moment leaves nothing behind;
 * where the file system cannot do that, it is a named file locked by its
 * writer, which the next start removes at once. Blobs are never rewritten
 * in place. */
#ifndef NIXERY_STORAGE_H
#define NIXERY_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/digest.h"

struct storage;
struct storage_writer;

/* Creates the folders and removes what writers that died left behind. */
int storage_open(const char *root, struct storage **s, char *err, size_t errlen);
void storage_close(struct storage *s);

/* The file holding blob hex (validated), for the web server to send. */
int storage_file(const struct storage *s, const char *hex, char *out, size_t len);

/* Whether blob hex is there whole: 0; -ENOENT when it is missing; -EIO
 * when its size is not the one recorded. */
int storage_check(const struct storage *s, const char *hex, uint64_t size);

/* Reads a small blob (a manifest) whole, checked against its digest:
 * -ENOENT when missing, -EFBIG when over max bytes, -EIO when damaged. */
int storage_read(const struct storage *s, const char *hex, size_t max, struct buf *out);

/* A blob written as a stream, named only by storage_commit. Errors are
 * negative errno codes, -ENOSPC when the storage is full, with a message
 * in err that says what to do. */
int storage_begin(const struct storage *s, struct storage_writer **w, char *err, size_t errlen);
int storage_write(struct storage_writer *w, const void *data, size_t len, char *err, size_t errlen);
/* Stores the blob under hex and frees w; a blob already there whole is
 * kept, a damaged one replaced. */
int storage_commit(struct storage_writer *w, const char *hex, char *err, size_t errlen);
/* Drops the write and frees w (NULL is fine). */
void storage_discard(struct storage_writer *w);

/* For the garbage collector: every blob stored, and its removal. */
typedef int (*storage_blob_fn)(void *ctx, const char *hex, uint64_t size);
int storage_each(const struct storage *s, storage_blob_fn fn, void *ctx);
int storage_remove(const struct storage *s, const char *hex);

/* Stores a small blob held in memory and returns its digest; a copy
 * already there is kept only when it holds exactly these bytes. */
int storage_put(const struct storage *s, const void *data, size_t len,
		char hex[DIGEST_HEX_LEN + 1], char *err, size_t errlen);

#endif
