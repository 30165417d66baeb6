/* The threads of a nixery-fcgi process: each accepts requests on the
 * listening socket (libfcgi's FCGX_Accept_r) and answers them with a
 * registry of its own, which holds the thread's cache handle.
 *
 * SIGTERM, SIGINT or SIGUSR1 (libfcgi's graceful stop) stops the process at
 * once from taking requests, and closes its own descriptor of the listening
 * socket, so the web server turns to the other workers (a socket that
 * processes share, under systemd or spawn-fcgi -F, stays open for them).
 * Requests in progress get NIXERY_STOP_GRACE seconds; then their Nix
 * process groups are stopped and the process exits. */
#define _GNU_SOURCE   /* pthread_timedjoin_np */
#include "fcgi/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "core/log.h"
#include "fcgi/registry.h"
#include "fcgi/router.h"
#include "fcgi/send.h"

/* Interrupts a thread's accept() at shutdown; its handler has nothing to do. */
#define WAKE_SIGNAL SIGUSR2
#define MAX_BACKOFF_MS 1000
/* After the grace period, what stopped Nix jobs and packing get to finish. */
#define CANCEL_WAIT_MS 4000

/* Where a thread is, for the stop: only an accepting thread is woken. */
enum { SERVING, ACCEPTING, WAKING };

/* The threads and what they share. */
struct crew {
	const struct config *cfg;
	int listen_fd;
	atomic_int stopping;          /* no thread accepts again */
	atomic_int cancel;            /* the grace is over: requests in progress are cancelled */
	struct admission admission;
	struct worker *workers;
	int opened, started;          /* threads whose registry is open, and those running */
};

struct worker {
	pthread_t thread;
	const struct crew *crew;
	struct registry reg;
	atomic_int state;
	int joined;
};

static void on_wake(int sig)
{
	(void)sig;
}

/* What of the request the registry looks at, from its parameters. */
static struct request_params params_of(FCGX_Request *req)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", req->envp);
	const char *https = FCGX_GetParam("HTTPS", req->envp);

	return (struct request_params){
		.method = method ? method : "",
		.uri = uri ? uri : "",
		.accept = FCGX_GetParam("HTTP_ACCEPT", req->envp),
		.host = FCGX_GetParam("HTTP_HOST", req->envp),
		.port = FCGX_GetParam("SERVER_PORT", req->envp),
		.https = https && (strcmp(https, "on") == 0 || strcmp(https, "1") == 0),
		.tag_files = config_tag_files_for(FCGX_GetParam("SERVER_SOFTWARE", req->envp)),
		.remote_user = FCGX_GetParam("REMOTE_USER", req->envp),
		.auth_type = FCGX_GetParam("AUTH_TYPE", req->envp),
		.remote_addr = FCGX_GetParam("REMOTE_ADDR", req->envp),
	};
}

/* Out of descriptors or memory: wait, longer each time, then go on,
 * rather than lose the thread. */
static void back_off(int rc, unsigned *backoff_ms)
{
	if (rc != -EINTR)
		log_warn("cannot accept a connection: %s", strerror(-rc));
	*backoff_ms = *backoff_ms ? *backoff_ms * 2 : 10;
	if (*backoff_ms > MAX_BACKOFF_MS)
		*backoff_ms = MAX_BACKOFF_MS;
	usleep(*backoff_ms * 1000);
}

