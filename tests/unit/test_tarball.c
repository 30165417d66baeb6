/* Layer tarballs (core/tarball.h) and the symlink layer (core/rootfs.h):
 * what a client unpacks, and that the same tree always packs to the same
 * bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "core/gzip.h"
#include "core/rootfs.h"
#include "core/tarball.h"
#include "tests/unit/check.h"

static char tmpdir[64];   /* /tmp/nixery-tarball-XXXXXX */

/* ---------- helpers: files ---------- */

static void die(const char *what)
{
	printf("FAIL: %s: setting up the test (%s: %s)\n", check_binary(), what, strerror(errno));
	exit(1);
}

static void make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, 0700) < 0 || chmod(path, mode) < 0)
		die(path);
}

static void make_file(const char *path, mode_t mode, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t len = strlen(data);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0 || chmod(path, mode) < 0)
		die(path);
}

static void make_link(const char *path, const char *target)
{
	if (symlink(target, path) < 0)
		die(path);
}

/* Reads a whole file; NULL when it cannot. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (*len + 65536 > cap) {
			unsigned char *grown = realloc(data, cap = *len + 65536 * 2);

			if (!grown) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = grown;
		}
		n = fread(data + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	return data;
}

/* sha256 by OpenSSL directly, not by the code under test. */
static void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[64] = '\0';
}

/* Gunzips a file with zlib's own reader. */
static unsigned char *gunzip(const char *path, size_t *len)
{
	gzFile gz = gzopen(path, "rb");
	unsigned char *data = NULL;
	size_t cap = 0;
	int n;

	*len = 0;
	if (!gz)
		return NULL;
	for (;;) {
		if (*len + 65536 > cap) {
			unsigned char *grown = realloc(data, cap = (*len + 65536) * 2);

			if (!grown)
				goto fail;
			data = grown;
		}
		n = gzread(gz, data + *len, 65536);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	gzclose(gz);
	return data;
fail:
	free(data);
	gzclose(gz);
	*len = 0;
	return NULL;
}

/* ---------- helpers: reading a layer back ---------- */

struct entry {
	char name[PATH_MAX];
	unsigned type;          /* AE_IFREG, AE_IFDIR, AE_IFLNK */
	unsigned perm;
	int64_t uid, gid;
	time_t mtime;
	int has_uname, has_gname;
	char target[PATH_MAX];
	char *data;
	size_t size;
};

struct listing {
	struct entry *e;
	size_t n;
	int ok;
	char err[256];
};

static void listing_free(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->e[i].data);
	free(l->e);
	memset(l, 0, sizeof *l);
}

/* Every entry of a gzipped tar file, as libarchive reads it. Directory
 * names lose the trailing '/' the tar format gives them. */
static struct listing read_layer(const char *path)
{
	struct listing l = { 0 };
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int rc;

	archive_read_support_format_all(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, path, 10240) != ARCHIVE_OK) {
		snprintf(l.err, sizeof l.err, "cannot open: %s", archive_error_string(a));
		archive_read_free(a);
		return l;
	}
	while ((rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		struct entry *grown = realloc(l.e, (l.n + 1) * sizeof *l.e), *e;
		const char *name = archive_entry_pathname(ae), *target;
		size_t len;

		if (!grown)
			break;
		l.e = grown;
		e = &l.e[l.n++];
		memset(e, 0, sizeof *e);
		snprintf(e->name, sizeof e->name, "%s", name ? name : "");
		e->type = archive_entry_filetype(ae);
		len = strlen(e->name);
		if (e->type == AE_IFDIR && len > 1 && e->name[len - 1] == '/')
			e->name[len - 1] = '\0';
		e->perm = archive_entry_perm(ae);
		e->uid = archive_entry_uid(ae);
		e->gid = archive_entry_gid(ae);
		e->mtime = archive_entry_mtime(ae);
		e->has_uname = archive_entry_uname(ae) && archive_entry_uname(ae)[0];
		e->has_gname = archive_entry_gname(ae) && archive_entry_gname(ae)[0];
		target = archive_entry_symlink(ae);
		if (target)
			snprintf(e->target, sizeof e->target, "%s", target);
		e->size = (size_t)archive_entry_size(ae);
		e->data = calloc(1, e->size + 1);
		if (e->data && e->size > 0 &&
		    archive_read_data(a, e->data, e->size) != (la_ssize_t)e->size) {
			snprintf(l.err, sizeof l.err, "cannot read data of %.200s", e->name);
			break;
		}
	}
	if (rc == ARCHIVE_EOF && !l.err[0])
		l.ok = 1;
	else if (!l.err[0])
		snprintf(l.err, sizeof l.err, "stopped at entry %zu: %s", l.n, archive_error_string(a));
	archive_read_free(a);
	return l;
}

static struct entry *find_entry(const struct listing *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->e[i].name, name) == 0)
			return &l->e[i];
	return NULL;
}

