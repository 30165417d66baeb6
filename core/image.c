#include "core/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/strv.h"

static const char *const always_added[] = { "cacert", "iana-etc" };
static const char *const shell_packages[] = { "bashInteractive", "coreutils", "moreutils", "nano" };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component of the distribution spec's repository grammar:
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*  */
static int valid_component(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start = i;

		if (!is_alnum(s[i]))
			return 0;
		while (i < len && is_alnum(s[i]))
			i++;
		if (i == len)
			return 1;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < len && s[i] == '-')
				i++;
		else
			return 0;
		if (i == len || i == start)
			return 0;
	}
	return len > 0;
}

/* The first component of name that breaks the grammar (its length in
 * *len), or NULL. */
static const char *invalid_component(const char *name, size_t *len)
{
	const char *p = name, *slash;

	for (;;) {
		slash = strchr(p, '/');
		*len = slash ? (size_t)(slash - p) : strlen(p);
		if (!valid_component(p, *len))
			return p;
		if (!slash)
			return NULL;
		p = slash + 1;
	}
}

int image_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= IMAGE_NAME_MAX && !invalid_component(name, &len);
}

static int add_to(char ***list, size_t *n, const char *name, size_t len)
{
	char *p = strndup(name, len);
	char **grown;

	if (!p)
		return -ENOMEM;
	grown = realloc(*list, (*n + 1) * sizeof *grown);
	if (!grown) {
		free(p);
		return -ENOMEM;
	}
	*list = grown;
	(*list)[(*n)++] = p;
	return 0;
}

static int add_package(struct image_request *req, const char *name, size_t len)
{
	return add_to(&req->packages, &req->npackages, name, len);
}

static int always_there(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NELEM(always_added); i++)
		if (strlen(always_added[i]) == len && strncmp(always_added[i], name, len) == 0)
			return 1;
	return 0;
}

/* A package the path names: the image has it, and the package policy
 * (core/policy.h) judges it, unless every image has it anyway. */
static int add_named(struct image_request *req, const char *name, size_t len)
{
	int rc = add_package(req, name, len);

	if (rc == 0 && !always_there(name, len))
		rc = add_to(&req->named, &req->nnamed, name, len);
	return rc;
}

int image_parse(const char *name, struct image_request *req, char *err, size_t errlen)
{
	const char *p = name, *slash, *bad;
	size_t i, len = strlen(name);
	int rc = 0;

	memset(req, 0, sizeof *req);
	image_set_platform(req, platform_host());
	if (len == 0 || len > IMAGE_NAME_MAX) {
		snprintf(err, errlen, "image name must have 1 to %d characters", IMAGE_NAME_MAX);
		return -EINVAL;
	}
	if ((bad = invalid_component(name, &len))) {
		snprintf(err, errlen, "invalid image name component '%.*s': use lowercase letters, digits and single separators (. _ -)",
			 (int)(len > 64 ? 64 : len), bad);
		return -EINVAL;
	}
	for (;;) {
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 5 && strncmp(p, "shell", 5) == 0) {
			for (i = 0; i < NELEM(shell_packages) && rc == 0; i++)
				rc = add_package(req, shell_packages[i], strlen(shell_packages[i]));
		} else if (len == 5 && strncmp(p, "arm64", 5) == 0) {
			image_set_platform(req, platform_find("linux/arm64", 11));
			req->platform_named = 1;
		} else if (len == 7 && strncmp(p, "nonroot", 7) == 0) {
			req->nonroot = 1;
		} else {
			rc = add_named(req, p, len);
		}
		if (rc < 0)
			goto fail;
		if (!slash)
			break;
		p = slash + 1;
	}
	for (i = 0; i < NELEM(always_added) && rc == 0; i++)
		rc = add_package(req, always_added[i], strlen(always_added[i]));
	if (rc < 0)
		goto fail;
	strv_sort_unique(req->packages, &req->npackages);
	strv_sort_unique(req->named, &req->nnamed);
	for (i = 0; i < req->npackages; i++)
		if (strcasecmp(req->packages[i], "bashInteractive") == 0)
			req->cmd_bash = 1;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	image_request_free(req);
	return rc;
}

void image_request_free(struct image_request *req)
{
	strv_free(req->packages, req->npackages);
	strv_free(req->named, req->nnamed);
	req->packages = req->named = NULL;
	req->npackages = req->nnamed = 0;
}

void image_set_platform(struct image_request *req, const struct platform *p)
{
	req->platform = p;
	req->system = p->system;
	req->arch = p->arch;
}

char *image_packages_json(const struct image_request *req)
{
	cJSON *arr = cJSON_CreateStringArray((const char *const *)req->packages, (int)req->npackages);
	char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;

	cJSON_Delete(arr);
	return s;
}
