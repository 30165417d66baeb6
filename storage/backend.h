/* What a storage backend provides: storage.c turns the public storage_*
 * calls into calls of these. Each backend's struct storage and struct
 * storage_writer begin with the struct below, so that a pointer to
 * either is a pointer to its operations. Only storage/ sees this. */
#ifndef NIXERY_STORAGE_BACKEND_H
#define NIXERY_STORAGE_BACKEND_H

#include "storage/storage.h"

struct storage_ops {
	void (*close)(struct storage *s);
	int (*locate)(const struct storage *s, const char *hex, struct storage_location *loc,
		      char *err, size_t errlen);
	int (*check)(const struct storage *s, const char *hex, uint64_t size);
	/* Only files are hashed here. */
	int (*verify)(const struct storage *s, const char *hex, storage_pace_fn pace, void *ctx);
	int (*read)(const struct storage *s, const char *hex, size_t max, struct buf *out);
	int (*begin)(const struct storage *s, struct storage_writer **w, char *err, size_t errlen);
	int (*write)(struct storage_writer *w, const void *data, size_t len, char *err, size_t errlen);
	int (*commit)(struct storage_writer *w, const char *hex, char *err, size_t errlen);
	void (*discard)(struct storage_writer *w);
	int (*put)(const struct storage *s, const void *data, size_t len, const char *hex,
		   char *err, size_t errlen);
	/* Only a bucket keeps copies of its small blobs. */
	int (*keep)(const struct storage *s, const void *data, size_t len, const char *hex,
		    char *err, size_t errlen);
	int (*each)(const struct storage *s, storage_blob_fn fn, void *ctx);
	int (*remove)(const struct storage *s, const char *hex);
	int (*probe)(const struct storage *s, struct buf *out);
	/* Only a bucket keeps records. */
	int (*record_get)(const struct storage *s, const char *key, size_t max, struct buf *out,
			  char *version, char *err, size_t errlen);
	int (*record_put)(const struct storage *s, const char *key, const char *text, int create_only,
			  char *version, char *err, size_t errlen);
	int (*record_remove)(const struct storage *s, const char *key, const char *version,
			     char *err, size_t errlen);
	/* STORAGE_PATH: where this host keeps its files (tags.c). */
	const char *(*local_root)(const struct storage *s);
	int remote;
};

struct storage {
	const struct storage_ops *ops;
};

struct storage_writer {
	const struct storage_ops *ops;
};

/* Whether a blob file is as it was committed, by its modification time
 * (filesystem.c stamps every blob with it): what tells the worker to hash
 * a file again, and the web server not to send it (tags.c). */
struct stat;
int filesystem_stamped(const struct stat *st);

/* The backends. existing: as storage_open_existing. */
int filesystem_open(const char *root, struct storage **s, char *err, size_t errlen);
int filesystem_open_existing(const char *root, struct storage **s, char *err, size_t errlen);
int bucket_open(const struct config *cfg, int existing, struct storage **s, char *err, size_t errlen);

#endif
