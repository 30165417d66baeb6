/* The build pipeline (builder/builder.h) with a stand-in for Nix: what is
 * evaluated and built when, the TTL claim, the re-check under the image's
 * lock, a failure told only to those who waited for it, lost blobs healed,
 * database errors that are not misses, build slots and the deadline. The
 * cache, the storage and the packing are the real ones. */
#include "tests/unit/builder_standin.h"

#include <sqlite3.h>

#include "builder/lock.h"

static void test_cache_levels(void)
{
	struct builder_result res;
	struct setup s;
	int rc;

	setup(&s, 3600);
	reset_counts();
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK_WHY(rc == 0, res.message, "a cold image is built");
	CHECK(rc == 0 && res.manifest.data && strstr(res.manifest.data, "\"schemaVersion\":2"),
	      "its answer is a manifest");
	CHECK(nix.evaluations == 1 && nix.builds == 1, "a cold image takes one evaluation and one build (%d, %d)",
	      nix.evaluations, nix.builds);
	CHECK(nix.build_likely, "a request not seen before has its store session started beside the evaluation");
	builder_result_free(&res);
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK(rc == 0 && nix.evaluations == 1 && nix.builds == 1,
	      "within the TTL the same request is answered without Nix (%d evaluations, %d builds)",
	      nix.evaluations, nix.builds);
	builder_result_free(&res);
	rc = ask(&s.b, "hello/hello", 10000, &res);
	CHECK(rc == 0 && nix.evaluations == 1 && nix.builds == 1,
	      "another name for the same packages is the same request (%d evaluations)", nix.evaluations);
	builder_result_free(&res);
	teardown(&s);

	/* TTL 0: every request evaluates again, but the evaluation finds the
	 * image already built. */
	setup(&s, 0);
	reset_counts();
	rc = ask(&s.b, "hello", 10000, &res);
	builder_result_free(&res);
	rc |= ask(&s.b, "hello", 10000, &res);
	CHECK(rc == 0 && nix.evaluations == 2 && nix.builds == 1,
	      "past the TTL the request is evaluated again, and the image it names is not built again (%d, %d)",
	      nix.evaluations, nix.builds);
	CHECK(!nix.build_likely, "a request evaluated again has no store session started early: it is likely built");
	builder_result_free(&res);
	teardown(&s);
}

static void test_user_mistakes(void)
{
	struct builder_result res;
	struct setup s;
	int rc;

	setup(&s, 3600);
	reset_counts();
	nix.refuse = "removed";
	rc = ask(&s.b, "hello/removed/nosuch", 10000, &res);
	CHECK_INT_EQ(rc, -ENOENT, "unknown and refused names are -ENOENT, the user's mistake");
	CHECK_WHY(strstr(res.message, "Could not find Nix packages: nosuch") &&
		  strstr(res.message, "removed (removed has been removed)"), res.message,
		  "the message names the unknown package and the refused one with Nix's reason");
	CHECK(res.npackages == 2 && strcmp(res.packages[0], "nosuch") == 0 &&
	      strcmp(res.packages[1], "removed") == 0, "both names are listed, and only they");
	CHECK(nix.builds == 0, "nothing is built");
	builder_result_free(&res);
	nix.refuse = NULL;
	rc = ask(&s.b, "Hello", 10000, &res);
	CHECK_INT_EQ(rc, -EINVAL, "an invalid name is -EINVAL");
	builder_result_free(&res);
	teardown(&s);
}

struct asking {
	struct builder *b;
	const char *name;
	int rc;
	char message[1024];
};

static void *ask_thread(void *arg)
{
	struct asking *a = arg;
	struct builder_result res;

	a->rc = ask(a->b, a->name, 20000, &res);
	snprintf(a->message, sizeof a->message, "%s", res.message);
	builder_result_free(&res);
	return NULL;
}

/* Two workers (two cache handles) ask for the same cold image at once. */
static void two_at_once(struct setup *s, struct asking *first, struct asking *second)
{
	struct builder b2 = s->b;
	char err[256];
	pthread_t t1, t2;

	if (cache_open(s->cfg.state_dir, &b2.cache, err, sizeof err) < 0)
		die(err);
	first->b = &s->b;
	second->b = &b2;
	second->name = first->name;
	pthread_create(&t1, NULL, ask_thread, first);
	/* The second arrives while the first builds. */
	usleep(300 * 1000);
	pthread_create(&t2, NULL, ask_thread, second);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cache_close(b2.cache);
}

