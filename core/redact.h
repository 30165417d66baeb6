/* What a client is told of a failure names no folder or file of the host.
 * Messages say where things went wrong (a blob's file, STORAGE_PATH, the
 * state folder, image.nix, the package set): the log needs that, a client
 * has no business with it. Each path a setting names (config_host_path)
 * becomes the setting's name, so that the message still says which one:
 * "cannot store blob <hex> in STORAGE_PATH/blobs/sha256/<hex>: ...".
 * Paths in the Nix store are the user's diagnostic and stay. */
#ifndef NIXERY_REDACT_H
#define NIXERY_REDACT_H

#include <stddef.h>

#include "core/config.h"

/* Writes message into out (always terminated) with each host path the
 * settings name replaced by its setting's name; where the message names
 * the setting just before the path ("under STORAGE_PATH /var/lib/..."),
 * the name is not said twice. Returns how many paths it replaced. */
int redact_host_paths(const struct config *cfg, const char *message, char *out, size_t outlen);

#endif
