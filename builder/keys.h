/* The cache's keys: hashes of everything that determines a result, so
 * that a key names one result for good. Each is 0, or -ENOMEM when there
 * is no memory for the hash. */
#ifndef NIXERY_KEYS_H
#define NIXERY_KEYS_H

#include <stddef.h>

#include "core/digest.h"
#include "core/image.h"
#include "core/source.h"

/* Part of every key: a change to how images are laid out or packed must
 * never be answered from blobs made the old way. */
#define KEYS_FORMAT_VERSION "nixery-fcgi-format-1"

/* What a request asks for: pinned requests map to their image for good,
 * so everything that shapes the image is part of it, the budget too, and
 * the platforms it is for, in order (the request's own when n is 0; one
 * gives the key it always had, several the key of an index). */
int keys_request(char key[DIGEST_HEX_LEN + 1], const struct source *src,
		 const struct image_request *req, const struct platform *const *platforms, size_t n,
		 int max_layers);

/* The package-set hash: what the request evaluated to (its sorted output
 * paths), and everything else that shapes the image. */
int keys_image(char key[DIGEST_HEX_LEN + 1], const struct image_request *req,
	       char *const *outputs, size_t noutputs, int max_layers);

/* An image index: each platform, in order, with its image's key (NULL:
 * left out), and what the index says of those left out; the set of
 * platforms is part of it. */
int keys_index(char key[DIGEST_HEX_LEN + 1], const struct platform *const *platforms,
	       const char *const *image_keys, size_t n, const char *left_out);

/* A layer by the sorted store paths it holds. */
int keys_layer(char key[DIGEST_HEX_LEN + 1], char *const *paths, size_t n);

#endif
