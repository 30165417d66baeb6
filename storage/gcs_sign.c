/* GCS V4 signing: a canonical request of the method, path, query and
 * headers, its SHA-256 in a string to sign, and that string's RSA-SHA256
 * signature in hex, as https://cloud.google.com/storage/docs/authentication/signatures
 * describes. Percent-encoding is RFC 3986's (libcurl's), '/' kept in paths. */
#include "storage/gcs_sign.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/digest.h"

#define MAX_PAIRS 64

struct gcs_signer {
	char *email;
	EVP_PKEY *key;
};

/* A query parameter or a header, as it goes into the canonical request. */
struct pair {
	char *name, *value;
};

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot read the service-account key %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < 1 << 20)
		if (buf_append(&b, chunk, n) < 0)
			break;
	fclose(f);
	if (!b.data)
		snprintf(err, errlen, "the service-account key %s is empty", path);
	return b.data;
}

int gcs_signer_load(const char *key_file, struct gcs_signer **out, char *err, size_t errlen)
{
	char *text = read_file(key_file, err, errlen);
	cJSON *json = text ? cJSON_Parse(text) : NULL;
	const char *email = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "client_email"));
	const char *pem = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "private_key"));
	struct gcs_signer *s = NULL;
	BIO *bio = NULL;
	int rc = -EINVAL;

	*out = NULL;
	if (!text)
		goto out;
	if (!email || !pem) {
		snprintf(err, errlen, "%s is not a service-account key: it needs client_email and private_key",
			 key_file);
		goto out;
	}
	rc = -ENOMEM;
	if (!(s = calloc(1, sizeof *s)) || !(s->email = strdup(email)) ||
	    !(bio = BIO_new_mem_buf(pem, -1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!(s->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) || EVP_PKEY_base_id(s->key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "the private_key of %s is not an RSA key in PEM", key_file);
		rc = -EINVAL;
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	BIO_free(bio);
	gcs_signer_free(s);
	cJSON_Delete(json);
	free(text);
	return rc;
}

void gcs_signer_free(struct gcs_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	free(s->email);
	free(s);
}

/* s percent-encoded (RFC 3986), in memory of the C library's. */
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
static int canonical_path(struct buf *b, const struct gcs_url_request *rq)
{
	const char *parts[] = { rq->bucket, rq->object };
	int rc = 0;
	size_t i;

	for (i = 0; i < 2 && rc == 0; i++) {
		const char *p = parts[i];

		if (!p)
			continue;
		do {
			const char *slash = strchr(p, '/');
			char *segment = strndup(p, slash ? (size_t)(slash - p) : strlen(p));

			rc = segment ? buf_printf(b, "/") : -ENOMEM;
			if (rc == 0)
				rc = escape_into(b, segment);
			free(segment);
			p = slash ? slash + 1 : NULL;
		} while (p && rc == 0);
	}
	if (rc == 0 && !rq->bucket && !rq->object)
		rc = buf_printf(b, "/");
	return rc;
}

static int by_name(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static void pairs_free(struct pair *p, size_t n)
{
	while (n--) {
		free(p[n].name);
		free(p[n].value);
	}
}

/* A header as signed: its name in lower case, its value trimmed with runs
 * of blanks made one space. */
static int add_header(struct pair *p, const char *name, const char *value)
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
static int add_param(struct pair *p, const char *name, const char *value)
{
	p->name = escape(name);
	p->value = escape(value);
	return p->name && p->value ? 0 : -ENOMEM;
}

static int sign_hex(const struct gcs_signer *s, const struct buf *to_sign, struct buf *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t len = sizeof sig, i;
	int rc = -EIO;

	if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) == 1 &&
	    EVP_DigestSign(ctx, sig, &len, (const unsigned char *)to_sign->data, to_sign->len) == 1)
		for (rc = 0, i = 0; i < len && rc == 0; i++)
			rc = buf_printf(out, "%02x", sig[i]);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int gcs_sign_url(const struct gcs_signer *s, const struct gcs_url_request *rq, struct buf *url,
		 struct buf *canonical, struct buf *to_sign, char *err, size_t errlen)
{
	struct pair headers[MAX_PAIRS] = { 0 }, params[MAX_PAIRS] = { 0 };
	size_t nh = 0, np = 0, i;
	struct buf path = { 0 }, query = { 0 }, signed_names = { 0 }, creq = { 0 }, tbs = { 0 };
	char date[17], day[9], scope[64], expires[24], hash[DIGEST_HEX_LEN + 1], *credential = NULL;
	const char *payload = "UNSIGNED-PAYLOAD";
	struct tm tm;
	int rc = -ENOMEM;

	if (rq->nheaders + 1 > MAX_PAIRS || rq->nquery + 5 > MAX_PAIRS || rq->expires < 1 ||
	    rq->expires > 604800 || !gmtime_r(&rq->when, &tm)) {
		snprintf(err, errlen, "cannot sign a URL: too many headers or parameters, or a bad expiry");
		return -EINVAL;
	}
	strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
	strftime(day, sizeof day, "%Y%m%d", &tm);
	snprintf(scope, sizeof scope, "%s/auto/storage/goog4_request", day);
	snprintf(expires, sizeof expires, "%ld", rq->expires);

	if (add_header(&headers[nh++], "host", rq->host) < 0)
		goto out;
	for (i = 0; i < rq->nheaders; i++) {
		if (add_header(&headers[nh++], rq->headers[2 * i], rq->headers[2 * i + 1]) < 0)
			goto out;
		if (strcmp(headers[nh - 1].name, "x-goog-content-sha256") == 0)
			payload = headers[nh - 1].value;
	}
	qsort(headers, nh, sizeof *headers, by_name);
	for (i = 0; i < nh; i++)
		if (buf_printf(&signed_names, "%s%s", i ? ";" : "", headers[i].name) < 0)
			goto out;

	if (buf_printf(&tbs, "%s/%s", s->email, scope) < 0 || !(credential = strdup(tbs.data)))
		goto out;
	tbs.len = 0;
	if (add_param(&params[np++], "X-Goog-Algorithm", "GOOG4-RSA-SHA256") < 0 ||
	    add_param(&params[np++], "X-Goog-Credential", credential) < 0 ||
	    add_param(&params[np++], "X-Goog-Date", date) < 0 ||
	    add_param(&params[np++], "X-Goog-Expires", expires) < 0 ||
	    add_param(&params[np++], "X-Goog-SignedHeaders", signed_names.data) < 0)
		goto out;
	for (i = 0; i < rq->nquery; i++)
		if (add_param(&params[np++], rq->query[2 * i], rq->query[2 * i + 1]) < 0)
			goto out;
	qsort(params, np, sizeof *params, by_name);
	for (i = 0; i < np; i++)
		if (buf_printf(&query, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value) < 0)
			goto out;

	if (canonical_path(&path, rq) < 0 || buf_printf(&creq, "%s\n%s\n%s\n", rq->method, path.data, query.data) < 0)
		goto out;
	for (i = 0; i < nh; i++)
		if (buf_printf(&creq, "%s:%s\n", headers[i].name, headers[i].value) < 0)
			goto out;
	if (buf_printf(&creq, "\n%s\n%s", signed_names.data, payload) < 0)
		goto out;
	digest_hex(creq.data, creq.len, hash);
	if (buf_printf(&tbs, "GOOG4-RSA-SHA256\n%s\n%s\n%s", date, scope, hash) < 0)
		goto out;

	rc = buf_printf(url, "%s://%s%s?%s&X-Goog-Signature=", rq->scheme,
			rq->authority ? rq->authority : rq->host, path.data, query.data);
	if (rc == 0 && (rc = sign_hex(s, &tbs, url)) < 0) {
		snprintf(err, errlen, "cannot sign a URL: RSA-SHA256 failed");
		goto out;
	}
	if (rc == 0 && canonical)
		rc = buf_append(canonical, creq.data, creq.len);
	if (rc == 0 && to_sign)
		rc = buf_append(to_sign, tbs.data, tbs.len);
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	pairs_free(headers, nh);
	pairs_free(params, np);
	free(credential);
	buf_free(&path);
	buf_free(&query);
	buf_free(&signed_names);
	buf_free(&creq);
	buf_free(&tbs);
	return rc;
}
