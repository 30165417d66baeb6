/* The platforms of one image index built by one nix-build: the first of
 * its parts to need a build builds every platform whose outputs are not
 * in the store yet, up to one derivation per platform at once; the others
 * wait for it and take their outputs from the store. One Nix process, so
 * that the platforms' builds never wait for each other's locks (Nix looks
 * at a lock another process holds every few seconds), which two
 * nix-builds side by side would on any derivation they share. Each part
 * takes its own build slot meanwhile; the nix-build runs one job per
 * platform, NIXERY_MAX_BUILDS at most. */
#ifndef NIXERY_BATCH_H
#define NIXERY_BATCH_H

#include <pthread.h>
#include <stddef.h>

#include "core/platform.h"
#include "nix/nixbuild.h"

struct nix_batch {
	pthread_mutex_t lock;
	int state;                     /* not built, building, built */
	int rc;                        /* how the build ended */
	char gcroots[4096];            /* its GC roots, until nix_batch_end */
	size_t n;
	struct {
		const char *system;
		char **outputs;
		size_t noutputs;
	} part[PLATFORM_MAX];
};

/* A batch whose build keeps its GC roots in the folder gcroots. */
void nix_batch_begin(struct nix_batch *b, const char *gcroots);
/* A platform of the batch, with the outputs it evaluated to (copied). */
int nix_batch_add(struct nix_batch *b, const char *system, char *const *outputs, size_t n);
/* Builds the batch once (job is the caller's, of one of its platforms),
 * or waits for the build under way: 0 when it ended well (each platform's
 * outputs are in the store, rooted until nix_batch_end), else its error,
 * or the deadline's. */
int nix_batch_build(struct nix_batch *b, const struct nix_job *job, char *err, size_t errlen);
/* Releases the roots, once every part holds its outputs or is done. */
void nix_batch_end(struct nix_batch *b);

#endif
