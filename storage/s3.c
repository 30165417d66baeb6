/* What S3 does its own way: SigV4 presigning, and large uploads as
 * multipart uploads (start, parts with their ETags, a list completing
 * them). Every request is a presigned URL, as the blob redirects are. */
#include "storage/bucket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int s3_sign(const struct bucket *b, const struct bucket_request *rq, long ttl, struct buf *url,
		   char *err, size_t errlen)
{
	struct sign_request sr = bucket_sign_request(b, rq, ttl);

	return s3_sign_url(&b->s3, &sr, url, NULL, NULL, err, errlen);
}

static int s3_start(const struct bucket *b, struct bucket_upload *u, char *err, size_t errlen)
{
	static const char *const query[] = { "uploads", "" };
	struct bucket_request rq = { .method = "POST", .key = u->key, .query = query, .nquery = 1, .body = "" };
	struct http_exchange x = { 0 };
	int rc = bucket_call(b, &rq, &x, err, errlen);

	if (rc == 0) {
		http_xml_text(&x.response, "UploadId", u->id, sizeof u->id);
		if (!u->id[0]) {
			snprintf(err, errlen, "the S3 bucket %s started a multipart upload without an UploadId", b->name);
			rc = -EIO;
		}
	}
	buf_free(&x.response);
	return rc;
}

/* The last part completes the upload with the list of the parts. */
static int s3_part(const struct bucket *b, struct bucket_upload *u, int file, size_t len, int last,
		   char *err, size_t errlen)
{
	char number[16];
	const char *query[] = { "partNumber", number, "uploadId", u->id };
	struct bucket_request rq = { .method = "PUT", .key = u->key, .query = query, .nquery = 2,
				     .body_len = len, .body_file = file };
	struct bucket_request complete = { .method = "POST", .key = u->key, .query = query + 2, .nquery = 1 };
	struct http_exchange x = { 0 };
	int rc;

	snprintf(number, sizeof number, "%u", u->parts + 1);
	if ((rc = bucket_call(b, &rq, &x, err, errlen)) < 0)
		goto out;
	if (!x.etag[0] || strpbrk(x.etag, "<&")) {
		snprintf(err, errlen, "the S3 bucket %s took part %s of an upload without a usable ETag", b->name, number);
		rc = -EIO;
		goto out;
	}
	if ((rc = buf_printf(&u->done, "<Part><PartNumber>%s</PartNumber><ETag>%s</ETag></Part>", number, x.etag)) < 0)
		goto out;
	if (last) {
		struct buf body = { 0 };

		if ((rc = buf_printf(&body, "<CompleteMultipartUpload>%s</CompleteMultipartUpload>", u->done.data)) == 0) {
			complete.body = body.data;
			complete.body_len = body.len;
			rc = bucket_call(b, &complete, &x, err, errlen);
		}
		buf_free(&body);
	}
out:
	buf_free(&x.response);
	return rc;
}

static void s3_cancel(const struct bucket *b, struct bucket_upload *u)
{
	const char *query[] = { "uploadId", u->id };
	struct bucket_request rq = { .method = "DELETE", .key = u->key, .query = query, .nquery = 1 };
	struct http_exchange x = { 0 };
	char err[512];

	/* Left, the bucket's rule for incomplete multipart uploads ends it. */
	bucket_call(b, &rq, &x, err, sizeof err);
	buf_free(&x.response);
}

/* S3's conditional delete (If-Match, since 2025) compares ETags. */
static const char *s3_version(const struct http_exchange *x)
{
	return x->etag;
}

const struct bucket_provider bucket_s3 = {
	.name = "S3",
	.endpoint_setting = "AWS_ENDPOINT_URL",
	.create_only = { "If-None-Match", "*" },
	.copy_source = "x-amz-copy-source",
	.metadata_directive = "x-amz-metadata-directive",
	.if_version = "If-Match",
	.version = s3_version,
	.sign = s3_sign,
	.start = s3_start,
	.part = s3_part,
	.cancel = s3_cancel,
};
