#define _GNU_SOURCE   /* O_TMPFILE */
/* The bucket backends: blobs are objects layers/<hex>, as Nixery names
 * them, so that a bucket Nixery filled serves as it is. A blob is created
 * under its name in one step (a single PUT, or the copy of a finished
 * staging object), never written there in parts, so an upload cut short
 * leaves at most a staging object, which the bucket's lifecycle rule
 * removes. */
#include "storage/bucket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/log.h"

/* Parts of a large upload: S3 wants at least 5 MiB but for the last one,
 * GCS a multiple of 256 KiB. Smaller blobs are one PUT. */
#define PART_SIZE (5u << 20)
/* Tries of one request while the store is out of reach or busy, and the
 * first pause between two; it doubles each time (0.2 + 0.4 + 0.8 + 1.6 s). */
#define TRIES 5
#define FIRST_PAUSE_MS 200
/* Seconds for a request without a body, and the slowest upload allowed. */
#define CALL_TIMEOUT_S 15
#define MIN_BYTES_PER_S (256u << 10)
/* Answers kept in memory: XML documents and small blobs. */
#define MAX_ANSWER (4u << 20)
/* An object found in use after living this long is copied onto itself,
 * so that an age-based lifecycle rule (README: 30 days) removes only what
 * no host has used for weeks. */
#define RENEW_AGE (7 * 24 * 3600L)
/* A clock further off than this makes signed URLs fail. */
#define MAX_SKEW_S 300

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

static const struct storage_ops bucket_ops;

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The store's own words for a refusal: its XML error's Code and Message. */
static void refusal(const struct http_exchange *x, char *out, size_t len)
{
	char code[128], message[256];

	http_xml_text(&x->response, "Code", code, sizeof code);
	http_xml_text(&x->response, "Message", message, sizeof message);
	snprintf(out, len, "%ld%s%s%s%s", x->status, code[0] ? " " : "", code, message[0] ? ": " : "", message);
}

/* S3 may answer a copy or the completion of an upload with 200 and
 * fail it afterwards, in the body. */
static int failed_late(const struct http_exchange *x)
{
	return x->status == 200 && (strcmp(x->method, "POST") == 0 || strcmp(x->method, "PUT") == 0) &&
	       x->response.data && strstr(x->response.data, "<Error>");
}

int bucket_send(const struct bucket *b, const char *url, const char *what, struct http_exchange *x,
		char *err, size_t errlen)
{
	char why[512];
	long pause = FIRST_PAUSE_MS;
	int tries, rc = 0;

	x->url = url;
	x->max_response = MAX_ANSWER;
	x->timeout_ms = (CALL_TIMEOUT_S + (long)(x->body_len / MIN_BYTES_PER_S)) * 1000L;
	for (tries = 1;; tries++, pause *= 2) {
		rc = http_perform(b->http, x, why, sizeof why);
		if (rc == 0 && x->status < 400 && !failed_late(x))
			return 0;
		if (rc == 0)
			refusal(x, why, sizeof why);
		if ((rc == 0 && x->status < 500 && x->status != 429) || rc == -EFBIG || tries == TRIES)
			break;
		log_warn("%s bucket %s: %s %s: %s; trying again in %ld ms", b->p->name, b->name, x->method,
			 what, why, pause);
		pause_ms(pause);
	}
	if (rc < 0 || x->status >= 500 || x->status == 429) {
		snprintf(err, errlen, "the %s bucket %s cannot be reached or is busy (%s %s, %d tries: %s): try again later",
			 b->p->name, b->name, x->method, what, tries, why);
		return rc == -EFBIG ? rc : -EHOSTUNREACH;
	}
	if (x->status == 401 || x->status == 403) {
		snprintf(err, errlen, "the %s bucket %s refused the credentials for %s %s (%s): check the key and its "
			 "permissions on the bucket, and this machine's clock", b->p->name, b->name, x->method, what, why);
		return -EACCES;
	}
	snprintf(err, errlen, "the %s bucket %s refused %s %s (%s)", b->p->name, b->name, x->method, what, why);
	return x->status == 404 ? -ENOENT : x->status == 412 ? -EEXIST : -EIO;
}

struct sign_request bucket_sign_request(const struct bucket *b, const struct bucket_request *rq, long ttl)
{
	return (struct sign_request){
		.method = rq->method, .scheme = b->scheme, .host = b->host, .authority = b->authority,
		.bucket = b->path_style ? b->name : NULL, .object = rq->key, .when = time(NULL),
		.expires = ttl, .headers = rq->headers, .nheaders = rq->nheaders,
		.query = rq->query, .nquery = rq->nquery,
	};
}

int bucket_call(const struct bucket *b, const struct bucket_request *rq, struct http_exchange *x,
		char *err, size_t errlen)
{
	struct buf url = { 0 };
	const char *lines[9];
	char header[8][600], token[GCS_TOKEN_LINE];
	size_t i;
	int rc;

	if (rq->nheaders > sizeof header / sizeof *header) {
		snprintf(err, errlen, "too many headers");
		return -EINVAL;
	}
	for (i = 0; i < rq->nheaders; i++) {
		snprintf(header[i], sizeof header[i], "%s: %s", rq->headers[2 * i], rq->headers[2 * i + 1]);
		lines[i] = header[i];
	}
	if (b->gcs_token) {
		if ((rc = gcs_token_header(b->gcs_token, b->http, token, sizeof token, err, errlen)) < 0)
			return rc;
		lines[i++] = token;
	}
	x->method = rq->method;
	x->headers = lines;
	x->nheaders = i;
	x->body = rq->body;
	x->body_len = rq->body_len;
	x->body_file = rq->body_file;
	/* A signature that outlives every try and pause of the request. */
	if ((rc = b->p->sign(b, rq, 900, &url, err, errlen)) == 0)
		rc = bucket_send(b, url.data, rq->key ? rq->key : "/", x, err, errlen);
	x->headers = NULL;
	x->nheaders = 0;
	buf_free(&url);
	return rc;
}

