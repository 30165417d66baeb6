/* libFuzzer: the closure reader (core/closure.h) on `nix-store --dump-db`
 * text; the first line also names the requested output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/closure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *dump = strndup((const char *)data, size), *top, err[512];
	struct closure c;

	if (!dump)
		return 0;
	top = strndup(dump, strcspn(dump, "\n"));
	if (top && closure_parse(dump, &top, 1, &c, err, sizeof err) == 0)
		closure_free(&c);
	free(top);
	free(dump);
	return 0;
}
