#include "builder/health.h"

#include <errno.h>

#include "core/log.h"

int health_check(struct cache *c, const struct storage *s, const char *hex, uint64_t size)
{
	int rc = storage_check(s, hex, size);

	if (rc == -ENOENT || rc == -EIO)
		return health_lost(c, s, hex, rc);
	return rc;
}

int health_lost(struct cache *c, const struct storage *s, const char *hex, int why)
{
	int rc;

	log_warn("blob %s is %s in storage: forgetting it, so that the next pull of its image packs it again",
		 hex, why == -ENOENT ? "missing" : "damaged");
	/* A removal that races a new copy costs one more packing, never
	 * wrong bytes. */
	if (why != -ENOENT)
		storage_remove(s, hex);
	rc = cache_blob_forget(c, hex);
	return rc < 0 ? rc : -ENOENT;
}
