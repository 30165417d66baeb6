/* The registry's answers: manifests by tag (from the builder) or by
 * digest, and blobs, turned into replies. Knows nothing of FastCGI; one
 * registry per thread, since it holds that thread's cache handle. */
#ifndef NIXERY_REGISTRY_H
#define NIXERY_REGISTRY_H

#include <stdatomic.h>

#include "builder/builder.h"
#include "fcgi/reply.h"

struct registry {
	struct builder builder;
	const atomic_int *cancel;    /* set when the worker's grace is over */
};

int registry_open(struct registry *reg, const struct config *cfg, const struct storage *storage,
		  struct popularity_source *popularity, struct metrics *metrics, struct admission *admission,
		  const atomic_int *cancel, char *err, size_t errlen);
void registry_close(struct registry *reg);

/* name and ref must already be validated (router_parse); who asks
 * (router_asker). tag_file: the web server reads the tag's answer from
 * its tag file next time. */
void registry_manifest(struct registry *reg, const struct asker *who, const char *name, const char *ref,
		       const char *accept, int tag_file, struct reply *rep);
void registry_blob(struct registry *reg, const char *hex, struct reply *rep);

/* Listings, n entries at most (-1: no n asked) after `last`: the tags of
 * a name (latest, and every tag evaluated for it), and the names built. */
void registry_tags(struct registry *reg, const char *name, int n, const char *last,
		   struct reply *rep);
void registry_catalog(struct registry *reg, int n, const char *last, struct reply *rep);
/* Referrers of a manifest: this registry builds images, it holds none. */
void registry_referrers(struct reply *rep);
/* The package set's names for the landing page's composer: {"query",
 * "known", "names"} (search_names). */
void registry_search(struct registry *reg, const struct asker *who, const char *query, struct reply *rep);
/* The counters of every worker of the host, in Prometheus's text format. */
void registry_metrics(struct registry *reg, struct reply *rep);

#endif
