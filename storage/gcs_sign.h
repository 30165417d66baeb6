/* Google Cloud Storage V4 signed URLs (GOOG4-RSA-SHA256), made offline
 * from a service account's key file, as Google's client libraries make
 * them: the blob GET redirects of the gcs backend. The signer is parsed
 * once and is read-only after, so threads share it. */
#ifndef NIXERY_GCS_SIGN_H
#define NIXERY_GCS_SIGN_H

#include <stddef.h>

#include "core/buf.h"
#include "storage/sign.h"

struct gcs_signer;

/* Reads client_email and private_key from a service-account JSON file
 * (GOOGLE_APPLICATION_CREDENTIALS). */
int gcs_signer_load(const char *key_file, struct gcs_signer **out, char *err, size_t errlen);
void gcs_signer_free(struct gcs_signer *s);

/* Appends the signed URL to url; canonical and to_sign, when not NULL,
 * get the canonical request and the string that was signed. */
int gcs_sign_url(const struct gcs_signer *s, const struct sign_request *rq, struct buf *url,
		 struct buf *canonical, struct buf *to_sign, char *err, size_t errlen);

#endif
