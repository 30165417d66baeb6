#include "core/gzip.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

/* A piece goes EMPTY (being filled by the writer) -> QUEUED -> WORKING (a
 * thread compresses it) -> DONE -> sent by the writer -> EMPTY again. */
enum piece_state { EMPTY, QUEUED, WORKING, DONE };

struct piece {
	enum piece_state state;
	unsigned char *in;
	size_t len;
	unsigned char *out;
	size_t outlen;          /* 0: libdeflate found the output bound short */
};

/* What one thread compresses with: the level asked for, a fast level to
 * probe whether a piece compresses at all, and level 0, which stores. */
struct compressors {
	struct libdeflate_compressor *level, *probe, *store;
};

/* The pieces form a ring: from head, `used` pieces queued, in work or
 * done, in input order; the next one is the writer's. head and used change
 * only in the writer, under the lock, as do the states but for a helper's
 * QUEUED -> WORKING -> DONE. */
struct gzip {
	pthread_mutex_t lock;
	pthread_cond_t queued;  /* for helpers: a piece to compress, or stop */
	pthread_cond_t done;    /* for the writer: a piece is compressed */
	struct piece *ring;
	unsigned nring, head, used;
	pthread_t *helpers;
	unsigned nhelpers, started;
	int stop;
	struct compressors own;  /* the writer's */
	int level;
	size_t bound;
	unsigned long members;  /* sent so far */
	gzip_sink sink;
	void *ctx;
	int rc;                 /* the first error's code */
	char err[256];
};

static struct piece *queued_piece(struct gzip *g)
{
	unsigned i;

	for (i = 0; i < g->used; i++) {
		struct piece *p = &g->ring[(g->head + i) % g->nring];

		if (p->state == QUEUED)
			return p;
	}
	return NULL;
}

static int compressors_init(struct compressors *c, int level)
{
	c->level = libdeflate_alloc_compressor(level);
	c->probe = libdeflate_alloc_compressor(1);
	c->store = libdeflate_alloc_compressor(0);
	return c->level && c->probe && c->store ? 0 : -ENOMEM;
}

static void compressors_free(struct compressors *c)
{
	libdeflate_free_compressor(c->level);
	libdeflate_free_compressor(c->probe);
	libdeflate_free_compressor(c->store);
}

/* Whether a piece is not worth compressing (random data, files compressed
 * already): none of four samples spread over it gets 3% smaller at the
 * fastest level. Searching such data for matches is the slowest work there
 * is and gains nothing; the test costs about 2% where data compresses. It
 * reads the piece alone, so the choice, like the bytes, depends on the
 * input only. scratch holds at least PROBE_SAMPLE bytes. */
#define PROBE_SAMPLE 16384
static int incompressible(struct libdeflate_compressor *probe, const struct piece *p,
			  unsigned char *scratch)
{
	size_t i;

	if (p->len < 4 * PROBE_SAMPLE)
		return 0;
	for (i = 0; i < 4; i++)
		if (libdeflate_deflate_compress(probe, p->in + i * (p->len - PROBE_SAMPLE) / 3, PROBE_SAMPLE,
						scratch, PROBE_SAMPLE * 97 / 100))
			return 0;
	return 1;
}

/* Called and returns with the lock held; compresses without it. */
static void compress_piece(struct gzip *g, struct piece *p, const struct compressors *c)
{
	p->state = WORKING;
	pthread_mutex_unlock(&g->lock);
	p->outlen = libdeflate_gzip_compress(incompressible(c->probe, p, p->out) ? c->store : c->level,
					     p->in, p->len, p->out, g->bound);
	pthread_mutex_lock(&g->lock);
	p->state = DONE;
	pthread_cond_signal(&g->done);
}

