/* Blobs on the file system (storage/filesystem.c): complete or absent, a
 * write in progress has no name (or, where O_TMPFILE is missing, a locked
 * one that the next start removes once its writer is gone), damaged blobs
 * are replaced and whole ones kept. Tag files (storage/tags.c) hold what
 * the web server reads, only under tags/, in one format, only for names
 * and tags the registry takes. The test reaches the backend's own
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

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C64 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* Writes text as the tag file of shell:t. */
static void plant_tag(const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/tags/shell/@t", root);
	if ((f = fopen(path, "w"))) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_tags(void)
{
	static const char *const hostile_names[] = {
		"../x", "a/../b", "a/./b", ".", "..", "Shell", "a//b", "/a", "a/", "a..b", "-a", "a-", "a b",
		"a\nb", "", "a___b", "a_", "a.-b",
	};
	static const char *const hostile_tags[] = { "../x", "a/b", ".x", "-x", "x y", "", "x\n",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	/* Lines the reader takes, and lines it does not: anything but one
	 * line as storage_tag_write writes it. */
	static const struct {
		const char *text;
		int ok;
		const char *what;
	} lines[] = {
		{ "2000000000 " A64 " " B64 "\n", 1, "a line without blobs" },
		{ "2000000000 " A64 " " B64 " " C64 ":12 " C64 ":0\n", 1, "a line with blobs" },
		{ "000000000000000001 " A64 " " B64 "\n", 1, "a time of 18 digits" },
		{ "1000000000000000000 " A64 " " B64 "\n", 0, "a time of 19 digits" },
		{ "2000000000 " A64 " " B64 " " C64 ":1000000000000000000\n", 0, "a size of 19 digits" },
		{ "2000000000 " A64 " " B64, 0, "a line without its end" },
		{ "2000000000 " A64 " " B64 "\n\n", 0, "a line and an empty one" },
		{ "2000000000 " A64 " " B64 "\nx\n", 0, "two lines" },
		{ "2000000000  " A64 " " B64 "\n", 0, "two spaces" },
		{ "2000000000\t" A64 " " B64 "\n", 0, "a tab" },
		{ " 2000000000 " A64 " " B64 "\n", 0, "a space first" },
		{ "2000000000 " A64 " " B64 " \n", 0, "a space last" },
		{ "-2000000000 " A64 " " B64 "\n", 0, "a negative time" },
		{ "+2000000000 " A64 " " B64 "\n", 0, "a signed time" },
		{ "2000000000 " A64 "a " B64 "\n", 0, "a digest of 65 digits" },
		{ "2000000000 " A64 " " B64 " " C64 "\n", 0, "a blob without its size" },
		{ "2000000000 " A64 " " B64 " " C64 ":\n", 0, "a blob with an empty size" },
		{ "2000000000 " A64 " " B64 " " C64 ":-1\n", 0, "a blob with a negative size" },
		{ "2000000000 " A64 " " B64 " " C64 ":12x\n", 0, "a size with a letter after it" },
		{ "2000000000 " A64 " " B64 " cc:12\n", 0, "a blob's digest too short" },
		{ "2000000000 " A64 " " B64 " " C64 ":12 junk\n", 0, "junk after the blobs" },
		{ "2000000000 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA " B64 "\n", 0,
		  "a digest in capitals" },
		{ "", 0, "an empty file" },
		{ "not a tag file\n", 0, "something else" },
	};
	struct storage_tag t = { .expires = 2000000000 }, got = { 0 };
	struct storage *s;
	char err[512] = "", path[256], line[1024] = "", tmp[128], rel[64];
	size_t i;
	FILE *f;

	CHECK_WHY(storage_open(&fs_config, &s, err, sizeof err) == 0, err, "a storage opens");
	memset(t.docker, 'a', DIGEST_HEX_LEN);
	memset(t.oci, 'b', DIGEST_HEX_LEN);
	CHECK_INT_EQ(storage_tag_read(s, "shell/hello", "latest", &got), -ENOENT, "a tag never written reads -ENOENT");
	CHECK_INT_EQ(storage_tag_write(s, "shell/hello", "latest", &t, " " C64 ":12"), 0, "a tag is written");
	CHECK(storage_tag_read(s, "shell/hello", "latest", &got) == 0 && got.expires == t.expires &&
	      strcmp(got.docker, t.docker) == 0 && strcmp(got.oci, t.oci) == 0, "and reads back");
	snprintf(path, sizeof path, "%s/tags/shell/hello/@latest", root);
	if ((f = fopen(path, "r"))) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		fclose(f);
	}
	CHECK_STR_EQ(line, "2000000000 " A64 " " B64 " " C64 ":12\n",
		     "its file is the line the web server reads, under tags/<name>/@<tag>");
	CHECK(storage_tag_file("shell/hello", "latest", rel, sizeof rel) == 0 &&
	      strcmp(rel, "tags/shell/hello/@latest") == 0, "storage_tag_file names that file (%s)", rel);
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
	CHECK_INT_EQ(storage_tag_write(s, "a__b/c--d/e.f_g", "V1.0-rc_1", &t, ""), 0,
		     "every name and tag the registry takes has a file (a__b/c--d/e.f_g:V1.0-rc_1)");

	for (i = 0; i < sizeof hostile_names / sizeof *hostile_names; i++)
		CHECK(storage_tag_write(s, hostile_names[i], "latest", &t, "") == -EINVAL &&
		      storage_tag_read(s, hostile_names[i], "latest", &got) == -EINVAL &&
		      storage_tag_file(hostile_names[i], "latest", rel, sizeof rel) == -EINVAL,
		      "a name the registry does not take has no tag file");
	for (i = 0; i < sizeof hostile_tags / sizeof *hostile_tags; i++)
		CHECK_INT_EQ(storage_tag_write(s, "shell", hostile_tags[i], &t, ""), -EINVAL,
			     "a tag the registry does not take has no file");
	t.docker[3] = 'X';
	CHECK_INT_EQ(storage_tag_write(s, "shell", "latest", &t, ""), -EINVAL, "nor a digest that is not hex");
	t.docker[3] = 'a';
	CHECK_INT_EQ(storage_tag_write(s, "shell", "latest", &t, " cc:12"), -EINVAL,
		     "nor a blob that is not one");

	for (i = 0; i < sizeof lines / sizeof *lines; i++) {
		plant_tag(lines[i].text);
		CHECK_INT_EQ(storage_tag_read(s, "shell", "t", &got), lines[i].ok ? 0 : -EINVAL, "%s %s",
			     lines[i].what, lines[i].ok ? "reads" : "is no tag file");
	}
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

/* What the web server may send for a tag by its file alone: a current
 * file whose manifest and blobs are there as committed. */
/* A client that takes no index: Docker's manifest, or OCI's when oci. */
static int answer(const struct storage *s, const char *name, const char *tag, int oci, int64_t now,
		  char hex[DIGEST_HEX_LEN + 1])
{
	struct manifest_accept a = { oci ? MANIFEST_OCI : MANIFEST_DOCKER, 0, MANIFEST_DOCKER };
	int as_index;

	return storage_tag_answer(s, name, tag, &a, now, hex, &as_index);
}

static void test_tag_answer(void)
{
	struct storage_tag t = { .expires = 2000000000 };
	struct storage *s;
	char err[512] = "", docker[DIGEST_HEX_LEN + 1], oci[DIGEST_HEX_LEN + 1], layer[DIGEST_HEX_LEN + 1];
	char hex[DIGEST_HEX_LEN + 1], blobs[128], path[256];
	const struct timespec later[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1, .tv_nsec = 5 } };

	if (storage_open(&fs_config, &s, err, sizeof err) < 0) {
		CHECK_WHY(0, err, "a storage opens");
		return;
	}
	CHECK(storage_put(s, "docker manifest", 15, docker, err, sizeof err) == 0 &&
	      storage_put(s, "oci manifest", 12, oci, err, sizeof err) == 0 &&
	      storage_put(s, "a layer", 7, layer, err, sizeof err) == 0, "two manifests and a layer are stored");
	memcpy(t.docker, docker, sizeof docker);
	memcpy(t.oci, oci, sizeof oci);
	snprintf(blobs, sizeof blobs, " %s:7", layer);
	storage_tag_write(s, "shell", "t", &t, blobs);
	CHECK(answer(s, "shell", "t", 0, 1999999999, hex) == 0 && strcmp(hex, docker) == 0,
	      "a current tag answers its Docker manifest");
	CHECK(answer(s, "shell", "t", 1, 1999999999, hex) == 0 && strcmp(hex, oci) == 0,
	      "and its OCI manifest");
	CHECK_INT_EQ(answer(s, "shell", "t", 0, 2000000000, hex), -ESTALE, "not at its time");
	CHECK_INT_EQ(answer(s, "shell", "u", 0, 0, hex), -ENOENT, "a tag without a file answers nothing");
	snprintf(blobs, sizeof blobs, " %s:8", layer);
	storage_tag_write(s, "shell", "t", &t, blobs);
	CHECK_INT_EQ(answer(s, "shell", "t", 0, 0, hex), -EIO, "a blob of another size: nothing");
	snprintf(blobs, sizeof blobs, " %s:7", layer);
	storage_tag_write(s, "shell", "t", &t, blobs);
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", root, layer);
	utimensat(AT_FDCWD, path, later, 0);
	CHECK_INT_EQ(answer(s, "shell", "t", 0, 0, hex), -EIO,
		     "a blob whose time changed, by a nanosecond: nothing");
	unlink(path);
	CHECK_INT_EQ(answer(s, "shell", "t", 0, 0, hex), -EIO, "a blob missing: nothing");
	storage_tag_write(s, "shell", "t", &t, "");
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", root, oci);
	unlink(path);
	CHECK(answer(s, "shell", "t", 0, 0, hex) == 0 && answer(s, "shell", "t", 1, 0, hex) == -EIO,
	      "a manifest missing: nothing in its format, the other's still");
	storage_tags_clear(s);
	storage_close(s);
}

/* A streamed blob of size bytes of c; its digest in hex. */
static int stream_blob(struct storage *s, char c, size_t size, char hex[DIGEST_HEX_LEN + 1])
{
	struct storage_writer *w;
	char err[512], *data = malloc(size);
	int rc = -ENOMEM;

	if (data) {
		memset(data, c, size);
		digest_hex(data, size, hex);
		if ((rc = storage_begin(s, &w, err, sizeof err)) == 0 &&
		    (rc = storage_write(w, data, size, err, sizeof err)) < 0)
			storage_discard(w);
		if (rc == 0)
			rc = storage_commit(w, hex, err, sizeof err);
	}
	free(data);
	return rc;
}

static void overwrite(const char *path, const char *bytes, off_t at)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || pwrite(fd, bytes, strlen(bytes), at) != (ssize_t)strlen(bytes) || close(fd) < 0)
		CHECK(0, "a blob can be changed for the test");
}

