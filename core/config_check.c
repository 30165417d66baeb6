/* What the settings must be: checked as they are loaded (one package
 * source, bucket names and endpoints that are safe to sign and send), and
 * against this host (--check-config: the folders and files they name). */
#include "core/config_settings.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Channel names reach a URL: keep them to a safe alphabet. */
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

/* Whether setting i (one of the three sources) came from origin. */
static int from(const struct config *cfg, size_t i, const char *origin)
{
	return *(char *const *)((const char *)cfg + config_settings[i].offset) &&
	       strcmp(cfg->origin[i], origin) == 0;
}

/* A source set in the environment wins over one in the file; among those
 * of one origin, Nixery's order: a channel, a repository, a path. */
int config_pick_source(struct config *cfg, char *err, size_t errlen)
{
	const char *origin = (from(cfg, CHANNEL, "environment") || from(cfg, REPO, "environment") ||
			      from(cfg, LOCAL, "environment")) ? "environment" : "file";

	/* Two sources where one is read: which one was meant is a guess. */
	if (from(cfg, CHANNEL, origin) + from(cfg, REPO, origin) + from(cfg, LOCAL, origin) > 1) {
		char names[128] = "";
		size_t i;

		for (i = CHANNEL; i <= LOCAL; i++)
			if (from(cfg, i, origin))
				snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
					 names[0] ? " and " : "", config_settings[i].name);
		config_problem(err, errlen, "%s are both set in the %s: set exactly one package source",
			names, origin);
		return -EINVAL;
	}
	if (from(cfg, CHANNEL, origin)) {
		if (!is_safe_word(cfg->channel)) {
			config_problem(err, errlen, "NIXERY_CHANNEL=%s is not a channel name or commit", cfg->channel);
			return -EINVAL;
		}
		cfg->source = SOURCE_CHANNEL;
		cfg->source_arg = cfg->channel;
	} else if (from(cfg, REPO, origin)) {
		if (*cfg->pkgs_repo == '-') {
			config_problem(err, errlen, "NIXERY_PKGS_REPO must be a repository URL or path");
			return -EINVAL;
		}
		cfg->source = SOURCE_GIT;
		cfg->source_arg = cfg->pkgs_repo;
	} else if (from(cfg, LOCAL, origin)) {
		cfg->source = SOURCE_PATH;
		cfg->source_arg = cfg->pkgs_path;
	} else {
		config_problem(err, errlen, "no package source: set NIXERY_CHANNEL, NIXERY_PKGS_REPO or NIXERY_PKGS_PATH");
		return -EINVAL;
	}
	return 0;
}

/* Bucket names as both stores allow them: they reach host names and
 * paths. */
static int is_bucket_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n > 222 || !is_safe_word(s))
		return 0;
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 0;
	return 1;
}

/* An endpoint: [scheme://]host[:port], with nothing after the host that
 * could change the path a request is signed for. */
