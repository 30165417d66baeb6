/* Blobs on the file system (storage/filesystem.c): complete or absent, a
 * write in progress has no name (or, where O_TMPFILE is missing, a locked
 * one that the next start removes once its writer is gone), damaged blobs
 * are replaced and whole ones kept. Tag files (storage/tags.c) hold what
 * the web server reads, only under tags/, only for plain names. The test reaches the backend's own
 * struct to try the named-file path on a file system that has O_TMPFILE. */
#include "storage/filesystem.c"

#include <sys/wait.h>

#include "tests/unit/check.h"

static char root[64];
static struct config fs_config = { .storage = STORAGE_FILESYSTEM, .storage_path = root };

static int entries(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_blobs(void)
{
	struct storage *s;
	struct storage_writer *w;
	struct storage_location loc;
	struct buf got = { 0 };
	char err[512] = "", hex[DIGEST_HEX_LEN + 1], tmp[128], path[sizeof loc.target];
	struct stat before, after;
	int fd;

	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	CHECK_WHY(storage_open(&fs_config, &s, err, sizeof err) == 0, err, "a storage opens on an empty folder");
	CHECK(!((struct filesystem *)s)->named_temps, "this file system has O_TMPFILE");
	CHECK(storage_put(s, "hello", 5, hex, err, sizeof err) == 0, "a small blob is stored");
	CHECK(storage_check(s, hex, 5) == 0, "it is there whole");
	CHECK_INT_EQ(storage_check(s, hex, 6), -EIO, "a blob of another size than recorded is damaged");
	CHECK_INT_EQ(storage_check(s, "0000000000000000000000000000000000000000000000000000000000000000", 5),
		     -ENOENT, "a blob never stored is missing");
	CHECK(storage_read(s, hex, 100, &got) == 0 && got.len == 5 && memcmp(got.data, "hello", 5) == 0,
	      "it reads back");
	CHECK_INT_EQ(storage_read(s, hex, 4, &got), -EFBIG, "a read is bounded");

	CHECK(storage_begin(s, &w, err, sizeof err) == 0 && storage_write(w, "abc", 3, err, sizeof err) == 0,
	      "a blob is being written");
	CHECK_INT_EQ(entries(tmp), 0, "a write in progress has no name in tmp/");
	storage_discard(w);
	CHECK_INT_EQ(entries(tmp), 0, "a discarded write leaves nothing");

	/* A damaged copy is replaced; a whole one is kept as it is. */
	CHECK(storage_locate(s, hex, &loc, err, sizeof err) == 0 && !loc.redirect, "a blob is a file to send");
	snprintf(path, sizeof path, "%s", loc.target);
	if (truncate(path, 2) < 0)
		CHECK(0, "a blob can be cut short for the test");
	CHECK(storage_put(s, "hello", 5, hex, err, sizeof err) == 0 && storage_check(s, hex, 5) == 0,
	      "storing a blob again replaces a damaged copy");
	stat(path, &before);
	storage_put(s, "hello", 5, hex, err, sizeof err);
	stat(path, &after);
	CHECK(before.st_ino == after.st_ino, "storing a small blob again keeps a whole copy as it is");
	/* Damaged without changing size: a small blob is compared whole. */
	fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, "J", 1, 0) != 1 || close(fd) < 0)
		CHECK(0, "a blob can be damaged for the test");
	CHECK(storage_put(s, "hello", 5, hex, err, sizeof err) == 0 &&
	      storage_read(s, hex, 100, &got) == 0 && memcmp(got.data, "hello", 5) == 0,
	      "storing a small blob again replaces a copy damaged without a change of size");
	CHECK_INT_EQ(entries(tmp), 0, "commits leave nothing in tmp/");
	buf_free(&got);
	storage_close(s);
}

