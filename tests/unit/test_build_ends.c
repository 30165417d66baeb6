/* Every build that starts ends, in the metrics and in the builds table:
 * builds started = builds ended (ok, failed, timeout, cancelled) + builds
 * running, whatever stops them. A build stopped with its worker
 * (-ECANCELED) is counted and recorded as cancelled, not failed, and a
 * request that waited for it builds the image itself. The stand-in is
 * Nix's; the cache, the storage, the metrics and the packing are real. */
#include "tests/unit/builder_standin.h"

#include <stdatomic.h>

#include <sqlite3.h>

#include "builder/metrics.h"

/* Builds here are for the host's own platform: linux/amd64 on the hosts
 * the tests run on. */
#define STARTED "nixery_builds_started_total{platform=\"linux/amd64\"}"

/* A sample's value on the metrics page, 0 when it is not there. */
static double sample(const struct metrics *m, const char *name)
{
	struct buf page = { 0 };
	size_t n = strlen(name);
	const char *at;
	double v = 0;

	metrics_render(m, NULL, 0, 0, 0, &page);
	for (at = page.data; at && (at = strstr(at, name)); at += n)
		if ((at == page.data || at[-1] == '\n') && at[n] == ' ') {
			v = strtod(at + n + 1, NULL);
			break;
		}
	buf_free(&page);
	return v;
}

static double result(const struct metrics *m, const char *name)
{
	char label[128];

	snprintf(label, sizeof label, "nixery_builds_total{platform=\"%s\",result=\"%s\"}", platform_host()->name, name);
	return sample(m, label);
}

static double ended(const struct metrics *m)
{
	return result(m, "ok") + result(m, "failed") + result(m, "timeout") + result(m, "cancelled");
}

/* The builds table's rows by status. */
struct rows {
	int running, ok, failed, timeout, cancelled, other;
};

static int count_row(void *ctx, const struct cache_build *b)
{
	struct rows *r = ctx;

	if (strcmp(b->status, "running") == 0)
		r->running++;
	else if (strcmp(b->status, "ok") == 0)
		r->ok++;
	else if (strcmp(b->status, "failed") == 0)
		r->failed++;
	else if (strcmp(b->status, "timeout") == 0)
		r->timeout++;
	else if (strcmp(b->status, "cancelled") == 0)
		r->cancelled++;
	else
		r->other++;
	return 0;
}

static struct rows rows(struct cache *c)
{
	struct rows r = { 0 };

	cache_each_build(c, 1, 1000, count_row, &r);
	cache_each_build(c, 0, 1000, count_row, &r);
	return r;
}

static void open_metrics(struct setup *s, struct metrics **m)
{
	char err[512];

	if (metrics_open(s->cfg.state_dir, m, err, sizeof err) < 0)
		die(err);
	s->b.metrics = *m;
}

static void sql(const char *state_dir, const char *text)
{
	char path[256];
	sqlite3 *db;

	snprintf(path, sizeof path, "%s/cache.db", state_dir);
	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, text, NULL, NULL, NULL) != SQLITE_OK)
		die(text);
	sqlite3_close(db);
}

/* A build whose row cannot be written never starts: not in the metrics
 * either. */
static void test_record_fails(void)
{
	struct builder_result res;
	struct metrics *m;
	struct setup s;
	int rc;

	setup(&s, 3600);
	open_metrics(&s, &m);
	sql(s.cfg.state_dir, "ALTER TABLE builds RENAME TO builds_away");
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK(rc < 0, "a build whose record cannot be written fails the request (%d)", rc);
	builder_result_free(&res);
	CHECK(sample(m, STARTED) == ended(m),
	      "and counts as started only if it ends too (%g started, %g ended)",
	      sample(m, STARTED), ended(m));
	sql(s.cfg.state_dir, "ALTER TABLE builds_away RENAME TO builds");
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK_WHY(rc == 0, res.message, "once the table is back the image is built");
	CHECK(sample(m, STARTED) == 1 && result(m, "ok") == 1,
	      "one build started, one ended ok (%g, %g)", sample(m, STARTED), result(m, "ok"));
	builder_result_free(&res);
	metrics_close(m);
	teardown(&s);
}

