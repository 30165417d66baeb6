/* One name, every platform (builder/index.h), with the stand-in for Nix:
 * an index of one image per platform from one evaluation, each image
 * built once and shared with a request for its platform alone, the first
 * platform's manifest for a client that takes no index, a platform left
 * out where the package set does not offer a package, a failure of one
 * platform failing the request, and a platform not served. The cache, the
 * storage and the packing are the real ones. */
#include "tests/unit/builder_standin.h"

#include <cjson/cJSON.h>

static const struct manifest_accept takes_oci_index = { MANIFEST_OCI, 1, MANIFEST_OCI };
static const struct manifest_accept takes_docker_list = { MANIFEST_DOCKER, 1, MANIFEST_DOCKER };
static const struct manifest_accept takes_oci = { MANIFEST_OCI, 0, MANIFEST_DOCKER };

static void serve_both(struct setup *s)
{
	s->cfg.platforms[0] = platform_find("linux/amd64", 11);
	s->cfg.platforms[1] = platform_find("linux/arm64", 11);
	s->cfg.nplatforms = 2;
}

static int ask_as(struct builder *b, const char *name, const struct manifest_accept *a, struct builder_result *res)
{
	struct deadline dl = deadline_in(20000, NULL);

	return builder_image(b, NULL, name, "latest", a, 1, &dl, res);
}

/* The index's entries: "arch[/variant]=digest ..." and the annotation. */
static void entries(const char *json, char *out, size_t len, char *note, size_t notelen)
{
	cJSON *root = cJSON_Parse(json), *m;
	const cJSON *notes = cJSON_GetObjectItemCaseSensitive(root, "annotations");
	const cJSON *left = cJSON_GetObjectItemCaseSensitive(notes, MANIFEST_LEFT_OUT);
	size_t used = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "manifests")) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "platform");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "variant");

		used += (size_t)snprintf(out + used, len - used, "%s%s%s%s", used ? " " : "",
					 cJSON_GetObjectItemCaseSensitive(p, "architecture")->valuestring,
					 cJSON_IsString(v) ? "/" : "", cJSON_IsString(v) ? v->valuestring : "");
	}
	snprintf(note, notelen, "%s", cJSON_IsString(left) ? left->valuestring : "");
	cJSON_Delete(root);
}

/* The digest of the index's first manifest. */
static void first_child(const char *json, char out[DIGEST_HEX_LEN + 1])
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "manifests"), 0);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "digest");

	snprintf(out, DIGEST_HEX_LEN + 1, "%s", cJSON_IsString(d) ? d->valuestring + 7 : "");
	cJSON_Delete(root);
}

/* The tag file the web server answers from: the index, for clients that
 * take it, else the first platform's manifest; every blob of every
 * platform listed, so that none is sent while one is missing. */
static void check_tag_file(struct setup *s, const char *index_digest, const char *first)
{
	struct storage_tag t;
	char hex[DIGEST_HEX_LEN + 1], path[512], text[8192] = "";
	int as_index = -1;
	FILE *f;

	CHECK(storage_tag_read(s->storage, "hello", "latest", &t) == 0 && t.index &&
	      strcmp(t.oci_index, index_digest) == 0 && strcmp(t.oci, first) == 0,
	      "the tag file names the index's two forms and the first platform's manifests");
	CHECK(storage_tag_answer(s->storage, "hello", "latest", &takes_oci_index, 0, hex, &as_index) == 0 &&
	      as_index && strcmp(hex, index_digest) == 0, "by it, a client that takes an OCI index is sent the index");
	CHECK(storage_tag_answer(s->storage, "hello", "latest", &takes_oci, 0, hex, &as_index) == 0 &&
	      !as_index && strcmp(hex, first) == 0, "and a client that takes none the first platform's manifest");
	snprintf(path, sizeof path, "%s/tags/hello/@latest", storage_dir);
	if ((f = fopen(path, "r"))) {
		if (!fgets(text, sizeof text, f))
			text[0] = '\0';
		fclose(f);
	}
	/* 3 layers and a config per platform, and 2 manifests per platform. */
	CHECK(strstr(text, " index ") && strlen(text) > 2 * 6 * 66,
	      "it lists the blobs of both platforms (%zu bytes)", strlen(text));
}

