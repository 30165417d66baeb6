#include "core/platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Docker's names and nixpkgs' systems; arm64 carries variant v8 as
 * containerd and Docker normalise it, so that an index entry matches
 * whichever a client asks for. */
static const struct platform table[PLATFORM_MAX] = {
	{ "linux/amd64", "linux", "amd64", "", "x86_64-linux" },
	{ "linux/arm64", "linux", "arm64", "v8", "aarch64-linux" },
	{ "linux/386", "linux", "386", "", "i686-linux" },
	{ "linux/arm/v7", "linux", "arm", "v7", "armv7l-linux" },
	{ "linux/arm/v6", "linux", "arm", "v6", "armv6l-linux" },
	{ "linux/riscv64", "linux", "riscv64", "", "riscv64-linux" },
	{ "linux/ppc64le", "linux", "ppc64le", "", "powerpc64le-linux" },
	{ "linux/s390x", "linux", "s390x", "", "s390x-linux" },
};
#define NTABLE (sizeof table / sizeof *table)

/* Other spellings clients and people use, and the entry each means. */
static const struct {
	const char *name;
	size_t entry;
} aliases[] = {
	{ "linux/arm64/v8", 1 }, { "linux/aarch64", 1 }, { "linux/x86_64", 0 }, { "linux/x86-64", 0 },
	{ "linux/arm", 3 }, { "linux/i386", 2 },
};

static int same(const char *a, const char *b, size_t len)
{
	return strlen(b) == len && strncasecmp(a, b, len) == 0;
}

const struct platform *platform_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NTABLE; i++)
		if (same(name, table[i].name, len) || same(name, table[i].system, len))
			return &table[i];
	for (i = 0; i < sizeof aliases / sizeof *aliases; i++)
		if (same(name, aliases[i].name, len))
			return &table[aliases[i].entry];
	return NULL;
}

const struct platform *platform_host(void)
{
#if defined(__aarch64__)
	return &table[1];
#elif defined(__i386__)
	return &table[2];
#elif defined(__riscv) && __riscv_xlen == 64
	return &table[5];
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return &table[6];
#elif defined(__s390x__)
	return &table[7];
#else
	return &table[0];
#endif
}

int platform_parse_list(const char *text, const struct platform **out, size_t *n, char *err, size_t errlen)
{
	const char *p = text;
	size_t i, len;

	*n = 0;
	for (;;) {
		const struct platform *found;

		p += strspn(p, " \t,");
		if (!*p)
			break;
		len = strcspn(p, " \t,");
		if (!(found = platform_find(p, len))) {
			snprintf(err, errlen, "'%.*s' is not a platform this registry knows: use linux/amd64, linux/arm64, "
				 "linux/386, linux/arm/v7, linux/arm/v6, linux/riscv64, linux/ppc64le or linux/s390x",
				 (int)(len > 64 ? 64 : len), p);
			return -EINVAL;
		}
		for (i = 0; i < *n; i++)
			if (out[i] == found) {
				snprintf(err, errlen, "%s is named twice", found->name);
				return -EINVAL;
			}
		out[(*n)++] = found;
		p += len;
	}
	if (*n == 0) {
		snprintf(err, errlen, "no platform is named: give at least one, such as linux/amd64");
		return -EINVAL;
	}
	return 0;
}

void platform_list_text(const struct platform *const *list, size_t n, const char *sep, char *out, size_t len)
{
	size_t i, used = 0;

	if (len)
		out[0] = '\0';
	for (i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? sep : "", list[i]->name);
}

const struct platform *platform_at(size_t i)
{
	return i < NTABLE ? &table[i] : NULL;
}

size_t platform_index(const struct platform *p)
{
	return (size_t)(p - table);
}