/* Where O_TMPFILE is missing: a named file, locked by its writer. */
static void test_named(void)
{
	struct storage *s, *again;
	struct storage_writer *w;
	char err[512] = "", hex[DIGEST_HEX_LEN + 1], tmp[128], left[160];
	int status;
	pid_t pid;

	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	if (storage_open(&fs_config, &s, err, sizeof err) < 0)
		return;
	((struct filesystem *)s)->named_temps = 1;
	CHECK(storage_begin(s, &w, err, sizeof err) == 0, "a named write begins");
	CHECK_INT_EQ(entries(tmp), 1, "it has a name in tmp/");
	CHECK(storage_open(&fs_config, &again, err, sizeof err) == 0 && entries(tmp) == 1,
	      "another worker starting leaves a write in progress alone");
	storage_close(again);
	storage_discard(w);
	CHECK_INT_EQ(entries(tmp), 0, "a discarded named write leaves nothing");
	CHECK(storage_put(s, "named", 5, hex, err, sizeof err) == 0 && storage_check(s, hex, 5) == 0 &&
	      entries(tmp) == 0, "a named write commits, and leaves nothing");

	/* A writer that dies: its file stays until the next start. */
	pid = fork();
	if (pid == 0) {
		storage_begin(s, &w, err, sizeof err);
		storage_write(w, "partial", 7, err, sizeof err);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK_INT_EQ(entries(tmp), 1, "a writer killed mid-write leaves its named file");
	snprintf(left, sizeof left, "%s/blob-left-by-an-old-version", tmp);
	close(open(left, O_WRONLY | O_CREAT, 0644));
	CHECK(storage_open(&fs_config, &again, err, sizeof err) == 0 && entries(tmp) == 0,
	      "the next start removes what dead writers left");
	storage_close(again);
	storage_close(s);
}

static void test_tags(void)
{
	static const char *const hostile_names[] = {
		"../x", "a/../b", "a/./b", ".", "..", "Shell", "a//b", "/a", "a/", "a..b", "-a", "a-", "a b",
		"a\nb", "",
	};
	static const char *const hostile_tags[] = { "../x", "a/b", ".x", "-x", "x y", "", "x\n",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	struct storage_tag t = { .expires = 2000000000 }, got = { 0 };
	struct storage *s;
	char err[512] = "", path[256], line[1024] = "", tmp[128];
	size_t i;
	FILE *f;

	CHECK_WHY(storage_open(&fs_config, &s, err, sizeof err) == 0, err, "a storage opens");
	memset(t.docker, 'a', DIGEST_HEX_LEN);
	memset(t.oci, 'b', DIGEST_HEX_LEN);
	CHECK_INT_EQ(storage_tag_read(s, "shell/hello", "latest", &got), -ENOENT, "a tag never written reads -ENOENT");
	CHECK_INT_EQ(storage_tag_write(s, "shell/hello", "latest", &t, " cc:12"), 0, "a tag is written");
	CHECK(storage_tag_read(s, "shell/hello", "latest", &got) == 0 && got.expires == t.expires &&
	      strcmp(got.docker, t.docker) == 0 && strcmp(got.oci, t.oci) == 0, "and reads back");
	snprintf(path, sizeof path, "%s/tags/shell/hello/@latest", root);
	if ((f = fopen(path, "r"))) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		fclose(f);
	}
	CHECK_STR_EQ(line, "2000000000 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
		     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb cc:12\n",
		     "its file is the line the web server reads, under tags/<name>/@<tag>");
	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	CHECK_INT_EQ(entries(tmp), 0, "writing leaves nothing in tmp/");
	t.expires = 2000000001;
	CHECK(storage_tag_write(s, "shell/hello", "latest", &t, "") == 0 &&
	      storage_tag_read(s, "shell/hello", "latest", &got) == 0 && got.expires == 2000000001,
	      "a tag written again replaces its file");
	CHECK_INT_EQ(storage_tag_write(s, "shell", "latest", &t, ""), 0,
		     "a shorter name beside a longer one has a file of its own");
	CHECK_INT_EQ(storage_tag_write(s, "shell/latest", "v1", &t, ""), 0,
		     "and a name ending like another's tag a folder of its own");

	for (i = 0; i < sizeof hostile_names / sizeof *hostile_names; i++)
		CHECK(storage_tag_write(s, hostile_names[i], "latest", &t, "") == -EINVAL &&
		      storage_tag_read(s, hostile_names[i], "latest", &got) == -EINVAL,
		      "a name outside the plain grammar has no tag file");
	for (i = 0; i < sizeof hostile_tags / sizeof *hostile_tags; i++)
		CHECK_INT_EQ(storage_tag_write(s, "shell", hostile_tags[i], &t, ""), -EINVAL,
			     "a tag outside the plain grammar has no file");
	t.docker[3] = 'X';
	CHECK_INT_EQ(storage_tag_write(s, "shell", "latest", &t, ""), -EINVAL, "nor a digest that is not hex");

	if ((f = fopen(path, "w"))) {
		fputs("not a tag file\n", f);
		fclose(f);
	}
	CHECK_INT_EQ(storage_tag_read(s, "shell/hello", "latest", &got), -EINVAL, "a damaged file reads -EINVAL");

	CHECK_INT_EQ(storage_tags_clear(s), 0, "the tag files are cleared");
	snprintf(path, sizeof path, "%s/tags", root);
	CHECK_INT_EQ(entries(path), 0, "and none is left");
	storage_close(s);
}

int main(void)
{
	char cmd[96];

	snprintf(root, sizeof root, "/tmp/nixery-storage-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	test_blobs();
	test_named();
	test_tags();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", root);
	return check_exit();
}
