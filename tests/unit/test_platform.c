/* Platforms (core/platform.h): the names NIXERY_PLATFORMS takes, the
 * fields an index and a config get for each, its Nix system, and the
 * setting as loaded (core/config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/image.h"
#include "core/platform.h"
#include "tests/unit/check.h"

static void check_finds(const char *name, const char *want)
{
	const struct platform *p = platform_find(name, strlen(name));

	CHECK(p && strcmp(p->name, want) == 0, "\"%s\" is the platform %s", name, want);
}

static void test_find(void)
{
	const struct platform *arm = platform_find("linux/arm64", 11), *amd = platform_find("linux/amd64", 11);

	CHECK(arm && strcmp(arm->system, "aarch64-linux") == 0 && strcmp(arm->arch, "arm64") == 0 &&
	      strcmp(arm->variant, "v8") == 0 && strcmp(arm->os, "linux") == 0,
	      "linux/arm64 is Nix's aarch64-linux, architecture arm64, variant v8");
	CHECK(amd && strcmp(amd->system, "x86_64-linux") == 0 && strcmp(amd->arch, "amd64") == 0 && !*amd->variant,
	      "linux/amd64 is Nix's x86_64-linux, architecture amd64, no variant");
	check_finds("linux/arm64/v8", "linux/arm64");
	check_finds("linux/aarch64", "linux/arm64");
	check_finds("aarch64-linux", "linux/arm64");
	check_finds("LINUX/AMD64", "linux/amd64");
	check_finds("linux/x86_64", "linux/amd64");
	check_finds("linux/arm", "linux/arm/v7");
	CHECK(platform_find("linux/arm64x", 12) == NULL && platform_find("linux/arm6", 10) == NULL &&
	      platform_find("windows/amd64", 13) == NULL && platform_find("", 0) == NULL,
	      "names that only start like a platform's, another os, and nothing are no platform");
	CHECK(platform_find("linux/arm64 linux/amd64", 11) == arm, "a name is read only to its length");
	CHECK(platform_at(platform_index(arm)) == arm && platform_at(PLATFORM_MAX) == NULL,
	      "a platform's place in the table leads back to it");
#if defined(__x86_64__)
	CHECK(platform_host() == amd, "this x86_64 host's own platform is linux/amd64");
#endif
}

static void check_list(const char *text, const char *want)
{
	const struct platform *list[PLATFORM_MAX];
	char err[256] = "", got[256];
	size_t n;
	int rc = platform_parse_list(text, list, &n, err, sizeof err);

	if (rc == 0)
		platform_list_text(list, n, " ", got, sizeof got);
	CHECK_WHY(rc == 0 && strcmp(got, want) == 0, err, "\"%s\" lists %s", text, want);
}

static void check_refused(const char *text, const char *why)
{
	const struct platform *list[PLATFORM_MAX];
	char err[256] = "";
	size_t n;
	int rc = platform_parse_list(text, list, &n, err, sizeof err);

	CHECK_WHY(rc == -EINVAL && strstr(err, why), err, "\"%s\" is refused: %s", text, why);
}

static void test_lists(void)
{
	check_list("linux/amd64 linux/arm64", "linux/amd64 linux/arm64");
	check_list("linux/arm64,linux/amd64", "linux/arm64 linux/amd64");
	check_list("  linux/amd64 ,\tlinux/arm64/v8  ", "linux/amd64 linux/arm64");
	check_list("linux/amd64 linux/arm64 linux/386 linux/arm/v7 linux/arm/v6 linux/riscv64 linux/ppc64le linux/s390x",
		   "linux/amd64 linux/arm64 linux/386 linux/arm/v7 linux/arm/v6 linux/riscv64 linux/ppc64le linux/s390x");
	check_refused("linux/amd64 linux/amd64", "named twice");
	check_refused("linux/arm64 aarch64-linux", "named twice");
	check_refused("linux/amd64 linux/mips", "'linux/mips' is not a platform");
	check_refused(" , ", "no platform is named");
	check_refused("", "no platform is named");
}

static int load(const char *value, struct config *cfg, char *err, size_t errlen)
{
	if (value)
		setenv("NIXERY_PLATFORMS", value, 1);
	else
		unsetenv("NIXERY_PLATFORMS");
	return config_load(cfg, "/dev/null", err, errlen);
}

static void test_setting(void)
{
	struct config cfg;
	char err[1024] = "";
	struct buf printed = { 0 };
	int rc;

	setenv("NIXERY_PKGS_PATH", "/srv/pkgs", 1);
	rc = load(NULL, &cfg, err, sizeof err);
	CHECK_WHY(rc == 0 && cfg.nplatforms == 1 && cfg.platforms[0] == platform_host(), err,
		  "unset, NIXERY_PLATFORMS is the host's own platform only");
	if (rc == 0)
		config_free(&cfg);
	rc = load("linux/amd64 linux/arm64", &cfg, err, sizeof err);
	CHECK_WHY(rc == 0 && cfg.nplatforms == 2 && strcmp(cfg.platforms[1]->system, "aarch64-linux") == 0, err,
		  "NIXERY_PLATFORMS=\"linux/amd64 linux/arm64\" serves both, in that order");
	if (rc == 0) {
		config_print(&cfg, &printed);
		CHECK(printed.data && strstr(printed.data, "NIXERY_PLATFORMS") &&
		      strstr(printed.data, "linux/amd64 linux/arm64"), "--check-config prints the platforms");
		buf_free(&printed);
		config_free(&cfg);
	}
	err[0] = '\0';
	rc = load("linux/amd64 linux/sparc", &cfg, err, sizeof err);
	CHECK_WHY(rc == -EINVAL && strstr(err, "NIXERY_PLATFORMS") && strstr(err, "linux/sparc"), err,
		  "an unknown platform is a bad setting, named");
	unsetenv("NIXERY_PLATFORMS");
	unsetenv("NIXERY_PKGS_PATH");
}

static void test_request(void)
{
	struct image_request req;
	char err[256] = "";

	CHECK(image_parse("hello", &req, err, sizeof err) == 0 && req.platform == platform_host() &&
	      !req.platform_named, "a name without arm64 chooses no platform (the registry serves its own)");
	image_request_free(&req);
	CHECK(image_parse("arm64/hello", &req, err, sizeof err) == 0 && req.platform_named &&
	      strcmp(req.platform->name, "linux/arm64") == 0 && strcmp(req.system, "aarch64-linux") == 0,
	      "the arm64 meta-package chooses linux/arm64, one platform");
	image_request_free(&req);
}

int main(void)
{
	test_find();
	test_lists();
	test_setting();
	test_request();
	return check_exit();
}
