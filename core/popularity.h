/* Popularity data: how many packages reference each store path name
 * ("name-version"), in Nixery's format {"glibc-2.37-8": 1203, ...}. Paths
 * that many packages share get layers of their own, so images share them.
 *
 * A popularity source is shared by a process's threads and refreshed on a
 * TTL: the first request after the TTL downloads it again while the others
 * keep using the current table. A failed download or a malformed file logs
 * one warning and leaves every path at popularity 1; it never fails a
 * request. */
#ifndef NIXERY_POPULARITY_H
#define NIXERY_POPULARITY_H

#include <stddef.h>
#include <stdint.h>

struct popularity;
struct popularity_source;

int popularity_parse(const char *json, struct popularity **out, char *err, size_t errlen);
/* A layers_popularity_fn: ctx is a struct popularity (or NULL: 1 for all). */
uint64_t popularity_lookup(void *ctx, const char *name);
size_t popularity_count(const struct popularity *p);
void popularity_free(struct popularity *p);

/* url: http(s)://, file://, or an absolute path; NULL or "" for none. */
int popularity_source_new(const char *url, int ttl, struct popularity_source **out);
void popularity_source_free(struct popularity_source *src);

/* The current table, refreshed first if due; may be NULL (no data). Give
 * it back with popularity_release. */
struct popularity *popularity_acquire(struct popularity_source *src);
void popularity_release(struct popularity_source *src, struct popularity *p);

#endif
