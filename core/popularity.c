#include "core/popularity.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "core/buf.h"
#include "core/log.h"

#define MAX_DOWNLOAD (64u << 20)
#define DOWNLOAD_TIMEOUT_S 60L

struct entry {
	const char *name;
	uint64_t count;
};

struct popularity {
	struct entry *entries;     /* sorted by name */
	size_t n;
	char *names;               /* the strings entries point into */
	int refs;                  /* guarded by the source's mutex */
};

struct popularity_source {
	char *url;
	int ttl;
	pthread_mutex_t lock;
	struct popularity *current;
	time_t checked;            /* last download attempt */
	int refreshing;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

int popularity_parse(const char *json, struct popularity **out, char *err, size_t errlen)
{
	cJSON *root = cJSON_Parse(json), *item;
	struct popularity *p = NULL;
	size_t bytes = 0, i = 0;
	char *cursor;

	*out = NULL;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object of name-version to count");
		goto fail;
	}
	cJSON_ArrayForEach(item, root) {
		/* Whole, and exact as a double: beyond 2^53 a count means nothing,
		 * and beyond 2^64 it would not even convert. */
		double v = cJSON_IsNumber(item) ? item->valuedouble : -1;

		if (!(v >= 0 && v <= 9007199254740992.0 && v == (double)(uint64_t)v)) {
			snprintf(err, errlen, "the count of '%.100s' is not a whole number from 0 to 2^53",
				 item->string);
			goto fail;
		}
		bytes += strlen(item->string) + 1;
	}
	p = calloc(1, sizeof *p);
	if (!p || !(p->entries = calloc((size_t)cJSON_GetArraySize(root) + 1, sizeof *p->entries)) ||
	    !(p->names = malloc(bytes + 1))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	cursor = p->names;
	cJSON_ArrayForEach(item, root) {
		size_t len = strlen(item->string) + 1;

		memcpy(cursor, item->string, len);
		p->entries[i].name = cursor;
		p->entries[i].count = (uint64_t)item->valuedouble;
		cursor += len;
		i++;
	}
	p->n = i;
	qsort(p->entries, p->n, sizeof *p->entries, cmp_entry);
	cJSON_Delete(root);
	*out = p;
	return 0;
fail:
	cJSON_Delete(root);
	popularity_free(p);
	return -EINVAL;
}

uint64_t popularity_lookup(void *ctx, const char *name)
{
	struct popularity *p = ctx;
	struct entry key = { .name = name }, *hit;

	if (!p)
		return 1;
	hit = bsearch(&key, p->entries, p->n, sizeof key, cmp_entry);
	return hit && hit->count ? hit->count : 1;
}

size_t popularity_count(const struct popularity *p)
{
	return p ? p->n : 0;
}

void popularity_free(struct popularity *p)
{
	if (!p)
		return;
	free(p->entries);
	free(p->names);
	free(p);
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	if (b->len + size * n > MAX_DOWNLOAD || buf_append(b, data, size * n) < 0)
		return 0;
	return size * n;
}

/* Reads the data at url into b (NUL-terminated). */
static int download(const char *url, struct buf *b, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "", file_url[4096];
	CURL *curl = curl_easy_init();
	CURLcode rc;

	if (!curl) {
		snprintf(err, errlen, "cannot start libcurl");
		return -ENOMEM;
	}
	if (url[0] == '/') {
		snprintf(file_url, sizeof file_url, "file://%s", url);
		url = file_url;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, DOWNLOAD_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(curl);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
		return -EIO;
	}
	return buf_append(b, "", 0);
}

int popularity_source_new(const char *url, int ttl, struct popularity_source **out)
{
	struct popularity_source *src = calloc(1, sizeof *src);

	*out = NULL;
	if (!src)
		return -ENOMEM;
	if (url && *url && !(src->url = strdup(url))) {
		free(src);
		return -ENOMEM;
	}
	src->ttl = ttl;
	pthread_mutex_init(&src->lock, NULL);
	*out = src;
	return 0;
}

static void unref(struct popularity *p)
{
	if (p && --p->refs == 0)
		popularity_free(p);
}

void popularity_source_free(struct popularity_source *src)
{
	if (!src)
		return;
	unref(src->current);
	pthread_mutex_destroy(&src->lock);
	free(src->url);
	free(src);
}

/* Downloads and parses; on failure says once what goes on without it. */
static struct popularity *load(const char *url, int have_previous)
{
	struct popularity *p = NULL;
	struct buf b = { 0 };
	char err[512];

	if (download(url, &b, err, sizeof err) < 0 || popularity_parse(b.data, &p, err, sizeof err) < 0)
		log_warn("cannot use popularity data from %s (%s): layering goes on with %s", url, err,
			 have_previous ? "the data loaded before" : "popularity 1 for every path");
	else
		log_info("popularity data from %s: %zu paths", url, p->n);
	buf_free(&b);
	return p;
}

struct popularity *popularity_acquire(struct popularity_source *src)
{
	struct popularity *p, *fresh;
	time_t now = time(NULL);

	if (!src || !src->url)
		return NULL;
	pthread_mutex_lock(&src->lock);
	/* The first load happens under the lock: every build waits for it, so
	 * no image is laid out without data that is only seconds away. Later
	 * refreshes run unlocked, and builds use the table they replace. */
	if (src->checked == 0) {
		src->checked = now;
		if ((fresh = load(src->url, 0))) {
			fresh->refs = 1;
			src->current = fresh;
		}
	} else if (!src->refreshing && now - src->checked >= src->ttl) {
		src->refreshing = 1;
		src->checked = now;
		p = src->current;
		pthread_mutex_unlock(&src->lock);
		fresh = load(src->url, p != NULL);
		pthread_mutex_lock(&src->lock);
		src->refreshing = 0;
		if (fresh) {
			fresh->refs = 1;
			unref(src->current);
			src->current = fresh;
		}
	}
	p = src->current;
	if (p)
		p->refs++;
	pthread_mutex_unlock(&src->lock);
	return p;
}

void popularity_release(struct popularity_source *src, struct popularity *p)
{
	if (!src || !p)
		return;
	pthread_mutex_lock(&src->lock);
	unref(p);
	pthread_mutex_unlock(&src->lock);
}
