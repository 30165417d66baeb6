/* The runtime closure of an image: every store path with its size and
 * references, as the Nix store registers them. */
#ifndef NIXERY_CLOSURE_H
#define NIXERY_CLOSURE_H

#include <stddef.h>
#include <stdint.h>

struct closure_path {
	char *path;             /* /nix/store/<hash>-<name> */
	uint64_t nar_size;      /* bytes of this path alone */
	uint64_t closure_size;  /* bytes of this path and all it references */
	size_t *refs;           /* indexes of referenced paths, self excluded */
	size_t nrefs;
	int top;                /* one of the requested packages' outputs */
};

struct closure {
	struct closure_path *paths;  /* sorted by path */
	size_t n;
};

struct cJSON;

/* Reads what `nix path-info --json --recursive` prints (a list of objects
 * with path, narSize and references), marks the given top-level outputs
 * and computes closure sizes. A path must be listed once, with every path
 * it references. */
int closure_parse(const char *json, char *const *tops, size_t ntops,
		  struct closure *c, char *err, size_t errlen);
/* The same, from that list already parsed. */
int closure_read(const struct cJSON *list, char *const *tops, size_t ntops,
		 struct closure *c, char *err, size_t errlen);
void closure_free(struct closure *c);

/* "/nix/store/abc...-hello-2.12" -> "hello-2.12" */
const char *closure_name(const char *path);

#endif
