#include "core/dirlist.h"

#include <stdlib.h>
#include <string.h>

static int cmp_dirent(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

int dirlist_sorted(const char *path, struct dirent ***list)
{
	return scandir(path, list, skip_dots, cmp_dirent);
}

void dirlist_free(struct dirent **list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}
