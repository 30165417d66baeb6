/* The store session (nix/store.c) against a real `nix-store --serve`: the
 * closure it reads is the one `nix path-info --json --recursive` prints,
 * a path it holds survives `nix-store --delete` until the session ends,
 * and no session leaves a process behind. Run from the source tree (it
 * builds the demo's hello). */
#include "nix/store.c"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/check.h"

/* What cmd prints, its last newline cut; NULL when it fails. */
static char *output_of(const char *cmd)
{
	struct buf out = { 0 };
	char chunk[4096];
	size_t got;
	FILE *p = popen(cmd, "r");

	if (!p)
		return NULL;
	while ((got = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_append(&out, chunk, got);
	if (pclose(p) != 0 || !out.data) {
		buf_free(&out);
		return NULL;
	}
	while (out.len > 0 && out.data[out.len - 1] == '\n')
		out.data[--out.len] = '\0';
	return out.data;
}

static int deleted(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "nix-store --delete %s >/dev/null 2>&1", path);
	return system(cmd) == 0;
}

static int gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

static void test_closure(const char *hello)
{
	struct deadline dl = deadline_in(60000, NULL);
	struct closure got = { 0 }, want = { 0 };
	struct nix_store *s;
	char err[512] = "", cmd[600], *json;
	char *tops[] = { (char *)hello };
	size_t i, same = 0;

	snprintf(cmd, sizeof cmd, "nix --extra-experimental-features nix-command path-info --json --recursive %s", hello);
	if (!CHECK(json = output_of(cmd), "nix path-info answers for hello"))
		return;
	CHECK_WHY(closure_parse(json, tops, 1, &want, err, sizeof err) == 0, err, "nix path-info's closure reads");
	free(json);
	if (!CHECK_WHY(nix_store_open(&s, err, sizeof err) == 0, err, "a session starts"))
		return;
	CHECK_WHY(nix_store_closure(s, tops, 1, &dl, &got, err, sizeof err) == 0, err, "the session reads hello's closure");
	CHECK(got.n == want.n && got.n > 1, "the closure has the paths nix path-info lists (%zu, %zu)", got.n, want.n);
	for (i = 0; i < got.n && i < want.n; i++) {
		const struct closure_path *a = &got.paths[i], *b = &want.paths[i];

		same += strcmp(a->path, b->path) == 0 && a->nar_size == b->nar_size && a->nrefs == b->nrefs &&
			memcmp(a->refs, b->refs, a->nrefs * sizeof *a->refs) == 0 && a->top == b->top &&
			a->closure_size == b->closure_size;
	}
	CHECK(same == want.n, "each path has nix path-info's size and references (%zu of %zu)", same, want.n);
	closure_free(&got);
	CHECK_WHY(nix_store_closure(s, tops, 1, &dl, &got, err, sizeof err) == 0 && got.n == want.n, err,
		  "one session answers again");
	closure_free(&got);
	closure_free(&want);
	pid_t pid = s->session.pid;

	nix_store_close(s);
	CHECK(gone(pid), "a session that answered has ended when it is closed");
}

static void test_hold(void)
{
	struct deadline dl = deadline_in(60000, NULL);
	char file[] = "/tmp/nixery-test-store-XXXXXX", cmd[600], err[512] = "", *path;
	struct nix_store *s;
	int fd = mkstemp(file), held;

	if (!CHECK(fd >= 0, "a scratch file"))
		return;
	dprintf(fd, "held %ld %d\n", (long)time(NULL), getpid());
	close(fd);
	snprintf(cmd, sizeof cmd, "nix-store --add %s", file);
	path = output_of(cmd);
	unlink(file);
	if (!CHECK(path, "nix-store --add gives a path nothing roots"))
		return;
	if (!CHECK_WHY(nix_store_open(&s, err, sizeof err) == 0, err, "a session starts"))
		goto out;
	held = nix_store_hold(s, &path, 1, &dl, err, sizeof err);
	CHECK_WHY(held == 1, err, "a valid path is held (%d)", held);
	CHECK(!deleted(path), "nix-store --delete leaves a held path alone");
	nix_store_close(s);
	CHECK(deleted(path), "once the session ends the path can be deleted");

	CHECK_WHY(nix_store_open(&s, err, sizeof err) == 0, err, "a session starts");
	held = nix_store_hold(s, &path, 1, &dl, err, sizeof err);
	CHECK_WHY(held == 0, err, "a path that is not valid is not held (%d)", held);
	nix_store_close(s);
out:
	free(path);
}

static void test_limits(const char *hello)
{
	struct deadline past = deadline_in(0, NULL), later = deadline_in(60000, NULL);
	struct closure c = { 0 };
	struct nix_store *s;
	char err[512] = "";
	char *tops[] = { (char *)hello };
	int rc;

	if (!CHECK_WHY(nix_store_open(&s, err, sizeof err) == 0, err, "a session starts"))
		return;
	pid_t pid = s->session.pid;

	usleep(200000);
	rc = nix_store_closure(s, tops, 1, &past, &c, err, sizeof err);
	CHECK(rc == -ETIMEDOUT && strstr(err, "deadline"), "past the deadline the session says so (%d: %s)", rc, err);
	rc = nix_store_closure(s, tops, 1, &later, &c, err, sizeof err);
	CHECK(rc < 0 && c.n == 0, "a session cut short answers nothing more, out of step as it is (%d: %s)", rc, err);
	nix_store_close(s);
	CHECK(gone(pid), "a session that never answered has ended when it is closed");
}

int main(void)
{
	char *hello = output_of("nix-build --no-out-link nix/demo -A hello 2>/dev/null");

	if (CHECK(hello, "the demo's hello builds (run from the source tree)")) {
		test_closure(hello);
		test_limits(hello);
	}
	test_hold();
	free(hello);
	return check_exit();
}
