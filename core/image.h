/* An image request: what the image path names, expanded and validated.
 * "shell/git/htop" -> packages [bashInteractive cacert coreutils git htop
 * iana-etc moreutils nano], system x86_64-linux, Cmd ["bash"]. */
#ifndef NIXERY_IMAGE_H
#define NIXERY_IMAGE_H

#include <stddef.h>

#include "core/platform.h"

#define IMAGE_NAME_MAX 255

struct image_request {
	char **packages;      /* attribute paths, sorted, without duplicates */
	size_t npackages;
	char **named;         /* those the path names itself: not a meta-package's, nor one
	                         every image gets; sorted, without duplicates */
	size_t nnamed;
	const struct platform *platform;  /* the platform built for */
	int platform_named;   /* the name chose it (the arm64 meta-package): one
			       * platform, not every one the registry serves */
	const char *system;   /* platform's Nix system: x86_64-linux */
	const char *arch;     /* platform's image config architecture: amd64 */
	int cmd_bash;         /* the image has bash: Cmd ["bash"] */
	int nonroot;          /* runs as the unprivileged user IMAGE_USER */
};

/* The user of nonroot images: uid and gid 1000, with a home directory. */
#define IMAGE_USER "user"
#define IMAGE_USER_ID 1000
#define IMAGE_USER_ID_TEXT "1000"
#define IMAGE_USER_HOME "/home/user"

/* Whether name matches the distribution spec's repository grammar:
 * lowercase components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* joined by '/'. */
int image_name_valid(const char *name);

/* Checks name against the registry's repository grammar, expands the
 * meta-packages (shell, arm64, nonroot) and adds the always-present packages.
 * The platform is the host's own unless the name chose one.
 * Returns -EINVAL with a reason for a name that is not valid. */
int image_parse(const char *name, struct image_request *req, char *err, size_t errlen);
void image_request_free(struct image_request *req);

/* Makes the request one for platform p (its system and arch too). */
void image_set_platform(struct image_request *req, const struct platform *p);

/* The package list as a JSON array of strings (caller frees), the form in
 * which names reach Nix: as data, never as source. */
char *image_packages_json(const struct image_request *req);

#endif
