/* What an image path asks for (core/image.h), and where its packages come
 * from (core/source.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/image.h"
#include "core/source.h"
#include "tests/unit/check.h"

/* The package list joined by spaces, for one readable comparison. */
static void joined(const struct image_request *req, char *out, size_t len)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < req->npackages && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? " " : "", req->packages[i]);
}

/* Parses name and checks the packages, system, arch and Cmd it expands to. */
static void check_expands(const char *name, const char *want_packages, const char *want_system,
			  const char *want_arch, int want_bash)
{
	struct image_request req;
	char err[256] = "", got[1024];
	int rc = image_parse(name, &req, err, sizeof err);

	if (!CHECK_WHY(rc == 0, err, "\"%s\" is a valid image name", name))
		return;
	joined(&req, got, sizeof got);
	CHECK_STR_EQ(got, want_packages, "\"%s\" expands to the packages %s", name, want_packages);
	CHECK_STR_EQ(req.system, want_system, "\"%s\" builds for the Nix system %s", name, want_system);
	CHECK_STR_EQ(req.arch, want_arch, "\"%s\" says architecture %s in the image config", name, want_arch);
	CHECK_INT_EQ(req.cmd_bash, want_bash, "\"%s\" %s", name,
		     want_bash ? "runs bash by default (Cmd [\"bash\"])" : "has no default command");
	image_request_free(&req);
}

static void test_expansion(void)
{
	check_expands("shell/hello", "bashInteractive cacert coreutils hello iana-etc moreutils nano",
		      "x86_64-linux", "amd64", 1);
	check_expands("shell", "bashInteractive cacert coreutils iana-etc moreutils nano",
		      "x86_64-linux", "amd64", 1);
	check_expands("hello", "cacert hello iana-etc", "x86_64-linux", "amd64", 0);
	check_expands("arm64/hello", "cacert hello iana-etc", "aarch64-linux", "arm64", 0);
	check_expands("hello/arm64", "cacert hello iana-etc", "aarch64-linux", "arm64", 0);
	check_expands("arm64/shell/git", "bashInteractive cacert coreutils git iana-etc moreutils nano",
		      "aarch64-linux", "arm64", 1);
	check_expands("hello/hello", "cacert hello iana-etc", "x86_64-linux", "amd64", 0);
	check_expands("shell/shell/nano", "bashInteractive cacert coreutils iana-etc moreutils nano",
		      "x86_64-linux", "amd64", 1);
	check_expands("cacert", "cacert iana-etc", "x86_64-linux", "amd64", 0);
	check_expands("iana-etc/cacert", "cacert iana-etc", "x86_64-linux", "amd64", 0);
	{
		struct image_request req;
		char err[256];

		int rc = image_parse("shell/hello", &req, err, sizeof err);

		CHECK_WHY(rc == 0, err, "shell/hello parses, to be freed");
		if (rc == 0)
			image_request_free(&req);
		CHECK(rc == 0 && req.packages == NULL && req.npackages == 0,
		      "freeing a request leaves it without packages");
	}
	check_expands("zsh/htop/git", "cacert git htop iana-etc zsh", "x86_64-linux", "amd64", 0);
}

static void check_rejected(const char *label, const char *name)
{
	struct image_request req;
	char err[256] = "";
	int rc = image_parse(name, &req, err, sizeof err);

	CHECK_INT_EQ(rc, -EINVAL, "the image name %s is rejected with EINVAL", label);
	CHECK(err[0] != '\0', "the rejection of the image name %s says why", label);
	CHECK(!image_name_valid(name), "the image name %s does not match the repository grammar", label);
	if (rc == 0)
		image_request_free(&req);
	else
		CHECK(req.packages == NULL && req.npackages == 0,
		      "a rejected image name (%s) leaves no packages behind", label);
}

/* want: the package list, sorted by hand. */
static void check_accepted(const char *name, const char *want)
{
	struct image_request req;
	char err[256] = "", got[1024];
	int rc = image_parse(name, &req, err, sizeof err);

	CHECK(image_name_valid(name), "\"%s\" matches the repository grammar", name);
	if (!CHECK_WHY(rc == 0, err, "\"%s\" is accepted as an image name", name))
		return;
	joined(&req, got, sizeof got);
	CHECK_STR_EQ(got, want, "\"%s\" asks for exactly the packages %s", name, want);
	image_request_free(&req);
}

