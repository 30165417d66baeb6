/* The registry's answers: manifests by tag (evaluate, build and pack on a
 * cache miss) or by digest, and blobs. Knows nothing of FastCGI; one
 * registry per thread, since it holds that thread's cache handle. */
#ifndef NIXERY_REGISTRY_H
#define NIXERY_REGISTRY_H

#include "core/config.h"
#include "core/popularity.h"
#include "fcgi/reply.h"
#include "sql/cache.h"

struct registry {
	const struct config *cfg;
	struct popularity_source *popularity;   /* shared by the process */
	struct cache *cache;
};

/* Creates storage, state folders and the cache; run once per process. */
int registry_prepare(const struct config *cfg, char *err, size_t errlen);

int registry_open(struct registry *reg, const struct config *cfg,
		  struct popularity_source *popularity, char *err, size_t errlen);
void registry_close(struct registry *reg);

/* name and ref must already be validated (router_parse). */
void registry_manifest(struct registry *reg, const char *name, const char *ref,
		       const char *accept, struct reply *rep);
void registry_blob(struct registry *reg, const char *hex, struct reply *rep);

#endif
