/* nixery-fcgi: a Docker/OCI registry that builds images from Nix packages,
 * as a FastCGI program. Threads each accept requests on the listening socket
 * (given by the web server as fd 0, or opened with --listen).
 *
 * SIGTERM, SIGINT or SIGUSR1 (libfcgi's graceful stop) stops the process at
 * once from taking requests, and closes its own descriptor of the listening
 * socket, so the web server turns to the other workers (a socket that
 * processes share, under systemd or spawn-fcgi -F, stays open for them).
 * Requests in progress get NIXERY_STOP_GRACE seconds; then their Nix
 * process groups are stopped and the process exits. */
#define _GNU_SOURCE   /* pthread_timedjoin_np */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "core/config.h"
#include "core/log.h"
#include "fcgi/registry.h"
#include "fcgi/router.h"
#include "nix/nixbuild.h"
#include "storage/storage.h"

/* Interrupts a thread's accept() at shutdown; its handler has nothing to do. */
#define WAKE_SIGNAL SIGUSR2
#define MAX_BACKOFF_MS 1000
/* After the grace period, what stopped Nix jobs and packing get to finish. */
#define CANCEL_WAIT_MS 4000

/* Where a thread is, for the stop: only an accepting thread is woken. */
enum { SERVING, ACCEPTING, WAKING };

struct worker {
	pthread_t thread;
	const struct config *cfg;
	struct registry reg;
	int listen_fd;
	const atomic_int *stopping;
	atomic_int state;
	int joined;
};

