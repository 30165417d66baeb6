/* The Nix commands of an image request on image.nix: its evaluation to
 * output paths (nix-instantiate), a refused name's reason, the package
 * set's names, and the outputs realised (held by a store session, or built
 * by nix-build under GC roots) with their closure. */
#include "nix/nixbuild.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "core/mkdirs.h"
#include "core/strv.h"
#include "nix/batch.h"
#include "nix/nixerror.h"
#include "nix/spawn.h"

#define MAX_EVAL_OUTPUT (16u << 20)

/* A command on image.nix: argv = head, the expression, -A attr, the
 * request as --argstr data (packages: a JSON list, or NULL for the
 * request's; systems: a JSON list, or NULL), tail. */
struct image_command {
	char expr[4096];
	char *packages;
	char *systems;
	char *argv[32];
};

static void image_command_free(struct image_command *ic)
{
	free(ic->packages);
	cJSON_free(ic->systems);
}

/* The job's systems as image.nix takes them: a JSON list. */
static char *systems_json(const struct nix_job *job)
{
	const char *own[] = { job->req->system };
	cJSON *arr = job->nsystems ? cJSON_CreateStringArray(job->systems, (int)job->nsystems) :
		cJSON_CreateStringArray(own, 1);
	char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;

	cJSON_Delete(arr);
	return s;
}

static int image_command(const struct nix_job *job, struct image_command *ic,
			 const char *const *head, const char *attr, const char *packages,
			 const char *const *tail)
{
	size_t n = 0;

	snprintf(ic->expr, sizeof ic->expr, "%s/image.nix", job->cfg->nix_dir);
	ic->packages = packages ? strdup(packages) : image_packages_json(job->req);
	ic->systems = job->nsystems || strcmp(attr, "resolve") == 0 ? systems_json(job) : NULL;
	if (!ic->packages || ((job->nsystems || strcmp(attr, "resolve") == 0) && !ic->systems)) {
		image_command_free(ic);
		return -ENOMEM;
	}
	for (; *head; head++)
		ic->argv[n++] = (char *)*head;
	ic->argv[n++] = ic->expr;
	ic->argv[n++] = "-A";
	ic->argv[n++] = (char *)attr;
	ic->argv[n++] = "--argstr";
	ic->argv[n++] = "packages";
	ic->argv[n++] = ic->packages;
	ic->argv[n++] = "--argstr";
	ic->argv[n++] = "srcType";
	ic->argv[n++] = (char *)job->src->type;
	ic->argv[n++] = "--argstr";
	ic->argv[n++] = "srcArgs";
	ic->argv[n++] = job->src->args;
	ic->argv[n++] = "--argstr";
	ic->argv[n++] = "system";
	ic->argv[n++] = (char *)job->req->system;
	if (ic->systems) {
		ic->argv[n++] = "--argstr";
		ic->argv[n++] = "systems";
		ic->argv[n++] = ic->systems;
	}
	for (; *tail; tail++)
		ic->argv[n++] = (char *)*tail;
	ic->argv[n] = NULL;
	return 0;
}

static int run_nix(const struct nix_job *job, char *const argv[], size_t max_out,
		   struct spawn_result *res, char *err, size_t errlen)
{
	char line[700];
	int rc = spawn_run(argv, job->deadline, max_out, job->progress, res, err, errlen);

	if (rc == -ETIMEDOUT) {
		snprintf(err, errlen, "%s stopped at the deadline", argv[0]);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (res->status != 0) {
		nix_error_text(res->err_tail, line, sizeof line);
		log_warn("%s failed (status %d): %s", argv[0], res->status, res->err_tail);
		if (strstr(res->err_tail, "couldn't find remote ref") ||
		    strstr(res->err_tail, "unknown revision or path") ||
		    strstr(res->err_tail, "Cannot find Git revision")) {
			snprintf(err, errlen, "the package repository has no branch or commit by that name");
			return -ENOENT;
		}
		/* The host's configuration, not a fault of the registry's. */
		if (strstr(res->err_tail, "is required to build") && strstr(res->err_tail, "but I am a")) {
			snprintf(err, errlen, "this host cannot build for %s: give Nix a remote builder for %s, "
				 "or emulation (binfmt, qemu-user-static) with extra-platforms = %s, in nix.conf (%s)",
				 job->req->system, job->req->system, job->req->system, line);
			return -ENOEXEC;
		}
		snprintf(err, errlen, "%s failed: %s", argv[0], line);
		return -EIO;
	}
	return 0;
}

static int string_array(const cJSON *arr, char ***out, size_t *n)
{
	const cJSON *item;
	size_t i = 0;

	*n = 0;
	*out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof **out);
	if (!*out)
		return -ENOMEM;
	cJSON_ArrayForEach(item, arr) {
		if (!cJSON_IsString(item) || !((*out)[i] = strdup(item->valuestring)))
			return -EINVAL;
		*n = ++i;
	}
	return 0;
}

