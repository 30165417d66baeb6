/* From method and URI to a registry call. Every part of the URI is checked
 * here before it goes anywhere: names against the repository grammar, tags
 * against the tag grammar, digests to "sha256:" and 64 hex digits. */
#ifndef NIXERY_ROUTER_H
#define NIXERY_ROUTER_H

#include "core/image.h"
#include "fcgi/reply.h"
#include "fcgi/registry.h"

enum route_kind { ROUTE_BASE, ROUTE_MANIFEST, ROUTE_BLOB };

struct route {
	enum route_kind kind;
	char name[IMAGE_NAME_MAX + 1];
	char ref[160];                   /* tag or digest */
};

/* 0 with the route, or a negative code with the error reply set. */
int router_parse(const char *method, const char *uri, struct route *rt, struct reply *rep);

void router_handle(struct registry *reg, const char *method, const char *uri,
		   const char *accept, struct reply *rep);

#endif
