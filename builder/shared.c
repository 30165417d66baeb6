#include "builder/shared.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "core/manifest.h"

/* A record carries the image's manifests and config (JSON escaped, at
 * most doubled); a claim is a line. */
#define RECORD_MAX (6 * MANIFEST_MAX_BYTES)
/* How often a host waiting for another's build looks for its record. */
#define POLL_MS 500

/* Removals of run-out claims the bucket may refuse (another host claimed
 * anew each time) before this host builds without a claim. */
#define MAX_REFUSED 3

/* Blobs looked for in the bucket at once: each is a round trip. */
#define CHECKS_AT_ONCE 16

struct adoption;

/* A blob the image names: in the bucket at its size? */
struct blob_check {
	const struct adoption *a;
	char hex[DIGEST_HEX_LEN + 1];
	uint64_t size;                /* 0: any, learned by the fetch */
	int fetch;                    /* read whole: kept here, as the manifests are */
	const char *media_type;
	int rc;
};

struct adoption {
	const struct storage *s;
	struct cache *cache;
	const cJSON *texts;           /* the record's small blobs, by digest */
	struct blob_check *blobs;     /* the config, the layers, the OCI manifest */
	size_t nblobs;
	char *err;
	size_t errlen;
};

static int push(struct adoption *a, const char *hex, uint64_t size, int fetch, const char *media_type)
{
	struct blob_check *grown = realloc(a->blobs, (a->nblobs + 1) * sizeof *grown);

	if (!grown)
		return -ENOMEM;
	a->blobs = grown;
	grown[a->nblobs] = (struct blob_check){ .a = a, .size = size, .fetch = fetch, .media_type = media_type };
	memcpy(grown[a->nblobs++].hex, hex, DIGEST_HEX_LEN + 1);
	return 0;
}

/* The config is small and asked for by every pull: fetched, so that the
 * web server sends it from here, as on the host that built it. */
static int add_blob(void *ctx, const char *hex, uint64_t size)
{
	struct adoption *a = ctx;

	return a->nblobs ? push(a, hex, size, 0, "application/octet-stream") :
			   push(a, hex, size, size <= MANIFEST_MAX_BYTES, MEDIA_DOCKER_CONFIG);
}

/* A small blob of the image: the record's copy, checked against its
 * digest and kept here, else the bucket's. */
static int read_blob(const struct adoption *a, const char *hex, struct buf *out)
{
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(a->texts, hex);
	char err[512];
	size_t len;

	if (cJSON_IsString(text)) {
		len = strlen(text->valuestring);
		if (storage_keep(a->s, text->valuestring, len, hex, err, sizeof err) == 0) {
			out->len = 0;
			return buf_append(out, text->valuestring, len);
		}
		log_warn("the bucket's record holds a damaged copy: %s", err);
	}
	return storage_read(a->s, hex, MANIFEST_MAX_BYTES, out);
}

static void *check_blob(void *arg)
{
	struct blob_check *c = arg;
	struct buf text = { 0 };

	if (c->fetch) {
		c->rc = read_blob(c->a, c->hex, &text);
		if (c->rc == 0 && c->size && text.len != c->size)
			c->rc = -EIO;
		c->size = text.len;
		buf_free(&text);
	} else {
		c->rc = storage_check(c->a->s, c->hex, c->size);
	}
	return NULL;
}

/* Every blob is in the bucket at its size (looked for side by side: each
 * is a round trip), then recorded here. */
static int adopt_blobs(struct adoption *a)
{
	pthread_t threads[CHECKS_AT_ONCE];
	int started[CHECKS_AT_ONCE];
	size_t i, j, n;
	int rc = 0;

	for (i = 0; i < a->nblobs; i += n) {
		n = a->nblobs - i < CHECKS_AT_ONCE ? a->nblobs - i : CHECKS_AT_ONCE;
		for (j = 0; j < n; j++)
			started[j] = pthread_create(&threads[j], NULL, check_blob, &a->blobs[i + j]) == 0;
		for (j = 0; j < n; j++) {
			if (started[j])
				pthread_join(threads[j], NULL);
			else
				check_blob(&a->blobs[i + j]);
		}
	}
	for (i = 0; i < a->nblobs && rc == 0; i++) {
		const struct blob_check *c = &a->blobs[i];

		if (c->rc < 0) {
			snprintf(a->err, a->errlen, "blob %s of the image is %s in the bucket", c->hex,
				 c->rc == -ENOENT ? "missing" : c->rc == -EIO ? "of another size" : "out of reach");
			return c->rc == -EHOSTUNREACH || c->rc == -EACCES ? c->rc : -ENOENT;
		}
		rc = cache_blob_put(a->cache, c->hex, c->size, c->media_type);
		if (rc < 0)
			snprintf(a->err, a->errlen, "cannot record a blob: %s", cache_error(a->cache));
	}
	return rc;
}

/* The record's Docker manifest, checked against its digest, and
 * recorded. */
