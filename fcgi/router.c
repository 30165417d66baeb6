#include "fcgi/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include "builder/search.h"
#include "core/digest.h"
#include "core/policy.h"
#include "core/source.h"
#include "fcgi/page.h"

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

static const struct {
	const char *word;
	enum route_kind kind;
} endpoints[] = {
	{ "/manifests/", ROUTE_MANIFEST },
	{ "/blobs/", ROUTE_BLOB },
	{ "/referrers/", ROUTE_REFERRERS },
};

/* The last "/manifests/", "/blobs/" or "/referrers/" splits name from
 * reference: names may themselves contain those words as components. A
 * path ending in "/tags/list" lists the name's tags. */
static const char *split_endpoint(const char *path, enum route_kind *kind, size_t *name_len)
{
	static const char tags[] = "/tags/list";
	const char *best = NULL, *p;
	size_t i, len = strlen(path), skip = 0;

	if (len > strlen(tags) && strcmp(path + len - strlen(tags), tags) == 0) {
		*kind = ROUTE_TAGS;
		*name_len = len - strlen(tags);
		return path + len;
	}
	for (i = 0; i < sizeof endpoints / sizeof *endpoints; i++)
		for (p = path; (p = strstr(p, endpoints[i].word)); p++)
			if (!best || p > best) {
				best = p;
				*kind = endpoints[i].kind;
				skip = strlen(endpoints[i].word);
			}
	if (!best)
		return NULL;
	*name_len = (size_t)(best - path);
	return best + skip;
}

/* n=<count>&last=<entry>, the listing parameters; anything else in the
 * query is ignored, as the rest of the registry ignores queries. */
static int parse_listing(const char *query, struct route *rt, struct reply *rep)
{
	const char *p = query;

	rt->n = -1;
	while (p && *p) {
		size_t len = strcspn(p, "&");

		if (strncmp(p, "n=", 2) == 0) {
			char digits[8];
			size_t dlen = len - 2;

			if (dlen == 0 || dlen >= sizeof digits || strspn(p + 2, "0123456789") < dlen)
				return invalid(rep, "PAGINATION_NUMBER_INVALID", "n must be a whole number");
			memcpy(digits, p + 2, dlen);
			digits[dlen] = '\0';
			rt->n = atoi(digits);
		} else if (strncmp(p, "last=", 5) == 0) {
			if (len - 5 > IMAGE_NAME_MAX || memchr(p + 5, '%', len - 5))
				return invalid(rep, "NAME_INVALID", "last must be a tag or an image name, unescaped");
			memcpy(rt->last, p + 5, len - 5);
			rt->last[len - 5] = '\0';
		}
		p = p[len] ? p + len + 1 : NULL;
	}
	if (rt->n > ROUTE_MAX_LIST)
		rt->n = ROUTE_MAX_LIST;
	return 0;
}

/* The page's image= or the search's q=, decoded (a form sends
 * shell%2Fhello); 0 when absent. */