/* The names of a listing, one per line, for one comparison. */
static char *names_of(const struct listing *l)
{
	size_t i, len = 1;
	char *s, *p;

	for (i = 0; i < l->n; i++)
		len += strlen(l->e[i].name) + 1;
	p = s = calloc(1, len);
	for (i = 0; s && i < l->n; i++)
		p += sprintf(p, "%s\n", l->e[i].name);
	return s;
}

/* ---------- packing ---------- */

typedef int (*fill_fn)(struct tarball *t, void *ctx);

static int fill_tree(struct tarball *t, void *ctx)
{
	return tarball_add_tree(t, ctx);
}

/* Threads compressing each layer pack() writes. */
static unsigned pack_threads = 2;

/* Packs into the file out; 0 with res, or the tarball's error. */
static int pack(const char *out, fill_fn fill, void *ctx, struct tarball_result *res,
		char *err, size_t errlen)
{
	struct tarball *t;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc;

	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", out, strerror(errno));
		return -errno;
	}
	if ((rc = tarball_open(&t, (struct tarball_gzip){ pack_threads, 6 }, tarball_fd_sink, &fd, err, errlen)) < 0) {
		close(fd);
		return rc;
	}
	if ((rc = fill(t, ctx)) < 0) {
		snprintf(err, errlen, "%s", tarball_error(t));
		tarball_abort(t);
		close(fd);
		return rc;
	}
	rc = tarball_close(t, res, err, errlen);
	close(fd);
	return rc;
}

/* Packs in a child process of its own, so nothing (a pid, an address, a
 * counter) carries over between two packings of the same tree. */
static int pack_in_child(const char *out, const char *tree, struct tarball_result *res)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(fds) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct tarball_result r;
		char err[512];

		close(fds[0]);
		memset(&r, 0, sizeof r);
		if (pack(out, fill_tree, (void *)tree, &r, err, sizeof err) < 0) {
			fprintf(stderr, "child: %s\n", err);
			_exit(1);
		}
		_exit(write(fds[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], res, sizeof *res);
	close(fds[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    n != (ssize_t)sizeof *res)
		return -EIO;
	return 0;
}

/* ---------- the tree ---------- */

static char tree[128];           /* tmpdir/tree */
static char tree_rel[128];       /* the same without the leading / */
static char dir200[201], file200[201], file120[121];

static void build_tree(void)
{
	char p[PATH_MAX * 2];

	memset(dir200, 'd', 200);
	memset(file200, 'f', 200);
	memset(file120, 'n', 120);
	snprintf(tree, sizeof tree, "%s/tree", tmpdir);
	snprintf(tree_rel, sizeof tree_rel, "%s", tree + 1);
	make_dir(tree, 0755);
	snprintf(p, sizeof p, "%s/Zupper", tree);
	make_file(p, 0644, "uppercase sorts first\n");
	snprintf(p, sizeof p, "%s/bin", tree);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/bin/hello", tree);
	make_file(p, 0555, "#!/bin/sh\necho hello\n");
	snprintf(p, sizeof p, "%s/bin/link", tree);
	make_link(p, "hello");
	snprintf(p, sizeof p, "%s/data", tree);
	make_file(p, 0444, "read-only data\n");
	snprintf(p, sizeof p, "%s/empty", tree);
	make_dir(p, 0700);
	snprintf(p, sizeof p, "%s/long", tree);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/long/%s", tree, dir200);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/long/%s/%s", tree, dir200, file200);
	make_file(p, 0644, "far down\n");
	snprintf(p, sizeof p, "%s/long/%s", tree, file120);
	make_file(p, 0600, "long name\n");
	snprintf(p, sizeof p, "%s/nested", tree);
	make_dir(p, 0750);
	snprintf(p, sizeof p, "%s/nested/deeper", tree);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/nested/deeper/file", tree);
	make_file(p, 0640, "x");
}

struct want {
	const char *rel;       /* below the tree; "" is the tree itself */
	const char *label;     /* how the check names it */
	unsigned type;
	unsigned perm;
	const char *data_or_target;
};

