/* Where packages come from for one request: the configured source plus the
 * image tag, in the form the Nix side takes (srcType, srcArgs). */
#ifndef NIXERY_SOURCE_H
#define NIXERY_SOURCE_H

#include "core/config.h"

struct source {
	const char *type;   /* "nixpkgs", "git" or "path", as image.nix names them */
	char *args;         /* channel, JSON for fetchGit, or a path */
	int pinned;         /* names an immutable revision: evaluate once, cache forever */
};

/* The tag is a ref for git sources ("latest" = the default branch, 40 hex =
 * a commit) and ignored by the others. The tag must already be valid. */
int source_resolve(const struct config *cfg, const char *tag, struct source *src);
void source_free(struct source *src);

/* A tag as the distribution spec allows: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
int source_tag_valid(const char *tag);

#endif
