/* A stand-in for Nix, for the tests of the build pipeline: its "store
 * paths" are folders under a temporary directory, each holding one file;
 * it counts what it was asked, and fails, sleeps or refuses on request.
 * The cache, the storage and the packing the tests run are the real ones.
 * Included by the test programs that need it (static, as check.h). */
#ifndef NIXERY_TESTS_BUILDER_STANDIN_H
#define NIXERY_TESTS_BUILDER_STANDIN_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/builder.h"
#include "core/strv.h"
#include "tests/unit/check.h"

static char tmp[64];          /* /tmp/nixery-builder-XXXXXX */
static char store[128];       /* tmp/store: the stand-in's "store paths" */
/* Each system but x86_64-linux has a store of its own under store: its
 * packages are other paths, as Nix's are. */
#define FOREIGN_SYSTEM "aarch64-linux"

/* What the stand-in was asked to do, and how it answers. */
static struct {
	int evaluations, builds, explained;
	int fail_build;           /* realise fails */
	const char *fail_system;  /* ... only for this system */
	const char *unsupported;  /* a name not offered for FOREIGN_SYSTEM */
	int systems_asked;        /* systems the last evaluation was asked for */
	int slow_build_ms;        /* realise takes this long */
	int slow_eval_ms;         /* evaluate waits this long, or to the deadline */
	const char *refuse;       /* a name evaluation refuses */
	int build_likely;         /* what the last evaluation was told */
	pthread_mutex_t lock;
} nix = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void counted(int *n)
{
	pthread_mutex_lock(&nix.lock);
	(*n)++;
	pthread_mutex_unlock(&nix.lock);
}

static void die(const char *what)
{
	printf("FAIL: %s: setting up the test (%s: %s)\n", check_binary(), what, strerror(errno));
	exit(1);
}

static void store_path(const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", store, name);
}

static void system_path(const char *system, const char *name, char *out, size_t len)
{
	if (strcmp(system, FOREIGN_SYSTEM) == 0)
		snprintf(out, len, "%s/" FOREIGN_SYSTEM "/%s", store, name);
	else
		store_path(name, out, len);
}

/* Each package is a store path of its own, holding one file: its name,
 * then `extra` bytes of text that compresses about as a program does. */
static void make_package(const char *name, size_t extra)
{
	static const char *const words[] = { "layer", "store", "path", "nix", "image", "gzip", "tar", "\n" };
	char path[256], file[300];
	unsigned seed = 1;
	FILE *f;

	store_path(name, path, sizeof path);
	snprintf(file, sizeof file, "%s/%s.txt", path, strrchr(name, '/') ? strrchr(name, '/') + 1 : name);
	if (mkdir(path, 0755) < 0 || !(f = fopen(file, "w")) || fputs(name, f) < 0)
		die(path);
	for (; extra > 0; extra--) {
		seed = seed * 1103515245 + 12345;
		if (fputc(seed >> 16 & 1 ? words[seed >> 20 & 7][0] : 'a' + (int)(seed >> 24) % 26, f) == EOF)
			die(file);
	}
	if (fclose(f) != 0)
		die(file);
}

