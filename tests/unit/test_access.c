/* Who may pull and who may build: the operator's rules (core/policy.h),
 * their settings, who a request comes from (router_asker), and the
 * builder applying them with a stand-in for Nix: a user without build
 * rights starts no Nix work but pulls what is built, also past its TTL;
 * one client's cold requests are capped while another's go on; a package
 * not allowed is refused by name before any evaluation; each build
 * records who asked. */
#include "tests/unit/builder_standin.h"

#include <time.h>

#include "builder/admission.h"
#include "builder/search.h"
#include "core/image.h"
#include "core/policy.h"
#include "fcgi/router.h"

static void test_build_users(void)
{
	CHECK(policy_may_build(NULL, NULL), "unset NIXERY_BUILD_USERS: anyone may build, unauthenticated too");
	CHECK(policy_may_build("alice, bob", "bob") && policy_may_build("alice bob", "alice"),
	      "a listed user may build (commas or spaces)");
	CHECK(!policy_may_build("alice bob", "carol"), "a user not listed may not");
	CHECK(!policy_may_build("alice", "Alice") && !policy_may_build("alice", "alic"),
	      "user names are compared whole and exactly");
	CHECK(!policy_may_build("alice", NULL), "nobody authenticated may not, with a list");
	CHECK(policy_may_build("*", "carol") && !policy_may_build("*", NULL),
	      "* is any user the web server authenticated, and only such");
	CHECK(!policy_may_build("*", "bad user") && !policy_may_build("*", "a\nb"),
	      "a name with a space or a control character is no user");
	CHECK(policy_user_valid("jos\xc3\xa9") && !policy_user_valid("") && !policy_user_valid("a,b"),
	      "UTF-8 names are users; empty names and commas are not");
}

static void test_package_patterns(void)
{
	const char *allow = "python3Packages.* hello";

	CHECK(policy_package_allowed(NULL, NULL, "anything"), "no patterns: every name is allowed");
	CHECK(policy_package_allowed(allow, NULL, "python3packages.numpy") &&
	      policy_package_allowed(allow, NULL, "hello"), "allowed names match a pattern, ignoring case");
	CHECK(policy_package_allowed(allow, NULL, "python3packages.numpy.dist"), "* takes dots too");
	CHECK(!policy_package_allowed(allow, NULL, "figlet") && !policy_package_allowed(allow, NULL, "python3packages"),
	      "a name no allowed pattern matches is not allowed");
	CHECK(!policy_package_allowed(allow, "python3Packages.numpy", "python3packages.numpy") &&
	      policy_package_allowed(allow, "python3Packages.numpy", "python3packages.scipy"),
	      "a denied name is refused even when allowed");
	CHECK(!policy_package_allowed(NULL, "_1password", "1password") &&
	      !policy_package_allowed(NULL, "foo._1bar", "foo.1bar"),
	      "a pattern with nixpkgs' _ before a leading digit matches the name without it, as names are matched");
	CHECK(!policy_package_allowed(NULL, "hell?", "hello") && policy_package_allowed(NULL, "hell?", "hell"),
	      "? is one character");
	CHECK(!policy_package_allowed(NULL, "[fg]iglet", "figlet"), "[...] is one of a set");
	CHECK(policy_pattern_valid("python3Packages.*") && !policy_pattern_valid("a/b") &&
	      !policy_pattern_valid("a\\b") && !policy_pattern_valid(""),
	      "patterns are attribute paths with wildcards, nothing else");
}

