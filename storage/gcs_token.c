#include "storage/gcs_token.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

/* A token is asked for again this long before it expires. */
#define TOKEN_MARGIN 60

struct gcs_token {
	pthread_mutex_t lock;
	char url[512];
	char token[GCS_TOKEN_MAX];
	time_t expires;
};

struct gcs_token *gcs_token_new(const char *host)
{
	struct gcs_token *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	snprintf(t->url, sizeof t->url, "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
		 host);
	return t;
}

void gcs_token_free(struct gcs_token *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Asks the metadata server; t->lock is held. */
static int fetch(struct gcs_token *t, struct http_pool *pool, char *err, size_t errlen)
{
	static const char *const flavor[] = { "Metadata-Flavor: Google" };
	struct http_exchange x = { .method = "GET", .url = t->url, .headers = flavor, .nheaders = 1,
				   .max_response = 64 * 1024, .timeout_ms = 5000 };
	cJSON *json = NULL;
	const char *token;
	double lifetime;
	int rc = http_perform(pool, &x, err, errlen);

	if (rc == 0 && x.status != 200) {
		snprintf(err, errlen, "it answered %ld", x.status);
		rc = -EACCES;
	}
	if (rc < 0)
		goto out;
	json = cJSON_ParseWithLength(x.response.data, x.response.len);
	token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "access_token"));
	lifetime = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(json, "expires_in"));
	if (!token || !*token || strlen(token) >= sizeof t->token || strpbrk(token, "\r\n") || !(lifetime > 0)) {
		snprintf(err, errlen, "its answer holds no usable token");
		rc = -EIO;
		goto out;
	}
	snprintf(t->token, sizeof t->token, "%s", token);
	t->expires = time(NULL) + (time_t)lifetime;
out:
	cJSON_Delete(json);
	buf_free(&x.response);
	return rc;
}

int gcs_token_header(struct gcs_token *t, struct http_pool *pool, char *line, size_t len,
		     char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (!t->token[0] || time(NULL) >= t->expires - TOKEN_MARGIN)
		rc = fetch(t, pool, err, errlen);
	if (rc == 0)
		snprintf(line, len, "Authorization: Bearer %s", t->token);
	pthread_mutex_unlock(&t->lock);
	if (rc < 0) {
		char why[512];

		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "no access token from the metadata server at %s (%s): off Google Cloud, "
			 "set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file", t->url, why);
	}
	return rc;
}
