/* Popularity data: Nixery's {"name-version": count} format, looked up by
 * store path name, defaulting to 1; a source that cannot be read leaves
 * layering to popularity 1 and never fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/popularity.h"
#include "tests/unit/check.h"

static void parse_and_lookup(void)
{
	struct popularity *p = NULL;
	char err[256] = "";

	CHECK(popularity_parse("{\"glibc-2.37-8\": 1203, \"zlib-1.3\": 640, \"hello-2.12\": 0}", &p,
			       err, sizeof err) == 0, "a popularity object parses");
	CHECK(popularity_count(p) == 3, "every name of the object is kept (%zu)", popularity_count(p));
	CHECK(popularity_lookup(p, "glibc-2.37-8") == 1203, "a listed name has its count");
	CHECK(popularity_lookup(p, "zlib-1.3") == 640, "another listed name has its count");
	CHECK(popularity_lookup(p, "glibc-2.37") == 1, "a name not listed counts 1, even a prefix of a listed one");
	CHECK(popularity_lookup(p, "hello-2.12") == 1, "a count of 0 counts as 1");
	CHECK(popularity_lookup(NULL, "glibc-2.37-8") == 1, "without data every name counts 1");
	popularity_free(p);

	CHECK(popularity_parse("{}", &p, err, sizeof err) == 0 && popularity_count(p) == 0,
	      "an empty object is valid data for no paths");
	popularity_free(p);
}

static void refuse(const char *json, const char *why)
{
	struct popularity *p = (struct popularity *)1;
	char err[256] = "";
	int rc = popularity_parse(json, &p, err, sizeof err);

	CHECK_WHY(rc < 0 && p == NULL && err[0], err, "malformed data is refused: %s", why);
}

static void malformed(void)
{
	refuse("", "empty input");
	refuse("[1, 2]", "an array");
	refuse("{\"a\": \"many\"}", "a count that is a string");
	refuse("{\"a\": -3}", "a negative count");
	refuse("{\"a\": 1.5}", "a count that is not whole");
	refuse("{\"a\": 1e37}", "a count beyond 2^53 (found by fuzzing: its conversion was undefined)");
	refuse("{\"a\": 1", "cut-off JSON");
	refuse("null", "null");
}

static void source_from_file(void)
{
	char dir[] = "/tmp/nixery-test-pop.XXXXXX", path[256];
	struct popularity_source *src = NULL;
	struct popularity *p;
	FILE *f;

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/pop.json", dir);
	f = fopen(path, "w");
	fputs("{\"libgreet\": 1000}", f);
	fclose(f);

	CHECK(popularity_source_new(path, 3600, &src) == 0, "a source on a local file is created");
	p = popularity_acquire(src);
	CHECK(popularity_lookup(p, "libgreet") == 1000, "a local file is read by absolute path");
	popularity_release(src, p);

	/* Changed on disk, but within the TTL: the loaded table stays. */
	f = fopen(path, "w");
	fputs("{\"libgreet\": 7}", f);
	fclose(f);
	p = popularity_acquire(src);
	CHECK(popularity_lookup(p, "libgreet") == 1000, "within its TTL the data is not read again");
	popularity_release(src, p);
	popularity_source_free(src);

	CHECK(popularity_source_new(path, 0, &src) == 0, "a source with TTL 0 is created");
	p = popularity_acquire(src);
	popularity_release(src, p);
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	p = popularity_acquire(src);
	CHECK(popularity_lookup(p, "libgreet") == 7, "a refresh that finds malformed data keeps the data loaded before");
	popularity_release(src, p);
	popularity_source_free(src);

	snprintf(path, sizeof path, "%s/missing.json", dir);
	CHECK(popularity_source_new(path, 0, &src) == 0, "a source on a missing file is created");
	p = popularity_acquire(src);
	CHECK(p == NULL && popularity_lookup(p, "libgreet") == 1, "a missing file gives popularity 1 for every path");
	popularity_release(src, p);
	popularity_source_free(src);

	CHECK(popularity_source_new(NULL, 60, &src) == 0 && popularity_acquire(src) == NULL,
	      "no URL means no data");
	popularity_source_free(src);

	snprintf(path, sizeof path, "%s/pop.json", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	parse_and_lookup();
	malformed();
	source_from_file();
	curl_global_cleanup();
	return check_exit();
}