static void on_wake(int sig)
{
	(void)sig;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

/* length bytes of the file from offset, then the file is closed. */
static void stream_file(FCGX_Stream *out, int fd, uint64_t offset, uint64_t length)
{
	char chunk[65536];
	ssize_t n;

	while (length > 0 &&
	       (n = pread(fd, chunk, length < sizeof chunk ? (size_t)length : sizeof chunk, (off_t)offset)) > 0) {
		if (FCGX_PutStr(chunk, (int)n, out) < 0)
			break;
		offset += (uint64_t)n;
		length -= (uint64_t)n;
	}
	close(fd);
}

/* Headers are formatted with the C library: libfcgi's own printf knows
 * neither %zu nor %llu. */
static void send_reply(FCGX_Request *req, const struct config *cfg, struct reply *rep,
		       int head)
{
	enum offload offload = cfg->offload == OFFLOAD_AUTO ?
		config_offload_for(FCGX_GetParam("SERVER_SOFTWARE", req->envp)) : cfg->offload;
	struct reply_blob blob = { 0 };
	struct buf h = { 0 };
	int body = 0, fd = -1;
	struct stat st;

	/* A blob the worker streams is opened before a header promises it,
	 * and answered as the web servers answer its file (reply.h). */
	if (rep->file[0] && offload == OFFLOAD_NONE) {
		if ((fd = open(rep->file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
			if (fd >= 0)
				close(fd);
			fd = -1;
			rep->file[0] = '\0';
			reply_error(rep, 404, "BLOB_UNKNOWN", "blob is missing from storage", NULL);
		} else {
			const struct reply_conditions c = {
				.range = FCGX_GetParam("HTTP_RANGE", req->envp),
				.if_range = FCGX_GetParam("HTTP_IF_RANGE", req->envp),
				.if_none_match = FCGX_GetParam("HTTP_IF_NONE_MATCH", req->envp),
				.if_modified_since = FCGX_GetParam("HTTP_IF_MODIFIED_SINCE", req->envp),
			};

			reply_blob_plan(rep->file_hex, (uint64_t)st.st_size, st.st_mtime, &c, &blob);
			rep->status = blob.status;
		}
	}

	buf_printf(&h, "Status: %d %s\r\n"
		   "Docker-Distribution-API-Version: registry/2.0\r\n"
		   "Content-Type: %s\r\n", rep->status, reason(rep->status), rep->content_type);
	if (rep->digest[0])
		buf_printf(&h, "Docker-Content-Digest: %s\r\n", rep->digest);
	if (rep->allow)
		buf_printf(&h, "Allow: %s\r\n", rep->allow);
	if (rep->cache_control)
		buf_printf(&h, "Cache-Control: %s\r\n", rep->cache_control);
	if (rep->vary_accept)
		buf_printf(&h, "Vary: Accept\r\n");
	if (rep->retry_after)
		buf_printf(&h, "Retry-After: %d\r\n", rep->retry_after);
	if (rep->link[0])
		buf_printf(&h, "Link: %s\r\n", rep->link);
	if (rep->location[0])
		buf_printf(&h, "Location: %s\r\n", rep->location);
	if (!rep->file[0]) {
		buf_printf(&h, "Content-Length: %zu\r\n\r\n", rep->body.len);
		body = !head;
	} else if (offload == OFFLOAD_SENDFILE) {
		/* Blobs: the web server sends the file (ranges, validators,
		 * sendfile); the worker streams only when nothing offloads.
		 * Apache's mod_xsendfile honours ranges without saying so:
		 * said here, as every route says it (reply.h). */
		buf_printf(&h, "Accept-Ranges: bytes\r\nX-Sendfile: %s\r\n\r\n", rep->file);
	} else if (offload == OFFLOAD_ACCEL) {
		buf_printf(&h, "X-Accel-Redirect: %s/%s\r\n\r\n", cfg->accel_prefix, rep->file_hex);
	} else {
		buf_printf(&h, "ETag: %s\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n", blob.etag,
			   blob.last_modified);
		if (blob.content_range[0])
			buf_printf(&h, "Content-Range: %s\r\n", blob.content_range);
		if (blob.status != 304)
			buf_printf(&h, "Content-Length: %llu\r\n", (unsigned long long)blob.length);
		buf_printf(&h, "\r\n");
	}
	if (h.data)
		FCGX_PutStr(h.data, (int)h.len, req->out);
	buf_free(&h);
	if (body && rep->body.len)
		FCGX_PutStr(rep->body.data, (int)rep->body.len, req->out);
	else if (fd >= 0 && !head && blob.length > 0 && (blob.status == 200 || blob.status == 206))
		stream_file(req->out, fd, blob.offset, blob.length);
	else if (fd >= 0)
		close(fd);
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
	FCGX_InitRequest(&req, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	for (;;) {
		/* Said before the stop is checked: main() then knows that a
		 * thread not accepting will never accept again. */
		atomic_store(&w->state, ACCEPTING);
		if (atomic_load(w->stopping))
			break;
		rc = FCGX_Accept_r(&req);
		/* Only waiting for a connection may be interrupted, so request
		 * I/O never sees EINTR: a stop that chose to wake this thread
		 * sends its signal once more than needed, kept pending here. */
		int accepting = ACCEPTING;
		if (!atomic_compare_exchange_strong(&w->state, &accepting, SERVING))
			pthread_sigmask(SIG_BLOCK, &wake, NULL);
		if (rc < 0) {
			if (atomic_load(w->stopping))
				break;
			/* Out of descriptors or memory: wait, then go on, rather
			 * than lose the thread. */
			if (rc != -EINTR)
				log_warn("cannot accept a connection: %s", strerror(-rc));
			backoff_ms = backoff_ms ? backoff_ms * 2 : 10;
			if (backoff_ms > MAX_BACKOFF_MS)
				backoff_ms = MAX_BACKOFF_MS;
			usleep(backoff_ms * 1000);
			continue;
		}
		backoff_ms = 0;
		const char *method = FCGX_GetParam("REQUEST_METHOD", req.envp);
		const char *uri = FCGX_GetParam("REQUEST_URI", req.envp);
		const char *https = FCGX_GetParam("HTTPS", req.envp);
		struct request_params params = {
			.method = method ? method : "",
			.uri = uri ? uri : "",
			.accept = FCGX_GetParam("HTTP_ACCEPT", req.envp),
			.host = FCGX_GetParam("HTTP_HOST", req.envp),
			.port = FCGX_GetParam("SERVER_PORT", req.envp),
			.https = https && (strcmp(https, "on") == 0 || strcmp(https, "1") == 0),
		};
		struct reply rep = { 0 };
		const char *route = router_handle(&w->reg, &params, &rep);

		metrics_request(w->reg.builder.metrics, route, rep.status);
		send_reply(&req, w->cfg, &rep, strcmp(params.method, "HEAD") == 0);
		reply_free(&rep);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	atomic_store(&w->state, SERVING);
	return NULL;
}

/* Waits for the threads to end until ms have passed; 1 when all did. */
static int join_within(struct worker *workers, int n, long ms)
{
	struct timespec until;
	int i, all = 1;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	for (i = 0; i < n; i++) {
		if (!workers[i].joined && pthread_timedjoin_np(workers[i].thread, NULL, &until) == 0)
			workers[i].joined = 1;
		all &= workers[i].joined;
	}
	return all;
}

/* The stop: no thread accepts again, the socket is given up, requests in
 * progress get their grace, then are cancelled. 0 when every thread
 * ended. */
static int stop(struct worker *workers, int n, int listen_fd, int grace, atomic_int *cancel)
{
	int i, null;

	/* A thread may take the wake signal just before it blocks in
	 * accept(): send it again until the thread is out. */
	for (i = 0; i < n; i++) {
		int accepting = ACCEPTING;

		if (!atomic_compare_exchange_strong(&workers[i].state, &accepting, WAKING))
			continue;
		while (atomic_load(&workers[i].state) == WAKING) {
			pthread_kill(workers[i].thread, WAKE_SIGNAL);
			usleep(10000);
		}
	}
	/* Our share of the socket, and only ours: descriptor 0 stays taken. */
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		dup2(null, listen_fd);
		close(null);
	}
	if (join_within(workers, n, grace * 1000L))
		return 0;
	log_warn("stopping: requests still in progress after %d s (NIXERY_STOP_GRACE): cancelling them", grace);
	atomic_store(cancel, 1);
	return join_within(workers, n, CANCEL_WAIT_MS) ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nixery-fcgi [--config FILE] [--listen SOCKET] [--check-config]\n"
		"\n"
		"A Docker/OCI registry that builds images from the Nix packages named in\n"
		"the image path, run as a FastCGI program by a web server (which passes\n"
		"the listening socket as standard input) or on its own socket:\n"
		"  -c, --config FILE     settings file (default: $NIXERY_CONFIG, else\n"
		"                        %s)\n"
		"  -l, --listen SOCKET   a unix socket path, or :PORT for TCP\n"
		"      --check-config    print the settings and every problem found\n"
		"  -h, --help            this text\n"
		"  -V, --version         the version\n"
		"Environment variables of the same names override the file; see\n"
		"nixery-fcgi(8).\n", config_default_file);
}

/* --check-config: the effective settings, then every problem with advice;
 * the exit status says whether there was any. */
static int check_config(const char *config_path)
{
	struct buf out = { 0 }, problems = { 0 };
	struct config cfg;
	char err[4096];
	int n = 0;

	if (config_load(&cfg, config_path, err, sizeof err) < 0) {
		printf("problems:\n");
		for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"), n++)
			printf("  %s\n", line);
		printf("%d problem%s: fix the settings above\n", n, n == 1 ? "" : "s");
		return 1;
	}
	config_print(&cfg, &out);
	n = config_check(&cfg, &problems) + nix_check(&problems);
	/* A bucket is reached: its name, the key and the clock tested. */
	if (cfg.storage != STORAGE_FILESYSTEM) {
		struct storage *storage = NULL;

		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
		    storage_open(&cfg, &storage, err, sizeof err) < 0) {
			buf_printf(&problems, "%s\n", err);
			n++;
		} else {
			n += storage_probe(storage, &problems);
		}
		storage_close(storage);
	}
	printf("%s", out.data ? out.data : "");
	if (n) {
		printf("problems:\n");
		for (char *line = strtok(problems.data, "\n"); line; line = strtok(NULL, "\n"))
			printf("  %s\n", line);
		printf("%d problem%s found\n", n, n == 1 ? "" : "s");
	} else {
		printf("no problems found\n");
	}
	buf_free(&out);
	buf_free(&problems);
	config_free(&cfg);
	return n ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_path = NULL, *config_path = NULL, *changed;
	struct worker *workers = NULL;
	struct popularity_source *popularity = NULL;
	struct storage *storage = NULL;
	struct metrics *metrics = NULL;
	struct admission admission;
	struct config cfg;
	struct stat st;
	struct sigaction wake_action = { .sa_handler = on_wake };   /* no SA_RESTART */
	atomic_int stopping = 0, cancel = 0;
	sigset_t stops, blocked;
	char err[4096];
	int opt, listen_fd = 0, i, sig, started = 0, opened = 0, check = 0, rc = 1;

	while ((opt = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'C': check = 1; break;
		case 'l': listen_path = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("nixery-fcgi %s\n", NIXERY_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (check)
		return check_config(config_path);
	if (config_load(&cfg, config_path, err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}
	if (cfg.log_file) {
		int fd = open(cfg.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

		if (fd < 0 || dup2(fd, 2) < 0) {
			log_error("cannot log to NIXERY_LOG_FILE %s: %s", cfg.log_file, strerror(errno));
			config_free(&cfg);
			return 1;
		}
		close(fd);
	}
	if (registry_prepare(&cfg, err, sizeof err) < 0 ||
	    storage_open(&cfg, &storage, err, sizeof err) < 0 ||
	    metrics_open(cfg.state_dir, &metrics, err, sizeof err) < 0) {
		log_error("%s", err);
		goto out;
	}
	if ((changed = nix_environment(cfg.state_dir)))
		log_info("%s", changed);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    popularity_source_new(cfg.popularity_url, cfg.popularity_ttl, &popularity) < 0) {
		log_error("cannot initialise libcurl");
		goto out;
	}
	if (FCGX_Init() != 0) {
		log_error("cannot initialise libfcgi");
		goto out;
	}
	if (listen_path) {
		listen_fd = FCGX_OpenSocket(listen_path, 128);
		if (listen_fd < 0) {
			log_error("cannot listen on %s", listen_path);
			goto out;
		}
	} else if (fstat(0, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_error("standard input is not a socket: run nixery-fcgi from a web server's FastCGI spawner, or give --listen");
		goto out;
	}
	/* Stop signals are taken by this thread alone, with sigwait; the
	 * workers never see them. Writes to a client that went away must not
	 * kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigaction(WAKE_SIGNAL, &wake_action, NULL);
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGUSR1);
	blocked = stops;
	sigaddset(&blocked, WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	admission_init(&admission, &cfg);
	workers = calloc((size_t)cfg.threads, sizeof *workers);
	if (!workers)
		goto out;
	/* Every thread's cache handle opens before any thread serves: a
	 * process that cannot serve exits (and is restarted) rather than hold
	 * the socket. */
	for (i = 0; i < cfg.threads; i++) {
		workers[i].cfg = &cfg;
		workers[i].listen_fd = listen_fd;
		workers[i].stopping = &stopping;
		if (registry_open(&workers[i].reg, &cfg, storage, popularity, metrics, &admission, &cancel,
				  err, sizeof err) < 0) {
			log_error("%s", err);
			goto out;
		}
		opened++;
	}
	for (i = 0; i < cfg.threads; i++) {
		if (pthread_create(&workers[i].thread, NULL, serve, &workers[i]) != 0)
			break;
		started++;
	}
	if (started == 0) {
		log_error("cannot start any thread");
		goto out;
	}
	log_info("serving with %d threads", started);
	sigwait(&stops, &sig);
	log_info("stopping on signal %d: taking no more requests, finishing those in progress", sig);
	atomic_store(&stopping, 1);
	FCGX_ShutdownPending();
	if (stop(workers, started, listen_fd, cfg.stop_grace, &cancel) < 0) {
		/* Threads still inside a request own their cache handles: leave
		 * now; their Nix processes die with them (PR_SET_PDEATHSIG). */
		log_error("stopping: requests did not end once cancelled; exiting anyway");
		_exit(1);
	}
	rc = 0;
out:
	for (i = 0; i < opened; i++)
		registry_close(&workers[i].reg);
	free(workers);
	popularity_source_free(popularity);
	metrics_close(metrics);
	storage_close(storage);
	config_free(&cfg);
	return rc;
}
