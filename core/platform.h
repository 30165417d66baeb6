/* Platforms an image is built for: the OCI names clients use
 * (linux/arm64), the fields of an image index's platform and of the image
 * config (os, architecture, variant), and the Nix system that builds it
 * (aarch64-linux). One table, so that a name and its system never part. */
#ifndef NIXERY_PLATFORM_H
#define NIXERY_PLATFORM_H

#include <stddef.h>

/* As many as the table knows: NIXERY_PLATFORMS names each at most once. */
#define PLATFORM_MAX 8

struct platform {
	const char *name;      /* os/architecture[/variant]: linux/arm64 */
	const char *os;        /* linux */
	const char *arch;      /* the OCI architecture: amd64, arm64 */
	const char *variant;   /* v8 for arm64, "" where there is none */
	const char *system;    /* the Nix system: aarch64-linux */
};

/* The platform a name stands for: its own (linux/arm64), Docker's other
 * spellings (linux/arm64/v8, linux/aarch64, linux/x86_64, linux/arm), or
 * its Nix system (aarch64-linux); case is ignored. NULL for any other. */
const struct platform *platform_find(const char *name, size_t len);

/* This host's own platform, the one it builds for without emulation. */
const struct platform *platform_host(void);

/* A list of platforms separated by spaces or commas, each once, at least
 * one and at most PLATFORM_MAX: 0, or -EINVAL with the reason in err. */
int platform_parse_list(const char *text, const struct platform **out, size_t *n,
			char *err, size_t errlen);

/* The names of a list, separated by sep: "linux/amd64 linux/arm64". */
void platform_list_text(const struct platform *const *list, size_t n, const char *sep,
			char *out, size_t len);

/* The table, for counters kept per platform: its i-th entry (NULL past the
 * last), and an entry's place in it. */
const struct platform *platform_at(size_t i);
size_t platform_index(const struct platform *p);

#endif
