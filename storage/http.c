#include "storage/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

/* How long a store may take to accept a connection. */
#define CONNECT_TIMEOUT_MS 5000
/* Handles kept idle, with their connections: as many as a worker's
 * threads use at once, most of the time. */
#define POOL_SIZE 16

struct http_pool {
	pthread_mutex_t lock;
	CURL *idle[POOL_SIZE];
	size_t nidle;
};

/* A body read from a file, from its start at every try, and no further
 * than its length: the file may hold more. */
struct file_body {
	int fd;
	size_t at, len;
};

static size_t read_body(char *data, size_t size, size_t n, void *ctx)
{
	struct file_body *f = ctx;
	size_t want = size * n < f->len - f->at ? size * n : f->len - f->at;
	ssize_t got = want ? pread(f->fd, data, want, (off_t)f->at) : 0;

	if (got < 0 || (want && got == 0))
		return CURL_READFUNC_ABORT;
	f->at += (size_t)got;
	return (size_t)got;
}

/* On a kept connection that the store closed meanwhile, libcurl sends
 * the request again on a new one: the body from its start. */
static int rewind_body(void *ctx, curl_off_t offset, int origin)
{
	struct file_body *f = ctx;

	if (origin != SEEK_SET || offset < 0 || (size_t)offset > f->len)
		return CURL_SEEKFUNC_CANTSEEK;
	f->at = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t keep_body(char *data, size_t size, size_t n, void *ctx)
{
	struct http_exchange *x = ctx;

	size *= n;
	if (x->response.len + size > x->max_response || buf_append(&x->response, data, size) < 0)
		return 0;
	return size;
}

/* Copies a header's value, trimmed, when the line is that header. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	line += n + 1;
	len -= n + 1;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	if (len < outlen) {
		memcpy(out, line, len);
		out[len] = '\0';
	}
}

/* A header's time, when the line is that header and the time reads. */
static void header_time(const char *line, size_t len, const char *name, time_t *out)
{
	char value[64] = "";
	time_t when;

	header_value(line, len, name, value, sizeof value);
	if (value[0] && (when = curl_getdate(value, NULL)) > 0)
		*out = when;
}

static size_t keep_header(char *line, size_t size, size_t n, void *ctx)
{
	struct http_exchange *x = ctx;

	size *= n;
	header_value(line, size, "Location", x->location, sizeof x->location);
	header_value(line, size, "ETag", x->etag, sizeof x->etag);
	header_value(line, size, "x-goog-generation", x->generation, sizeof x->generation);
	header_time(line, size, "Date", &x->date);
	header_time(line, size, "Last-Modified", &x->modified);
	return size;
}

struct http_pool *http_pool_new(void)
{
	struct http_pool *pool = calloc(1, sizeof *pool);

	if (pool)
		pthread_mutex_init(&pool->lock, NULL);
	return pool;
}

void http_pool_free(struct http_pool *pool)
{
	if (!pool)
		return;
	while (pool->nidle)
		curl_easy_cleanup(pool->idle[--pool->nidle]);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

/* An idle handle, its options cleared but its connections kept, or a
 * new one. */
static CURL *take(struct http_pool *pool)
{
	CURL *curl = NULL;

	pthread_mutex_lock(&pool->lock);
	if (pool->nidle)
		curl = pool->idle[--pool->nidle];
	pthread_mutex_unlock(&pool->lock);
	if (!curl)
		return curl_easy_init();
	curl_easy_reset(curl);
	return curl;
}

static void give_back(struct http_pool *pool, CURL *curl)
{
	pthread_mutex_lock(&pool->lock);
	if (curl && pool->nidle < POOL_SIZE) {
		pool->idle[pool->nidle++] = curl;
		curl = NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	curl_easy_cleanup(curl);
}

/* What an answer fills in, cleared: a handle taken again must not show
 * the last exchange's. */
static void clear_answer(struct http_exchange *x)
{
	x->status = 0;
	x->length = 0;
	x->location[0] = x->etag[0] = x->generation[0] = '\0';
	x->date = x->modified = 0;
	x->response.len = 0;
	if (x->response.data)
		x->response.data[0] = '\0';
}

/* The request's headers, and none of curl's own defaults for a body: a
 * form's type, and a wait for "100 Continue" that stores answer slowly or
 * not at all. NULL without memory. */
static struct curl_slist *request_headers(const struct http_exchange *x)
{
	struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
	size_t i;

	if (headers && (x->body || x->body_file > 0))
		headers = curl_slist_append(headers, "Content-Type:");
	for (i = 0; headers && i < x->nheaders; i++)
		headers = curl_slist_append(headers, x->headers[i]);
	return headers;
}

static void set_options(CURL *curl, struct http_exchange *x, struct curl_slist *headers, struct file_body *file)
{
	curl_easy_setopt(curl, CURLOPT_URL, x->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, x->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, keep_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
	if (strcmp(x->method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, x->method);
	if (x->body_file > 0) {
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(curl, CURLOPT_READDATA, file);
		curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, rewind_body);
		curl_easy_setopt(curl, CURLOPT_SEEKDATA, file);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
	} else if (x->body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
	}
}

int http_perform(struct http_pool *pool, struct http_exchange *x, char *err, size_t errlen)
{
	struct file_body file = { x->body_file, 0, x->body_len };
	CURL *curl = take(pool);
	struct curl_slist *headers = request_headers(x);
	curl_off_t length = -1;
	CURLcode cc;
	int rc = 0;

	clear_answer(x);
	if (!curl || !headers) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	set_options(curl, x, headers, &file);
	cc = curl_easy_perform(curl);
	/* keep_body is the only writer that stops short. */
	if (cc == CURLE_WRITE_ERROR) {
		snprintf(err, errlen, "%s %s: the answer is longer than %zu bytes", x->method, x->url, x->max_response);
		rc = -EFBIG;
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		rc = -EHOSTUNREACH;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	x->length = length > 0 ? (uint64_t)length : 0;
out:
	curl_slist_free_all(headers);
	give_back(pool, curl);
	return rc;
}

void http_xml_text(const struct buf *xml, const char *tag, char *out, size_t len)
{
	char open[64], close[64];
	const char *start, *end;

	out[0] = '\0';
	if (!xml->data)
		return;
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	if (!(start = strstr(xml->data, open)))
		return;
	start += strlen(open);
	if (!(end = strstr(start, close)) || (size_t)(end - start) >= len || memchr(start, '<', (size_t)(end - start)) ||
	    memchr(start, '&', (size_t)(end - start)))
		return;
	memcpy(out, start, (size_t)(end - start));
	out[end - start] = '\0';
}
