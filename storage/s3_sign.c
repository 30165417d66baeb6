/* AWS SigV4 query signing: the canonical request (storage/sign.c), its
 * SHA-256 in a string to sign, and an HMAC-SHA256 of that string with a
 * key derived from the secret, the day, the region and the service. */
#include "storage/s3_sign.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* key = HMAC(key, data), in place; len is the key's length, 32 after. */
static int hmac_step(unsigned char key[EVP_MAX_MD_SIZE], unsigned *len, const char *data)
{
	unsigned char out[EVP_MAX_MD_SIZE];

	if (!HMAC(EVP_sha256(), key, (int)*len, (const unsigned char *)data, strlen(data), out, len))
		return -EIO;
	memcpy(key, out, *len);
	return 0;
}

/* The signing key of a day: HMAC-SHA256 of the day keyed with "AWS4" and
 * the secret (of any length: R2's are 64 characters), then of the region,
 * the service and "aws4_request". */
static int signing_key(const struct s3_credentials *cr, const char *day, unsigned char key[EVP_MAX_MD_SIZE],
		       unsigned *len)
{
	struct buf secret = { 0 };
	int rc = buf_printf(&secret, "AWS4%s", cr->secret_key);

	if (rc == 0 && !HMAC(EVP_sha256(), secret.data, (int)secret.len, (const unsigned char *)day,
			     strlen(day), key, len))
		rc = -EIO;
	if (rc == 0 && (rc = hmac_step(key, len, cr->region)) == 0 && (rc = hmac_step(key, len, "s3")) == 0)
		rc = hmac_step(key, len, "aws4_request");
	if (secret.data)
		OPENSSL_cleanse(secret.data, secret.len);
	buf_free(&secret);
	return rc;
}

int s3_sign_url(const struct s3_credentials *cr, const struct sign_request *rq, struct buf *url,
		struct buf *canonical, struct buf *to_sign, char *err, size_t errlen)
{
	/* AWS's presigner also signs that the payload is not. */
	static const char *const unsigned_payload[] = { "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD" };
	unsigned char key[EVP_MAX_MD_SIZE];
	struct sign_canon c;
	struct buf signature = { 0 };
	char scope_tail[96];
	unsigned len = 0;
	int rc;

	snprintf(scope_tail, sizeof scope_tail, "%s/s3/aws4_request", cr->region);
	if ((rc = sign_canon_make(&c, rq, "X-Amz", "AWS4-HMAC-SHA256", cr->access_key, scope_tail,
				  unsigned_payload, 1, err, errlen)) < 0)
		goto out;
	if ((rc = signing_key(cr, c.day, key, &len)) == 0)
		rc = hmac_step(key, &len, c.to_sign.data);
	if (rc < 0) {
		snprintf(err, errlen, "cannot sign a URL: HMAC-SHA256 failed");
		goto out;
	}
	/* AWS's presigner sorts the signature in with the rest. */
	if ((rc = sign_hex(&signature, key, len)) < 0 ||
	    (rc = sign_canon_add(&c, "X-Amz-Signature", signature.data)) < 0 ||
	    (rc = sign_canon_url(&c, rq, url)) < 0 ||
	    (canonical && (rc = buf_append(canonical, c.request.data, c.request.len)) < 0) ||
	    (to_sign && (rc = buf_append(to_sign, c.to_sign.data, c.to_sign.len)) < 0))
		snprintf(err, errlen, "out of memory");
out:
	OPENSSL_cleanse(key, sizeof key);
	sign_canon_free(&c);
	buf_free(&signature);
	return rc;
}