static const char *const eval_head[] = { "nix-instantiate", "--eval", "--strict", "--json", NULL };
static const char *const no_tail[] = { NULL };

/* One system's answer: its outputs, or the names at fault there. */
static int read_answer(const cJSON *answer, struct nix_eval *ev)
{
	const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(answer, "outputs");
	const cJSON *unknown = cJSON_GetObjectItemCaseSensitive(answer, "unknown");
	const cJSON *refused = cJSON_GetObjectItemCaseSensitive(answer, "refused");
	const cJSON *unsupported = cJSON_GetObjectItemCaseSensitive(answer, "unsupported");

	if (cJSON_IsArray(unknown) && cJSON_IsArray(refused) && cJSON_IsArray(unsupported))
		return string_array(unknown, &ev->unknown, &ev->nunknown) < 0 ||
		       string_array(refused, &ev->refused, &ev->nrefused) < 0 ||
		       string_array(unsupported, &ev->unsupported, &ev->nunsupported) < 0 ? -EINVAL : 0;
	if (!cJSON_IsArray(outputs) || string_array(outputs, &ev->outputs, &ev->noutputs) < 0)
		return -EINVAL;
	/* Different names can land on one package (shell and bashinteractive). */
	strv_sort_unique(ev->outputs, &ev->noutputs);
	return 0;
}

