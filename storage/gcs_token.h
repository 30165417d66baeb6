/* Google Cloud Storage without a key file: the access token of the
 * machine's service account, from the metadata server of Google Compute
 * Engine (or GCE_METADATA_HOST), as Google's libraries get it. Kept until
 * a minute before it expires; threads share it. */
#ifndef NIXERY_GCS_TOKEN_H
#define NIXERY_GCS_TOKEN_H

#include <stddef.h>

#include "storage/http.h"

/* The longest token kept, and the header line that carries it. */
#define GCS_TOKEN_MAX 2048
#define GCS_TOKEN_LINE (GCS_TOKEN_MAX + sizeof "Authorization: Bearer ")

struct gcs_token;

/* host: the metadata server's host[:port]. */
struct gcs_token *gcs_token_new(const char *host);
void gcs_token_free(struct gcs_token *t);

/* "Authorization: Bearer <token>" into line, asked of the metadata
 * server when there is none or it is about to expire. */
int gcs_token_header(struct gcs_token *t, struct http_pool *pool, char *line, size_t len,
		     char *err, size_t errlen);

#endif
