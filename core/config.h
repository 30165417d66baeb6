/* Settings, read once at start-up and never changed afterwards: the only
 * state a worker shares between requests besides the cache and storage. */
#ifndef NIXERY_CONFIG_H
#define NIXERY_CONFIG_H

#include <stddef.h>

enum offload {
	OFFLOAD_NONE,        /* the worker streams blobs itself */
	OFFLOAD_SENDFILE,    /* X-Sendfile: lighttpd, Apache mod_xsendfile */
	OFFLOAD_ACCEL,       /* X-Accel-Redirect: nginx */
};

enum source_kind {
	SOURCE_CHANNEL,      /* NIXERY_CHANNEL: a nixpkgs branch or commit */
	SOURCE_GIT,          /* NIXERY_PKGS_REPO: a git repository, tag = ref */
	SOURCE_PATH,         /* NIXERY_PKGS_PATH: a local package set */
};

struct config {
	enum source_kind source;
	char *source_arg;     /* channel name, repository URL or absolute path */
	char *storage_path;   /* STORAGE_PATH */
	char *state_dir;      /* NIXERY_STATE_DIR */
	char *nix_dir;        /* NIXERY_NIX_DIR: where image.nix lives */
	int nix_timeout;      /* NIX_TIMEOUT, seconds for a whole build */
	int eval_ttl;         /* NIXERY_EVAL_TTL, seconds a moving source stays evaluated */
	int max_layers;       /* NIXERY_MAX_LAYERS, store-path layers per image */
	int threads;          /* NIXERY_THREADS, requests served at once per process */
	enum offload offload; /* NIXERY_BLOB_OFFLOAD */
	char *accel_prefix;   /* NIXERY_ACCEL_PREFIX, nginx internal location */
	char *popularity_url; /* NIX_POPULARITY_URL, or NULL */
	int popularity_ttl;   /* NIXERY_POPULARITY_TTL, seconds between downloads */
};

/* Reads the environment. On a bad value returns -EINVAL and says which
 * setting is wrong and what it accepts. */
int config_load(struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);

#endif
