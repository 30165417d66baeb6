/* The host's locks (builder/lock.c): one holder per image lock, even when
 * the garbage collector removes a lock file that a request is waiting on;
 * build slots; the gate that lets gc in. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/lock.h"
#include "tests/unit/check.h"

static char state[64];
static const char *key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* A request waiting for the image's lock, as build_locked does. */
struct waiter {
	pthread_t thread;
	int fd;
	int done;
	pthread_mutex_t lock;
};

static void *wait_for_lock(void *arg)
{
	struct waiter *w = arg;
	struct deadline dl = deadline_in(3000, NULL);
	int64_t from;
	int fd = lock_take(state, "image", key, &dl, &from);

	pthread_mutex_lock(&w->lock);
	w->fd = fd;
	w->done = 1;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int waiter_done(struct waiter *w)
{
	int done;

	pthread_mutex_lock(&w->lock);
	done = w->done;
	pthread_mutex_unlock(&w->lock);
	return done;
}

/* gc removes the lock file in the moment between one holder's release
 * and the waiter's next look: the waiter must not end up holding a lock
 * on a file no newcomer can see. Returns 1 when the scene was set (gc
 * removed the file while the waiter waited), 0 when the waiter got the
 * lock first and the scene must be played again. */
static int gc_between(int *waiter_fd, int *newcomer_fd)
{
	struct deadline dl = deadline_in(1000, NULL);
	struct waiter w = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };
	int64_t from;
	int holder = lock_take(state, "image", key, &dl, &from), removed, i;

	*waiter_fd = *newcomer_fd = -1;
	if (holder < 0 || pthread_create(&w.thread, NULL, wait_for_lock, &w) != 0)
		return -1;
	/* Long enough for the waiter to poll at its slowest pace. */
	usleep(400 * 1000);
	lock_release(holder);
	removed = lock_remove_free(state);
	if (removed == 1)
		*newcomer_fd = lock_try(state, "image", key);
	/* Whatever the waiter does, it has done it within a few polls. */
	for (i = 0; i < 50 && !waiter_done(&w); i++)
		usleep(10 * 1000);
	if (removed == 1 && *newcomer_fd >= 0 && !waiter_done(&w)) {
		/* Still waiting, as it should while the newcomer holds it. */
		lock_release(*newcomer_fd);
		*newcomer_fd = -2;
	}
	pthread_join(w.thread, NULL);
	*waiter_fd = w.fd;
	return removed == 1;
}

static void test_gc_removes_while_waiting(void)
{
	int waiter = -1, newcomer = -1, set = 0, tries;

	for (tries = 0; tries < 20 && set == 0; tries++) {
		set = gc_between(&waiter, &newcomer);
		if (set == 0) {
			lock_release(waiter);
			lock_release(newcomer);
		}
	}
	if (!CHECK(set == 1, "gc removes an image's lock file while a request waits on it (%d tries)", tries))
		return;
	CHECK(newcomer != -EWOULDBLOCK, "a request arriving after gc finds the lock free (the waiter had not taken it yet)");
	CHECK(newcomer == -2,
	      "the request that waited does not hold the lock while the newcomer does: one build at a time (waiter %d, newcomer %d)",
	      waiter, newcomer);
	CHECK(waiter >= 0, "once the newcomer let go, the waiter got the lock within its deadline (%d)", waiter);
	CHECK(waiter < 0 || lock_try(state, "image", key) == -EWOULDBLOCK,
	      "and holds the lock that everyone else sees at the path");
	lock_release(waiter);
}

static void test_removal_of_free_locks(void)
{
	char path[256];
	struct stat st;
	int fd = lock_try(state, "image", key), removed;

	snprintf(path, sizeof path, "%s/locks/image-%s.lock", state, key);
	removed = lock_remove_free(state);
	CHECK(removed == 0 && stat(path, &st) == 0, "gc leaves a lock file someone holds (%d removed)", removed);
	lock_release(fd);
	removed = lock_remove_free(state);
	CHECK(removed == 1 && stat(path, &st) < 0, "and removes it once nobody does (%d removed)", removed);
	fd = lock_try(state, "image", key);
	CHECK(fd >= 0 && stat(path, &st) == 0, "the next taker makes it again");
	lock_release(fd);
}

static void test_slots(void)
{
	struct deadline dl = deadline_in(300, NULL);
	long waited;
	int a = lock_slot(state, 2, &dl, &waited), b = lock_slot(state, 2, &dl, &waited), c;

	CHECK(a >= 0 && b >= 0 && waited == 0, "two slots of two are free at once");
	c = lock_slot(state, 2, &dl, &waited);
	CHECK_INT_EQ(c, -EBUSY, "a third waits to the deadline, then is -EBUSY");
	lock_release(a);
	dl = deadline_in(300, NULL);
	c = lock_slot(state, 2, &dl, &waited);
	CHECK(c >= 0, "a slot let go is taken by the next");
	lock_release(b);
	lock_release(c);
}

int main(void)
{
	char path[128], cmd[128];

	snprintf(state, sizeof state, "/tmp/nixery-lock-XXXXXX");
	if (!mkdtemp(state))
		return 1;
	snprintf(path, sizeof path, "%s/locks", state);
	if (mkdir(path, 0777) < 0)
		return 1;
	test_removal_of_free_locks();
	test_gc_removes_while_waiting();
	test_slots();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", state);
	return check_exit();
}