static void check_tree_entries(const struct listing *l)
{
	char rel_long[512], rel_deep[1024], rel_dir[512];
	struct want want[14];
	char expected[8192] = "", *got, name[PATH_MAX * 2];
	size_t i, used = 0;
	int all_root = 1, all_mtime = 1, no_names = 1, no_slash = 1;

	snprintf(rel_dir, sizeof rel_dir, "/long/%s", dir200);
	snprintf(rel_deep, sizeof rel_deep, "/long/%s/%s", dir200, file200);
	snprintf(rel_long, sizeof rel_long, "/long/%s", file120);
	i = 0;
	want[i++] = (struct want){ "", "(the tree itself)", AE_IFDIR, 0755, NULL };
	want[i++] = (struct want){ "/Zupper", "Zupper", AE_IFREG, 0644, "uppercase sorts first\n" };
	want[i++] = (struct want){ "/bin", "bin", AE_IFDIR, 0755, NULL };
	want[i++] = (struct want){ "/bin/hello", "bin/hello", AE_IFREG, 0555, "#!/bin/sh\necho hello\n" };
	want[i++] = (struct want){ "/bin/link", "bin/link", AE_IFLNK, 0777, "hello" };
	want[i++] = (struct want){ "/data", "data", AE_IFREG, 0444, "read-only data\n" };
	want[i++] = (struct want){ "/empty", "empty", AE_IFDIR, 0700, NULL };
	want[i++] = (struct want){ "/long", "long", AE_IFDIR, 0755, NULL };
	want[i++] = (struct want){ rel_dir, "long/<200 d>", AE_IFDIR, 0755, NULL };
	want[i++] = (struct want){ rel_deep, "long/<200 d>/<200 f>", AE_IFREG, 0644, "far down\n" };
	want[i++] = (struct want){ rel_long, "long/<120 n>", AE_IFREG, 0600, "long name\n" };
	want[i++] = (struct want){ "/nested", "nested", AE_IFDIR, 0750, NULL };
	want[i++] = (struct want){ "/nested/deeper", "nested/deeper", AE_IFDIR, 0755, NULL };
	want[i++] = (struct want){ "/nested/deeper/file", "nested/deeper/file", AE_IFREG, 0640, "x" };

	for (i = 0; i < sizeof want / sizeof *want; i++)
		used += (size_t)snprintf(expected + used, sizeof expected - used, "%s%s\n", tree_rel, want[i].rel);
	got = names_of(l);
	CHECK_STR_EQ(got, expected,
		     "a packed tree lists every entry, directories included, depth first in byte order, without a leading '/'");
	free(got);

	for (i = 0; i < sizeof want / sizeof *want; i++) {
		struct entry *e;

		snprintf(name, sizeof name, "%s%s", tree_rel, want[i].rel);
		e = find_entry(l, name);
		if (!CHECK(e != NULL, "the tree's entry %s is in the layer", want[i].label))
			continue;
		CHECK(e->type == want[i].type, "the tree's entry %s is a %s", want[i].label,
		      want[i].type == AE_IFDIR ? "directory" : want[i].type == AE_IFLNK ? "symlink" : "regular file");
		if (want[i].type != AE_IFLNK)
			CHECK_INT_EQ(e->perm, want[i].perm, "the tree's entry %s keeps its mode %04o",
				     want[i].label, want[i].perm);
		if (want[i].type == AE_IFREG)
			CHECK_STR_EQ(e->data, want[i].data_or_target, "the file %s keeps its contents",
				     want[i].label);
		if (want[i].type == AE_IFLNK)
			CHECK_STR_EQ(e->target, want[i].data_or_target, "the symlink %s keeps its target %s",
				     want[i].label, want[i].data_or_target);
	}
	snprintf(name, sizeof name, "%s%s", tree_rel, rel_long);
	CHECK(strlen(name) > 100 && strlen(name) < 256 && find_entry(l, name),
	      "a name of 101 to 255 characters comes back whole");
	snprintf(name, sizeof name, "%s%s", tree_rel, rel_deep);
	CHECK(strlen(name) > 255 && find_entry(l, name), "a name longer than 255 characters comes back whole");

	for (i = 0; i < l->n; i++) {
		if (l->e[i].uid != 0 || l->e[i].gid != 0)
			all_root = 0;
		if (l->e[i].mtime != 1)
			all_mtime = 0;
		if (l->e[i].has_uname || l->e[i].has_gname)
			no_names = 0;
		if (l->e[i].name[0] == '/')
			no_slash = 0;
	}
	CHECK(l->n > 0 && all_root, "every entry of a packed tree belongs to uid 0 and gid 0");
	CHECK(l->n > 0 && all_mtime, "every entry of a packed tree has mtime 1, as store paths do");
	CHECK(l->n > 0 && no_names, "no entry of a packed tree carries a user or group name");
	CHECK(l->n > 0 && no_slash, "no entry name starts with '/'");
}

static void check_file_matches(const char *path, const struct tarball_result *res, const char *what)
{
	char hex[65];
	size_t len = 0, tar_len = 0;
	unsigned char *gz = slurp(path, &len), *tar;
	struct stat st;

	if (!CHECK(gz != NULL && len > 18, "%s: the layer file can be read", what)) {
		free(gz);
		return;
	}
	sha256_hex(gz, len, hex);
	CHECK_STR_EQ(hex, res->digest, "%s: the layer file's sha256 is the digest reported", what);
	CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == res->size && len == res->size,
	      "%s: the size reported is the layer file's size", what);
	CHECK(gz[0] == 0x1f && gz[1] == 0x8b && gz[2] == 8, "%s: the layer is a gzip (deflate) stream", what);
	CHECK(gz[4] == 0 && gz[5] == 0 && gz[6] == 0 && gz[7] == 0,
	      "%s: the gzip header's mtime (bytes 4-7) is 0", what);
	free(gz);
	tar = gunzip(path, &tar_len);
	if (CHECK(tar != NULL && tar_len > 0, "%s: the layer gunzips", what)) {
		sha256_hex(tar, tar_len, hex);
		CHECK_STR_EQ(hex, res->diff_id, "%s: the sha256 of the gunzipped tar is the diff_id reported", what);
		CHECK(tar_len % 512 == 0, "%s: the tar stream is whole 512-byte blocks", what);
		CHECK(tar_len >= 1024 && memcmp(tar + tar_len - 1024, (char[1024]){ 0 }, 1024) == 0,
		      "%s: the tar stream ends with two zero blocks", what);
	}
	free(tar);
}

