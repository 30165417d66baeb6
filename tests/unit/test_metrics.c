/* The request and build counters (builder/metrics.h): shared by every
 * process that maps the file, started anew for another layout, and written
 * in Prometheus's text format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/metrics.h"
#include "tests/unit/check.h"

static int has_line(const struct buf *b, const char *line)
{
	const char *p = b->data;
	size_t len = strlen(line);

	while (p && (p = strstr(p, line))) {
		if ((p == b->data || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
			return 1;
		p += len;
	}
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/nixery-metrics-XXXXXX", path[64], err[256], cmd[96];
	struct metrics *m, *other;
	struct buf out = { 0 };
	FILE *f;
	pid_t pid;
	int status;

	const struct platform *amd64 = platform_find("linux/amd64", 11), *arm64 = platform_find("linux/arm64", 11);
	const struct platform *served[] = { amd64 };

	if (!mkdtemp(dir))
		return 1;
	CHECK_WHY(metrics_open(dir, &m, err, sizeof err) == 0, err, "the counters map");
	metrics_request(m, "manifest", 200);
	metrics_request(m, "manifest", 200);
	metrics_request(m, "blob", 404);
	metrics_request(m, "nonsense", 418);
	metrics_cache(m, METRICS_REQUEST, 1);
	metrics_cache(m, METRICS_LAYER, 0);
	metrics_build_started(m, amd64);
	metrics_build_ended(m, amd64, METRICS_BUILD_OK, 3.5, 1000);
	metrics_build_ended(m, amd64, METRICS_BUILD_TIMEOUT, 61, 0);
	metrics_build_started(m, arm64);
	metrics_build_ended(m, arm64, METRICS_BUILD_FAILED, 1, 20);
	metrics_slot_wait(m, 1500);
	/* Another process counts into the same file. */
	pid = fork();
	if (pid == 0) {
		struct metrics *child;

		if (metrics_open(dir, &child, err, sizeof err) < 0)
			_exit(1);
		metrics_request(child, "manifest", 200);
		metrics_close(child);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	metrics_render(m, served, 1, 12, 3456, &out);
	CHECK_WHY(has_line(&out, "nixery_requests_total{route=\"manifest\",status=\"200\"} 3"), out.data,
		  "requests are counted by route and status, across processes");
	CHECK(has_line(&out, "nixery_requests_total{route=\"blob\",status=\"404\"} 1"), "a 404 of a blob is counted as such");
	CHECK(has_line(&out, "nixery_requests_total{route=\"other\",status=\"other\"} 1"),
	      "an unknown route and status count as other");
	CHECK(has_line(&out, "nixery_cache_hits_total{level=\"request\"} 1") &&
	      has_line(&out, "nixery_cache_misses_total{level=\"layer\"} 1"), "cache hits and misses by level");
	CHECK(has_line(&out, "nixery_builds_started_total{platform=\"linux/amd64\"} 1") &&
	      has_line(&out, "nixery_builds_total{platform=\"linux/amd64\",result=\"ok\"} 1") &&
	      has_line(&out, "nixery_builds_total{platform=\"linux/amd64\",result=\"timeout\"} 1"),
	      "builds started and ended by platform and result");
	CHECK(has_line(&out, "nixery_builds_started_total{platform=\"linux/arm64\"} 1") &&
	      has_line(&out, "nixery_builds_total{platform=\"linux/arm64\",result=\"failed\"} 1") &&
	      has_line(&out, "nixery_builds_total{platform=\"linux/arm64\",result=\"ok\"} 0"),
	      "a platform no longer served, with builds, is shown with its own");
	CHECK(!strstr(out.data, "linux/386"), "a platform neither served nor built for is not shown");
	CHECK(has_line(&out, "nixery_build_duration_seconds_bucket{platform=\"linux/amd64\",le=\"2\"} 0") &&
	      has_line(&out, "nixery_build_duration_seconds_bucket{platform=\"linux/amd64\",le=\"5\"} 1") &&
	      has_line(&out, "nixery_build_duration_seconds_bucket{platform=\"linux/amd64\",le=\"60\"} 1") &&
	      has_line(&out, "nixery_build_duration_seconds_bucket{platform=\"linux/amd64\",le=\"120\"} 2") &&
	      has_line(&out, "nixery_build_duration_seconds_bucket{platform=\"linux/amd64\",le=\"+Inf\"} 2") &&
	      has_line(&out, "nixery_build_duration_seconds_sum{platform=\"linux/amd64\"} 64.500") &&
	      has_line(&out, "nixery_build_duration_seconds_count{platform=\"linux/amd64\"} 2"),
	      "the build durations make a cumulative histogram per platform");
	CHECK(has_line(&out, "nixery_packed_bytes_total{platform=\"linux/amd64\"} 1000") &&
	      has_line(&out, "nixery_packed_bytes_total{platform=\"linux/arm64\"} 20") &&
	      has_line(&out, "nixery_build_slot_wait_seconds_total 1.500"),
	      "bytes packed by platform, and time waited for a slot");
	CHECK(has_line(&out, "nixery_blob_store_blobs 12") && has_line(&out, "nixery_blob_store_bytes 3456"),
	      "the blob store's size is given as gauges");
	CHECK(has_line(&out, "# TYPE nixery_build_duration_seconds histogram"), "each family has its TYPE");
	buf_free(&out);
	metrics_close(m);

	/* A file of another layout (an older version) is started anew. */
	snprintf(path, sizeof path, "%s/metrics.shm", dir);
	if ((f = fopen(path, "r+"))) {
		fputs("old layout", f);
		fclose(f);
	}
	CHECK(metrics_open(dir, &other, err, sizeof err) == 0, "a file of another layout maps");
	metrics_render(other, served, 1, 0, 0, &out);
	CHECK(!strstr(out.data, "nixery_requests_total{") &&
	      has_line(&out, "nixery_builds_started_total{platform=\"linux/amd64\"} 0") && !strstr(out.data, "arm64"),
	      "and starts from zero, showing the platforms served");
	buf_free(&out);
	metrics_close(other);
	metrics_request(NULL, "manifest", 200);
	CHECK(1, "counting into no metrics does nothing");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", dir);
	return check_exit();
}
