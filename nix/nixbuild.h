/* Everything that runs Nix: evaluating an image request to output paths,
 * building them under a GC root, and reading their runtime closure. All
 * three share one deadline, NIX_TIMEOUT from the start of the request's
 * Nix work. Package names reach Nix as --argstr data only. */
#ifndef NIXERY_NIXBUILD_H
#define NIXERY_NIXBUILD_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "core/closure.h"
#include "core/config.h"
#include "core/image.h"
#include "core/source.h"

struct nix_job {
	const struct config *cfg;
	const struct source *src;
	const struct image_request *req;
	struct timespec deadline;
};

struct nix_eval {
	char **outputs;      /* the requested packages' output paths, sorted, unique */
	size_t noutputs;
	char **unknown;      /* names no attribute matched */
	size_t nunknown;
};

/* 0 with outputs, or with unknown names when some are missing (the caller
 * answers 404 naming them); -ENOENT when a git source has no such ref;
 * -ETIMEDOUT at the deadline; -EIO when Nix fails, with its error in err. */
int nix_evaluate(const struct nix_job *job, struct nix_eval *ev, char *err, size_t errlen);
void nix_eval_free(struct nix_eval *ev);

/* Builds the request's packages; the folder gcroots (created here) holds
 * the roots that keep them alive until nix_release. */
int nix_realise(const struct nix_job *job, const char *gcroots, char *err, size_t errlen);
void nix_release(const char *gcroots);

int nix_closure(const struct nix_job *job, const struct nix_eval *ev, struct closure *c,
		char *err, size_t errlen);

/* Whether the Nix tools are on PATH and, for a user that needs it, the
 * daemon answers; appends one line per problem and returns their number. */
int nix_check(struct buf *out);

#endif