static int files_equal(const char *a, const char *b)
{
	size_t la, lb;
	unsigned char *da = slurp(a, &la), *db = slurp(b, &lb);
	int eq = da && db && la == lb && memcmp(da, db, la) == 0;

	free(da);
	free(db);
	return eq;
}

static void test_tree(void)
{
	struct tarball_result r1, r2, r3, r4;
	char out1[PATH_MAX], out2[PATH_MAX], out3[PATH_MAX], out4[PATH_MAX], data[PATH_MAX];
	struct listing l;

	build_tree();
	snprintf(out1, sizeof out1, "%s/one.tar.gz", tmpdir);
	snprintf(out2, sizeof out2, "%s/two.tar.gz", tmpdir);
	snprintf(out3, sizeof out3, "%s/changed.tar.gz", tmpdir);
	snprintf(out4, sizeof out4, "%s/restored.tar.gz", tmpdir);
	memset(&r1, 0, sizeof r1);
	memset(&r2, 0, sizeof r2);
	if (!CHECK(pack_in_child(out1, tree, &r1) == 0, "a tree packs in one process") ||
	    !CHECK(pack_in_child(out2, tree, &r2) == 0, "the same tree packs again in another process"))
		return;
	CHECK(digest_is_hex(r1.digest) && digest_is_hex(r1.diff_id),
	      "a packed tree's digest and diff_id are 64 lowercase hex digits");
	CHECK(strcmp(r1.digest, r1.diff_id) != 0, "the digest (of the gzip) and the diff_id (of the tar) of a layer differ");
	CHECK_STR_EQ(r2.digest, r1.digest, "two packings of one tree in two processes have the same digest");
	CHECK_STR_EQ(r2.diff_id, r1.diff_id, "two packings of one tree in two processes have the same diff_id");
	CHECK_INT_EQ(r2.size, r1.size, "two packings of one tree in two processes have the same size");
	CHECK(files_equal(out1, out2), "two packings of one tree in two processes are the same bytes");
	check_file_matches(out1, &r1, "tree");

	l = read_layer(out1);
	if (CHECK_WHY(l.ok, l.err, "libarchive reads the packed tree to its end"))
		check_tree_entries(&l);
	listing_free(&l);

	/* One byte changed in one file: another layer. */
	snprintf(data, sizeof data, "%s/data", tree);
	chmod(data, 0644);
	make_file(data, 0444, "read-only Data\n");
	if (CHECK(pack_in_child(out3, tree, &r3) == 0, "the tree with one byte changed packs")) {
		CHECK(strcmp(r3.digest, r1.digest) != 0, "changing one byte of one file changes the layer digest");
		CHECK(strcmp(r3.diff_id, r1.diff_id) != 0, "changing one byte of one file changes the diff_id");
		CHECK_INT_EQ(r3.size > 0, 1, "the changed tree's layer is not empty");
	}
	make_file(data, 0444, "read-only data\n");
	if (CHECK(pack_in_child(out4, tree, &r4) == 0, "the tree with the byte changed back packs"))
		CHECK_STR_EQ(r4.digest, r1.digest, "changing the byte back gives the first digest again");
	/* A mode change alone is a different layer too. */
	chmod(data, 0400);
	if (CHECK(pack_in_child(out4, tree, &r4) == 0, "the tree with one mode changed packs"))
		CHECK(strcmp(r4.diff_id, r1.diff_id) != 0, "changing one file's mode changes the diff_id");
	chmod(data, 0444);
}

/* ---------- threads ---------- */

/* A layer of several gzip pieces packs to the same bytes whatever the
 * number of threads compressing it. */
