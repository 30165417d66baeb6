/* How the bucket backends speak to the store: a request signed by the
 * store's own signer and sent, tried again after a pause while the store
 * is out of reach or busy, its answer's status turned into an error a
 * user can act on; and an object small enough to hold, with its version. */
#include "storage/bucket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

/* Tries of one request while the store is out of reach or busy, and the
 * first pause between two; it doubles each time (0.2 + 0.4 + 0.8 + 1.6 s). */
#define TRIES 5
#define FIRST_PAUSE_MS 200
/* Seconds for a request without a body, and the slowest upload allowed. */
#define CALL_TIMEOUT_S 15
#define MIN_BYTES_PER_S (256u << 10)
/* Answers kept in memory: XML documents and small blobs. */
#define MAX_ANSWER (4u << 20)

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

/* Copies the object's version an answer names, where the caller wants it. */
void bucket_keep_version(const struct bucket *b, const struct http_exchange *x, char *version)
{
	if (version)
		snprintf(version, STORAGE_VERSION_MAX, "%s", b->p->version(x));
}

/* An object small enough to hold in memory, into out, and its version
 * (unless version is NULL). */
int bucket_fetch(const struct bucket *b, const char *key, size_t max, struct buf *out, char *version,
		 char *err, size_t errlen)
{
	struct bucket_request rq = { .method = "GET", .key = key };
	struct http_exchange x = { 0 };
	int rc = bucket_call(b, &rq, &x, err, errlen);

	if (rc == 0 && x.response.len > max)
		rc = -EFBIG;
	bucket_keep_version(b, &x, rc == 0 ? version : NULL);
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
