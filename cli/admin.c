/* nixery-admin: the operator's tool, beside the FastCGI program and with
 * the same settings, cache and storage: prebuild images without HTTP, remove
 * what no image uses any more, and show what the registry holds. One
 * function per command, as cgit dispatches its pages. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "builder/builder.h"
#include "builder/gc.h"
#include "builder/walk.h"
#include "builder/lock.h"
#include "builder/verify.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/image.h"
#include "core/source.h"
#include "core/strv.h"
#include "nix/host.h"
#include "storage/storage.h"

/* MiB a second verify reads by default: a day's run covers a few
 * terabytes, and leaves the disk to the web server. */
#define VERIFY_RATE 32
/* Ended builds status lists, with who asked for each. */
#define STATUS_BUILDS 20

struct admin {
	struct config cfg;
	struct storage *storage;
	struct popularity_source *popularity;
	struct builder builder;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: nixery-admin [--config FILE] COMMAND [ARGUMENTS]\n"
		"\n"
		"  prebuild [--tag TAG] [--from FILE] [IMAGE[:TAG]...]\n"
		"        build images into the cache, one line for each (FILE: one image a\n"
		"        line, - for standard input, # for comments)\n"
		"  gc [--keep-days N] [--dry-run]\n"
		"        forget images not used for N days (default 30), remove the blobs\n"
		"        no image uses, lock files and GC roots nobody holds, old build\n"
		"        records; safe while the registry serves and builds\n"
		"  status\n"
		"        images with their names, sizes and last use; builds in progress\n"
		"        and the last %d, with who asked for each\n"
		"  verify [--rate MIB]\n"
		"        hash every blob, at most MIB MiB a second (default %d, 0: no limit),\n"
		"        and forget the damaged ones, so that the next pull packs them\n"
		"        again; lists them, and exits 1 if there was any\n"
		"\n"
		"Settings as for nixery-fcgi (its file, then the environment); run as\n"
		"the user the workers run as. See nixery-admin(8).\n", STATUS_BUILDS, VERIFY_RATE);
	return f == stdout ? 0 : 2;
}

/* Opens the cache and the storage to change them, making what is
 * missing, as a worker does. */
static int open_writing(struct admin *a)
{
	char err[4096];

	nix_environment(a->cfg.state_dir);
	if (builder_prepare(&a->cfg, err, sizeof err) < 0 ||
	    storage_open(&a->cfg, &a->storage, err, sizeof err) < 0) {
		fprintf(stderr, "nixery-admin: %s\n", err);
		return -1;
	}
	if (popularity_source_new(a->cfg.popularity_url, a->cfg.popularity_ttl, &a->popularity) < 0) {
		fprintf(stderr, "nixery-admin: out of memory\n");
		return -1;
	}
	if (builder_open(&a->builder, &a->cfg, a->storage, a->popularity, NULL, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "nixery-admin: %s\n", err);
		return -1;
	}
	return 0;
}

/* Whether the registry has a cache yet; when not, says so: commands that
 * only look, or find nothing to remove, then create nothing (run as root
 * before the first start, they would leave folders the workers cannot
 * write). */
static int built_yet(const struct admin *a, const char *what)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/cache.db", a->cfg.state_dir);
	if (access(path, F_OK) == 0)
		return 1;
	printf("%snothing is built yet: there is no build cache %s (the registry makes it when it first starts)\n",
	       what, path);
	return 0;
}

/* Opens the cache and the storage as they are, to read them: nothing is
 * created, upgraded or removed. */
static int open_reading(struct admin *a)
{
	char err[4096];

	if (storage_open_existing(&a->cfg, &a->storage, err, sizeof err) < 0 ||
	    builder_open_existing(&a->builder, &a->cfg, a->storage, err, sizeof err) < 0) {
		fprintf(stderr, "nixery-admin: %s\n", err);
		return -1;
	}
	return 0;
}

