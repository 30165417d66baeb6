#include "builder/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* "nxmetr" and a layout number: a file of another layout is started anew. */
#define MAGIC 0x6e786d6574720004ULL

static const char *const routes[] = {
	"base", "manifest", "blob", "tags", "catalog", "referrers", "page", "search", "metrics", "other",
};
#define NROUTES (sizeof routes / sizeof *routes)
static const int statuses[] = { 200, 206, 303, 304, 400, 401, 403, 404, 405, 414, 416, 429, 500, 503, 504, 507 };
#define NSTATUSES (sizeof statuses / sizeof *statuses)
/* Upper bounds, in seconds, of the build-duration histogram's buckets. */
static const double buckets[] = { 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800 };
#define NBUCKETS (sizeof buckets / sizeof *buckets)
static const char *const levels[] = { "request", "image", "layer" };

struct shared {
	uint64_t magic;
	atomic_uint_fast64_t requests[NROUTES][NSTATUSES + 1];   /* the last: other statuses */
	atomic_uint_fast64_t hits[METRICS_LEVELS], misses[METRICS_LEVELS];
	/* By platform, as the table of core/platform.c has them. */
	atomic_uint_fast64_t builds_started[PLATFORM_MAX], builds[PLATFORM_MAX][METRICS_BUILD_RESULTS];
	atomic_uint_fast64_t duration[PLATFORM_MAX][NBUCKETS + 1];  /* the last: above every bound */
	atomic_uint_fast64_t duration_ms[PLATFORM_MAX];
	atomic_uint_fast64_t packed_bytes[PLATFORM_MAX];
	atomic_uint_fast64_t slot_waits, slot_wait_ms;
};

struct metrics {
	struct shared *s;
};