static void *serve(void *arg)
{
	struct worker *w = arg;
	unsigned backoff_ms = 0;
	FCGX_Request req;
	sigset_t wake;
	int rc;

	sigemptyset(&wake);
	sigaddset(&wake, WAKE_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	FCGX_InitRequest(&req, w->crew->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	for (;;) {
		/* Said before the stop is checked: the stop then knows that a
		 * thread not accepting will never accept again. */
		atomic_store(&w->state, ACCEPTING);
		if (atomic_load(&w->crew->stopping))
			break;
		rc = FCGX_Accept_r(&req);
		/* Only waiting for a connection may be interrupted, so request
		 * I/O never sees EINTR: a stop that chose to wake this thread
		 * sends its signal once more than needed, kept pending here. */
		int accepting = ACCEPTING;
		if (!atomic_compare_exchange_strong(&w->state, &accepting, SERVING))
			pthread_sigmask(SIG_BLOCK, &wake, NULL);
		if (rc < 0) {
			if (atomic_load(&w->crew->stopping))
				break;
			back_off(rc, &backoff_ms);
			continue;
		}
		backoff_ms = 0;
		struct request_params params = params_of(&req);
		struct reply rep = { 0 };
		const char *route = router_handle(&w->reg, &params, &rep);

		/* Counted as sent: a blob streamed may turn into a 206 or 304. */
		send_reply(&req, w->crew->cfg, &rep, strcmp(params.method, "HEAD") == 0);
		metrics_request(w->reg.builder.metrics, route, rep.status);
		reply_free(&rep);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	atomic_store(&w->state, SERVING);
	return NULL;
}

/* Waits for the threads to end until ms have passed; 1 when all did. */
static int join_within(struct crew *c, long ms)
{
	struct timespec until;
	int i, all = 1;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	for (i = 0; i < c->started; i++) {
		if (!c->workers[i].joined && pthread_timedjoin_np(c->workers[i].thread, NULL, &until) == 0)
			c->workers[i].joined = 1;
		all &= c->workers[i].joined;
	}
	return all;
}

/* The stop: no thread accepts again, the socket is given up, requests in
 * progress get their grace, then are cancelled. 0 when every thread
 * ended. */
static int stop(struct crew *c)
{
	int i, null;

	/* A thread may take the wake signal just before it blocks in
	 * accept(): send it again until the thread is out. */
	for (i = 0; i < c->started; i++) {
		int accepting = ACCEPTING;

		if (!atomic_compare_exchange_strong(&c->workers[i].state, &accepting, WAKING))
			continue;
		while (atomic_load(&c->workers[i].state) == WAKING) {
			pthread_kill(c->workers[i].thread, WAKE_SIGNAL);
			usleep(10000);
		}
	}
	/* Our share of the socket, and only ours: descriptor 0 stays taken. */
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		dup2(null, c->listen_fd);
		close(null);
	}
	if (join_within(c, c->cfg->stop_grace * 1000L))
		return 0;
	log_warn("stopping: requests still in progress after %d s (NIXERY_STOP_GRACE): cancelling them",
		 c->cfg->stop_grace);
	atomic_store(&c->cancel, 1);
	return join_within(c, CANCEL_WAIT_MS) ? 0 : -1;
}

/* Stop signals are taken by the thread that started the others alone,
 * with sigwait; the others never see them. Writes to a client that went
 * away must not kill the process. */
static void take_signals(sigset_t *stops)
{
	struct sigaction wake_action = { .sa_handler = on_wake };   /* no SA_RESTART */
	sigset_t blocked;

	signal(SIGPIPE, SIG_IGN);
	sigaction(WAKE_SIGNAL, &wake_action, NULL);
	sigemptyset(stops);
	sigaddset(stops, SIGTERM);
	sigaddset(stops, SIGINT);
	sigaddset(stops, SIGUSR1);
	blocked = *stops;
	sigaddset(&blocked, WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
}

/* Every thread's registry, and its cache handle, opens before any thread
 * serves: a process that cannot serve exits (and is restarted) rather
 * than hold the socket. */
static int open_registries(struct crew *c, const struct storage *storage, struct popularity_source *popularity,
			   struct metrics *metrics)
{
	char err[4096];

	if (!(c->workers = calloc((size_t)c->cfg->threads, sizeof *c->workers)))
		return -1;
	for (; c->opened < c->cfg->threads; c->opened++) {
		c->workers[c->opened].crew = c;
		if (registry_open(&c->workers[c->opened].reg, c->cfg, storage, popularity, metrics, &c->admission,
				  &c->cancel, err, sizeof err) < 0) {
			log_error("%s", err);
			return -1;
		}
	}
	return 0;
}

static int start_threads(struct crew *c)
{
	for (; c->started < c->cfg->threads; c->started++)
		if (pthread_create(&c->workers[c->started].thread, NULL, serve, &c->workers[c->started]) != 0)
			break;
	if (c->started == 0) {
		log_error("cannot start any thread");
		return -1;
	}
	return 0;
}

int workers_run(const struct config *cfg, int listen_fd, const struct storage *storage,
		struct popularity_source *popularity, struct metrics *metrics)
{
	struct crew c = { .cfg = cfg, .listen_fd = listen_fd };
	sigset_t stops;
	int i, sig, rc = -1;

	take_signals(&stops);
	admission_init(&c.admission, cfg);
	if (open_registries(&c, storage, popularity, metrics) < 0 || start_threads(&c) < 0)
		goto out;
	log_info("serving with %d threads", c.started);
	sigwait(&stops, &sig);
	log_info("stopping on signal %d: taking no more requests, finishing those in progress", sig);
	atomic_store(&c.stopping, 1);
	FCGX_ShutdownPending();
	if (stop(&c) < 0) {
		/* Threads still inside a request own their cache handles: leave
		 * now; their Nix processes die with them (PR_SET_PDEATHSIG). */
		log_error("stopping: requests did not end once cancelled; exiting anyway");
		_exit(1);
	}
	rc = 0;
out:
	for (i = 0; i < c.opened; i++)
		registry_close(&c.workers[i].reg);
	free(c.workers);
	return rc;
}
