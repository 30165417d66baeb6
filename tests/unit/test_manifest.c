/* Image config and manifests as clients read them, and the choice between
 * Docker and OCI manifests (core/manifest.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"
#include "tests/unit/check.h"

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C64 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define D64 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define E64 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

/* Appends each digest a walk sees, and a space. */
static int note_blob(void *ctx, const char *hex, uint64_t size)
{
	(void)size;
	strcat(ctx, hex);
	strcat(ctx, " ");
	return 0;
}

static void test_config(void)
{
	struct manifest_layer layers[2];
	struct image_config ic = { .arch = "amd64", .cmd_bash = 1 };
	char *json;

	memset(layers, 0, sizeof layers);
	strcpy(layers[0].diff_id, A64);
	strcpy(layers[1].diff_id, B64);
	strcpy(layers[0].digest, C64);
	strcpy(layers[1].digest, D64);
	layers[0].size = 10;
	layers[1].size = 20;

	json = manifest_config_json(&ic, layers, 2);
	CHECK_STR_EQ(json,
		     "{\"architecture\":\"amd64\",\"os\":\"linux\","
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
		     "\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
		     "\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"]},"
		     "\"config\":{\"Cmd\":[\"bash\"],"
		     "\"Env\":[\"PATH=/bin:/usr/bin\",\"SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt\"]}}",
		     "the config of an amd64 shell image lists both diff_ids (not the digests) in order, Cmd bash, PATH and SSL_CERT_FILE");
	free(json);

	ic.arch = "arm64";
	ic.cmd_bash = 0;
	json = manifest_config_json(&ic, layers, 1);
	CHECK_STR_EQ(json,
		     "{\"architecture\":\"arm64\",\"os\":\"linux\","
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
		     "\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]},"
		     "\"config\":{"
		     "\"Env\":[\"PATH=/bin:/usr/bin\",\"SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt\"]}}",
		     "the config of an arm64 image without bash has no Cmd");
	CHECK(json && !strstr(json, "Cmd"), "an image without bash has no \"Cmd\" at all");
	free(json);

	ic.variant = "v8";
	json = manifest_config_json(&ic, layers, 0);
	CHECK(json && strncmp(json, "{\"architecture\":\"arm64\",\"variant\":\"v8\",\"os\":\"linux\",", 48) == 0,
	      "an arm64 config names its variant, v8, as the index does (%s)", json ? json : "none");
	free(json);
	ic.variant = NULL;

	json = manifest_config_json(&ic, layers, 0);
	CHECK_STR_EQ(json,
		     "{\"architecture\":\"arm64\",\"os\":\"linux\","
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},"
		     "\"config\":{"
		     "\"Env\":[\"PATH=/bin:/usr/bin\",\"SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt\"]}}",
		     "the config of an image without layers has an empty diff_ids array");
	free(json);
}

static void test_manifests(void)
{
	struct manifest_layer layers[2];
	char *json;

	memset(layers, 0, sizeof layers);
	strcpy(layers[0].digest, A64);
	strcpy(layers[0].diff_id, D64);
	layers[0].size = 3000000000ULL;
	strcpy(layers[1].digest, B64);
	strcpy(layers[1].diff_id, E64);
	layers[1].size = 42;

	json = manifest_json(MANIFEST_DOCKER, C64, 1234, layers, 2);
	CHECK_STR_EQ(json,
		     "{\"schemaVersion\":2,"
		     "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
		     "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
		     "\"size\":1234,"
		     "\"digest\":\"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"},"
		     "\"layers\":["
		     "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
		     "\"size\":3000000000,"
		     "\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},"
		     "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
		     "\"size\":42,"
		     "\"digest\":\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]}",
		     "a Docker schema 2 manifest has Docker media types, layer digests (not diff_ids) and a 3000000000-byte size as an integer");
	free(json);

	json = manifest_json(MANIFEST_OCI, C64, 1234, layers, 2);
	CHECK_STR_EQ(json,
		     "{\"schemaVersion\":2,"
		     "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		     "\"size\":1234,"
		     "\"digest\":\"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"},"
		     "\"layers\":["
		     "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
		     "\"size\":3000000000,"
		     "\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},"
		     "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
		     "\"size\":42,"
		     "\"digest\":\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]}",
		     "an OCI manifest has OCI media types, layer digests and a 3000000000-byte size as an integer");
	free(json);

	layers[0].size = 68719476736ULL;   /* 64 GiB */
	json = manifest_json(MANIFEST_OCI, C64, 0, layers, 1);
	CHECK_STR_EQ(json,
		     "{\"schemaVersion\":2,"
		     "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		     "\"size\":0,"
		     "\"digest\":\"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"},"
		     "\"layers\":["
		     "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
		     "\"size\":68719476736,"
		     "\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}",
		     "a 64 GiB layer's size is written as the integer 68719476736");
	free(json);

	CHECK_STR_EQ(manifest_media_type(MANIFEST_DOCKER), "application/vnd.docker.distribution.manifest.v2+json",
		     "the Docker manifest's Content-Type is application/vnd.docker.distribution.manifest.v2+json");
	CHECK_STR_EQ(manifest_media_type(MANIFEST_OCI), "application/vnd.oci.image.manifest.v1+json",
		     "the OCI manifest's Content-Type is application/vnd.oci.image.manifest.v1+json");
}

