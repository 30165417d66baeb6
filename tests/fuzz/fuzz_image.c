/* libFuzzer: image names as they come from a request path (core/image.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = strndup((const char *)data, size), err[256];
	struct image_request req;

	if (!name)
		return 0;
	image_name_valid(name);
	if (image_parse(name, &req, err, sizeof err) == 0) {
		free(image_packages_json(&req));
		image_request_free(&req);
	}
	free(name);
	return 0;
}
