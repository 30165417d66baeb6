#include "core/closure.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Reads one line of dump; returns NULL at the end. */
static char *next_line(char **cursor)
{
	char *line = *cursor, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = line + strlen(line);
	}
	return line;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	/* strtoull would take "-1" and wrap it around. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
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

/* While parsing, each path keeps its references as names; they become
 * indexes once every path is known and sorted. */
struct entry {
	struct closure_path p;
	char **ref_names;
	size_t nref_names;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->p.path, ((const struct entry *)b)->p.path);
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

static int parse_entries(char *cursor, struct entry **out, size_t *nout,
			 char *err, size_t errlen)
{
	struct entry *entries = NULL, *e;
	size_t n = 0, cap = 0, j;
	uint64_t nrefs;
	char *line;

	while ((line = next_line(&cursor))) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *grown = realloc(entries, ncap * sizeof *entries);

			if (!grown)
				goto nomem;
			entries = grown;
			cap = ncap;
		}
		e = &entries[n++];
		memset(e, 0, sizeof *e);
		if (strncmp(line, STORE_DIR, strlen(STORE_DIR)) != 0 ||
		    !next_line(&cursor) ||                        /* NAR hash */
		    parse_u64(next_line(&cursor), &e->p.nar_size) < 0 ||
		    !next_line(&cursor) ||                        /* deriver */
		    parse_u64(next_line(&cursor), &nrefs) < 0 || nrefs > 1000000) {
			snprintf(err, errlen, "unexpected store registration for '%.200s'", line);
			goto fail;
		}
		e->p.path = line;
		if (!(e->ref_names = calloc(nrefs + 1, sizeof(char *))))
			goto nomem;
		for (j = 0; j < nrefs; j++) {
			if (!(line = next_line(&cursor))) {
				snprintf(err, errlen, "store registration of %s is cut short", e->p.path);
				goto fail;
			}
			e->ref_names[e->nref_names++] = line;
		}
	}
	*out = entries;
	*nout = n;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory reading the closure");
fail:
	for (j = 0; j < n; j++)
		free(entries[j].ref_names);
	free(entries);
	return -EINVAL;
}

int closure_parse(const char *dump, char *const *tops, size_t ntops,
		  struct closure *c, char *err, size_t errlen)
{
	char *text = strdup(dump);
	struct entry *entries = NULL;
	size_t n = 0, i, j;
	int rc = -ENOMEM;

	memset(c, 0, sizeof *c);
	if (!text || (rc = parse_entries(text, &entries, &n, err, errlen)) < 0)
		goto out;
	if (n > 0)
		qsort(entries, n, sizeof *entries, cmp_entry);
	rc = -ENOMEM;
	if (!(c->paths = calloc(n + 1, sizeof *c->paths)))
		goto out;
	for (i = 0; i < n; i++) {
		c->paths[i].path = entries[i].p.path;
		c->paths[i].nar_size = entries[i].p.nar_size;
	}
	c->n = n;
	for (i = 0; i < n; i++) {
		struct closure_path *p = &c->paths[i];

		if (!(p->refs = calloc(entries[i].nref_names + 1, sizeof *p->refs)))
			goto out;
		for (j = 0; j < entries[i].nref_names; j++) {
			long idx = find_path(c, entries[i].ref_names[j]);

			if (idx < 0) {
				snprintf(err, errlen, "%s references %s, which is not in the closure",
					 p->path, entries[i].ref_names[j]);
				rc = -EINVAL;
				goto out;
			}
			if ((size_t)idx != i)
				p->refs[p->nrefs++] = (size_t)idx;
		}
	}
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
	c->text = text;
	text = NULL;
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(entries[i].ref_names);
	free(entries);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory reading the closure");
		for (i = 0; i < c->n; i++)
			free(c->paths[i].refs);
		free(c->paths);
		memset(c, 0, sizeof *c);
	}
	free(text);
	return rc;
}

void closure_free(struct closure *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->paths[i].refs);
	free(c->paths);
	free(c->text);
	memset(c, 0, sizeof *c);
}
