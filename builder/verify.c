#include "builder/verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder/health.h"
#include "core/clock.h"
#include "core/digests.h"

#define PROGRESS_SECONDS 10

/* What hashing has done so far, for the pace and the progress. */
struct pace {
	const struct digests *list;
	size_t index;
	uint64_t rate, done, total;
	struct timespec start, shown;
	FILE *progress;
};

static int add_blob(void *ctx, const char *hex, uint64_t size)
{
	return digests_add(ctx, hex, size);
}

/* After each chunk: sleeps until the bytes read so far took at least
 * their time at the rate, and says how far it got now and then. */
static void pace(void *ctx, uint64_t bytes)
{
	struct pace *p = ctx;
	double ahead;

	p->done += bytes;
	if (p->rate && (ahead = (double)p->done / (double)p->rate - clock_seconds_since(p->start)) > 0) {
		struct timespec nap = { (time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9) };

		nanosleep(&nap, NULL);
	}
	if (p->progress && clock_seconds_since(p->shown) >= PROGRESS_SECONDS) {
		fprintf(p->progress, "verify: %zu of %zu blobs, %.1f of %.1f MiB\n", p->index, p->list->n,
			(double)p->done / (1 << 20), (double)p->total / (1 << 20));
		fflush(p->progress);
		p->shown = clock_start();
	}
}

int verify_run(struct cache *cache, const struct storage *s, uint64_t rate, FILE *out, FILE *progress,
	       struct verify_report *report, char *err, size_t errlen)
{
	struct digests list = { 0 };
	struct pace p = { .list = &list, .rate = rate, .progress = progress };
	size_t i;
	int rc;

	memset(report, 0, sizeof *report);
	if (storage_remote(s)) {
		snprintf(err, errlen, "the blobs are in a bucket, which keeps their checksums itself: nothing to verify here");
		return -EOPNOTSUPP;
	}
	if ((rc = storage_each(s, add_blob, &list)) < 0) {
		snprintf(err, errlen, "cannot list the blobs in storage: %s", strerror(-rc));
		goto out;
	}
	for (i = 0; i < list.n; i++)
		p.total += list.size[i];
	p.start = p.shown = clock_start();
	for (p.index = 0; p.index < list.n; p.index++) {
		const char *hex = list.hex[p.index];

		rc = storage_verify(s, hex, pace, &p);
		/* Gone meanwhile: the garbage collector's. */
		if (rc == -ENOENT)
			continue;
		if (rc < 0 && rc != -EIO) {
			snprintf(err, errlen, "cannot read blob %s: %s", hex, strerror(-rc));
			goto out;
		}
		report->blobs++;
		report->bytes += list.size[p.index];
		if (rc == 0)
			continue;
		report->damaged++;
		fprintf(out, "damaged: sha256:%s (%llu bytes)\n", hex, (unsigned long long)list.size[p.index]);
		fflush(out);
		if ((rc = health_lost(cache, s, hex, -EIO)) != -ENOENT) {
			snprintf(err, errlen, "cannot forget a damaged blob: %s", cache_error(cache));
			goto out;
		}
	}
	rc = 0;
out:
	digests_free(&list);
	return rc;
}
