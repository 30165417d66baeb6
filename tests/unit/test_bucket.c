/* The bucket backends without a bucket (storage/bucket.c and
 * bucket_call.c, storage/http.c): endpoints as the settings give them
 * become the scheme, host and URL authority that requests are signed for
 * and sent to; redirects are signed URLs to layers/<hex>, given again
 * while most of their life is left, or public URLs; the store's XML
 * answers are read without trusting them.
 * The requests themselves are tested against real servers in
 * tests/e2e/buckets.sh. */
#include "storage/bucket.c"
#include "storage/bucket_call.c"

#include <curl/curl.h>

#include "tests/unit/check.h"

static char root[64];

static const char *hex_a = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static struct bucket *open_s3(const char *endpoint, int path_style, int presigned)
{
	struct config cfg = { .storage = STORAGE_S3, .storage_path = root, .s3_bucket = "my-bucket",
			      .s3_region = "eu-west-1", .s3_access_key = "AKIDEXAMPLE", .s3_secret_key = "secret",
			      .s3_endpoint = (char *)endpoint, .s3_path_style = path_style, .s3_presigned = presigned,
			      .signed_url_ttl = 300 };
	struct storage *s = NULL;
	char err[512] = "";

	CHECK_WHY(bucket_open(&cfg, 0, &s, err, sizeof err) == 0, err, "an s3 bucket at %s opens", endpoint ? endpoint : "AWS");
	return (struct bucket *)s;
}

static void test_endpoints(void)
{
	struct bucket *b;

	b = open_s3(NULL, 0, 1);
	CHECK_STR_EQ(b ? b->authority : NULL, "my-bucket.s3.eu-west-1.amazonaws.com",
		     "AWS itself: the bucket is named in the host (virtual-hosted style)");
	storage_close(&b->base);
	b = open_s3("http://127.0.0.1:9000", 1, 1);
	CHECK_STR_EQ(b ? b->host : NULL, "127.0.0.1:9000", "an S3 server's port that is not the scheme's is signed");
	CHECK_STR_EQ(b ? b->scheme : NULL, "http", "the endpoint's scheme is kept");
	storage_close(&b->base);
	b = open_s3("https://minio.example.net:443", 1, 1);
	CHECK_STR_EQ(b ? b->host : NULL, "minio.example.net", "the scheme's own port is not signed (as AWS's SDK)");
	CHECK_STR_EQ(b ? b->authority : NULL, "minio.example.net:443", "but stays in the URL");
	storage_close(&b->base);
	b = open_s3("http://[::1]:9000", 1, 1);
	CHECK_STR_EQ(b ? b->host : NULL, "[::1]:9000", "an IPv6 endpoint keeps its brackets and port");
	storage_close(&b->base);
	b = open_s3("http://minio.lan:9000", 0, 1);
	CHECK_STR_EQ(b ? b->authority : NULL, "my-bucket.minio.lan:9000", "virtual-hosted style on a server of one's own");
	storage_close(&b->base);
}

static void test_gcs_endpoint(void)
{
	struct config cfg = { .storage = STORAGE_GCS, .storage_path = root, .gcs_bucket = "nixery",
			      .gcs_credentials = "/nonexistent/key.json", .gcs_endpoint = "localhost:9023",
			      .signed_url_ttl = 300 };
	struct storage *s = NULL;
	char err[512] = "";

	CHECK(bucket_open(&cfg, 0, &s, err, sizeof err) < 0 && strstr(err, "/nonexistent/key.json"),
	      "a gcs bucket without its key file does not open, and says which file (%s)", err);
	CHECK(s == NULL, "and leaves nothing open");
}

