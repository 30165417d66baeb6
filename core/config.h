/* Settings, read once at start-up and never changed afterwards: the only
 * state a worker shares between requests besides the cache and storage.
 *
 * They come from a file of "NAME = value" lines (--config, NIXERY_CONFIG,
 * or SYSCONFDIR/nixery-fcgi.conf) and from environment variables of the
 * same names, which win: shared hosting can often not set the environment
 * of a FastCGI program, and containers can rarely edit files. */
#ifndef NIXERY_CONFIG_H
#define NIXERY_CONFIG_H

#include <stddef.h>

#include "core/buf.h"
#include "core/platform.h"

enum offload {
	OFFLOAD_NONE,        /* the worker streams blobs itself */
	OFFLOAD_SENDFILE,    /* X-Sendfile: lighttpd, Apache mod_xsendfile */
	OFFLOAD_ACCEL,       /* X-Accel-Redirect: nginx */
	OFFLOAD_AUTO,        /* by the web server each request names */
};

/* The offload for a web server by the SERVER_SOFTWARE it passes (NULL:
 * unknown): X-Accel-Redirect for nginx, X-Sendfile for lighttpd and
 * Apache, streaming for anything else. */
enum offload config_offload_for(const char *server_software);

/* Whether that web server sends cached tags itself, from the tag files
 * the workers keep for it (storage_tag_write): lighttpd, with
 * etc/lighttpd-files.lua. Nothing else reads them, so nothing else has
 * them written. */
int config_tag_files_for(const char *server_software);

enum source_kind {
	SOURCE_CHANNEL,      /* NIXERY_CHANNEL: a nixpkgs branch or commit */
	SOURCE_GIT,          /* NIXERY_PKGS_REPO: a git repository, tag = ref */
	SOURCE_PATH,         /* NIXERY_PKGS_PATH: a local package set */
};

/* NIXERY_STORAGE_BACKEND: where blobs live (storage/). */
enum storage_kind {
	STORAGE_FILESYSTEM,  /* STORAGE_PATH, sent by the web server */
	STORAGE_GCS,         /* a Google Cloud Storage bucket, 303 to signed URLs */
	STORAGE_S3,          /* an S3-compatible bucket, 303 to presigned URLs */
};

#define CONFIG_SETTINGS 40

struct config {
	enum source_kind source;
	const char *source_arg;  /* the one of the three below in use */
	char *channel;           /* NIXERY_CHANNEL */
	char *pkgs_repo;         /* NIXERY_PKGS_REPO */
	char *pkgs_path;         /* NIXERY_PKGS_PATH */
	char *storage_path;      /* STORAGE_PATH */
	char *state_dir;         /* NIXERY_STATE_DIR */
	char *nix_dir;           /* NIXERY_NIX_DIR: where image.nix lives */
	int nix_timeout;         /* NIX_TIMEOUT, seconds from a request's arrival to its answer */
	int max_builds;          /* NIXERY_MAX_BUILDS, Nix jobs at once on this host */
	int pack_threads;        /* NIXERY_PACK_THREADS, cores compressing one layer */
	int gzip_level;          /* NIXERY_GZIP_LEVEL, libdeflate's 1 to 12 */
	int stop_grace;          /* NIXERY_STOP_GRACE, seconds requests get to finish at a stop */
	int eval_ttl;            /* NIXERY_EVAL_TTL, seconds a moving source stays evaluated */
	int max_layers;          /* NIXERY_MAX_LAYERS, store-path layers per image */
	char *platforms_text;    /* NIXERY_PLATFORMS as given, or NULL */
	/* ... as platforms, in order: the first is what a client that takes
	 * no image index gets; the host's own when unset. */
	const struct platform *platforms[PLATFORM_MAX];
	size_t nplatforms;
	int threads;             /* NIXERY_THREADS, requests served at once per process */
	int max_cold;            /* NIXERY_MAX_COLD, requests waiting for Nix at once on this host */
	char *build_users;       /* NIXERY_BUILD_USERS: who may cause Nix work; NULL: anyone */
	int max_per_client;      /* NIXERY_MAX_BUILDS_PER_CLIENT: one client's cold requests at once; 0: no limit */
	char *allow_packages;    /* NIXERY_ALLOW_PACKAGES: the only names asked for; NULL: any */
	char *deny_packages;     /* NIXERY_DENY_PACKAGES: names never asked for; NULL: none */
	enum offload offload;    /* NIXERY_BLOB_OFFLOAD */
	char *accel_prefix;      /* NIXERY_ACCEL_PREFIX, nginx internal location */
	char *log_file;          /* NIXERY_LOG_FILE, or NULL: standard error */
	char *popularity_url;    /* NIX_POPULARITY_URL, or NULL */
	int popularity_ttl;      /* NIXERY_POPULARITY_TTL, seconds between downloads */
	enum storage_kind storage;  /* NIXERY_STORAGE_BACKEND */
	int signed_url_ttl;      /* NIXERY_SIGNED_URL_TTL, seconds a blob redirect is valid */
	char *gcs_bucket;        /* GCS_BUCKET */
	char *gcs_credentials;   /* GOOGLE_APPLICATION_CREDENTIALS, a service account's key file */
	char *gcs_endpoint;      /* STORAGE_EMULATOR_HOST, [scheme://]host[:port] */
	char *gcs_metadata_host; /* GCE_METADATA_HOST: the metadata server without a key file */
	char *s3_bucket;         /* S3_BUCKET */
	char *s3_region;         /* AWS_REGION */
	char *s3_access_key;     /* AWS_ACCESS_KEY_ID */
	char *s3_secret_key;     /* AWS_SECRET_ACCESS_KEY, never printed */
	char *s3_endpoint;       /* AWS_ENDPOINT_URL, scheme://host[:port] */
	int s3_presigned;        /* S3_USE_PRESIGNED_URLS: else public URLs */
	int s3_path_style;       /* S3_FORCE_PATH_STYLE: /bucket/key, not bucket.host/key */
	char *file;              /* the configuration file read, or NULL */
	const char *origin[CONFIG_SETTINGS];  /* where each setting came from */
};

/* filesystem, gcs or s3 */
const char *config_storage_name(enum storage_kind k);

/* SYSCONFDIR/nixery-fcgi.conf */
extern const char config_default_file[];

/* Reads the file at path (NULL: NIXERY_CONFIG or the default, which may
 * be missing) and the environment. On bad values returns -EINVAL, with one
 * line in err for every setting that is wrong and what it accepts. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);

/* The folders and files of this host that the settings name (STORAGE_PATH,
 * NIXERY_STATE_DIR, a local package source, the settings file as
 * NIXERY_CONFIG...): the i-th, from 0, with its setting's name; NULL past
 * the last. */
const char *config_host_path(const struct config *cfg, size_t i, const char **name);

/* Every setting with its value and where it came from, one per line. */
void config_print(const struct config *cfg, struct buf *out);
/* Checks the folders and files the settings name, for the user running
 * it; appends one line per problem, with advice, to out, and returns how
 * many there are; what is fine but worth knowing (a folder the first
 * worker will create) goes to notes. */
int config_check(const struct config *cfg, struct buf *out, struct buf *notes);

#endif