static void test_names(void)
{
	char long_name[300];
	char max_name[300];

	check_rejected("\"\" (empty)", "");
	check_rejected("\"Hello\" (uppercase)", "Hello");
	check_rejected("\"shell/Git\" (uppercase after a slash)", "shell/Git");
	check_rejected("\"a//b\" (empty component)", "a//b");
	check_rejected("\"/a\" (leading slash)", "/a");
	check_rejected("\"a/\" (trailing slash)", "a/");
	check_rejected("\"-a\" (leading separator)", "-a");
	check_rejected("\"a-\" (trailing separator)", "a-");
	check_rejected("\"a..b\" (double dot)", "a..b");
	check_rejected("\".a\" (leading dot)", ".a");
	check_rejected("\"..\" (parent directory)", "..");
	check_rejected("\"a/../b\" (parent directory component)", "a/../b");
	check_rejected("\"a___b\" (three underscores)", "a___b");
	check_rejected("\"a._b\" (two different separators)", "a._b");
	check_rejected("\"a b\" (space)", "a b");
	check_rejected("\"a;rm\" (semicolon)", "a;rm");
	check_rejected("\"a\\\"b\" (quote)", "a\"b");
	check_rejected("\"a\\nb\" (newline)", "a\nb");
	memset(long_name, 'a', 256);
	long_name[256] = '\0';
	check_rejected("of 256 characters", long_name);

	check_accepted("a__b", "a__b cacert iana-etc");
	check_accepted("a--b", "a--b cacert iana-etc");
	check_accepted("a_b", "a_b cacert iana-etc");
	check_accepted("python3packages.numpy", "cacert iana-etc python3packages.numpy");
	check_accepted("1password", "1password cacert iana-etc");
	check_accepted("x", "cacert iana-etc x");
	check_accepted("gnome.nautilus/a-b.c__d", "a-b.c__d cacert gnome.nautilus iana-etc");

	memset(max_name, 'b', 255);
	max_name[255] = '\0';
	CHECK(image_name_valid(max_name), "an image name of 255 characters matches the grammar");
	{
		struct image_request req;
		char err[256] = "";

		if (CHECK(image_parse(max_name, &req, err, sizeof err) == 0,
			  "an image name of 255 characters is accepted"))
			image_request_free(&req);
	}
}

static void test_packages_json(void)
{
	struct image_request req;
	char err[256] = "";
	char *json;

	if (!CHECK(image_parse("hello", &req, err, sizeof err) == 0, "\"hello\" parses for its JSON package list"))
		return;
	json = image_packages_json(&req);
	CHECK_STR_EQ(json, "[\"cacert\",\"hello\",\"iana-etc\"]",
		     "the packages of \"hello\" reach Nix as the JSON array [\"cacert\",\"hello\",\"iana-etc\"]");
	free(json);
	image_request_free(&req);

	if (!CHECK(image_parse("shell/python3packages.numpy", &req, err, sizeof err) == 0,
		   "\"shell/python3packages.numpy\" parses for its JSON package list"))
		return;
	json = image_packages_json(&req);
	CHECK_STR_EQ(json, "[\"bashInteractive\",\"cacert\",\"coreutils\",\"iana-etc\",\"moreutils\",\"nano\",\"python3packages.numpy\"]",
		     "the JSON package list of \"shell/python3packages.numpy\" has all seven names in order");
	free(json);
	image_request_free(&req);
}