/* A request of a worker that may be stopped. */
struct runner {
	struct builder b;
	const char *name;
	const atomic_int *cancel;
	int rc;
	char message[1024];
};

static void *run(void *arg)
{
	struct runner *r = arg;
	struct deadline dl = deadline_in(20000, r->cancel);
	struct builder_result res;

	r->rc = builder_image(&r->b, NULL, r->name, "latest", NULL, 0, &dl, &res);
	snprintf(r->message, sizeof r->message, "%s", res.message);
	builder_result_free(&res);
	return NULL;
}

/* Worker A builds; a request of worker B waits for it; A is stopped. */
static void test_cancelled(void)
{
	static atomic_int stop;
	struct runner a = { .name = "figlet", .cancel = &stop }, b = { .name = "figlet" };
	struct metrics *m;
	struct setup s;
	struct rows r;
	pthread_t ta, tb;
	char err[256];

	setup(&s, 3600);
	open_metrics(&s, &m);
	reset_counts();
	a.b = b.b = s.b;
	if (cache_open(s.cfg.state_dir, &b.b.cache, err, sizeof err) < 0)
		die(err);
	nix.slow_build_ms = 1500;
	pthread_create(&ta, NULL, run, &a);
	usleep(300 * 1000);
	pthread_create(&tb, NULL, run, &b);
	usleep(300 * 1000);
	atomic_store(&stop, 1);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	nix.slow_build_ms = 0;
	CHECK_WHY(a.rc == -ECANCELED, a.message, "the request of the stopped worker is told the registry is restarting");
	CHECK_WHY(b.rc == 0, b.message, "the request that waited for it does not take the stop for a failure");
	CHECK_INT_EQ(nix.builds, 2, "and builds the image itself");
	r = rows(s.b.cache);
	CHECK(r.cancelled == 1 && r.ok == 1 && r.running == 0 && r.failed == 0,
	      "the stopped build's row is closed as cancelled (%d cancelled, %d ok, %d running, %d failed)",
	      r.cancelled, r.ok, r.running, r.failed);
	CHECK(result(m, "cancelled") == 1 && result(m, "failed") == 0,
	      "the metrics count it as cancelled, not failed (%g cancelled, %g failed)",
	      result(m, "cancelled"), result(m, "failed"));
	CHECK(sample(m, STARTED) == 2 && ended(m) == 2,
	      "builds started = builds ended, none running (%g, %g)", sample(m, STARTED), ended(m));
	cache_close(b.b.cache);
	metrics_close(m);
	teardown(&s);
}

/* Failures and timeouts end too, each under its own result. */
static void test_failed_and_timeout(void)
{
	struct builder_result res;
	struct metrics *m;
	struct setup s;
	struct rows r;

	setup(&s, 3600);
	open_metrics(&s, &m);
	nix.fail_build = 1;
	ask(&s.b, "cowsay", 10000, &res);
	nix.fail_build = 0;
	builder_result_free(&res);
	nix.slow_build_ms = 5000;
	ask(&s.b, "nano", 500, &res);
	nix.slow_build_ms = 0;
	builder_result_free(&res);
	r = rows(s.b.cache);
	CHECK(r.failed == 1 && r.timeout == 1 && r.running == 0, "a failed and a timed-out build are recorded so (%d, %d, %d running)",
	      r.failed, r.timeout, r.running);
	CHECK(result(m, "failed") == 1 && result(m, "timeout") == 1 &&
	      sample(m, STARTED) == ended(m),
	      "and counted so, every start with its end (%g failed, %g timeout, %g started)",
	      result(m, "failed"), result(m, "timeout"), sample(m, STARTED));
	metrics_close(m);
	teardown(&s);
}

int main(void)
{
	standin_start();
	test_record_fails();
	test_cancelled();
	test_failed_and_timeout();
	standin_end();
	return check_exit();
}
