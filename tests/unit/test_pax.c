/* A file over 8 GiB, the ustar size limit, in a layer (core/tarball.c):
 * its header carries the size in a PAX record, and a tar reader gets the
 * size whole. Only the header is written: the test reaches the tarball's
 * own header writer, and no 8 GiB of data goes through it. */
#include "core/tarball.c"

#include <zlib.h>

#include "core/buf.h"

#include "tests/unit/check.h"

static struct buf gz;

static int collect(void *ctx, const void *data, size_t len, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	return buf_append(&gz, data, len);
}

/* The tar bytes of a gzip stream flushed so far. */
static size_t gunzip(unsigned char *out, size_t cap)
{
	z_stream z = { 0 };
	size_t n;

	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return 0;
	z.next_in = (unsigned char *)gz.data;
	z.avail_in = (uInt)gz.len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	inflate(&z, Z_SYNC_FLUSH);
	n = cap - z.avail_out;
	inflateEnd(&z);
	return n;
}

int main(void)
{
	static unsigned char zeros[10240], tar[65536];
	const int64_t size = ((int64_t)8 << 30) + 1;
	struct archive_entry *e;
	struct archive *r;
	struct tarball *t;
	char err[256];
	size_t n;

	if (tarball_open(&t, (struct tarball_gzip){ 1, 6 }, collect, NULL, err, sizeof err) < 0) {
		printf("FAIL: %s: a layer opens (%s)\n", check_binary(), err);
		return 1;
	}
	CHECK(write_header(t, "nix/store/big", AE_IFREG, 0444, size, NULL) == 0,
	      "a header for a file of 8 GiB and 1 byte is written");
	/* A block of its data pushes the header out of libarchive's buffer;
	 * finishing the gzip stream there sends it on. */
	CHECK(archive_write_data(t->a, zeros, sizeof zeros) == (la_ssize_t)sizeof zeros,
	      "its first bytes follow");
	CHECK(gzip_finish(t->gzip, err, sizeof err) == 0, "the stream so far can be finished");
	n = gunzip(tar, sizeof tar);
	CHECK(n >= 3 * 512, "the flushed stream holds the headers (%zu bytes)", n);
	CHECK(tar[156] == 'x', "the first header is a PAX extended header (type %c)", tar[156]);
	CHECK(memmem(tar + 512, 512, " size=8589934593\n", 17) != NULL,
	      "its records hold size=8589934593");

	r = archive_read_new();
	archive_read_support_format_tar(r);
	CHECK(archive_read_open_memory(r, tar, n) == ARCHIVE_OK && archive_read_next_header(r, &e) == ARCHIVE_OK &&
	      archive_entry_size(e) == size && strcmp(archive_entry_pathname(e), "nix/store/big") == 0,
	      "a tar reader sees nix/store/big with its 8589934593 bytes");
	archive_read_free(r);
	tarball_abort(t);
	buf_free(&gz);
	return check_exit();
}