static int adopt_manifest(struct adoption *a, const char *hex, const char *media_type, struct buf *text)
{
	int rc = read_blob(a, hex, text);

	if (rc < 0) {
		snprintf(a->err, a->errlen, "manifest %s of the image cannot be read from the bucket", hex);
		return rc == -EHOSTUNREACH || rc == -EACCES ? rc : -ENOENT;
	}
	if ((rc = cache_blob_put(a->cache, hex, text->len, media_type)) < 0)
		snprintf(a->err, a->errlen, "cannot record a manifest: %s", cache_error(a->cache));
	return rc;
}

/* A manifest's digest from the record. */
static int record_digest(const cJSON *record, const char *name, char out[DIGEST_HEX_LEN + 1])
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(record, name);

	if (!cJSON_IsString(v) || !digest_is_hex(v->valuestring))
		return -ENOENT;
	memcpy(out, v->valuestring, DIGEST_HEX_LEN + 1);
	return 0;
}

int shared_adopt(const struct storage *s, struct cache *cache, const char *key, const char *request_key,
		 struct cache_image *img, char *err, size_t errlen)
{
	struct adoption a = { .s = s, .cache = cache, .err = err, .errlen = errlen };
	struct buf text = { 0 };
	cJSON *record = NULL;
	int rc = storage_record_get(s, STORAGE_IMAGE, key, RECORD_MAX, &text, NULL, err, errlen);

	if (rc < 0)
		goto out;
	memset(img, 0, sizeof *img);
	if (!(record = cJSON_Parse(text.data)) || record_digest(record, "docker", img->docker_manifest) < 0 ||
	    record_digest(record, "oci", img->oci_manifest) < 0) {
		log_warn("the bucket's record of image %s is not one: building the image", key);
		rc = -ENOENT;
		goto out;
	}
	a.texts = cJSON_GetObjectItemCaseSensitive(record, "blobs");
	if ((rc = adopt_manifest(&a, img->docker_manifest, MEDIA_DOCKER_MANIFEST, &text)) < 0 ||
	    (rc = manifest_each_blob(text.data, add_blob, &a)) < 0 ||
	    (rc = push(&a, img->oci_manifest, 0, 1, MEDIA_OCI_MANIFEST)) < 0 || (rc = adopt_blobs(&a)) < 0)
		goto out;
	img->used = time(NULL);
	if ((rc = cache_image_put(cache, key, img, request_key, img->used)) < 0)
		snprintf(err, errlen, "cannot record the image: %s", cache_error(cache));
out:
	if (rc == -EINVAL)
		rc = -ENOENT;
	if (rc == -ENOENT && a.nblobs)
		log_warn("image %s, recorded in the bucket, is not there whole (%s): building it", key, err);
	free(a.blobs);
	cJSON_Delete(record);
	buf_free(&text);
	return rc;
}

/* The config's digest: the first blob a manifest names. */
static int first_blob(void *ctx, const char *hex, uint64_t size)
{
	(void)size;
	memcpy(ctx, hex, DIGEST_HEX_LEN + 1);
	return 1;
}

/* Adds small blob hex, as kept here, to the record's copies. */
static void add_text(const struct storage *s, cJSON *texts, const char *hex, struct buf *text)
{
	if (storage_read(s, hex, MANIFEST_MAX_BYTES, text) == 0)
		cJSON_AddStringToObject(texts, hex, text->data);
}

