#include "core/digests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int digests_add(struct digests *d, const char *hex, uint64_t size)
{
	if (d->n == d->cap) {
		size_t cap = d->cap * 2 + 256;
		char (*hexes)[DIGEST_HEX_LEN + 1] = realloc(d->hex, cap * sizeof *d->hex);
		uint64_t *sizes = hexes ? realloc(d->size, cap * sizeof *d->size) : NULL;

		if (hexes)
			d->hex = hexes;
		if (!sizes)
			return -ENOMEM;
		d->size = sizes;
		d->cap = cap;
	}
	memcpy(d->hex[d->n], hex, DIGEST_HEX_LEN + 1);
	d->size[d->n++] = size;
	return 0;
}

static int cmp_hex(const void *a, const void *b)
{
	return memcmp(a, b, DIGEST_HEX_LEN);
}

void digests_sort(struct digests *d)
{
	size_t i, n = 0;

	qsort(d->hex, d->n, sizeof *d->hex, cmp_hex);
	for (i = 0; i < d->n; i++)
		if (n == 0 || cmp_hex(d->hex[i], d->hex[n - 1]) != 0)
			memmove(d->hex[n++], d->hex[i], sizeof *d->hex);
	d->n = n;
}

int digests_has(const struct digests *d, const char *hex)
{
	return d->n && bsearch(hex, d->hex, d->n, sizeof *d->hex, cmp_hex) != NULL;
}

void digests_free(struct digests *d)
{
	free(d->hex);
	free(d->size);
	memset(d, 0, sizeof *d);
}
