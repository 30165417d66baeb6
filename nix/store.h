/* A session with the Nix store: one `nix-store --serve --write` process,
 * spoken to in the protocol of ssh:// stores. It answers the closure of
 * paths with their sizes and references, and holds paths against the
 * garbage collector (temporary roots) until the session ends, where a
 * `nix path-info` and a `nix-store --realise --add-root` cost a Nix
 * process's start each (about 50 ms). */
#ifndef NIXERY_STORE_H
#define NIXERY_STORE_H

#include <stddef.h>

#include "core/closure.h"
#include "core/deadline.h"

struct nix_store;

/* Starts the session; it answers its first question once Nix is up, so a
 * caller may start it early and do other work meanwhile. */
int nix_store_open(struct nix_store **out, char *err, size_t errlen);

/* Holds the paths until nix_store_close: 1 when every one is valid (and
 * so stays), 0 when some are not (being built, or being collected). */
int nix_store_hold(struct nix_store *s, char *const *paths, size_t n, const struct deadline *dl,
		   char *err, size_t errlen);

/* The runtime closure of the top-level paths, with sizes and references. */
int nix_store_closure(struct nix_store *s, char *const *tops, size_t ntops,
		      const struct deadline *dl, struct closure *c, char *err, size_t errlen);

/* Ends the session, and with it the hold. NULL is ignored. */
void nix_store_close(struct nix_store *s);

#endif