static void test_settings(void)
{
	struct config cfg;
	char err[2048];

	setenv("NIXERY_CONFIG", "/dev/null", 1);
	setenv("NIXERY_PKGS_PATH", "/demo", 1);
	if (CHECK_WHY(config_load(&cfg, NULL, err, sizeof err) == 0, err, "the defaults load")) {
		CHECK(!cfg.build_users && !cfg.allow_packages && !cfg.deny_packages,
		      "by default anyone may build anything");
		CHECK_INT_EQ(cfg.max_per_client, 2, "NIXERY_MAX_BUILDS_PER_CLIENT is 2 by default");
		config_free(&cfg);
	}
	setenv("NIXERY_BUILD_USERS", "alice, bob", 1);
	setenv("NIXERY_DENY_PACKAGES", "python3Packages.* firefox", 1);
	setenv("NIXERY_MAX_BUILDS_PER_CLIENT", "0", 1);
	if (CHECK_WHY(config_load(&cfg, NULL, err, sizeof err) == 0, err, "lists of users and patterns load")) {
		CHECK_STR_EQ(cfg.build_users, "alice, bob", "NIXERY_BUILD_USERS is kept as given");
		CHECK(cfg.max_per_client == 0, "NIXERY_MAX_BUILDS_PER_CLIENT 0 (no limit) is taken");
		config_free(&cfg);
	}
	setenv("NIXERY_DENY_PACKAGES", "python3Packages.* fire/fox", 1);
	setenv("NIXERY_BUILD_USERS", "alice,bad\x01name", 1);
	CHECK_WHY(config_load(&cfg, NULL, err, sizeof err) == -EINVAL &&
		  strstr(err, "'fire/fox' is not a package pattern") &&
		  strstr(err, "NIXERY_BUILD_USERS: 'bad\x01name' is not a user name"), err,
		  "a bad pattern or user name is refused, named");
	unsetenv("NIXERY_BUILD_USERS");
	unsetenv("NIXERY_DENY_PACKAGES");
	unsetenv("NIXERY_MAX_BUILDS_PER_CLIENT");
}

static void test_named(void)
{
	struct image_request req;
	char err[256];

	if (image_parse("shell/hello/arm64/cacert/nonroot/figlet/hello", &req, err, sizeof err) < 0) {
		CHECK(0, "shell/hello/... parses (%s)", err);
		return;
	}
	CHECK(req.nnamed == 2 && strcmp(req.named[0], "figlet") == 0 && strcmp(req.named[1], "hello") == 0,
	      "the packages a path names are its own: not the meta-packages' nor those every image gets (%zu)",
	      req.nnamed);
	image_request_free(&req);
}

static void test_asker(void)
{
	struct request_params p = { .remote_user = "alice", .auth_type = "Basic", .remote_addr = "192.0.2.7" };
	struct asker who;
	char addr[64];

	who = router_asker(&p, addr);
	CHECK(who.user && strcmp(who.user, "alice") == 0 && who.addr && strcmp(who.addr, "192.0.2.7") == 0,
	      "a user the web server authenticated, and the address it saw");
	p.auth_type = NULL;
	who = router_asker(&p, addr);
	CHECK(!who.user, "REMOTE_USER without AUTH_TYPE is no user: nginx passes what a client sends there");
	p.auth_type = "Basic";
	p.remote_user = "al ice";
	CHECK(!router_asker(&p, addr).user, "a user name a policy cannot hold is no user");
	p.remote_addr = "2001:db8::1";
	CHECK(router_asker(&p, addr).addr != NULL, "IPv6 addresses are addresses");
	p.remote_addr = "192.0.2.7, 10.0.0.1";
	CHECK(!router_asker(&p, addr).addr, "anything but an address is none");
	CHECK_STR_EQ(admission_asker_name(&(struct asker){ .addr = "192.0.2.7" }), "192.0.2.7",
		     "who asked: the address when nobody was authenticated");
}

static struct admission admission;

/* A builder whose requests go through admission under these rules. */
static void setup_access(struct setup *s, int ttl, const char *build_users, int per_client)
{
	setup(s, ttl);
	s->cfg.threads = 8;
	s->cfg.max_cold = 8;
	s->cfg.build_users = (char *)build_users;
	s->cfg.max_per_client = per_client;
	admission_init(&admission, &s->cfg);
	s->b.admission = &admission;
}

