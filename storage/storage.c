/* The public storage calls, each handed to the backend that was opened. */
#include "storage/backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int storage_open(const struct config *cfg, struct storage **s, char *err, size_t errlen)
{
	if (cfg->storage == STORAGE_FILESYSTEM)
		return filesystem_open(cfg->storage_path, s, err, errlen);
	return bucket_open(cfg, 0, s, err, errlen);
}

int storage_open_existing(const struct config *cfg, struct storage **s, char *err, size_t errlen)
{
	if (cfg->storage == STORAGE_FILESYSTEM)
		return filesystem_open_existing(cfg->storage_path, s, err, errlen);
	return bucket_open(cfg, 1, s, err, errlen);
}

void storage_close(struct storage *s)
{
	if (s)
		s->ops->close(s);
}

int storage_locate(const struct storage *s, const char *hex, struct storage_location *loc,
		   char *err, size_t errlen)
{
	return s->ops->locate(s, hex, loc, err, errlen);
}

int storage_remote(const struct storage *s)
{
	return s->ops->remote;
}

int storage_check(const struct storage *s, const char *hex, uint64_t size)
{
	return s->ops->check(s, hex, size);
}

int storage_verify(const struct storage *s, const char *hex, storage_pace_fn pace, void *ctx)
{
	return s->ops->verify ? s->ops->verify(s, hex, pace, ctx) : -EOPNOTSUPP;
}

int storage_read(const struct storage *s, const char *hex, size_t max, struct buf *out)
{
	return s->ops->read(s, hex, max, out);
}

int storage_begin(const struct storage *s, struct storage_writer **w, char *err, size_t errlen)
{
	*w = NULL;
	return s->ops->begin(s, w, err, errlen);
}

int storage_write(struct storage_writer *w, const void *data, size_t len, char *err, size_t errlen)
{
	return w->ops->write(w, data, len, err, errlen);
}

int storage_commit(struct storage_writer *w, const char *hex, char *err, size_t errlen)
{
	return w->ops->commit(w, hex, err, errlen);
}

void storage_discard(struct storage_writer *w)
{
	if (w)
		w->ops->discard(w);
}

int storage_put(const struct storage *s, const void *data, size_t len,
		char hex[DIGEST_HEX_LEN + 1], char *err, size_t errlen)
{
	if (digest_hex(data, len, hex) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return s->ops->put(s, data, len, hex, err, errlen);
}

int storage_keep(const struct storage *s, const void *data, size_t len, const char *hex,
		 char *err, size_t errlen)
{
	char got[DIGEST_HEX_LEN + 1];

	if (digest_hex(data, len, got) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "the bytes given for blob %s are another blob's", hex);
		return -EINVAL;
	}
	return s->ops->keep ? s->ops->keep(s, data, len, hex, err, errlen) : 0;
}

int storage_each(const struct storage *s, storage_blob_fn fn, void *ctx)
{
	return s->ops->each(s, fn, ctx);
}

int storage_remove(const struct storage *s, const char *hex)
{
	return s->ops->remove(s, hex);
}

int storage_probe(const struct storage *s, struct buf *out)
{
	return s->ops->probe ? s->ops->probe(s, out) : 0;
}

/* A record's object: <kind>/<hex>, hex being validated by the caller. */
static int record_key(enum storage_record kind, const char *hex, char *key, size_t len)
{
	if (!digest_is_hex(hex))
		return -EINVAL;
	snprintf(key, len, "%s/%s", kind == STORAGE_IMAGE ? "images" : "claims", hex);
	return 0;
}

int storage_record_get(const struct storage *s, enum storage_record kind, const char *hex, size_t max,
		       struct buf *out, char version[STORAGE_VERSION_MAX], char *err, size_t errlen)
{
	char key[DIGEST_HEX_LEN + 16];

	if (!s->ops->record_get)
		return -EOPNOTSUPP;
	if (record_key(kind, hex, key, sizeof key) < 0)
		return -EINVAL;
	return s->ops->record_get(s, key, max, out, version, err, errlen);
}

int storage_record_put(const struct storage *s, enum storage_record kind, const char *hex, const char *text,
		       int create_only, char version[STORAGE_VERSION_MAX], char *err, size_t errlen)
{
	char key[DIGEST_HEX_LEN + 16];

	if (!s->ops->record_put)
		return -EOPNOTSUPP;
	if (record_key(kind, hex, key, sizeof key) < 0)
		return -EINVAL;
	return s->ops->record_put(s, key, text, create_only, version, err, errlen);
}

int storage_record_remove(const struct storage *s, enum storage_record kind, const char *hex,
			  const char *version, char *err, size_t errlen)
{
	char key[DIGEST_HEX_LEN + 16];

	if (!s->ops->record_remove)
		return -EOPNOTSUPP;
	if (record_key(kind, hex, key, sizeof key) < 0 || !version || !version[0]) {
		snprintf(err, errlen, "a record is removed only by its version");
		return -EINVAL;
	}
	return s->ops->record_remove(s, key, version, err, errlen);
}