static void test_threads(void)
{
	const unsigned counts[] = { 1, 2, 8 };
	struct tarball_result first, r;
	char dir[PATH_MAX], path[PATH_MAX + 16], out[PATH_MAX], first_out[PATH_MAX];
	unsigned char *data = malloc(3 * GZIP_PIECE + 777);
	uint64_t x = 88172645463325252u;
	size_t i;
	FILE *f;

	snprintf(dir, sizeof dir, "%s/big", tmpdir);
	make_dir(dir, 0755);
	for (i = 0; data && i < 3 * GZIP_PIECE + 777; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (unsigned char)"abcdefgh \n/0123"[x % 16];
	}
	snprintf(path, sizeof path, "%s/text", dir);
	if (!data || !(f = fopen(path, "wb")) || fwrite(data, 1, 3 * GZIP_PIECE + 777, f) != 3 * GZIP_PIECE + 777 ||
	    fclose(f) != 0)
		die("writing the big file");
	snprintf(path, sizeof path, "%s/small", dir);
	make_file(path, 0644, "small\n");
	free(data);

	for (i = 0; i < sizeof counts / sizeof *counts; i++) {
		pack_threads = counts[i];
		snprintf(out, sizeof out, "%s/threads-%u.tar.gz", tmpdir, counts[i]);
		memset(&r, 0, sizeof r);
		if (!CHECK(pack_in_child(out, dir, &r) == 0, "a 3 MiB tree packs with %u threads", counts[i]))
			continue;
		if (i == 0) {
			first = r;
			snprintf(first_out, sizeof first_out, "%s", out);
			check_file_matches(out, &r, "3 MiB tree");
			continue;
		}
		CHECK_STR_EQ(r.digest, first.digest, "%u threads give the digest of 1 thread", counts[i]);
		CHECK_STR_EQ(r.diff_id, first.diff_id, "%u threads give the diff_id of 1 thread", counts[i]);
		CHECK(files_equal(out, first_out), "%u threads give the bytes of 1 thread", counts[i]);
	}
	pack_threads = 2;
}

/* ---------- entries added one by one ---------- */

#define LONG_TARGET "/nix/store/00000000000000000000000000000000-tzdata-2024a/share/zoneinfo/" \
	"Etc/Some/Very/Long/Path/Beyond/One/Hundred/Characters/UTC"

static int fill_entries(struct tarball *t, void *ctx)
{
	int rc = 0;

	(void)ctx;
	if (rc == 0) rc = tarball_add_dir(t, "etc", 0755);
	if (rc == 0) rc = tarball_add_data(t, "etc/motd", 0644, "hi\n", 3);
	if (rc == 0) rc = tarball_add_symlink(t, "etc/localtime", LONG_TARGET);
	if (rc == 0) rc = tarball_add_data(t, "etc/empty", 0600, "", 0);
	if (rc == 0) rc = tarball_add_dir(t, "tmp", 01777);
	if (rc == 0) rc = tarball_add_data(t, "usr/bin/tool", 04755, "\x7f" "ELF\0\1", 6);
	return rc;
}

static void test_entries(void)
{
	struct tarball_result res;
	char out[PATH_MAX], err[512] = "";
	struct listing l;
	struct entry *e;
	char *names;

	snprintf(out, sizeof out, "%s/entries.tar.gz", tmpdir);
	if (!CHECK_WHY(pack(out, fill_entries, NULL, &res, err, sizeof err) == 0, err,
		       "directories, files and symlinks can be added one by one"))
		return;
	check_file_matches(out, &res, "entries");
	l = read_layer(out);
	if (!CHECK_WHY(l.ok, l.err, "libarchive reads the entries added one by one")) {
		listing_free(&l);
		return;
	}
	names = names_of(&l);
	CHECK_STR_EQ(names, "etc\netc/motd\netc/localtime\netc/empty\ntmp\nusr/bin/tool\n",
		     "entries added one by one come out in the order they were added");
	free(names);
	e = find_entry(&l, "etc");
	CHECK(e && e->type == AE_IFDIR && e->perm == 0755, "tarball_add_dir makes a directory entry with mode 0755");
	e = find_entry(&l, "etc/motd");
	CHECK(e && e->type == AE_IFREG && e->perm == 0644 && e->size == 3 && memcmp(e->data, "hi\n", 3) == 0,
	      "tarball_add_data makes a 3-byte file \"hi\\n\" with mode 0644");
	e = find_entry(&l, "etc/localtime");
	CHECK(e && e->type == AE_IFLNK, "tarball_add_symlink makes a symlink entry");
	CHECK_STR_EQ(e ? e->target : NULL, LONG_TARGET, "a symlink target longer than 100 characters comes back whole");
	e = find_entry(&l, "etc/empty");
	CHECK(e && e->type == AE_IFREG && e->size == 0 && e->perm == 0600, "an empty file is an entry of size 0");
	e = find_entry(&l, "tmp");
	CHECK(e && e->type == AE_IFDIR && e->perm == 01777, "a directory keeps its sticky bit (01777)");
	e = find_entry(&l, "usr/bin/tool");
	CHECK(e && e->perm == 04755 && e->size == 6 && memcmp(e->data, "\x7f" "ELF\0\1", 6) == 0,
	      "a file keeps its setuid bit and binary contents with a NUL inside");
	CHECK(l.n == 6 && l.e[0].uid == 0 && l.e[5].gid == 0 && l.e[2].mtime == 1 && !l.e[1].has_uname,
	      "entries added one by one also have uid/gid 0, mtime 1, no user names");
	listing_free(&l);
}