/* One image: "name" or "name:tag"; prints its line, returns 0 or 1. */
static int prebuild_one(struct admin *a, const char *ref, const char *default_tag)
{
	char name[IMAGE_NAME_MAX + 1], tag[160];
	const char *colon = strrchr(ref, ':');
	struct deadline dl = deadline_in(a->cfg.nix_timeout * 1000L, NULL);
	struct builder_result res;
	struct timespec started;
	int rc;

	snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - ref) : (int)strlen(ref), ref);
	snprintf(tag, sizeof tag, "%s", colon ? colon + 1 : default_tag);
	printf("%s:%s ", name, tag);
	fflush(stdout);
	if (!image_name_valid(name) || !source_tag_valid(tag)) {
		printf("failed: not an image name and tag\n");
		return 1;
	}
	started = clock_start();
	/* No tag file: the first answer through lighttpd writes it. */
	rc = builder_image(&a->builder, NULL, name, tag, NULL, 0, &dl, &res);
	if (rc < 0)
		printf("failed: %s\n", res.message);
	else if (res.built)
		printf("built in %.1f s, %.1f MiB packed, sha256:%s\n", clock_seconds_since(started),
		       (double)res.packed / (1 << 20), res.digest);
	else
		printf("cached, sha256:%s\n", res.digest);
	builder_result_free(&res);
	return rc < 0;
}

static int cmd_prebuild(struct admin *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tag = "latest", *from = NULL;
	char line[1024];
	int opt, failed = 0, done = 0;
	FILE *f;

	while ((opt = getopt_long(argc, argv, "t:f:", opts, NULL)) != -1) {
		switch (opt) {
		case 't': tag = optarg; break;
		case 'f': from = optarg; break;
		default: return usage(stderr);
		}
	}
	if (optind == argc && !from)
		return usage(stderr);
	if (open_writing(a) < 0)
		return 1;
	for (; optind < argc; optind++, done++)
		failed += prebuild_one(a, argv[optind], tag);
	if (from) {
		if (!(f = strcmp(from, "-") == 0 ? stdin : fopen(from, "r"))) {
			fprintf(stderr, "nixery-admin: cannot read %s: %s\n", from, strerror(errno));
			return 1;
		}
		while (fgets(line, sizeof line, f)) {
			char *image = line + strspn(line, " \t");

			image[strcspn(image, " \t\r\n#")] = '\0';
			if (*image) {
				failed += prebuild_one(a, image, tag);
				done++;
			}
		}
		if (f != stdin)
			fclose(f);
	}
	if (!done)
		return usage(stderr);
	printf("%d of %d images ready\n", done - failed, done);
	return failed ? 1 : 0;
}

static int cmd_gc(struct admin *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-days", required_argument, NULL, 'k' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct gc_report r;
	char err[1024], *end;
	int opt, keep = 30, dry = 0;

	while ((opt = getopt_long(argc, argv, "k:n", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			keep = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || keep < 0) {
				fprintf(stderr, "nixery-admin: --keep-days takes a whole number of days\n");
				return 2;
			}
			break;
		case 'n': dry = 1; break;
		default: return usage(stderr);
		}
	}
	if (!built_yet(a, dry ? "would remove nothing: " : "removed nothing: "))
		return 0;
	if ((dry ? open_reading(a) : open_writing(a)) < 0)
		return 1;
	if (gc_run(&a->cfg, a->builder.cache, a->storage, keep, dry, &r, err, sizeof err) < 0) {
		fprintf(stderr, "nixery-admin: gc: %s\n", err);
		return 1;
	}
	printf("%s %d images not used for %d days, %d blobs (%.1f MiB)", dry ? "would remove" : "removed",
	       r.images, keep, r.blobs, (double)r.bytes / (1 << 20));
	if (!dry)
		printf(", %d lock files, %d GC-root folders, %lld build records", r.locks, r.roots,
		       (long long)r.builds);
	printf("\n");
	return 0;
}

static void print_age(int64_t when)
{
	int64_t ago = (int64_t)time(NULL) - when;

	if (ago < 3600)
		printf("%3lld min ago", (long long)(ago / 60));
	else if (ago < 86400 * 2)
		printf("%3lld h ago  ", (long long)(ago / 3600));
	else
		printf("%3lld d ago  ", (long long)(ago / 86400));
}

static int add_size(void *ctx, const char *hex, uint64_t size)
{
	(void)hex;
	*(uint64_t *)ctx += size;
	return 0;
}

