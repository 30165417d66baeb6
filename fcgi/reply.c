#include "fcgi/reply.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

void reply_error(struct reply *r, int status, const char *code, const char *message,
		 void *detail)
{
	cJSON *root = cJSON_CreateObject(), *errors, *e;
	char *json = NULL;

	if (root && (errors = cJSON_AddArrayToObject(root, "errors")) &&
	    (e = cJSON_CreateObject()) && cJSON_AddItemToArray(errors, e) &&
	    cJSON_AddStringToObject(e, "code", code) && cJSON_AddStringToObject(e, "message", message)) {
		if (detail && cJSON_AddItemToObject(e, "detail", detail))
			detail = NULL;
		json = cJSON_PrintUnformatted(root);
	}
	cJSON_Delete(detail);
	cJSON_Delete(root);
	reply_json(r, status, json ? json : "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"out of memory\"}]}");
	cJSON_free(json);
}

void reply_json(struct reply *r, int status, const char *json)
{
	r->status = status;
	snprintf(r->content_type, sizeof r->content_type, "application/json");
	r->body.len = 0;
	buf_append(&r->body, json, strlen(json));
}

void reply_free(struct reply *r)
{
	buf_free(&r->body);
}

/* Whether the list of entity tags (If-None-Match) names etag, weakly
 * compared: "*" names any. */
static int etag_listed(const char *list, const char *etag)
{
	size_t len = strlen(etag);
	const char *p = list;

	while (*p) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, len) == 0 && (p[len] == '\0' || strchr(" \t,", p[len])))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

/* Digits at *p (at most 19: no overflow), their value in *v; *p moves
 * past them. 0 when there were none. */
static int digits(const char **p, uint64_t *v)
{
	int n = 0;

	*v = 0;
	while (**p >= '0' && **p <= '9' && n < 19) {
		*v = *v * 10 + (uint64_t)(**p - '0');
		(*p)++;
		n++;
	}
	return n > 0 && !(**p >= '0' && **p <= '9');
}

/* One range of "bytes=first-last", "bytes=first-" or "bytes=-suffix" in
 * out: 206, 416 when it has no byte of the blob, 200 (the whole blob)
 * for anything else, as HTTP has a range it cannot read ignored. */
static int byte_range(const char *range, uint64_t size, struct reply_blob *out)
{
	const char *p = range;
	uint64_t first = 0, last = UINT64_MAX, suffix = 0;
	int is_suffix;

	if (strncmp(p, "bytes=", 6) != 0)
		return 200;
	p += 6 + strspn(p + 6, " \t");
	if ((is_suffix = *p == '-')) {
		p++;
		if (!digits(&p, &suffix))
			return 200;
	} else {
		if (!digits(&p, &first) || *p++ != '-')
			return 200;
		if (*p >= '0' && *p <= '9' && (!digits(&p, &last) || last < first))
			return 200;
	}
	if (p[strspn(p, " \t")] != '\0')
		return 200;
	if (is_suffix) {
		if (suffix == 0 || size == 0)
			return 416;
		first = suffix >= size ? 0 : size - suffix;
	} else if (first >= size) {
		return 416;
	}
	if (last >= size)
		last = size - 1;
	out->offset = first;
	out->length = last - first + 1;
	return 206;
}

void reply_blob_plan(const char *hex, uint64_t size, time_t mtime, const struct reply_conditions *c,
		     struct reply_blob *out)
{
	struct tm tm;
	time_t since;

	memset(out, 0, sizeof *out);
	out->status = 200;
	out->length = size;
	snprintf(out->etag, sizeof out->etag, "\"sha256:%s\"", hex);
	if (gmtime_r(&mtime, &tm))
		strftime(out->last_modified, sizeof out->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	/* If-None-Match decides when it is there; If-Modified-Since only
	 * when it is not (RFC 9110, 13.2.2). */
	if (c->if_none_match) {
		if (etag_listed(c->if_none_match, out->etag))
			out->status = 304;
	} else if (c->if_modified_since && (since = curl_getdate(c->if_modified_since, NULL)) != -1 &&
		   mtime <= since) {
		out->status = 304;
	}
	if (out->status != 200 || !c->range)
		return;
	/* A range of another version than the one the client holds is no
	 * use to it: then the whole blob (If-Range, strongly compared). */
	if (c->if_range && (c->if_range[0] == '"' || strncmp(c->if_range, "W/", 2) == 0 ?
			    strcmp(c->if_range, out->etag) != 0 : curl_getdate(c->if_range, NULL) != mtime))
		return;
	out->status = byte_range(c->range, size, out);
	if (out->status == 206)
		snprintf(out->content_range, sizeof out->content_range, "bytes %llu-%llu/%llu",
			 (unsigned long long)out->offset, (unsigned long long)(out->offset + out->length - 1),
			 (unsigned long long)size);
	else if (out->status == 416)
		snprintf(out->content_range, sizeof out->content_range, "bytes */%llu", (unsigned long long)size);
	if (out->status != 206)
		out->offset = 0, out->length = out->status == 416 ? 0 : size;
}
