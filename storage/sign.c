/* Canonical requests for presigned URLs. Percent-encoding is RFC 3986's
 * (libcurl's: all but A-Z a-z 0-9 - . _ ~), with '/' kept in paths. */
#include "storage/sign.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/digest.h"

/* s percent-encoded, in memory of the C library's. */
static char *escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, (int)strlen(s)), *copy = e ? strdup(e) : NULL;

	curl_free(e);
	return copy;
}

static int escape_into(struct buf *b, const char *s)
{
	char *e = escape(s);
	int rc = e ? buf_printf(b, "%s", e) : -ENOMEM;

	free(e);
	return rc;
}

/* The path: /bucket/object, each segment encoded, '/' kept. */
static int canonical_path(struct buf *b, const struct sign_request *rq)
{
	const char *parts[] = { rq->bucket, rq->object };
	int rc = 0;
	size_t i;

	for (i = 0; i < 2 && rc == 0; i++) {
		const char *p = parts[i];

		while (p && rc == 0) {
			const char *slash = strchr(p, '/');
			char *segment = strndup(p, slash ? (size_t)(slash - p) : strlen(p));

			rc = segment ? buf_printf(b, "/") : -ENOMEM;
			if (rc == 0)
				rc = escape_into(b, segment);
			free(segment);
			p = slash ? slash + 1 : NULL;
		}
	}
	if (rc == 0 && !rq->bucket && !rq->object)
		rc = buf_printf(b, "/");
	return rc;
}