#define DOCKER "application/vnd.docker.distribution.manifest.v2+json"
#define OCI "application/vnd.oci.image.manifest.v1+json"

static void check_negotiates(const char *accept, enum manifest_format want, const char *what)
{
	CHECK_INT_EQ(manifest_negotiate(accept), want, "%s gets the %s manifest", what,
		     want == MANIFEST_OCI ? "OCI" : "Docker");
}

static void test_negotiate(void)
{
	check_negotiates(NULL, MANIFEST_DOCKER, "a client without Accept");
	check_negotiates("", MANIFEST_DOCKER, "an empty Accept");
	check_negotiates("*/*", MANIFEST_DOCKER, "Accept */*");
	check_negotiates("application/json", MANIFEST_DOCKER, "Accept application/json");
	check_negotiates(OCI, MANIFEST_OCI, "a client accepting only OCI");
	check_negotiates(DOCKER, MANIFEST_DOCKER, "a client accepting only Docker");
	check_negotiates(OCI "," DOCKER, MANIFEST_OCI, "a client listing OCI before Docker");
	check_negotiates(DOCKER "," OCI, MANIFEST_DOCKER, "a client listing Docker before OCI");
	check_negotiates(OCI ";q=0.5," DOCKER, MANIFEST_DOCKER, "a client preferring Docker by q-value (OCI q=0.5, Docker q=1)");
	check_negotiates(DOCKER ";q=0.5," OCI ";q=0.9", MANIFEST_OCI, "a client preferring OCI by q-value though listing it second");
	check_negotiates(OCI ";q=0", MANIFEST_DOCKER, "a client refusing OCI with q=0");
	check_negotiates(OCI ";q=0," DOCKER ";q=0", MANIFEST_DOCKER, "a client refusing both");
	check_negotiates("APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON", MANIFEST_OCI, "an uppercase OCI type");
	check_negotiates("Application/Vnd.Docker.Distribution.Manifest.V2+Json, " OCI, MANIFEST_DOCKER,
			 "a mixed-case Docker type listed first");
	check_negotiates("  " OCI "  ,  " DOCKER "  ", MANIFEST_OCI, "spaces around the commas (OCI first)");
	check_negotiates("  " DOCKER " , " OCI " ", MANIFEST_DOCKER, "spaces around the commas (Docker first)");
	check_negotiates(OCI " ; q=0.5 , " DOCKER, MANIFEST_DOCKER, "spaces around ';' and the q-value");
	check_negotiates("text/html, " OCI ", */*", MANIFEST_OCI, "OCI among unrelated types");
	check_negotiates(OCI "x", MANIFEST_DOCKER, "a type that only starts like OCI's");
	check_negotiates("application/vnd.oci.image.manifest.v1", MANIFEST_DOCKER, "a truncated OCI type");
	check_negotiates(OCI ";level=1;q=0.2," DOCKER ";q=0.1", MANIFEST_OCI, "a q-value after another parameter");
	check_negotiates(OCI "," DOCKER ";q=0.5", MANIFEST_OCI, "a q-value on a later range that does not lower OCI");
	check_negotiates("application/vnd.oci.image.index.v1+json," DOCKER, MANIFEST_DOCKER,
			 "an OCI index type (not a manifest) before Docker");
}

#define LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define INDEX "application/vnd.oci.image.index.v1+json"

