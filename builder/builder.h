/* One image request to an image in the cache, Nixery's builder: the name
 * and tag give a request key; a request evaluated before (pinned, or
 * within NIXERY_EVAL_TTL) names its image at once, else Nix evaluates the
 * packages to output paths, whose hash is the image key; an image not yet
 * built is built, laid out, packed and recorded under the image's lock,
 * once for all the workers of the host. Returns records, never replies.
 *
 * Every Nix job of the host (an evaluation, or a build with its packing)
 * holds one of NIXERY_MAX_BUILDS slots; everything a request does is bound
 * by its deadline. A cached image whose blobs were lost is built again. */
#ifndef NIXERY_BUILDER_H
#define NIXERY_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/deadline.h"
#include "core/manifest.h"
#include "builder/admission.h"
#include "builder/metrics.h"
#include "core/popularity.h"
#include "nix/nixbuild.h"
#include "sql/cache.h"
#include "storage/storage.h"

/* One per thread: the cache handle is the thread's own. */
struct builder {
	const struct config *cfg;
	const struct storage *storage;
	struct cache *cache;
	struct popularity_source *popularity;   /* shared by the process */
	const struct nix_runner *nix;
	struct metrics *metrics;                /* shared by the host; may be NULL */
	struct admission *admission;            /* shared by the process; NULL admits all */
};

struct builder_result {
	struct buf manifest;                     /* the manifest asked for */
	char digest[DIGEST_HEX_LEN + 1];         /* its sha256 */
	const char *media_type;
	char message[1024];                      /* why not, on failure */
	char **packages;                         /* the names at fault (-ENOENT) */
	size_t npackages;
	int built;                               /* this request ran the build */
	uint64_t packed;                         /* and packed this many bytes */
};

/* The state folders, the cache, and the removal of what stopped builds
 * left behind; once per process, before any request. */
int builder_prepare(const struct config *cfg, char *err, size_t errlen);

/* A thread's builder: the process's settings and storage, its parts that
 * every thread shares (popularity, metrics and admission; each may be
 * NULL), Nix as it runs, and a cache handle of the thread's own. */
int builder_open(struct builder *b, const struct config *cfg, const struct storage *storage,
		 struct popularity_source *popularity, struct metrics *metrics, struct admission *admission,
		 char *err, size_t errlen);
/* A builder over the cache as it is, for tools that only look: nothing is
 * created or upgraded (cache_open_existing), and it builds nothing. */
int builder_open_existing(struct builder *b, const struct config *cfg, const struct storage *storage,
			  char *err, size_t errlen);
/* Closes the cache handle (a builder never opened, zeroed, is fine). */
void builder_close(struct builder *b);

/* The manifest of image name at tag ref, as the client's accept takes it
 * (NULL: a Docker manifest), as who asked for it (admission.h; NULL: the
 * operator, on this host): with several platforms served, an image index
 * of one image per platform, or, for a client that takes no index, the
 * first platform's manifest. name and ref must be valid (router_parse).
 * tag_file: keep the answer in a tag file for the web server (publish.h),
 * which reads them. Returns 0, or with the reason in message:
 *   -EINVAL     the name is not a valid image name
 *   -EPERM      a package the name has is not allowed (listed:
 *               NIXERY_ALLOW_PACKAGES, NIXERY_DENY_PACKAGES), or the image
 *               needs Nix and who may not build (NIXERY_BUILD_USERS)
 *   -EDQUOT     the image needs Nix and who has as many such requests as
 *               one client may (NIXERY_MAX_BUILDS_PER_CLIENT)
 *   -ENOENT     unknown tag, or packages unknown or refused by Nix (listed),
 *               a platform not served, or one Nix here cannot build for
 *   -ETIMEDOUT  the deadline passed
 *   -EBUSY      every build slot stayed busy, or the cache did, or the
 *               image needs Nix and the host has as many such requests
 *               as it admits (admission.h): try later
 *   -ECANCELED  the worker is stopping
 *   -ENOSPC     storage is full
 *   -EIO        anything else: Nix or the machine failed */
int builder_image(struct builder *b, const struct asker *who, const char *name, const char *ref,
		  const struct manifest_accept *accept, int tag_file, const struct deadline *dl,
		  struct builder_result *out);
void builder_result_free(struct builder_result *r);

/* Releases the GC roots of builds that are not running (their image's lock
 * is free): a killed worker's. Returns how many folders went. */
int builder_release_roots(const char *state_dir);

#endif
