/* Image config and manifest JSON, Docker schema 2 or OCI, and the choice
 * between the two from a client's Accept header. */
#ifndef NIXERY_MANIFEST_H
#define NIXERY_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"

#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define MEDIA_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MEDIA_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define MEDIA_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_OCI_INDEX       "application/vnd.oci.image.index.v1+json"

/* The largest manifest the registry reads back: a few KiB in practice. */
#define MANIFEST_MAX_BYTES (4u << 20)

enum manifest_format { MANIFEST_DOCKER, MANIFEST_OCI };

struct manifest_layer {
	char digest[DIGEST_HEX_LEN + 1];
	char diff_id[DIGEST_HEX_LEN + 1];
	uint64_t size;
};

struct image_config {
	const char *arch;     /* amd64 or arm64 */
	int cmd_bash;         /* Cmd ["bash"] */
	int nonroot;          /* User IMAGE_USER_ID, its home as HOME and WorkingDir */
};

/* Both return compact JSON the caller frees, or NULL when out of memory. */
char *manifest_config_json(const struct image_config *ic,
			   const struct manifest_layer *layers, size_t n);
char *manifest_json(enum manifest_format f, const char *config_digest, uint64_t config_size,
		    const struct manifest_layer *layers, size_t n);

/* OCI when the client's Accept ranks the OCI manifest above Docker's (by
 * q-value, then by order); Docker schema 2 otherwise. */
enum manifest_format manifest_negotiate(const char *accept);
const char *manifest_media_type(enum manifest_format f);

/* Calls fn for the config and for each layer a manifest names, stopping at
 * the first non-zero result, which it returns; -EINVAL for what is not a
 * manifest. */
typedef int (*manifest_blob_fn)(void *ctx, const char *hex, uint64_t size);
int manifest_each_blob(const char *json, manifest_blob_fn fn, void *ctx);

#endif
