/* One name, every platform: a request for several platforms, evaluated
 * for all of them at once, answered with an image index of one image per
 * platform. Each platform's image is an image as any other (its own key,
 * layers, lock, build slot and build record, shared with the hosts of a
 * bucket), built side by side with the others; the index is cached like
 * an image, by a key of every platform's image and the platforms left
 * out. A platform whose packages the package set does not offer (unknown
 * there, refused, or not in meta.platforms) is left out of the index,
 * which says so in an annotation, as the log and the landing page do. */
#ifndef NIXERY_INDEX_H
#define NIXERY_INDEX_H

#include "builder/request.h"

/* The evaluated request r (r->evs, one per platform of r->plat) to its
 * index: from the cache, or made under the index's lock from each
 * platform's image, cached or built. Returns as builder_image does. */
int index_resolve(struct request *r);

#endif
