#define _GNU_SOURCE   /* asprintf */
#include "builder/search.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "builder/lock.h"
#include "core/image.h"
#include "core/source.h"
#include "core/strv.h"

int search_query_valid(const char *query)
{
	size_t len = strlen(query);

	return len > 0 && len <= IMAGE_NAME_MAX &&
	       strspn(query, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+") == len;
}

/* The listing of prefix's set, from the cache while the source's
 * evaluation is trusted, else from Nix (under a build slot), or the one
 * before when Nix may not be asked or fails. */
static int listing(struct builder *b, const struct asker *who, const char *prefix, const struct deadline *dl,
		   char **json, char *err, size_t errlen)
{
	const struct config *cfg = b->cfg;
	struct image_request req = { 0 };
	struct source src;
	struct nix_job job = { .cfg = cfg, .src = &src, .req = &req, .deadline = dl };
	char key[4096], *stale = NULL;
	int64_t listed, now = time(NULL);
	long waited;
	struct admission_pass pass;
	int rc, slot;

	/* Names are listed as the first platform's package set has them. */
	image_set_platform(&req, cfg->platforms[0]);
	if (source_resolve(cfg, "latest", &src) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(key, sizeof key, "%s %s %s", src.type, src.args, req.system);
	rc = cache_names_get(b->cache, key, prefix, json, &listed);
	if (rc == 0 && (src.pinned || now - listed < cfg->eval_ttl))
		goto out;
	if (rc == 0) {
		stale = *json;
		*json = NULL;
	} else if (rc != -ENOENT) {
		snprintf(err, errlen, "the build cache cannot be read (%s): try again shortly", cache_error(b->cache));
		rc = -EBUSY;
		goto out;
	}
	if ((rc = admission_enter(b->admission, who, "the package set's names are not listed yet: listing them",
				  &pass, err, errlen)) < 0)
		goto out;
	if ((slot = lock_slot(cfg->state_dir, cfg->max_builds, dl, &waited)) < 0) {
		snprintf(err, errlen, "all %d build slots (NIXERY_MAX_BUILDS) stayed busy: try again shortly",
			 cfg->max_builds);
		rc = slot == -ECANCELED ? slot : -EBUSY;
		goto leave;
	}
	rc = b->nix->names(&job, prefix, json, err, errlen);
	lock_release(slot);
	if (rc == 0)
		cache_names_put(b->cache, key, prefix, *json, now);
leave:
	admission_leave(b->admission, &pass);
out:
	/* Refused or failed, the listing before is the answer, as a built
	 * image is past its TTL. */
	if (rc < 0 && stale) {
		*json = stale;
		stale = NULL;
		rc = 0;
	}
	free(stale);
	source_free(&src);
	return rc == -ETIMEDOUT || rc == -ECANCELED || rc == -EBUSY || rc == -ENOMEM || rc == -EPERM ||
	       rc == -EDQUOT || rc >= 0 ? rc : -EIO;
}

int search_names(struct builder *b, const struct asker *who, const char *query, int max,
		 const struct deadline *dl, char ***out, size_t *n, int *known, char *err, size_t errlen)
{
	const char *dot = strrchr(query, '.'), *leaf = dot ? dot + 1 : query;
	char prefix[IMAGE_NAME_MAX + 1], *json = NULL, **names;
	cJSON *list = NULL, *item;
	size_t count = 0, leaf_len = strlen(leaf);
	int rc;

	*out = NULL;
	*n = 0;
	*known = 0;
	/* Attribute paths match level by level ignoring case (image.nix):
	 * one listing serves every spelling of a prefix. */
	snprintf(prefix, sizeof prefix, "%.*s", dot ? (int)(dot - query) : 0, query);
	for (char *p = prefix; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((rc = listing(b, who, prefix, dl, &json, err, errlen)) < 0)
		return rc;
	list = cJSON_Parse(json);
	if (!(names = calloc((size_t)max + 1, sizeof *names))) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(item, list) {
		const char *name = item->valuestring;

		if (!cJSON_IsString(item) || strncasecmp(name, leaf, leaf_len) != 0)
			continue;
		if (!name[leaf_len])
			*known = 1;
		if (count < (size_t)max &&
		    asprintf(&names[count], "%s%s%s", prefix, *prefix ? "." : "", name) >= 0)
			count++;
	}
	strv_sort_unique(names, &count);
	*out = names;
	*n = count;
out:
	cJSON_Delete(list);
	free(json);
	return rc;
}
