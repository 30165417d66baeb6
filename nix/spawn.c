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
 * the worker's but the pipes. Standard input is /dev/null when in < 0. */
static void exec_child(const char *file, char *const argv[], int in, int out, int errp, pid_t parent)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int sig;

	if (in < 0)
		in = open("/dev/null", O_RDONLY);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent || in < 0)
		_exit(127);
	setpgid(0, 0);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errp, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	execve(file, argv, environ);
	_exit(127);
}

static void close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* Starts argv with pipes for its standard output and error, and for its
 * standard input when in is not NULL (else it reads /dev/null). The
 * caller keeps in[1], out[0] and errp[0]. */
static int start(char *const argv[], pid_t *pid, int in[2], int out[2], int errp[2])
{
	int none[2] = { -1, -1 }, *input = in ? in : none;
	char file[4096];
	pid_t parent = getpid();
	int rc;

	out[0] = out[1] = errp[0] = errp[1] = -1;
	if ((rc = find_program(argv[0], file, sizeof file)) < 0)
		return rc;
	if ((in && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	*pid = fork();
	if (*pid == 0)
		exec_child(file, argv, input[0], out[1], errp[1], parent);
	if (*pid < 0) {
		rc = -errno;
		goto fail;
	}
	/* Both sides set the group: whichever runs first, killpg works. */
	setpgid(*pid, *pid);
	if (in) {
		close(in[0]);
		in[0] = -1;
	}
	close(out[1]);
	close(errp[1]);
	return 0;
fail:
	if (in)
		close_pair(in);
	close_pair(out);
	close_pair(errp);
	return rc;
}

/* Waits for pid to exit, bound by dl: past it (or when the worker stops)
 * the group is killed. The exit is waited for on a pidfd, so that it is
 * seen at once: a cold image lost up to a 10 ms nap per Nix process to a
 * polling wait. Returns rc, or the deadline's code when it passed first. */
static int reap(pid_t pid, const struct deadline *dl, int rc, int *status)
{
	struct pollfd exited = { .fd = (int)syscall(SYS_pidfd_open, pid, 0), .events = POLLIN };

	for (;;) {
		pid_t done = waitpid(pid, status, WNOHANG);

		if (done == pid || (done < 0 && errno != EINTR))
			break;
		if (rc == 0 && (rc = deadline_check(dl)) < 0)
			killpg(pid, SIGKILL);
		if (exited.fd < 0 || poll(&exited, 1, 20) < 0)
			usleep(10000);
	}
	if (exited.fd >= 0)
		close(exited.fd);
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

/* Reads what the ready pipes hold: standard output into res->out (at most
 * max_out bytes: -E2BIG), the tail of standard error; a pipe that is done
 * is closed. Returns rc, or the error that reading met. */
static int drain(struct pollfd fds[2], int *open_fds, size_t max_out, struct spawn_result *res, int rc)
{
	char chunk[65536];
	int i;

	for (i = 0; i < 2; i++) {
		ssize_t got;

		if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(fds[i].fd, chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			close(fds[i].fd);
			fds[i].fd = -1;
			(*open_fds)--;
		} else if (i == 1) {
			keep_tail(res->err_tail, chunk, (size_t)got);
		} else if (res->out.len + (size_t)got > max_out) {
			rc = -E2BIG;
		} else if (buf_append(&res->out, chunk, (size_t)got) < 0) {
			rc = -ENOMEM;
		}
	}
	return rc;
}

/* Why a command did not run to its end, in words. */
static void say_why(const char *program, int rc, size_t max_out, char *err, size_t errlen)
{
	if (rc == -E2BIG)
		snprintf(err, errlen, "%s printed more than %zu bytes", program, max_out);
	else if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "%s did not finish before the deadline", program);
	else if (rc == -ECANCELED)
		snprintf(err, errlen, "%s was stopped: the worker is shutting down", program);
	else if (rc < 0)
		snprintf(err, errlen, "running %s: %s", program, strerror(-rc));
}

int spawn_run(char *const argv[], const struct deadline *dl, size_t max_out,
	      const struct spawn_progress *progress, struct spawn_result *res,
	      char *err, size_t errlen)
{
	int out[2], errp[2], status = 0, rc = 0, open_fds = 2, stopping = 0;
	struct deadline grace = { 0 }, next_progress = deadline_in(0, NULL);
	char told[400] = "";
	pid_t pid = -1;

	memset(res, 0, sizeof *res);
	if ((rc = start(argv, &pid, NULL, out, errp)) < 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(-rc));
		return rc;
	}
	struct pollfd fds[2] = { { .fd = out[0], .events = POLLIN }, { .fd = errp[0], .events = POLLIN } };

	/* Drain both pipes until they close; at the deadline ask the group to
	 * stop (Nix then stops its builders), and give it a grace period. */
	while (open_fds > 0 && (rc == 0 || stopping)) {
		long wait_ms = deadline_left_ms(stopping ? &grace : dl);
		int n;

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
		if (n > 0)
			rc = drain(fds, &open_fds, max_out, res, rc);
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	/* Whatever went wrong, and members of the group that outlived the
	 * leader after a stop: nothing of it may stay behind. */
	if (open_fds > 0 || rc < 0)
		killpg(pid, SIGKILL);
	/* A command that closed its pipes is still bound by the deadline. */
	rc = reap(pid, dl, rc, &status);
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	say_why(argv[0], rc, max_out, err, errlen);
	return rc;
}

void spawn_result_free(struct spawn_result *res)
{
	buf_free(&res->out);
}

int spawn_open(char *const argv[], struct spawn_session *s, char *err, size_t errlen)
{
	int in[2], out[2], errp[2], rc;
	pid_t pid;

	memset(s, 0, sizeof *s);
	if ((rc = start(argv, &pid, in, out, errp)) < 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(-rc));
		return rc;
	}
	s->pid = pid;
	s->in = in[1];
	s->out = out[0];
	s->err = errp[0];
	/* Writes wait in poll, under the deadline, never in write. */
	fcntl(s->in, F_SETFL, fcntl(s->in, F_GETFL) | O_NONBLOCK);
	return 0;
}

/* Waits until fd is ready for events, keeping the tail of standard error
 * as it comes; wakes every 100 ms, for a stop is not a file event. */
static int session_wait(struct spawn_session *s, int fd, short events, const struct deadline *dl)
{
	struct pollfd fds[2] = { { .fd = fd, .events = events }, { .fd = s->err, .events = POLLIN } };
	char chunk[4096];

	for (;;) {
		long wait_ms = deadline_left_ms(dl);
		int rc = deadline_check(dl);

		if (rc < 0)
			return rc;
		if (poll(fds, 2, wait_ms > 100 ? 100 : (int)wait_ms) < 0 && errno != EINTR)
			return -errno;
		if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(s->err, chunk, sizeof chunk);

			if (got > 0)
				keep_tail(s->err_tail, chunk, (size_t)got);
			else if (got == 0 || errno != EINTR)
				fds[1].fd = -1;    /* poll skips it from now on */
		}
		if (fds[0].revents)
			return 0;
	}
}

int spawn_write(struct spawn_session *s, const void *data, size_t len, const struct deadline *dl)
{
	const char *p = data;
	int rc;

	while (len > 0) {
		ssize_t put = write(s->in, p, len);

		if (put > 0) {
			p += put;
			len -= (size_t)put;
		} else if (put < 0 && errno != EAGAIN && errno != EINTR) {
			return -errno;
		} else if ((rc = session_wait(s, s->in, POLLOUT, dl)) < 0) {
			return rc;
		}
	}
	return 0;
}

long spawn_read(struct spawn_session *s, void *data, size_t len, const struct deadline *dl)
{
	int rc;

	for (;;) {
		if ((rc = session_wait(s, s->out, POLLIN, dl)) < 0)
			return rc;
		ssize_t got = read(s->out, data, len);

		if (got >= 0)
			return (long)got;
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

void spawn_close(struct spawn_session *s, long grace_ms)
{
	struct deadline grace = deadline_in(grace_ms, NULL);
	int status;

	if (s->pid <= 0)
		return;
	close(s->in);
	close(s->out);
	close(s->err);
	reap(s->pid, &grace, 0, &status);
	s->pid = 0;
}
