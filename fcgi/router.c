#include "fcgi/router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/digest.h"
#include "core/source.h"

static int invalid(struct reply *rep, const char *code, const char *message)
{
	reply_error(rep, 400, code, message, NULL);
	return -EINVAL;
}

/* "." and ".." have no place in a registry path; the web server should
 * have resolved them, but the registry does not rely on it. */
static int has_dot_segment(const char *path)
{
	const char *seg = path;

	while (seg) {
		size_t len = strcspn(seg, "/");

		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 1;
		seg = seg[len] ? seg + len + 1 : NULL;
	}
	return 0;
}

/* The last "/manifests/" or "/blobs/" splits name from reference: names
 * may themselves contain those words as components. */
static const char *split_endpoint(const char *path, enum route_kind *kind, size_t *name_len)
{
	const char *best = NULL, *p;
	size_t mlen = strlen("/manifests/"), blen = strlen("/blobs/");

	for (p = path; (p = strstr(p, "/manifests/")); p++)
		best = p, *kind = ROUTE_MANIFEST;
	for (p = path; (p = strstr(p, "/blobs/")); p++)
		if (!best || p > best)
			best = p, *kind = ROUTE_BLOB;
	if (!best)
		return NULL;
	*name_len = (size_t)(best - path);
	return best + (*kind == ROUTE_MANIFEST ? mlen : blen);
}

int router_parse(const char *method, const char *uri, struct route *rt, struct reply *rep)
{
	size_t path_len = strcspn(uri, "?"), name_len = 0;
	char path[1024], hex[DIGEST_HEX_LEN + 1];
	const char *ref;

	memset(rt, 0, sizeof *rt);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		rep->allow = "GET, HEAD";
		reply_error(rep, 405, "UNSUPPORTED", "this registry serves GET and HEAD only: images are built, not pushed", NULL);
		return -EINVAL;
	}
	if (path_len >= sizeof path) {
		reply_error(rep, 414, "NAME_INVALID", "request path too long", NULL);
		return -EINVAL;
	}
	memcpy(path, uri, path_len);
	path[path_len] = '\0';
	if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0) {
		rt->kind = ROUTE_BASE;
		return 0;
	}
	/* Names, tags and digests have no use for escapes: refuse them rather
	 * than decode them into something that was never checked. */
	if (strchr(path, '%'))
		return invalid(rep, "NAME_INVALID", "percent-encoded characters are not allowed in image paths");
	if (has_dot_segment(path))
		return invalid(rep, "NAME_INVALID", "'.' and '..' segments are not allowed in image paths");
	if (strncmp(path, "/v2/", 4) != 0 ||
	    !(ref = split_endpoint(path + 4, &rt->kind, &name_len))) {
		reply_error(rep, 404, "UNSUPPORTED", "unknown endpoint: this registry serves /v2/<name>/manifests/<reference> and /v2/<name>/blobs/<digest>", NULL);
		return -ENOENT;
	}
	if (name_len > IMAGE_NAME_MAX)
		return invalid(rep, "NAME_INVALID", "image name is longer than 255 characters");
	memcpy(rt->name, path + 4, name_len);
	rt->name[name_len] = '\0';
	if (!image_name_valid(rt->name))
		return invalid(rep, "NAME_INVALID", "invalid image name: use lowercase package names separated by '/'");
	if (strlen(ref) >= sizeof rt->ref)
		return invalid(rep, rt->kind == ROUTE_BLOB ? "DIGEST_INVALID" : "NAME_INVALID", "reference too long");
	strcpy(rt->ref, ref);
	if (rt->kind == ROUTE_BLOB || strchr(ref, ':')) {
		if (digest_parse(ref, hex) < 0)
			return invalid(rep, "DIGEST_INVALID", "invalid digest: expected sha256: and 64 lowercase hex digits");
	} else if (!source_tag_valid(ref)) {
		return invalid(rep, "NAME_INVALID", "invalid tag: use up to 128 letters, digits, '_', '.' and '-'");
	}
	return 0;
}

void router_handle(struct registry *reg, const char *method, const char *uri,
		   const char *accept, struct reply *rep)
{
	struct route rt;

	if (router_parse(method, uri, &rt, rep) < 0)
		return;
	switch (rt.kind) {
	case ROUTE_BASE:
		reply_json(rep, 200, "{}");
		break;
	case ROUTE_MANIFEST:
		registry_manifest(reg, rt.name, rt.ref, accept, rep);
		break;
	case ROUTE_BLOB:
		registry_blob(reg, rt.ref + strlen(DIGEST_PREFIX), rep);
		break;
	}
}
