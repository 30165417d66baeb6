/* libFuzzer: Accept header negotiation (core/manifest.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *accept = strndup((const char *)data, size);

	if (!accept)
		return 0;
	manifest_negotiate(accept);
	free(accept);
	return 0;
}
