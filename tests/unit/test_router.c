/* From method and URI to a registry call, and the errors a client gets for
 * everything else (fcgi/router.h, fcgi/reply.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/registry.h"
#include "fcgi/reply.h"
#include "fcgi/router.h"
#include "storage/storage.h"
#include "tests/unit/check.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX_UPPER "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"

static const char *kind_name(enum route_kind k)
{
	switch (k) {
	case ROUTE_BASE: return "base";
	case ROUTE_MANIFEST: return "manifest";
	case ROUTE_BLOB: return "blob";
	case ROUTE_TAGS: return "tags";
	case ROUTE_CATALOG: return "catalog";
	case ROUTE_REFERRERS: return "referrers";
	case ROUTE_METRICS: return "metrics";
	case ROUTE_PAGE: return "page";
	case ROUTE_SEARCH: return "search";
	}
	return "?";
}

/* The route must parse to kind, name and ref; the reply stays untouched. */
static void check_route(const char *method, const char *uri, enum route_kind kind,
			const char *name, const char *ref, const char *what)
{
	struct reply rep = { 0 };
	struct route rt;
	int rc;

	memset(&rt, 0x5a, sizeof rt);
	rc = router_parse(method, uri, &rt, &rep);
	if (!CHECK_WHY(rc == 0, rep.body.data, "%s %s is routed (%s)", method, uri, what)) {
		reply_free(&rep);
		return;
	}
	CHECK_STR_EQ(kind_name(rt.kind), kind_name(kind), "%s %s goes to the %s endpoint", method, uri, kind_name(kind));
	if (kind != ROUTE_BASE && kind != ROUTE_CATALOG && kind != ROUTE_METRICS && kind != ROUTE_PAGE) {
		CHECK_STR_EQ(rt.name, name, "%s %s names the image %s", method, uri, name);
		CHECK_STR_EQ(rt.ref, ref, "%s %s asks for the reference %s", method, uri,
			     strncmp(ref, "sha256:", 7) == 0 ? "sha256:<64 hex>" : ref);
	}
	CHECK(rep.status == 0 && rep.body.len == 0, "%s %s leaves the reply for the registry to fill", method, uri);
	reply_free(&rep);
}

/* The route must be refused with the status, and the error code in the
 * JSON body (when code is given). */
static void check_refused(const char *method, const char *uri, int status, const char *code,
			  const char *what)
{
	struct reply rep = { 0 };
	struct route rt;
	char quoted[64];
	int rc = router_parse(method, uri, &rt, &rep);

	if (!CHECK(rc < 0, "%s is refused", what)) {
		reply_free(&rep);
		return;
	}
	CHECK_INT_EQ(rep.status, status, "%s is refused with %d", what, status);
	CHECK_STR_EQ(rep.content_type, "application/json", "the refusal of %s is JSON", what);
	CHECK_WHY(rep.body.data && strncmp(rep.body.data, "{\"errors\":[{\"code\":\"", 20) == 0,
		  rep.body.data, "the refusal of %s has a registry error body {\"errors\":[{\"code\":...", what);
	if (code) {
		snprintf(quoted, sizeof quoted, "\"code\":\"%s\"", code);
		CHECK_WHY(rep.body.data && strstr(rep.body.data, quoted), rep.body.data,
			  "the refusal of %s has the code %s", what, code);
	}
	reply_free(&rep);
}

