#include "core/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/image.h"

static const char *const config_env[] = {
	"PATH=/bin:/usr/bin",
	"SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt",
	("HOME=" IMAGE_USER_HOME), /* nonroot images only */
};



static char *print_and_delete(cJSON *root)
{
	char *s = root ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	return s;
}

static int add_digest(cJSON *obj, const char *key, const char *hex)
{
	char s[sizeof DIGEST_PREFIX + DIGEST_HEX_LEN];

	snprintf(s, sizeof s, DIGEST_PREFIX "%s", hex);
	return cJSON_AddStringToObject(obj, key, s) != NULL;
}

static int add_item_digest(cJSON *arr, const char *hex)
{
	char s[sizeof DIGEST_PREFIX + DIGEST_HEX_LEN];
	cJSON *item;

	snprintf(s, sizeof s, DIGEST_PREFIX "%s", hex);
	item = cJSON_CreateString(s);
	return item && cJSON_AddItemToArray(arr, item);
}

char *manifest_config_json(const struct image_config *ic,
			   const struct manifest_layer *layers, size_t n)
{
	cJSON *root = cJSON_CreateObject(), *rootfs, *diff_ids, *config, *cmd;
	size_t i;

	if (!root || !cJSON_AddStringToObject(root, "architecture", ic->arch) ||
	    (ic->variant && *ic->variant && !cJSON_AddStringToObject(root, "variant", ic->variant)) ||
	    !cJSON_AddStringToObject(root, "os", "linux") ||
	    !(rootfs = cJSON_AddObjectToObject(root, "rootfs")) ||
	    !cJSON_AddStringToObject(rootfs, "type", "layers") ||
	    !(diff_ids = cJSON_AddArrayToObject(rootfs, "diff_ids")))
		goto fail;
	for (i = 0; i < n; i++)
		if (!add_item_digest(diff_ids, layers[i].diff_id))
			goto fail;
	if (!(config = cJSON_AddObjectToObject(root, "config")))
		goto fail;
	if (ic->cmd_bash) {
		const char *bash[] = { "bash" };

		if (!(cmd = cJSON_CreateStringArray(bash, 1)) ||
		    !cJSON_AddItemToObject(config, "Cmd", cmd))
			goto fail;
	}
	if (!(cmd = cJSON_CreateStringArray(config_env, ic->nonroot ? 3 : 2)) ||
	    !cJSON_AddItemToObject(config, "Env", cmd))
		goto fail;
	if (ic->nonroot &&
	    (!cJSON_AddStringToObject(config, "User", IMAGE_USER_ID_TEXT ":" IMAGE_USER_ID_TEXT) ||
	     !cJSON_AddStringToObject(config, "WorkingDir", IMAGE_USER_HOME)))
		goto fail;
	return print_and_delete(root);
fail:
	cJSON_Delete(root);
	return NULL;
}

