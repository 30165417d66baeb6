/* A reply as FastCGI output (send.c): what only nixery-fcgi itself does,
 * beside the library the tests drive. */
#ifndef NIXERY_SEND_H
#define NIXERY_SEND_H

#include <fcgiapp.h>

#include "core/config.h"
#include "fcgi/reply.h"

/* Writes rep to req's output, without a body for a HEAD request (head);
 * a blob goes as cfg's offload, or as the web server (SERVER_SOFTWARE)
 * takes it. A blob to stream that cannot be opened is answered 404. */
void send_reply(FCGX_Request *req, const struct config *cfg, struct reply *rep, int head);

#endif
