/* The symlink layer: what makes the store paths usable as a root file
 * system. Like nixpkgs' buildEnv, every file of the requested packages gets
 * a link at the same place under / (/bin/hello -> /nix/store/...-hello/bin/hello;
 * the first package in order wins a conflict), plus what programs expect of
 * a Unix system: /tmp (1777), /usr/bin/env, /etc/passwd and /etc/group with
 * root and nobody, and the CA bundle under both of its usual names. For a
 * nonroot image also the user IMAGE_USER and its home directory. */
#ifndef NIXERY_ROOTFS_H
#define NIXERY_ROOTFS_H

#include <stddef.h>

#include "core/image.h"
#include "core/tarball.h"

int rootfs_pack(struct tarball *t, char *const *outputs, size_t noutputs, int nonroot,
		char *err, size_t errlen);

#endif