static void test_tags(void)
{
	char tag128[200], tag129[200];
	static const char *const good[] = { "latest", "v1.2-3_x", "_x", "X", "0" };
	static const char *const bad[][2] = {
		{ "", "the empty tag" }, { ".x", "a tag with a leading dot" },
		{ "-x", "a tag with a leading dash" }, { "a/b", "a tag with a slash" },
		{ "a:b", "a tag with a colon" }, { "a b", "a tag with a space" },
		{ "a%2f", "a tag with a percent sign" }, { "a\n", "a tag with a newline" },
	};
	size_t i;

	for (i = 0; i < sizeof good / sizeof *good; i++)
		CHECK(source_tag_valid(good[i]), "the tag \"%s\" is valid", good[i]);
	memset(tag128, 'a', 128);
	tag128[128] = '\0';
	CHECK(source_tag_valid(tag128), "a tag of 128 characters is valid");
	for (i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(!source_tag_valid(bad[i][0]), "%s is rejected", bad[i][1]);
	memset(tag129, 'a', 129);
	tag129[129] = '\0';
	CHECK(!source_tag_valid(tag129), "a tag of 129 characters is rejected");
}

static void check_source(enum source_kind kind, const char *arg, const char *tag,
			 const char *want_type, const char *want_args, int want_pinned,
			 const char *what)
{
	struct config cfg;
	struct source src;
	int rc;

	memset(&cfg, 0, sizeof cfg);
	cfg.source = kind;
	cfg.source_arg = (char *)arg;
	rc = source_resolve(&cfg, tag, &src);
	if (!CHECK(rc == 0, "%s: the source resolves", what))
		return;
	CHECK_STR_EQ(src.type, want_type, "%s: the source type is %s", what, want_type);
	CHECK_STR_EQ(src.args, want_args, "%s: the source arguments are %s", what, want_args);
	CHECK_INT_EQ(src.pinned, want_pinned, "%s: %s", what,
		     want_pinned ? "pinned (evaluated once, cached forever)" : "not pinned (re-evaluated)");
	source_free(&src);
	CHECK(src.args == NULL, "%s: freeing the source clears its arguments", what);
}

static void test_sources(void)
{
	static const char url[] = "https://example.org/r.git";
	static const char commit[] = "0123456789abcdef0123456789abcdef01234567";
	static const char upper_commit[] = "0123456789ABCDEF0123456789ABCDEF01234567";

	check_source(SOURCE_GIT, url, "latest", "git", "{\"url\":\"https://example.org/r.git\"}", 0,
		     "git source, tag latest (the default branch)");
	check_source(SOURCE_GIT, url, commit, "git",
		     "{\"url\":\"https://example.org/r.git\",\"rev\":\"0123456789abcdef0123456789abcdef01234567\"}", 1,
		     "git source, tag of 40 hex digits (a commit)");
	check_source(SOURCE_GIT, url, "main", "git",
		     "{\"url\":\"https://example.org/r.git\",\"ref\":\"main\"}", 0,
		     "git source, tag main (a branch)");
	check_source(SOURCE_GIT, url, upper_commit, "git",
		     "{\"url\":\"https://example.org/r.git\",\"ref\":\"0123456789ABCDEF0123456789ABCDEF01234567\"}", 0,
		     "git source, tag of 40 uppercase hex digits (a ref, not a commit)");
	check_source(SOURCE_GIT, url, "0123456789abcdef0123456789abcdef0123456", "git",
		     "{\"url\":\"https://example.org/r.git\",\"ref\":\"0123456789abcdef0123456789abcdef0123456\"}", 0,
		     "git source, tag of 39 hex digits (a ref, not a commit)");
	check_source(SOURCE_CHANNEL, commit, "latest", "nixpkgs", commit, 1,
		     "channel source at a nixpkgs commit");
	check_source(SOURCE_CHANNEL, "nixos-unstable", "latest", "nixpkgs", "nixos-unstable", 0,
		     "channel source nixos-unstable");
	check_source(SOURCE_CHANNEL, "nixos-unstable", commit, "nixpkgs", "nixos-unstable", 0,
		     "channel source nixos-unstable ignores a commit-like tag");
	check_source(SOURCE_PATH, "/srv/pkgs", "latest", "path", "/srv/pkgs", 0,
		     "path source, tag latest");
	check_source(SOURCE_PATH, "/srv/pkgs", commit, "path", "/srv/pkgs", 0,
		     "path source, commit-like tag (a path never pins)");
}

int main(void)
{
	test_expansion();
	test_names();
	test_packages_json();
	test_tags();
	test_sources();
	return check_exit();
}