static int by_name(const void *a, const void *b)
{
	const struct sign_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static void pairs_free(struct sign_pair *p, size_t n)
{
	while (n--) {
		free(p[n].name);
		free(p[n].value);
	}
}

/* A header as signed: its name in lower case, its value trimmed with runs
 * of blanks made one space. */
static int add_header(struct sign_pair *p, const char *name, const char *value)
{
	char *n = strdup(name), *v = malloc(strlen(value) + 1), *o = v;
	size_t i;

	if (!n || !v) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	for (i = 0; n[i]; i++)
		n[i] = (char)tolower((unsigned char)n[i]);
	for (; *value; value++) {
		if (*value == ' ' || *value == '\t') {
			if (o > v && o[-1] != ' ')
				*o++ = ' ';
		} else {
			*o++ = *value;
		}
	}
	if (o > v && o[-1] == ' ')
		o--;
	*o = '\0';
	p->name = n;
	p->value = v;
	return 0;
}

/* A query parameter as signed and sent: name and value encoded. */
static int add_param(struct sign_pair *p, const char *name, const char *value)
{
	p->name = escape(name);
	p->value = escape(value);
	return p->name && p->value ? 0 : -ENOMEM;
}

static int join_params(struct sign_canon *c)
{
	size_t i;
	int rc = 0;

	qsort(c->params, c->nparams, sizeof *c->params, by_name);
	c->query.len = 0;
	for (i = 0; i < c->nparams && rc == 0; i++)
		rc = buf_printf(&c->query, "%s%s=%s", i ? "&" : "", c->params[i].name, c->params[i].value);
	return rc;
}

/* The request's own query parameters, encoded as signed and sent. */
static int add_query(struct sign_canon *c, const struct sign_request *rq)
{
	for (size_t i = 0; i < rq->nquery; i++)
		if (add_param(&c->params[c->nparams++], rq->query[2 * i], rq->query[2 * i + 1]) < 0)
			return -ENOMEM;
	return 0;
}

/* The headers as signed, sorted, in headers (*nh of them): Host and the
 * request's own. The payload's hash is the <prefix>-Content-SHA256
 * header's value, where the request has one. */
static int sign_headers(const struct sign_request *rq, const char *prefix, struct sign_pair *headers, size_t *nh,
			const char **payload)
{
	char payload_header[64];
	size_t i;

	snprintf(payload_header, sizeof payload_header, "%s-content-sha256", prefix);
	for (i = 0; payload_header[i]; i++)
		payload_header[i] = (char)tolower((unsigned char)payload_header[i]);
	if (add_header(&headers[(*nh)++], "host", rq->host) < 0)
		return -ENOMEM;
	for (i = 0; i < rq->nheaders; i++) {
		if (add_header(&headers[(*nh)++], rq->headers[2 * i], rq->headers[2 * i + 1]) < 0)
			return -ENOMEM;
		if (strcmp(headers[*nh - 1].name, payload_header) == 0)
			*payload = headers[*nh - 1].value;
	}
	qsort(headers, *nh, sizeof *headers, by_name);
	return 0;
}

/* The authentication parameters both schemes share, and the extra ones. */
static int add_auth_params(struct sign_canon *c, const char *prefix, const char *algorithm, const char *credential,
			   const char *expires, const char *signed_names, const char *const *extra, size_t nextra)
{
	const char *auth[] = {
		"Algorithm", algorithm, "Credential", credential, "Date", c->date,
		"Expires", expires, "SignedHeaders", signed_names,
	};
	char name[64];
	size_t i;

	for (i = 0; i < sizeof auth / sizeof *auth; i += 2) {
		snprintf(name, sizeof name, "%s-%s", prefix, auth[i]);
		if (add_param(&c->params[c->nparams++], name, auth[i + 1]) < 0)
			return -ENOMEM;
	}
	for (i = 0; i < nextra; i++)
		if (add_param(&c->params[c->nparams++], extra[2 * i], extra[2 * i + 1]) < 0)
			return -ENOMEM;
	return 0;
}

/* The canonical request, and the string to sign: its hash with the
 * algorithm, the date and the scope. */
static int canonical_request(struct sign_canon *c, const struct sign_request *rq, const char *algorithm,
			     const struct sign_pair *headers, size_t nh, const char *signed_names, const char *payload)
{
	char hash[DIGEST_HEX_LEN + 1];
	size_t i;

	if (add_query(c, rq) < 0 || join_params(c) < 0 || canonical_path(&c->path, rq) < 0 ||
	    buf_printf(&c->request, "%s\n%s\n%s\n", rq->method, c->path.data, c->query.data) < 0)
		return -ENOMEM;
	for (i = 0; i < nh; i++)
		if (buf_printf(&c->request, "%s:%s\n", headers[i].name, headers[i].value) < 0)
			return -ENOMEM;
	if (buf_printf(&c->request, "\n%s\n%s", signed_names, payload) < 0 ||
	    digest_hex(c->request.data, c->request.len, hash) < 0)
		return -ENOMEM;
	return buf_printf(&c->to_sign, "%s\n%s\n%s\n%s", algorithm, c->date, c->scope, hash);
}

int sign_canon_make(struct sign_canon *c, const struct sign_request *rq, const char *prefix,
		    const char *algorithm, const char *key_id, const char *scope_tail,
		    const char *const *extra, size_t nextra, char *err, size_t errlen)
{
	struct sign_pair headers[SIGN_MAX_PAIRS] = { 0 };
	struct buf signed_names = { 0 }, credential = { 0 };
	const char *payload = "UNSIGNED-PAYLOAD";
	char expires[24];
	struct tm tm;
	size_t nh = 0, i;
	int rc = -ENOMEM;

	memset(c, 0, sizeof *c);
	if (rq->nheaders + 1 > SIGN_MAX_PAIRS || rq->nquery + nextra + 6 > SIGN_MAX_PAIRS ||
	    rq->expires < 1 || rq->expires > 604800 || !gmtime_r(&rq->when, &tm)) {
		snprintf(err, errlen, "cannot sign a URL: too many headers or parameters, or a bad expiry");
		return -EINVAL;
	}
	strftime(c->date, sizeof c->date, "%Y%m%dT%H%M%SZ", &tm);
	strftime(c->day, sizeof c->day, "%Y%m%d", &tm);
	snprintf(c->scope, sizeof c->scope, "%s/%s", c->day, scope_tail);
	snprintf(expires, sizeof expires, "%ld", rq->expires);
	if (sign_headers(rq, prefix, headers, &nh, &payload) < 0)
		goto out;
	for (i = 0; i < nh; i++)
		if (buf_printf(&signed_names, "%s%s", i ? ";" : "", headers[i].name) < 0)
			goto out;
	if (buf_printf(&credential, "%s/%s", key_id, c->scope) < 0 ||
	    add_auth_params(c, prefix, algorithm, credential.data, expires, signed_names.data, extra, nextra) < 0)
		goto out;
	rc = canonical_request(c, rq, algorithm, headers, nh, signed_names.data, payload);
out:
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	pairs_free(headers, nh);
	buf_free(&signed_names);
	buf_free(&credential);
	return rc;
}

int sign_canon_url(const struct sign_canon *c, const struct sign_request *rq, struct buf *url)
{
	return buf_printf(url, "%s://%s%s%s%s", rq->scheme, rq->authority ? rq->authority : rq->host,
			  c->path.data, c->query.len ? "?" : "", c->query.len ? c->query.data : "");
}

int sign_url_plain(const struct sign_request *rq, struct buf *url, char *err, size_t errlen)
{
	struct sign_canon c;
	int rc = -ENOMEM;

	memset(&c, 0, sizeof c);
	if (rq->nquery > SIGN_MAX_PAIRS) {
		snprintf(err, errlen, "too many query parameters");
		return -EINVAL;
	}
	if (add_query(&c, rq) == 0 && join_params(&c) == 0 && canonical_path(&c.path, rq) == 0)
		rc = sign_canon_url(&c, rq, url);
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	sign_canon_free(&c);
	return rc;
}

int sign_canon_add(struct sign_canon *c, const char *name, const char *value)
{
	if (c->nparams >= SIGN_MAX_PAIRS || add_param(&c->params[c->nparams++], name, value) < 0)
		return -ENOMEM;
	return join_params(c);
}

void sign_canon_free(struct sign_canon *c)
{
	pairs_free(c->params, c->nparams);
	buf_free(&c->path);
	buf_free(&c->query);
	buf_free(&c->request);
	buf_free(&c->to_sign);
}

int sign_hex(struct buf *out, const unsigned char *data, size_t len)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < len && rc == 0; i++)
		rc = buf_printf(out, "%02x", data[i]);
	return rc;
}
