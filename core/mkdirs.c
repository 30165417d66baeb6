#include "core/mkdirs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int mkdirs(const char *path, mode_t mode, char *err, size_t errlen)
{
	char partial[4096];
	size_t i, len = strlen(path);

	if (len >= sizeof partial) {
		snprintf(err, errlen, "cannot create %.200s: the path is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(partial, path, len + 1);
	/* Each prefix that ends a component, then the whole path. */
	for (i = 1; i <= len; i++) {
		if (partial[i] != '/' && partial[i] != '\0')
			continue;
		partial[i] = '\0';
		if (mkdir(partial, mode) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", partial, strerror(errno));
			return -errno;
		}
		partial[i] = path[i];
	}
	return 0;
}
