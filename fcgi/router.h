/* From method and URI to a registry call. Every part of the URI is checked
 * here before it goes anywhere: names against the repository grammar, tags
 * against the tag grammar, digests to "sha256:" and 64 hex digits, and the
 * listing parameters n and last. */
#ifndef NIXERY_ROUTER_H
#define NIXERY_ROUTER_H

#include "core/image.h"
#include "fcgi/reply.h"
#include "fcgi/registry.h"

enum route_kind {
	ROUTE_BASE, ROUTE_MANIFEST, ROUTE_BLOB, ROUTE_TAGS, ROUTE_CATALOG, ROUTE_REFERRERS,
	ROUTE_METRICS, ROUTE_PAGE, ROUTE_SEARCH,
};

/* The most entries a listing gives at once, whatever n asks. */
#define ROUTE_MAX_LIST 1000

struct route {
	enum route_kind kind;
	char name[IMAGE_NAME_MAX + 1];
	char ref[160];                   /* tag or digest */
	int n;                           /* listings: at most n entries (-1: no n given) */
	char last[IMAGE_NAME_MAX + 1];   /* listings: entries after this one */
	char value[IMAGE_NAME_MAX + 1];  /* the page's image=, the search's q= (decoded) */
	int has_value;
};

/* What of a request the registry looks at. */
struct request_params {
	const char *method, *uri, *accept;
	const char *host;                /* the Host header, for the landing page */
	const char *port;                /* SERVER_PORT: where the Host lost its port */
	int https;
	int tag_files;                   /* the web server reads tag files */
	const char *remote_user;         /* REMOTE_USER, AUTH_TYPE and REMOTE_ADDR, */
	const char *auth_type;           /* as the web server passes them; */
	const char *remote_addr;         /* checked by router_asker */
};

/* Who asks (builder/admission.h), from what the web server passed: the
 * user only when it says it authenticated one (AUTH_TYPE: nginx's
 * REMOTE_USER is whatever a client sends, unless auth_basic checked it)
 * and the name is one a policy can hold (policy_user_valid); the address
 * only when it is an IP address. addr holds the address's text. */
struct asker router_asker(const struct request_params *req, char addr[64]);

/* 0 with the route, or a negative code with the error reply set. */
int router_parse(const char *method, const char *uri, struct route *rt, struct reply *rep);

/* Answers a request; returns the route's label for the request counters
 * (base, manifest, blob, tags, catalog, referrers, metrics, page, search;
 * other for what no route takes). */
const char *router_handle(struct registry *reg, const struct request_params *req,
			  struct reply *rep);

#endif
