#include "core/layers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALWAYS_POPULAR 500000

uint64_t layers_popularity_of(const char *path, layers_popularity_fn popularity, void *ctx)
{
	const char *name = closure_name(path);
	uint64_t pop;

	if (strncmp(name, "nss-cacert", 10) == 0 || strncmp(name, "cacert", 6) == 0 ||
	    strncmp(name, "iana-etc", 8) == 0)
		return ALWAYS_POPULAR;
	pop = popularity ? popularity(ctx, name) : 1;
	return pop ? pop : 1;
}

/* The graph: node n is the image root, 0..n-1 the closure's paths. */
struct graph {
	size_t n;            /* number of nodes including the root */
	size_t **succ;       /* successors per node */
	size_t *nsucc;
	size_t **pred;
	size_t *npred;
};

static void graph_free(struct graph *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		if (g->succ)
			free(g->succ[i]);
		if (g->pred)
			free(g->pred[i]);
	}
	free(g->succ);
	free(g->nsucc);
	free(g->pred);
	free(g->npred);
}

static int graph_build(const struct closure *c, const uint64_t *pop, struct graph *g)
{
	size_t root = c->n, i, r;

	g->n = c->n + 1;
	g->succ = calloc(g->n, sizeof *g->succ);
	g->nsucc = calloc(g->n, sizeof *g->nsucc);
	g->pred = calloc(g->n, sizeof *g->pred);
	g->npred = calloc(g->n, sizeof *g->npred);
	if (!g->succ || !g->nsucc || !g->pred || !g->npred)
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		g->succ[i] = malloc((c->paths[i].nrefs + 1) * sizeof(size_t));
		if (!g->succ[i])
			return -ENOMEM;
		for (r = 0; r < c->paths[i].nrefs; r++)
			g->succ[i][g->nsucc[i]++] = c->paths[i].refs[r];
	}
	/* Root edges: the requested paths, and paths big or popular enough
	 * to deserve a layer of their own wherever they sit in the graph. */
	g->succ[root] = malloc((c->n + 1) * sizeof(size_t));
	if (!g->succ[root])
		return -ENOMEM;
	for (i = 0; i < c->n; i++)
		if (c->paths[i].top || c->paths[i].closure_size > LAYERS_BIG_CLOSURE ||
		    pop[i] >= LAYERS_POPULAR)
			g->succ[root][g->nsucc[root]++] = i;
	for (i = 0; i < g->n; i++)
		for (r = 0; r < g->nsucc[i]; r++)
			g->npred[g->succ[i][r]]++;
	for (i = 0; i < g->n; i++) {
		g->pred[i] = malloc((g->npred[i] + 1) * sizeof(size_t));
		if (!g->pred[i])
			return -ENOMEM;
		g->npred[i] = 0;
	}
	for (i = 0; i < g->n; i++)
		for (r = 0; r < g->nsucc[i]; r++) {
			size_t s = g->succ[i][r];

			g->pred[s][g->npred[s]++] = i;
		}
	return 0;
}

/* Reverse postorder from the root, iteratively (closures can be deep). */
static int reverse_postorder(const struct graph *g, size_t root, size_t *order,
			     size_t *rpo_index, size_t *count)
{
	size_t *stack = malloc(g->n * sizeof *stack), *next = calloc(g->n, sizeof *next);
	char *seen = calloc(g->n, 1);
	size_t top = 0, post = 0, i;
	int rc = -ENOMEM;

	if (!stack || !next || !seen)
		goto out;
	stack[top++] = root;
	seen[root] = 1;
	while (top > 0) {
		size_t v = stack[top - 1];

		if (next[v] < g->nsucc[v]) {
			size_t w = g->succ[v][next[v]++];

			if (!seen[w]) {
				seen[w] = 1;
				stack[top++] = w;
			}
		} else {
			order[post++] = v;
			top--;
		}
	}
	/* Postorder -> reverse postorder. */
	for (i = 0; i < post / 2; i++) {
		size_t t = order[i];

		order[i] = order[post - 1 - i];
		order[post - 1 - i] = t;
	}
	for (i = 0; i < g->n; i++)
		rpo_index[i] = SIZE_MAX;
	for (i = 0; i < post; i++)
		rpo_index[order[i]] = i;
	*count = post;
	rc = 0;
out:
	free(stack);
	free(next);
	free(seen);
	return rc;
}

/* Immediate dominators by Cooper, Harvey and Kennedy's iterative algorithm:
 * simple, and fast on graphs of a few thousand store paths. */
static int dominators(const struct graph *g, size_t root, size_t *idom)
{
	size_t *order = malloc(g->n * sizeof *order), *rpo = malloc(g->n * sizeof *rpo);
	size_t count = 0, i, p;
	int changed = 1, rc;

	if (!order || !rpo) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = reverse_postorder(g, root, order, rpo, &count)) < 0)
		goto out;
	for (i = 0; i < g->n; i++)
		idom[i] = SIZE_MAX;
	idom[root] = root;
	while (changed) {
		changed = 0;
		for (i = 1; i < count; i++) {
			size_t b = order[i], new_idom = SIZE_MAX;

			for (p = 0; p < g->npred[b]; p++) {
				size_t a = g->pred[b][p];

				if (idom[a] == SIZE_MAX)
					continue;
				if (new_idom == SIZE_MAX) {
					new_idom = a;
					continue;
				}
				while (a != new_idom) {
					while (rpo[a] > rpo[new_idom])
						a = idom[a];
					while (rpo[new_idom] > rpo[a])
						new_idom = idom[new_idom];
				}
			}
			if (idom[b] != new_idom) {
				idom[b] = new_idom;
				changed = 1;
			}
		}
	}