static int parse_value(const char *query, const char *key, struct route *rt, struct reply *rep)
{
	size_t klen = strlen(key), len;
	const char *p;

	for (p = query; *p; p += len + (p[len] == '&')) {
		int out_len = 0;
		char *decoded;

		len = strcspn(p, "&");
		if (strncmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		decoded = curl_easy_unescape(NULL, p + klen + 1, (int)(len - klen - 1), &out_len);
		if (!decoded || out_len > IMAGE_NAME_MAX || memchr(decoded, '\0', (size_t)out_len)) {
			curl_free(decoded);
			return invalid(rep, "NAME_INVALID", "the value is too long or not text");
		}
		memcpy(rt->value, decoded, (size_t)out_len);
		rt->value[out_len] = '\0';
		rt->has_value = 1;
		curl_free(decoded);
		return 0;
	}
	return 0;
}

/* The landing page's query: its composer's image=. */
static int parse_page(const char *query, struct route *rt, struct reply *rep)
{
	return parse_value(query, "image", rt, rep);
}

/* The search's query: q=, a package name. */
static int parse_search(const char *query, struct route *rt, struct reply *rep)
{
	if (parse_value(query, "q", rt, rep) < 0)
		return -EINVAL;
	if (!rt->has_value || !search_query_valid(rt->value))
		return invalid(rep, "NAME_INVALID", "q must be a package name: letters, digits and . _ - +");
	return 0;
}

/* The paths that name no image, and what reads their query. */
static const struct {
	const char *path;
	enum route_kind kind;
	int (*parse)(const char *query, struct route *rt, struct reply *rep);
} fixed_routes[] = {
	{ "/v2/", ROUTE_BASE, NULL },
	{ "/v2", ROUTE_BASE, NULL },
	{ "/v2/_catalog", ROUTE_CATALOG, parse_listing },
	{ "/metrics", ROUTE_METRICS, NULL },
	{ "/", ROUTE_PAGE, parse_page },
	{ "/search", ROUTE_SEARCH, parse_search },
};

/* A reference that can be neither a tag nor a digest names no manifest:
 * unknown, as the distribution spec has it. A blob's or a referrers'
 * reference is a digest. */
static int parse_reference(const char *ref, struct route *rt, struct reply *rep)
{
	char hex[DIGEST_HEX_LEN + 1];

	if (rt->kind == ROUTE_MANIFEST && !source_tag_valid(ref) && digest_parse(ref, hex) < 0) {
		reply_error(rep, 404, "MANIFEST_UNKNOWN",
			    "manifest unknown: the reference is neither a tag (up to 128 letters, digits, '_', '.' and '-') nor a sha256 digest", NULL);
		return -ENOENT;
	}
	if (strlen(ref) >= sizeof rt->ref)
		return invalid(rep, "DIGEST_INVALID", "reference too long");
	strcpy(rt->ref, ref);
	if (rt->kind != ROUTE_MANIFEST && digest_parse(ref, hex) < 0)
		return invalid(rep, "DIGEST_INVALID", "invalid digest: expected sha256: and 64 lowercase hex digits");
	return 0;
}

/* /v2/<name>/manifests/<reference>, /v2/<name>/blobs/<digest>,
 * /v2/<name>/referrers/<digest> and /v2/<name>/tags/list. */
static int parse_image_path(const char *path, const char *query, struct route *rt, struct reply *rep)
{
	size_t name_len = 0;
	const char *ref;

	/* Names, tags and digests have no use for escapes: refuse them rather
	 * than decode them into something that was never checked. */
	if (strchr(path, '%'))
		return invalid(rep, "NAME_INVALID", "percent-encoded characters are not allowed in image paths");
	if (has_dot_segment(path))
		return invalid(rep, "NAME_INVALID", "'.' and '..' segments are not allowed in image paths");
	if (strncmp(path, "/v2/", 4) != 0 ||
	    !(ref = split_endpoint(path + 4, &rt->kind, &name_len))) {
		reply_error(rep, 404, "UNSUPPORTED", "unknown endpoint: this registry serves /v2/<name>/manifests/<reference>, /v2/<name>/blobs/<digest>, /v2/<name>/tags/list, /v2/_catalog and /metrics", NULL);
		return -ENOENT;
	}
	if (name_len > IMAGE_NAME_MAX)
		return invalid(rep, "NAME_INVALID", "image name is longer than 255 characters");
	memcpy(rt->name, path + 4, name_len);
	rt->name[name_len] = '\0';
	if (!image_name_valid(rt->name))
		return invalid(rep, "NAME_INVALID", "invalid image name: use lowercase package names separated by '/'");
	if (rt->kind == ROUTE_TAGS)
		return parse_listing(query, rt, rep);
	return parse_reference(ref, rt, rep);
}

int router_parse(const char *method, const char *uri, struct route *rt, struct reply *rep)
{
	size_t path_len = strcspn(uri, "?"), i;
	const char *query = uri[path_len] ? uri + path_len + 1 : "";
	char path[1024];

	memset(rt, 0, sizeof *rt);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		/* A reference no manifest can have is unknown whatever the
		 * method (the conformance suite PUTs one, and takes 400 or 404);
		 * anything else is a push, which this registry does not take. */
		if (router_parse("GET", uri, rt, rep) == -ENOENT && rt->kind == ROUTE_MANIFEST &&
		    rep->status == 404)
			return -ENOENT;
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
	for (i = 0; i < sizeof fixed_routes / sizeof *fixed_routes; i++)
		if (strcmp(path, fixed_routes[i].path) == 0) {
			rt->kind = fixed_routes[i].kind;
			return fixed_routes[i].parse ? fixed_routes[i].parse(query, rt, rep) : 0;
		}
	return parse_image_path(path, query, rt, rep);
}

static const char *const labels[] = {
	[ROUTE_BASE] = "base", [ROUTE_MANIFEST] = "manifest", [ROUTE_BLOB] = "blob",
	[ROUTE_TAGS] = "tags", [ROUTE_CATALOG] = "catalog", [ROUTE_REFERRERS] = "referrers",
	[ROUTE_METRICS] = "metrics", [ROUTE_PAGE] = "page", [ROUTE_SEARCH] = "search",
};

struct asker router_asker(const struct request_params *req, char addr[64])
{
	struct asker who = { 0 };
	unsigned char bin[sizeof(struct in6_addr)];

	if (req->auth_type && *req->auth_type && policy_user_valid(req->remote_user))
		who.user = req->remote_user;
	if (req->remote_addr && strlen(req->remote_addr) < 64 &&
	    (inet_pton(AF_INET, req->remote_addr, bin) == 1 || inet_pton(AF_INET6, req->remote_addr, bin) == 1)) {
		snprintf(addr, 64, "%s", req->remote_addr);
		who.addr = addr;
	}
	return who;
}

const char *router_handle(struct registry *reg, const struct request_params *req,
			  struct reply *rep)
{
	char addr[64];
	struct asker who = router_asker(req, addr);
	struct route rt;

	if (router_parse(req->method, req->uri, &rt, rep) < 0)
		return "other";
	switch (rt.kind) {
	case ROUTE_BASE:
		reply_json(rep, 200, "{}");
		break;
	case ROUTE_MANIFEST:
		registry_manifest(reg, &who, rt.name, rt.ref, req->accept, req->tag_files, rep);
		break;
	case ROUTE_BLOB:
		registry_blob(reg, rt.ref + strlen(DIGEST_PREFIX), rep);
		break;
	case ROUTE_TAGS:
		registry_tags(reg, rt.name, rt.n, rt.last, rep);
		break;
	case ROUTE_CATALOG:
		registry_catalog(reg, rt.n, rt.last, rep);
		break;
	case ROUTE_REFERRERS:
		registry_referrers(rep);
		break;
	case ROUTE_METRICS:
		registry_metrics(reg, rep);
		break;
	case ROUTE_PAGE:
		page_render(reg, &who, req->host, req->port, req->https, rt.has_value ? rt.value : NULL, rep);
		break;
	case ROUTE_SEARCH:
		registry_search(reg, &who, rt.value, rep);
		break;
	}
	return labels[rt.kind];
}
