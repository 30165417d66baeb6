/* The parallel gzip stream: the same bytes for any number of threads and
 * any way the input is handed over, and a stream every gzip reader takes
 * back whole (zlib member by member, and the gzip program). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/digest.h"
#include "core/gzip.h"
#include "tests/unit/check.h"

/* Text that compresses as text does, the same on every run. */
static unsigned char *make_input(size_t len)
{
	static const char *words[] = { "store", "nix", "lib", "share", "bin", "0.1.2", "-dev",
				       "\n", " ", "/", "=", "x86_64", "locale", "zoneinfo" };
	unsigned char *d = malloc(len ? len : 1);
	uint64_t s = 0x9e3779b97f4a7c15u;
	size_t i = 0;

	while (d && i < len) {
		const char *w;
		size_t n;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		if (s % 5 == 0) {   /* a byte of noise now and then */
			d[i++] = (unsigned char)(s >> 24);
			continue;
		}
		w = words[(s >> 8) % (sizeof words / sizeof *words)];
		n = strlen(w) < len - i ? strlen(w) : len - i;
		memcpy(d + i, w, n);
		i += n;
	}
	return d;
}

struct sink {
	struct buf out;
	int calls, fail_at;   /* fail_at: the call that fails, 0: none */
};

static int to_buf(void *ctx, const void *data, size_t len, char *err, size_t errlen)
{
	struct sink *s = ctx;

	if (++s->calls == s->fail_at) {
		snprintf(err, errlen, "cannot write layer: No space left on device");
		return -ENOSPC;
	}
	return buf_append(&s->out, data, len) < 0 ? -ENOMEM : 0;
}

/* Compresses input at level in writes of `step` bytes with `threads` threads. */
static int compress_input(const unsigned char *in, size_t len, unsigned threads, int level,
			  size_t step, struct sink *s, char *err, size_t errlen)
{
	struct gzip *g;
	size_t off;
	int rc;

	if ((rc = gzip_open(&g, threads, level, to_buf, s, err, errlen)) < 0)
		return rc;
	for (off = 0; off < len && rc == 0; off += step)
		rc = gzip_write(g, in + off, len - off < step ? len - off : step, err, errlen);
	if (rc == 0)
		rc = gzip_finish(g, err, errlen);
	gzip_free(g);
	return rc;
}

/* Inflates member after member with zlib; -1 on any error. Counts members. */
static long gunzip_members(const struct buf *gz, unsigned char *out, size_t cap, int *members)
{
	z_stream z = { 0 };
	size_t used = 0;
	int zrc = Z_OK;

	*members = 0;
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)gz->data;
	z.avail_in = (uInt)gz->len;
	while (z.avail_in > 0) {
		z.next_out = out + used;
		z.avail_out = (uInt)(cap - used);
		zrc = inflate(&z, Z_NO_FLUSH);
		used = cap - z.avail_out;
		if (zrc == Z_STREAM_END) {
			++*members;
			inflateReset(&z);
		} else if (zrc != Z_OK) {
			break;
		}
	}
	inflateEnd(&z);
	return zrc == Z_STREAM_END ? (long)used : -1;
}

/* The gzip program reads the stream back to the same bytes. */
static int gzip_program_agrees(const struct buf *gz, const unsigned char *in, size_t len)
{
	char path[] = "/tmp/nixery-gzip-XXXXXX", cmd[128], want[DIGEST_HEX_LEN + 1], got[80] = "";
	int fd = mkstemp(path), ok = 0;
	FILE *p;

	if (fd < 0)
		return 0;
	if (write(fd, gz->data, gz->len) == (ssize_t)gz->len) {
		snprintf(cmd, sizeof cmd, "gzip -dc %s | sha256sum", path);
		if ((p = popen(cmd, "r"))) {
			ok = fgets(got, sizeof got, p) != NULL;
			ok = pclose(p) == 0 && ok;
		}
	}
	close(fd);
	unlink(path);
	digest_hex(in, len, want);
	return ok && strncmp(got, want, DIGEST_HEX_LEN) == 0;
}

