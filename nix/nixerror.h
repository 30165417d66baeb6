/* Nix's errors in the words a user reads (nixerror.c). */
#ifndef NIXERY_NIXERROR_H
#define NIXERY_NIXERROR_H

#include <stddef.h>

/* Nix's last "error:" and what follows, and for a failed builder the last
 * line it printed before (the build log's last word), from the tail of
 * what Nix printed on standard error. */
void nix_error_text(const char *tail, char *out, size_t outlen);
/* The first line of Nix's last error: the reason, without the trace. */
void nix_error_reason(const char *tail, char *out, size_t outlen);

#endif
