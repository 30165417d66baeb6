#include "builder/lock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/mkdirs.h"

#define MAX_POLL_MS 100

int64_t lock_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int open_lock(const char *state_dir, const char *name)
{
	char path[4096], err[256];
	int fd;

	snprintf(path, sizeof path, "%s/locks/%s.lock", state_dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	/* The folder was removed under a running registry: made again. */
	if (fd < 0 && errno == ENOENT) {
		snprintf(path, sizeof path, "%s/locks", state_dir);
		if (mkdirs(path, 0777, err, sizeof err) < 0)
			return -ENOENT;
		snprintf(path, sizeof path, "%s/locks/%s.lock", state_dir, name);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	}
	return fd < 0 ? -errno : fd;
}

/* Tries each descriptor once; the index of the one locked, or -1. */
static int try_all(const int *fds, int n, int mode)
{
	int i;

	for (i = 0; i < n; i++)
		if (flock(fds[i], mode | LOCK_NB) == 0)
			return i;
	return -1;
}

/* Waits, polling with a growing interval, until one of fds is locked in
 * mode (LOCK_EX or LOCK_SH); returns its index. */
static int wait_any(const int *fds, int n, int mode, const struct deadline *dl, long *waited_ms)
{
	int64_t began = lock_now_ms();
	long interval = 2;
	int got, rc = 0, tries = 0;

	while ((got = try_all(fds, n, mode)) < 0) {
		tries++;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = -errno;
			break;
		}
		if ((rc = deadline_check(dl)) < 0)
			break;
		deadline_sleep(dl, interval);
		interval = interval * 2 > MAX_POLL_MS ? MAX_POLL_MS : interval * 2;
	}
	/* A lock free at once was not waited for, however the clock ticked. */
	*waited_ms = tries ? (long)(lock_now_ms() - began) : 0;
	return got >= 0 ? got : rc;
}

int lock_take(const char *state_dir, const char *kind, const char *key,
	      const struct deadline *dl, int64_t *waited_from_ms)
{
	char name[256];
	long waited;
	int fd, rc;

	snprintf(name, sizeof name, "%s-%s", kind, key);
	if ((fd = open_lock(state_dir, name)) < 0)
		return fd;
	*waited_from_ms = 0;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	*waited_from_ms = lock_now_ms();
	if ((rc = wait_any(&fd, 1, LOCK_EX, dl, &waited)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int lock_slot(const char *state_dir, int n, const struct deadline *dl, long *waited_ms)
{
	char name[64];
	int fds[LOCK_MAX_SLOTS] = { 0 }, i, opened = 0, got, rc;

	if (n > LOCK_MAX_SLOTS)
		n = LOCK_MAX_SLOTS;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "slot-%d", i);
		if ((fds[i] = open_lock(state_dir, name)) < 0) {
			rc = fds[i];
			goto out;
		}
		opened++;
	}
	got = wait_any(fds, n, LOCK_EX, dl, waited_ms);
	rc = got == -ETIMEDOUT ? -EBUSY : got < 0 ? got : fds[got];
out:
	for (i = 0; i < opened; i++)
		if (rc < 0 || fds[i] != rc)
			close(fds[i]);
	return rc;
}

int lock_ticket(const char *state_dir, int n)
{
	char name[64];
	int i, fd;

	for (i = 0; i < n && i < LOCK_MAX_SLOTS; i++) {
		snprintf(name, sizeof name, "cold-%d", i);
		if ((fd = open_lock(state_dir, name)) < 0)
			return fd;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		close(fd);
	}
	return -EBUSY;
}

int lock_try(const char *state_dir, const char *kind, const char *key)
{
	char name[256];
	int fd;

	snprintf(name, sizeof name, "%s-%s", kind, key);
	if ((fd = open_lock(state_dir, name)) < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EWOULDBLOCK;
	}
	return fd;
}

/* Takes name's lock in mode (LOCK_SH or LOCK_EX) within dl. */
static int lock_mode(const char *state_dir, const char *name, int mode, const struct deadline *dl)
{
	long waited;
	int fd = open_lock(state_dir, name), rc;

	if (fd >= 0 && (rc = wait_any(&fd, 1, mode, dl, &waited)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int lock_build(const char *state_dir, const struct deadline *dl)
{
	int gate = lock_mode(state_dir, "gate", LOCK_SH, dl), pack;

	if (gate < 0)
		return gate;
	pack = lock_mode(state_dir, "pack", LOCK_SH, dl);
	close(gate);
	return pack;
}

int lock_gc(const char *state_dir, const struct deadline *dl, int *gate)
{
	int pack;

	if ((*gate = lock_mode(state_dir, "gate", LOCK_EX, dl)) < 0)
		return *gate;
	if ((pack = lock_mode(state_dir, "pack", LOCK_EX, dl)) < 0) {
		close(*gate);
		*gate = -1;
	}
	return pack;
}

int lock_remove_free(const char *state_dir)
{
	char dir[4096], path[4096 + 256];
	struct dirent *e;
	DIR *d;
	int removed = 0;

	snprintf(dir, sizeof dir, "%s/locks", state_dir);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		int fd;

		if (strncmp(e->d_name, "image-", 6) != 0 && strncmp(e->d_name, "layer-", 6) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) == 0)
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
