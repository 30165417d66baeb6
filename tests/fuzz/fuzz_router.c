/* libFuzzer: the router (fcgi/router.h), with a method, a path and a
 * query: the input is METHOD, a newline, then the request URI. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size), *uri;
	struct reply rep = { 0 };
	struct route rt;

	if (!text)
		return 0;
	uri = strchr(text, '\n');
	if (uri)
		*uri++ = '\0';
	router_parse(text, uri ? uri : "", &rt, &rep);
	reply_free(&rep);
	free(text);
	return 0;
}