out:
	free(order);
	free(rpo);
	return rc;
}

static int cmp_group(const void *a, const void *b)
{
	const struct layer_group *x = a, *y = b;

	if (x->rating != y->rating)
		return x->rating < y->rating ? -1 : 1;
	/* Tie-break on the first path: groups are disjoint, so this is total. */
	return x->paths[0] < y->paths[0] ? -1 : x->paths[0] > y->paths[0];
}

static int cmp_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static int group_append(struct layer_group *into, const struct layer_group *from)
{
	size_t *grown = realloc(into->paths, (into->npaths + from->npaths) * sizeof(size_t));

	if (!grown)
		return -ENOMEM;
	memcpy(grown + into->npaths, from->paths, from->npaths * sizeof(size_t));
	into->paths = grown;
	into->npaths += from->npaths;
	into->rating += from->rating;
	/* Closure indexes follow path order, so sorting indexes sorts paths. */
	qsort(into->paths, into->npaths, sizeof(size_t), cmp_index);
	return 0;
}

/* Every root child heads a group holding all it dominates: head[i] is
 * the group of path i. Returns how many groups there are. */
static size_t assign_groups(const size_t *idom, size_t n, size_t *head)
{
	size_t ngroups = 0, i;

	for (i = 0; i < n; i++)
		head[i] = SIZE_MAX;
	for (i = 0; i < n; i++)
		if (idom[i] == n)
			head[i] = ngroups++;
	for (i = 0; i < n; i++) {
		size_t v = i;

		/* Unreachable paths cannot happen in a closure; keep them anyway. */
		if (idom[v] == SIZE_MAX) {
			head[i] = ngroups++;
			continue;
		}
		while (idom[v] != n)
			v = idom[v];
		head[i] = head[v];
	}
	return ngroups;
}

/* Puts every path in its group, in path order, and rates the groups. */
static int fill_groups(const struct closure *c, const size_t *idom, const size_t *head, const uint64_t *pop,
		       struct layer_group *groups)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct layer_group *grp = &groups[head[i]];
		size_t *grown = realloc(grp->paths, (grp->npaths + 1) * sizeof(size_t));

		if (!grown)
			return -ENOMEM;
		grp->paths = grown;
		grp->paths[grp->npaths++] = i;   /* ascending i: already sorted */
		grp->rating += c->paths[i].closure_size;
	}
	/* A group's rating: its head's popularity times the closure sizes. */
	for (i = 0; i < c->n; i++)
		if (idom[i] == c->n || idom[i] == SIZE_MAX)
			groups[head[i]].rating *= pop[i];
	return 0;
}

/* Merges the lowest-rated groups into one until the budget fits, and
 * hands the rest to plan in image order; what plan does not take stays
 * in groups for the caller to free. */
static int plan_groups(struct layer_group *groups, size_t ngroups, size_t budget, struct layer_plan *plan)
{
	size_t first, i;
	int rc;

	qsort(groups, ngroups, sizeof *groups, cmp_group);
	for (first = 0; ngroups - first > (budget ? budget : 1); first++) {
		if ((rc = group_append(&groups[first + 1], &groups[first])) < 0)
			return rc;
		free(groups[first].paths);
		groups[first].paths = NULL;
	}
	/* n only once there are groups to free. */
	plan->groups = calloc(ngroups - first + 1, sizeof *plan->groups);
	if (!plan->groups)
		return -ENOMEM;
	plan->n = ngroups - first;
	/* Image order: highest rating first. */
	for (i = 0; i < plan->n; i++) {
		plan->groups[i] = groups[ngroups - 1 - i];
		groups[ngroups - 1 - i].paths = NULL;
	}
	return 0;
}

int layers_group(const struct closure *c, size_t budget,
		 layers_popularity_fn popularity, void *ctx,
		 struct layer_plan *plan, char *err, size_t errlen)
{
	struct graph g = { 0 };
	uint64_t *pop = calloc(c->n + 1, sizeof *pop);
	size_t *idom = malloc((c->n + 1) * sizeof *idom);
	size_t *head = malloc((c->n + 1) * sizeof *head);   /* group of each node */
	struct layer_group *groups = NULL;
	size_t ngroups = 0, i;
	int rc = -ENOMEM;

	memset(plan, 0, sizeof *plan);
	if (!pop || !idom || !head)
		goto fail;
	for (i = 0; i < c->n; i++)
		pop[i] = layers_popularity_of(c->paths[i].path, popularity, ctx);
	if ((rc = graph_build(c, pop, &g)) < 0 || (rc = dominators(&g, c->n, idom)) < 0)
		goto fail;
	rc = -ENOMEM;
	groups = calloc(c->n + 1, sizeof *groups);
	if (!groups)
		goto fail;
	ngroups = assign_groups(idom, c->n, head);
	if ((rc = fill_groups(c, idom, head, pop, groups)) == 0)
		rc = plan_groups(groups, ngroups, budget, plan);
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory grouping layers");
	if (groups)
		for (i = 0; i < ngroups; i++)
			free(groups[i].paths);
	free(groups);
	graph_free(&g);
	free(pop);
	free(idom);
	free(head);
	return rc;
}

void layers_plan_free(struct layer_plan *plan)
{
	size_t i;

	for (i = 0; i < plan->n; i++)
		free(plan->groups[i].paths);
	free(plan->groups);
	memset(plan, 0, sizeof *plan);
}
