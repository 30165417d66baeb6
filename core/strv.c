#include "core/strv.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort_unique(char **v, size_t *n)
{
	size_t i, out = 0;

	if (*n == 0)
		return;
	qsort(v, *n, sizeof *v, cmp_str);
	for (i = 0; i < *n; i++) {
		if (out > 0 && strcmp(v[out - 1], v[i]) == 0)
			free(v[i]);
		else
			v[out++] = v[i];
	}
	*n = out;
}

void strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}