static void test_one_build_per_image(void)
{
	struct asking first = { .name = "figlet" }, second;
	struct builder_result res;
	struct setup s;
	int rc;

	setup(&s, 3600);
	reset_counts();
	nix.slow_build_ms = 1000;
	two_at_once(&s, &first, &second);
	nix.slow_build_ms = 0;
	CHECK(first.rc == 0 && second.rc == 0, "two requests for one cold image both get it (%d, %d)",
	      first.rc, second.rc);
	CHECK_INT_EQ(nix.builds, 1, "the one that waited for the image's lock found it built, and built nothing");

	/* The build the second waited for fails: that is its answer. */
	reset_counts();
	nix.fail_build = 1;
	nix.slow_build_ms = 1000;
	first.name = "cowsay";
	two_at_once(&s, &first, &second);
	nix.slow_build_ms = 0;
	CHECK(first.rc == -EIO && second.rc == -EIO, "a failed build fails the request that waited for it too (%d, %d)",
	      first.rc, second.rc);
	CHECK_WHY(strstr(second.message, "builder failed on purpose"), second.message,
		  "the waiter gets the build's own error");
	CHECK_INT_EQ(nix.builds, 1, "the waiter did not build again on what its deadline had left");
	/* A request that comes after the failure was recorded builds again. */
	nix.fail_build = 0;
	rc = ask(&s.b, "cowsay", 10000, &res);
	CHECK(rc == 0 && nix.builds == 2, "a request arriving right after a failure builds again, and succeeds (%d, %d builds)",
	      rc, nix.builds);
	builder_result_free(&res);
	teardown(&s);
}

static int remove_first_layer(void *ctx, const char *hex, uint64_t size)
{
	char path[512];
	int *seen = ctx;

	(void)size;
	if ((*seen)++ != 1)          /* the config comes first, then the layers */
		return 0;
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", storage_dir, hex);
	return unlink(path) == 0 ? 1 : -1;
}

static void test_lost_blobs(void)
{
	struct builder_result res;
	struct setup s;
	char *before = NULL;
	int rc, seen = 0;

	setup(&s, 3600);
	reset_counts();
	rc = ask(&s.b, "diamond", 10000, &res);
	if (rc == 0)
		before = strdup(res.manifest.data);
	CHECK(rc == 0 && before && manifest_each_blob(before, remove_first_layer, &seen) == 1,
	      "an image is built, and then one of its layers is lost");
	builder_result_free(&res);
	rc = ask(&s.b, "diamond", 10000, &res);
	CHECK(rc == 0 && nix.builds == 2, "the next request builds the image again (%d, %d builds)", rc, nix.builds);
	CHECK(rc == 0 && before && strcmp(res.manifest.data, before) == 0,
	      "into the same manifest: the layer is packed again, byte for byte");
	builder_result_free(&res);
	free(before);
	teardown(&s);
}

/* Small layers are packed side by side, a big one on every thread: the
 * image's bytes do not depend on how many threads packed them. */
static void test_pack_threads(void)
{
	const int threads[] = { 1, 2, 8 };
	char *first = NULL;
	size_t i;

	for (i = 0; i < sizeof threads / sizeof *threads; i++) {
		struct builder_result res;
		struct setup s;
		int rc;

		setup(&s, 3600);
		s.cfg.pack_threads = threads[i];
		s.cfg.gzip_level = 6;
		rc = ask(&s.b, "hello/figlet/cowsay/nano/bulk", 10000, &res);
		CHECK_WHY(rc == 0 && strstr(res.manifest.data, "\"layers\""), res.message,
			  "an image of five packages, one of 3 MiB, is packed with NIXERY_PACK_THREADS=%d", threads[i]);
		if (rc == 0 && !first)
			first = strdup(res.manifest.data);
		else if (rc == 0)
			CHECK(first && strcmp(first, res.manifest.data) == 0,
			      "into the very manifest packed on one thread (NIXERY_PACK_THREADS=%d)", threads[i]);
		builder_result_free(&res);
		teardown(&s);
	}
	free(first);
}

static void test_database_errors(void)
{
	struct builder_result res;
	struct setup s;
	char path[256];
	sqlite3 *db;
	int rc;

	setup(&s, 3600);
	reset_counts();
	rc = ask(&s.b, "hello", 10000, &res);
	builder_result_free(&res);
	snprintf(path, sizeof path, "%s/cache.db", s.cfg.state_dir);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "ALTER TABLE images RENAME TO images_away", NULL, NULL, NULL) != SQLITE_OK)
		die("renaming a table");
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK_INT_EQ(rc, -EBUSY, "a database error that is not a miss is -EBUSY: try again");
	CHECK_WHY(strstr(res.message, "build cache cannot be read"), res.message, "and says the cache failed");
	CHECK(nix.builds == 1 && nix.evaluations == 1, "it never leads to a build (%d builds)", nix.builds);
	builder_result_free(&res);
	sqlite3_exec(db, "ALTER TABLE images_away RENAME TO images", NULL, NULL, NULL);
	sqlite3_close(db);
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK(rc == 0 && nix.builds == 1, "once the database works again the image is served from it");
	builder_result_free(&res);
	teardown(&s);
}

/* Frees a build slot a moment later, from another thread. */
static void *release_later(void *slot)
{
	usleep(200000);
	lock_release(*(int *)slot);
	return NULL;
}