static void test_round_trip(void)
{
	const size_t sizes[] = { 0, 1, GZIP_PIECE - 1, GZIP_PIECE, GZIP_PIECE + 1, 3 * GZIP_PIECE + 12345 };
	size_t i, max = 3 * GZIP_PIECE + 12345;
	unsigned char *in = make_input(max), *out = malloc(max + 1);

	for (i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		struct sink s = { 0 };
		char err[256] = "";
		int members;
		long n;

		if (!CHECK_WHY(compress_input(in, sizes[i], 2, 6, 65536, &s, err, sizeof err) == 0, err,
			       "%zu bytes compress", sizes[i]))
			continue;
		n = gunzip_members(&s.out, out, max + 1, &members);
		CHECK(n == (long)sizes[i] && memcmp(out, in, sizes[i]) == 0,
		      "%zu bytes come back whole through zlib (%ld)", sizes[i], n);
		CHECK(members == (int)(sizes[i] ? (sizes[i] + GZIP_PIECE - 1) / GZIP_PIECE : 1),
		      "%zu bytes are %d gzip members of at most 1 MiB each", sizes[i], members);
		CHECK(gzip_program_agrees(&s.out, in, sizes[i]),
		      "%zu bytes come back whole through the gzip program", sizes[i]);
		buf_free(&s.out);
	}
	free(in);
	free(out);
}

static void test_same_bytes(void)
{
	const size_t len = 7 * GZIP_PIECE + 4321;
	const struct { unsigned threads; size_t step; } runs[] = {
		{ 1, len }, { 2, len }, { 8, len }, { 8, 1 << 16 }, { 3, 7 }, { 1, 300 * 1024 + 1 },
	};
	unsigned char *in = make_input(len);
	char first[DIGEST_HEX_LEN + 1] = "";
	size_t i, first_len = 0;

	for (i = 0; i < sizeof runs / sizeof *runs; i++) {
		struct sink s = { 0 };
		char err[256] = "", hex[DIGEST_HEX_LEN + 1];

		if (!CHECK_WHY(compress_input(in, len, runs[i].threads, 6, runs[i].step, &s, err, sizeof err) == 0,
			       err, "7 MiB compress with %u threads in writes of %zu bytes",
			       runs[i].threads, runs[i].step))
			continue;
		digest_hex(s.out.data, s.out.len, hex);
		if (!first[0]) {
			memcpy(first, hex, sizeof first);
			first_len = s.out.len;
			CHECK(s.out.len < len / 2, "the text compresses (%zu of %zu bytes)", s.out.len, len);
		} else {
			CHECK(s.out.len == first_len && strcmp(hex, first) == 0,
			      "%u threads, writes of %zu bytes: the same bytes as 1 thread in one write",
			      runs[i].threads, runs[i].step);
		}
		buf_free(&s.out);
	}
	free(in);
}

/* The level trades time for bytes; every level reads back, and each gives
 * the same bytes for any number of threads. */
static void test_levels(void)
{
	const size_t len = 3 * GZIP_PIECE + 99;
	unsigned char *in = make_input(len), *out = malloc(len + 1);
	size_t sizes[GZIP_LEVEL_MAX + 1] = { 0 };
	int level, members;

	for (level = 1; level <= GZIP_LEVEL_MAX; level += GZIP_LEVEL_MAX - 1) {
		struct sink one = { 0 }, four = { 0 };
		char err[256] = "";

		if (!CHECK_WHY(compress_input(in, len, 1, level, len, &one, err, sizeof err) == 0 &&
			       compress_input(in, len, 4, level, 65536, &four, err, sizeof err) == 0, err,
			       "level %d compresses", level))
			continue;
		CHECK(one.out.len == four.out.len && memcmp(one.out.data, four.out.data, one.out.len) == 0,
		      "level %d: 4 threads give the bytes of 1", level);
		CHECK(gunzip_members(&one.out, out, len + 1, &members) == (long)len && memcmp(out, in, len) == 0,
		      "level %d reads back whole", level);
		sizes[level] = one.out.len;
		buf_free(&one.out);
		buf_free(&four.out);
	}
	CHECK(sizes[GZIP_LEVEL_MAX] < sizes[1], "level %d is smaller than level 1 (%zu < %zu bytes)",
	      GZIP_LEVEL_MAX, sizes[GZIP_LEVEL_MAX], sizes[1]);
	free(in);
	free(out);
}

/* Random bytes, the same on every run. */
static unsigned char *make_noise(size_t len)
{
	unsigned char *d = malloc(len ? len : 1);
	uint64_t x = 0x2545f4914f6cdd1du;
	size_t i;

	for (i = 0; d && i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		d[i] = (unsigned char)(x >> 32);
	}
	return d;
}

