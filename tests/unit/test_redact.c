/* A client's error message names no folder or file of the host: each path
 * a setting names becomes the setting's name (core/redact.h), from the
 * settings as config_load reads them. */
#define _GNU_SOURCE   /* clearenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/redact.h"
#include "tests/unit/check.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char settings[] =
	"NIXERY_PKGS_PATH = /srv/nixery-fcgi/nix/demo\n"
	"NIXERY_NIX_DIR = /srv/nixery-fcgi/nix\n"
	"STORAGE_PATH = /srv/registry/storage/\n"
	"NIXERY_STATE_DIR = /srv/registry/state\n"
	"NIX_POPULARITY_URL = file:///srv/popularity.json\n"
	"NIXERY_LOG_FILE = /var/log/nixery.log\n";

/* message must come out as want, having hidden that many paths. */
static void check_redact(const struct config *cfg, const char *message, const char *want,
			 int paths, const char *what)
{
	char out[1024];
	int n = redact_host_paths(cfg, message, out, sizeof out);

	CHECK_STR_EQ(out, want, "%s", what);
	CHECK_INT_EQ(n, paths, "%s: the count of paths hidden", what);
}

static void messages(const struct config *cfg, const char *file)
{
	char message[512], want[512];

	check_redact(cfg,
		     "storage is full: cannot write a layer under STORAGE_PATH /srv/registry/storage/ (No space left on device): free space there",
		     "storage is full: cannot write a layer under STORAGE_PATH (No space left on device): free space there",
		     1, "a path right after its setting's name is not named twice");
	check_redact(cfg, "cannot store blob " HEX " in /srv/registry/storage/blobs/sha256/" HEX ": Is a directory",
		     "cannot store blob " HEX " in STORAGE_PATH/blobs/sha256/" HEX ": Is a directory",
		     1, "a blob's file is named by STORAGE_PATH");
	check_redact(cfg, "cannot set up the build cache /srv/registry/state/cache.db: disk I/O error",
		     "cannot set up the build cache NIXERY_STATE_DIR/cache.db: disk I/O error",
		     1, "the cache's file is named by NIXERY_STATE_DIR");
	check_redact(cfg, "error: undefined variable 'x' at /srv/nixery-fcgi/nix/demo/default.nix:3:5 (from /srv/nixery-fcgi/nix/image.nix:10)",
		     "error: undefined variable 'x' at NIXERY_PKGS_PATH/default.nix:3:5 (from NIXERY_NIX_DIR/image.nix:10)",
		     2, "of two settings' paths, one inside the other, the longer one names a file");
	check_redact(cfg, "cannot create /srv/registry/state.", "cannot create NIXERY_STATE_DIR.",
		     1, "a path at the end of a sentence");
	check_redact(cfg, "cannot read file:///srv/popularity.json", "cannot read file://NIX_POPULARITY_URL",
		     1, "a file:// URL's path");
	snprintf(message, sizeof message, "%s:3: unknown setting X", file);
	snprintf(want, sizeof want, "NIXERY_CONFIG:3: unknown setting X");
	check_redact(cfg, message, want, 1, "the settings file is NIXERY_CONFIG");
	check_redact(cfg, "cannot open /var/log/nixery.log.1", "cannot open /var/log/nixery.log.1",
		     0, "another file beside a setting's file stays");
	check_redact(cfg, "/srv/registry/storage2/x /mnt/srv/registry/state /srv/registry/stateful",
		     "/srv/registry/storage2/x /mnt/srv/registry/state /srv/registry/stateful",
		     0, "paths that only start or end like a setting's stay");
	check_redact(cfg, "builder for '/nix/store/abc-hello.drv' failed with exit code 1 at /_nixery_blobs/x",
		     "builder for '/nix/store/abc-hello.drv' failed with exit code 1 at /_nixery_blobs/x",
		     0, "store paths and URL paths stay");
}

int main(void)
{
	char file[] = "/tmp/nixery-test-redact.XXXXXX", err[2048] = "", out[16];
	struct config cfg;
	int fd = mkstemp(file);

	if (!CHECK(fd >= 0 && write(fd, settings, strlen(settings)) == (ssize_t)strlen(settings),
		   "a settings file is written"))
		return 1;
	close(fd);
	/* Only the file's settings: the environment's would win. */
	clearenv();
	if (!CHECK_WHY(config_load(&cfg, file, err, sizeof err) == 0, err, "the settings are loaded")) {
		unlink(file);
		return 1;
	}
	messages(&cfg, file);
	redact_host_paths(&cfg, "under /srv/registry/state/locks", out, sizeof out);
	CHECK(strlen(out) == sizeof out - 1, "a message cut to the buffer is terminated (%s)", out);
	config_free(&cfg);
	unlink(file);
	return check_exit();
}
