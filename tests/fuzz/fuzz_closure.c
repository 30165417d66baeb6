/* libFuzzer: the closure reader (core/closure.h) on what
 * `nix path-info --json --recursive` prints, with and without a requested
 * output that the seeds hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/closure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const top[] = { "/nix/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a" };
	char *json = strndup((const char *)data, size), err[512];
	struct closure c;

	if (!json)
		return 0;
	if (closure_parse(json, NULL, 0, &c, err, sizeof err) == 0)
		closure_free(&c);
	if (closure_parse(json, top, 1, &c, err, sizeof err) == 0)
		closure_free(&c);
	free(json);
	return 0;
}