/* Accept -> "manifest docker|oci, index none|docker|oci". */
static void check_admits(const char *accept, const char *want, const char *what)
{
	struct manifest_accept a;
	char got[64];

	manifest_negotiate_all(accept, &a);
	snprintf(got, sizeof got, "%s %s", a.manifest == MANIFEST_OCI ? "oci" : "docker",
		 !a.index ? "none" : a.index_format == MANIFEST_OCI ? "oci-index" : "docker-list");
	CHECK_STR_EQ(got, want, "%s: manifest and index as %s", what, want);
}

static void test_negotiate_index(void)
{
	check_admits(NULL, "docker none", "no Accept");
	check_admits("*/*", "docker none", "a wildcard admits no index");
	check_admits(DOCKER, "docker none", "Docker's manifest only");
	check_admits(DOCKER ", " LIST ", " OCI ", " INDEX ", */*", "docker docker-list",
		     "containerd's Accept (list before index)");
	check_admits(OCI ", " DOCKER ", " LIST ", " INDEX, "oci docker-list",
		     "podman's Accept: OCI manifests, but the Docker list before the OCI index");
	check_admits(INDEX ", " OCI, "oci oci-index", "OCI index and manifest");
	check_admits(LIST ";q=0.5, " INDEX ";q=0.9, " DOCKER, "docker oci-index", "the index ranked higher by q-value");
	check_admits(INDEX ";q=0, " DOCKER, "docker none", "an index refused with q=0 is not admitted");
	check_admits(INDEX ";q=0, " LIST, "docker docker-list", "one index refused, the other admitted");
	check_admits("APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON", "docker oci-index", "an uppercase index type");
	check_admits(INDEX "x, " DOCKER, "docker none", "a type that only starts like the index's");
	CHECK_STR_EQ(manifest_index_media_type(MANIFEST_OCI), INDEX, "the OCI index's Content-Type");
	CHECK_STR_EQ(manifest_index_media_type(MANIFEST_DOCKER), LIST, "the Docker manifest list's Content-Type");
}

static void test_index(void)
{
	struct manifest_entry e[2] = {
		{ .size = 400, .os = "linux", .arch = "amd64", .variant = "" },
		{ .size = 401, .os = "linux", .arch = "arm64", .variant = "v8" },
	};
	char *json, seen[3 * 80] = "";

	strcpy(e[0].digest, A64);
	strcpy(e[1].digest, B64);
	json = manifest_index_json(MANIFEST_OCI, e, 2, NULL);
	CHECK_STR_EQ(json,
		     "{\"schemaVersion\":2,\"mediaType\":\"" INDEX "\",\"manifests\":["
		     "{\"mediaType\":\"" OCI "\",\"size\":400,\"digest\":\"sha256:" A64 "\","
		     "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
		     "{\"mediaType\":\"" OCI "\",\"size\":401,\"digest\":\"sha256:" B64 "\","
		     "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}}]}",
		     "an OCI index names each OCI manifest with its platform, arm64 with variant v8");
	CHECK(json && manifest_is_index(json), "an index is told from a manifest");
	CHECK(json && manifest_each_child(json, note_blob, seen) == 0 && strlen(seen) == 2 * 65,
	      "the index's children are walked: its two manifests (%s)", seen);
	CHECK(json && manifest_each_blob(json, note_blob, seen) == -EINVAL, "an index is no manifest to walk blobs of");
	free(json);
	json = manifest_index_json(MANIFEST_DOCKER, e, 1, "linux/arm64: figlet is not offered for aarch64-linux");
	CHECK_STR_EQ(json,
		     "{\"schemaVersion\":2,\"mediaType\":\"" LIST "\",\"manifests\":["
		     "{\"mediaType\":\"" DOCKER "\",\"size\":400,\"digest\":\"sha256:" A64 "\","
		     "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}],"
		     "\"annotations\":{\"nixery-fcgi.platforms.left-out\":\"linux/arm64: figlet is not offered for aarch64-linux\"}}",
		     "a Docker manifest list of Docker manifests, saying in an annotation which platform was left out");
	free(json);
	json = manifest_json(MANIFEST_DOCKER, C64, 1, NULL, 0);
	CHECK(json && !manifest_is_index(json) && manifest_each_child(json, note_blob, seen) == -EINVAL,
	      "a manifest is no index");
	free(json);
}

int main(void)
{
	test_config();
	test_manifests();
	test_negotiate();
	test_negotiate_index();
	test_index();
	return check_exit();
}
