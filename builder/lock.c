#include "builder/lock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/mkdirs.h"

#define MAX_POLL_MS 100
#define PATH_LEN 4096
/* A lock's name: <kind>-<key>, or slot-<n>. */
#define NAME_LEN 128

/* 0, or -ENAMETOOLONG. */
static int lock_path(const char *state_dir, const char *name, char *path, size_t len)
{
	return (size_t)snprintf(path, len, "%s/locks/%s.lock", state_dir, name) < len ? 0 : -ENAMETOOLONG;
}

static int open_lock(const char *state_dir, const char *name)
{
	char path[PATH_LEN], err[256];
	int fd;

	if (lock_path(state_dir, name, path, sizeof path) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	/* The folder was removed under a running registry: made again. */
	if (fd < 0 && errno == ENOENT) {
		snprintf(path, sizeof path, "%s/locks", state_dir);
		if (mkdirs(path, 0777, err, sizeof err) < 0)
			return -ENOENT;
		lock_path(state_dir, name, path, sizeof path);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	}
	return fd < 0 ? -errno : fd;
}

/* Whether fd, just locked, is the file at name's path. gc removes lock
 * files nobody holds: one a waiter had open is then a file nobody else
 * can see, and its lock keeps out no newcomer. */
static int is_file_at(int fd, const char *path)
{
	struct stat held, there;

	return fstat(fd, &held) == 0 && held.st_nlink > 0 && stat(path, &there) == 0 &&
	       held.st_ino == there.st_ino && held.st_dev == there.st_dev;
}

static int current(const char *state_dir, const char *name, int fd)
{
	char path[PATH_LEN];

	return lock_path(state_dir, name, path, sizeof path) == 0 && is_file_at(fd, path);
}

/* Locks name's file in mode without waiting: 0, or -EWOULDBLOCK, or
 * another negative errno code. A lock on a file removed meanwhile is let
 * go and *fd opened again at the path, until the lock is on the file
 * there. */
static int try_lock(const char *state_dir, const char *name, int *fd, int mode)
{
	int rc;

	while (flock(*fd, mode | LOCK_NB) == 0) {
		if (current(state_dir, name, *fd))
			return 0;
		close(*fd);
		if ((*fd = open_lock(state_dir, name)) < 0)
			return *fd;
	}
	rc = -errno;
	return rc == -EAGAIN ? -EWOULDBLOCK : rc;
}

/* Tries each lock once; the index of the one locked, -1 when none was
 * free, or a negative errno code (below -1) when one failed. */
static int try_all(const char *state_dir, const char *const *names, int *fds, int n, int mode)
{
	int i, rc;

	for (i = 0; i < n; i++) {
		if ((rc = try_lock(state_dir, names[i], &fds[i], mode)) == 0)
			return i;
		if (rc != -EWOULDBLOCK && rc != -EINTR)
			return rc < -1 ? rc : -EIO;
	}
	return -1;
}

/* Waits, polling with a growing interval, until one of the named locks
 * (open as fds) is locked in mode (LOCK_EX or LOCK_SH); returns its
 * index. */
static int wait_any(const char *state_dir, const char *const *names, int *fds, int n, int mode,
		    const struct deadline *dl, long *waited_ms)
{
	int64_t began = clock_now_ms();
	long interval = 2;
	int got, rc = 0, tries = 0;

	while ((got = try_all(state_dir, names, fds, n, mode)) == -1) {
		tries++;
		if ((rc = deadline_check(dl)) < 0)
			break;
		deadline_sleep(dl, interval);
		interval = interval * 2 > MAX_POLL_MS ? MAX_POLL_MS : interval * 2;
	}
	/* A lock free at once was not waited for, however the clock ticked. */
	*waited_ms = tries ? (long)(clock_now_ms() - began) : 0;
	return got >= 0 ? got : got < -1 ? got : rc;
}

/* Takes name's lock in mode (LOCK_SH or LOCK_EX) within dl: the
 * descriptor that holds it. */
static int lock_mode(const char *state_dir, const char *name, int mode, const struct deadline *dl,
		     long *waited_ms)
{
	const char *names[] = { name };
	int fd, rc;

	if ((fd = open_lock(state_dir, name)) < 0)
		return fd;
	if ((rc = wait_any(state_dir, names, &fd, 1, mode, dl, waited_ms)) < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

int lock_take(const char *state_dir, const char *kind, const char *key,
	      const struct deadline *dl, int64_t *waited_from_ms)
{
	char name[NAME_LEN];
	int64_t began = clock_now_ms();
	long waited;
	int fd;

	snprintf(name, sizeof name, "%s-%s", kind, key);
	fd = lock_mode(state_dir, name, LOCK_EX, dl, &waited);
	*waited_from_ms = fd >= 0 && waited > 0 ? began : 0;
	return fd;
}

int lock_slot(const char *state_dir, int n, const struct deadline *dl, long *waited_ms)
{
	char text[LOCK_MAX_SLOTS][24];
	const char *names[LOCK_MAX_SLOTS] = { NULL };
	int fds[LOCK_MAX_SLOTS], i, opened = 0, got, rc;

	if (n > LOCK_MAX_SLOTS)
		n = LOCK_MAX_SLOTS;
	for (i = 0; i < n; i++) {
		snprintf(text[i], sizeof text[i], "slot-%d", i);
		names[i] = text[i];
		if ((fds[i] = open_lock(state_dir, names[i])) < 0) {
			rc = fds[i];
			goto out;
		}
		opened++;
	}
	got = wait_any(state_dir, names, fds, n, LOCK_EX, dl, waited_ms);
	rc = got == -ETIMEDOUT ? -EBUSY : got < 0 ? got : fds[got];
out:
	for (i = 0; i < opened; i++)
		if (fds[i] >= 0 && (rc < 0 || fds[i] != rc))
			close(fds[i]);
	return rc;
}

/* Takes the first free of locks/<prefix>-0 .. -(n-1), right now (gc
 * may remove those of clients: try_lock holds the file at the path). */
static int take_numbered(const char *state_dir, const char *prefix, int n)
{
	char name[NAME_LEN];
	int i, fd, rc;

	for (i = 0; i < n && i < LOCK_MAX_SLOTS; i++) {
		snprintf(name, sizeof name, "%s-%d", prefix, i);
		if ((fd = open_lock(state_dir, name)) < 0)
			return fd;
		if ((rc = try_lock(state_dir, name, &fd, LOCK_EX)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		if (rc != -EWOULDBLOCK && rc != -EINTR)
			return rc;
	}
	return -EBUSY;
}

int lock_ticket(const char *state_dir, int n)
{
	return take_numbered(state_dir, "cold", n);
}

int lock_client(const char *state_dir, const char *client, int n)
{
	char prefix[NAME_LEN];

	if ((size_t)snprintf(prefix, sizeof prefix, "client-%s", client) >= sizeof prefix - 8)
		return -ENAMETOOLONG;
	return take_numbered(state_dir, prefix, n);
}

int lock_try(const char *state_dir, const char *kind, const char *key)
{
	char name[NAME_LEN];
	int fd, rc;

	snprintf(name, sizeof name, "%s-%s", kind, key);
	if ((fd = open_lock(state_dir, name)) < 0)
		return fd;
	if ((rc = try_lock(state_dir, name, &fd, LOCK_EX)) < 0) {
		if (fd >= 0)
			close(fd);
		return rc == -EWOULDBLOCK || rc == -EINTR ? -EWOULDBLOCK : rc;
	}
	return fd;
}

int lock_held(const char *state_dir, const char *kind, const char *key)
{
	char name[NAME_LEN], path[PATH_LEN];
	int fd, held;

	snprintf(name, sizeof name, "%s-%s", kind, key);
	if (lock_path(state_dir, name, path, sizeof path) < 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

int lock_build(const char *state_dir, const struct deadline *dl)
{
	long waited;
	int gate = lock_mode(state_dir, "gate", LOCK_SH, dl, &waited), pack;

	if (gate < 0)
		return gate;
	pack = lock_mode(state_dir, "pack", LOCK_SH, dl, &waited);
	close(gate);
	return pack;
}

int lock_gc(const char *state_dir, const struct deadline *dl, int *gate)
{
	long waited;
	int pack;

	if ((*gate = lock_mode(state_dir, "gate", LOCK_EX, dl, &waited)) < 0)
		return *gate;
	if ((pack = lock_mode(state_dir, "pack", LOCK_EX, dl, &waited)) < 0) {
		close(*gate);
		*gate = -1;
	}
	return pack;
}

int lock_remove_free(const char *state_dir)
{
	char dir[PATH_LEN], path[PATH_LEN + 256];
	struct dirent *e;
	DIR *d;
	int removed = 0;

	snprintf(dir, sizeof dir, "%s/locks", state_dir);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		int fd;

		if (strncmp(e->d_name, "image-", 6) != 0 && strncmp(e->d_name, "layer-", 6) != 0 &&
		    strncmp(e->d_name, "client-", 7) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			continue;
		/* Unlinked under its lock: a taker that had it open finds
		 * it gone once it gets the lock, and opens the path again. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && is_file_at(fd, path) && unlink(path) == 0)
			removed++;
		close(fd);
	}
	closedir(d);
	return removed;
}

void lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
