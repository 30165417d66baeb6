/* Blobs written to a bucket: a small one in one PUT, a large one in parts
 * to a staging object (its pages waiting in a file with no name), which
 * is then copied under the blob's name. A blob is created under its name
 * in one step, never written there in parts: an upload cut short leaves at
 * most a staging object, which the bucket's lifecycle rule removes. */
#define _GNU_SOURCE   /* O_TMPFILE */
#include "storage/bucket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/log.h"

/* Parts of a large upload: S3 wants at least 5 MiB but for the last one,
 * GCS a multiple of 256 KiB. Smaller blobs are one PUT. */
#define PART_SIZE (5u << 20)

static const struct storage_ops writer_ops;

/* A blob being written waits in a file with no name, a part at a time:
 * its pages are the kernel's cache, not the worker's memory. */
struct bucket_writer {
	struct storage_writer base;
	const struct bucket *b;
	int spool;                    /* PART_SIZE bytes at most, not sent yet */
	size_t len;
	int started;
	struct bucket_upload up;
};

/* Sends a blob, held in memory or in file, to layers/<hex>, unless it is
 * there. */
static int put_object(const struct bucket *b, const char *hex, const void *data, int file, size_t len,
		      char *err, size_t errlen)
{
	char key[DIGEST_HEX_LEN + 8];
	struct bucket_request rq = { .method = "PUT", .key = key, .headers = b->p->create_only, .nheaders = 1,
				     .body = data, .body_len = len, .body_file = file };
	struct http_exchange x = { 0 };
	int rc;

	bucket_blob_key(hex, key);
	rc = bucket_call(b, &rq, &x, err, errlen);
	buf_free(&x.response);
	return rc == -EEXIST ? 0 : rc;
}

/* The blob from a finished staging object: a copy in the store. */
static int copy_object(const struct bucket *b, const char *from, const char *hex, char *err, size_t errlen)
{
	char key[DIGEST_HEX_LEN + 8], source[400];
	const char *headers[] = { b->p->create_only[0], b->p->create_only[1], b->p->copy_source, source };
	struct bucket_request rq = { .method = "PUT", .key = key, .headers = headers, .nheaders = 2, .body = "" };
	struct bucket_request drop = { .method = "DELETE", .key = from };
	struct http_exchange x = { 0 };
	char ignored[512];
	int rc;

	bucket_blob_key(hex, key);
	snprintf(source, sizeof source, "/%s/%s", b->name, from);
	rc = bucket_call(b, &rq, &x, err, errlen);
	if (rc == -EEXIST)
		rc = 0;
	/* Left behind, the lifecycle rule removes it. */
	if (bucket_call(b, &drop, &x, ignored, sizeof ignored) < 0)
		log_warn("%s", ignored);
	buf_free(&x.response);
	return rc;
}

int bucket_begin(const struct storage *s, struct storage_writer **out, char *err, size_t errlen)
{
	const struct bucket *b = (const struct bucket *)s;
	struct bucket_writer *w = calloc(1, sizeof *w);

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((w->spool = open(b->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "cannot write a blob under STORAGE_PATH (%s): %s", b->spool, strerror(errno));
		free(w);
		return errno == ENOSPC || errno == EDQUOT ? -ENOSPC : -EIO;
	}
	w->base.ops = &writer_ops;
	w->b = b;
	*out = &w->base;
	return 0;
}

/* Sends the part held, the first one after starting the upload. */
static int send_part(struct bucket_writer *w, int last, char *err, size_t errlen)
{
	unsigned char random[16];
	size_t i;
	int rc;

	if (!w->started) {
		if (RAND_bytes(random, sizeof random) != 1) {
			snprintf(err, errlen, "no random bytes for a staging object's name");
			return -EIO;
		}
		strcpy(w->up.key, "staging/");
		for (i = 0; i < sizeof random; i++)
			sprintf(w->up.key + strlen(w->up.key), "%02x", random[i]);
		if ((rc = w->b->p->start(w->b, &w->up, err, errlen)) < 0)
			return rc;
		w->started = 1;
	}
	if ((rc = w->b->p->part(w->b, &w->up, w->spool, w->len, last, err, errlen)) < 0)
		return rc;
	w->up.offset += w->len;
	w->up.parts++;
	w->len = 0;
	return 0;
}

static int op_write(struct storage_writer *sw, const void *data, size_t len, char *err, size_t errlen)
{
	struct bucket_writer *w = (struct bucket_writer *)sw;
	const char *p = data;
	int rc;

	while (len > 0) {
		size_t n = PART_SIZE - w->len < len ? PART_SIZE - w->len : len;
		ssize_t done;

		/* A full part is sent once more follows: the last is never empty. */
		if (n == 0) {
			if ((rc = send_part(w, 0, err, errlen)) < 0)
				return rc;
			continue;
		}
		if ((done = pwrite(w->spool, p, n, (off_t)w->len)) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot write a blob under STORAGE_PATH (%s): %s", w->b->spool,
				 strerror(errno));
			return errno == ENOSPC || errno == EDQUOT ? -ENOSPC : -EIO;
		}
		w->len += (size_t)done;
		p += done;
		len -= (size_t)done;
	}
	return 0;
}

static void op_discard(struct storage_writer *sw)
{
	struct bucket_writer *w = (struct bucket_writer *)sw;

	if (!w)
		return;
	if (w->started)
		w->b->p->cancel(w->b, &w->up);
	buf_free(&w->up.done);
	close(w->spool);
	free(w);
}

static int op_commit(struct storage_writer *sw, const char *hex, char *err, size_t errlen)
{
	struct bucket_writer *w = (struct bucket_writer *)sw;
	int rc;

	if (!w->started) {
		rc = put_object(w->b, hex, NULL, w->spool, w->len, err, errlen);
	} else if ((rc = send_part(w, 1, err, errlen)) == 0) {
		w->started = 0;
		rc = copy_object(w->b, w->up.key, hex, err, errlen);
	}
	op_discard(sw);
	return rc;
}

int bucket_put(const struct storage *s, const void *data, size_t len, const char *hex,
	       char *err, size_t errlen)
{
	const struct bucket *b = (const struct bucket *)s;
	int rc = put_object(b, hex, data, 0, len, err, errlen);

	return rc < 0 ? rc : b->local->ops->put(b->local, data, len, hex, err, errlen);
}

/* A writer's own operations: the storage's are the bucket's (bucket.c). */
static const struct storage_ops writer_ops = {
	.write = op_write,
	.commit = op_commit,
	.discard = op_discard,
};