/* A blob's file carries the time it was committed with; a file written
 * since is hashed before it is trusted, and a damaged one replaced. */
static void test_changed(void)
{
	const struct timespec stamp[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = BLOB_MTIME } };
	struct storage *s;
	char err[512] = "", hex[DIGEST_HEX_LEN + 1], path[256];
	struct stat st;

	if (storage_open(&fs_config, &s, err, sizeof err) < 0)
		return;
	CHECK(stream_blob(s, 'a', 300000, hex) == 0, "a layer is streamed into storage");
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", root, hex);
	CHECK(stat(path, &st) == 0 && st.st_mtim.tv_sec == BLOB_MTIME && st.st_mtim.tv_nsec == 0,
	      "its file carries the commit's time");
	CHECK_INT_EQ(storage_verify(s, hex, NULL, NULL), 0, "verify hashes it whole");

	/* Touched, the same bytes: hashed, found whole, and trusted again. */
	utimensat(AT_FDCWD, path, NULL, 0);
	CHECK_INT_EQ(storage_check(s, hex, 300000), 0, "a file touched but the same is whole");
	CHECK(stat(path, &st) == 0 && st.st_mtim.tv_sec == BLOB_MTIME, "and carries the commit's time again");

	/* Changed in place, the size kept (dd conv=notrunc). */
	overwrite(path, "bbbb", 1000);
	CHECK_INT_EQ(storage_check(s, hex, 300000), -EIO, "a layer changed in place is damaged");
	CHECK(stream_blob(s, 'a', 300000, hex) == 0 && storage_check(s, hex, 300000) == 0 &&
	      storage_verify(s, hex, NULL, NULL) == 0, "packing it again replaces the damaged copy");

	/* Bit rot: other bytes, the time as committed. Only verify sees it. */
	overwrite(path, "c", 77);
	utimensat(AT_FDCWD, path, stamp, 0);
	CHECK_INT_EQ(storage_check(s, hex, 300000), 0, "damage that changes no time passes the quick check");
	CHECK_INT_EQ(storage_verify(s, hex, NULL, NULL), -EIO, "and verify finds it");
	CHECK_INT_EQ(storage_verify(s, "0000000000000000000000000000000000000000000000000000000000000000",
				    NULL, NULL), -ENOENT, "verify of a missing blob is -ENOENT");
	storage_close(s);
}