static void test_errors(void)
{
	struct tarball *t;
	struct tarball_result res;
	char err[512] = "", out[PATH_MAX], fifo[PATH_MAX];
	int fd;

	snprintf(out, sizeof out, "%s/errors.tar.gz", tmpdir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || tarball_open(&t, (struct tarball_gzip){ 2, 6 }, tarball_fd_sink, &fd, err, sizeof err) < 0)
		die("tarball_open");
	CHECK(tarball_add_tree(t, "relative/path") < 0, "a relative path is refused");
	CHECK_WHY(strstr(tarball_error(t), "relative/path") != NULL, tarball_error(t),
		  "the error of a refused relative path names the path");
	CHECK(tarball_close(t, &res, err, sizeof err) < 0, "a layer that met an error does not close successfully");
	CHECK_WHY(strstr(err, "relative/path") != NULL, err, "closing a failed layer says what failed");
	close(fd);

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || tarball_open(&t, (struct tarball_gzip){ 2, 6 }, tarball_fd_sink, &fd, err, sizeof err) < 0)
		die("tarball_open");
	snprintf(fifo, sizeof fifo, "%s/no-such-path", tmpdir);
	CHECK(tarball_add_tree(t, fifo) < 0, "a path that does not exist is refused");
	CHECK_WHY(strstr(tarball_error(t), "no-such-path") != NULL, tarball_error(t),
		  "the error of a missing path names the path");
	tarball_abort(t);
	close(fd);

	snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
	if (mkfifo(fifo, 0644) < 0)
		die("mkfifo");
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || tarball_open(&t, (struct tarball_gzip){ 2, 6 }, tarball_fd_sink, &fd, err, sizeof err) < 0)
		die("tarball_open");
	CHECK(tarball_add_tree(t, fifo) < 0, "a FIFO (neither file, link nor directory) is refused");
	tarball_abort(t);
	close(fd);
	unlink(fifo);

	/* A layer cannot be written to a descriptor that is not open for writing. */
	fd = open(out, O_RDONLY);
	if (fd < 0 || tarball_open(&t, (struct tarball_gzip){ 2, 6 }, tarball_fd_sink, &fd, err, sizeof err) < 0)
		die("tarball_open");
	tarball_add_tree(t, tree);
	CHECK(tarball_close(t, &res, err, sizeof err) < 0, "a layer written to a read-only descriptor fails to close");
	CHECK_WHY(strstr(err, "cannot write layer") != NULL, err, "a failed write is reported as such");
	close(fd);
}

/* ---------- the symlink layer ---------- */

static char pkg_a[PATH_MAX], pkg_b[PATH_MAX], pkg_file[PATH_MAX];

static void build_packages(void)
{
	char p[PATH_MAX * 2];

	snprintf(pkg_a, sizeof pkg_a, "%s/store/aaaa-pkgA", tmpdir);
	snprintf(pkg_b, sizeof pkg_b, "%s/store/bbbb-pkgB", tmpdir);
	snprintf(pkg_file, sizeof pkg_file, "%s/store/cccc-single-file", tmpdir);
	snprintf(p, sizeof p, "%s/store", tmpdir);
	make_dir(p, 0755);
	make_dir(pkg_a, 0555);
	snprintf(p, sizeof p, "%s/bin", pkg_a);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/bin/hello", pkg_a);
	make_file(p, 0555, "hello from A\n");
	snprintf(p, sizeof p, "%s/bin/env", pkg_a);
	make_file(p, 0555, "env\n");
	chmod(p, 0555);
	make_dir(pkg_b, 0555);
	snprintf(p, sizeof p, "%s/bin", pkg_b);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/bin/hello", pkg_b);
	make_file(p, 0555, "hello from B\n");
	snprintf(p, sizeof p, "%s/etc", pkg_b);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/etc/ssl", pkg_b);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/etc/ssl/certs", pkg_b);
	make_dir(p, 0755);
	snprintf(p, sizeof p, "%s/etc/ssl/certs/ca-bundle.crt", pkg_b);
	make_file(p, 0444, "-----BEGIN CERTIFICATE-----\n");
	snprintf(p, sizeof p, "%s/tmp", pkg_b);
	make_dir(p, 0755);
	make_file(pkg_file, 0444, "a package that is one file\n");
}

struct rootfs_ctx {
	char *outputs[3];
	size_t n;
	int nonroot;
	char err[512];
	int rc;
};

static int fill_rootfs(struct tarball *t, void *ctx)
{
	struct rootfs_ctx *r = ctx;

	r->rc = rootfs_pack(t, r->outputs, r->n, r->nonroot, r->err, sizeof r->err);
	return r->rc;
}

/* label: the target as the check names it, without the temporary folder. */
static void check_link(const struct listing *l, const char *name, const char *target,
		       const char *label, const char *what)
{
	struct entry *e = find_entry(l, name);

	if (!CHECK(e && e->type == AE_IFLNK, "%s: %s is a symlink", what, name))
		return;
	CHECK_STR_EQ(e->target, target, "%s: %s points to %s", what, name, label);
}

