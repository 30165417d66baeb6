#include "nix/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strv.h"

enum { NOT_BUILT, BUILDING, BUILT };

/* How often a part waiting for the build looks whether it ended. */
#define POLL_MS 20

void nix_batch_begin(struct nix_batch *b, const char *gcroots)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->lock, NULL);
	snprintf(b->gcroots, sizeof b->gcroots, "%s", gcroots);
}

int nix_batch_add(struct nix_batch *b, const char *system, char *const *outputs, size_t n)
{
	size_t i;

	if (b->n == PLATFORM_MAX || !(b->part[b->n].outputs = calloc(n + 1, sizeof *outputs)))
		return -ENOMEM;
	b->part[b->n].system = system;
	for (i = 0; i < n; i++) {
		if (!(b->part[b->n].outputs[i] = strdup(outputs[i]))) {
			strv_free(b->part[b->n].outputs, i);
			return -ENOMEM;
		}
	}
	b->part[b->n++].noutputs = n;
	return 0;
}

/* Every platform whose outputs are not all in the store, in one build. */
static int build_missing(struct nix_batch *b, const struct nix_job *job, char *err, size_t errlen)
{
	const char *systems[PLATFORM_MAX];
	size_t i, n = 0;
	int jobs;

	for (i = 0; i < b->n; i++)
		if (!nix_outputs_present(b->part[i].outputs, b->part[i].noutputs))
			systems[n++] = b->part[i].system;
	/* The other parts may still wait for their slots: no more jobs than
	 * the host allows at all. */
	jobs = (int)n < job->cfg->max_builds ? (int)n : job->cfg->max_builds;
	return n ? nix_build_systems(job, systems, n, b->gcroots, jobs, err, errlen) : 0;
}

int nix_batch_build(struct nix_batch *b, const struct nix_job *job, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&b->lock);
	while (b->state == BUILDING) {
		pthread_mutex_unlock(&b->lock);
		if ((rc = deadline_check(job->deadline)) < 0) {
			snprintf(err, errlen, "the build of the index's platforms was not over at the deadline");
			return rc;
		}
		deadline_sleep(job->deadline, POLL_MS);
		pthread_mutex_lock(&b->lock);
	}
	if (b->state == BUILT) {
		rc = b->rc;
		pthread_mutex_unlock(&b->lock);
		return rc;
	}
	b->state = BUILDING;
	pthread_mutex_unlock(&b->lock);
	rc = build_missing(b, job, err, errlen);
	pthread_mutex_lock(&b->lock);
	b->state = BUILT;
	b->rc = rc;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void nix_batch_end(struct nix_batch *b)
{
	size_t i;

	nix_release(b->gcroots);
	for (i = 0; i < b->n; i++)
		strv_free(b->part[i].outputs, b->part[i].noutputs);
	pthread_mutex_destroy(&b->lock);
}