static void test_index(void)
{
	struct builder_result res;
	struct cache_blob blob;
	char got[128], note[256], first[DIGEST_HEX_LEN + 1], index_digest[DIGEST_HEX_LEN + 1];
	struct setup s;
	int rc;

	setup(&s, 3600);
	serve_both(&s);
	reset_counts();
	rc = ask_as(&s.b, "hello", &takes_oci_index, &res);
	CHECK_WHY(rc == 0, res.message, "a cold name is built for both platforms");
	CHECK(rc == 0 && strcmp(res.media_type, MEDIA_OCI_INDEX) == 0, "a client that takes an OCI index gets one");
	CHECK(nix.evaluations == 1 && nix.systems_asked == 2,
	      "both platforms are evaluated in one evaluation (%d evaluations of %d systems)", nix.evaluations,
	      nix.systems_asked);
	CHECK_INT_EQ(nix.builds, 2, "each platform's image is built, once");
	if (rc == 0) {
		entries(res.manifest.data, got, sizeof got, note, sizeof note);
		CHECK_STR_EQ(got, "amd64 arm64/v8", "the index names both platforms, in order, arm64 with variant v8");
		CHECK(!*note, "nothing was left out, and the index says nothing of it");
		first_child(res.manifest.data, first);
		CHECK(cache_blob_get(s.b.cache, first, &blob) == 0 && strcmp(blob.media_type, MEDIA_OCI_MANIFEST) == 0,
		      "an OCI index names OCI manifests, recorded to be fetched by digest");
		CHECK(cache_blob_get(s.b.cache, res.digest, &blob) == 0 && strcmp(blob.media_type, MEDIA_OCI_INDEX) == 0,
		      "the index itself is recorded to be fetched by digest");
		memcpy(index_digest, res.digest, sizeof index_digest);
	}
	builder_result_free(&res);

	check_tag_file(&s, index_digest, first);
	rc = ask_as(&s.b, "hello", &takes_oci, &res);
	CHECK(rc == 0 && strcmp(res.media_type, MEDIA_OCI_MANIFEST) == 0 && strcmp(res.digest, first) == 0,
	      "a client that takes no index gets the first platform's manifest");
	CHECK(nix.evaluations == 1 && nix.builds == 2, "from the cache (%d evaluations, %d builds)", nix.evaluations,
	      nix.builds);
	builder_result_free(&res);
	rc = ask_as(&s.b, "hello", &takes_docker_list, &res);
	CHECK(rc == 0 && strcmp(res.media_type, MEDIA_DOCKER_LIST) == 0 && strcmp(res.digest, index_digest) != 0,
	      "a client that ranks Docker's manifest list first gets that, another digest");
	builder_result_free(&res);

	rc = ask_as(&s.b, "arm64/hello", &takes_oci_index, &res);
	CHECK(rc == 0 && strcmp(res.media_type, MEDIA_OCI_MANIFEST) == 0 && strstr(res.manifest.data, "layers"),
	      "the arm64 meta-package still gives one platform's manifest, not an index");
	CHECK(nix.evaluations == 1 && nix.builds == 2,
	      "arm64/hello is the index's arm64 image, from the cache (%d evaluations, %d builds)", nix.evaluations,
	      nix.builds);
	builder_result_free(&res);
	teardown(&s);
}

static void test_left_out(void)
{
	struct builder_result res;
	char got[128], note[256];
	struct setup s;
	int rc;

	setup(&s, 3600);
	serve_both(&s);
	reset_counts();
	nix.unsupported = "figlet";
	rc = ask_as(&s.b, "figlet", &takes_oci_index, &res);
	CHECK_WHY(rc == 0, res.message, "a package not offered for arm64 still gives an index");
	if (rc == 0) {
		entries(res.manifest.data, got, sizeof got, note, sizeof note);
		CHECK_STR_EQ(got, "amd64", "the index leaves linux/arm64 out");
		CHECK_WHY(strstr(note, "linux/arm64") && strstr(note, "figlet") && strstr(note, "aarch64-linux"), note,
			  "its annotation says which platform was left out, and which package is not offered there");
	}
	CHECK_INT_EQ(nix.builds, 1, "only the platform in the index is built");
	builder_result_free(&res);
	nix.unsupported = NULL;

	nix.refuse = "cowsay";
	rc = ask_as(&s.b, "cowsay", &takes_oci_index, &res);
	CHECK(rc == -ENOENT && strstr(res.message, "cowsay") && nix.builds == 1,
	      "a package refused on every platform is the user's mistake, as before: 404, nothing built");
	builder_result_free(&res);
	nix.refuse = NULL;
	teardown(&s);
}

static void test_failures(void)
{
	struct builder_result res;
	struct setup s;
	int rc;

	setup(&s, 3600);
	serve_both(&s);
	reset_counts();
	nix.fail_build = 1;
	nix.fail_system = FOREIGN_SYSTEM;
	rc = ask_as(&s.b, "cowsay", &takes_oci_index, &res);
	CHECK_WHY(rc == -EIO && strstr(res.message, "linux/arm64") && strstr(res.message, "on purpose"), res.message,
		  "a platform's failed build fails the request, naming the platform");
	builder_result_free(&res);
	nix.fail_build = 0;
	nix.fail_system = NULL;
	rc = ask_as(&s.b, "cowsay", &takes_oci_index, &res);
	CHECK_WHY(rc == 0, res.message, "once it builds, the index is made");
	builder_result_free(&res);
	teardown(&s);

	setup(&s, 3600);
	reset_counts();
	rc = ask_as(&s.b, "arm64/hello", &takes_oci_index, &res);
	CHECK_WHY(rc == -ENOENT && strstr(res.message, "linux/arm64") && strstr(res.message, "linux/amd64") &&
		  nix.evaluations == 0, res.message,
		  "a platform not served is not found, naming the platforms served, and nothing runs");
	builder_result_free(&res);
	rc = ask_as(&s.b, "hello", &takes_oci_index, &res);
	CHECK(rc == 0 && strcmp(res.media_type, MEDIA_OCI_MANIFEST) == 0 && nix.systems_asked == 1,
	      "with one platform served, a client that takes an index gets a manifest, as before");
	builder_result_free(&res);
	teardown(&s);
}

int main(void)
{
	standin_start();
	test_index();
	test_left_out();
	test_failures();
	standin_end();
	return check_exit();
}
