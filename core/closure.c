#include "core/closure.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define STORE_DIR "/nix/store/"
#define HASH_LEN 32

const char *closure_name(const char *path)
{
	size_t plen = strlen(STORE_DIR);

	if (strncmp(path, STORE_DIR, plen) == 0 && strlen(path) > plen + HASH_LEN &&
	    path[plen + HASH_LEN] == '-')
		return path + plen + HASH_LEN + 1;
	return path;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct closure_path *)a)->path,
		      ((const struct closure_path *)b)->path);
}

static long find_path(const struct closure *c, const char *path)
{
	struct closure_path key = { .path = (char *)path };
	struct closure_path *hit = bsearch(&key, c->paths, c->n, sizeof key, cmp_path);

	return hit ? hit - c->paths : -1;
}

static void compute_closure_sizes(struct closure *c)
{
	size_t *stack = malloc((c->n + 1) * sizeof *stack);
	size_t *seen = calloc(c->n, sizeof *seen);
	size_t i;

	if (!stack || !seen)
		goto out;
	for (i = 0; i < c->n; i++) {
		size_t top = 0, stamp = i + 1;
		uint64_t total = 0;

		stack[top++] = i;
		seen[i] = stamp;
		while (top > 0) {
			struct closure_path *p = &c->paths[stack[--top]];
			size_t r;

			total += p->nar_size;
			for (r = 0; r < p->nrefs; r++)
				if (seen[p->refs[r]] != stamp) {
					seen[p->refs[r]] = stamp;
					stack[top++] = p->refs[r];
				}
		}
		c->paths[i].closure_size = total;
	}
out:
	free(stack);
	free(seen);
}

/* A whole number of bytes, as JSON carries it (exact up to 2^53). */
static int json_size(const cJSON *v, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -EINVAL;
	d = v->valuedouble;
	if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
		return -EINVAL;
	*out = (uint64_t)d;
	return 0;
}

/* A store path and nothing else: STORE_DIR, then one name with no slash. */
static int store_path(const cJSON *v)
{
	const char *s = cJSON_GetStringValue(v);
	size_t plen = strlen(STORE_DIR);

	return s && strncmp(s, STORE_DIR, plen) == 0 && s[plen] && !strchr(s + plen, '/');
}

/* Takes every path's name and size; references come once all are sorted. */
static int read_paths(const cJSON *list, struct closure *c, char *err, size_t errlen)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, list) {
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(item, "path");
		struct closure_path *p = &c->paths[c->n];

		if (!store_path(path)) {
			snprintf(err, errlen, "unexpected entry in the closure: %.200s",
				 cJSON_IsString(path) ? path->valuestring : "no store path");
			return -EINVAL;
		}
		if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(item, "references")) ||
		    json_size(cJSON_GetObjectItemCaseSensitive(item, "narSize"), &p->nar_size) < 0) {
			snprintf(err, errlen, "%s is not a valid store path with a size and references",
				 path->valuestring);
			return -EINVAL;
		}
		if (!(p->path = strdup(path->valuestring)))
			return -ENOMEM;
		c->n++;
	}
	qsort(c->paths, c->n, sizeof *c->paths, cmp_path);
	return 0;
}

/* Turns the references of the entry for each path into indexes. */
static int link_references(const cJSON *list, struct closure *c, char *err, size_t errlen)
{
	const cJSON *item, *ref;

	cJSON_ArrayForEach(item, list) {
		const char *path = cJSON_GetObjectItemCaseSensitive(item, "path")->valuestring;
		const cJSON *refs = cJSON_GetObjectItemCaseSensitive(item, "references");
		struct closure_path *p = &c->paths[find_path(c, path)];

		if (p->refs) {
			snprintf(err, errlen, "%s is in the closure twice", path);
			return -EINVAL;
		}
		if (!(p->refs = calloc((size_t)cJSON_GetArraySize(refs) + 1, sizeof *p->refs)))
			return -ENOMEM;
		cJSON_ArrayForEach(ref, refs) {
			long idx = store_path(ref) ? find_path(c, ref->valuestring) : -1;

			if (idx < 0) {
				snprintf(err, errlen, "%s references %.200s, which is not in the closure", path,
					 cJSON_IsString(ref) ? ref->valuestring : "something that is no path");
				return -EINVAL;
			}
			if (&c->paths[idx] != p)
				p->refs[p->nrefs++] = (size_t)idx;
		}
	}
	return 0;
}

int closure_read(const cJSON *list, char *const *tops, size_t ntops,
		 struct closure *c, char *err, size_t errlen)
{
	size_t i;
	int rc = -ENOMEM;

	memset(c, 0, sizeof *c);
	if (!(c->paths = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof *c->paths)))
		goto out;
	if ((rc = read_paths(list, c, err, errlen)) < 0 ||
	    (rc = link_references(list, c, err, errlen)) < 0)
		goto out;
	for (i = 0; i < ntops; i++) {
		long idx = find_path(c, tops[i]);

		if (idx < 0) {
			snprintf(err, errlen, "output %s is missing from its own closure", tops[i]);
			rc = -EINVAL;
			goto out;
		}
		c->paths[idx].top = 1;
	}
	compute_closure_sizes(c);
	rc = 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory reading the closure");
	if (rc < 0)
		closure_free(c);
	return rc;
}

int closure_parse(const char *json, char *const *tops, size_t ntops,
		  struct closure *c, char *err, size_t errlen)
{
	cJSON *list = cJSON_Parse(json);
	int rc;

	if (!cJSON_IsArray(list)) {
		memset(c, 0, sizeof *c);
		snprintf(err, errlen, "the closure is not a JSON list: %.200s", json);
		rc = -EINVAL;
	} else {
		rc = closure_read(list, tops, ntops, c, err, errlen);
	}
	cJSON_Delete(list);
	return rc;
}

void closure_free(struct closure *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->paths[i].path);
		free(c->paths[i].refs);
	}
	free(c->paths);
	memset(c, 0, sizeof *c);
}
