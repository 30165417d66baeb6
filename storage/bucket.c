/* The bucket backends: blobs are objects layers/<hex>, as Nixery names
 * them, so that a bucket Nixery filled serves as it is. Clients are sent
 * to a blob's object by a signed URL, kept for reuse while most of its life
 * is left; small blobs are kept under STORAGE_PATH too, so that reading one
 * costs no round trip. How a request reaches the store: bucket_call.c; how
 * a blob is written: bucket_writer.c; the hosts' records:
 * bucket_records.c. */
#include "storage/bucket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

/* An object found in use after living this long is copied onto itself,
 * so that an age-based lifecycle rule (README: 30 days) removes only what
 * no host has used for weeks. */
#define RENEW_AGE (7 * 24 * 3600L)
/* A clock further off than this makes signed URLs fail. */
#define MAX_SKEW_S 300

static const struct storage_ops bucket_ops;

void bucket_blob_key(const char *hex, char key[DIGEST_HEX_LEN + 8])
{
	snprintf(key, DIGEST_HEX_LEN + 8, "layers/%s", hex);
}

static int op_keep(const struct storage *s, const void *data, size_t len, const char *hex,
		   char *err, size_t errlen)
{
	const struct bucket *b = (const struct bucket *)s;

	return b->local->ops->put(b->local, data, len, hex, err, errlen);
}

/* Gives an object in use a new age: a copy onto itself. */
static void renew_object(const struct bucket *b, const char *key)
{
	char source[400], err[1024];
	const char *headers[] = { b->p->copy_source, source, b->p->metadata_directive, "REPLACE" };
	struct bucket_request rq = { .method = "PUT", .key = key, .headers = headers, .nheaders = 2, .body = "" };
	struct http_exchange x = { 0 };

	snprintf(source, sizeof source, "/%s/%s", b->name, key);
	if (bucket_call(b, &rq, &x, err, sizeof err) < 0)
		log_warn("cannot renew %s in the bucket, which its lifecycle rule may then remove: %s", key, err);
	else
		log_info("renewed %s in the bucket: it had lived a week", key);
	buf_free(&x.response);
}

static int op_check(const struct storage *s, const char *hex, uint64_t size)
{
	const struct bucket *b = (const struct bucket *)s;
	char key[DIGEST_HEX_LEN + 8], err[1024];
	struct bucket_request rq = { .method = "HEAD", .key = key };
	struct http_exchange x = { 0 };
	int rc;

	if (b->local->ops->check(b->local, hex, size) == 0)
		return 0;
	bucket_blob_key(hex, key);
	if ((rc = bucket_call(b, &rq, &x, err, sizeof err)) == 0 && x.length != size)
		rc = -EIO;
	if (rc < 0 && rc != -ENOENT)
		log_warn("%s", err);
	/* By the store's clock, which its lifecycle rule goes by. */
	if (rc == 0 && x.modified && (x.date ? x.date : time(NULL)) - x.modified > RENEW_AGE)
		renew_object(b, key);
	buf_free(&x.response);
	return rc;
}

/* A small blob: the copy here, else the bucket's, kept here after. */
static int op_read(const struct storage *s, const char *hex, size_t max, struct buf *out)
{
	const struct bucket *b = (const struct bucket *)s;
	char key[DIGEST_HEX_LEN + 8], got[DIGEST_HEX_LEN + 1], err[1024];
	int rc = b->local->ops->read(b->local, hex, max, out);

	if (rc == 0 || rc == -EFBIG)
		return rc;
	bucket_blob_key(hex, key);
	if ((rc = bucket_fetch(b, key, max, out, NULL, err, sizeof err)) < 0) {
		if (rc != -ENOENT)
			log_warn("%s", err);
		return rc;
	}
	if ((rc = digest_hex(out->data, out->len, got)) < 0)
		return rc;
	if (strcmp(got, hex) != 0)
		return -EIO;
	if (b->local->ops->put(b->local, out->data, out->len, got, err, sizeof err) < 0)
		log_warn("%s", err);
	return 0;
}

