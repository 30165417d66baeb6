/* A bucket as a storage backend: what S3 and Google Cloud Storage share
 * (bucket.c, and bucket_call.c, bucket_writer.c, bucket_records.c) and
 * what each does its own way (s3.c, gcs.c). Only storage/ sees this. */
#ifndef NIXERY_BUCKET_H
#define NIXERY_BUCKET_H

#include <pthread.h>
#include <stddef.h>

#include "core/buf.h"
#include "storage/backend.h"
#include "storage/gcs_sign.h"
#include "storage/gcs_token.h"
#include "storage/http.h"
#include "storage/s3_sign.h"

/* Signed URLs kept for reuse, by blob. */
#define BUCKET_URL_CACHE 512

struct bucket_url {
	char hex[DIGEST_HEX_LEN + 1];
	time_t signed_at;
	char *url;
};

struct bucket {
	struct storage base;
	const struct bucket_provider *p;
	struct storage *local;        /* copies of small blobs, under STORAGE_PATH,
				       * reached through its operations */
	char name[256];               /* the bucket */
	char scheme[8];
	char host[300];               /* as signed */
	char authority[300];          /* as in the URL */
	char spool[4096];             /* where parts wait to be sent: STORAGE_PATH/tmp */
	int path_style;               /* /bucket/key; else the host names the bucket */
	int presigned;                /* redirects are signed; else public URLs */
	long ttl;                     /* seconds a redirect is valid */
	struct s3_credentials s3;
	struct gcs_signer *gcs;
	struct gcs_token *gcs_token;  /* GCS without a key file: requests carry it */
	struct http_pool *http;       /* connections to the store, kept open */
	pthread_mutex_t lock;         /* of urls */
	struct bucket_url urls[BUCKET_URL_CACHE];
};

/* One request to the store, before it is signed. */
struct bucket_request {
	const char *method;
	const char *key;              /* the object; NULL: the bucket */
	const char *const *headers;   /* signed too: name, value, name, ... */
	size_t nheaders;              /* pairs */
	const char *const *query;     /* name, value, name, ... */
	size_t nquery;                /* pairs */
	const void *body;
	size_t body_len;
	int body_file;                /* > 0: the body is the file's first body_len bytes */
};

/* A large upload in progress, sent in parts to a staging object. */
struct bucket_upload {
	char key[64];                 /* staging/<random> */
	char id[2048];                /* S3's UploadId, GCS's session URL */
	unsigned parts;
	uint64_t offset;              /* bytes sent */
	struct buf done;              /* S3: the parts' list, for completing */
};

struct bucket_provider {
	const char *name;             /* "S3", "GCS": in messages */
	const char *endpoint_setting; /* where its endpoint is set */
	const char *create_only[2];   /* the header (name, value) that makes a PUT a creation */
	const char *copy_source;      /* the header that makes a PUT a copy */
	const char *metadata_directive;  /* the header that lets a copy be onto itself */
	const char *if_version;       /* the header that makes a DELETE conditional on a version */
	/* An object's version, as an answer names it. */
	const char *(*version)(const struct http_exchange *x);
	int (*sign)(const struct bucket *b, const struct bucket_request *rq, long ttl,
		    struct buf *url, char *err, size_t errlen);
	/* Starts u, sends one part (the last one finishes it), cancels it. */
	int (*start)(const struct bucket *b, struct bucket_upload *u, char *err, size_t errlen);
	int (*part)(const struct bucket *b, struct bucket_upload *u, int file, size_t len,
		    int last, char *err, size_t errlen);
	void (*cancel)(const struct bucket *b, struct bucket_upload *u);
};

extern const struct bucket_provider bucket_s3, bucket_gcs;

/* The object that holds blob hex: layers/<hex>. */
void bucket_blob_key(const char *hex, char key[DIGEST_HEX_LEN + 8]);

/* What rq is signed for, now, valid ttl seconds: the same for both
 * stores but for their signers. */
struct sign_request bucket_sign_request(const struct bucket *b, const struct bucket_request *rq, long ttl);

/* Signs rq and sends it, again after a pause when the store is out of
 * reach or busy (5xx, 429). The answer is in x (x->response needs
 * buf_free); the result, with a sentence in err: 0 for a 2xx or 3xx,
 * -ENOENT (404), -EEXIST (412: a creation that found the object),
 * -EACCES (401, 403), -EHOSTUNREACH (no answer, or still busy), -EIO. */
int bucket_call(const struct bucket *b, const struct bucket_request *rq, struct http_exchange *x,
		char *err, size_t errlen);
/* The same for a URL that needs no signature (a GCS upload session). */
int bucket_send(const struct bucket *b, const char *url, const char *what, struct http_exchange *x,
		char *err, size_t errlen);
/* An object small enough to hold in memory (max bytes, else -EFBIG), into
 * out, and its version (unless version is NULL). */
int bucket_fetch(const struct bucket *b, const char *key, size_t max, struct buf *out, char *version,
		 char *err, size_t errlen);
/* Copies the object's version an answer names, where the caller wants it. */
void bucket_keep_version(const struct bucket *b, const struct http_exchange *x, char *version);

/* Blobs written (bucket_writer.c: a writer has its own operations) and
 * records (bucket_records.c), as struct storage_ops has them. */
int bucket_begin(const struct storage *s, struct storage_writer **w, char *err, size_t errlen);
int bucket_put(const struct storage *s, const void *data, size_t len, const char *hex,
	       char *err, size_t errlen);
int bucket_record_get(const struct storage *s, const char *key, size_t max, struct buf *out,
		      char *version, char *err, size_t errlen);
int bucket_record_put(const struct storage *s, const char *key, const char *text, int create_only,
		      char *version, char *err, size_t errlen);
int bucket_record_remove(const struct storage *s, const char *key, const char *version,
			 char *err, size_t errlen);

#endif
