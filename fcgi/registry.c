#include "fcgi/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "builder/health.h"
#include "builder/search.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/strv.h"

/* Entries of a listing when the client asks for no number. */
#define LIST_DEFAULT 1000
/* Names a search answers with. */
#define SEARCH_MAX 20
/* Seconds a client is asked to wait when the registry is busy. */
#define RETRY_AFTER 10

int registry_open(struct registry *reg, const struct config *cfg, const struct storage *storage,
		  struct popularity_source *popularity, struct metrics *metrics, struct admission *admission,
		  const atomic_int *cancel, char *err, size_t errlen)
{
	memset(reg, 0, sizeof *reg);
	reg->cancel = cancel;
	return builder_open(&reg->builder, cfg, storage, popularity, metrics, admission, err, errlen);
}

void registry_close(struct registry *reg)
{
	builder_close(&reg->builder);
}

/* The answer to a failure the registry or its machine is not to blame
 * for, or is: one status per kind of failure. The client is told the
 * message without the host's paths (core/redact.h); the log keeps it
 * whole, for failures of the machine and for any message that lost a
 * path. */
static void failed(const struct config *cfg, struct reply *rep, int rc, const char *message,
		   void *detail)
{
	/* A message of 1 KiB, and room for the names that stand for paths. */
	char shown[1280];
	const char *code = "UNKNOWN";
	int status = 500, logged = 1, hidden;

	switch (rc) {
	case -EINVAL:
		status = 400;
		code = "NAME_INVALID";
		logged = 0;
		break;
	case -ENOENT:
		status = 404;
		code = "MANIFEST_UNKNOWN";
		logged = 0;
		break;
	case -EPERM:
		/* The operator's rules (core/policy.h): no try again helps. */
		status = 403;
		code = "DENIED";
		logged = 0;
		break;
	case -EDQUOT:
		/* This client's own cold requests: once they are answered. */
		status = 429;
		code = "TOOMANYREQUESTS";
		rep->retry_after = RETRY_AFTER;
		logged = 0;
		break;
	case -ETIMEDOUT:
		status = 504;
		logged = 0;
		break;
	case -EBUSY:
	case -ECANCELED:
		logged = 0;
		/* fall through */
	case -EHOSTUNREACH:
		status = 503;
		code = "UNAVAILABLE";
		rep->retry_after = rc == -ECANCELED ? 1 : RETRY_AFTER;
		break;
	case -ENOSPC:
		status = 507;
		rep->retry_after = RETRY_AFTER;
		break;
	}
	hidden = redact_host_paths(cfg, message, shown, sizeof shown);
	if (logged)
		log_error("%s", message);
	else if (hidden)
		log_info("%s", message);
	reply_error(rep, status, code, shown, detail);
}

/* A lookup by digest when the cache cannot answer: busy, not unknown. */
static void cache_unavailable(struct registry *reg, struct reply *rep)
{
	char message[600];

	snprintf(message, sizeof message, "the build cache cannot be read (%s): try again shortly",
		 cache_error(reg->builder.cache));
	log_error("%s", message);
	failed(reg->builder.cfg, rep, -EBUSY, message, NULL);
}

/* A blob's row, asked again once if the cache had to be replaced. */
static int blob_row(struct registry *reg, const char *hex, struct cache_blob *blob)
{
	int rc = cache_refresh(reg->builder.cache);

	if (rc == 0 && (rc = cache_blob_get(reg->builder.cache, hex, blob)) == -EAGAIN)
		rc = cache_blob_get(reg->builder.cache, hex, blob);
	return rc;
}

static void manifest_by_digest(struct registry *reg, const char *hex, struct reply *rep)
{
	struct cache_blob blob;
	int rc = blob_row(reg, hex, &blob);

	if (rc < 0 && rc != -ENOENT) {
		cache_unavailable(reg, rep);
		return;
	}
	if (rc == -ENOENT || (strcmp(blob.media_type, MEDIA_DOCKER_MANIFEST) != 0 &&
			      strcmp(blob.media_type, MEDIA_OCI_MANIFEST) != 0 &&
			      strcmp(blob.media_type, MEDIA_DOCKER_LIST) != 0 &&
			      strcmp(blob.media_type, MEDIA_OCI_INDEX) != 0)) {
		reply_error(rep, 404, "MANIFEST_UNKNOWN", "manifest unknown to this registry", NULL);
		return;
	}
	rep->body.len = 0;
	if ((rc = storage_read(reg->builder.storage, hex, MANIFEST_MAX_BYTES, &rep->body)) < 0) {
		health_lost(reg->builder.cache, reg->builder.storage, hex, rc);
		reply_error(rep, 404, "MANIFEST_UNKNOWN",
			    "manifest is missing or damaged in storage: pull the image by its tag to build it again", NULL);
		return;
	}
	rep->status = 200;
	snprintf(rep->content_type, sizeof rep->content_type, "%s", blob.media_type);
	snprintf(rep->digest, sizeof rep->digest, DIGEST_PREFIX "%s", hex);
}