static void test_redirects(void)
{
	struct bucket *b = open_s3("http://127.0.0.1:9000", 1, 1);
	struct storage_location one, two, other;
	struct bucket_url *slot;
	char err[512] = "";

	if (!b)
		return;
	CHECK_WHY(op_locate(&b->base, hex_a, &one, err, sizeof err) == 0, err, "a blob is located");
	CHECK(one.redirect, "a bucket's blob is a redirect");
	CHECK(strncmp(one.target, "http://127.0.0.1:9000/my-bucket/layers/0123456789abcdef", 55) == 0 &&
	      strstr(one.target, "X-Amz-Signature=") && strstr(one.target, "X-Amz-Expires=300"),
	      "to layers/<hex>, presigned for NIXERY_SIGNED_URL_TTL (%.300s)", one.target);
	slot = &b->urls[strtoul("012", NULL, 16) % BUCKET_URL_CACHE];
	slot->signed_at = time(NULL) - b->ttl / 2 + 5;
	op_locate(&b->base, hex_a, &two, err, sizeof err);
	CHECK(strcmp(two.target, one.target) == 0 && slot->signed_at < time(NULL) - 100,
	      "the same URL is given again while most of its life is left");
	slot->signed_at = time(NULL) - b->ttl / 2 - 1;
	op_locate(&b->base, hex_a, &two, err, sizeof err);
	CHECK(slot->signed_at >= time(NULL) - 1, "a URL past half its life is signed anew");
	op_locate(&b->base, "012fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", &other, err, sizeof err);
	CHECK(strstr(other.target, "/layers/012fffff") != NULL, "another blob of the same slot gets its own URL");
	storage_close(&b->base);

	b = open_s3("http://127.0.0.1:9000", 1, 0);
	op_locate(&b->base, hex_a, &one, err, sizeof err);
	CHECK_STR_EQ(one.target, "http://127.0.0.1:9000/my-bucket/layers/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		     "S3_USE_PRESIGNED_URLS=false: the object's public URL");
	storage_close(&b->base);
}

static void test_xml(void)
{
	struct buf xml = { 0 };
	char out[64];

	buf_printf(&xml, "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket>"
		   "<UploadId>VXBsb2FkIElE-42</UploadId></InitiateMultipartUploadResult>");
	http_xml_text(&xml, "UploadId", out, sizeof out);
	CHECK_STR_EQ(out, "VXBsb2FkIElE-42", "an element's text is read");
	http_xml_text(&xml, "Code", out, sizeof out);
	CHECK_STR_EQ(out, "", "a missing element reads as nothing");
	xml.len = 0;
	buf_printf(&xml, "<UploadId>a<b>c</b></UploadId><Code>x&amp;y</Code><Message>%0200d</Message>", 0);
	http_xml_text(&xml, "UploadId", out, sizeof out);
	CHECK_STR_EQ(out, "", "markup inside is refused, not passed on");
	http_xml_text(&xml, "Code", out, sizeof out);
	CHECK_STR_EQ(out, "", "entities are refused, not half decoded");
	http_xml_text(&xml, "Message", out, sizeof out);
	CHECK_STR_EQ(out, "", "text longer than the room for it is refused, not cut");
	xml.len = 0;
	buf_printf(&xml, "<UploadId>unterminated");
	http_xml_text(&xml, "UploadId", out, sizeof out);
	CHECK_STR_EQ(out, "", "an element never closed reads as nothing");
	buf_free(&xml);
}

static void test_late_failure(void)
{
	struct http_exchange x = { .method = "POST", .status = 200 };

	buf_printf(&x.response, "<Error><Code>InternalError</Code></Error>");
	CHECK(failed_late(&x), "a completion answered 200 with an error in its body failed");
	x.method = "GET";
	CHECK(!failed_late(&x), "an object that holds the text <Error> is just an object");
	buf_free(&x.response);
}

int main(void)
{
	char cmd[96];

	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(root, sizeof root, "/tmp/nixery-bucket-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	test_endpoints();
	test_gcs_endpoint();
	test_redirects();
	test_xml();
	test_late_failure();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", root);
	curl_global_cleanup();
	return check_exit();
}