static void check_dir(const struct listing *l, const char *name, unsigned perm)
{
	struct entry *e = find_entry(l, name);

	CHECK(e && e->type == AE_IFDIR && e->perm == perm, "the symlink layer has the directory %s with mode %04o",
	      name, perm);
}

static void test_rootfs(void)
{
	struct rootfs_ctx r = { .n = 3 };
	struct tarball_result res, res2;
	char out[PATH_MAX], out2[PATH_MAX], err[512] = "", want[PATH_MAX * 2];
	struct listing l;
	struct entry *e;
	char *names;
	size_t i;
	int sorted = 1, all_root = 1;

	build_packages();
	r.outputs[0] = pkg_a;
	r.outputs[1] = pkg_b;
	r.outputs[2] = pkg_file;
	snprintf(out, sizeof out, "%s/rootfs.tar.gz", tmpdir);
	if (!CHECK_WHY(pack(out, fill_rootfs, &r, &res, err, sizeof err) == 0, r.err[0] ? r.err : err,
		       "the symlink layer of two packages and a single-file package packs"))
		return;
	check_file_matches(out, &res, "symlink layer");
	l = read_layer(out);
	if (!CHECK_WHY(l.ok, l.err, "libarchive reads the symlink layer")) {
		listing_free(&l);
		return;
	}
	names = names_of(&l);
	CHECK_STR_EQ(names,
		     "bin\n"
		     "bin/env\n"
		     "bin/hello\n"
		     "etc\n"
		     "etc/group\n"
		     "etc/passwd\n"
		     "etc/ssl\n"
		     "etc/ssl/certs\n"
		     "etc/ssl/certs/ca-bundle.crt\n"
		     "etc/ssl/certs/ca-certificates.crt\n"
		     "tmp\n"
		     "usr\n"
		     "usr/bin\n"
		     "usr/bin/env\n",
		     "the symlink layer holds exactly the merged package files and the system files, sorted");
	free(names);
	for (i = 1; i < l.n; i++)
		if (strcmp(l.e[i - 1].name, l.e[i].name) >= 0)
			sorted = 0;
	CHECK(sorted, "the symlink layer's entries are in byte order");
	for (i = 0; i < l.n; i++)
		if (l.e[i].uid != 0 || l.e[i].gid != 0 || l.e[i].mtime != 1)
			all_root = 0;
	CHECK(l.n > 0 && all_root, "the symlink layer's entries have uid/gid 0 and mtime 1");

	check_dir(&l, "bin", 0755);
	check_dir(&l, "etc", 0755);
	check_dir(&l, "etc/ssl/certs", 0755);
	check_dir(&l, "usr", 0755);
	check_dir(&l, "usr/bin", 0755);
	e = find_entry(&l, "tmp");
	CHECK(e && e->type == AE_IFDIR && e->perm == 01777,
	      "/tmp is a directory with mode 1777 even though a package ships it with 0755");

	snprintf(want, sizeof want, "%s/bin/hello", pkg_a);
	check_link(&l, "bin/hello", want, "<pkgA>/bin/hello", "a file two packages ship goes to the first package");
	snprintf(want, sizeof want, "%s/bin/env", pkg_a);
	check_link(&l, "bin/env", want, "<pkgA>/bin/env", "a package's file");
	check_link(&l, "usr/bin/env", want, "<pkgA>/bin/env", "/usr/bin/env");
	snprintf(want, sizeof want, "%s/etc/ssl/certs/ca-bundle.crt", pkg_b);
	check_link(&l, "etc/ssl/certs/ca-bundle.crt", want, "<pkgB>/etc/ssl/certs/ca-bundle.crt", "the CA bundle");
	check_link(&l, "etc/ssl/certs/ca-certificates.crt", want, "<pkgB>/etc/ssl/certs/ca-bundle.crt",
		   "the CA bundle's Debian name");

	e = find_entry(&l, "etc/passwd");
	if (CHECK(e && e->type == AE_IFREG && e->perm == 0644, "/etc/passwd is a regular file with mode 0644")) {
		CHECK(e->data && strncmp(e->data, "root:x:0:0:", 11) == 0, "/etc/passwd starts with root (uid 0, gid 0)");
		CHECK(e->data && strstr(e->data, "\nnobody:x:65534:65534:"), "/etc/passwd has nobody (uid and gid 65534)");
	}
	e = find_entry(&l, "etc/group");
	if (CHECK(e && e->type == AE_IFREG && e->perm == 0644, "/etc/group is a regular file with mode 0644")) {
		CHECK(e->data && strncmp(e->data, "root:x:0:", 9) == 0, "/etc/group starts with the root group (gid 0)");
		CHECK(e->data && strstr(e->data, "\nnobody:x:65534:"), "/etc/group has the nobody group (gid 65534)");
	}
	listing_free(&l);

	/* The same packages in the other order: B's hello wins. */
	r.outputs[0] = pkg_b;
	r.outputs[1] = pkg_a;
	snprintf(out2, sizeof out2, "%s/rootfs-ba.tar.gz", tmpdir);
	if (CHECK_WHY(pack(out2, fill_rootfs, &r, &res2, err, sizeof err) == 0, r.err,
		      "the symlink layer packs with the packages in the other order")) {
		l = read_layer(out2);
		snprintf(want, sizeof want, "%s/bin/hello", pkg_b);
		check_link(&l, "bin/hello", want, "<pkgB>/bin/hello", "with B listed first, B's file wins");
		CHECK(strcmp(res2.digest, res.digest) != 0, "the package order changes the symlink layer's digest");
		listing_free(&l);
	}

	/* Packed again in the same order: the same bytes. */
	r.outputs[0] = pkg_a;
	r.outputs[1] = pkg_b;
	if (CHECK_WHY(pack(out2, fill_rootfs, &r, &res2, err, sizeof err) == 0, r.err,
		      "the symlink layer packs a second time"))
		CHECK(strcmp(res2.digest, res.digest) == 0 && files_equal(out, out2),
		      "the symlink layer of the same packages is the same bytes every time");

	/* No packages at all: still a usable root. */
	r.n = 0;
	if (CHECK_WHY(pack(out2, fill_rootfs, &r, &res2, err, sizeof err) == 0, r.err,
		      "the symlink layer of no packages packs")) {
		l = read_layer(out2);
		names = names_of(&l);
		CHECK_STR_EQ(names, "etc\netc/group\netc/passwd\ntmp\n",
			     "without packages the symlink layer has only /etc/passwd, /etc/group and /tmp");
		free(names);
		listing_free(&l);
	}
}

