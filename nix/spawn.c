#define _GNU_SOURCE   /* posix_spawn_file_actions_addclosefrom_np */
#include "nix/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define KILL_GRACE_MS 5000

static struct timespec after_ms(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	t.tv_sec += t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	return t;
}

struct timespec spawn_deadline(int seconds)
{
	return after_ms(seconds * 1000L);
}

static long ms_until(struct timespec deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline.tv_sec - now.tv_sec) * 1000L + (deadline.tv_nsec - now.tv_nsec) / 1000000L;
}

static void keep_tail(char *tail, const char *data, size_t len)
{
	size_t have = strlen(tail), cap = SPAWN_ERR_TAIL - 1;

	if (len >= cap) {
		memcpy(tail, data + len - cap, cap);
		tail[cap] = '\0';
		return;
	}
	if (have + len > cap) {
		memmove(tail, tail + (have + len - cap), cap - len);
		have = cap - len;
	}
	memcpy(tail + have, data, len);
	tail[have + len] = '\0';
}

static int start(char *const argv[], pid_t *pid, int out[2], int errp[2])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int rc;

	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		rc = -errno;
		close(out[0]);
		close(out[1]);
		return rc;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	/* The FastCGI connections must not leak into Nix. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					POSIX_SPAWN_SETSIGDEF);
	rc = -posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(out[1]);
	close(errp[1]);
	if (rc < 0) {
		close(out[0]);
		close(errp[0]);
	}
	return rc;
}

int spawn_run(char *const argv[], struct timespec deadline, size_t max_out,
	      struct spawn_result *res, char *err, size_t errlen)
{
	int out[2], errp[2], status = 0, rc = 0, open_fds = 2, killed = 0;
	struct timespec grace = { 0 };
	char chunk[65536];
	pid_t pid;

	memset(res, 0, sizeof *res);
	if ((rc = start(argv, &pid, out, errp)) < 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(-rc));
		return rc;
	}
	struct pollfd fds[2] = { { .fd = out[0], .events = POLLIN }, { .fd = errp[0], .events = POLLIN } };

	/* Drain both pipes until they close; at the deadline ask the group to
	 * stop (Nix then stops its builders), and give it a grace period. */
	while (open_fds > 0 && (rc == 0 || rc == -ETIMEDOUT)) {
		long wait_ms = ms_until(killed ? grace : deadline);
		int i, n;

		if (wait_ms <= 0) {
			if (killed)
				break;                 /* grace is over: SIGKILL below */
			killpg(pid, SIGTERM);
			killed = 1;
			rc = -ETIMEDOUT;
			grace = after_ms(KILL_GRACE_MS);
			continue;
		}
		n = poll(fds, 2, wait_ms > 1000 ? 1000 : (int)wait_ms);
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		for (i = 0; i < 2 && n > 0; i++) {
			ssize_t got;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(fds[i].fd, chunk, sizeof chunk);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			} else if (i == 1) {
				keep_tail(res->err_tail, chunk, (size_t)got);
			} else if (res->out.len + (size_t)got > max_out) {
				rc = -E2BIG;
			} else if (buf_append(&res->out, chunk, (size_t)got) < 0) {
				rc = -ENOMEM;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	/* Whatever went wrong, and members of the group that outlived the
	 * leader after a timeout: nothing of it may stay behind. */
	if (open_fds > 0 || rc < 0)
		killpg(pid, SIGKILL);
	/* A command that closed its pipes is still bound by the deadline. */
	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid || (done < 0 && errno != EINTR))
			break;
		if (ms_until(deadline) <= 0 && rc == 0) {
			killpg(pid, SIGKILL);
			rc = -ETIMEDOUT;
		}
		usleep(10000);
	}
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	res->timed_out = rc == -ETIMEDOUT;
	if (rc == -E2BIG)
		snprintf(err, errlen, "%s printed more than %zu bytes", argv[0], max_out);
	else if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "%s did not finish before the deadline", argv[0]);
	else if (rc < 0)
		snprintf(err, errlen, "running %s: %s", argv[0], strerror(-rc));
	return rc;
}

void spawn_result_free(struct spawn_result *res)
{
	buf_free(&res->out);
}