static void blob_key(const char *hex, char key[DIGEST_HEX_LEN + 8])
{
	snprintf(key, DIGEST_HEX_LEN + 8, "layers/%s", hex);
}

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

	blob_key(hex, key);
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

	blob_key(hex, key);
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

static int op_begin(const struct storage *s, struct storage_writer **out, char *err, size_t errlen)
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
	w->base.ops = &bucket_ops;
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

static int op_put(const struct storage *s, const void *data, size_t len, const char *hex,
		  char *err, size_t errlen)
{
	const struct bucket *b = (const struct bucket *)s;
	int rc = put_object(b, hex, data, 0, len, err, errlen);

	return rc < 0 ? rc : b->local->ops->put(b->local, data, len, hex, err, errlen);
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
	blob_key(hex, key);
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

/* Copies the object's version an answer names, where the caller wants it. */
static void keep_version(const struct bucket *b, const struct http_exchange *x, char *version)
{
	if (version)
		snprintf(version, STORAGE_VERSION_MAX, "%s", b->p->version(x));
}

/* An object small enough to hold in memory, into out, and its version
 * (unless version is NULL). */
static int fetch(const struct bucket *b, const char *key, size_t max, struct buf *out, char *version,
		 char *err, size_t errlen)
{
	struct bucket_request rq = { .method = "GET", .key = key };
	struct http_exchange x = { 0 };
	int rc = bucket_call(b, &rq, &x, err, errlen);

	if (rc == 0 && x.response.len > max)
		rc = -EFBIG;
	keep_version(b, &x, rc == 0 ? version : NULL);
	if (rc == 0) {
		buf_free(out);
		*out = x.response;
		if (!out->data && buf_append(out, "", 0) < 0)
			rc = -ENOMEM;
	} else {
		buf_free(&x.response);
	}
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
	blob_key(hex, key);
	if ((rc = fetch(b, key, max, out, NULL, err, sizeof err)) < 0) {
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
	blob_key(hex, key);
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

static int op_record_get(const struct storage *s, const char *key, size_t max, struct buf *out,
			 char *version, char *err, size_t errlen)
{
	return fetch((const struct bucket *)s, key, max, out, version, err, errlen);
}

static int op_record_put(const struct storage *s, const char *key, const char *text, int create_only,
			 char *version, char *err, size_t errlen)
{
	const struct bucket *b = (const struct bucket *)s;
	struct bucket_request rq = { .method = "PUT", .key = key, .headers = b->p->create_only,
				     .nheaders = create_only ? 1 : 0, .body = text, .body_len = strlen(text) };
	struct http_exchange x = { 0 };
	int rc = bucket_call(b, &rq, &x, err, errlen);

	keep_version(b, &x, rc == 0 ? version : NULL);
	buf_free(&x.response);
	return rc;
}

/* 412: the record is another version now (GCS, S3); 404: gone already. */
static int op_record_remove(const struct storage *s, const char *key, const char *version,
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

int bucket_open(const struct config *cfg, int existing, struct storage **out, char *err, size_t errlen)
{
	struct bucket *b = calloc(1, sizeof *b);
	char endpoint[300];
	int rc = 0;

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
	if (cfg->storage == STORAGE_GCS) {
		b->p = &bucket_gcs;
		b->path_style = 1;
		snprintf(b->name, sizeof b->name, "%s", cfg->gcs_bucket);
		/* Google's libraries take a bare host:port as plain HTTP. */
		set_endpoint(b, cfg->gcs_endpoint ? cfg->gcs_endpoint : "https://storage.googleapis.com", "http", 1);
		/* Without a key file, as Google's libraries on its machines: the
		 * metadata server's token, and redirects to public URLs. */
		b->presigned = cfg->gcs_credentials != NULL;
		if (b->presigned)
			rc = gcs_signer_load(cfg->gcs_credentials, &b->gcs, err, errlen);
		else if (!(b->gcs_token = gcs_token_new(cfg->gcs_metadata_host ? cfg->gcs_metadata_host
								       : "metadata.google.internal"))) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
	} else {
		b->p = &bucket_s3;
		b->presigned = cfg->s3_presigned;
		b->path_style = cfg->s3_path_style;
		snprintf(b->name, sizeof b->name, "%s", cfg->s3_bucket);
		snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com", cfg->s3_region);
		set_endpoint(b, cfg->s3_endpoint ? cfg->s3_endpoint : endpoint, "https", 0);
		/* The credentials are the settings', which outlive the storage. */
		b->s3 = (struct s3_credentials){ cfg->s3_access_key, cfg->s3_secret_key, cfg->s3_region };
		rc = b->path_style ? 0 : name_bucket_in_host(b, err, errlen);
	}
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
	.begin = op_begin,
	.write = op_write,
	.commit = op_commit,
	.discard = op_discard,
	.put = op_put,
	.keep = op_keep,
	.each = op_each,
	.remove = op_remove,
	.probe = op_probe,
	.record_get = op_record_get,
	.record_put = op_record_put,
	.record_remove = op_record_remove,
	.local_root = op_local_root,
	.remote = 1,
};