static int evaluate(const struct nix_job *job, struct nix_eval *ev, char *err, size_t errlen)
{
	const char *own[] = { job->req->system };
	const char *const *systems = job->nsystems ? job->systems : own;
	size_t i, n = job->nsystems ? job->nsystems : 1;
	struct spawn_result res = { 0 };
	struct image_command ic;
	cJSON *root = NULL;
	int rc;

	memset(ev, 0, n * sizeof *ev);
	/* Nix takes as long to start as to evaluate a small request: started
	 * now, the session is ready when realise needs it. If it cannot
	 * start, realise tries again and says why. */
	if (job->build_likely && nix_store_open(&ev[0].store, err, errlen) < 0)
		ev[0].store = NULL;
	if ((rc = image_command(job, &ic, eval_head, "resolve", NULL, no_tail)) < 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	rc = run_nix(job, ic.argv, MAX_EVAL_OUTPUT, &res, err, errlen);
	image_command_free(&ic);
	if (rc < 0)
		goto out;
	root = cJSON_Parse(res.out.data ? res.out.data : "");
	for (i = 0; i < n; i++)
		if (read_answer(cJSON_GetObjectItemCaseSensitive(root, systems[i]), &ev[i]) < 0) {
			snprintf(err, errlen, "unexpected answer from %s: %.200s", ic.expr,
				 res.out.data ? res.out.data : "");
			rc = -EIO;
			break;
		}
	if (rc < 0)
		for (i = 0; i < n; i++)
			nix_eval_free(&ev[i]);
out:
	cJSON_Delete(root);
	spawn_result_free(&res);
	return rc;
}

int nix_eval_complete(const struct nix_eval *ev)
{
	return !ev->nunknown && !ev->nrefused && !ev->nunsupported;
}

void nix_eval_free(struct nix_eval *ev)
{
	strv_free(ev->outputs, ev->noutputs);
	strv_free(ev->unknown, ev->nunknown);
	strv_free(ev->refused, ev->nrefused);
	strv_free(ev->unsupported, ev->nunsupported);
	nix_store_close(ev->store);
	memset(ev, 0, sizeof *ev);
}

static int explain(const struct nix_job *job, const char *name, char *reason, size_t len)
{
	struct spawn_result res = { 0 };
	struct image_command ic;
	cJSON *list = cJSON_CreateArray();
	char *packages = NULL;
	int rc = -ENOMEM;

	snprintf(reason, len, "evaluation failed");
	if (!list || !cJSON_AddItemToArray(list, cJSON_CreateString(name)) ||
	    !(packages = cJSON_PrintUnformatted(list)) ||
	    (rc = image_command(job, &ic, eval_head, "explain", packages, no_tail)) < 0)
		goto out;
	rc = spawn_run(ic.argv, job->deadline, MAX_EVAL_OUTPUT, NULL, &res, reason, len);
	image_command_free(&ic);
	if (rc == 0 && res.status != 0)
		nix_error_reason(res.err_tail, reason, len);
out:
	cJSON_Delete(list);
	cJSON_free(packages);
	spawn_result_free(&res);
	return rc;
}

static int names(const struct nix_job *job, const char *prefix, char **json, char *err, size_t errlen)
{
	struct spawn_result res = { 0 };
	struct image_command ic;
	cJSON *list = cJSON_CreateArray(), *parsed = NULL, *item;
	char *packages = NULL;
	int rc = -ENOMEM;

	*json = NULL;
	if (!list || (*prefix && !cJSON_AddItemToArray(list, cJSON_CreateString(prefix))) ||
	    !(packages = cJSON_PrintUnformatted(list)) ||
	    (rc = image_command(job, &ic, eval_head, "names", packages, no_tail)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = run_nix(job, ic.argv, MAX_EVAL_OUTPUT, &res, err, errlen);
	image_command_free(&ic);
	if (rc < 0)
		goto out;
	parsed = cJSON_Parse(res.out.data ? res.out.data : "");
	rc = -EIO;
	if (!cJSON_IsArray(parsed)) {
		snprintf(err, errlen, "unexpected answer from image.nix: %.200s", res.out.data ? res.out.data : "");
		goto out;
	}
	cJSON_ArrayForEach(item, parsed)
		if (!cJSON_IsString(item))
			goto out;
	*json = res.out.data;
	res.out.data = NULL;
	rc = 0;
out:
	cJSON_Delete(list);
	cJSON_Delete(parsed);
	cJSON_free(packages);
	spawn_result_free(&res);
	return rc;
}

/* Whether every output is in the store already: then realising them is
 * only holding them, no evaluation or build. */
int nix_outputs_present(char *const *outputs, size_t n)
{
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++)
		if (lstat(outputs[i], &st) < 0)
			return 0;
	return 1;
}

/* Builds the outputs with nix-build, under GC roots in gcroots: the
 * request's system's, or with job->nsystems each of those systems' in one
 * nix-build, max_jobs at once, as far as they go (--keep-going). */
static int build_in(const struct nix_job *job, const char *gcroots, int max_jobs, char *err, size_t errlen)
{
	static const char *const head[] = { "nix-build", NULL };
	char link[4096], jobs[16];
	const char *const out_link[] = { "--out-link", link, NULL };
	const char *const several[] = { "--out-link", link, "--max-jobs", jobs, "--keep-going", NULL };
	struct spawn_result res = { 0 };
	struct image_command ic;
	int rc;

	/* Nix names the roots of a list LINK, LINK-2, ...: a folder of their
	 * own is simpler than guessing the names back. Its parent too, if it
	 * was removed under a running registry. */
	if ((rc = mkdirs(gcroots, 0777, err, errlen)) < 0)
		return rc;
	snprintf(link, sizeof link, "%s/result", gcroots);
	snprintf(jobs, sizeof jobs, "%d", max_jobs > 0 ? max_jobs : 1);
	if (image_command(job, &ic, head, job->nsystems ? "contentsAll" : "contents", NULL,
			  job->nsystems ? several : out_link) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = run_nix(job, ic.argv, MAX_EVAL_OUTPUT, &res, err, errlen);
	image_command_free(&ic);
	spawn_result_free(&res);
	return rc;
}

int nix_build_systems(const struct nix_job *job, const char *const *systems, size_t n, const char *gcroots,
		      int max_jobs, char *err, size_t errlen)
{
	struct nix_job several = *job;

	several.systems = systems;
	several.nsystems = n;
	return build_in(&several, gcroots, max_jobs, err, errlen);
}

static int realise(const struct nix_job *job, struct nix_eval *ev, const char *gcroots,
		   struct closure *c, char *err, size_t errlen)
{
	int rc;

	if (!ev->store && (rc = nix_store_open(&ev->store, err, errlen)) < 0)
		return rc;
	/* A path that is there but not valid (a build in progress, a
	 * collection under way) is not held: nix-build then makes it. */
	rc = 0;
	if (nix_outputs_present(ev->outputs, ev->noutputs) &&
	    (rc = nix_store_hold(ev->store, ev->outputs, ev->noutputs, job->deadline, err, errlen)) == 0)
		log_warn("outputs in the store are not all valid: building them");
	/* The platforms of an index are built by one nix-build: then these
	 * outputs are there, and held here. Where it failed, this platform's
	 * own build says why. */
	if (rc == 0 && job->batch && nix_batch_build(job->batch, job, err, errlen) == 0 &&
	    nix_outputs_present(ev->outputs, ev->noutputs))
		rc = nix_store_hold(ev->store, ev->outputs, ev->noutputs, job->deadline, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 0 && (rc = build_in(job, gcroots, 1, err, errlen)) < 0)
		return rc;
	return nix_store_closure(ev->store, ev->outputs, ev->noutputs, job->deadline, c, err, errlen);
}

void nix_release(const char *gcroots)
{
	char path[4096];
	struct dirent *e;
	DIR *d = opendir(gcroots);

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof path, "%s/%s", gcroots, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(gcroots);
}

const struct nix_runner nix_real = {
	.evaluate = evaluate,
	.explain = explain,
	.realise = realise,
	.names = names,
};