int metrics_open(const char *state_dir, struct metrics **out, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof *m);
	char path[4096];
	struct stat st;
	void *map = MAP_FAILED;
	int fd = -1, rc = 0;

	*out = NULL;
	snprintf(path, sizeof path, "%s/metrics.shm", state_dir);
	if (!m || (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0 ||
	    flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0 ||
	    ((size_t)st.st_size != sizeof(struct shared) && ftruncate(fd, sizeof(struct shared)) < 0) ||
	    (map = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		rc = m ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot map the metrics file %s: %s", path, strerror(-rc));
		free(m);
		goto out;
	}
	m->s = map;
	/* Under the lock, so that two first starts do not both clear it. */
	if (m->s->magic != MAGIC) {
		memset(m->s, 0, sizeof *m->s);
		m->s->magic = MAGIC;
	}
	*out = m;
out:
	/* Explicitly: the mapping keeps the file open, and the lock with it. */
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
	return rc;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	munmap(m->s, sizeof *m->s);
	free(m);
}

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t read_count(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit((atomic_uint_fast64_t *)c, memory_order_relaxed);
}

void metrics_request(struct metrics *m, const char *route, int status)
{
	size_t r, s;

	if (!m)
		return;
	for (r = 0; r < NROUTES - 1 && strcmp(routes[r], route) != 0; r++)
		;
	for (s = 0; s < NSTATUSES && statuses[s] != status; s++)
		;
	count(&m->s->requests[r][s], 1);
}

void metrics_cache(struct metrics *m, enum metrics_level level, int hit)
{
	if (m)
		count(hit ? &m->s->hits[level] : &m->s->misses[level], 1);
}

void metrics_build_started(struct metrics *m, const struct platform *p)
{
	if (m)
		count(&m->s->builds_started[platform_index(p)], 1);
}

void metrics_build_ended(struct metrics *m, const struct platform *p, enum metrics_build result, double seconds,
			 uint64_t packed)
{
	size_t b, i = platform_index(p);

	if (!m)
		return;
	for (b = 0; b < NBUCKETS && seconds > buckets[b]; b++)
		;
	count(&m->s->builds[i][result], 1);
	count(&m->s->duration[i][b], 1);
	count(&m->s->duration_ms[i], (uint64_t)(seconds * 1000));
	count(&m->s->packed_bytes[i], packed);
}

void metrics_slot_wait(struct metrics *m, long ms)
{
	if (!m)
		return;
	count(&m->s->slot_waits, 1);
	count(&m->s->slot_wait_ms, ms > 0 ? (uint64_t)ms : 0);
}

static void header(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Requests by route and status. */
static void render_requests(const struct shared *s, struct buf *out)
{
	size_t r, i;

	header(out, "nixery_requests_total", "counter",
	       "Requests the workers answered, by route and status; not those the web server answered itself "
	       "(blobs, and lighttpd's cached tags): its /server-status counts every request.");
	for (r = 0; r < NROUTES; r++)
		for (i = 0; i <= NSTATUSES; i++) {
			uint64_t n = read_count(&s->requests[r][i]);

			if (!n)
				continue;
			if (i < NSTATUSES)
				buf_printf(out, "nixery_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
					   routes[r], statuses[i], (unsigned long long)n);
			else
				buf_printf(out, "nixery_requests_total{route=\"%s\",status=\"other\"} %llu\n",
					   routes[r], (unsigned long long)n);
		}
}

/* What the cache answered, at each level. */
static void render_cache(const struct shared *s, struct buf *out)
{
	size_t i;

	header(out, "nixery_cache_hits_total", "counter",
	       "Answers found in the cache: a request evaluated before, an image built before, a layer packed before.");
	for (i = 0; i < METRICS_LEVELS; i++)
		buf_printf(out, "nixery_cache_hits_total{level=\"%s\"} %llu\n", levels[i],
			   (unsigned long long)read_count(&s->hits[i]));
	header(out, "nixery_cache_misses_total", "counter", "Answers not found in the cache, by the same levels.");
	for (i = 0; i < METRICS_LEVELS; i++)
		buf_printf(out, "nixery_cache_misses_total{level=\"%s\"} %llu\n", levels[i],
			   (unsigned long long)read_count(&s->misses[i]));
	header(out, "nixery_layers_reused_total", "counter", "Layers an image took from the cache instead of packing them.");
	buf_printf(out, "nixery_layers_reused_total %llu\n", (unsigned long long)read_count(&s->hits[METRICS_LAYER]));
}

/* Whether platform i's builds are shown: it is served, or was. */
static int shown(const struct shared *s, size_t i, const struct platform *const *served, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (platform_index(served[k]) == i)
			return 1;
	return read_count(&s->builds_started[i]) > 0;
}

/* One platform's build-duration histogram. */
static void render_histogram(const struct shared *s, size_t i, struct buf *out)
{
	const char *name = platform_at(i)->name;
	uint64_t cumulative = 0;
	size_t b;

	for (b = 0; b < NBUCKETS; b++) {
		cumulative += read_count(&s->duration[i][b]);
		buf_printf(out, "nixery_build_duration_seconds_bucket{platform=\"%s\",le=\"%g\"} %llu\n", name,
			   buckets[b], (unsigned long long)cumulative);
	}
	cumulative += read_count(&s->duration[i][NBUCKETS]);
	buf_printf(out, "nixery_build_duration_seconds_bucket{platform=\"%s\",le=\"+Inf\"} %llu\n"
		   "nixery_build_duration_seconds_sum{platform=\"%s\"} %.3f\n"
		   "nixery_build_duration_seconds_count{platform=\"%s\"} %llu\n",
		   name, (unsigned long long)cumulative, name, (double)read_count(&s->duration_ms[i]) / 1000,
		   name, (unsigned long long)cumulative);
}

/* The builds of each platform: started, ended by result, how long they
 * took, and the bytes they packed. */
static void render_builds(const struct shared *s, const struct platform *const *served, size_t n,
			  struct buf *out)
{
	static const char *const results[METRICS_BUILD_RESULTS] = { "ok", "failed", "timeout", "cancelled" };
	size_t i, r;

	header(out, "nixery_builds_started_total", "counter",
	       "Image builds started, by platform: those ended (nixery_builds_total) and those running.");
	for (i = 0; i < PLATFORM_MAX; i++)
		if (shown(s, i, served, n))
			buf_printf(out, "nixery_builds_started_total{platform=\"%s\"} %llu\n", platform_at(i)->name,
				   (unsigned long long)read_count(&s->builds_started[i]));
	header(out, "nixery_builds_total", "counter",
	       "Image builds ended, by platform and result: ok, failed, timeout, cancelled (stopped with their worker).");
	for (i = 0; i < PLATFORM_MAX; i++)
		for (r = 0; r < METRICS_BUILD_RESULTS && shown(s, i, served, n); r++)
			buf_printf(out, "nixery_builds_total{platform=\"%s\",result=\"%s\"} %llu\n",
				   platform_at(i)->name, results[r], (unsigned long long)read_count(&s->builds[i][r]));
	header(out, "nixery_build_duration_seconds", "histogram", "How long image builds took, packing included, by platform.");
	for (i = 0; i < PLATFORM_MAX; i++)
		if (shown(s, i, served, n))
			render_histogram(s, i, out);
	header(out, "nixery_packed_bytes_total", "counter", "Compressed bytes of layers packed, by platform.");
	for (i = 0; i < PLATFORM_MAX; i++)
		if (shown(s, i, served, n))
			buf_printf(out, "nixery_packed_bytes_total{platform=\"%s\"} %llu\n", platform_at(i)->name,
				   (unsigned long long)read_count(&s->packed_bytes[i]));
}

void metrics_render(const struct metrics *m, const struct platform *const *served, size_t n,
		    uint64_t store_blobs, uint64_t store_bytes, struct buf *out)
{
	const struct shared *s = m->s;

	render_requests(s, out);
	render_cache(s, out);
	render_builds(s, served, n, out);
	header(out, "nixery_build_slot_waits_total", "counter", "Nix jobs that waited for a build slot (NIXERY_MAX_BUILDS).");
	buf_printf(out, "nixery_build_slot_waits_total %llu\n", (unsigned long long)read_count(&s->slot_waits));
	header(out, "nixery_build_slot_wait_seconds_total", "counter", "Time Nix jobs spent waiting for a build slot.");
	buf_printf(out, "nixery_build_slot_wait_seconds_total %.3f\n", (double)read_count(&s->slot_wait_ms) / 1000);
	header(out, "nixery_blob_store_blobs", "gauge", "Blobs the cache records in storage.");
	buf_printf(out, "nixery_blob_store_blobs %llu\n", (unsigned long long)store_blobs);
	header(out, "nixery_blob_store_bytes", "gauge", "Bytes of the blobs the cache records in storage.");
	buf_printf(out, "nixery_blob_store_bytes %llu\n", (unsigned long long)store_bytes);
}
