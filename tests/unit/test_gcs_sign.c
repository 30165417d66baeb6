/* GCS V4 signed URLs against Google's published conformance cases
 * (googleapis/conformance-tests, storage/v1/v4_signatures.json, kept
 * unchanged in tests/unit/gcs-conformance with its licence): every
 * signing case's canonical request, string to sign and URL, byte for byte. The cases say
 * how a client library picks the host; that choice is made here, from
 * each case's fields, as the gcs backend's settings will make it. */
#define _GNU_SOURCE   /* strptime, timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "storage/gcs_sign.h"
#include "tests/unit/check.h"

/* Its expected canonical request does not hash to its own expected string
 * to sign (the other 28 cases' do): no signer can match both. */
#define SELF_CONTRADICTING "Universe domain with virtual hosted style"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = { 0 };
	char chunk[8192];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return b.data;
}

static const char *field(const cJSON *c, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, name));
}

/* "http://localhost:8080" or "storage.googleapis.com:443": its scheme (if
 * any) and authority; host is the authority without the port. */
static void endpoint(const char *e, const char **scheme, char *authority, char *host, size_t len)
{
	const char *sep = strstr(e, "://");
	char *colon;

	if (sep) {
		*scheme = strncmp(e, "https", 5) == 0 ? "https" : "http";
		e = sep + 3;
	}
	snprintf(authority, len, "%s", e);
	snprintf(host, len, "%s", e);
	if ((colon = strchr(host, ':')))
		*colon = '\0';
}

static time_t parse_time(const char *s)
{
	struct tm tm = { 0 };

	strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return timegm(&tm);
}

/* name, value pairs of a JSON object, in its order. */
static size_t pairs(const cJSON *obj, const char **out, size_t max)
{
	const cJSON *it;
	size_t n = 0;

	cJSON_ArrayForEach(it, obj) {
		if (n + 1 >= max * 2)
			break;
		out[n++] = it->string;
		out[n++] = cJSON_GetStringValue(it);
	}
	return n / 2;
}

static void run_case(const struct gcs_signer *s, const cJSON *c)
{
	const char *name = field(c, "description"), *style = field(c, "urlStyle");
	const char *scheme = NULL, *headers[32], *query[32];
	char authority[256], host[256], vhost[512], err[256];
	struct buf url = { 0 }, canonical = { 0 }, to_sign = { 0 };
	struct sign_request rq = {
		.method = field(c, "method"),
		.bucket = field(c, "bucket"),
		.object = field(c, "object"),
		.when = parse_time(field(c, "timestamp")),
		.expires = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "expiration")),
		.headers = headers,
		.query = query,
	};
	int rc;

	if (strcmp(name, SELF_CONTRADICTING) == 0) {
		printf("skipped: %s (its canonical request does not hash to its string to sign)\n", name);
		return;
	}
	/* The host: an explicit hostname, else the client's endpoint, else
	 * the emulator's, else storage.<universe domain>. */
	snprintf(authority, sizeof authority, "storage.googleapis.com");
	if (field(c, "universeDomain"))
		snprintf(authority, sizeof authority, "storage.%s", field(c, "universeDomain"));
	snprintf(host, sizeof host, "%s", authority);
	if (field(c, "hostname"))
		endpoint(field(c, "hostname"), &scheme, authority, host, sizeof host);
	else if (field(c, "clientEndpoint"))
		endpoint(field(c, "clientEndpoint"), &scheme, authority, host, sizeof host);
	else if (field(c, "emulatorHostname"))
		endpoint(field(c, "emulatorHostname"), &scheme, authority, host, sizeof host);
	if (field(c, "scheme"))
		scheme = field(c, "scheme");
	rq.scheme = scheme ? scheme : "https";
	rq.host = host;
	rq.authority = authority;
	if (style && strcmp(style, "VIRTUAL_HOSTED_STYLE") == 0) {
		snprintf(vhost, sizeof vhost, "%s.%s", rq.bucket, host);
		rq.host = rq.authority = vhost;
		rq.bucket = NULL;
	} else if (style && strcmp(style, "BUCKET_BOUND_HOSTNAME") == 0) {
		rq.host = rq.authority = field(c, "bucketBoundHostname");
		rq.bucket = NULL;
	}
	rq.nheaders = pairs(cJSON_GetObjectItemCaseSensitive(c, "headers"), headers, 16);
	rq.nquery = pairs(cJSON_GetObjectItemCaseSensitive(c, "queryParameters"), query, 16);

	rc = gcs_sign_url(s, &rq, &url, &canonical, &to_sign, err, sizeof err);
	CHECK_WHY(rc == 0, err, "%s: signs", name);
	CHECK_STR_EQ(canonical.data, field(c, "expectedCanonicalRequest"), "%s: canonical request", name);
	CHECK_STR_EQ(to_sign.data, field(c, "expectedStringToSign"), "%s: string to sign", name);
	CHECK_STR_EQ(url.data, field(c, "expectedUrl"), "%s: signed URL", name);
	buf_free(&url);
	buf_free(&canonical);
	buf_free(&to_sign);
}

int main(void)
{
	const char *dir = CONFORMANCE_DIR;
	char path[4096], err[256];
	struct gcs_signer *s = NULL, *none = NULL;
	char *text;
	cJSON *json, *c;
	int cases = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(path, sizeof path, "%s/test_service_account.not-a-test.json", dir);
	CHECK_WHY(gcs_signer_load(path, &s, err, sizeof err) == 0, err, "the conformance service-account key loads");
	snprintf(path, sizeof path, "%s/v4_signatures.json", dir);
	text = slurp(path);
	json = text ? cJSON_Parse(text) : NULL;
	CHECK(json != NULL, "the conformance cases are read from %s/v4_signatures.json", dir);
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(json, "signingV4Tests")) {
		if (s)
			run_case(s, c);
		cases++;
	}
	CHECK(cases == 29, "all 29 signing cases were seen (%d)", cases);

	CHECK(gcs_signer_load("/nonexistent/key.json", &none, err, sizeof err) == -EINVAL &&
	      strstr(err, "cannot read"),
	      "a missing key file is refused, saying it cannot be read (%s)", err);
	snprintf(path, sizeof path, "%s/v4_signatures.json", dir);
	CHECK(gcs_signer_load(path, &none, err, sizeof err) == -EINVAL &&
	      strstr(err, "client_email"), "a JSON file that is no service-account key is refused (%s)", err);

	/* Without a key file the same request goes out unsigned, a token in
	 * its header: the URL encoded as signed, no X-Goog- parameters. */
	{
		static const char *const query[] = { "prefix", "layers/a b", "max-keys", "2" };
		struct sign_request rq = { .method = "GET", .scheme = "https", .host = "storage.googleapis.com",
					   .bucket = "my-nixery", .object = "dir/a+b c", .query = query, .nquery = 2 };
		struct buf url = { 0 };

		CHECK(sign_url_plain(&rq, &url, err, sizeof err) == 0 && url.data &&
		      strcmp(url.data, "https://storage.googleapis.com/my-nixery/dir/a%2Bb%20c"
			     "?max-keys=2&prefix=layers%2Fa%20b") == 0,
		      "an unsigned URL is encoded as a signed one would be (%s)", url.data ? url.data : err);
		buf_free(&url);
	}

	gcs_signer_free(s);
	cJSON_Delete(json);
	free(text);
	curl_global_cleanup();
	return check_failed ? 1 : 0;
}
