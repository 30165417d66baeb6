/* What the filesystem backend's files share (filesystem.c, the backend;
 * filesystem_writer.c, its writes); only storage/ sees this. */
#ifndef NIXERY_FILESYSTEM_H
#define NIXERY_FILESYSTEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "storage/backend.h"

#define FILESYSTEM_PATH_LEN 4096

struct filesystem {
	struct storage base;
	char root[FILESYSTEM_PATH_LEN - 256];  /* room for what is appended */
	int named_temps;                       /* the file system has no O_TMPFILE */
	mode_t blob_mode;                      /* as the umask allows, and readable by all */
};

/* STORAGE_PATH/blobs/sha256/<hex>: 0, or -ENAMETOOLONG. */
int filesystem_path(const struct filesystem *s, const char *hex, char *out, size_t len);
/* Makes the folders under STORAGE_PATH that are missing. */
int filesystem_make_folders(const char *root, char *err, size_t errlen);
/* Gives a blob's file its commit's time. */
int filesystem_stamp(int fd);
/* Whether a blob file is as it was committed, by that time: what tells
 * the worker to hash a file again, and the web server not to send it
 * (tags.c). */
int filesystem_stamped(const struct stat *st);
/* As storage_check and storage_read. */
int filesystem_check(const struct filesystem *s, const char *hex, uint64_t size);
int filesystem_read_blob(const struct filesystem *s, const char *hex, size_t max, struct buf *out);

/* The writes (filesystem_writer.c: a writer has its own operations), as
 * struct storage_ops has them. */
int filesystem_begin(const struct storage *s, struct storage_writer **w, char *err, size_t errlen);
int filesystem_put(const struct storage *s, const void *data, size_t len, const char *hex,
		   char *err, size_t errlen);

#endif
