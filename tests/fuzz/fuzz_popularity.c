/* libFuzzer: popularity data (core/popularity.h), Nixery's JSON format. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/popularity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = strndup((const char *)data, size), err[256];
	struct popularity *p;

	if (!json)
		return 0;
	if (popularity_parse(json, &p, err, sizeof err) == 0) {
		popularity_lookup(p, "glibc-2.37-8");
		popularity_free(p);
	}
	free(json);
	return 0;
}