static void cleanup(void)
{
	char cmd[PATH_MAX + 32];

	if (!tmpdir[0] || strncmp(tmpdir, "/tmp/nixery-tarball-", 20) != 0)
		return;
	snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", tmpdir, tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* Names are bytes: in UTF-8 (CJK, a combining accent and a precomposed
 * one) and not (Latin-1, stray bytes), as file names and link targets. They
 * pack whatever the process's locale, to the same bytes in every locale,
 * and read back as the same bytes. */
static void test_names(void)
{
	static const char *const files[] = {
		"\346\227\245\346\234\254\350\252\236.txt", "cafe\314\201", "caf\303\251",
		"latin1-caf\351", "stray-\377\376\200.bin",
	};
	char root[256], path[PATH_MAX], out[PATH_MAX], err[512] = "";
	struct tarball_result in_c, in_utf8;
	unsigned char *tar;
	size_t i, len;
	int rc;

	snprintf(root, sizeof root, "%s/names", tmpdir);
	make_dir(root, 0755);
	for (i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", root, files[i]);
		make_file(path, 0444, files[i]);
	}
	snprintf(path, sizeof path, "%s/utf8-link", root);
	make_link(path, "caf\303\251");
	snprintf(path, sizeof path, "%s/latin1-link", root);
	make_link(path, "latin1-caf\351");

	snprintf(out, sizeof out, "%s/names-c.tar.gz", tmpdir);
	setlocale(LC_ALL, "C");
	rc = pack(out, fill_tree, root, &in_c, err, sizeof err);
	CHECK_WHY(rc == 0, err, "names in UTF-8 and not pack in the C locale");
	setlocale(LC_ALL, "C.UTF-8");
	rc |= pack(out, fill_tree, root, &in_utf8, err, sizeof err);
	setlocale(LC_ALL, "C");
	CHECK_WHY(rc == 0, err, "and in C.UTF-8");
	CHECK(rc == 0 && strcmp(in_c.digest, in_utf8.digest) == 0,
	      "to the same bytes in both locales (%.12s, %.12s)", in_c.digest, in_utf8.digest);

	/* Each name is in a PAX record as its bytes (readers differ in what
	 * they make of them: libarchive normalises, Go's archive/tar and
	 * umoci do not; tests/e2e/oddfiles.sh unpacks them with umoci). */
#define IN_LAYER(s) (tar && memmem(tar, len, s, strlen(s)) != NULL)
	tar = gunzip(out, &len);
	CHECK(tar != NULL, "the layer unzips");
	for (i = 0; tar && i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, " path=%s/%s\n", root + 1, files[i]);
		CHECK(IN_LAYER(path),
		      "file name %zu of %zu is in the layer as its bytes", i + 1, sizeof files / sizeof *files);
	}
	CHECK(IN_LAYER(" linkpath=caf\303\251\n"), "a link's UTF-8 target is in the layer as its bytes");
	CHECK(IN_LAYER(" linkpath=latin1-caf\351\n"), "a link's Latin-1 target is in the layer as its bytes");
	CHECK(IN_LAYER("hdrcharset=BINARY"),
	      "names that are not UTF-8 are marked hdrcharset=BINARY");
	free(tar);
#undef IN_LAYER
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/nixery-tarball-XXXXXX");
	if (!mkdtemp(tmpdir))
		die("mkdtemp");
	test_tree();
	test_threads();
	test_entries();
	test_errors();
	test_rootfs();
	test_names();
	cleanup();
	return check_exit();
}
