/* Which store paths share a layer (core/layers.h): popular and big paths
 * stand alone so images share them, the rest merges into the budget. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/closure.h"
#include "core/layers.h"
#include "tests/unit/check.h"

/* ---------- closures from a short description ---------- */

struct pkg {
	const char *name;
	uint64_t nar;
	const char *refs;    /* names, separated by spaces */
	int top;
};

/* /nix/store/<hash>-<name>, the hash made of the name's letters and
 * digits padded with '0', so that path order is name order. */
static void path_of(const char *name, char *out, size_t len)
{
	char hash[33];
	size_t i, j = 0;

	for (i = 0; name[i] && j < 32; i++)
		if ((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9'))
			hash[j++] = name[i];
	while (j < 32)
		hash[j++] = '0';
	hash[32] = '\0';
	snprintf(out, len, "/nix/store/%s-%s", hash, name);
}

static void append(char **s, size_t *len, const char *text)
{
	size_t add = strlen(text);
	char *grown = realloc(*s, *len + add + 1);

	if (!grown) {
		printf("FAIL: %s: out of memory building a dump ()\n", check_binary());
		exit(1);
	}
	memcpy(grown + *len, text, add + 1);
	*s = grown;
	*len += add;
}

/* What `nix path-info --json --recursive` would print, listing the
 * packages in the given order (reversed when reverse is set); each path
 * references itself too, as Nix records it. */
static char *dump_of(const struct pkg *p, size_t n, int reverse)
{
	char *s = NULL, line[1024], path[256];
	size_t len = 0, k;

	append(&s, &len, "[");
	for (k = 0; k < n; k++) {
		const struct pkg *q = &p[reverse ? n - 1 - k : k];
		char refs[1024], *save = NULL, *tok;

		snprintf(refs, sizeof refs, "%s", q->refs ? q->refs : "");
		path_of(q->name, path, sizeof path);
		snprintf(line, sizeof line, "%s{\"path\":\"%s\",\"narSize\":%llu,\"references\":[\"%s\"",
			 k ? "," : "", path, (unsigned long long)q->nar, path);
		append(&s, &len, line);
		for (tok = strtok_r(refs, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			path_of(tok, path, sizeof path);
			snprintf(line, sizeof line, ",\"%s\"", path);
			append(&s, &len, line);
		}
		append(&s, &len, "]}");
	}
	append(&s, &len, "]");
	return s;
}

/* Parses the packages into c; the top-level outputs are those marked top. */
static int closure_of(const struct pkg *p, size_t n, int reverse, struct closure *c)
{
	char *dump = dump_of(p, n, reverse), err[512] = "";
	char **tops = calloc(n + 1, sizeof *tops);
	size_t i, ntops = 0;
	int rc;

	for (i = 0; i < n; i++)
		if (p[i].top) {
			tops[ntops] = malloc(256);
			path_of(p[i].name, tops[ntops++], 256);
		}
	rc = closure_parse(dump, tops, ntops, c, err, sizeof err);
	if (rc < 0)
		printf("FAIL: %s: building a test closure (%s)\n", check_binary(), err);
	for (i = 0; i < ntops; i++)
		free(tops[i]);
	free(tops);
	free(dump);
	return rc;
}

/* ---------- popularity ---------- */

struct pop_entry {
	const char *name;    /* as the function receives it: "name-version" */
	uint64_t pop;
};

struct pop_table {
	const struct pop_entry *e;
	size_t n;
	char seen[2048];     /* every name asked about, for one check */
};

static uint64_t table_popularity(void *ctx, const char *name)
{
	struct pop_table *t = ctx;
	size_t i, used = strlen(t->seen);

	snprintf(t->seen + used, sizeof t->seen - used, "%s%s", used ? " " : "", name);
	for (i = 0; i < t->n; i++)
		if (strcmp(t->e[i].name, name) == 0)
			return t->e[i].pop;
	return 1;
}

static uint64_t constant_popularity(void *ctx, const char *name)
{
	(void)name;
	return *(const uint64_t *)ctx;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the space-separated words of s in place. */
static void sort_words(char *s)
{
	char copy[2048], *words[256], *save = NULL, *w;
	size_t n = 0, i, used = 0;

	snprintf(copy, sizeof copy, "%s", s);
	for (w = strtok_r(copy, " ", &save); w && n < 256; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	qsort(words, n, sizeof *words, cmp_str);
	s[0] = '\0';
	for (i = 0; i < n; i++)
		used += (size_t)sprintf(s + used, "%s%s", i ? " " : "", words[i]);
}

/* ---------- plans as text ---------- */

/* "[a b] [c]": groups in plan order, each group's names in its order. */
static char *plan_text(const struct closure *c, const struct layer_plan *plan)
{
	char *s = NULL;
	size_t len = 0, g, i;

	append(&s, &len, "");
	for (g = 0; g < plan->n; g++) {
		append(&s, &len, g ? " [" : "[");
		for (i = 0; i < plan->groups[g].npaths; i++) {
			size_t k = plan->groups[g].paths[i];

			if (i)
				append(&s, &len, " ");
			append(&s, &len, k < c->n ? closure_name(c->paths[k].path) : "(out of range)");
		}
		append(&s, &len, "]");
	}
	return s;
}

/* Groups p with the budget and popularity table; checks the plan against
 * want and returns it (NULL when it could not be made). */
static char *check_plan(const struct pkg *p, size_t n, int reverse, size_t budget,
			struct pop_table *pops, const char *want, const char *what)
{
	struct closure c;
	struct layer_plan plan;
	char err[512] = "", *got = NULL;

	if (closure_of(p, n, reverse, &c) < 0)
		return NULL;
	if (CHECK_WHY(layers_group(&c, budget, pops ? table_popularity : NULL, pops, &plan, err, sizeof err) == 0,
		      err, "%s: the paths can be grouped", what)) {
		got = plan_text(&c, &plan);
		CHECK_STR_EQ(got, want, "%s", what);
		layers_plan_free(&plan);
	}
	closure_free(&c);
	return got;
}

/* ---------- the cases ---------- */

static void test_shared_popular(void)
{
	static const struct pkg pkgs[] = {
		{ "app1", 100, "shared priv1", 1 },
		{ "app2", 200, "shared", 1 },
		{ "priv1", 10, NULL, 0 },
		{ "shared", 1000, NULL, 0 },
	};
	static const struct pop_entry pe[] = { { "shared", 150 } };
	struct pop_table pops = { pe, 1, "" };
	struct closure c;
	struct layer_plan plan;
	char err[512] = "";
	char *got;

	got = check_plan(pkgs, 4, 0, 10, &pops,
			 "[shared] [app2] [app1 priv1]",
			 "two packages sharing a popular dependency: the dependency gets a layer of its own, "
			 "the private dependency stays with its package");
	free(got);
	sort_words(pops.seen);
	CHECK_STR_EQ(pops.seen, "app1 app2 priv1 shared",
		     "the popularity function is asked about every path once, by its name without /nix/store/<hash>-");

	/* Ratings: popularity x the closure sizes of the group's paths. */
	if (closure_of(pkgs, 4, 0, &c) < 0)
		return;
	if (CHECK_WHY(layers_group(&c, 10, table_popularity, &pops, &plan, err, sizeof err) == 0, err,
		      "the shared-dependency closure groups again for its ratings")) {
		CHECK(plan.n == 3 && plan.groups[0].rating == 150000 && plan.groups[1].rating == 1200 &&
		      plan.groups[2].rating == 1120,
		      "the groups come out by rating, highest first: 150 x 1000, 1 x 1200, 1 x (1110 + 10)");
		layers_plan_free(&plan);
		CHECK(plan.n == 0 && plan.groups == NULL, "freeing a plan leaves it empty");
	}
	closure_free(&c);

	/* Listed the other way round, the same plan. */
	pops.seen[0] = '\0';
	got = check_plan(pkgs, 4, 1, 10, &pops, "[shared] [app2] [app1 priv1]",
			 "the shared-dependency plan is the same when the dump lists the paths in reverse");
	free(got);
}

static void test_popular_threshold(void)
{
	static const struct pkg pkgs[] = {
		{ "app", 1, "libplain libpop", 1 },
		{ "libplain", 7, NULL, 0 },
		{ "libpop", 5, NULL, 0 },
	};
	static const struct pop_entry pe[] = { { "libpop", 100 }, { "libplain", 99 } };
	struct pop_table pops = { pe, 2, "" };

	free(check_plan(pkgs, 3, 0, 10, &pops, "[libpop] [app libplain]",
			"a dependency of one package with popularity 100 gets its own layer; with 99 it stays with the package"));
}

static void test_diamond(void)
{
	static const struct pkg pkgs[] = {
		{ "top", 1, "left right", 1 },
		{ "left", 1, "base", 0 },
		{ "right", 1, "base", 0 },
		{ "base", 1, NULL, 0 },
	};
	static const struct pop_entry pe[] = { { "none", 1 } };
	struct pop_table pops = { pe, 1, "" };

	free(check_plan(pkgs, 4, 0, 10, &pops, "[base left right top]",
			"a diamond top -> left, right -> base of unpopular paths is one layer"));
	free(check_plan(pkgs, 4, 0, 10, NULL, "[base left right top]",
			"without a popularity function the diamond is one layer too"));
}

static void test_big(void)
{
	static const struct pkg pkgs[] = {
		{ "top", 1000, "mid lib", 1 },
		{ "mid", 2000, "big", 0 },
		{ "big", 150000000, "small", 0 },
		{ "small", 10, NULL, 0 },
		{ "lib", 500, NULL, 0 },
	};
	static const struct pkg smaller[] = {
		{ "top", 1000, "mid lib", 1 },
		{ "mid", 2000, "big", 0 },
		{ "big", 90000000, "small", 0 },
		{ "small", 10, NULL, 0 },
		{ "lib", 500, NULL, 0 },
	};
	struct closure c;
	struct layer_plan plan;
	char err[512] = "";

	/* Every closure above 100 MB stands alone: big's, and mid's, which holds big. */
	free(check_plan(pkgs, 5, 0, 10, NULL, "[lib top] [mid] [big small]",
			"a 150 MB path deep in the graph gets a layer of its own (with what only it references)"));
	free(check_plan(smaller, 5, 0, 10, NULL, "[big lib mid small top]",
			"a 90 MB path deep in the graph stays in its package's layer"));
	if (closure_of(pkgs, 5, 0, &c) < 0)
		return;
	if (CHECK_WHY(layers_group(&c, 10, NULL, NULL, &plan, err, sizeof err) == 0, err,
		      "the big closure groups again for its ratings")) {
		CHECK(plan.n == 3 && plan.groups[0].rating == 150004010ULL && plan.groups[1].rating == 150002010ULL &&
		      plan.groups[2].rating == 150000020ULL,
		      "the big closure's groups are rated 150004010, 150002010, 150000020, in that order");
		layers_plan_free(&plan);
	}
	closure_free(&c);
}

static void test_budget(void)
{
	static const char want_singles[] =
		"[p037] [p074] [p111] [p018] [p055] [p092] [p129] [p036] [p073] [p110] [p017] [p054] [p091] "
		"[p128] [p035] [p072] [p109] [p016] [p053] [p090] [p127] [p034] [p071] [p108] [p015] [p052] "
		"[p089] [p126] [p033] [p070] [p107] [p014] [p051] [p088] [p125] [p032] [p069] [p106] [p013] "
		"[p050] [p087] [p124] [p031] [p068] [p105] [p012] [p049] [p086] [p123] [p030] [p067] [p104] "
		"[p011] [p048] [p085] [p122] [p029] [p066] [p103] [p010] [p047] [p084] [p121] [p028] [p065] "
		"[p102] [p009] [p046] [p083] [p120] [p027] [p064] [p101] [p008] [p045] [p082] [p119] [p026] "
		"[p063] [p100] [p007] [p044] [p081] [p118] [p025] [p062] [p099] [p006] [p043] [p080] [p117] "
		"[p024] [p061]";
	static const char want_merged[] =
		"[p000 p001 p002 p003 p004 p005 p019 p020 p021 p022 p023 p038 p039 p040 p041 p042 p056 p057 "
		"p058 p059 p060 p075 p076 p077 p078 p079 p093 p094 p095 p096 p097 p098 p112 p113 p114 p115 p116]";
	struct pkg pkgs[130];
	char names[130][8], want[4096];
	struct closure c;
	struct layer_plan plan;
	char err[512] = "", *got;
	size_t i;
	int descending = 1;

	/* Sizes 1000..130000 in a shuffled order: p037 is the biggest, p000 the smallest. */
	for (i = 0; i < 130; i++) {
		snprintf(names[i], sizeof names[i], "p%03zu", i);
		pkgs[i] = (struct pkg){ names[i], 1000 * ((i * 7) % 130 + 1), NULL, 1 };
	}
	if (closure_of(pkgs, 130, 0, &c) < 0)
		return;
	if (!CHECK_WHY(layers_group(&c, 94, NULL, NULL, &plan, err, sizeof err) == 0, err,
		       "130 independent packages can be grouped into 94 layers")) {
		closure_free(&c);
		return;
	}
	CHECK_INT_EQ(plan.n, 94, "130 independent packages with a budget of 94 make exactly 94 layers");
	got = plan_text(&c, &plan);
	snprintf(want, sizeof want, "%s %s", want_singles, want_merged);
	CHECK_STR_EQ(got, want,
		     "the 93 best-rated packages get a layer each, biggest first, and the lowest-rated 37 share the last, sorted by path");
	free(got);
	for (i = 1; i + 1 < plan.n; i++)
		if (plan.groups[i - 1].rating < plan.groups[i].rating)
			descending = 0;
	CHECK(plan.n == 94 && descending && plan.groups[0].rating == 130000 && plan.groups[92].rating == 38000,
	      "the layers before the merged one are rated from 130000 down to 38000");
	CHECK(plan.n == 94 && plan.groups[93].npaths == 37 && plan.groups[93].rating == 703000,
	      "the merged layer holds 37 paths and the sum of their ratings (703000)");
	layers_plan_free(&plan);

	/* A budget of one (or zero, taken as one) puts everything together. */
	if (CHECK_WHY(layers_group(&c, 1, NULL, NULL, &plan, err, sizeof err) == 0, err,
		      "130 packages can be grouped with a budget of 1"))
		CHECK(plan.n == 1 && plan.groups[0].npaths == 130, "a budget of 1 makes one layer of all 130 paths");
	layers_plan_free(&plan);
	if (CHECK_WHY(layers_group(&c, 0, NULL, NULL, &plan, err, sizeof err) == 0, err,
		      "130 packages can be grouped with a budget of 0"))
		CHECK(plan.n == 1 && plan.groups[0].npaths == 130, "a budget of 0 is taken as 1: one layer");
	layers_plan_free(&plan);
	if (CHECK_WHY(layers_group(&c, 500, NULL, NULL, &plan, err, sizeof err) == 0, err,
		      "130 packages can be grouped with a budget of 500"))
		CHECK(plan.n == 130, "a budget above the number of groups merges nothing (130 layers)");
	layers_plan_free(&plan);
	closure_free(&c);
}

static void test_ties(void)
{
	static const struct pkg pkgs[] = {
		{ "w", 100, NULL, 1 },
		{ "x", 100, NULL, 1 },
		{ "y", 100, NULL, 1 },
		{ "z", 100, NULL, 1 },
	};
	static const struct pkg shuffled[] = {
		{ "y", 100, NULL, 1 },
		{ "w", 100, NULL, 1 },
		{ "z", 100, NULL, 1 },
		{ "x", 100, NULL, 1 },
	};
	char *a, *b, *d;

	a = check_plan(pkgs, 4, 0, 2, NULL, "[z] [w x y]",
		       "four equally rated packages with a budget of 2: ties broken by path, the same every time");
	b = check_plan(pkgs, 4, 1, 2, NULL, "[z] [w x y]",
		       "the tied plan is the same when the dump lists the paths in reverse");
	d = check_plan(shuffled, 4, 0, 2, NULL, "[z] [w x y]",
		       "the tied plan is the same when the dump lists the paths shuffled");
	CHECK(a && b && d && strcmp(a, b) == 0 && strcmp(a, d) == 0,
	      "three dumps of one closure in three orders give one plan");
	free(a);
	free(b);
	free(d);
	free(check_plan(pkgs, 4, 0, 4, NULL, "[z] [y] [x] [w]",
			"four equally rated packages within the budget: one layer each, in a fixed order"));
}

static void test_always_popular(void)
{
	static const struct pkg pkgs[] = {
		{ "app-1.0", 1000, "nss-cacert-3.98 iana-etc-20231227 zlib-1.3", 1 },
		{ "nss-cacert-3.98", 100, NULL, 0 },
		{ "iana-etc-20231227", 10, NULL, 0 },
		{ "zlib-1.3", 50, NULL, 0 },
	};
	char cacert[256], iana[256], hello[256];
	uint64_t one = 1, seven = 7, zero = 0;

	path_of("nss-cacert-3.98", cacert, sizeof cacert);
	path_of("iana-etc-20231227", iana, sizeof iana);
	path_of("hello-2.12", hello, sizeof hello);
	CHECK_INT_EQ(layers_popularity_of(cacert, constant_popularity, &one), 500000,
		     "the CA certificates (nss-cacert) rank as popular as 500000 packages whatever the function says");
	CHECK_INT_EQ(layers_popularity_of(iana, constant_popularity, &one), 500000,
		     "iana-etc ranks as popular as 500000 packages whatever the function says");
	CHECK_INT_EQ(layers_popularity_of(cacert, NULL, NULL), 500000,
		     "the CA certificates rank 500000 without a popularity function");
	CHECK_INT_EQ(layers_popularity_of(hello, constant_popularity, &seven), 7,
		     "another package ranks as the popularity function says (7)");
	CHECK_INT_EQ(layers_popularity_of(hello, NULL, NULL), 1,
		     "without a popularity function a package ranks 1");
	CHECK_INT_EQ(layers_popularity_of(hello, constant_popularity, &zero), 1,
		     "a package no image uses (popularity 0) still ranks 1, so its size counts");

	free(check_plan(pkgs, 4, 0, 10, NULL, "[nss-cacert-3.98] [iana-etc-20231227] [app-1.0 zlib-1.3]",
			"the CA certificates and iana-etc get layers of their own in an image of one package"));
}

static void test_deep_chain(void)
{
	enum { N = 3000 };
	struct pkg *pkgs = calloc(N, sizeof *pkgs);
	char (*names)[16] = calloc(N, sizeof *names);
	struct closure c;
	struct layer_plan plan;
	char err[512] = "";
	size_t i;

	/* c0000 -> c0001 -> ... -> c2999, references named as the next. */
	for (i = 0; i < N; i++)
		snprintf(names[i], sizeof names[i], "c%04zu", i);
	for (i = 0; i < N; i++)
		pkgs[i] = (struct pkg){ names[i], 1, i + 1 < N ? names[i + 1] : NULL, i == 0 };
	if (closure_of(pkgs, N, 0, &c) == 0) {
		CHECK(c.n == N && c.paths[0].closure_size == N && c.paths[N - 1].closure_size == 1,
		      "a chain of 3000 paths has closure sizes 3000 down to 1");
		if (CHECK_WHY(layers_group(&c, 10, NULL, NULL, &plan, err, sizeof err) == 0, err,
			      "a chain of 3000 paths can be grouped"))
			CHECK(plan.n == 1 && plan.groups[0].npaths == N && plan.groups[0].paths[0] == 0 &&
			      plan.groups[0].paths[N - 1] == N - 1,
			      "a chain of 3000 unpopular paths below one package is one layer, sorted by path");
		layers_plan_free(&plan);
		closure_free(&c);
	}
	free(pkgs);
	free(names);
}

static void test_empty(void)
{
	struct closure c = { 0 };   /* no paths at all */
	struct layer_plan plan;
	char err[512] = "";

	if (CHECK_WHY(layers_group(&c, 10, NULL, NULL, &plan, err, sizeof err) == 0, err,
		      "an empty closure can be grouped"))
		CHECK(plan.n == 0, "an empty closure makes no layers");
	layers_plan_free(&plan);
}

int main(void)
{
	test_shared_popular();
	test_popular_threshold();
	test_diamond();
	test_big();
	test_budget();
	test_ties();
	test_always_popular();
	test_deep_chain();
	test_empty();
	return check_exit();
}
