/* libFuzzer: the settings file parser (core/config.h), reading the input
 * as a configuration file. */
#define _GNU_SOURCE   /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"

static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const settings[] = {
		"NIXERY_CHANNEL", "NIXERY_PKGS_REPO", "NIXERY_PKGS_PATH", "STORAGE_PATH",
		"NIXERY_STATE_DIR", "NIX_TIMEOUT", "NIXERY_CONFIG", "NIXERY_THREADS",
	};
	size_t i;

	(void)argc;
	(void)argv;
	/* Only the file speaks. */
	for (i = 0; i < sizeof settings / sizeof *settings; i++)
		unsetenv(settings[i]);
	fd = memfd_create("nixery-fuzz.conf", 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[4096];
	struct config cfg;

	if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (config_load(&cfg, path, err, sizeof err) == 0)
		config_free(&cfg);
	return 0;
}
