/* One image request on its way through the builder, and what its steps
 * share (builder.c resolves it, build.c builds its image, request.c holds
 * the rest); only builder/ sees this. */
#ifndef NIXERY_REQUEST_H
#define NIXERY_REQUEST_H

#include <stdint.h>

#include "builder/builder.h"

/* Seconds between two records of an image's last use. */
#define REQUEST_USED_PRECISION 3600

struct request {
	struct builder *b;
	const struct asker *who;      /* NULL: the operator */
	const struct deadline *dl;
	const char *name, *ref;
	struct manifest_accept accept;   /* what the client takes */
	struct image_request req;        /* for the first platform of plat */
	const struct platform *plat[PLATFORM_MAX];   /* the platforms asked for, in order */
	size_t nplat;
	struct source src;
	struct nix_eval evs[PLATFORM_MAX];   /* each platform's evaluation (plat's order) */
	struct nix_job job;
	char req_key[DIGEST_HEX_LEN + 1];
	char key[DIGEST_HEX_LEN + 1];
	int64_t build_id;             /* the builds row, while building */
	int64_t evaluated;            /* when the answer's evaluation was made */
	struct cache_image img;       /* the answer */
	int verify_blobs;             /* a cached image's blobs are tested */
	int admitted;                 /* to cold work (admission.h), */
	struct admission_pass pass;   /* with what it holds */
	char claim[STORAGE_VERSION_MAX];  /* the bucket's claim this host made to build it: its version */
	int part;                     /* one platform's image of an index request: the
				       * tag is the index's, not recorded here */
	struct builder_result *out;
};

/* Who asked, for the audit: the user, else the address (admission.h),
 * or nixery-admin. */
const char *request_asker(const struct request *r);
/* The request's answer in words (its message); returns rc. */
int request_say(struct request *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A request stopped by its deadline (-ETIMEDOUT), or by the worker's stop
 * (rc -ECANCELED); what says which step stopped. */
int request_stopped(struct request *r, int rc, const char *what);
/* A cache error that is not a miss, as the request's answer: busy, or
 * storage full; never a reason to build. */
int request_answer_cache_error(struct request *r, int rc);
/* Reads the answer of image img (both formats' manifests, or indexes)
 * into r->out: the manifest or index the client takes (for an index it
 * does not take, the first platform's manifest). check: each blob of the
 * image is tested first (health.h). -ENOENT when something of it was
 * lost, and is forgotten now; a storage error when a manifest cannot be
 * read; -EINVAL for what is no manifest. */
int request_load_answer(struct request *r, const struct cache_image *img, int check);
/* Answers with the image recorded as img under r->key, if it is there
 * whole; -ENOENT when something of it was lost, and it is built again. */
int request_use_image(struct request *r, const struct cache_image *img);
/* The image under r->key, if it is cached whole; -ENOENT if not. */
int request_cached_image(struct request *r);
/* Records what the request evaluated to (request_too) and its tag. */
int request_remember(struct request *r, int request_too);
/* A build slot: one of the host's NIXERY_MAX_BUILDS Nix jobs; *waited_ms
 * (if not NULL) says how long it took. The slot's descriptor, or the
 * request's answer. */
int request_take_slot(struct request *r, const char *what, long *waited_ms);

/* Evaluated, not cached: builds under the image's lock (build.c). */
int build_locked(struct request *r);
/* How a failed build's error reaches the client (build.c). */
int build_failed(struct request *r, int rc, const char *err);

#endif
