/* A gzip stream compressed on several cores at once.
 *
 * The input is cut into pieces of GZIP_PIECE bytes, each compressed by
 * libdeflate into a gzip member of its own, and the members reach the sink
 * in input order. Every gzip reader takes concatenated members as one
 * stream (RFC 1952, 2.2), and since the cuts depend on byte offsets alone,
 * the bytes are the same whatever the number of threads or the machine.
 *
 * The sink is only ever called from the thread that writes, so it needs no
 * lock of its own. Threads are started for the second piece: a stream that
 * fits in one piece is compressed by the writer alone. */
#ifndef NIXERY_GZIP_H
#define NIXERY_GZIP_H

#include <stddef.h>

/* 1 MiB loses 0.1% against one stream, where 128 KiB loses 1% (measured on
 * a Debian /usr/lib tarball); a piece in and out of each thread in flight
 * stays a few MiB. */
#define GZIP_PIECE (1u << 20)
/* libdeflate's levels: 1 (fastest) to 12 (smallest). */
#define GZIP_LEVEL_MAX 12

struct gzip;

/* Where the compressed bytes go: 0, or a negative errno code with a message
 * in err. */
typedef int (*gzip_sink)(void *ctx, const void *data, size_t len, char *err, size_t errlen);

/* threads: how many compress at once, the writer included (1: the writer
 * alone); level: libdeflate's, 1 to GZIP_LEVEL_MAX. */
int gzip_open(struct gzip **g, unsigned threads, int level, gzip_sink sink, void *ctx,
	      char *err, size_t errlen);

/* 0, or the first error (the sink's, or -ENOMEM); after an error every call
 * returns it again. */
int gzip_write(struct gzip *g, const void *data, size_t len, char *err, size_t errlen);

/* Sends what is left to the sink; the stream is then complete. */
int gzip_finish(struct gzip *g, char *err, size_t errlen);

/* Stops the threads and frees g, finished or not. */
void gzip_free(struct gzip *g);

#endif