/* Folders removed under a running registry come back with the next write. */
static void test_folders_return(void)
{
	struct storage *s;
	char err[512] = "", hex[DIGEST_HEX_LEN + 1], cmd[160];
	int named;

	if (storage_open(&fs_config, &s, err, sizeof err) < 0)
		return;
	for (named = 0; named < 2; named++) {
		((struct filesystem *)s)->named_temps = named;
		snprintf(cmd, sizeof cmd, "rm -rf '%s/tmp'", root);
		CHECK(system(cmd) == 0 && stream_blob(s, 'd' + named, 1000, hex) == 0 &&
		      storage_check(s, hex, 1000) == 0,
		      named ? "a named write after tmp/ was removed succeeds" : "a write after tmp/ was removed succeeds");
		snprintf(cmd, sizeof cmd, "rm -rf '%s/blobs' '%s/empty'", root, root);
		CHECK(system(cmd) == 0 && stream_blob(s, 'f' + named, 1000, hex) == 0 &&
		      storage_check(s, hex, 1000) == 0,
		      named ? "a named write after blobs/ was removed succeeds" : "a write after blobs/ was removed succeeds");
	}
	snprintf(cmd, sizeof cmd, "%s/empty", root);
	CHECK(access(cmd, F_OK) == 0, "and the web server's empty/ is back too");
	snprintf(cmd, sizeof cmd, "rm -rf '%s/tmp' '%s/tags'", root, root);
	{
		struct storage_tag t = { .expires = 2000000000 };

		memset(t.docker, 'a', DIGEST_HEX_LEN);
		memset(t.oci, 'b', DIGEST_HEX_LEN);
		CHECK(system(cmd) == 0 && storage_tag_write(s, "shell", "latest", &t, "") == 0,
		      "a tag file is written with tmp/ and tags/ removed");
	}
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
	test_tag_answer();
	test_changed();
	test_folders_return();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", root);
	return check_exit();
}