static cJSON *descriptor(const char *media_type, const char *hex, uint64_t size)
{
	cJSON *d = cJSON_CreateObject();

	if (!d || !cJSON_AddStringToObject(d, "mediaType", media_type) ||
	    !cJSON_AddNumberToObject(d, "size", (double)size) || !add_digest(d, "digest", hex)) {
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

char *manifest_json(enum manifest_format f, const char *config_digest, uint64_t config_size,
		    const struct manifest_layer *layers, size_t n)
{
	int oci = f == MANIFEST_OCI;
	cJSON *root = cJSON_CreateObject(), *arr, *d;
	size_t i;

	if (!root || !cJSON_AddNumberToObject(root, "schemaVersion", 2) ||
	    !cJSON_AddStringToObject(root, "mediaType", manifest_media_type(f)) ||
	    !(d = descriptor(oci ? MEDIA_OCI_CONFIG : MEDIA_DOCKER_CONFIG, config_digest, config_size)) ||
	    !cJSON_AddItemToObject(root, "config", d) ||
	    !(arr = cJSON_AddArrayToObject(root, "layers")))
		goto fail;
	for (i = 0; i < n; i++)
		if (!(d = descriptor(oci ? MEDIA_OCI_LAYER : MEDIA_DOCKER_LAYER, layers[i].digest, layers[i].size)) ||
		    !cJSON_AddItemToArray(arr, d))
			goto fail;
	return print_and_delete(root);
fail:
	cJSON_Delete(root);
	return NULL;
}

/* One descriptor: its digest must be sha256 and its size a whole number. */
static int each_descriptor(const cJSON *d, manifest_blob_fn fn, void *ctx)
{
	const cJSON *digest = cJSON_GetObjectItemCaseSensitive(d, "digest");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(d, "size");
	char hex[DIGEST_HEX_LEN + 1];

	if (!cJSON_IsString(digest) || digest_parse(digest->valuestring, hex) < 0 ||
	    !cJSON_IsNumber(size) || size->valuedouble < 0)
		return -EINVAL;
	return fn(ctx, hex, (uint64_t)size->valuedouble);
}

int manifest_each_blob(const char *json, manifest_blob_fn fn, void *ctx)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *layer;
	int rc = -EINVAL;

	if (!cJSON_IsArray(layers) ||
	    (rc = each_descriptor(cJSON_GetObjectItemCaseSensitive(root, "config"), fn, ctx)) != 0)
		goto out;
	cJSON_ArrayForEach(layer, layers)
		if ((rc = each_descriptor(layer, fn, ctx)) != 0)
			break;
out:
	cJSON_Delete(root);
	return rc;
}

const char *manifest_media_type(enum manifest_format f)
{
	return f == MANIFEST_OCI ? MEDIA_OCI_MANIFEST : MEDIA_DOCKER_MANIFEST;
}

/* The q-value of one media range ("type;q=0.5"), 1 when absent. */
static double range_q(const char *params, size_t len)
{
	const char *q = params;

	while ((q = strchr(q, ';')) && q < params + len) {
		q++;
		while (*q == ' ')
			q++;
		if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
			return atof(q + 2);
	}
	return 1.0;
}

/* The media types negotiation weighs, by their place in best_q. */
enum ranked { RANK_DOCKER, RANK_OCI, RANK_LIST, RANK_INDEX, RANKS };
static const char *const ranked_types[RANKS] = {
	MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX,
};

/* Each ranked type's q-value and place where the header first names it
 * (q -1 where it does not). */
static void rank(const char *accept, double best_q[RANKS], size_t best_pos[RANKS])
{
	size_t pos = 0, t;
	const char *p = accept;

	for (t = 0; t < RANKS; t++) {
		best_q[t] = -1;
		best_pos[t] = 0;
	}
	while (p && *p) {
		const char *end = strchr(p, ','), *semi;
		size_t len = end ? (size_t)(end - p) : strlen(p), tlen;

		while (len > 0 && *p == ' ')
			p++, len--;
		semi = memchr(p, ';', len);
		tlen = semi ? (size_t)(semi - p) : len;
		while (tlen > 0 && p[tlen - 1] == ' ')
			tlen--;
		for (t = 0; t < RANKS; t++)
			if (tlen == strlen(ranked_types[t]) && strncasecmp(p, ranked_types[t], tlen) == 0 &&
			    best_q[t] < 0) {
				best_q[t] = range_q(p, len);
				best_pos[t] = pos;
			}
		pos++;
		p = end ? end + 1 : NULL;
	}
}

/* Whether type a is preferred to type b: admitted (q > 0), and ranked
 * higher by q-value, or equal and named first. */
static int prefers(const double q[RANKS], const size_t pos[RANKS], enum ranked a, enum ranked b)
{
	return q[a] > 0 && (q[a] > q[b] || (q[a] == q[b] && pos[a] < pos[b]));
}

void manifest_negotiate_all(const char *accept, struct manifest_accept *out)
{
	double q[RANKS];
	size_t pos[RANKS];

	rank(accept, q, pos);
	out->manifest = prefers(q, pos, RANK_OCI, RANK_DOCKER) ? MANIFEST_OCI : MANIFEST_DOCKER;
	out->index = q[RANK_LIST] > 0 || q[RANK_INDEX] > 0;
	out->index_format = prefers(q, pos, RANK_INDEX, RANK_LIST) ? MANIFEST_OCI : MANIFEST_DOCKER;
}

enum manifest_format manifest_negotiate(const char *accept)
{
	struct manifest_accept a;

	manifest_negotiate_all(accept, &a);
	return a.manifest;
}

const char *manifest_index_media_type(enum manifest_format f)
{
	return f == MANIFEST_OCI ? MEDIA_OCI_INDEX : MEDIA_DOCKER_LIST;
}

static cJSON *index_entry(enum manifest_format f, const struct manifest_entry *e)
{
	cJSON *d = descriptor(manifest_media_type(f), e->digest, e->size), *platform;

	if (!d || !(platform = cJSON_AddObjectToObject(d, "platform")) ||
	    !cJSON_AddStringToObject(platform, "architecture", e->arch) ||
	    !cJSON_AddStringToObject(platform, "os", e->os) ||
	    (e->variant && *e->variant && !cJSON_AddStringToObject(platform, "variant", e->variant))) {
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

char *manifest_index_json(enum manifest_format f, const struct manifest_entry *entries, size_t n,
			  const char *left_out)
{
	cJSON *root = cJSON_CreateObject(), *arr, *d, *notes;
	size_t i;

	if (!root || !cJSON_AddNumberToObject(root, "schemaVersion", 2) ||
	    !cJSON_AddStringToObject(root, "mediaType", manifest_index_media_type(f)) ||
	    !(arr = cJSON_AddArrayToObject(root, "manifests")))
		goto fail;
	for (i = 0; i < n; i++)
		if (!(d = index_entry(f, &entries[i])) || !cJSON_AddItemToArray(arr, d))
			goto fail;
	/* Docker's manifest list has no annotations in its schema; Docker
	 * ignores the field, and containerd reads it as the OCI one. */
	if (left_out && *left_out &&
	    (!(notes = cJSON_AddObjectToObject(root, "annotations")) ||
	     !cJSON_AddStringToObject(notes, MANIFEST_LEFT_OUT, left_out)))
		goto fail;
	return print_and_delete(root);
fail:
	cJSON_Delete(root);
	return NULL;
}

int manifest_is_index(const char *json)
{
	cJSON *root = cJSON_Parse(json);
	int is = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "manifests"));

	cJSON_Delete(root);
	return is;
}

int manifest_each_child(const char *json, manifest_blob_fn fn, void *ctx)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *children = cJSON_GetObjectItemCaseSensitive(root, "manifests"), *child;
	int rc = -EINVAL;

	if (cJSON_IsArray(children)) {
		rc = 0;
		cJSON_ArrayForEach(child, children)
			if ((rc = each_descriptor(child, fn, ctx)) != 0)
				break;
	}
	cJSON_Delete(root);
	return rc;
}