static int ask_as(struct builder *b, const char *user, const char *addr, const char *name,
		  struct builder_result *res)
{
	struct asker who = { .user = user, .addr = addr };
	struct deadline dl = deadline_in(10000, NULL);

	return builder_image(b, &who, name, "latest", NULL, 0, &dl, res);
}

static int last_requester(void *ctx, const struct cache_build *b)
{
	snprintf(ctx, 160, "%s", b->requester);
	return 1;
}

static void test_build_rights(void)
{
	struct builder_result res;
	char requester[160] = "", err[256], **names = NULL;
	struct deadline dl = deadline_in(5000, NULL);
	struct setup s;
	size_t n = 0;
	int rc, known;

	setup_access(&s, 3600, "alice", 2);
	reset_counts();
	rc = ask_as(&s.b, NULL, "192.0.2.7", "hello", &res);
	CHECK_INT_EQ(rc, -EPERM, "an unauthenticated client asking for an image not built yet is refused");
	CHECK_WHY(strstr(res.message, "needs a user allowed to build (NIXERY_BUILD_USERS)"), res.message,
		  "saying that building it needs a permitted user");
	builder_result_free(&res);
	rc = ask_as(&s.b, "bob", "192.0.2.8", "hello", &res);
	CHECK_INT_EQ(rc, -EPERM, "so is a user not listed");
	CHECK(nix.evaluations == 0 && nix.builds == 0, "and Nix did nothing for either (%d, %d)", nix.evaluations,
	      nix.builds);
	builder_result_free(&res);
	rc = ask_as(&s.b, "alice", "192.0.2.9", "hello", &res);
	CHECK_WHY(rc == 0 && nix.builds == 1, res.message, "a listed user builds it");
	builder_result_free(&res);
	cache_each_build(s.b.cache, 0, 1, last_requester, requester);
	CHECK_STR_EQ(requester, "alice", "the build records who asked: the user");
	rc = ask_as(&s.b, "bob", "192.0.2.8", "hello", &res);
	CHECK(rc == 0 && nix.evaluations == 1, "then a user without build rights pulls it, and Nix does nothing (%d)",
	      rc);
	builder_result_free(&res);
	rc = search_names(&s.b, &(struct asker){ .addr = "192.0.2.7" }, "hel", 10, &dl, &names, &n, &known, err,
			  sizeof err);
	CHECK(rc == -EPERM && strstr(err, "listing them needs a user allowed to build"),
	      "a search that needs Nix to list names is refused the same way (%d: %s)", rc, err);
	teardown(&s);

	/* Past the TTL: the image built before, never an evaluation. */
	setup_access(&s, 0, "alice", 2);
	reset_counts();
	ask_as(&s.b, "alice", NULL, "figlet", &res);
	builder_result_free(&res);
	rc = ask_as(&s.b, NULL, "192.0.2.7", "figlet", &res);
	CHECK(rc == 0 && nix.evaluations == 1,
	      "past its NIXERY_EVAL_TTL a user without build rights gets the image built before, without Nix (%d, %d)",
	      rc, nix.evaluations);
	builder_result_free(&res);
	rc = ask_as(&s.b, "alice", NULL, "figlet", &res);
	CHECK(rc == 0 && nix.evaluations == 2, "a permitted user's request evaluates it again (%d)", nix.evaluations);
	builder_result_free(&res);
	teardown(&s);

	setup_access(&s, 3600, NULL, 2);
	ask_as(&s.b, NULL, "192.0.2.7", "nano", &res);
	builder_result_free(&res);
	cache_each_build(s.b.cache, 0, 1, last_requester, requester);
	CHECK_STR_EQ(requester, "192.0.2.7", "unset, anyone builds, and the build records the address");
	teardown(&s);
}