/* Data that does not compress is stored, not searched: it costs no more
 * than a few bytes per piece. A piece that compresses in part is still
 * compressed. */
static void test_incompressible(void)
{
	const size_t len = 3 * GZIP_PIECE;
	unsigned char *noise = make_noise(len), *mixed = make_input(len), *out = malloc(len + 1);
	struct sink s = { 0 }, m = { 0 };
	char err[256] = "";
	int members;

	/* The first quarter of every piece of `mixed` is noise. */
	for (size_t off = 0; off < len; off += GZIP_PIECE)
		memcpy(mixed + off, noise + off, GZIP_PIECE / 4);
	if (CHECK_WHY(compress_input(noise, len, 2, 12, 65536, &s, err, sizeof err) == 0, err,
		      "3 MiB of random bytes compress at level 12")) {
		struct buf stored = { 0 };
		struct libdeflate_compressor *level0 = libdeflate_alloc_compressor(0);
		size_t off, bound = libdeflate_gzip_compress_bound(level0, GZIP_PIECE);
		unsigned char *member = malloc(bound);

		for (off = 0; member && off < len; off += GZIP_PIECE)
			buf_append(&stored, member,
				   libdeflate_gzip_compress(level0, noise + off, GZIP_PIECE, member, bound));
		CHECK(s.out.len == stored.len && memcmp(s.out.data, stored.data, stored.len) == 0,
		      "random bytes are stored as libdeflate's level 0 stores them, not searched at level 12 "
		      "(%zu bytes for %zu)", s.out.len, len);
		free(member);
		buf_free(&stored);
		libdeflate_free_compressor(level0);
		CHECK(gunzip_members(&s.out, out, len + 1, &members) == (long)len && memcmp(out, noise, len) == 0,
		      "stored pieces read back whole");
	}
	if (CHECK_WHY(compress_input(mixed, len, 2, 6, 65536, &m, err, sizeof err) == 0, err,
		      "pieces a quarter random compress")) {
		CHECK(m.out.len < len * 3 / 4, "pieces a quarter random are compressed: %zu bytes for %zu",
		      m.out.len, len);
		CHECK(gunzip_members(&m.out, out, len + 1, &members) == (long)len && memcmp(out, mixed, len) == 0,
		      "they read back whole");
	}
	buf_free(&s.out);
	buf_free(&m.out);
	free(noise);
	free(mixed);
	free(out);
}

static void test_sink_error(void)
{
	const size_t len = 6 * GZIP_PIECE;
	unsigned char *in = make_input(len);
	unsigned threads;

	for (threads = 1; threads <= 4; threads += 3) {
		struct sink s = { .fail_at = 2 };
		char err[256] = "";
		int rc = compress_input(in, len, threads, 6, 65536, &s, err, sizeof err);

		CHECK(rc == -ENOSPC, "%u threads: the sink's error ends the stream with its code (%d)", threads, rc);
		CHECK_WHY(strstr(err, "No space left") != NULL, err,
			  "%u threads: the sink's message reaches the caller", threads);
		CHECK(s.calls == 2, "%u threads: nothing reaches the sink after its error (%d calls)",
		      threads, s.calls);
		buf_free(&s.out);
	}
	free(in);
}

/* A stream given up half way (an error elsewhere, a deadline) stops its
 * threads and frees everything (the sanitizers check that); what reached
 * the sink before is whole members of the input's beginning. */
static void test_abandon(void)
{
	const size_t len = 5 * GZIP_PIECE;
	unsigned char *in = make_input(len), *out = malloc(len);
	struct sink s = { 0 };
	struct gzip *g;
	char err[256] = "";
	int members = 0;
	long n;

	if (CHECK_WHY(gzip_open(&g, 4, 6, to_buf, &s, err, sizeof err) == 0, err, "a stream opens")) {
		CHECK_WHY(gzip_write(g, in, len, err, sizeof err) == 0, err, "5 MiB are taken");
		gzip_free(g);
		n = s.out.len ? gunzip_members(&s.out, out, len, &members) : 0;
		CHECK(n == (long)members * GZIP_PIECE && memcmp(out, in, (size_t)n) == 0,
		      "a stream freed before its end has sent whole members of its beginning (%d, %ld bytes)",
		      members, n);
	}
	buf_free(&s.out);
	free(in);
	free(out);
}

int main(void)
{
	test_round_trip();
	test_same_bytes();
	test_levels();
	test_incompressible();
	test_sink_error();
	test_abandon();
	return check_exit();
}