static void test_routes(void)
{
	check_route("GET", "/v2/", ROUTE_BASE, NULL, NULL, "the API base");
	check_route("GET", "/v2", ROUTE_BASE, NULL, NULL, "the API base without the slash");
	check_route("HEAD", "/v2/", ROUTE_BASE, NULL, NULL, "the API base by HEAD");
	check_route("GET", "/v2/shell/hello/manifests/latest", ROUTE_MANIFEST, "shell/hello", "latest",
		    "a manifest by tag");
	check_route("HEAD", "/v2/shell/hello/manifests/latest", ROUTE_MANIFEST, "shell/hello", "latest",
		    "a manifest by tag, by HEAD");
	check_route("GET", "/v2/hello/manifests/sha256:" HEX, ROUTE_MANIFEST, "hello", "sha256:" HEX,
		    "a manifest by digest");
	check_route("GET", "/v2/hello/blobs/sha256:" HEX, ROUTE_BLOB, "hello", "sha256:" HEX, "a blob");
	check_route("GET", "/v2/manifests/manifests/latest", ROUTE_MANIFEST, "manifests", "latest",
		    "an image named manifests");
	check_route("GET", "/v2/blobs/blobs/sha256:" HEX, ROUTE_BLOB, "blobs", "sha256:" HEX,
		    "an image named blobs");
	check_route("GET", "/v2/a/manifests/b/manifests/v1", ROUTE_MANIFEST, "a/manifests/b", "v1",
		    "a name with manifests inside");
	check_route("GET", "/v2/hello/manifests/latest?x=1", ROUTE_MANIFEST, "hello", "latest",
		    "a query string is ignored");
	check_route("GET", "/v2/hello/manifests/latest?ns=docker.io&x=/../..", ROUTE_MANIFEST, "hello", "latest",
		    "a query string with slashes and dots is ignored");
	check_route("GET", "/v2/?x", ROUTE_BASE, NULL, NULL, "the API base with a query string");
	check_route("GET", "/v2/arm64/shell/python3packages.numpy/manifests/v1.2-3_x", ROUTE_MANIFEST,
		    "arm64/shell/python3packages.numpy", "v1.2-3_x", "a long name with a dotted package and a tag");
	check_route("GET", "/v2/shell/hello/tags/list", ROUTE_TAGS, "shell/hello", "", "the tags of a name");
	check_route("GET", "/v2/tags/list/manifests/latest", ROUTE_MANIFEST, "tags/list", "latest",
		    "an image named tags/list");
	check_route("GET", "/v2/_catalog", ROUTE_CATALOG, NULL, NULL, "the catalog");
	check_route("GET", "/metrics", ROUTE_METRICS, NULL, NULL, "the metrics");
	{
		struct reply rep = { 0 };
		struct route rt;

		CHECK(router_parse("GET", "/?image=shell%2Fhello&x=1", &rt, &rep) == 0 && rt.kind == ROUTE_PAGE &&
		      rt.has_value && strcmp(rt.value, "shell/hello") == 0,
		      "the landing page takes the composer's image, decoded");
		CHECK(router_parse("GET", "/", &rt, &rep) == 0 && rt.kind == ROUTE_PAGE && !rt.has_value,
		      "the landing page without one");
		CHECK(router_parse("GET", "/search?q=python3Packages.num", &rt, &rep) == 0 && rt.kind == ROUTE_SEARCH &&
		      strcmp(rt.value, "python3Packages.num") == 0, "a search takes its query");
		reply_free(&rep);
	}
	check_route("GET", "/v2/hello/referrers/sha256:" HEX, ROUTE_REFERRERS, "hello", "sha256:" HEX,
		    "the referrers of a manifest");
	{
		struct reply rep = { 0 };
		struct route rt;

		CHECK(router_parse("GET", "/v2/hello/tags/list?n=2&last=v1.0&x=y", &rt, &rep) == 0 &&
		      rt.n == 2 && strcmp(rt.last, "v1.0") == 0, "a listing takes n and last from the query");
		CHECK(router_parse("GET", "/v2/_catalog?n=100000", &rt, &rep) == 0 && rt.n == ROUTE_MAX_LIST,
		      "n is capped at %d", ROUTE_MAX_LIST);
		CHECK(router_parse("GET", "/v2/_catalog", &rt, &rep) == 0 && rt.n == -1 && !rt.last[0],
		      "without a query a listing has no n and no last");
		reply_free(&rep);
	}
	check_route("GET", "/v2/0123456789abcdef0123456789abcdef01234567/manifests/0123456789abcdef0123456789abcdef01234567",
		    ROUTE_MANIFEST, "0123456789abcdef0123456789abcdef01234567",
		    "0123456789abcdef0123456789abcdef01234567", "a commit as the tag");
}

