#include "core/redact.h"

#include <string.h>

/* Characters that continue a path's name: a setting's path found inside a
 * longer name ("/srv/storage2", "/mnt/srv/storage") is another file. */
static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '~' || c == '+' || c == '.';
}

/* Whether the path, len bytes, ends here rather than going on: a '.' that
 * ends a sentence ends it too. */
static int ends_at(const char *after)
{
	if (*after == '.')
		return !name_char(after[1]) && after[1] != '/';
	return !name_char(*after);
}

/* The longest host path that starts at p, its length in *len (0: none). */
static const char *match_at(const struct config *cfg, const char *p, size_t *len)
{
	const char *name, *best = NULL, *path;
	size_t i, n;

	*len = 0;
	for (i = 0; (path = config_host_path(cfg, i, &name)); i++) {
		n = strlen(path);
		/* A folder given with a trailing '/' is the same folder. */
		while (n > 1 && path[n - 1] == '/')
			n--;
		if (n > 1 && n > *len && strncmp(p, path, n) == 0 && ends_at(p + n)) {
			best = name;
			*len = n;
		}
	}
	/* And the folder's trailing '/', where no name follows it. */
	if (best && p[*len] == '/' && p[*len + 1] != '/' && ends_at(p + *len + 1))
		(*len)++;
	return best;
}

/* Whether out (used bytes) ends with "<name> ": the message names the
 * setting whose path follows. */
static int names_setting(const char *out, size_t used, const char *name)
{
	size_t n = strlen(name);

	return used > n && out[used - 1] == ' ' && strncmp(out + used - 1 - n, name, n) == 0 &&
	       (used == n + 1 || !name_char(out[used - 2 - n]));
}

int redact_host_paths(const struct config *cfg, const char *message, char *out, size_t outlen)
{
	const char *p = message, *name;
	size_t used = 0, len;
	int hidden = 0;

	if (!outlen)
		return 0;
	while (*p && used + 1 < outlen) {
		name = (p == message || !name_char(p[-1])) ? match_at(cfg, p, &len) : NULL;
		if (!name) {
			out[used++] = *p++;
			continue;
		}
		if (names_setting(out, used, name)) {
			used--;
		} else {
			size_t n = strlen(name);

			if (n > outlen - 1 - used)
				n = outlen - 1 - used;
			memcpy(out + used, name, n);
			used += n;
		}
		p += len;
		hidden++;
	}
	out[used] = '\0';
	return hidden;
}
