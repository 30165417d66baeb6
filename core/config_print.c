/* The settings in words: printed with where each came from, the names of
 * their values, and the paths of this host they name (core/redact.h hides
 * those from clients). */
#include "core/config_settings.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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

int config_tag_files_for(const char *server_software)
{
	return server_software && strncasecmp(server_software, "lighttpd", 8) == 0;
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

	for (k = 0; k < config_nsettings; k++)
		if (host_path(cfg, &config_settings[k]) && i-- == 0) {
			*name = config_settings[k].name;
			return host_path(cfg, &config_settings[k]);
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
	for (i = 0; i < config_nsettings; i++) {
		const struct setting *s = &config_settings[i];
		const void *field = (const char *)cfg + s->offset;
		char number[32], platforms[PLATFORM_MAX * 24];
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
		} else if (s->kind == PLATFORMS) {
			platform_list_text(cfg->platforms, cfg->nplatforms, " ", platforms, sizeof platforms);
			v = platforms;
		} else {
			v = *(char *const *)field;
		}
		buf_printf(out, "  %-22s %-40s (%s)\n", s->name, v ? v : "-", v ? cfg->origin[i] : "unset");
	}
}
