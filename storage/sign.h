/* The canonical request that AWS Signature Version 4 and Google's V4
 * signing (its descendant) both sign for a presigned URL: method, path,
 * query, headers and payload, each spelled one agreed way. */
#ifndef NIXERY_SIGN_H
#define NIXERY_SIGN_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"

#define SIGN_MAX_PAIRS 64

/* What a URL is signed for. host is the Host header as signed (Google's
 * libraries leave a port out, AWS's keep one that is not the scheme's
 * default); the URL names authority (host[:port]; NULL: host). bucket is NULL where the host
 * names the bucket (virtual-hosted or bucket-bound hostnames); object is
 * NULL for the bucket itself. headers and query are name, value pairs,
 * signed as well. */
struct sign_request {
	const char *method;
	const char *scheme;
	const char *host;
	const char *authority;
	const char *bucket;
	const char *object;
	time_t when;
	long expires;            /* seconds, 1 to 604800 */
	const char *const *headers;
	size_t nheaders;
	const char *const *query;
	size_t nquery;
};

/* A query parameter or a header as signed: parameters percent-encoded,
 * headers with lower-case names and tidied values. */
struct sign_pair {
	char *name, *value;
};

struct sign_canon {
	struct sign_pair params[SIGN_MAX_PAIRS];
	size_t nparams;
	struct buf path;         /* /bucket/object, encoded */
	struct buf query;        /* the parameters, sorted and joined */
	struct buf request;      /* the canonical request */
	struct buf to_sign;      /* algorithm, date, scope, the request's SHA-256 */
	char date[17];           /* 20190201T090000Z */
	char day[9];             /* 20190201 */
	char scope[128];         /* <day>/<region>/<service>/<terminator> */
};

/* Builds the canonical request of rq and the string to sign, with the
 * authentication parameters both schemes share, <prefix> being "X-Goog"
 * or "X-Amz": -Algorithm, -Credential (key_id/<day>/scope_tail), -Date,
 * -Expires and -SignedHeaders, and the extra ones given (name, value
 * pairs). The payload is the <prefix>-Content-SHA256 header's value if rq
 * has one, else UNSIGNED-PAYLOAD. c needs sign_canon_free afterwards,
 * whatever the result. */
int sign_canon_make(struct sign_canon *c, const struct sign_request *rq, const char *prefix,
		    const char *algorithm, const char *key_id, const char *scope_tail,
		    const char *const *extra, size_t nextra, char *err, size_t errlen);
/* Adds a parameter (the signature) and joins them again, sorted, into
 * query. */
int sign_canon_add(struct sign_canon *c, const char *name, const char *value);
void sign_canon_free(struct sign_canon *c);

/* scheme://host/path?query of the request c was made for, appended. */
int sign_canon_url(const struct sign_canon *c, const struct sign_request *rq, struct buf *url);

/* The URL of rq as it would be signed, without a signature: for a store
 * that takes a token in a header instead. Appended to url. */
int sign_url_plain(const struct sign_request *rq, struct buf *url, char *err, size_t errlen);

/* Bytes in lower-case hex, appended. */
int sign_hex(struct buf *out, const unsigned char *data, size_t len);

#endif
