/* The records hosts sharing a bucket read and write (storage.h): small
 * objects under an image's key, created only where none is (a claim), and
 * removed only while they are the version read. */
#include "storage/bucket.h"

#include <errno.h>
#include <string.h>

int bucket_record_get(const struct storage *s, const char *key, size_t max, struct buf *out,
		      char *version, char *err, size_t errlen)
{
	return bucket_fetch((const struct bucket *)s, key, max, out, version, err, errlen);
}

int bucket_record_put(const struct storage *s, const char *key, const char *text, int create_only,
		      char *version, char *err, size_t errlen)
{
	const struct bucket *b = (const struct bucket *)s;
	struct bucket_request rq = { .method = "PUT", .key = key, .headers = b->p->create_only,
				     .nheaders = create_only ? 1 : 0, .body = text, .body_len = strlen(text) };
	struct http_exchange x = { 0 };
	int rc = bucket_call(b, &rq, &x, err, errlen);

	bucket_keep_version(b, &x, rc == 0 ? version : NULL);
	buf_free(&x.response);
	return rc;
}

/* 412: the record is another version now (GCS, S3); 404: gone already. */
int bucket_record_remove(const struct storage *s, const char *key, const char *version,
			 char *err, size_t errlen)
{
	const struct bucket *b = (const struct bucket *)s;
	const char *headers[] = { b->p->if_version, version };
	struct bucket_request rq = { .method = "DELETE", .key = key, .headers = headers, .nheaders = 1 };
	struct http_exchange x = { 0 };
	int rc = bucket_call(b, &rq, &x, err, errlen);

	buf_free(&x.response);
	return rc == -ENOENT ? 0 : rc;
}
