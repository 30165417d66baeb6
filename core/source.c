#include "core/source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static int is_commit(const char *s)
{
	size_t i;

	for (i = 0; i < 40; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[40] == '\0';
}

int source_tag_valid(const char *tag)
{
	size_t i;

	for (i = 0; tag[i]; i++) {
		char c = tag[i];
		int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '_';

		if (i >= 128 || !(word || (i > 0 && (c == '.' || c == '-'))))
			return 0;
	}
	return i > 0;
}

static char *git_args(const char *url, const char *tag)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (!o || !cJSON_AddStringToObject(o, "url", url))
		goto out;
	if (is_commit(tag)) {
		if (!cJSON_AddStringToObject(o, "rev", tag))
			goto out;
	} else if (strcmp(tag, "latest") != 0) {
		if (!cJSON_AddStringToObject(o, "ref", tag))
			goto out;
	}
	s = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return s;
}

int source_resolve(const struct config *cfg, const char *tag, struct source *src)
{
	memset(src, 0, sizeof *src);
	switch (cfg->source) {
	case SOURCE_CHANNEL:
		src->type = "nixpkgs";
		src->args = strdup(cfg->source_arg);
		src->pinned = is_commit(cfg->source_arg);
		break;
	case SOURCE_GIT:
		src->type = "git";
		src->args = git_args(cfg->source_arg, tag);
		src->pinned = is_commit(tag);
		break;
	case SOURCE_PATH:
		src->type = "path";
		src->args = strdup(cfg->source_arg);
		break;
	}
	return src->args ? 0 : -ENOMEM;
}

void source_free(struct source *src)
{
	free(src->args);
	src->args = NULL;
}
