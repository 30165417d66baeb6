/* The C side of the rules the web servers' configurations repeat, for the
 * end-to-end tests that hold each copy to it. Not a test of its own:
 *
 *   rules route          for each request path on standard input, one
 *                        line: the file (relative to STORAGE_PATH) that a
 *                        web server's route may send for GET <path>: the
 *                        blob's, or the tag file a worker answering it
 *                        writes; "-" when the workers take no such path
 *                        (tests/e2e/names.sh)
 *   rules tag STORAGE_PATH NAME TAG NOW
 *                        what the web server sends for the tag at unix
 *                        time NOW, by its file alone, to a client that
 *                        takes a Docker manifest, an OCI one, Docker's
 *                        manifest list and an OCI index: "docker <hex>"
 *                        or "docker -", then "oci", "docker-list" and
 *                        "oci-index" likewise (tests/e2e/tagformat.sh)
 *   rules accept         for each Accept header on standard input, the
 *                        manifest media type the workers choose, and the
 *                        index media type they take, or "-" */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/digest.h"
#include "core/manifest.h"
#include "fcgi/reply.h"
#include "fcgi/router.h"
#include "storage/storage.h"

static int route(void)
{
	char *line = NULL, file[4096];
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		struct reply rep = { 0 };
		struct route rt;
		char hex[DIGEST_HEX_LEN + 1];

		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (router_parse("GET", line, &rt, &rep) < 0)
			printf("-\n");
		else if (rt.kind == ROUTE_BLOB && digest_parse(rt.ref, hex) == 0)
			printf("blobs/sha256/%s\n", hex);
		/* A manifest by tag, not by digest: only those have a file. */
		else if (rt.kind == ROUTE_MANIFEST && digest_parse(rt.ref, hex) < 0 &&
			 storage_tag_file(rt.name, rt.ref, file, sizeof file) == 0)
			printf("%s\n", file);
		else
			printf("-\n");
		reply_free(&rep);
	}
	free(line);
	return 0;
}

static int tag(const char *root, const char *name, const char *tag_name, const char *now)
{
	static const struct {
		const char *label;
		struct manifest_accept a;
	} clients[] = {
		{ "docker", { MANIFEST_DOCKER, 0, MANIFEST_DOCKER } },
		{ "oci", { MANIFEST_OCI, 0, MANIFEST_DOCKER } },
		{ "docker-list", { MANIFEST_DOCKER, 1, MANIFEST_DOCKER } },
		{ "oci-index", { MANIFEST_OCI, 1, MANIFEST_OCI } },
	};
	struct config cfg = { 0 };
	char err[512], hex[DIGEST_HEX_LEN + 1];
	struct storage *s;
	size_t i;
	int as_index;

	cfg.storage = STORAGE_FILESYSTEM;
	cfg.storage_path = (char *)root;
	if (storage_open_existing(&cfg, &s, err, sizeof err) < 0) {
		fprintf(stderr, "rules: %s\n", err);
		return 1;
	}
	for (i = 0; i < sizeof clients / sizeof *clients; i++)
		printf("%s %s\n", clients[i].label,
		       storage_tag_answer(s, name, tag_name, &clients[i].a, strtoll(now, NULL, 10), hex,
					      &as_index) == 0 ? hex : "-");
	storage_close(s);
	return 0;
}

static int accept(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		struct manifest_accept a;

		if (line[n - 1] == '\n')
			line[--n] = '\0';
		manifest_negotiate_all(line, &a);
		printf("%s %s\n", manifest_media_type(a.manifest), a.index ? manifest_index_media_type(a.index_format) : "-");
	}
	free(line);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "route") == 0)
		return route();
	if (argc == 6 && strcmp(argv[1], "tag") == 0)
		return tag(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 2 && strcmp(argv[1], "accept") == 0)
		return accept();
	fprintf(stderr, "usage: rules route | rules tag STORAGE_PATH NAME TAG NOW | rules accept\n");
	return 2;
}
