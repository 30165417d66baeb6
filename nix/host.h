/* This host as Nix needs it (host.c): an environment Nix can write in,
 * and what Nix needs here to build, checked. */
#ifndef NIXERY_HOST_H
#define NIXERY_HOST_H

#include "core/buf.h"

/* Nix needs a home it can write (caches, ~/.nix-defexpr): a worker that a
 * spawner started as another user may have inherited root's. When HOME, or
 * XDG_CACHE_HOME, cannot be written, points it at a folder under
 * state_dir. Once, before any thread starts; returns what it changed, in
 * words, or NULL. */
const char *nix_environment(const char *state_dir);

/* Whether Nix can build here: its tools on PATH; for a user that needs it,
 * a daemon that answers; without one, a store this user may write and the
 * build users Nix is set to use. Appends one line of advice per problem
 * and returns their number. */
int nix_check(struct buf *out);

/* Whether Nix here builds for each of the systems (NIXERY_PLATFORMS):
 * its own, one of its extra-platforms, or one its builders name. Appends
 * one line of advice per system it cannot build for and returns their
 * number. */
int nix_check_systems(const char *const *systems, size_t n, struct buf *out);

#endif
