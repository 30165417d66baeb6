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
#define MEDIA_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
/* The index's annotation that names the platforms left out, and why. */
#define MANIFEST_LEFT_OUT     "nixery-fcgi.platforms.left-out"

/* The largest manifest the registry reads back: a few KiB in practice. */
#define MANIFEST_MAX_BYTES (4u << 20)

enum manifest_format { MANIFEST_DOCKER, MANIFEST_OCI };

/* A blob a manifest or index names: its digest and size. */
typedef int (*manifest_blob_fn)(void *ctx, const char *hex, uint64_t size);

struct manifest_layer {
	char digest[DIGEST_HEX_LEN + 1];
	char diff_id[DIGEST_HEX_LEN + 1];
	uint64_t size;
};

struct image_config {
	const char *arch;     /* amd64 or arm64 */
	const char *variant;  /* v8 for arm64; NULL or "" for none */
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

/* What a client's Accept admits: the manifest it gets (manifest_negotiate),
 * and whether it takes an image index, which one: it names the OCI index
 * or the Docker manifest list with a q-value above 0 (a wildcard admits
 * none: a client that names no index may not read one), and the one it
 * ranks higher, by q-value then by order, as manifests are chosen. */
struct manifest_accept {
	enum manifest_format manifest;
	int index;                     /* an index is admitted */
	enum manifest_format index_format;   /* OCI index or Docker list */
};
/* What a client that names nothing takes: a Docker manifest, no index. */
#define MANIFEST_ACCEPT_DOCKER ((struct manifest_accept){ MANIFEST_DOCKER, 0, MANIFEST_DOCKER })
void manifest_negotiate_all(const char *accept, struct manifest_accept *out);
/* The index's media type: the OCI index or Docker's manifest list. */
const char *manifest_index_media_type(enum manifest_format f);

/* One manifest of an index, for its platform. */
struct manifest_entry {
	char digest[DIGEST_HEX_LEN + 1];
	uint64_t size;
	const char *os, *arch, *variant;   /* variant: NULL or "" for none */
};
/* An image index naming each entry's manifest (of format f) with its
 * platform, and, when left_out is neither NULL nor "", the annotation
 * MANIFEST_LEFT_OUT saying so. Compact JSON the caller frees, or NULL. */
char *manifest_index_json(enum manifest_format f, const struct manifest_entry *entries, size_t n,
			  const char *left_out);
/* Whether the JSON is an image index (it has "manifests"). */
int manifest_is_index(const char *json);
/* Calls fn for each manifest an index names, stopping as
 * manifest_each_blob does; -EINVAL for what is not an index. */
int manifest_each_child(const char *json, manifest_blob_fn fn, void *ctx);

/* Calls fn for the config and for each layer a manifest names, stopping at
 * the first non-zero result, which it returns; -EINVAL for what is not a
 * manifest. */
int manifest_each_blob(const char *json, manifest_blob_fn fn, void *ctx);

#endif