static void test_packages(void)
{
	struct builder_result res;
	struct setup s;
	int rc;

	setup_access(&s, 3600, NULL, 2);
	s.cfg.deny_packages = "figlet coreutils";
	reset_counts();
	rc = ask_as(&s.b, NULL, "192.0.2.7", "hello/figlet", &res);
	CHECK_INT_EQ(rc, -EPERM, "a denied package is refused");
	CHECK_WHY(strstr(res.message, "figlet") && strstr(res.message, "NIXERY_DENY_PACKAGES") && res.npackages == 1 &&
		  strcmp(res.packages[0], "figlet") == 0, res.message, "by name, and only it is listed");
	CHECK(nix.evaluations == 0, "before any evaluation");
	builder_result_free(&res);
	rc = ask_as(&s.b, NULL, "192.0.2.7", "shell/hello", &res);
	CHECK_WHY(rc == 0, res.message, "the packages a meta-package brings are exempt (shell's coreutils)");
	builder_result_free(&res);
	s.cfg.deny_packages = "hello";
	rc = ask_as(&s.b, NULL, "192.0.2.7", "shell/hello", &res);
	CHECK(rc == -EPERM, "an image built before a package was denied is refused too (%d)", rc);
	builder_result_free(&res);
	s.cfg.deny_packages = NULL;
	s.cfg.allow_packages = "hello nano";
	rc = ask_as(&s.b, NULL, "192.0.2.7", "cacert/hello/cowsay", &res);
	CHECK_WHY(rc == -EPERM && res.npackages == 1 && strcmp(res.packages[0], "cowsay") == 0 &&
		  strstr(res.message, "NIXERY_ALLOW_PACKAGES"), res.message,
		  "with NIXERY_ALLOW_PACKAGES, a name no pattern allows is refused, those every image gets are not");
	builder_result_free(&res);
	teardown(&s);
}

struct asking {
	struct builder b;
	const char *user, *name;
	int rc;
	long ms;
};

static void *ask_thread(void *arg)
{
	struct asking *a = arg;
	struct builder_result res;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	a->rc = ask_as(&a->b, a->user, "192.0.2.7", a->name, &res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	a->ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	builder_result_free(&res);
	cache_close(a->b.cache);
	return NULL;
}

static void start(struct setup *s, struct asking *a, pthread_t *t, const char *user, const char *name)
{
	char err[256];

	a->b = s->b;
	a->user = user;
	a->name = name;
	if (cache_open(s->cfg.state_dir, &a->b.cache, err, sizeof err) < 0)
		die(err);
	pthread_create(t, NULL, ask_thread, a);
}

static void test_quota(void)
{
	struct asking a[4];
	pthread_t t[4];
	struct setup s;
	int i;

	setup_access(&s, 3600, NULL, 2);
	s.cfg.max_builds = 4;
	reset_counts();
	nix.slow_build_ms = 1500;
	start(&s, &a[0], &t[0], "alice", "hello");
	start(&s, &a[1], &t[1], "alice", "figlet");
	usleep(300 * 1000);
	start(&s, &a[2], &t[2], "alice", "cowsay");
	start(&s, &a[3], &t[3], "bob", "diamond");
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	nix.slow_build_ms = 0;
	CHECK(a[0].rc == 0 && a[1].rc == 0, "a client's first two cold requests are built (%d, %d)", a[0].rc, a[1].rc);
	CHECK(a[2].rc == -EDQUOT && a[2].ms < 500, "its third, while they are, is refused at once (%d after %ld ms)",
	      a[2].rc, a[2].ms);
	CHECK(a[3].rc == 0, "while another client's cold request is built (%d)", a[3].rc);
	CHECK_INT_EQ(nix.builds, 3, "three builds ran, none for the refused request");
	teardown(&s);
}

int main(void)
{
	test_build_users();
	test_package_patterns();
	test_settings();
	test_named();
	test_asker();
	standin_start();
	/* What the meta-package shell brings (nano is there already). */
	make_package("bashInteractive", 0);
	make_package("coreutils", 0);
	make_package("moreutils", 0);
	test_build_rights();
	test_packages();
	test_quota();
	standin_end();
	return check_exit();
}
