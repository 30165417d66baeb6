#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/gzip.h"

#ifndef NIXERY_SYSCONFDIR
#define NIXERY_SYSCONFDIR "/etc"
#endif
const char config_default_file[] = NIXERY_SYSCONFDIR "/nixery-fcgi.conf";
#define MAX_FILE (64u << 10)
/* Paths are joined with file names into 4096-byte buffers. */
#define MAX_PATH_SETTING 3000

enum kind {
	TEXT,        /* a word (channel, URL) */
	PATH,        /* an absolute path on this host */
	URLPATH,     /* an absolute path of URLs, not of this host */
	NUMBER,      /* a whole number between min and max */
	OFFLOAD,     /* auto | x-sendfile | x-accel-redirect | none */
	BACKEND,     /* filesystem | gcs | s3 */
	BOOL,        /* true | false (yes, no, 1, 0) */
	SECRET,      /* a word that is never printed */
};

struct setting {
	const char *name;
	const char *fallback;   /* NULL: unset unless given */
	enum kind kind;
	size_t offset;          /* of a char *, an int or an enum */
	int min, max;
};

#define AT(field) offsetof(struct config, field)

/* The package sources, in Nixery's order of precedence. */
enum { CHANNEL, REPO, LOCAL };

static const struct setting settings[] = {
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
	{ "NIX_POPULARITY_URL", NULL, TEXT, AT(popularity_url), 0, 0 },
	{ "NIXERY_POPULARITY_TTL", "86400", NUMBER, AT(popularity_ttl), 1, INT_MAX },
	{ "NIXERY_BLOB_OFFLOAD", "auto", OFFLOAD, AT(offload), 0, 0 },
	{ "NIXERY_ACCEL_PREFIX", "/_nixery_blobs", URLPATH, AT(accel_prefix), 0, 0 },
	{ "NIXERY_THREADS", "16", NUMBER, AT(threads), 1, 1024 },
	{ "NIXERY_MAX_COLD", "16", NUMBER, AT(max_cold), 1, 256 },
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

#define NSETTINGS (sizeof settings / sizeof *settings)
_Static_assert(NSETTINGS <= CONFIG_SETTINGS, "struct config has room for every origin");

/* The parsed file: values by setting index. */
struct file_values {
	char *value[NSETTINGS];
};

/* The fallback of the settings that scale with the machine. */
static int cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static void problem(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(char *err, size_t errlen, const char *fmt, ...)
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

static long find_setting(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (strlen(settings[i].name) == len && strncmp(settings[i].name, name, len) == 0)
			return (long)i;
	return -1;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* "NAME = value" lines; '#' starts a comment line; a value may be quoted. */
static int parse_file(const char *path, char *text, struct file_values *fv,
		      char *err, size_t errlen)
{
	char *line, *next;
	int lineno = 0, bad = 0;

	for (line = text; line; line = next) {
		char *eq, *name, *value;
		long idx;
		size_t vlen;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			problem(err, errlen, "%s:%d: expected NAME = value", path, lineno);
			bad = 1;
			continue;
		}
		*eq = '\0';
		name = trim(line);
		value = trim(eq + 1);
		vlen = strlen(value);
		if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
			value[vlen - 1] = '\0';
			value++;
		}
		idx = find_setting(name, strlen(name));
		if (idx < 0) {
			problem(err, errlen, "%s:%d: unknown setting %s (see nixery-fcgi(8))", path, lineno, name);
			bad = 1;
			continue;
		}
		free(fv->value[idx]);
		fv->value[idx] = strdup(value);
	}
	return bad ? -EINVAL : 0;
}

static int read_file(struct config *cfg, const char *path, int explicit,
		     struct file_values *fv, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text;
	size_t n;
	int rc;

	if (!f) {
		if (!explicit && errno == ENOENT)
			return 0;
		problem(err, errlen, "cannot read the configuration file %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	text = malloc(MAX_FILE + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(text, 1, MAX_FILE + 1, f);
	fclose(f);
	if (n > MAX_FILE) {
		problem(err, errlen, "%s is larger than %u bytes", path, MAX_FILE);
		free(text);
		return -EINVAL;
	}
	text[n] = '\0';
	rc = parse_file(path, text, fv, err, errlen);
	free(text);
	cfg->file = strdup(path);
	return rc;
}

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

/* A word of the few that a setting of its kind takes, and what it means. */
struct choice {
	const char *word;
	int value;
};

/* A kind of setting that takes a few words: which, how they are compared,
 * and what a wrong one is told to use. */
struct choices {
	const struct choice *words;
	size_t n;
	int (*compare)(const char *, const char *);
	const char *advice;
};

static const struct choice bool_words[] = {
	{ "true", 1 }, { "yes", 1 }, { "1", 1 }, { "false", 0 }, { "no", 0 }, { "0", 0 },
};
static const struct choice backend_words[] = {
	{ "filesystem", STORAGE_FILESYSTEM }, { "gcs", STORAGE_GCS }, { "s3", STORAGE_S3 },
};
static const struct choice offload_words[] = {
	{ "auto", OFFLOAD_AUTO }, { "x-sendfile", OFFLOAD_SENDFILE }, { "x-accel-redirect", OFFLOAD_ACCEL },
	{ "none", OFFLOAD_NONE },
};

#define CHOICES(words, compare, advice) { words, sizeof words / sizeof *words, compare, advice }
static const struct choices bools = CHOICES(bool_words, strcasecmp, "use true or false");
/* A backend is named in lower case only. */
static const struct choices backends = CHOICES(backend_words, strcmp, "use filesystem, gcs or s3");
static const struct choices offloads = CHOICES(offload_words, strcasecmp,
					       "use auto, x-sendfile, x-accel-redirect or none");

/* The value the word v stands for, into *value; any other word is a
 * problem, told in err: -EINVAL. */
static int choose(const struct choices *c, const struct setting *s, const char *v, int *value,
		  char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->compare(v, c->words[i].word) == 0) {
			*value = c->words[i].value;
			return 0;
		}
	problem(err, errlen, "%s=%s is not valid: %s", s->name, v, c->advice);
	return -EINVAL;
}

/* A path must be absolute, and short enough to be joined with names. */
static int check_path(const struct setting *s, const char *v, char *err, size_t errlen)
{
	if (*v != '/') {
		problem(err, errlen, "%s=%s must be an absolute path", s->name, v);
		return -EINVAL;
	}
	if (strlen(v) > MAX_PATH_SETTING) {
		problem(err, errlen, "%s is longer than %d characters", s->name, MAX_PATH_SETTING);
		return -EINVAL;
	}
	return 0;
}

static int parse_number(const struct setting *s, const char *v, int *value, char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < s->min || n > s->max) {
		problem(err, errlen, "%s=%s is not valid: give a whole number from %d to %d",
			s->name, v, s->min, s->max);
		return -EINVAL;
	}
	*value = (int)n;
	return 0;
}

static int set_value(struct config *cfg, const struct setting *s, const char *v,
		     char *err, size_t errlen)
{
	void *field = (char *)cfg + s->offset;
	int n, rc;

	switch (s->kind) {
	case PATH:
	case URLPATH:
		if ((rc = check_path(s, v, err, errlen)) < 0)
			return rc;
		/* fall through */
	case TEXT:
	case SECRET:
		return (*(char **)field = strdup(v)) ? 0 : -ENOMEM;
	case NUMBER:
		return parse_number(s, v, field, err, errlen);
	case BOOL:
		return choose(&bools, s, v, field, err, errlen);
	case BACKEND:
		if ((rc = choose(&backends, s, v, &n, err, errlen)) == 0)
			*(enum storage_kind *)field = (enum storage_kind)n;
		return rc;
	case OFFLOAD:
		if ((rc = choose(&offloads, s, v, &n, err, errlen)) == 0)
			*(enum offload *)field = (enum offload)n;
		return rc;
	}
	return -EINVAL;
}

/* Whether setting i (one of the three sources) came from origin. */
static int from(const struct config *cfg, size_t i, const char *origin)
{
	return *(char *const *)((const char *)cfg + settings[i].offset) &&
	       strcmp(cfg->origin[i], origin) == 0;
}

/* A source set in the environment wins over one in the file; among those
 * of one origin, Nixery's order: a channel, a repository, a path. */
static int pick_source(struct config *cfg, char *err, size_t errlen)
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
					 names[0] ? " and " : "", settings[i].name);
		problem(err, errlen, "%s are both set in the %s: set exactly one package source",
			names, origin);
		return -EINVAL;
	}
	if (from(cfg, CHANNEL, origin)) {
		if (!is_safe_word(cfg->channel)) {
			problem(err, errlen, "NIXERY_CHANNEL=%s is not a channel name or commit", cfg->channel);
			return -EINVAL;
		}
		cfg->source = SOURCE_CHANNEL;
		cfg->source_arg = cfg->channel;
	} else if (from(cfg, REPO, origin)) {
		if (*cfg->pkgs_repo == '-') {
			problem(err, errlen, "NIXERY_PKGS_REPO must be a repository URL or path");
			return -EINVAL;
		}
		cfg->source = SOURCE_GIT;
		cfg->source_arg = cfg->pkgs_repo;
	} else if (from(cfg, LOCAL, origin)) {
		cfg->source = SOURCE_PATH;
		cfg->source_arg = cfg->pkgs_path;
	} else {
		problem(err, errlen, "no package source: set NIXERY_CHANNEL, NIXERY_PKGS_REPO or NIXERY_PKGS_PATH");
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
static int check_storage(struct config *cfg, char *err, size_t errlen)
{
	int rc = 0;

	if (cfg->gcs_bucket && !is_bucket_name(cfg->gcs_bucket)) {
		problem(err, errlen, "GCS_BUCKET=%s is not a bucket name (lower-case letters, digits, '-', '_', '.')",
			cfg->gcs_bucket);
		rc = -EINVAL;
	}
	if (cfg->s3_bucket && !is_bucket_name(cfg->s3_bucket)) {
		problem(err, errlen, "S3_BUCKET=%s is not a bucket name (lower-case letters, digits, '-', '.')",
			cfg->s3_bucket);
		rc = -EINVAL;
	}
	if (cfg->gcs_endpoint && !is_endpoint(cfg->gcs_endpoint, 0)) {
		problem(err, errlen, "STORAGE_EMULATOR_HOST=%s is not a host[:port] or http(s)://host[:port]",
			cfg->gcs_endpoint);
		rc = -EINVAL;
	}
	if (cfg->s3_endpoint && !is_endpoint(cfg->s3_endpoint, 1)) {
		problem(err, errlen, "AWS_ENDPOINT_URL=%s is not an http(s)://host[:port] URL", cfg->s3_endpoint);
		rc = -EINVAL;
	}
	if (cfg->s3_region && !is_safe_word(cfg->s3_region)) {
		problem(err, errlen, "AWS_REGION=%s is not a region name", cfg->s3_region);
		rc = -EINVAL;
	}
	if (cfg->s3_path_style < 0)
		cfg->s3_path_style = cfg->s3_endpoint != NULL;
	if (cfg->storage == STORAGE_GCS && !cfg->gcs_bucket) {
		problem(err, errlen, "NIXERY_STORAGE_BACKEND=gcs needs GCS_BUCKET");
		rc = -EINVAL;
	}
	if (cfg->gcs_metadata_host &&
	    (strstr(cfg->gcs_metadata_host, "://") || !is_endpoint(cfg->gcs_metadata_host, 0))) {
		problem(err, errlen, "GCE_METADATA_HOST=%s is not a host[:port]", cfg->gcs_metadata_host);
		rc = -EINVAL;
	}
	if (cfg->storage == STORAGE_S3 && (!cfg->s3_bucket || !cfg->s3_access_key || !cfg->s3_secret_key)) {
		problem(err, errlen, "NIXERY_STORAGE_BACKEND=s3 needs S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
		rc = -EINVAL;
	}
	return rc;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct file_values fv = { { 0 } };
	const char *env_path = getenv("NIXERY_CONFIG");
	size_t i;
	int rc = 0;

	memset(cfg, 0, sizeof *cfg);
	cfg->s3_path_style = -1;
	err[0] = '\0';
	if (!path && env_path && *env_path)
		path = env_path;
	if (read_file(cfg, path ? path : config_default_file, path != NULL, &fv, err, errlen) < 0)
		rc = -EINVAL;
	for (i = 0; i < NSETTINGS; i++) {
		const char *env = getenv(settings[i].name), *v;

		if (env && *env) {
			v = env;
			cfg->origin[i] = "environment";
		} else if (fv.value[i]) {
			v = fv.value[i];
			cfg->origin[i] = "file";
		} else {
			v = settings[i].fallback;
			cfg->origin[i] = "default";
		}
		if (v && set_value(cfg, &settings[i], v, err, errlen) < 0)
			rc = -EINVAL;
	}
	if (pick_source(cfg, err, errlen) < 0 || check_storage(cfg, err, errlen) < 0)
		rc = -EINVAL;
	if (!cfg->max_builds)
		cfg->max_builds = cores();
	if (!cfg->pack_threads)
		cfg->pack_threads = cores();
	for (i = 0; i < NSETTINGS; i++)
		free(fv.value[i]);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].kind == TEXT || settings[i].kind == PATH || settings[i].kind == URLPATH ||
		    settings[i].kind == SECRET)
			free(*(char **)((char *)cfg + settings[i].offset));
	free(cfg->file);
	memset(cfg, 0, sizeof *cfg);
}

