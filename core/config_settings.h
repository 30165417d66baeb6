/* What the files of the settings share (config.c has their table,
 * config_load.c loads them, config_check.c checks them, config_print.c
 * puts them in words): every setting's name, kind, fallback and bounds.
 * Only core/config*.c see this. */
#ifndef NIXERY_CONFIG_SETTINGS_H
#define NIXERY_CONFIG_SETTINGS_H

#include <stddef.h>

#include "core/config.h"

enum kind {
	TEXT,        /* a word (channel, URL) */
	PATH,        /* an absolute path on this host */
	URLPATH,     /* an absolute path of URLs, not of this host */
	NUMBER,      /* a whole number between min and max */
	OFFLOAD,     /* auto | x-sendfile | x-accel-redirect | none */
	BACKEND,     /* filesystem | gcs | s3 */
	BOOL,        /* true | false (yes, no, 1, 0) */
	SECRET,      /* a word that is never printed */
	PLATFORMS,   /* platforms, os/architecture[/variant], by spaces or commas */
	USERS,       /* user names, or "*" (core/policy.h) */
	PATTERNS,    /* package patterns (core/policy.h) */
};

struct setting {
	const char *name;
	const char *fallback;   /* NULL: unset unless given */
	enum kind kind;
	size_t offset;          /* of a char *, an int or an enum */
	int min, max;
};

/* The package sources, in Nixery's order of precedence: the first three
 * settings. */
enum { CHANNEL, REPO, LOCAL };

/* The table (config.c), config_nsettings long. */
extern const struct setting config_settings[];
extern const size_t config_nsettings;

/* Appends a line to err, the list of problems found. */
void config_problem(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks of the values loaded (config_check.c): a package source picked,
 * the bucket settings sound; -EINVAL with the problems in err. */
int config_pick_source(struct config *cfg, char *err, size_t errlen);
int config_check_storage(struct config *cfg, char *err, size_t errlen);

#endif
