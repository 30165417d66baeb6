/* An HTTP reply as the registry builds it, before anything is written:
 * status, headers, and a body held in memory or a blob file to send. Only
 * send.c turns it into FastCGI output. */
#ifndef NIXERY_REPLY_H
#define NIXERY_REPLY_H

#include <stdint.h>
#include <time.h>

#include "core/buf.h"

/* The headers a blob is sent with, whoever sends it: the worker, or the
 * web server from the file (etc/: lighttpd-files.lua, nginx.conf,
 * apache.conf, shared-hosting/htaccess repeat these values, and
 * tests/e2e/blobheaders.sh holds every route to the worker's answer). A
 * blob is named by its digest, so what is sent under its URL never
 * changes: caches may keep it for the longest time HTTP/1.1 knows, a
 * year (not "public": a registry behind a login stays out of shared
 * caches). Registries send blobs as bytes, whatever their media type;
 * the manifest names that. */
#define REPLY_BLOB_TYPE "application/octet-stream"
#define REPLY_BLOB_CACHE "max-age=31536000"

struct reply {
	int status;
	char content_type[128];
	char digest[80];       /* Docker-Content-Digest, when set */
	const char *allow;     /* Allow, on 405 */
	const char *cache_control; /* Cache-Control, when set */
	int vary_accept;       /* the answer depends on Accept */
	int retry_after;       /* seconds, for a 503 or 507; 0: none */
	char link[600];        /* Link, to a listing's next page */
	char location[4096];   /* Location, of a 303 to a bucket's object */
	struct buf body;
	char file[4096];       /* a blob to send instead of body */
	char file_hex[65];
};

/* What the request asks of a blob the worker sends itself: its
 * headers' values, NULL when absent. */
struct reply_conditions {
	const char *range, *if_range, *if_none_match, *if_modified_since;
};

/* How the worker answers a blob it sends itself (no offload), as a web
 * server answers a file: the validators are the blob's own (ETag its
 * digest, Last-Modified its file's time), a condition they meet is 304,
 * and one byte range is 206 (several are answered whole, as HTTP
 * allows). */
struct reply_blob {
	int status;                /* 200, 206, 304 or 416 */
	uint64_t offset, length;   /* the bytes to send: all of them, or the range */
	char etag[80];
	char last_modified[40];    /* IMF-fixdate */
	char content_range[80];    /* on 206 and 416, else "" */
};
void reply_blob_plan(const char *hex, uint64_t size, time_t mtime, const struct reply_conditions *c,
		     struct reply_blob *out);

/* Sets a registry error: status, {"errors":[{"code","message","detail"}]}.
 * detail is a JSON value (taken over) or NULL. */
void reply_error(struct reply *r, int status, const char *code, const char *message,
		 void *detail);
void reply_json(struct reply *r, int status, const char *json);
void reply_free(struct reply *r);

#endif