static void *helper(void *arg)
{
	struct gzip *g = arg;
	struct compressors c;
	/* Without compressors of its own a helper leaves the work to the
	 * writer, which always does what nobody else takes. */
	int ok = compressors_init(&c, g->level) == 0;

	pthread_mutex_lock(&g->lock);
	while (ok && !g->stop) {
		struct piece *p = queued_piece(g);

		if (p)
			compress_piece(g, p, &c);
		else
			pthread_cond_wait(&g->queued, &g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	compressors_free(&c);
	return NULL;
}

static int fail(struct gzip *g, int rc, const char *msg)
{
	if (!g->rc) {
		g->rc = rc;
		snprintf(g->err, sizeof g->err, "%s", msg);
	}
	return g->rc;
}

/* Waits for the oldest piece, compressing queued ones meanwhile, and sends
 * it to the sink. */
static int send_head(struct gzip *g)
{
	struct piece *p = &g->ring[g->head];
	int rc = 0;

	pthread_mutex_lock(&g->lock);
	while (p->state != DONE) {
		struct piece *q = queued_piece(g);

		if (q)
			compress_piece(g, q, &g->own);
		else
			pthread_cond_wait(&g->done, &g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	if (g->rc)
		rc = g->rc;
	else if (!p->outlen)
		rc = fail(g, -EIO, "cannot compress a layer: the output outgrew its bound");
	else if ((rc = g->sink(g->ctx, p->out, p->outlen, g->err, sizeof g->err)) < 0)
		g->rc = rc;
	g->members++;
	pthread_mutex_lock(&g->lock);
	p->state = EMPTY;
	p->len = 0;
	g->head = (g->head + 1) % g->nring;
	g->used--;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

/* The piece the writer fills, once there is room for it. */
static struct piece *filling(struct gzip *g)
{
	struct piece *p;

	if (g->used == g->nring && send_head(g) < 0)
		return NULL;
	p = &g->ring[(g->head + g->used) % g->nring];
	if (!p->in)
		p->in = malloc(GZIP_PIECE);
	if (!p->out)
		p->out = malloc(g->bound);
	if (!p->in || !p->out) {
		fail(g, -ENOMEM, "out of memory compressing a layer");
		return NULL;
	}
	return p;
}

/* Helpers start with the first full piece: most layers are smaller, and
 * the last piece of any stream is the writer's to wait for anyway. A
 * helper that cannot start leaves its share to the others. */
static void start_helpers(struct gzip *g)
{
	while (g->started < g->nhelpers &&
	       pthread_create(&g->helpers[g->started], NULL, helper, g) == 0)
		g->started++;
	g->nhelpers = g->started;
}

/* Hands the piece being filled to whichever thread is free first. */
static void queue(struct gzip *g, struct piece *p)
{
	pthread_mutex_lock(&g->lock);
	p->state = QUEUED;
	g->used++;
	pthread_cond_signal(&g->queued);
	pthread_mutex_unlock(&g->lock);
}

/* Whether the oldest piece is compressed and waits to be sent. */
static int head_done(struct gzip *g)
{
	int done;

	pthread_mutex_lock(&g->lock);
	done = g->used && g->ring[g->head].state == DONE;
	pthread_mutex_unlock(&g->lock);
	return done;
}

static int report(struct gzip *g, char *err, size_t errlen)
{
	if (g->rc)
		snprintf(err, errlen, "%s", g->err);
	return g->rc;
}

int gzip_open(struct gzip **out, unsigned threads, int level, gzip_sink sink, void *ctx,
	      char *err, size_t errlen)
{
	struct gzip *g = calloc(1, sizeof *g);

	*out = NULL;
	if (!g)
		goto nomem;
	if (threads < 1)
		threads = 1;
	g->sink = sink;
	g->ctx = ctx;
	g->level = level;
	g->nring = 2 * threads;
	g->nhelpers = threads - 1;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->queued, NULL);
	pthread_cond_init(&g->done, NULL);
	g->ring = calloc(g->nring, sizeof *g->ring);
	g->helpers = calloc(threads, sizeof *g->helpers);
	if (!g->ring || !g->helpers || compressors_init(&g->own, level) < 0)
		goto nomem;
	/* The bound holds for every level, 0 included. */
	g->bound = libdeflate_gzip_compress_bound(g->own.store, GZIP_PIECE);
	*out = g;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory starting a layer");
	gzip_free(g);
	return -ENOMEM;
}

int gzip_write(struct gzip *g, const void *data, size_t len, char *err, size_t errlen)
{
	const unsigned char *d = data;

	while (len > 0 && !g->rc) {
		struct piece *p = filling(g);
		size_t n;

		if (!p)
			break;
		n = GZIP_PIECE - p->len < len ? GZIP_PIECE - p->len : len;
		memcpy(p->in + p->len, d, n);
		p->len += n;
		d += n;
		len -= n;
		if (p->len < GZIP_PIECE)
			continue;
		start_helpers(g);
		queue(g, p);
		/* Send what is ready, so that the sink keeps pace. */
		while (!g->rc && head_done(g))
			send_head(g);
	}
	return report(g, err, errlen);
}

int gzip_finish(struct gzip *g, char *err, size_t errlen)
{
	struct piece *p;

	/* The last piece, or an empty member for a stream with no bytes. */
	if (!g->rc && (p = filling(g)) && (p->len || (!g->members && !g->used)))
		queue(g, p);
	while (!g->rc && g->used)
		send_head(g);
	return report(g, err, errlen);
}

void gzip_free(struct gzip *g)
{
	unsigned i;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	pthread_cond_broadcast(&g->queued);
	pthread_mutex_unlock(&g->lock);
	for (i = 0; i < g->started; i++)
		pthread_join(g->helpers[i], NULL);
	for (i = 0; g->ring && i < g->nring; i++) {
		free(g->ring[i].in);
		free(g->ring[i].out);
	}
	free(g->ring);
	free(g->helpers);
	compressors_free(&g->own);
	pthread_cond_destroy(&g->queued);
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