static void test_limits(void)
{
	struct builder_result res;
	struct setup s;
	int slots[2], rc;
	long waited;
	struct deadline now = deadline_in(1000, NULL);

	setup(&s, 3600);
	reset_counts();
	slots[0] = lock_slot(s.cfg.state_dir, 2, &now, &waited);
	slots[1] = lock_slot(s.cfg.state_dir, 2, &now, &waited);
	CHECK(slots[0] >= 0 && slots[1] >= 0, "the host's two build slots can be taken");
	rc = ask(&s.b, "nano", 500, &res);
	CHECK_INT_EQ(rc, -EBUSY, "with every build slot taken, a cold request gets -EBUSY at its deadline");
	CHECK_WHY(strstr(res.message, "build slots (NIXERY_MAX_BUILDS)"), res.message, "saying why");
	CHECK_INT_EQ(nix.evaluations, 0, "an evaluation waits for a slot too");
	builder_result_free(&res);
	pthread_t freer;

	if (pthread_create(&freer, NULL, release_later, &slots[0]) == 0) {
		rc = ask(&s.b, "figlet", 10000, &res);
		pthread_join(freer, NULL);
		CHECK_WHY(rc == 0, res.message, "a request that waited for a slot is built");
		CHECK(!nix.build_likely, "an evaluation that waited for its slot starts no store session early: the build would wait too");
		builder_result_free(&res);
	}
	lock_release(slots[1]);
	reset_counts();

	nix.slow_eval_ms = 5000;
	rc = ask(&s.b, "nano", 500, &res);
	nix.slow_eval_ms = 0;
	CHECK_INT_EQ(rc, -ETIMEDOUT, "an evaluation past the deadline is -ETIMEDOUT");
	CHECK_WHY(strstr(res.message, "not ready within NIX_TIMEOUT"), res.message, "saying so");
	builder_result_free(&res);

	nix.slow_build_ms = 5000;
	rc = ask(&s.b, "nano", 700, &res);
	nix.slow_build_ms = 0;
	CHECK(rc < 0 && nix.builds == 1, "the build shares the request's deadline: it ends with it (%d)", rc);
	builder_result_free(&res);
	teardown(&s);
}

/* Cold work beyond what the host admits is refused at once, and never
 * queued; warm work is answered whatever is admitted. */
static void test_admission(void)
{
	struct admission adm;
	struct builder_result res;
	struct setup s;
	struct admission_pass ticket, held[6];
	int i, admitted = 0, rc;

	setup(&s, 3600);
	s.cfg.threads = 8;
	s.cfg.max_cold = 1;
	admission_init(&adm, &s.cfg);
	s.b.admission = &adm;
	reset_counts();
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK_WHY(rc == 0, res.message, "a cold request the host admits is built");
	builder_result_free(&res);
	CHECK(admission_enter(&adm, NULL, "cold work", &ticket, res.message, sizeof res.message) == 0,
	      "its ticket was handed back: another can take it");
	rc = ask(&s.b, "figlet", 10000, &res);
	CHECK_INT_EQ(rc, -EBUSY, "with the host's only ticket taken, a cold request is refused");
	CHECK_WHY(strstr(res.message, "NIXERY_MAX_COLD"), res.message, "saying why");
	CHECK_INT_EQ(nix.evaluations, 1, "and starts no Nix job");
	builder_result_free(&res);
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK_WHY(rc == 0, res.message, "a built image is answered all the same");
	builder_result_free(&res);
	admission_leave(&adm, &ticket);

	/* Past the TTL, an image refused its evaluation is answered as built. */
	s.cfg.eval_ttl = 0;
	CHECK(admission_enter(&adm, NULL, "cold work", &ticket, res.message, sizeof res.message) == 0, "the ticket is taken again");
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK(rc == 0 && nix.evaluations == 1,
	      "past the TTL with no ticket, the image built before is the answer, not evaluated (%d, %d)", rc,
	      nix.evaluations);
	builder_result_free(&res);
	admission_leave(&adm, &ticket);
	rc = ask(&s.b, "hello", 10000, &res);
	CHECK(rc == 0 && nix.evaluations == 2, "with a ticket free, it is evaluated again (%d)", nix.evaluations);
	builder_result_free(&res);

	/* A process keeps a quarter of its threads (two of eight) for warm
	 * work: six cold requests at once, not a seventh. */
	s.cfg.max_cold = 16;
	admission_init(&adm, &s.cfg);
	for (i = 0; i < 6; i++)
		admitted += admission_enter(&adm, NULL, "cold work", &held[i], res.message, sizeof res.message) == 0;
	CHECK_INT_EQ(admitted, 6, "six of a process's eight threads may wait for Nix");
	CHECK_INT_EQ(admission_enter(&adm, NULL, "cold work", &ticket, res.message, sizeof res.message), -EBUSY, "a seventh may not");
	for (i = 0; i < 6; i++)
		admission_leave(&adm, &held[i]);
	teardown(&s);
}

int main(void)
{
	standin_start();
	test_cache_levels();
	test_user_mistakes();
	test_one_build_per_image();
	test_lost_blobs();
	test_pack_threads();
	test_database_errors();
	test_limits();
	test_admission();
	standin_end();
	return check_exit();
}
