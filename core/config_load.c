/* The settings loaded: read from the settings file and from the
 * environment, which wins, each value parsed by its kind (config.c has
 * the table of them); what they must be together is checked by
 * config_check.c. */
#include "core/config_settings.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/policy.h"

#ifndef NIXERY_SYSCONFDIR
#define NIXERY_SYSCONFDIR "/etc"
#endif
const char config_default_file[] = NIXERY_SYSCONFDIR "/nixery-fcgi.conf";
#define MAX_FILE (64u << 10)
/* Paths are joined with file names into 4096-byte buffers. */
#define MAX_PATH_SETTING 3000

/* The parsed file: values by setting index. */
struct file_values {
	char *value[CONFIG_SETTINGS];
};

/* The fallback of the settings that scale with the machine. */
static int cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static long find_setting(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < config_nsettings; i++)
		if (strlen(config_settings[i].name) == len && strncmp(config_settings[i].name, name, len) == 0)
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
			config_problem(err, errlen, "%s:%d: expected NAME = value", path, lineno);
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
			config_problem(err, errlen, "%s:%d: unknown setting %s (see nixery-fcgi(8))", path, lineno, name);
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
		config_problem(err, errlen, "cannot read the configuration file %s: %s", path, strerror(errno));
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
		config_problem(err, errlen, "%s is larger than %u bytes", path, MAX_FILE);
		free(text);
		return -EINVAL;
	}
	text[n] = '\0';
	rc = parse_file(path, text, fv, err, errlen);
	free(text);
	cfg->file = strdup(path);
	return rc;
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
	config_problem(err, errlen, "%s=%s is not valid: %s", s->name, v, c->advice);
	return -EINVAL;
}

/* A path must be absolute, and short enough to be joined with names. */
static int check_path(const struct setting *s, const char *v, char *err, size_t errlen)
{
	if (*v != '/') {
		config_problem(err, errlen, "%s=%s must be an absolute path", s->name, v);
		return -EINVAL;
	}
	if (strlen(v) > MAX_PATH_SETTING) {
		config_problem(err, errlen, "%s is longer than %d characters", s->name, MAX_PATH_SETTING);
		return -EINVAL;
	}
	return 0;
}

/* A list of user names or package patterns (core/policy.h). */
static int check_list(const struct setting *s, const char *v, char *err, size_t errlen)
{
	char bad[POLICY_WORD_MAX + 2];

	if (policy_list_valid(v, s->kind == USERS ? policy_user_valid : policy_pattern_valid, bad, sizeof bad) == 0)
		return 0;
	if (s->kind == USERS)
		config_problem(err, errlen, "%s: '%s' is not a user name: list user names as the web server passes "
			       "them (REMOTE_USER), or * for any user it authenticated; unset, anyone may build",
			       s->name, bad);
	else
		config_problem(err, errlen, "%s: '%s' is not a package pattern: use attribute paths of letters, "
			       "digits and . _ - +, with * ? [ ] (python3Packages.*)", s->name, bad);
	return -EINVAL;
}

static int parse_number(const struct setting *s, const char *v, int *value, char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < s->min || n > s->max) {
		config_problem(err, errlen, "%s=%s is not valid: give a whole number from %d to %d",
			       s->name, v, s->min, s->max);
		return -EINVAL;
	}
	*value = (int)n;
	return 0;
}

/* The list, parsed: its text kept for printing. */
static int set_platforms(struct config *cfg, const struct setting *s, const char *v, char *err, size_t errlen)
{
	char why[256];

	if (platform_parse_list(v, cfg->platforms, &cfg->nplatforms, why, sizeof why) < 0) {
		config_problem(err, errlen, "%s=%s is not valid: %s", s->name, v, why);
		return -EINVAL;
	}
	return (cfg->platforms_text = strdup(v)) ? 0 : -ENOMEM;
}

static int set_value(struct config *cfg, const struct setting *s, const char *v,
		     char *err, size_t errlen)
{
	void *field = (char *)cfg + s->offset;
	int n, rc;

	switch (s->kind) {
	case USERS:
	case PATTERNS:
		if ((rc = check_list(s, v, err, errlen)) < 0)
			return rc;
		return (*(char **)field = strdup(v)) ? 0 : -ENOMEM;
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
	case PLATFORMS:
		return set_platforms(cfg, s, v, err, errlen);
	}
	return -EINVAL;
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
	for (i = 0; i < config_nsettings; i++) {
		const char *env = getenv(config_settings[i].name), *v;

		if (env && *env) {
			v = env;
			cfg->origin[i] = "environment";
		} else if (fv.value[i]) {
			v = fv.value[i];
			cfg->origin[i] = "file";
		} else {
			v = config_settings[i].fallback;
			cfg->origin[i] = "default";
		}
		if (v && set_value(cfg, &config_settings[i], v, err, errlen) < 0)
			rc = -EINVAL;
	}
	if (config_pick_source(cfg, err, errlen) < 0 || config_check_storage(cfg, err, errlen) < 0)
		rc = -EINVAL;
	if (!cfg->max_builds)
		cfg->max_builds = cores();
	if (!cfg->pack_threads)
		cfg->pack_threads = cores();
	if (!cfg->nplatforms) {
		cfg->platforms[0] = platform_host();
		cfg->nplatforms = 1;
	}
	for (i = 0; i < config_nsettings; i++)
		free(fv.value[i]);
	if (rc < 0)
		config_free(cfg);
	return rc;
}