void registry_manifest(struct registry *reg, const struct asker *who, const char *name, const char *ref,
		       const char *accept, int tag_file, struct reply *rep)
{
	struct deadline dl = deadline_in(reg->builder.cfg->nix_timeout * 1000L, reg->cancel);
	struct manifest_accept takes;
	struct builder_result res;
	cJSON *detail = NULL;
	int rc;

	if (strncmp(ref, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) == 0) {
		manifest_by_digest(reg, ref + strlen(DIGEST_PREFIX), rep);
		return;
	}
	manifest_negotiate_all(accept, &takes);
	rc = builder_image(&reg->builder, who, name, ref, &takes, tag_file, &dl, &res);
	if (rc < 0) {
		if (res.npackages && (detail = cJSON_CreateObject()))
			cJSON_AddItemToObject(detail, "packages",
					      cJSON_CreateStringArray((const char *const *)res.packages,
								      (int)res.npackages));
		failed(reg->builder.cfg, rep, rc, res.message, detail);
	} else {
		rep->status = 200;
		rep->body = res.manifest;
		res.manifest = (struct buf){ 0 };
		snprintf(rep->content_type, sizeof rep->content_type, "%s", res.media_type);
		snprintf(rep->digest, sizeof rep->digest, DIGEST_PREFIX "%s", res.digest);
	}
	/* A cache in front must not give one client's format to another. */
	rep->vary_accept = 1;
	builder_result_free(&res);
}

void registry_blob(struct registry *reg, const char *hex, struct reply *rep)
{
	struct storage_location loc;
	char message[1024];
	struct cache_blob blob;
	int rc = blob_row(reg, hex, &blob);

	if (rc < 0 && rc != -ENOENT) {
		cache_unavailable(reg, rep);
		return;
	}
	if (rc == -ENOENT) {
		reply_error(rep, 404, "BLOB_UNKNOWN", "blob unknown to this registry", NULL);
		return;
	}
	/* Lost or damaged: forgotten, so that the next pull of its image
	 * packs it again (health.h). A bucket's objects are trusted here: a
	 * round trip per blob would cost more than the redirect. */
	if (!storage_remote(reg->builder.storage) &&
	    (rc = health_check(reg->builder.cache, reg->builder.storage, hex, blob.size)) < 0) {
		if (rc == -ENOENT)
			reply_error(rep, 404, "BLOB_UNKNOWN", "blob is missing or damaged in storage: "
				    "pull the image's manifest again to rebuild it", NULL);
		else
			cache_unavailable(reg, rep);
		return;
	}
	if ((rc = storage_locate(reg->builder.storage, hex, &loc, message, sizeof message)) < 0) {
		failed(reg->builder.cfg, rep, rc, message, NULL);
		return;
	}
	snprintf(rep->digest, sizeof rep->digest, DIGEST_PREFIX "%s", hex);
	snprintf(rep->content_type, sizeof rep->content_type, "%s", REPLY_BLOB_TYPE);
	if (loc.redirect) {
		/* As Nixery does: the client fetches the object itself. Not
		 * to be kept: the signed URL runs out. */
		rep->status = 303;
		snprintf(rep->location, sizeof rep->location, "%s", loc.target);
		return;
	}
	snprintf(rep->file, sizeof rep->file, "%s", loc.target);
	rep->status = 200;
	rep->cache_control = REPLY_BLOB_CACHE;
	snprintf(rep->file_hex, sizeof rep->file_hex, "%s", hex);
}

/* A listing's answer: {"<key>": [entries], plus "name" for tags}, and a
 * Link to the next page when there is more than the page holds; -ENOMEM
 * when it cannot be made. */
static int listing(struct reply *rep, const char *path, const char *name, const char *key,
		    char **entries, size_t count, int page)
{
	cJSON *root = cJSON_CreateObject();
	char *json;
	size_t shown = count > (size_t)page ? (size_t)page : count;

	if (root && name)
		cJSON_AddStringToObject(root, "name", name);
	if (root)
		cJSON_AddItemToObject(root, key, cJSON_CreateStringArray((const char *const *)entries, (int)shown));
	if (!root || !(json = cJSON_PrintUnformatted(root))) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	reply_json(rep, 200, json);
	if (count > shown && shown > 0)
		snprintf(rep->link, sizeof rep->link, "<%s?n=%d&last=%s>; rel=\"next\"", path, page,
			 entries[shown - 1]);
	cJSON_free(json);
	cJSON_Delete(root);
	return 0;
}