int shared_publish(const struct storage *s, const char *key, const struct cache_image *img,
		   char *err, size_t errlen)
{
	cJSON *record = cJSON_CreateObject(), *texts = cJSON_CreateObject();
	char config[DIGEST_HEX_LEN + 1] = "", *text = NULL;
	struct buf manifest = { 0 }, other = { 0 };
	int rc = -ENOMEM;

	if (!record || !texts || !cJSON_AddStringToObject(record, "docker", img->docker_manifest) ||
	    !cJSON_AddStringToObject(record, "oci", img->oci_manifest)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* The manifests and the config go with the record: a host taking the
	 * image over then has them without a round trip each. */
	add_text(s, texts, img->docker_manifest, &manifest);
	if (manifest.data && manifest_each_blob(manifest.data, first_blob, config) == 1)
		add_text(s, texts, config, &other);
	add_text(s, texts, img->oci_manifest, &other);
	cJSON_AddItemToObject(record, "blobs", texts);
	texts = NULL;
	if (!(text = cJSON_PrintUnformatted(record)))
		snprintf(err, errlen, "out of memory");
	else
		rc = storage_record_put(s, STORAGE_IMAGE, key, text, 0, NULL, err, errlen);
out:
	cJSON_free(text);
	cJSON_Delete(texts);
	cJSON_Delete(record);
	buf_free(&manifest);
	buf_free(&other);
	return rc;
}

/* Whether the claim there has run out (or cannot be read as one): 1, with
 * its version, which alone its removal may name; 0 when it holds, or is
 * gone already. */
static int claim_expired(const struct storage *s, const char *key, char version[STORAGE_VERSION_MAX])
{
	struct buf text = { 0 };
	char err[512];
	cJSON *claim = NULL;
	const cJSON *until;
	int expired = 0;

	version[0] = '\0';
	if (storage_record_get(s, STORAGE_CLAIM, key, RECORD_MAX, &text, version, err, sizeof err) == 0) {
		claim = cJSON_Parse(text.data);
		until = cJSON_GetObjectItemCaseSensitive(claim, "until");
		expired = !cJSON_IsNumber(until) || until->valuedouble < (double)time(NULL);
	}
	cJSON_Delete(claim);
	buf_free(&text);
	return expired;
}

/* The claim's text: who holds it, and until when. Random bytes make each
 * one's bytes its own, and so its S3 ETag (their MD5). */
static char *claim_text(int lease_s)
{
	char host[256] = "", nonce[33], *text = NULL;
	unsigned char random[16];
	cJSON *claim;
	size_t i;

	if (RAND_bytes(random, sizeof random) != 1)
		return NULL;
	for (i = 0; i < sizeof random; i++)
		snprintf(nonce + 2 * i, 3, "%02x", random[i]);
	gethostname(host, sizeof host - 1);
	claim = cJSON_CreateObject();
	if (claim && cJSON_AddStringToObject(claim, "host", host) &&
	    cJSON_AddNumberToObject(claim, "pid", (double)getpid()) &&
	    cJSON_AddNumberToObject(claim, "until", (double)(time(NULL) + lease_s)) &&
	    cJSON_AddStringToObject(claim, "nonce", nonce))
		text = cJSON_PrintUnformatted(claim);
	cJSON_Delete(claim);
	return text;
}

/* A claim that ran out (its host stopped): removed, if it is still the one
 * read: 1 then, for this host to claim again. 0 when another host claimed
 * anew meanwhile: the caller looks again. -ENOTSUP when this host is to
 * build without a claim: the bucket names no version to remove it by,
 * cannot be asked, or refused the removal of claims read as run out too
 * often (a store that compares versions its own way). */
static int remove_expired(const struct storage *s, const char *key, const char *version, int *refused)
{
	char err[1024] = "";
	int rc;

	if (!version[0] || *refused >= MAX_REFUSED) {
		log_warn("the claim of image %s ran out, and the bucket %s: building the image here, without a claim",
			 key, version[0] ? "keeps refusing its removal" : "names no version to remove it by");
		return -ENOTSUP;
	}
	rc = storage_record_remove(s, STORAGE_CLAIM, key, version, err, sizeof err);
	if (rc == 0) {
		log_warn("the claim of image %s ran out: its host stopped; building it here", key);
		return 1;
	}
	if (rc == -EEXIST) {
		++*refused;
		return 0;
	}
	log_warn("cannot remove the claim of image %s, which ran out (%s): building the image here, without a claim",
		 key, err);
	return -ENOTSUP;
}

/* Makes this host's claim: 0 with held its version, -EEXIST when there is
 * one, another negative code when the bucket would not take it (held is
 * "" then). */
static int make_claim(const struct storage *s, const char *key, int lease_s, char held[STORAGE_VERSION_MAX],
		      char *err, size_t errlen)
{
	char *text = claim_text(lease_s);
	int rc;

	held[0] = '\0';
	if (!text) {
		snprintf(err, errlen, "out of memory, or no random bytes");
		return -ENOMEM;
	}
	rc = storage_record_put(s, STORAGE_CLAIM, key, text, 1, held, err, errlen);
	cJSON_free(text);
	if (rc < 0)
		held[0] = '\0';
	if (rc < 0 && rc != -EEXIST)
		log_warn("cannot claim the build of image %s in the bucket (%s): building it without a claim", key, err);
	return rc;
}

int shared_claim(const struct storage *s, struct cache *cache, const char *key, const char *request_key,
		 int lease_s, const struct deadline *dl, struct cache_image *img,
		 char held[STORAGE_VERSION_MAX], char *err, size_t errlen)
{
	char version[STORAGE_VERSION_MAX];
	int rc, waiting = 0, refused = 0;

	for (;;) {
		if ((rc = make_claim(s, key, lease_s, held, err, errlen)) != -EEXIST) {
			/* The host before may have finished between two looks. */
			if (waiting && shared_adopt(s, cache, key, request_key, img, err, errlen) == 0) {
				shared_release(s, key, held);
				held[0] = '\0';
				return 1;
			}
			return 0;
		}
		if (!waiting++)
			log_info("image %s is being built by another host: waiting for it", key);
		if ((rc = shared_adopt(s, cache, key, request_key, img, err, errlen)) == 0)
			return 1;
		if (rc != -ENOENT)
			return rc;
		if (claim_expired(s, key, version) && (rc = remove_expired(s, key, version, &refused)) != 0) {
			if (rc < 0)
				return 0;
			continue;
		}
		if ((rc = deadline_check(dl)) < 0)
			return rc;
		deadline_sleep(dl, POLL_MS);
	}
}

void shared_release(const struct storage *s, const char *key, const char *held)
{
	char err[1024] = "";
	int rc;

	if (!held || !held[0])
		return;
	rc = storage_record_remove(s, STORAGE_CLAIM, key, held, err, sizeof err);
	if (rc == -EEXIST)
		log_warn("the claim of image %s was taken over by another host while this one built it: left to it", key);
	else if (rc < 0)
		log_warn("cannot remove this host's claim of image %s (%s): it runs out by itself", key, err);
}
