/* S3 presigned URLs (AWS Signature Version 4, AWS4-HMAC-SHA256), made as
 * AWS's own presigner (@aws-sdk/s3-request-presigner) makes them, for the
 * blob GET redirects of the s3 backend. */
#ifndef NIXERY_S3_SIGN_H
#define NIXERY_S3_SIGN_H

#include <stddef.h>

#include "core/buf.h"
#include "storage/sign.h"

struct s3_credentials {
	const char *access_key;
	const char *secret_key;
	const char *region;       /* us-east-1 */
};

/* Appends the presigned URL to url; canonical and to_sign, when not
 * NULL, get the canonical request and the string that was signed. */
int s3_sign_url(const struct s3_credentials *cr, const struct sign_request *rq, struct buf *url,
		struct buf *canonical, struct buf *to_sign, char *err, size_t errlen);

#endif
