/* Creating a folder and the ones above it, as mkdir -p: a first start
 * makes STORAGE_PATH and NIXERY_STATE_DIR itself. */
#ifndef NIXERY_MKDIRS_H
#define NIXERY_MKDIRS_H

#include <stddef.h>
#include <sys/types.h>

/* 0, or a negative errno code with a sentence in err. */
int mkdirs(const char *path, mode_t mode, char *err, size_t errlen);

#endif
