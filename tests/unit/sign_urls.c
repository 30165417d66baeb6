/* Signs each case of the JSON array on standard input with the project's
 * signers (storage/s3_sign.c, storage/gcs_sign.c) and prints one URL per
 * line, for tests/e2e/signing.sh to compare with the official libraries'.
 * A case: kind ("s3" or "gcs"), scheme, host, authority, bucket (null
 * where the host names it), object, when (unix time), expires, query
 * (extra parameters), and access_key, secret_key, region or key_file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "storage/gcs_sign.h"
#include "storage/s3_sign.h"

static const char *text(const cJSON *c, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, name));
}

static int sign_case(const cJSON *c, struct buf *url, char *err, size_t errlen)
{
	const char *query[16];
	const cJSON *q;
	struct sign_request rq = {
		.method = "GET",
		.scheme = text(c, "scheme"),
		.host = text(c, "host"),
		.authority = text(c, "authority"),
		.bucket = text(c, "bucket"),
		.object = text(c, "object"),
		.when = (time_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "when")),
		.expires = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "expires")),
		.query = query,
	};
	struct gcs_signer *gcs;
	int rc;

	cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(c, "query")) {
		if (rq.nquery >= 8)
			break;
		query[2 * rq.nquery] = q->string;
		query[2 * rq.nquery++ + 1] = cJSON_GetStringValue(q);
	}
	if (strcmp(text(c, "kind"), "s3") == 0) {
		struct s3_credentials cr = { text(c, "access_key"), text(c, "secret_key"), text(c, "region") };

		return s3_sign_url(&cr, &rq, url, NULL, NULL, err, errlen);
	}
	if ((rc = gcs_signer_load(text(c, "key_file"), &gcs, err, errlen)) < 0)
		return rc;
	rc = gcs_sign_url(gcs, &rq, url, NULL, NULL, err, errlen);
	gcs_signer_free(gcs);
	return rc;
}

int main(void)
{
	struct buf in = { 0 }, url = { 0 };
	char chunk[8192], err[256];
	size_t n;
	cJSON *cases, *c;
	int status = 0;

	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		buf_append(&in, chunk, n);
	if (!(cases = cJSON_Parse(in.data ? in.data : ""))) {
		fprintf(stderr, "sign_urls: standard input is not a JSON array of cases\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cJSON_ArrayForEach(c, cases) {
		url.len = 0;
		if (sign_case(c, &url, err, sizeof err) < 0) {
			printf("error: %s\n", err);
			status = 1;
		} else {
			printf("%s\n", url.data);
		}
	}
	curl_global_cleanup();
	cJSON_Delete(cases);
	buf_free(&in);
	buf_free(&url);
	return status;
}
