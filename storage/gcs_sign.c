/* GCS V4 signing: the canonical request (storage/sign.c), its SHA-256 in
 * a string to sign, and that string's RSA-SHA256 signature in hex, as
 * https://cloud.google.com/storage/docs/authentication/signatures describes. */
#include "storage/gcs_sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

struct gcs_signer {
	char *email;
	EVP_PKEY *key;
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

static int rsa_sha256_hex(const struct gcs_signer *s, const struct buf *to_sign, struct buf *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t len = sizeof sig;
	int rc = -EIO;

	if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) == 1 &&
	    EVP_DigestSign(ctx, sig, &len, (const unsigned char *)to_sign->data, to_sign->len) == 1)
		rc = sign_hex(out, sig, len);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int gcs_sign_url(const struct gcs_signer *s, const struct sign_request *rq, struct buf *url,
		 struct buf *canonical, struct buf *to_sign, char *err, size_t errlen)
{
	struct sign_canon c;
	int rc = sign_canon_make(&c, rq, "X-Goog", "GOOG4-RSA-SHA256", s->email, "auto/storage/goog4_request",
				 NULL, 0, err, errlen);

	if (rc < 0)
		goto out;
	/* Google's libraries put the signature last, unsorted. */
	if ((rc = sign_canon_url(&c, rq, url)) < 0 || (rc = buf_printf(url, "&X-Goog-Signature=")) < 0 ||
	    (canonical && (rc = buf_append(canonical, c.request.data, c.request.len)) < 0) ||
	    (to_sign && (rc = buf_append(to_sign, c.to_sign.data, c.to_sign.len)) < 0)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((rc = rsa_sha256_hex(s, &c.to_sign, url)) < 0)
		snprintf(err, errlen, "cannot sign a URL: RSA-SHA256 failed");
out:
	sign_canon_free(&c);
	return rc;
}
