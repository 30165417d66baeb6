/* What Google Cloud Storage does its own way (its XML API): V4 signing
 * with the service account's RSA key (or, without a key file, plain URLs
 * and the metadata server's token, which bucket_call adds), and large
 * uploads as a resumable upload session, whose URL is its own credential. */
#include "storage/bucket.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int gcs_sign(const struct bucket *b, const struct bucket_request *rq, long ttl, struct buf *url,
		    char *err, size_t errlen)
{
	struct sign_request sr = bucket_sign_request(b, rq, ttl);

	if (!b->gcs)
		return sign_url_plain(&sr, url, err, errlen);
	return gcs_sign_url(b->gcs, &sr, url, NULL, NULL, err, errlen);
}

static int gcs_start(const struct bucket *b, struct bucket_upload *u, char *err, size_t errlen)
{
	static const char *const headers[] = { "x-goog-resumable", "start" };
	struct bucket_request rq = { .method = "POST", .key = u->key, .headers = headers, .nheaders = 1, .body = "" };
	struct http_exchange x = { 0 };
	char origin[sizeof b->scheme + sizeof b->authority + 8];
	int rc = bucket_call(b, &rq, &x, err, errlen);

	/* The session is sent bytes: only ever to the store itself. */
	snprintf(origin, sizeof origin, "%s://%s/", b->scheme, b->authority);
	if (rc == 0 && strncmp(x.location, origin, strlen(origin)) != 0) {
		snprintf(err, errlen, "the GCS bucket %s started an upload session elsewhere (%s)", b->name, x.location);
		rc = -EIO;
	}
	if (rc == 0)
		snprintf(u->id, sizeof u->id, "%s", x.location);
	buf_free(&x.response);
	return rc;
}

/* Each part says where it goes; the last one also says the total, which
 * finishes the object. */
static int gcs_part(const struct bucket *b, struct bucket_upload *u, int file, size_t len, int last,
		    char *err, size_t errlen)
{
	char range[128], total[32] = "*";
	const char *headers[] = { range };
	struct http_exchange x = { .method = "PUT", .headers = headers, .nheaders = 1, .body = "", .body_file = file,
				   .body_len = len };
	int rc;

	if (last)
		snprintf(total, sizeof total, "%" PRIu64, u->offset + len);
	if (len)
		snprintf(range, sizeof range, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%s", u->offset,
			 u->offset + len - 1, total);
	else
		snprintf(range, sizeof range, "Content-Range: bytes */%s", total);
	rc = bucket_send(b, u->id, u->key, &x, err, errlen);
	/* 308: the part is taken and more is awaited. */
	if (rc == 0 && !last && x.status != 308) {
		snprintf(err, errlen, "the GCS bucket %s answered %ld to a part of an upload", b->name, x.status);
		rc = -EIO;
	}
	buf_free(&x.response);
	return rc;
}

static void gcs_cancel(const struct bucket *b, struct bucket_upload *u)
{
	struct http_exchange x = { .method = "DELETE" };
	char err[512];

	/* GCS answers 499 to a cancelled session. */
	bucket_send(b, u->id, u->key, &x, err, sizeof err);
	buf_free(&x.response);
}

static const char *gcs_version(const struct http_exchange *x)
{
	return x->generation;
}

const struct bucket_provider bucket_gcs = {
	.name = "GCS",
	.endpoint_setting = "STORAGE_EMULATOR_HOST",
	.create_only = { "x-goog-if-generation-match", "0" },
	.copy_source = "x-goog-copy-source",
	.metadata_directive = "x-goog-metadata-directive",
	.if_version = "x-goog-if-generation-match",
	.version = gcs_version,
	.sign = gcs_sign,
	.start = gcs_start,
	.part = gcs_part,
	.cancel = gcs_cancel,
};
