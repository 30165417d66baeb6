/* A blob the worker sends itself is answered as a web server answers a
 * file (fcgi/reply.h): its validators, conditions met or not, one byte
 * range or the whole blob. */
#include <stdio.h>
#include <string.h>

#include "fcgi/reply.h"
#include "tests/unit/check.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ETAG "\"sha256:" HEX "\""
#define SIZE 1000
/* The time every blob is committed with: one second past the epoch. */
#define MTIME 1
#define LAST_MODIFIED "Thu, 01 Jan 1970 00:00:01 GMT"

struct plan_case {
	const char *what;
	struct reply_conditions c;
	int status;
	uint64_t offset, length;
	const char *content_range;
};

static const struct plan_case cases[] = {
	{ "no condition: the whole blob", { 0 }, 200, 0, SIZE, "" },
	{ "If-None-Match: its ETag", { .if_none_match = ETAG }, 304, 0, SIZE, "" },
	{ "If-None-Match: its ETag, weak", { .if_none_match = "W/" ETAG }, 304, 0, SIZE, "" },
	{ "If-None-Match: its ETag among others", { .if_none_match = "\"x\", " ETAG ", \"y\"" }, 304, 0, SIZE, "" },
	{ "If-None-Match: *", { .if_none_match = "*" }, 304, 0, SIZE, "" },
	{ "If-None-Match: another ETag", { .if_none_match = "\"sha256:" HEX "0\"" }, 200, 0, SIZE, "" },
	{ "If-None-Match: another, with an If-Modified-Since it meets (If-None-Match decides)",
	  { .if_none_match = "\"x\"", .if_modified_since = LAST_MODIFIED }, 200, 0, SIZE, "" },
	{ "If-Modified-Since: its Last-Modified", { .if_modified_since = LAST_MODIFIED }, 304, 0, SIZE, "" },
	{ "If-Modified-Since: later", { .if_modified_since = "Sat, 01 Jan 2000 00:00:00 GMT" }, 304, 0, SIZE, "" },
	{ "If-Modified-Since: the epoch", { .if_modified_since = "Thu, 01 Jan 1970 00:00:00 GMT" }, 200, 0, SIZE, "" },
	{ "If-Modified-Since: no date", { .if_modified_since = "yesterday-ish" }, 200, 0, SIZE, "" },
	{ "Range: bytes=0-9", { .range = "bytes=0-9" }, 206, 0, 10, "bytes 0-9/1000" },
	{ "Range: bytes=990-", { .range = "bytes=990-" }, 206, 990, 10, "bytes 990-999/1000" },
	{ "Range: bytes=-10", { .range = "bytes=-10" }, 206, 990, 10, "bytes 990-999/1000" },
	{ "Range: bytes=-5000 (more than there is)", { .range = "bytes=-5000" }, 206, 0, SIZE, "bytes 0-999/1000" },
	{ "Range: bytes=500-5000 (past the end)", { .range = "bytes=500-5000" }, 206, 500, 500, "bytes 500-999/1000" },
	{ "Range: bytes=999-999", { .range = "bytes=999-999" }, 206, 999, 1, "bytes 999-999/1000" },
	{ "Range: bytes=1000- (no byte of it)", { .range = "bytes=1000-" }, 416, 0, 0, "bytes */1000" },
	{ "Range: bytes=-0 (no byte of it)", { .range = "bytes=-0" }, 416, 0, 0, "bytes */1000" },
	{ "Range: bytes=9-0 (not a range)", { .range = "bytes=9-0" }, 200, 0, SIZE, "" },
	{ "Range: two ranges (answered whole)", { .range = "bytes=0-9,20-29" }, 200, 0, SIZE, "" },
	{ "Range: items=0-9", { .range = "items=0-9" }, 200, 0, SIZE, "" },
	{ "Range: bytes=a-b", { .range = "bytes=a-b" }, 200, 0, SIZE, "" },
	{ "Range: bytes=99999999999999999999-", { .range = "bytes=99999999999999999999-" }, 200, 0, SIZE, "" },
	{ "Range with If-Range: its ETag", { .range = "bytes=0-9", .if_range = ETAG }, 206, 0, 10, "bytes 0-9/1000" },
	{ "Range with If-Range: its ETag, weak (never strong enough)",
	  { .range = "bytes=0-9", .if_range = "W/" ETAG }, 200, 0, SIZE, "" },
	{ "Range with If-Range: another ETag", { .range = "bytes=0-9", .if_range = "\"x\"" }, 200, 0, SIZE, "" },
	{ "Range with If-Range: its Last-Modified", { .range = "bytes=0-9", .if_range = LAST_MODIFIED },
	  206, 0, 10, "bytes 0-9/1000" },
	{ "Range with If-Range: another date", { .range = "bytes=0-9", .if_range = "Sat, 01 Jan 2000 00:00:00 GMT" },
	  200, 0, SIZE, "" },
	{ "Range and a met If-None-Match: 304", { .range = "bytes=0-9", .if_none_match = ETAG }, 304, 0, SIZE, "" },
};

int main(void)
{
	struct reply_blob b;
	size_t i;

	reply_blob_plan(HEX, SIZE, MTIME, &cases[0].c, &b);
	CHECK_STR_EQ(b.etag, ETAG, "a blob's ETag is its digest");
	CHECK_STR_EQ(b.last_modified, LAST_MODIFIED, "its Last-Modified is its file's time, as web servers write it");
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct plan_case *t = &cases[i];

		reply_blob_plan(HEX, SIZE, MTIME, &t->c, &b);
		CHECK(b.status == t->status && b.offset == t->offset && b.length == t->length &&
		      strcmp(b.content_range, t->content_range) == 0,
		      "%s: %d, bytes %llu+%llu, Content-Range '%s' (got %d, %llu+%llu, '%s')", t->what, t->status,
		      (unsigned long long)t->offset, (unsigned long long)t->length, t->content_range, b.status,
		      (unsigned long long)b.offset, (unsigned long long)b.length, b.content_range);
	}
	reply_blob_plan(HEX, 0, MTIME, &(struct reply_conditions){ .range = "bytes=0-" }, &b);
	CHECK(b.status == 416 && strcmp(b.content_range, "bytes */0") == 0, "an empty blob has no range");
	return check_failed ? 1 : 0;
}
