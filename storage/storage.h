/* Where blobs live: content-addressed, written once, and either complete
 * or absent. Three backends, chosen by NIXERY_STORAGE_BACKEND, as in
 * Nixery:
 *   filesystem  STORAGE_PATH/blobs/sha256/<hex>, sent by the web server,
 *               STORAGE_PATH/tmp/ for writes in progress
 *   gcs, s3     objects layers/<hex> in a bucket, which clients are
 *               redirected to with signed URLs; staging/ holds large
 *               uploads in progress. Small blobs (manifests, configs)
 *               are also kept under STORAGE_PATH, so that answering a
 *               manifest needs no round trip.
 * A blob appears under its digest only once it is complete: a worker
 * killed at any moment leaves no blob that does not match its name. */
#ifndef NIXERY_STORAGE_H
#define NIXERY_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/manifest.h"
#include "core/config.h"
#include "core/digest.h"

struct storage;
struct storage_writer;

/* The backend cfg names. The filesystem backend creates its folders and
 * removes what writers that died left behind; the bucket backends read
 * their credentials (the bucket is reached only by storage_probe). */
int storage_open(const struct config *cfg, struct storage **s, char *err, size_t errlen);
/* The same, to read what is there (status, gc --dry-run): no folder is
 * created and nothing left behind is removed; a missing folder holds no
 * blobs. */
int storage_open_existing(const struct config *cfg, struct storage **s, char *err, size_t errlen);
void storage_close(struct storage *s);

/* Where a client gets blob hex: a file for the web server to send, or a
 * URL to redirect to (signed, valid for NIXERY_SIGNED_URL_TTL). */
struct storage_location {
	int redirect;
	char target[4096];
};
int storage_locate(const struct storage *s, const char *hex, struct storage_location *loc,
		   char *err, size_t errlen);

/* Whether testing for a blob costs a round trip to another machine (a
 * bucket): callers on the hot path then trust what they recorded. */
int storage_remote(const struct storage *s);

/* Whether blob hex is there whole: 0; -ENOENT when it is missing; -EIO
 * when its size is not the one recorded, or (a file here) when it was
 * changed since it was written and its bytes are no longer its digest;
 * another negative code when the store cannot tell. A file is hashed only
 * when it changed (its time says so): otherwise this costs one stat. */
int storage_check(const struct storage *s, const char *hex, uint64_t size);

/* Hashes blob hex whole, changed or not (bit rot changes no time): 0 when
 * its bytes are its digest, -EIO when they are not, -ENOENT when it is
 * missing, -EOPNOTSUPP for a bucket's objects (the bucket keeps their
 * checksums). pace, if not NULL, is told of every chunk read, and may
 * sleep to bound the rate. */
typedef void (*storage_pace_fn)(void *ctx, uint64_t bytes);
int storage_verify(const struct storage *s, const char *hex, storage_pace_fn pace, void *ctx);

/* Reads a small blob (a manifest) whole, checked against its digest:
 * -ENOENT when missing, -EFBIG when over max bytes, -EIO when damaged. */
int storage_read(const struct storage *s, const char *hex, size_t max, struct buf *out);

/* A blob written as a stream, named only by storage_commit. Errors are
 * negative errno codes, -ENOSPC when the storage is full, -EHOSTUNREACH
 * when a bucket cannot be reached, -EACCES when it refuses the
 * credentials, with a message in err that says what to do. */
int storage_begin(const struct storage *s, struct storage_writer **w, char *err, size_t errlen);
int storage_write(struct storage_writer *w, const void *data, size_t len, char *err, size_t errlen);
/* Stores the blob under hex and frees w; a blob already there whole is
 * kept, a damaged one replaced. */
int storage_commit(struct storage_writer *w, const char *hex, char *err, size_t errlen);
/* Drops the write and frees w (NULL is fine). */
void storage_discard(struct storage_writer *w);

/* Stores a small blob held in memory and returns its digest; a copy
 * already there is kept only when it holds exactly these bytes. */
int storage_put(const struct storage *s, const void *data, size_t len,
		char hex[DIGEST_HEX_LEN + 1], char *err, size_t errlen);

/* Keeps here a small blob that is in the store, learned another way
 * (a record of another host), so that reading it costs no round trip:
 * -EINVAL when the bytes are not blob hex. Only a bucket needs it. */
int storage_keep(const struct storage *s, const void *data, size_t len, const char *hex,
		 char *err, size_t errlen);