void registry_tags(struct registry *reg, const char *name, int n, const char *last,
		   struct reply *rep)
{
	int page = n < 0 ? LIST_DEFAULT : n;
	char **tags = NULL, **grown, path[IMAGE_NAME_MAX + 32];
	size_t count = 0;

	/* One more than the page: whether there is a next one. */
	if (cache_refresh(reg->builder.cache) < 0 ||
	    cache_tags(reg->builder.cache, name, last, page + 1, &tags, &count) < 0) {
		cache_unavailable(reg, rep);
		goto out;
	}
	/* Every name has latest: the registry builds it when asked. */
	if (strcmp("latest", last) > 0 && (grown = realloc(tags, (count + 2) * sizeof *tags)) &&
	    (grown[count] = strdup("latest"))) {
		tags = grown;
		tags[++count] = NULL;
		strv_sort_unique(tags, &count);
	}
	snprintf(path, sizeof path, "/v2/%s/tags/list", name);
	if (listing(rep, path, name, "tags", tags, count, page) < 0)
		failed(reg->builder.cfg, rep, -EIO, "out of memory", NULL);
out:
	strv_free(tags, count);
}

void registry_catalog(struct registry *reg, int n, const char *last, struct reply *rep)
{
	int page = n < 0 ? LIST_DEFAULT : n;
	char **names = NULL;
	size_t count = 0;

	if (cache_refresh(reg->builder.cache) < 0 ||
	    cache_names(reg->builder.cache, last, page + 1, &names, &count) < 0)
		cache_unavailable(reg, rep);
	else if (listing(rep, "/v2/_catalog", NULL, "repositories", names, count, page) < 0)
		failed(reg->builder.cfg, rep, -EIO, "out of memory", NULL);
	strv_free(names, count);
}

void registry_referrers(struct reply *rep)
{
	reply_json(rep, 200, "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"manifests\":[]}");
	snprintf(rep->content_type, sizeof rep->content_type, "%s", MEDIA_OCI_INDEX);
}

void registry_metrics(struct registry *reg, struct reply *rep)
{
	uint64_t blobs = 0, bytes = 0;

	if (!reg->builder.metrics) {
		reply_error(rep, 404, "UNSUPPORTED", "metrics are not kept by this worker", NULL);
		return;
	}
	if (cache_refresh(reg->builder.cache) < 0 ||
	    cache_blob_totals(reg->builder.cache, &blobs, &bytes) < 0) {
		cache_unavailable(reg, rep);
		return;
	}
	rep->body.len = 0;
	metrics_render(reg->builder.metrics, reg->builder.cfg->platforms, reg->builder.cfg->nplatforms, blobs, bytes,
		       &rep->body);
	rep->status = 200;
	snprintf(rep->content_type, sizeof rep->content_type, "text/plain; version=0.0.4; charset=utf-8");
}

void registry_search(struct registry *reg, const struct asker *who, const char *query, struct reply *rep)
{
	struct deadline dl = deadline_in(reg->builder.cfg->nix_timeout * 1000L, reg->cancel);
	cJSON *root = cJSON_CreateObject();
	char err[1024], **names = NULL, *json = NULL;
	size_t n = 0;
	int known, rc = cache_refresh(reg->builder.cache);

	if (rc == 0)
		rc = search_names(&reg->builder, who, query, SEARCH_MAX, &dl, &names, &n, &known, err, sizeof err);
	else
		snprintf(err, sizeof err, "the build cache cannot be read: try again shortly");
	if (rc < 0) {
		failed(reg->builder.cfg, rep, rc, err, NULL);
		goto out;
	}
	if (!root || !cJSON_AddStringToObject(root, "query", query) ||
	    !cJSON_AddBoolToObject(root, "known", known) ||
	    !cJSON_AddItemToObject(root, "names", cJSON_CreateStringArray((const char *const *)names, (int)n)) ||
	    !(json = cJSON_PrintUnformatted(root))) {
		failed(reg->builder.cfg, rep, -EIO, "out of memory", NULL);
		goto out;
	}
	reply_json(rep, 200, json);
out:
	cJSON_free(json);
	cJSON_Delete(root);
	strv_free(names, n);
}
