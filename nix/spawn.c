#define _GNU_SOURCE   /* close_range */
#include "nix/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* From SIGTERM to SIGKILL: Nix stops its builders well within it. */
#define KILL_GRACE_MS 2000

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

/* The program's file, looked up on PATH here: the child may only make
 * async-signal-safe calls between fork and exec. */
static int find_program(const char *name, char *file, size_t len)
{
	const char *path = getenv("PATH"), *p;

	if (strchr(name, '/')) {
		snprintf(file, len, "%s", name);
		return access(file, X_OK) == 0 ? 0 : -errno;
	}
	for (p = path && *path ? path : "/usr/bin:/bin"; *p; p += *p == ':') {
		size_t n = strcspn(p, ":");

		if ((size_t)snprintf(file, len, "%.*s/%s", (int)n, p, name) < len &&
		    access(file, X_OK) == 0)
			return 0;
		p += n;
	}
	return -ENOENT;
}

/* In the child, between fork and exec: a process group of its own (the
 * deadline stops it whole), a SIGTERM when the thread that started it
 * dies (Nix then stops its builders, which run in sessions of their own:
 * SIGKILL would leave them behind), default signals, and no descriptor of
 * the worker's but the pipes. */
static void exec_child(const char *file, char *const argv[], int out, int errp, pid_t parent)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int sig, null = open("/dev/null", O_RDONLY);

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent || null < 0)
		_exit(127);
	setpgid(0, 0);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(errp, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	execve(file, argv, environ);
	_exit(127);
}

static int start(char *const argv[], pid_t *pid, int out[2], int errp[2])
{
	char file[4096];
	pid_t parent = getpid();
	int rc;

	if ((rc = find_program(argv[0], file, sizeof file)) < 0)
		return rc;
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		rc = -errno;
		close(out[0]);
		close(out[1]);
		return rc;
	}
	*pid = fork();
	if (*pid == 0)
		exec_child(file, argv, out[1], errp[1], parent);
	rc = *pid < 0 ? -errno : 0;
	/* Both sides set the group: whichever runs first, killpg works. */
	if (*pid > 0)
		setpgid(*pid, *pid);
	close(out[1]);
	close(errp[1]);
	if (rc < 0) {
		close(out[0]);
		close(errp[0]);
	}
	return rc;
}

/* The last whole line of the standard error tail, if it is new and a
 * second has passed since the last one told. */
static void tell_progress(const struct spawn_progress *p, const char *tail, char *told,
			  size_t len, struct deadline *next)
{
	const char *end = tail + strlen(tail), *start;
	char line[400];

	if (!p || deadline_left_ms(next) > 0)
		return;
	while (end > tail && end[-1] == '\n')
		end--;
	for (start = end; start > tail && start[-1] != '\n'; start--)
		;
	snprintf(line, sizeof line, "%.*s", (int)(end - start), start);
	if (!line[0] || strcmp(line, told) == 0)
		return;
	snprintf(told, len, "%s", line);
	*next = deadline_in(1000, NULL);
	p->fn(p->ctx, line);
}

int spawn_run(char *const argv[], const struct deadline *dl, size_t max_out,
	      const struct spawn_progress *progress, struct spawn_result *res,
	      char *err, size_t errlen)
{
	int out[2], errp[2], status = 0, rc = 0, open_fds = 2, stopping = 0;
	struct deadline grace = { 0 }, next_progress = deadline_in(0, NULL);
	char told[400] = "";
	char chunk[65536];
	pid_t pid = -1;

	memset(res, 0, sizeof *res);
	if ((rc = start(argv, &pid, out, errp)) < 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(-rc));
		return rc;
	}
	struct pollfd fds[2] = { { .fd = out[0], .events = POLLIN }, { .fd = errp[0], .events = POLLIN } };

	/* Drain both pipes until they close; at the deadline ask the group to
	 * stop (Nix then stops its builders), and give it a grace period. */
	while (open_fds > 0 && (rc == 0 || stopping)) {
		long wait_ms = deadline_left_ms(stopping ? &grace : dl);
		int i, n;

		if (wait_ms <= 0) {
			if (stopping)
				break;                 /* grace is over: SIGKILL below */
			rc = deadline_check(dl);
			killpg(pid, SIGTERM);
			stopping = 1;
			grace = deadline_in(KILL_GRACE_MS, NULL);
			continue;
		}
		tell_progress(progress, res->err_tail, told, sizeof told, &next_progress);
		/* Wake at least every 100 ms: a stop is not a file event. */
		n = poll(fds, 2, wait_ms > 100 ? 100 : (int)wait_ms);
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
	 * leader after a stop: nothing of it may stay behind. */
	if (open_fds > 0 || rc < 0)
		killpg(pid, SIGKILL);
	/* A command that closed its pipes is still bound by the deadline. Its
	 * exit is waited for on a pidfd, so that it is seen at once: three
	 * Nix processes per cold image each lost up to a 10 ms nap here. */
	struct pollfd exited = { .fd = (int)syscall(SYS_pidfd_open, pid, 0), .events = POLLIN };

	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid || (done < 0 && errno != EINTR))
			break;
		if (rc == 0 && (rc = deadline_check(dl)) < 0)
			killpg(pid, SIGKILL);
		if (exited.fd < 0 || poll(&exited, 1, 20) < 0)
			usleep(10000);
	}
	if (exited.fd >= 0)
		close(exited.fd);
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (rc == -E2BIG)
		snprintf(err, errlen, "%s printed more than %zu bytes", argv[0], max_out);
	else if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "%s did not finish before the deadline", argv[0]);
	else if (rc == -ECANCELED)
		snprintf(err, errlen, "%s was stopped: the worker is shutting down", argv[0]);
	else if (rc < 0)
		snprintf(err, errlen, "running %s: %s", argv[0], strerror(-rc));
	return rc;
}

void spawn_result_free(struct spawn_result *res)
{
	buf_free(&res->out);
}
