/* SHA-256 digests as registries spell them: "sha256:" and 64 lowercase hex. */
#ifndef NIXERY_DIGEST_H
#define NIXERY_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_LEN 64
#define DIGEST_PREFIX "sha256:"

struct digest_ctx;

/* Accepts exactly "sha256:" followed by 64 lowercase hex digits and copies
 * the hex part to hex (65 bytes); anything else is -EINVAL. */
int digest_parse(const char *s, char hex[DIGEST_HEX_LEN + 1]);
int digest_is_hex(const char *s);

/* 0, or -ENOMEM when there is no memory for the hash's state. */
int digest_hex(const void *data, size_t len, char hex[DIGEST_HEX_LEN + 1]);

/* Streaming form, for data that never sits in memory whole. digest_new
 * is NULL without memory. */
struct digest_ctx *digest_new(void);
void digest_update(struct digest_ctx *d, const void *data, size_t len);
void digest_final(struct digest_ctx *d, char hex[DIGEST_HEX_LEN + 1]);
void digest_free(struct digest_ctx *d);

#endif
