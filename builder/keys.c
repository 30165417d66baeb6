#include "builder/keys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A key over NUL-separated fields. */
static int key_of(char key[DIGEST_HEX_LEN + 1], const char *const *fields, size_t n,
		  char *const *more, size_t nmore)
{
	struct digest_ctx *d = digest_new();
	size_t i;

	if (!d)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		digest_update(d, fields[i], strlen(fields[i]) + 1);
	for (i = 0; i < nmore; i++)
		digest_update(d, more[i], strlen(more[i]) + 1);
	digest_final(d, key);
	digest_free(d);
	return 0;
}

int keys_request(char key[DIGEST_HEX_LEN + 1], const struct source *src,
		 const struct image_request *req, const struct platform *const *platforms, size_t n,
		 int max_layers)
{
	char budget[16], systems[PLATFORM_MAX * 32] = "index";
	const char *fields[] = { KEYS_FORMAT_VERSION, "request", src->type, src->args, req->system,
				 req->nonroot ? "nonroot" : "root", budget };
	size_t i, used = strlen(systems);

	snprintf(budget, sizeof budget, "%d", max_layers);
	/* One platform: its system, as before there were several. */
	if (n > 1) {
		for (i = 0; i < n; i++)
			used += (size_t)snprintf(systems + used, sizeof systems - used, " %s", platforms[i]->system);
		fields[4] = systems;
	} else if (n == 1) {
		fields[4] = platforms[0]->system;
	}
	return key_of(key, fields, sizeof fields / sizeof *fields, req->packages, req->npackages);
}

int keys_index(char key[DIGEST_HEX_LEN + 1], const struct platform *const *platforms,
	       const char *const *image_keys, size_t n, const char *left_out)
{
	struct digest_ctx *d = digest_new();
	const char *fields[] = { KEYS_FORMAT_VERSION, "index", left_out ? left_out : "" };
	size_t i;

	if (!d)
		return -ENOMEM;
	for (i = 0; i < sizeof fields / sizeof *fields; i++)
		digest_update(d, fields[i], strlen(fields[i]) + 1);
	for (i = 0; i < n; i++) {
		digest_update(d, platforms[i]->name, strlen(platforms[i]->name) + 1);
		digest_update(d, image_keys[i] ? image_keys[i] : "-", strlen(image_keys[i] ? image_keys[i] : "-") + 1);
	}
	digest_final(d, key);
	digest_free(d);
	return 0;
}

int keys_image(char key[DIGEST_HEX_LEN + 1], const struct image_request *req,
	       char *const *outputs, size_t noutputs, int max_layers)
{
	char budget[16];
	const char *fields[] = { KEYS_FORMAT_VERSION, "image", req->system, req->arch,
				 req->cmd_bash ? "cmd-bash" : "no-cmd",
				 req->nonroot ? "nonroot" : "root", budget };

	snprintf(budget, sizeof budget, "%d", max_layers);
	return key_of(key, fields, sizeof fields / sizeof *fields, outputs, noutputs);
}

int keys_layer(char key[DIGEST_HEX_LEN + 1], char *const *paths, size_t n)
{
	const char *fields[] = { KEYS_FORMAT_VERSION, "layer" };

	return key_of(key, fields, sizeof fields / sizeof *fields, paths, n);
}
