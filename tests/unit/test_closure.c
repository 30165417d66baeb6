/* Reading an image's runtime closure from `nix path-info --json --recursive`
 * (core/closure.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/closure.h"
#include "tests/unit/check.h"

/* Hashes chosen so that sorting by path gives a, b, c, d while the dump
 * lists them in another order. */
#define PATH_A "/nix/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a"
#define PATH_B "/nix/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b"
#define PATH_C "/nix/store/2ccccccccccccccccccccccccccccccc-c"
#define PATH_D "/nix/store/3ddddddddddddddddddddddddddddddd-d"
/* An entry as Nix prints it, with fields the reader does not need. */
#define ENTRY(path, size, refs) \
	"{\"path\":\"" path "\",\"narHash\":\"sha256-gnrG9qZ4EoLkK7Lw/6/COHG55s9O1M/bMPRnS2iH9jY=\"," \
	"\"narSize\":" size ",\"references\":[" refs "],\"registrationTime\":1796227128,\"ultimate\":true}"
#define Q(path) "\"" path "\""

/* d first, a last; a, c and d reference themselves, as Nix records it. */
static const char dump4[] = "["
	ENTRY(PATH_D, "1000", Q(PATH_D)) ","
	ENTRY(PATH_C, "100", Q(PATH_D) "," Q(PATH_C)) ","
	ENTRY(PATH_B, "10", Q(PATH_D)) ","
	ENTRY(PATH_A, "1", Q(PATH_A) "," Q(PATH_C) "," Q(PATH_B))
	"]\n";

static char *const top_a[] = { PATH_A };

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The references of one path as sorted names, e.g. "b c": the order of
 * references is not part of the contract, only the set. */