static int is_endpoint(const char *s, int need_scheme)
{
	const char *host = strstr(s, "://");

	if (host && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		return 0;
	if (!host && need_scheme)
		return 0;
	host = host ? host + 3 : s;
	if (!*host || strlen(host) > 255)
		return 0;
	for (; *host; host++)
		if (!(*host == '-' || *host == '.' || *host == ':' || *host == '[' || *host == ']' ||
		      (*host >= '0' && *host <= '9') || (*host >= 'a' && *host <= 'z') ||
		      (*host >= 'A' && *host <= 'Z')))
			return 0;
	return 1;
}

/* What the backend chosen needs, and the S3 addressing default. */
int config_check_storage(struct config *cfg, char *err, size_t errlen)
{
	int rc = 0;

	if (cfg->gcs_bucket && !is_bucket_name(cfg->gcs_bucket)) {
		config_problem(err, errlen, "GCS_BUCKET=%s is not a bucket name (lower-case letters, digits, '-', '_', '.')",
			cfg->gcs_bucket);
		rc = -EINVAL;
	}
	if (cfg->s3_bucket && !is_bucket_name(cfg->s3_bucket)) {
		config_problem(err, errlen, "S3_BUCKET=%s is not a bucket name (lower-case letters, digits, '-', '.')",
			cfg->s3_bucket);
		rc = -EINVAL;
	}
	if (cfg->gcs_endpoint && !is_endpoint(cfg->gcs_endpoint, 0)) {
		config_problem(err, errlen, "STORAGE_EMULATOR_HOST=%s is not a host[:port] or http(s)://host[:port]",
			cfg->gcs_endpoint);
		rc = -EINVAL;
	}
	if (cfg->s3_endpoint && !is_endpoint(cfg->s3_endpoint, 1)) {
		config_problem(err, errlen, "AWS_ENDPOINT_URL=%s is not an http(s)://host[:port] URL", cfg->s3_endpoint);
		rc = -EINVAL;
	}
	if (cfg->s3_region && !is_safe_word(cfg->s3_region)) {
		config_problem(err, errlen, "AWS_REGION=%s is not a region name", cfg->s3_region);
		rc = -EINVAL;
	}
	if (cfg->s3_path_style < 0)
		cfg->s3_path_style = cfg->s3_endpoint != NULL;
	if (cfg->storage == STORAGE_GCS && !cfg->gcs_bucket) {
		config_problem(err, errlen, "NIXERY_STORAGE_BACKEND=gcs needs GCS_BUCKET");
		rc = -EINVAL;
	}
	if (cfg->gcs_metadata_host &&
	    (strstr(cfg->gcs_metadata_host, "://") || !is_endpoint(cfg->gcs_metadata_host, 0))) {
		config_problem(err, errlen, "GCE_METADATA_HOST=%s is not a host[:port]", cfg->gcs_metadata_host);
		rc = -EINVAL;
	}
	if (cfg->storage == STORAGE_S3 && (!cfg->s3_bucket || !cfg->s3_access_key || !cfg->s3_secret_key)) {
		config_problem(err, errlen, "NIXERY_STORAGE_BACKEND=s3 needs S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
		rc = -EINVAL;
	}
	return rc;
}

/* The user this check runs as, by name when it has one, for advice. */
static void user_name(char *out, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw)
		snprintf(out, len, "%s", pw->pw_name);
	else
		snprintf(out, len, "%d", (int)geteuid());
}

/* The nearest folder above path that exists, into out. */
static void existing_parent(const char *path, char *out, size_t len)
{
	struct stat st;
	char *slash;

	snprintf(out, len, "%s", path);
	do {
		if ((slash = strrchr(out, '/')))
			*(slash == out ? slash + 1 : slash) = '\0';
	} while (slash && slash != out && stat(out, &st) < 0);
}

/* A folder the workers must write: there and writable by this user, or
 * not there yet while this user may create it (the first worker does,
 * with what it needs inside). */
static int check_writable(const char *name, const char *dir, struct buf *out, struct buf *notes)
{
	char parent[4096], user[64];
	struct stat st;

	user_name(user, sizeof user);
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		buf_printf(out, "%s %s is not a folder: point %s at one\n", name, dir, name);
		return 1;
	}
	if (stat(dir, &st) == 0) {
		if (access(dir, W_OK | X_OK) == 0)
			return 0;
		buf_printf(out, "%s %s is not writable by this user (%s): chown it to the user the workers run as\n",
			   name, dir, user);
		return 1;
	}
	existing_parent(dir, parent, sizeof parent);
	if (access(parent, W_OK | X_OK) == 0) {
		buf_printf(notes, "%s %s does not exist yet: the first worker creates it\n", name, dir);
		return 0;
	}
	buf_printf(out, "%s %s does not exist, and this user (%s) cannot create it in %s: create it for the user "
		   "the workers run as (install -d -o %s %s)\n", name, dir, user, parent, user, dir);
	return 1;
}

/* NIXERY_LOG_FILE: a worker that cannot open it logs to standard error,
 * which spawn-fcgi sends nowhere. */
static int check_log_file(const char *file, struct buf *out, struct buf *notes)
{
	char parent[4096], user[64];
	struct stat st;

	user_name(user, sizeof user);
	if (stat(file, &st) == 0) {
		if (S_ISREG(st.st_mode) && access(file, W_OK) == 0)
			return 0;
		buf_printf(out, "NIXERY_LOG_FILE %s is not a file this user (%s) may write: the workers could not log "
			   "there; give it to them (chown %s %s)\n", file, user, user, file);
		return 1;
	}
	/* A worker creates the file, not its folder. */
	snprintf(parent, sizeof parent, "%s", file);
	*(strrchr(parent, '/') == parent ? parent + 1 : strrchr(parent, '/')) = '\0';
	if (stat(parent, &st) == 0 && S_ISDIR(st.st_mode) && access(parent, W_OK | X_OK) == 0) {
		buf_printf(notes, "NIXERY_LOG_FILE %s does not exist yet: the first worker creates it\n", file);
		return 0;
	}
	buf_printf(out, "NIXERY_LOG_FILE %s does not exist, and this user (%s) cannot create it (in %s): the workers "
		   "could not log there; create it for them (touch %s && chown %s %s)\n",
		   file, user, parent, file, user, file);
	return 1;
}

int config_check(const struct config *cfg, struct buf *out, struct buf *notes)
{
	char path[4096];
	int problems = 0;

	problems += check_writable("STORAGE_PATH", cfg->storage_path, out, notes);
	problems += check_writable("NIXERY_STATE_DIR", cfg->state_dir, out, notes);
	if (cfg->log_file)
		problems += check_log_file(cfg->log_file, out, notes);
	snprintf(path, sizeof path, "%s/image.nix", cfg->nix_dir);
	if (access(path, R_OK) < 0) {
		buf_printf(out, "NIXERY_NIX_DIR %s has no readable image.nix: point it at the installed share/nixery-fcgi/nix folder\n",
			   cfg->nix_dir);
		problems++;
	}
	if (cfg->source == SOURCE_PATH && access(cfg->pkgs_path, R_OK) < 0) {
		buf_printf(out, "NIXERY_PKGS_PATH %s cannot be read: %s\n", cfg->pkgs_path, strerror(errno));
		problems++;
	}
	if (cfg->popularity_url && cfg->popularity_url[0] == '/' && access(cfg->popularity_url, R_OK) < 0) {
		buf_printf(out, "NIX_POPULARITY_URL %s cannot be read (%s): images are layered as if every path had popularity 1\n",
			   cfg->popularity_url, strerror(errno));
		problems++;
	}
	return problems;
}
