/* Everything that runs Nix: evaluating an image request to output paths,
 * building them under a GC root, and reading their runtime closure. All
 * share the request's deadline. Package names reach Nix as --argstr data
 * only. */
#ifndef NIXERY_NIXBUILD_H
#define NIXERY_NIXBUILD_H

#include <stddef.h>

#include "core/buf.h"
#include "core/closure.h"
#include "core/config.h"
#include "core/deadline.h"
#include "core/image.h"
#include "core/source.h"
#include "nix/spawn.h"
#include "nix/store.h"

struct nix_batch;

struct nix_job {
	const struct config *cfg;
	const struct source *src;
	const struct image_request *req;   /* its system is what is built */
	/* The systems one evaluation resolves the request for, in order (the
	 * request's own when nsystems is 0). */
	const char *const *systems;
	size_t nsystems;
	const struct deadline *deadline;
	const struct spawn_progress *progress;   /* what a build prints; may be NULL */
	int build_likely;    /* a build is likely to follow: the store session
			      * realise uses starts beside the evaluation */
	struct nix_batch *batch;   /* realise builds with the other platforms of
				    * its index (nix/batch.h); may be NULL */
};

struct nix_eval {
	char **outputs;      /* the requested packages' output paths, sorted, unique */
	size_t noutputs;
	char **unknown;      /* names no attribute matched */
	size_t nunknown;
	char **refused;      /* names whose evaluation throws or fails an assertion */
	size_t nrefused;
	char **unsupported;  /* names the package set does not offer for the system (meta.platforms) */
	size_t nunsupported;
	struct nix_store *store;   /* the session realise holds the outputs in */
};

/* What runs Nix for the builder: nix_real, or a stand-in in tests. */
struct nix_runner {
	/* One evaluation for every system of the job: ev[i] (nsystems of
	 * them, or one) with the i-th's outputs, or with the names at fault
	 * there (unknown, refused, unsupported); 0 then. -ENOENT when a git
	 * source has no such ref; -ETIMEDOUT at the deadline; -ECANCELED
	 * when the worker stops; -EIO when Nix fails, with its error in err. */
	int (*evaluate)(const struct nix_job *job, struct nix_eval *ev, char *err, size_t errlen);
	/* Why evaluating the package name fails: Nix's one-line reason. */
	int (*explain)(const struct nix_job *job, const char *name, char *reason, size_t len);
	/* Makes the evaluated outputs and reads their runtime closure, with
	 * sizes and references. Outputs already in the store are held by a
	 * store session until nix_eval_free; built ones by GC roots in the
	 * folder gcroots (created here) until nix_release. -ENOEXEC when Nix
	 * here cannot build for the request's system (err says how to let
	 * it). */
	int (*realise)(const struct nix_job *job, struct nix_eval *ev, const char *gcroots,
		       struct closure *c, char *err, size_t errlen);
	/* The attribute names of the package set (prefix "") or of the set
	 * prefix (a dotted name) leads to, as a JSON list the caller frees. */
	int (*names)(const struct nix_job *job, const char *prefix, char **json,
		     char *err, size_t errlen);
};

extern const struct nix_runner nix_real;

/* Whether every name the job asked for evaluated to outputs. */
int nix_eval_complete(const struct nix_eval *ev);
void nix_eval_free(struct nix_eval *ev);

/* Releases the GC roots realise made in the folder gcroots, and the
 * folder. */
void nix_release(const char *gcroots);

/* Whether every output is in the store already (valid or not). */
int nix_outputs_present(char *const *outputs, size_t n);
/* One nix-build of the request's packages for each of the n systems, up
 * to max_jobs derivations at once, as far as they go, under GC roots in
 * the folder gcroots (nix/batch.c). */
int nix_build_systems(const struct nix_job *job, const char *const *systems, size_t n, const char *gcroots,
		      int max_jobs, char *err, size_t errlen);

#endif
