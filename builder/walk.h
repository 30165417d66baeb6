/* The blobs an image names, whether its manifest is one image's or an
 * image index's: for an index, each manifest it names and that manifest's
 * config and layers, read from storage. For the callers that must see a
 * whole image: the check of a cached image, the tag files, the garbage
 * collector, the operators' sizes. */
#ifndef NIXERY_WALK_H
#define NIXERY_WALK_H

#include "core/manifest.h"
#include "storage/storage.h"

/* Calls fn for each blob json names (an index: each manifest, then its
 * blobs), stopping at the first non-zero result, which it returns;
 * -EINVAL for what is neither a manifest nor an index, and -ENOENT for a
 * manifest of the index that cannot be read or is none (its image's own
 * reader forgets it). */
int walk_image(const struct storage *s, const char *json, manifest_blob_fn fn, void *ctx);

/* The first manifest an index names: 0 with its digest in hex, -EINVAL
 * for an index that names none, or for no index. */
int walk_first_child(const char *index_json, char hex[DIGEST_HEX_LEN + 1]);

#endif
