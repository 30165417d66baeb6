#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static int parse_int(const char *name, const char *fallback, int min, int max,
		     int *out, char *err, size_t errlen)
{
	const char *s = env_or(name, fallback);
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		snprintf(err, errlen, "%s=%s is not valid: give a whole number from %d to %d",
			 name, s, min, max);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

/* Channel names and refs reach Nix and git: keep them to a safe alphabet. */
static int is_safe_word(const char *s)
{
	if (!*s || *s == '-' || *s == '.')
		return 0;
	for (; *s; s++)
		if (!(*s == '-' || *s == '.' || *s == '_' ||
		      (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

static int load_source(struct config *cfg, char *err, size_t errlen)
{
	const char *v;

	if ((v = env_or("NIXERY_CHANNEL", NULL))) {
		if (!is_safe_word(v)) {
			snprintf(err, errlen, "NIXERY_CHANNEL=%s is not a channel name or commit", v);
			return -EINVAL;
		}
		cfg->source = SOURCE_CHANNEL;
	} else if ((v = env_or("NIXERY_PKGS_REPO", NULL))) {
		if (*v == '-') {
			snprintf(err, errlen, "NIXERY_PKGS_REPO must be a repository URL or path");
			return -EINVAL;
		}
		cfg->source = SOURCE_GIT;
	} else if ((v = env_or("NIXERY_PKGS_PATH", NULL))) {
		if (*v != '/') {
			snprintf(err, errlen, "NIXERY_PKGS_PATH=%s must be an absolute path", v);
			return -EINVAL;
		}
		cfg->source = SOURCE_PATH;
	} else {
		snprintf(err, errlen, "no package source: set NIXERY_CHANNEL, NIXERY_PKGS_REPO or NIXERY_PKGS_PATH");
		return -EINVAL;
	}
	cfg->source_arg = strdup(v);
	return cfg->source_arg ? 0 : -ENOMEM;
}

static int load_offload(struct config *cfg, char *err, size_t errlen)
{
	const char *v = env_or("NIXERY_BLOB_OFFLOAD", "x-sendfile");

	if (strcasecmp(v, "x-sendfile") == 0)
		cfg->offload = OFFLOAD_SENDFILE;
	else if (strcasecmp(v, "x-accel-redirect") == 0)
		cfg->offload = OFFLOAD_ACCEL;
	else if (strcasecmp(v, "none") == 0)
		cfg->offload = OFFLOAD_NONE;
	else {
		snprintf(err, errlen, "NIXERY_BLOB_OFFLOAD=%s is not valid: use x-sendfile, x-accel-redirect or none", v);
		return -EINVAL;
	}
	return 0;
}

static int load_dir(const char *name, const char *fallback, char **out,
		    char *err, size_t errlen)
{
	const char *v = env_or(name, fallback);

	if (*v != '/') {
		snprintf(err, errlen, "%s=%s must be an absolute path", name, v);
		return -EINVAL;
	}
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(cfg, 0, sizeof *cfg);
	if (env_or("NIX_POPULARITY_URL", NULL) &&
	    !(cfg->popularity_url = strdup(env_or("NIX_POPULARITY_URL", NULL))))
		return -ENOMEM;
	if ((rc = load_source(cfg, err, errlen)) < 0 ||
	    (rc = load_dir("STORAGE_PATH", "/var/lib/nixery/storage", &cfg->storage_path, err, errlen)) < 0 ||
	    (rc = load_dir("NIXERY_STATE_DIR", "/var/lib/nixery/state", &cfg->state_dir, err, errlen)) < 0 ||
	    (rc = load_dir("NIXERY_NIX_DIR", NIXERY_NIXDIR, &cfg->nix_dir, err, errlen)) < 0 ||
	    (rc = load_dir("NIXERY_ACCEL_PREFIX", "/_nixery_blobs", &cfg->accel_prefix, err, errlen)) < 0 ||
	    (rc = parse_int("NIX_TIMEOUT", "60", 1, 86400, &cfg->nix_timeout, err, errlen)) < 0 ||
	    (rc = parse_int("NIXERY_EVAL_TTL", "60", 0, INT_MAX, &cfg->eval_ttl, err, errlen)) < 0 ||
	    (rc = parse_int("NIXERY_MAX_LAYERS", "94", 1, 120, &cfg->max_layers, err, errlen)) < 0 ||
	    (rc = parse_int("NIXERY_THREADS", "16", 1, 1024, &cfg->threads, err, errlen)) < 0 ||
	    (rc = parse_int("NIXERY_POPULARITY_TTL", "86400", 1, INT_MAX, &cfg->popularity_ttl, err, errlen)) < 0 ||
	    (rc = load_offload(cfg, err, errlen)) < 0) {
		config_free(cfg);
		return rc;
	}
	return 0;
}

void config_free(struct config *cfg)
{
	free(cfg->source_arg);
	free(cfg->storage_path);
	free(cfg->state_dir);
	free(cfg->nix_dir);
	free(cfg->accel_prefix);
	free(cfg->popularity_url);
	memset(cfg, 0, sizeof *cfg);
}