/* A store path's size: its one file's. */
static uint64_t package_size(const char *path)
{
	char file[300];
	struct stat st;

	snprintf(file, sizeof file, "%s/%s.txt", path, strrchr(path, '/') + 1);
	return stat(file, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* One system's answer. */
static void evaluate_for(const struct nix_job *job, const char *system, struct nix_eval *ev)
{
	char path[256];
	size_t i;

	ev->outputs = calloc(job->req->npackages + 1, sizeof *ev->outputs);
	ev->unknown = calloc(job->req->npackages + 1, sizeof *ev->unknown);
	ev->refused = calloc(job->req->npackages + 1, sizeof *ev->refused);
	ev->unsupported = calloc(job->req->npackages + 1, sizeof *ev->unsupported);
	for (i = 0; i < job->req->npackages; i++) {
		const char *name = job->req->packages[i];

		system_path(system, name, path, sizeof path);
		if (nix.refuse && strcmp(name, nix.refuse) == 0)
			ev->refused[ev->nrefused++] = strdup(name);
		else if (nix.unsupported && strcmp(name, nix.unsupported) == 0 && strcmp(system, FOREIGN_SYSTEM) == 0)
			ev->unsupported[ev->nunsupported++] = strdup(name);
		else if (access(path, F_OK) < 0)
			ev->unknown[ev->nunknown++] = strdup(name);
		else
			ev->outputs[ev->noutputs++] = strdup(path);
	}
	if (ev->nunknown || ev->nrefused || ev->nunsupported) {
		strv_free(ev->outputs, ev->noutputs);
		ev->outputs = NULL;
		ev->noutputs = 0;
	}
}

static int fake_evaluate(const struct nix_job *job, struct nix_eval *ev, char *err, size_t errlen)
{
	size_t i, n = job->nsystems ? job->nsystems : 1;

	counted(&nix.evaluations);
	nix.build_likely = job->build_likely;
	nix.systems_asked = (int)n;
	memset(ev, 0, n * sizeof *ev);
	if (nix.slow_eval_ms) {
		deadline_sleep(job->deadline, nix.slow_eval_ms);
		if (deadline_check(job->deadline) < 0) {
			snprintf(err, errlen, "nix-instantiate stopped at the deadline");
			return deadline_check(job->deadline);
		}
	}
	for (i = 0; i < n; i++)
		evaluate_for(job, job->nsystems ? job->systems[i] : job->req->system, &ev[i]);
	return 0;
}

static int fake_explain(const struct nix_job *job, const char *name, char *reason, size_t len)
{
	(void)job;
	counted(&nix.explained);
	snprintf(reason, len, "%s has been removed", name);
	return 0;
}

/* Every output alone, without references (the stand-in's paths are not
 * under /nix/store, which the closure reader insists on). */
static int fake_realise(const struct nix_job *job, struct nix_eval *ev, const char *gcroots,
			struct closure *c, char *err, size_t errlen)
{
	size_t i;

	memset(c, 0, sizeof *c);
	counted(&nix.builds);
	mkdir(gcroots, 0755);
	if (nix.slow_build_ms)
		deadline_sleep(job->deadline, nix.slow_build_ms);
	/* As nix-build, stopped with its request: at the deadline, or when
	 * the worker stops. */
	if (deadline_check(job->deadline) < 0) {
		snprintf(err, errlen, "nix-build was stopped");
		return deadline_check(job->deadline);
	}
	if (nix.fail_build && (!nix.fail_system || strcmp(nix.fail_system, job->req->system) == 0)) {
		snprintf(err, errlen, "nix-build failed: error: builder failed on purpose");
		return -EIO;
	}
	if (!(c->paths = calloc(ev->noutputs + 1, sizeof *c->paths)))
		return -ENOMEM;
	for (i = 0; i < ev->noutputs; i++) {
		uint64_t size = package_size(ev->outputs[i]);

		c->paths[i] = (struct closure_path){ .path = strdup(ev->outputs[i]), .nar_size = size,
						     .closure_size = size, .top = 1 };
		if (!c->paths[i].path) {
			closure_free(c);
			return -ENOMEM;
		}
		c->n++;
	}
	return 0;
}

static const struct nix_runner fake_nix = {
	.evaluate = fake_evaluate, .explain = fake_explain,
	.realise = fake_realise,
};

struct setup {
	struct config cfg;
	struct storage *storage;
	struct builder b;
};

/* Each test has a cache and a storage of its own. */
static char storage_dir[128];

static void setup(struct setup *s, int ttl)
{
	static int runs;
	char state[128], err[512];

	runs++;
	snprintf(state, sizeof state, "%s/state-%d", tmp, runs);
	snprintf(storage_dir, sizeof storage_dir, "%s/storage-%d", tmp, runs);
	memset(s, 0, sizeof *s);
	s->cfg.source = SOURCE_PATH;
	s->cfg.source_arg = "/demo";
	s->cfg.state_dir = strdup(state);
	s->cfg.storage_path = strdup(storage_dir);
	s->cfg.nix_timeout = 60;
	s->cfg.eval_ttl = ttl;
	s->cfg.max_layers = 94;
	s->cfg.max_builds = 2;
	s->cfg.platforms[0] = platform_host();   /* as config_load serves by default */
	s->cfg.nplatforms = 1;
	if (builder_prepare(&s->cfg, err, sizeof err) < 0 ||
	    storage_open(&(struct config){ .storage_path = (char *)storage_dir }, &s->storage, err, sizeof err) < 0) {
		printf("FAIL: %s: setting up the test (%s)\n", check_binary(), err);
		exit(1);
	}
	if (builder_open(&s->b, &s->cfg, s->storage, NULL, NULL, NULL, err, sizeof err) < 0)
		die(err);
	s->b.nix = &fake_nix;
}

static void teardown(struct setup *s)
{
	builder_close(&s->b);
	storage_close(s->storage);
	free(s->cfg.state_dir);
	free(s->cfg.storage_path);
}

static __attribute__((unused)) int ask(struct builder *b, const char *name, int timeout_ms, struct builder_result *res)
{
	struct deadline dl = deadline_in(timeout_ms, NULL);

	return builder_image(b, NULL, name, "latest", NULL, 1, &dl, res);
}

static void reset_counts(void)
{
	nix.evaluations = nix.builds = nix.explained = 0;
}

/* The temporary directory and the stand-in's packages. */
static void standin_start(void)
{
	const char *packages[] = { "cacert", "iana-etc", "hello", "figlet", "cowsay", "diamond", "nano" };
	const size_t big = 3u << 20;
	char path[256];
	size_t i;

	snprintf(tmp, sizeof tmp, "/tmp/nixery-builder-XXXXXX");
	if (!mkdtemp(tmp))
		die("mkdtemp");
	snprintf(store, sizeof store, "%s/store", tmp);
	if (mkdir(store, 0755) < 0)
		die(store);
	for (i = 0; i < sizeof packages / sizeof *packages; i++)
		make_package(packages[i], 0);
	make_package("bulk", big);
	/* The foreign system's store: the same packages, at other paths,
	 * and with other bytes. */
	store_path(FOREIGN_SYSTEM, path, sizeof path);
	if (mkdir(path, 0755) < 0)
		die(path);
	for (i = 0; i < sizeof packages / sizeof *packages; i++) {
		snprintf(path, sizeof path, FOREIGN_SYSTEM "/%s", packages[i]);
		make_package(path, 7);
	}
}

static void standin_end(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmp);
}

#endif
