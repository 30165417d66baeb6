/* nixery-fcgi: a Docker/OCI registry that builds images from Nix packages,
 * as a FastCGI program. The process loads its settings and opens what its
 * threads share (the state folders, storage, metrics, popularity data,
 * libcurl and libfcgi), then serves on the listening socket (given by the
 * web server as fd 0, or opened with --listen) until it is told to stop
 * (workers.c). --check-config only looks. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "builder/builder.h"
#include "core/config.h"
#include "core/log.h"
#include "fcgi/workers.h"
#include "nix/host.h"
#include "storage/storage.h"

/* What the command line asks for. */
struct options {
	const char *config_path, *listen_path;
	int check;
};

/* What the process opens once, for all its threads. */
struct process {
	struct config cfg;
	struct storage *storage;
	struct metrics *metrics;
	struct popularity_source *popularity;
	int listen_fd;
};

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
	struct buf out = { 0 }, problems = { 0 }, notes = { 0 };
	const char *systems[PLATFORM_MAX];
	struct config cfg;
	char err[4096];
	int n = 0, nix_problems;
	size_t i;

	if (config_load(&cfg, config_path, err, sizeof err) < 0) {
		printf("problems:\n");
		for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"), n++)
			printf("  %s\n", line);
		printf("%d problem%s: fix the settings above\n", n, n == 1 ? "" : "s");
		return 1;
	}
	config_print(&cfg, &out);
	n = config_check(&cfg, &problems, &notes);
	n += (nix_problems = nix_check(&problems));
	/* Each platform served, once Nix itself works. */
	for (i = 0; i < cfg.nplatforms; i++)
		systems[i] = cfg.platforms[i]->system;
	if (!nix_problems)
		n += nix_check_systems(systems, cfg.nplatforms, &problems);
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
	if (notes.len) {
		printf("notes:\n");
		for (char *line = strtok(notes.data, "\n"); line; line = strtok(NULL, "\n"))
			printf("  %s\n", line);
	}
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
	buf_free(&notes);
	config_free(&cfg);
	return n ? 1 : 0;
}

/* -1 to go on, else the status to exit with. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': o->config_path = optarg; break;
		case 'C': o->check = 1; break;
		case 'l': o->listen_path = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("nixery-fcgi %s\n", NIXERY_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	return -1;
}

/* Standard error goes to NIXERY_LOG_FILE, when it is set. A worker that
 * cannot open it serves all the same, logging to standard error, and
 * says so there and in the system log: spawn-fcgi sends standard error
 * nowhere, and a worker that exited over its log file would leave only
 * "child exited with: 1" behind. */
static void open_log(const struct config *cfg)
{
	int fd, err;

	if (!cfg->log_file)
		return;
	fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd >= 0 && dup2(fd, 2) >= 0) {
		close(fd);
		return;
	}
	err = errno;
	if (fd >= 0)
		close(fd);
	log_error("cannot log to NIXERY_LOG_FILE %s (%s): logging to standard error; "
		  "nixery-fcgi --check-config, as this user, says what to do", cfg->log_file, strerror(err));
	openlog("nixery-fcgi", LOG_PID, LOG_DAEMON);
	syslog(LOG_ERR, "cannot log to NIXERY_LOG_FILE %s (%s): logging to standard error; "
	       "nixery-fcgi --check-config, as uid %d, says what to do", cfg->log_file, strerror(err), (int)geteuid());
	closelog();
}

/* What the threads share: 0, or -1 once the reason is logged. */
static int process_open(struct process *p)
{
	const char *changed;
	char err[4096];

	if (builder_prepare(&p->cfg, err, sizeof err) < 0 ||
	    storage_open(&p->cfg, &p->storage, err, sizeof err) < 0 ||
	    metrics_open(p->cfg.state_dir, &p->metrics, err, sizeof err) < 0) {
		log_error("%s", err);
		return -1;
	}
	if ((changed = nix_environment(p->cfg.state_dir)))
		log_info("%s", changed);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    popularity_source_new(p->cfg.popularity_url, p->cfg.popularity_ttl, &p->popularity) < 0) {
		log_error("cannot initialise libcurl");
		return -1;
	}
	if (FCGX_Init() != 0) {
		log_error("cannot initialise libfcgi");
		return -1;
	}
	return 0;
}

/* The socket to accept on: --listen's, or the one the web server gives
 * as standard input. */
static int open_socket(const char *listen_path, int *listen_fd)
{
	struct stat st;

	*listen_fd = 0;
	if (listen_path) {
		if ((*listen_fd = FCGX_OpenSocket(listen_path, 128)) < 0) {
			log_error("cannot listen on %s", listen_path);
			return -1;
		}
	} else if (fstat(0, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_error("standard input is not a socket: run nixery-fcgi from a web server's FastCGI spawner, or give --listen");
		return -1;
	}
	return 0;
}

static void process_close(struct process *p)
{
	popularity_source_free(p->popularity);
	metrics_close(p->metrics);
	storage_close(p->storage);
	config_free(&p->cfg);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct process p = { 0 };
	char err[4096];
	int rc;

	if ((rc = parse_options(argc, argv, &o)) >= 0)
		return rc;
	if (o.check)
		return check_config(o.config_path);
	if (config_load(&p.cfg, o.config_path, err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}
	open_log(&p.cfg);
	rc = process_open(&p) == 0 && open_socket(o.listen_path, &p.listen_fd) == 0 &&
	     workers_run(&p.cfg, p.listen_fd, p.storage, p.popularity, p.metrics) == 0 ? 0 : 1;
	process_close(&p);
	return rc;
}
