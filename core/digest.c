#include "core/digest.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

int digest_is_hex(const char *s)
{
	size_t i;

	for (i = 0; i < DIGEST_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[DIGEST_HEX_LEN] == '\0';
}

int digest_parse(const char *s, char hex[DIGEST_HEX_LEN + 1])
{
	size_t plen = strlen(DIGEST_PREFIX);

	if (strncmp(s, DIGEST_PREFIX, plen) != 0 || !digest_is_hex(s + plen))
		return -EINVAL;
	memcpy(hex, s + plen, DIGEST_HEX_LEN + 1);
	return 0;
}

struct digest_ctx *digest_new(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx && !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return (struct digest_ctx *)ctx;
}

void digest_update(struct digest_ctx *d, const void *data, size_t len)
{
	EVP_DigestUpdate((EVP_MD_CTX *)d, data, len);
}

void digest_final(struct digest_ctx *d, char hex[DIGEST_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_DigestFinal_ex((EVP_MD_CTX *)d, md, &n);
	for (i = 0; i < n && i < DIGEST_HEX_LEN / 2; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[DIGEST_HEX_LEN] = '\0';
}

void digest_free(struct digest_ctx *d)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)d);
}

int digest_hex(const void *data, size_t len, char hex[DIGEST_HEX_LEN + 1])
{
	struct digest_ctx *d = digest_new();

	if (!d)
		return -ENOMEM;
	digest_update(d, data, len);
	digest_final(d, hex);
	digest_free(d);
	return 0;
}
