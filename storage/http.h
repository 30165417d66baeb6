/* One HTTP exchange with an object store, through libcurl: a request
 * whose body is in memory, and the parts of the answer the backends read.
 * Only storage/ uses it; the URL is signed before it gets here. */
#ifndef NIXERY_HTTP_H
#define NIXERY_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

struct http_exchange {
	const char *method;
	const char *url;
	const char *const *headers;   /* "Name: value" lines */
	size_t nheaders;
	const void *body;             /* sent as it is; NULL: no body, unless */
	int body_file;                /* > 0: the first body_len bytes of this file are */
	size_t body_len;
	size_t max_response;          /* body bytes kept; a longer answer fails */
	long timeout_ms;              /* for the whole exchange */

	long status;                  /* the answer */
	struct buf response;
	uint64_t length;              /* its Content-Length */
	char location[2048];
	char etag[256];
	char generation[32];          /* GCS's x-goog-generation, "" without one */
	time_t date;                  /* its Date, 0 when it had none */
	time_t modified;              /* its Last-Modified, 0 when it had none */
};

/* Connections kept open between exchanges with a store: a request
 * saves a connection (and a TLS handshake) when one to its host is idle.
 * Each exchange has a libcurl handle to itself, taken from here and given
 * back; libcurl's own sharing of connections between threads is not
 * thread-safe. */
struct http_pool;
struct http_pool *http_pool_new(void);
void http_pool_free(struct http_pool *pool);

/* Performs x. 0 when an answer came, whatever its status (then in
 * x->status); -EHOSTUNREACH when none did (no connection, a timeout, a
 * connection cut), -EFBIG when it was longer than max_response, with the
 * reason in err. x->response needs buf_free afterwards. */
int http_perform(struct http_pool *pool, struct http_exchange *x, char *err, size_t errlen);

/* The text of the first <tag> element of an XML answer (an S3 UploadId,
 * an error's Code), or "" when there is none or it holds markup. */
void http_xml_text(const struct buf *xml, const char *tag, char *out, size_t len);

#endif
