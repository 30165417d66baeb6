/* The settings: every one's name, kind, fallback and bounds, the one
 * table that loading (config_load.c), checking (config_check.c) and
 * printing (config_print.c) go by; and what a loaded configuration
 * holds, freed. */
#include "core/config_settings.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gzip.h"

#define AT(field) offsetof(struct config, field)

const struct setting config_settings[] = {
	[CHANNEL] = { "NIXERY_CHANNEL", NULL, TEXT, AT(channel), 0, 0 },
	[REPO] = { "NIXERY_PKGS_REPO", NULL, TEXT, AT(pkgs_repo), 0, 0 },
	[LOCAL] = { "NIXERY_PKGS_PATH", NULL, PATH, AT(pkgs_path), 0, 0 },
	{ "STORAGE_PATH", "/var/lib/nixery/storage", PATH, AT(storage_path), 0, 0 },
	{ "NIXERY_STATE_DIR", "/var/lib/nixery/state", PATH, AT(state_dir), 0, 0 },
	{ "NIXERY_NIX_DIR", NIXERY_NIXDIR, PATH, AT(nix_dir), 0, 0 },
	{ "NIX_TIMEOUT", "60", NUMBER, AT(nix_timeout), 1, 86400 },
	/* No fallback: the number of cores. */
	{ "NIXERY_MAX_BUILDS", NULL, NUMBER, AT(max_builds), 1, 256 },
	/* No fallback: the number of cores. */
	{ "NIXERY_PACK_THREADS", NULL, NUMBER, AT(pack_threads), 1, 256 },
	{ "NIXERY_GZIP_LEVEL", "6", NUMBER, AT(gzip_level), 1, GZIP_LEVEL_MAX },
	{ "NIXERY_STOP_GRACE", "10", NUMBER, AT(stop_grace), 0, 3600 },
	{ "NIXERY_EVAL_TTL", "60", NUMBER, AT(eval_ttl), 0, INT_MAX },
	{ "NIXERY_MAX_LAYERS", "94", NUMBER, AT(max_layers), 1, 120 },
	/* No fallback: the host's own platform. */
	{ "NIXERY_PLATFORMS", NULL, PLATFORMS, AT(platforms_text), 0, 0 },
	{ "NIX_POPULARITY_URL", NULL, TEXT, AT(popularity_url), 0, 0 },
	{ "NIXERY_POPULARITY_TTL", "86400", NUMBER, AT(popularity_ttl), 1, INT_MAX },
	{ "NIXERY_BLOB_OFFLOAD", "auto", OFFLOAD, AT(offload), 0, 0 },
	{ "NIXERY_ACCEL_PREFIX", "/_nixery_blobs", URLPATH, AT(accel_prefix), 0, 0 },
	{ "NIXERY_THREADS", "16", NUMBER, AT(threads), 1, 1024 },
	{ "NIXERY_MAX_COLD", "16", NUMBER, AT(max_cold), 1, 256 },
	{ "NIXERY_BUILD_USERS", NULL, USERS, AT(build_users), 0, 0 },
	/* At most LOCK_MAX_SLOTS (builder/lock.h). */
	{ "NIXERY_MAX_BUILDS_PER_CLIENT", "2", NUMBER, AT(max_per_client), 0, 256 },
	{ "NIXERY_ALLOW_PACKAGES", NULL, PATTERNS, AT(allow_packages), 0, 0 },
	{ "NIXERY_DENY_PACKAGES", NULL, PATTERNS, AT(deny_packages), 0, 0 },
	{ "NIXERY_LOG_FILE", NULL, PATH, AT(log_file), 0, 0 },
	{ "NIXERY_STORAGE_BACKEND", "filesystem", BACKEND, AT(storage), 0, 0 },
	{ "NIXERY_SIGNED_URL_TTL", "300", NUMBER, AT(signed_url_ttl), 10, 604800 },
	{ "GCS_BUCKET", NULL, TEXT, AT(gcs_bucket), 0, 0 },
	{ "GOOGLE_APPLICATION_CREDENTIALS", NULL, PATH, AT(gcs_credentials), 0, 0 },
	{ "STORAGE_EMULATOR_HOST", NULL, TEXT, AT(gcs_endpoint), 0, 0 },
	{ "GCE_METADATA_HOST", NULL, TEXT, AT(gcs_metadata_host), 0, 0 },
	{ "S3_BUCKET", NULL, TEXT, AT(s3_bucket), 0, 0 },
	{ "AWS_REGION", "us-east-1", TEXT, AT(s3_region), 0, 0 },
	{ "AWS_ACCESS_KEY_ID", NULL, TEXT, AT(s3_access_key), 0, 0 },
	{ "AWS_SECRET_ACCESS_KEY", NULL, SECRET, AT(s3_secret_key), 0, 0 },
	{ "AWS_ENDPOINT_URL", NULL, TEXT, AT(s3_endpoint), 0, 0 },
	{ "S3_USE_PRESIGNED_URLS", "true", BOOL, AT(s3_presigned), 0, 0 },
	/* No fallback: path style where AWS_ENDPOINT_URL names a server. */
	{ "S3_FORCE_PATH_STYLE", NULL, BOOL, AT(s3_path_style), 0, 0 },
};

#define NSETTINGS (sizeof config_settings / sizeof *config_settings)
_Static_assert(NSETTINGS <= CONFIG_SETTINGS, "struct config has room for every origin");
const size_t config_nsettings = NSETTINGS;

void config_problem(char *err, size_t errlen, const char *fmt, ...)
{
	size_t used = strlen(err);
	va_list ap;

	if (used + 2 >= errlen)
		return;
	if (used)
		err[used++] = '\n';
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++) {
		enum kind kind = config_settings[i].kind;

		if (kind == TEXT || kind == PATH || kind == URLPATH || kind == SECRET || kind == PLATFORMS ||
		    kind == USERS || kind == PATTERNS)
			free(*(char **)((char *)cfg + config_settings[i].offset));
	}
	free(cfg->file);
	memset(cfg, 0, sizeof *cfg);
}