static void ref_names(const struct closure *c, size_t i, char *out, size_t len)
{
	const char *names[16];
	size_t r, n = 0, used = 0;

	out[0] = '\0';
	for (r = 0; r < c->paths[i].nrefs && n < 16; r++) {
		size_t j = c->paths[i].refs[r];

		names[n++] = j < c->n ? closure_name(c->paths[j].path) : "(out of range)";
	}
	qsort(names, n, sizeof *names, cmp_str);
	for (r = 0; r < n && used < len; r++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", r ? " " : "", names[r]);
}

static void test_parse(void)
{
	struct closure c;
	char err[512] = "", refs[256];
	int rc = closure_parse(dump4, top_a, 1, &c, err, sizeof err);
	static const char *const sorted[] = { PATH_A, PATH_B, PATH_C, PATH_D };
	static const unsigned long long nar[] = { 1, 10, 100, 1000 };
	static const unsigned long long closure[] = { 1111, 1010, 1100, 1000 };
	static const char *const refs_want[] = { "b c", "d", "d", "" };
	static const char *const names[] = { "a", "b", "c", "d" };
	size_t i;

	if (!CHECK_WHY(rc == 0, err, "a dump of four paths with self-references parses"))
		return;
	if (!CHECK_INT_EQ(c.n, 4, "a dump of four paths gives four paths")) {
		closure_free(&c);
		return;
	}
	for (i = 0; i < 4; i++)
		CHECK_STR_EQ(c.paths[i].path, sorted[i], "path %zu in sorted order is %s", i, names[i]);
	for (i = 0; i < 4; i++) {
		CHECK_INT_EQ(c.paths[i].nar_size, nar[i], "the NAR size of %s alone is %llu", names[i], nar[i]);
		CHECK_INT_EQ(c.paths[i].closure_size, closure[i],
			     "the closure size of %s (itself and all it references) is %llu", names[i], closure[i]);
		ref_names(&c, i, refs, sizeof refs);
		CHECK_STR_EQ(refs, refs_want[i], "%s references [%s], itself excluded", names[i], refs_want[i]);
	}
	CHECK(c.paths[0].top && !c.paths[1].top && !c.paths[2].top && !c.paths[3].top,
	      "only the requested output a is marked top-level");
	closure_free(&c);
	CHECK(c.n == 0 && c.paths == NULL, "freeing a closure leaves it empty");

	/* Two tops, and a diamond counted once: a's closure holds d once. */
	{
		char *const tops[] = { PATH_C, PATH_B };

		if (CHECK_WHY(closure_parse(dump4, tops, 2, &c, err, sizeof err) == 0, err,
			      "the same dump parses with two requested outputs")) {
			CHECK(!c.paths[0].top && c.paths[1].top && c.paths[2].top && !c.paths[3].top,
			      "with b and c requested, exactly b and c are top-level");
			closure_free(&c);
		}
	}
	CHECK_WHY(closure_parse(dump4, NULL, 0, &c, err, sizeof err) == 0, err,
		  "a dump parses without any requested output");
	CHECK(c.n == 4 && !c.paths[0].top && !c.paths[3].top, "without requested outputs no path is top-level");
	closure_free(&c);

	CHECK_WHY(closure_parse("[]", NULL, 0, &c, err, sizeof err) == 0, err, "an empty list parses");
	CHECK(c.n == 0, "an empty list is an empty closure");
	closure_free(&c);
}

static void test_sizes_beyond_4g(void)
{
	static const char dump[] = "["
		ENTRY("/nix/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-big", "5000000000",
		      Q("/nix/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-dep")) ","
		ENTRY("/nix/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-dep", "4000000000", "") "]";
	struct closure c;
	char err[512] = "";

	if (!CHECK_WHY(closure_parse(dump, NULL, 0, &c, err, sizeof err) == 0, err,
		       "a closure with paths of 5 GB and 4 GB parses"))
		return;
	CHECK(c.n == 2 && c.paths[0].nar_size == 5000000000ULL && c.paths[0].closure_size == 9000000000ULL,
	      "sizes beyond 4 GiB add up without overflow (9000000000)");
	closure_free(&c);
}

static void test_names(void)
{
	CHECK_STR_EQ(closure_name("/nix/store/abcdefghijklmnopqrstuvwxyz012345-hello-2.12"), "hello-2.12",
		     "the name of /nix/store/<hash>-hello-2.12 is hello-2.12");
	CHECK_STR_EQ(closure_name("/nix/store/abcdefghijklmnopqrstuvwxyz012345-nss-cacert-3.98"), "nss-cacert-3.98",
		     "a name with dashes keeps all of them (nss-cacert-3.98)");
	CHECK_STR_EQ(closure_name("/nix/store/short-hello"), "/nix/store/short-hello",
		     "a path with a short hash is its own name");
	CHECK_STR_EQ(closure_name("/usr/bin/hello"), "/usr/bin/hello", "a path outside the store is its own name");
}

static void check_error(const char *dump, char *const *tops, size_t ntops, const char *must_name,
			const char *what)
{
	struct closure c;
	char err[512] = "";
	int rc = closure_parse(dump, tops, ntops, &c, err, sizeof err);

	if (!CHECK_INT_EQ(rc, -EINVAL, "%s is refused with EINVAL", what)) {
		if (rc == 0)
			closure_free(&c);
		return;
	}
	if (must_name)
		CHECK_WHY(strstr(err, must_name) != NULL, err, "the error for %s names %s", what, must_name);
	else
		CHECK(err[0] != '\0', "the error for %s says what is wrong", what);
	CHECK(c.n == 0 && c.paths == NULL, "a refused closure (%s) leaves nothing behind", what);
}

static void test_errors(void)
{
	static const char missing_ref[] = "["
		ENTRY(PATH_A, "1", Q(PATH_A) "," Q("/nix/store/4eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-ghost")) "]";
	static const char twice[] = "[" ENTRY(PATH_A, "1", "") "," ENTRY(PATH_A, "2", "") "]";
	static const char cut[] = "[" ENTRY(PATH_B, "10", "") "," "{\"path\":\"" PATH_A "\",\"narSize\":1,";
	static const char invalid[] = "[{\"path\":\"" PATH_A "\",\"valid\":false}]";
	static const char bad_size[] = "[" ENTRY(PATH_A, "\"12\"", "") "]";
	static const char fraction[] = "[" ENTRY(PATH_A, "1.5", "") "]";
	static const char negative_size[] = "[" ENTRY(PATH_A, "-1", "") "]";
	static const char huge_size[] = "[" ENTRY(PATH_A, "1e300", "") "]";
	static const char ref_not_string[] = "[" ENTRY(PATH_A, "1", "42") "]";
	static const char not_store[] = "[" ENTRY("/usr/bin/a", "1", "") "]";
	static const char below_path[] = "[" ENTRY(PATH_A "/bin/a", "1", "") "]";
	static const char store_dir[] = "[" ENTRY("/nix/store/", "1", "") "]";
	static const char not_list[] = "{\"path\":\"" PATH_A "\"}";
	char *const top_ghost[] = { "/nix/store/5fffffffffffffffffffffffffffffff-not-built" };

	check_error(missing_ref, NULL, 0, "/nix/store/4eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-ghost",
		    "a reference to a path the closure does not hold");
	check_error(twice, NULL, 0, PATH_A, "a path listed twice");
	check_error(cut, NULL, 0, NULL, "a list cut short");
	check_error(invalid, NULL, 0, PATH_A, "a path Nix says is not valid");
	check_error(bad_size, NULL, 0, PATH_A, "a size that is a string");
	check_error(fraction, NULL, 0, PATH_A, "a size that is not whole (1.5)");
	check_error(negative_size, NULL, 0, PATH_A, "a negative size (-1)");
	check_error(huge_size, NULL, 0, PATH_A, "a size beyond 2^53 (1e300)");
	check_error(ref_not_string, NULL, 0, PATH_A, "a reference that is not a string");
	check_error(not_store, NULL, 0, "/usr/bin/a", "a path outside /nix/store");
	check_error(below_path, NULL, 0, PATH_A "/bin/a", "a file inside a store path");
	check_error(store_dir, NULL, 0, "/nix/store/", "the store itself as a path");
	check_error(not_list, NULL, 0, NULL, "an object instead of a list");
	check_error("", NULL, 0, NULL, "an empty answer");
	check_error(dump4, top_ghost, 1, "/nix/store/5fffffffffffffffffffffffffffffff-not-built",
		    "a requested output missing from the closure");
}

int main(void)
{
	test_parse();
	test_sizes_beyond_4g();
	test_names();
	test_errors();
	return check_exit();
}