static const char *offload_name(enum offload o)
{
	return o == OFFLOAD_AUTO ? "auto" : o == OFFLOAD_SENDFILE ? "x-sendfile" :
	       o == OFFLOAD_ACCEL ? "x-accel-redirect" : "none";
}

const char *config_storage_name(enum storage_kind k)
{
	return k == STORAGE_GCS ? "gcs" : k == STORAGE_S3 ? "s3" : "filesystem";
}

enum offload config_offload_for(const char *server_software)
{
	if (!server_software)
		return OFFLOAD_NONE;
	if (strncasecmp(server_software, "nginx", 5) == 0)
		return OFFLOAD_ACCEL;
	if (strncasecmp(server_software, "lighttpd", 8) == 0 || strncasecmp(server_software, "Apache", 6) == 0)
		return OFFLOAD_SENDFILE;
	return OFFLOAD_NONE;
}

/* The path a setting's value names on this host, or NULL: every PATH,
 * and a TEXT that is an absolute path or a file:// URL (a local git
 * repository, popularity data on disk). */
static const char *host_path(const struct config *cfg, const struct setting *s)
{
	const char *v;

	if (s->kind != PATH && s->kind != TEXT)
		return NULL;
	v = *(char *const *)((const char *)cfg + s->offset);
	if (v && s->kind == TEXT && strncmp(v, "file://", 7) == 0)
		v += 7;
	return v && (s->kind == PATH || *v == '/') ? v : NULL;
}

