/* An HTTP reply as the registry builds it, before anything is written:
 * status, headers, and a body held in memory or a blob file to send. Only
 * send.c turns it into FastCGI output. */
#ifndef NIXERY_REPLY_H
#define NIXERY_REPLY_H

#include <stdint.h>

#include "core/buf.h"

struct reply {
	int status;
	char content_type[128];
	char digest[80];       /* Docker-Content-Digest, when set */
	const char *allow;     /* Allow, on 405 */
	int vary_accept;       /* the answer depends on Accept */
	int retry_after;       /* seconds, for a 503 or 507; 0: none */
	char link[600];        /* Link, to a listing's next page */
	char location[4096];   /* Location, of a 303 to a bucket's object */
	struct buf body;
	char file[4096];       /* a blob to send instead of body */
	uint64_t file_size;
	char file_hex[65];
};

/* Sets a registry error: status, {"errors":[{"code","message","detail"}]}.
 * detail is a JSON value (taken over) or NULL. */
void reply_error(struct reply *r, int status, const char *code, const char *message,
		 void *detail);
void reply_json(struct reply *r, int status, const char *json);
void reply_free(struct reply *r);

#endif