static int op_locate(const struct storage *s, const char *hex, struct storage_location *loc,
		     char *err, size_t errlen)
{
	struct bucket *b = (struct bucket *)s;
	char head[4] = { hex[0], hex[1], hex[2], '\0' };
	struct bucket_url *u = &b->urls[strtoul(head, NULL, 16) % BUCKET_URL_CACHE];
	char key[DIGEST_HEX_LEN + 8];
	struct bucket_request rq = { .method = "GET", .key = key };
	struct buf url = { 0 };
	time_t now = time(NULL);
	int rc = 0;

	loc->redirect = 1;
	bucket_blob_key(hex, key);
	if (!b->presigned) {
		snprintf(loc->target, sizeof loc->target, "%s://%s/%s%s%s", b->scheme, b->authority,
			 b->path_style ? b->name : "", b->path_style ? "/" : "", key);
		return 0;
	}
	/* An RSA signature costs a millisecond: a URL is given again while
	 * most of its life is left. */
	pthread_mutex_lock(&b->lock);
	if (u->url && strcmp(u->hex, hex) == 0 && now - u->signed_at < b->ttl / 2) {
		snprintf(loc->target, sizeof loc->target, "%s", u->url);
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	pthread_mutex_unlock(&b->lock);
	if ((rc = b->p->sign(b, &rq, b->ttl, &url, err, errlen)) < 0)
		goto out;
	snprintf(loc->target, sizeof loc->target, "%s", url.data);
	pthread_mutex_lock(&b->lock);
	free(u->url);
	u->url = url.data;
	url.data = NULL;
	u->signed_at = now;
	snprintf(u->hex, sizeof u->hex, "%s", hex);
	pthread_mutex_unlock(&b->lock);
out:
	buf_free(&url);
	return rc;
}

/* The garbage collector sees the copies here; the bucket's objects are
 * its lifecycle rule's. */
static int op_each(const struct storage *s, storage_blob_fn fn, void *ctx)
{
	const struct storage *local = ((const struct bucket *)s)->local;

	return local->ops->each(local, fn, ctx);
}

static int op_remove(const struct storage *s, const char *hex)
{
	const struct storage *local = ((const struct bucket *)s)->local;

	return local->ops->remove(local, hex);
}

static const char *op_local_root(const struct storage *s)
{
	const struct storage *local = ((const struct bucket *)s)->local;

	return local->ops->local_root(local);
}

/* Writes and removes an object, and compares the clocks. */
static int op_probe(const struct storage *s, struct buf *out)
{
	const struct bucket *b = (const struct bucket *)s;
	const char *key = "staging/probe";
	struct bucket_request put = { .method = "PUT", .key = key, .body = "probe", .body_len = 5 };
	struct bucket_request drop = { .method = "DELETE", .key = key };
	struct http_exchange x = { 0 };
	char err[1024];
	long skew;
	int problems = 0, rc = bucket_call(b, &put, &x, err, sizeof err);

	if (rc == -ENOENT) {
		buf_printf(out, "the %s bucket %s does not exist at %s: create it, or correct the bucket's name or %s\n",
			   b->p->name, b->name, b->authority, b->p->endpoint_setting);
		problems++;
	} else if (rc < 0) {
		buf_printf(out, "%s\n", err);
		problems++;
	} else if ((rc = bucket_call(b, &drop, &x, err, sizeof err)) < 0) {
		buf_printf(out, "%s: the key must be allowed to delete objects (staging objects, once copied)\n", err);
		problems++;
	}
	skew = x.date ? (long)(time(NULL) - x.date) : 0;
	if (skew > MAX_SKEW_S || skew < -MAX_SKEW_S) {
		buf_printf(out, "this machine's clock is %ld seconds %s the %s bucket's: signed URLs fail; set the clock "
			   "(systemd-timesyncd, chrony)\n", labs(skew), skew > 0 ? "ahead of" : "behind", b->p->name);
		problems++;
	}
	buf_free(&x.response);
	return problems;
}

static void op_close(struct storage *s)
{
	struct bucket *b = (struct bucket *)s;
	size_t i;

	for (i = 0; i < BUCKET_URL_CACHE; i++)
		free(b->urls[i].url);
	pthread_mutex_destroy(&b->lock);
	if (b->local)
		b->local->ops->close(b->local);
	gcs_signer_free(b->gcs);
	gcs_token_free(b->gcs_token);
	http_pool_free(b->http);
	free(b);
}

/* scheme://authority from an endpoint setting (a bare host:port gets
 * fallback_scheme), and the host as signed: the port left out where it
 * is the scheme's, or always (drop_port, Google's libraries). */
static void set_endpoint(struct bucket *b, const char *endpoint, const char *fallback_scheme, int drop_port)
{
	const char *sep = strstr(endpoint, "://");
	char *colon;

	snprintf(b->scheme, sizeof b->scheme, "%.*s", sep ? (int)(sep - endpoint) : 5, sep ? endpoint : fallback_scheme);
	snprintf(b->authority, sizeof b->authority, "%s", sep ? sep + 3 : endpoint);
	snprintf(b->host, sizeof b->host, "%s", b->authority);
	colon = strrchr(b->host, ':');
	if (colon && !strchr(colon, ']') &&
	    (drop_port || (strcmp(b->scheme, "http") == 0 && strcmp(colon, ":80") == 0) ||
	     (strcmp(b->scheme, "https") == 0 && strcmp(colon, ":443") == 0)))
		*colon = '\0';
}

/* Virtual-hosted style: the bucket's name before the host. */
static int name_bucket_in_host(struct bucket *b, char *err, size_t errlen)
{
	size_t name = strlen(b->name);

	if (name + 1 + strlen(b->authority) >= sizeof b->authority) {
		snprintf(err, errlen, "the S3 bucket's name and host are too long together: set S3_FORCE_PATH_STYLE=true");
		return -ENAMETOOLONG;
	}
	memmove(b->host + name + 1, b->host, strlen(b->host) + 1);
	memmove(b->authority + name + 1, b->authority, strlen(b->authority) + 1);
	memcpy(b->host, b->name, name);
	memcpy(b->authority, b->name, name);
	b->host[name] = b->authority[name] = '.';
	return 0;
}

/* Google Cloud Storage as the settings name it. */
static int set_gcs(struct bucket *b, const struct config *cfg, char *err, size_t errlen)
{
	b->p = &bucket_gcs;
	b->path_style = 1;
	snprintf(b->name, sizeof b->name, "%s", cfg->gcs_bucket);
	/* Google's libraries take a bare host:port as plain HTTP. */
	set_endpoint(b, cfg->gcs_endpoint ? cfg->gcs_endpoint : "https://storage.googleapis.com", "http", 1);
	/* Without a key file, as Google's libraries on its machines: the
	 * metadata server's token, and redirects to public URLs. */
	b->presigned = cfg->gcs_credentials != NULL;
	if (b->presigned)
		return gcs_signer_load(cfg->gcs_credentials, &b->gcs, err, errlen);
	if (!(b->gcs_token = gcs_token_new(cfg->gcs_metadata_host ? cfg->gcs_metadata_host
								 : "metadata.google.internal"))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* An S3 bucket as the settings name it. */
static int set_s3(struct bucket *b, const struct config *cfg, char *err, size_t errlen)
{
	char endpoint[300];

	b->p = &bucket_s3;
	b->presigned = cfg->s3_presigned;
	b->path_style = cfg->s3_path_style;
	snprintf(b->name, sizeof b->name, "%s", cfg->s3_bucket);
	snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com", cfg->s3_region);
	set_endpoint(b, cfg->s3_endpoint ? cfg->s3_endpoint : endpoint, "https", 0);
	/* The credentials are the settings', which outlive the storage. */
	b->s3 = (struct s3_credentials){ cfg->s3_access_key, cfg->s3_secret_key, cfg->s3_region };
	return b->path_style ? 0 : name_bucket_in_host(b, err, errlen);
}

int bucket_open(const struct config *cfg, int existing, struct storage **out, char *err, size_t errlen)
{
	struct bucket *b = calloc(1, sizeof *b);
	int rc;

	*out = NULL;
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->base.ops = &bucket_ops;
	b->ttl = cfg->signed_url_ttl;
	pthread_mutex_init(&b->lock, NULL);
	if (!(b->http = http_pool_new())) {
		snprintf(err, errlen, "out of memory");
		op_close(&b->base);
		return -ENOMEM;
	}
	rc = cfg->storage == STORAGE_GCS ? set_gcs(b, cfg, err, errlen) : set_s3(b, cfg, err, errlen);
	if (rc == 0)
		rc = (existing ? filesystem_open_existing : filesystem_open)(cfg->storage_path, &b->local, err, errlen);
	snprintf(b->spool, sizeof b->spool, "%s/tmp", cfg->storage_path);
	if (rc < 0) {
		op_close(&b->base);
		return rc;
	}
	*out = &b->base;
	return 0;
}

static const struct storage_ops bucket_ops = {
	.close = op_close,
	.locate = op_locate,
	.check = op_check,
	.read = op_read,
	.begin = bucket_begin,
	.put = bucket_put,
	.keep = op_keep,
	.each = op_each,
	.remove = op_remove,
	.probe = op_probe,
	.record_get = bucket_record_get,
	.record_put = bucket_record_put,
	.record_remove = bucket_record_remove,
	.local_root = op_local_root,
	.remote = 1,
};