const char *config_host_path(const struct config *cfg, size_t i, const char **name)
{
	size_t k;

	for (k = 0; k < NSETTINGS; k++)
		if (host_path(cfg, &settings[k]) && i-- == 0) {
			*name = settings[k].name;
			return host_path(cfg, &settings[k]);
		}
	if (cfg->file && i == 0) {
		*name = "NIXERY_CONFIG";
		return cfg->file;
	}
	return NULL;
}

void config_print(const struct config *cfg, struct buf *out)
{
	size_t i;

	buf_printf(out, "configuration file: %s\n", cfg->file ? cfg->file : "none (defaults and environment)");
	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const void *field = (const char *)cfg + s->offset;
		char number[32];
		const char *v = NULL;

		if (s->kind == NUMBER) {
			snprintf(number, sizeof number, "%d", *(const int *)field);
			v = number;
		} else if (s->kind == BOOL) {
			v = *(const int *)field ? "true" : "false";
		} else if (s->kind == BACKEND) {
			v = config_storage_name(*(const enum storage_kind *)field);
		} else if (s->kind == SECRET) {
			v = *(char *const *)field ? "(set, not shown)" : NULL;
		} else if (s->kind == OFFLOAD) {
			v = offload_name(*(const enum offload *)field);
		} else {
			v = *(char *const *)field;
		}
		buf_printf(out, "  %-22s %-40s (%s)\n", s->name, v ? v : "-", v ? cfg->origin[i] : "unset");
	}
}

/* A folder the workers must write: it exists, and this user may write it. */
static int check_writable(const char *name, const char *dir, struct buf *out)
{
	struct stat st;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		buf_printf(out, "%s %s does not exist: create it (mkdir -p %s) and give it to the user the workers run as\n",
			   name, dir, dir);
		return 1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		buf_printf(out, "%s %s is not writable by this user (uid %d): chown it to the user the workers run as\n",
			   name, dir, (int)geteuid());
		return 1;
	}
	return 0;
}

int config_check(const struct config *cfg, struct buf *out)
{
	char path[4096];
	int problems = 0;

	problems += check_writable("STORAGE_PATH", cfg->storage_path, out);
	problems += check_writable("NIXERY_STATE_DIR", cfg->state_dir, out);
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