/* For the garbage collector: every blob stored, and its removal. With a
 * bucket, these are the copies under STORAGE_PATH: the objects in the
 * bucket are left to its lifecycle rule. */
typedef int (*storage_blob_fn)(void *ctx, const char *hex, uint64_t size);
int storage_each(const struct storage *s, storage_blob_fn fn, void *ctx);
int storage_remove(const struct storage *s, const char *hex);

/* Records that hosts sharing a bucket read and write, under an image's
 * key: the image a host built (images/<key>), and a host's claim to be
 * building it (claims/<key>). A creation (create_only) of a record that
 * exists fails with -EEXIST. Reading or writing one gives its version
 * (GCS's generation, S3's ETag; "" when the store gave none) in version,
 * unless it is NULL. The filesystem backend keeps none: its host's cache
 * is the record, -EOPNOTSUPP. */
#define STORAGE_VERSION_MAX 256
enum storage_record { STORAGE_IMAGE, STORAGE_CLAIM };
int storage_record_get(const struct storage *s, enum storage_record kind, const char *hex, size_t max,
		       struct buf *out, char version[STORAGE_VERSION_MAX], char *err, size_t errlen);
int storage_record_put(const struct storage *s, enum storage_record kind, const char *hex, const char *text,
		       int create_only, char version[STORAGE_VERSION_MAX], char *err, size_t errlen);
/* Removes a record only while it is the version given (GCS
 * x-goog-if-generation-match, S3 If-Match): 0 once it is gone, or was;
 * -EEXIST when it is another version now, which stays; -EINVAL without
 * a version; another negative code, with err, when the bucket cannot be
 * asked. An S3-compatible store that ignores If-Match on a delete removes
 * whatever version is there. */
int storage_record_remove(const struct storage *s, enum storage_record kind, const char *hex,
			  const char *version, char *err, size_t errlen);

/* A tag's answer kept for the web server, which sends the manifest
 * itself until `expires` (unix time) instead of asking a worker: the
 * image's two manifests by digest, and its other blobs (" <hex>:<size>"
 * each, in `blobs`), which the web server finds whole first. Kept under
 * STORAGE_PATH with every backend (the manifests are there too). The
 * format is tags.c's; every name and tag the registry takes has a file,
 * others get -EINVAL. A missing one reads -ENOENT, one not in the format
 * -EINVAL. */
struct storage_tag {
	int64_t expires;
	char docker[DIGEST_HEX_LEN + 1];
	char oci[DIGEST_HEX_LEN + 1];
	/* An image index of several platforms: its two forms (docker and
	 * oci are then the first platform's manifests, for clients that take
	 * no index). */
	int index;
	char docker_list[DIGEST_HEX_LEN + 1];
	char oci_index[DIGEST_HEX_LEN + 1];
};
int storage_tag_read(const struct storage *s, const char *name, const char *tag, struct storage_tag *t);
int storage_tag_write(const struct storage *s, const char *name, const char *tag, const struct storage_tag *t,
		      const char *blobs);
/* The file of a tag's answer, relative to STORAGE_PATH
 * ("tags/<name>/@<tag>"): what the web server's route maps
 * /v2/<name>/manifests/<tag> to. -EINVAL for a name or tag the registry
 * does not take, -ENAMETOOLONG when path is too small. */
int storage_tag_file(const char *name, const char *tag, char *path, size_t len);
/* What the web server sends for the tag, by the file alone, at time now,
 * to a client whose Accept takes what a says: 0 and the digest in hex of
 * the index it takes when the tag has one (*as_index set), else of the
 * manifest (Docker's or OCI's), while the file is current and that manifest and every blob it names are
 * there as committed (by their stat alone); -ENOENT without a file,
 * -EINVAL for one not in the format, -ESTALE past its time, -EIO when a
 * blob is not there as committed. etc/lighttpd-files.lua follows this
 * rule; tests/e2e/tagformat.sh holds it to the same answers. */
int storage_tag_answer(const struct storage *s, const char *name, const char *tag,
		       const struct manifest_accept *a, int64_t now, char hex[DIGEST_HEX_LEN + 1], int *as_index);
/* Removes every tag's answer (the garbage collector, once it has removed
 * blobs they may name). */
int storage_tags_clear(const struct storage *s);

/* Reaches the store (--check-config): appends one line per problem found
 * (a bucket missing, credentials refused, a clock that is off), with
 * advice, and returns how many there are. */
int storage_probe(const struct storage *s, struct buf *out);

#endif