static int show_image(void *ctx, const char *key, const struct cache_image *img, int64_t created)
{
	struct admin *a = ctx;
	struct buf manifest = { 0 };
	uint64_t size = 0;
	char **refs = NULL;
	size_t n = 0, i;

	(void)created;
	/* An index: every platform's image, and its manifests. */
	if (storage_read(a->storage, img->docker_manifest, MANIFEST_MAX_BYTES, &manifest) == 0)
		walk_image(a->storage, manifest.data, add_size, &size);
	buf_free(&manifest);
	cache_image_tags(a->builder.cache, key, &refs, &n);
	printf("%.12s  %9.1f MiB  used ", key, (double)size / (1 << 20));
	print_age(img->used);
	printf("  %s%s", img->platforms[0] ? img->platforms : "-", img->index ? " (index)  " : "  ");
	for (i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", refs[i]);
	printf("%s\n", n ? "" : "(no tag recorded)");
	strv_free(refs, n);
	return 0;
}

/* Who asked for a build: the user, the address, or nixery-admin. */
static const char *requester(const struct cache_build *b)
{
	return b->requester[0] ? b->requester : "-";
}

static int show_build(void *ctx, const struct cache_build *b)
{
	struct admin *a = ctx;

	printf("%.12s  started ", b->image_key);
	print_age(b->started);
	printf("  for %s  %s%s\n", requester(b), b->name[0] ? b->name : b->packages,
	       lock_held(a->cfg.state_dir, "image", b->image_key) ? "" : "  (its worker stopped: no longer running)");
	return 0;
}

static int show_ended(void *ctx, const struct cache_build *b)
{
	(void)ctx;
	printf("%.12s  %-9s ", b->image_key, b->status);
	print_age(b->started);
	printf("  %6.1f s  for %s  %s\n", b->seconds, requester(b), b->name[0] ? b->name : b->packages);
	return 0;
}

static int cmd_status(struct admin *a, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!built_yet(a, ""))
		return 0;
	if (open_reading(a) < 0)
		return 1;
	printf("images, most recently used first:\n");
	if (cache_each_image(a->builder.cache, show_image, a) < 0)
		goto fail;
	printf("builds in progress:\n");
	if (cache_each_build(a->builder.cache, 1, 100, show_build, a) < 0)
		goto fail;
	printf("last builds, newest first:\n");
	if (cache_each_build(a->builder.cache, 0, STATUS_BUILDS, show_ended, a) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "nixery-admin: cannot read the build cache: %s\n", cache_error(a->builder.cache));
	return 1;
}

static int cmd_verify(struct admin *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct verify_report r;
	char err[1024], *end;
	long rate = VERIFY_RATE;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			rate = strtol(optarg, &end, 10);
			if (*end || end == optarg || rate < 0) {
				fprintf(stderr, "nixery-admin: --rate takes a whole number of MiB a second\n");
				return 2;
			}
			break;
		default: return usage(stderr);
		}
	}
	if (!built_yet(a, "verified nothing: "))
		return 0;
	if (open_writing(a) < 0)
		return 1;
	rc = verify_run(a->builder.cache, a->storage, (uint64_t)rate << 20, stdout, stderr, &r, err, sizeof err);
	if (rc == -EOPNOTSUPP) {
		printf("%s\n", err);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "nixery-admin: verify: %s\n", err);
		return 1;
	}
	printf("verified %zu blobs (%.1f MiB): %zu damaged%s\n", r.blobs, (double)r.bytes / (1 << 20), r.damaged,
	       r.damaged ? ", removed and forgotten: the next pull of their images packs them again" : "");
	return r.damaged ? 1 : 0;
}

struct command {
	const char *name;
	int (*run)(struct admin *a, int argc, char **argv);
};

static const struct command commands[] = {
	{ "prebuild", cmd_prebuild },
	{ "gc", cmd_gc },
	{ "status", cmd_status },
	{ "verify", cmd_verify },
	{ "ls", cmd_status },
};

/* The command by its name, or NULL (said on standard error). */
static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	fprintf(stderr, "nixery-admin: no command %s\n", name);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	const struct command *command;
	struct admin a = { 0 };
	char err[4096];
	int opt, rc = 1;

	/* Options before the command only: the command parses its own. */
	while ((opt = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (optind >= argc || !(command = find_command(argv[optind])))
		return usage(stderr);
	/* The workers of another user in the group write what this writes
	 * (README, "One owner and group"): an operator's umask of 022 would
	 * leave them a cache, folders and files they cannot write. */
	umask(umask(0) & ~(mode_t)070);
	if (config_load(&a.cfg, config_path, err, sizeof err) < 0) {
		fprintf(stderr, "nixery-admin: %s\n", err);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "nixery-admin: cannot initialise libcurl\n");
		goto out;
	}
	/* The command sees its own name as argv[0]. */
	optind++;
	argv += optind - 1;
	argc -= optind - 1;
	optind = 0;   /* glibc: start over */
	rc = command->run(&a, argc, argv);
out:
	builder_close(&a.builder);
	storage_close(a.storage);
	popularity_source_free(a.popularity);
	config_free(&a.cfg);
	return rc;
}
