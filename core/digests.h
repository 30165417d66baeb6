/* A growing list of blob digests, each with a size: the garbage
 * collector's sets of blobs, verify's list of blobs to hash. */
#ifndef NIXERY_DIGESTS_H
#define NIXERY_DIGESTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"

struct digests {
	char (*hex)[DIGEST_HEX_LEN + 1];
	uint64_t *size;
	size_t n, cap;
};

/* 0, or -ENOMEM. */
int digests_add(struct digests *d, const char *hex, uint64_t size);
/* Sorts the digests and drops repeats, for digests_has; the sizes no
 * longer match them (sum them before). */
void digests_sort(struct digests *d);
int digests_has(const struct digests *d, const char *hex);
void digests_free(struct digests *d);

#endif