static void test_methods(void)
{
	check_refused("PUT", "/v2/hello/manifests/sha256:totallywrong", 404, "MANIFEST_UNKNOWN",
		      "a PUT of a reference no manifest can have (the conformance suite's error-code check)");
	check_refused("POST", "/v2/hello/blobs/uploads/", 405, "UNSUPPORTED", "a push's upload");
	static const char *const methods[] = { "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "" };
	size_t i;

	for (i = 0; i < sizeof methods / sizeof *methods; i++) {
		struct reply rep = { 0 };
		struct route rt;
		char what[128];

		snprintf(what, sizeof what, "the method \"%s\"", methods[i]);
		check_refused(methods[i], "/v2/hello/manifests/latest", 405, "UNSUPPORTED", what);
		router_parse(methods[i], "/v2/hello/manifests/latest", &rt, &rep);
		CHECK_STR_EQ(rep.allow, "GET, HEAD", "the refusal of %s says Allow: GET, HEAD", what);
		reply_free(&rep);
	}
}

static void test_refusals(void)
{
	char uri[512], tag[200];

	check_refused("GET", "/v2/../etc/passwd", 400, NULL, "/v2/../etc/passwd");
	check_refused("GET", "/v2/../manifests/latest", 400, "NAME_INVALID", "the image name ..");
	check_refused("GET", "/v2/a/../b/manifests/latest", 400, "NAME_INVALID", "a .. component in the name");
	check_refused("GET", "/v2/%2e%2e/manifests/latest", 400, NULL, "a percent-encoded .. as the name");
	check_refused("GET", "/v2/hello/blobs/sha256:..%2f..", 400, NULL, "a percent-encoded ../.. as the digest");
	check_refused("GET", "/v2/a%2fb/manifests/latest", 400, NULL, "a percent-encoded slash in the name");
	check_refused("GET", "/v2/hello/manifests/lat%65st", 400, NULL, "a percent-encoded letter in the tag");

	check_refused("GET", "/v2/hello/blobs/sha256:abc", 400, "DIGEST_INVALID", "a blob digest of 3 hex digits");
	check_refused("GET", "/v2/hello/blobs/sha256:" HEX_UPPER, 400, "DIGEST_INVALID", "a blob digest in uppercase hex");
	check_refused("GET", "/v2/hello/blobs/sha256:" HEX "/x", 400, "DIGEST_INVALID",
		      "a blob digest followed by /x");
	check_refused("GET", "/v2/hello/blobs/sha512:" HEX HEX, 400, "DIGEST_INVALID", "a sha512 blob digest");
	check_refused("GET", "/v2/hello/blobs/latest", 400, "DIGEST_INVALID", "a blob asked for by tag");
	check_refused("GET", "/v2/hello/blobs/", 400, "DIGEST_INVALID", "a blob without a digest");
	/* A manifest reference that can be neither a tag nor a digest names
	 * no manifest: 404, as the conformance suite expects. */
	check_refused("GET", "/v2/hello/manifests/sha256:abc", 404, "MANIFEST_UNKNOWN", "a manifest digest of 3 hex digits");
	check_refused("GET", "/v2/hello/manifests/sha256:" HEX "/x", 404, "MANIFEST_UNKNOWN",
		      "a manifest digest followed by /x");
	check_refused("GET", "/v2/hello/manifests/sha512:" HEX HEX, 404, "MANIFEST_UNKNOWN", "a sha512 manifest digest");
	check_refused("GET", "/v2/hello/manifests/.INVALID_MANIFEST_NAME", 404, "MANIFEST_UNKNOWN",
		      "the conformance suite's .INVALID_MANIFEST_NAME");

	check_refused("GET", "/v2/Hello/manifests/latest", 400, "NAME_INVALID", "an uppercase image name");
	check_refused("GET", "/v2//manifests/latest", 400, "NAME_INVALID", "an empty image name");
	check_refused("GET", "/v2/hello//manifests/latest", 400, "NAME_INVALID", "an image name ending in /");
	check_refused("GET", "/v2/a;rm/manifests/latest", 400, "NAME_INVALID", "an image name with a semicolon");
	check_refused("GET", "/v2/hello/manifests/-bad", 404, "MANIFEST_UNKNOWN", "the tag -bad");
	check_refused("GET", "/v2/hello/manifests/.bad", 404, "MANIFEST_UNKNOWN", "the tag .bad");
	check_refused("GET", "/v2/hello/manifests/", 404, "MANIFEST_UNKNOWN", "an empty tag");
	check_refused("GET", "/v2/hello/manifests/a/b", 404, "MANIFEST_UNKNOWN", "a tag with a slash");
	memset(tag, 'a', 129);
	tag[129] = '\0';
	snprintf(uri, sizeof uri, "/v2/hello/manifests/%s", tag);
	check_refused("GET", uri, 404, "MANIFEST_UNKNOWN", "a tag of 129 characters");
	tag[128] = '\0';
	snprintf(uri, sizeof uri, "/v2/hello/manifests/%s", tag);
	{
		struct reply rep = { 0 };
		struct route rt;

		CHECK(router_parse("GET", uri, &rt, &rep) == 0 && strlen(rt.ref) == 128,
		      "a tag of 128 characters is routed whole");
		reply_free(&rep);
	}
	{
		char name[300];

		memset(name, 'n', 256);
		name[256] = '\0';
		snprintf(uri, sizeof uri, "/v2/%s/manifests/latest", name);
		check_refused("GET", uri, 400, "NAME_INVALID", "an image name of 256 characters");
	}

	check_refused("GET", "/v2/hello/tags/list?n=ten", 400, "PAGINATION_NUMBER_INVALID", "a listing's n that is no number");
	check_refused("GET", "/v2/hello/tags/list?n=-1", 400, "PAGINATION_NUMBER_INVALID", "a negative n");
	check_refused("GET", "/v2/_catalog?n=99999999999", 400, "PAGINATION_NUMBER_INVALID", "an n too long to be a number");
	check_refused("GET", "/v2/hello/tags/list?last=%2e%2e", 400, "NAME_INVALID", "an escaped last");
	check_refused("GET", "/v2/Hello/tags/list", 400, "NAME_INVALID", "the tags of an uppercase name");
	check_refused("GET", "/v2/hello/referrers/sha256:abc", 400, "DIGEST_INVALID", "referrers of a bad digest");
	check_refused("GET", "/etc/passwd", 404, NULL, "/etc/passwd");
	check_refused("GET", "/search", 400, "NAME_INVALID", "a search without q");
	check_refused("GET", "/search?q=a%2Fb", 400, "NAME_INVALID", "a search for a path");
	check_refused("GET", "/index.html", 404, NULL, "/index.html");
	check_refused("GET", "", 404, NULL, "the empty URI");
	check_refused("GET", "/v2x/hello/manifests/latest", 404, NULL, "a path under /v2x");
	check_refused("GET", "/V2/hello/manifests/latest", 404, NULL, "a path under /V2");
	{
		char *huge = malloc(5000);

		memcpy(huge, "/v2/", 4);
		memset(huge + 4, 'a', 4995);
		huge[4999] = '\0';
		check_refused("GET", huge, 414, NULL, "a request path of 5000 characters");
		free(huge);
	}
}

static void test_reply(void)
{
	struct reply rep = { 0 };

	reply_error(&rep, 404, "MANIFEST_UNKNOWN", "no \"such\" image", NULL);
	CHECK_INT_EQ(rep.status, 404, "a registry error sets the status");
	CHECK_STR_EQ(rep.body.data,
		     "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"no \\\"such\\\" image\"}]}",
		     "a registry error body is {\"errors\":[{code, message}]} with the message escaped");
	reply_error(&rep, 400, "NAME_INVALID", "second", NULL);
	CHECK_STR_EQ(rep.body.data, "{\"errors\":[{\"code\":\"NAME_INVALID\",\"message\":\"second\"}]}",
		     "a second error replaces the first body rather than appending to it");
	reply_json(&rep, 200, "{}");
	CHECK(rep.status == 200 && rep.body.len == 2 && strcmp(rep.body.data, "{}") == 0 &&
	      strcmp(rep.content_type, "application/json") == 0,
	      "a JSON reply sets status, body and Content-Type application/json");
	reply_free(&rep);
	CHECK(rep.body.data == NULL && rep.body.len == 0, "freeing a reply frees its body");
}

/* A stand-in for Nix that knows no package: enough for the registry's
 * answers below, which never build. */
static int knows_nothing(const struct nix_job *job, struct nix_eval *ev, char *err, size_t errlen)
{
	size_t i;

	(void)err;
	(void)errlen;
	memset(ev, 0, sizeof *ev);
	ev->unknown = calloc(job->req->npackages + 1, sizeof *ev->unknown);
	for (i = 0; ev->unknown && i < job->req->npackages; i++)
		ev->unknown[ev->nunknown++] = strdup(job->req->packages[i]);
	return 0;
}

static const struct nix_runner no_nix = { .evaluate = knows_nothing };

/* router_handle for a GET or HEAD. */
static void handle(struct registry *reg, const char *method, const char *uri, const char *accept,
		   struct reply *rep)
{
	struct request_params p = { .method = method, .uri = uri, .accept = accept, .host = "registry.example:8080" };

	router_handle(reg, &p, rep);
}

/* router_handle through the registry: what a client gets for routes that
 * need no build, with a real cache and storage. */
static void test_registry(void)
{
	char dir[] = "/tmp/nixery-router-XXXXXX", state[64], storage_path[64], err[512], cmd[96];
	struct config cfg = { 0 };
	struct storage *storage = NULL;
	struct registry reg;
	struct reply rep = { 0 };
	atomic_int cancel = 0;

	if (!mkdtemp(dir))
		return;
	snprintf(state, sizeof state, "%s/state", dir);
	snprintf(storage_path, sizeof storage_path, "%s/storage", dir);
	cfg = (struct config){ .source = SOURCE_PATH, .source_arg = "/demo", .state_dir = state,
			       .storage_path = storage_path, .nix_timeout = 10, .max_layers = 94,
			       .max_builds = 1, .eval_ttl = 60, .platforms = { platform_host() }, .nplatforms = 1 };
	if (!CHECK_WHY(builder_prepare(&cfg, err, sizeof err) == 0 &&
		       storage_open(&(struct config){ .storage_path = (char *)storage_path }, &storage, err, sizeof err) == 0 &&
		       registry_open(&reg, &cfg, storage, NULL, NULL, NULL, &cancel, err, sizeof err) == 0,
		       err, "a registry opens on a new state folder"))
		return;
	reg.builder.nix = &no_nix;

	handle(&reg, "GET", "/v2/", NULL, &rep);
	CHECK(rep.status == 200 && strcmp(rep.body.data, "{}") == 0, "GET /v2/ answers 200 {}");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/hello/blobs/sha256:" HEX, NULL, &rep);
	CHECK(rep.status == 404 && strstr(rep.body.data, "BLOB_UNKNOWN") && !rep.file[0],
	      "an unknown blob is 404 BLOB_UNKNOWN, and no file is sent");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/hello/manifests/sha256:" HEX, NULL, &rep);
	CHECK(rep.status == 404 && strstr(rep.body.data, "MANIFEST_UNKNOWN"),
	      "an unknown manifest digest is 404 MANIFEST_UNKNOWN");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/nosuch/manifests/latest", "application/vnd.oci.image.manifest.v1+json", &rep);
	CHECK_WHY(rep.status == 404 && strstr(rep.body.data, "Could not find Nix packages: cacert iana-etc nosuch") &&
		  strstr(rep.body.data, "\"detail\":{\"packages\":[\"cacert\",\"iana-etc\",\"nosuch\"]}"), rep.body.data,
		  "a manifest of unknown packages is 404 MANIFEST_UNKNOWN naming them in its detail");
	CHECK(rep.vary_accept, "an answer to a manifest by tag varies with Accept (Vary: Accept)");
	reply_free(&rep);

	/* Listings, from what builds recorded. */
	cache_tag_put(reg.builder.cache, "shell/hello", "v2", HEX, 1);
	cache_tag_put(reg.builder.cache, "shell/hello", "main", HEX, 1);
	cache_tag_put(reg.builder.cache, "shell/hello", "v2", HEX, 2);
	cache_tag_put(reg.builder.cache, "cowsay", "latest", HEX, 1);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/shell/hello/tags/list", NULL, &rep);
	CHECK_STR_EQ(rep.body.data, "{\"name\":\"shell/hello\",\"tags\":[\"latest\",\"main\",\"v2\"]}",
		     "a name's tags are latest and the tags recorded for it, sorted, each once");
	CHECK(!rep.link[0], "a listing that fits has no Link");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/shell/hello/tags/list?n=2", NULL, &rep);
	CHECK_STR_EQ(rep.body.data, "{\"name\":\"shell/hello\",\"tags\":[\"latest\",\"main\"]}", "n=2 gives two tags");
	CHECK_STR_EQ(rep.link, "</v2/shell/hello/tags/list?n=2&last=main>; rel=\"next\"", "and a Link to the next page");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/shell/hello/tags/list?n=2&last=main", NULL, &rep);
	CHECK_STR_EQ(rep.body.data, "{\"name\":\"shell/hello\",\"tags\":[\"v2\"]}", "last=main gives the tags after main");
	CHECK(!rep.link[0], "the last page has no Link");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/nothing/built/tags/list?n=0", NULL, &rep);
	CHECK_STR_EQ(rep.body.data, "{\"name\":\"nothing/built\",\"tags\":[]}", "n=0 gives no tags");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/_catalog?n=1", NULL, &rep);
	CHECK_STR_EQ(rep.body.data, "{\"repositories\":[\"cowsay\"]}", "the catalog lists the names built, sorted, n at a time");
	CHECK_STR_EQ(rep.link, "</v2/_catalog?n=1&last=cowsay>; rel=\"next\"", "with a Link to the next page");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/?image=%3Cscript%3E", NULL, &rep);
	CHECK(rep.status == 200 && strcmp(rep.content_type, "text/html; charset=utf-8") == 0 &&
	      strstr(rep.body.data, "docker pull registry.example:8080/shell/hello") &&
	      strstr(rep.body.data, "That is not an image name") && !strstr(rep.body.data, "<script>\"") &&
	      !strstr(rep.body.data, "=\"<script>"),
	      "the landing page names this host in its commands and shows no unchecked input");
	reply_free(&rep);
	rep = (struct reply){ 0 };
	handle(&reg, "GET", "/v2/hello/referrers/sha256:" HEX, NULL, &rep);
	CHECK(rep.status == 200 && strstr(rep.body.data, "\"manifests\":[]") &&
	      strcmp(rep.content_type, "application/vnd.oci.image.index.v1+json") == 0,
	      "referrers are an empty OCI index");
	reply_free(&rep);

	registry_close(&reg);
	storage_close(storage);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", dir);
}

int main(void)
{
	test_routes();
	test_methods();
	test_refusals();
	test_reply();
	test_registry();
	return check_exit();
}
