/* This host as Nix needs it: an environment Nix can write in, and its
 * tools, its daemon or its store and build users, checked. */
#include "nix/host.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/deadline.h"
#include "nix/nixerror.h"
#include "nix/spawn.h"

/* What `nix show-config` may print. */
#define MAX_SETTINGS_OUTPUT (16u << 20)

/* The variable set to dir/name-<uid> (created, private), when it names no
 * folder this user can write: the workers of two users may share dir. */
static int writable_or(const char *var, const char *dir, const char *name)
{
	const char *now = getenv(var);
	char path[4096];

	if (now && *now && access(now, W_OK | X_OK) == 0)
		return 0;
	snprintf(path, sizeof path, "%s/%s-%ld", dir, name, (long)geteuid());
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return 0;
	return setenv(var, path, 1) == 0;
}

const char *nix_environment(const char *state_dir)
{
	int home = writable_or("HOME", state_dir, "home");

	/* Unset, it follows HOME; set elsewhere, it must be writable too. */
	if (getenv("XDG_CACHE_HOME") && writable_or("XDG_CACHE_HOME", state_dir, "cache"))
		return home ? "HOME and XDG_CACHE_HOME could not be written: Nix uses folders under NIXERY_STATE_DIR instead" :
			"XDG_CACHE_HOME could not be written: Nix uses a folder under NIXERY_STATE_DIR instead";
	return home ? "HOME could not be written: Nix uses a folder under NIXERY_STATE_DIR instead" : NULL;
}

static int on_path(const char *tool)
{
	const char *path = getenv("PATH"), *p;
	char file[4096];

	for (p = path ? path : "/usr/bin:/bin"; *p; p += *p == ':') {
		size_t len = strcspn(p, ":");

		snprintf(file, sizeof file, "%.*s/%s", (int)len, p, tool);
		if (access(file, X_OK) == 0)
			return 1;
		p += len;
	}
	return 0;
}

/* Connects to the daemon's socket: enough to know it listens. */
static int daemon_reachable(const char *path, char *why, size_t len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
	rc = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
	if (!rc)
		snprintf(why, len, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A setting as Nix sees it, from `nix show-config` (the files, NIX_CONFIG
 * and the defaults together): 0, or -ENOENT when it is not listed. */
static int nix_setting(const char *name, char *value, size_t len, char *err, size_t errlen)
{
	char *const argv[] = { "nix", "--extra-experimental-features", "nix-command",
			       "show-config", NULL };
	struct deadline dl = deadline_in(30000, NULL);
	struct spawn_result res = { 0 };
	size_t nlen = strlen(name);
	const char *line, *next;
	int rc = spawn_run(argv, &dl, MAX_SETTINGS_OUTPUT, NULL, &res, err, errlen);

	if (rc == 0 && res.status != 0) {
		nix_error_reason(res.err_tail, err, errlen);
		rc = -EIO;
	}
	for (line = res.out.data; rc == 0 && line; line = next) {
		next = strchr(line, '\n');
		if (next)
			next++;
		if (strncmp(line, name, nlen) == 0 && strncmp(line + nlen, " = ", 3) == 0) {
			size_t vlen = strcspn(line + nlen + 3, "\n");

			snprintf(value, len, "%.*s", (int)vlen, line + nlen + 3);
			goto out;
		}
	}
	if (rc == 0)
		rc = -ENOENT;
out:
	spawn_result_free(&res);
	return rc;
}

/* Root without a daemon builds in the store itself: the store must be
 * writable and the build users Nix is set to use must exist. */
static int check_local_store(struct buf *out)
{
	const char *dirs[] = { "/nix/store", "/nix/var/nix/db" };
	char group[256], err[512];
	struct group *gr;
	size_t i;
	int problems = 0;

	for (i = 0; i < sizeof dirs / sizeof *dirs; i++)
		if (access(dirs[i], W_OK | X_OK) < 0) {
			buf_printf(out, "the Nix store is not usable: %s: %s: install nix-bin, or set NIX_REMOTE=daemon to build through nix-daemon\n",
				   dirs[i], strerror(errno));
			problems++;
		}
	if (nix_setting("build-users-group", group, sizeof group, err, sizeof err) < 0) {
		buf_printf(out, "nix cannot read its settings (%s): check /etc/nix/nix.conf and NIX_CONFIG\n", err);
		return problems + 1;
	}
	if (!*group)
		return problems;
	if (!(gr = getgrnam(group))) {
		buf_printf(out, "Nix builds as the users of group '%s' (build-users-group), which does not exist: install nix-setup-systemd, which creates it and its build users\n",
			   group);
		problems++;
	} else if (!gr->gr_mem[0]) {
		buf_printf(out, "group '%s' (build-users-group) has no members, so Nix has no build users: add some (nix-setup-systemd creates nixbld1..10)\n",
			   group);
		problems++;
	}
	return problems;
}

int nix_check(struct buf *out)
{
	static const char *const tools[] = { "nix-instantiate", "nix-build", "nix-store", "nix" };
	const char *remote = getenv("NIX_REMOTE"), *socket_path = getenv("NIX_DAEMON_SOCKET_PATH");
	char why[256];
	size_t i;
	int problems = 0;

	for (i = 0; i < sizeof tools / sizeof *tools; i++)
		if (!on_path(tools[i])) {
			buf_printf(out, "%s is not on PATH: install Nix (apt-get install nix-bin nix-setup-systemd) or add its folder to the workers' PATH\n",
				   tools[i]);
			problems++;
		}
	if (problems)
		return problems;
	/* Only root can open the store itself; everyone else goes through
	 * the daemon. */
	if (geteuid() != 0 || (remote && strcmp(remote, "daemon") == 0)) {
		if (!socket_path || !*socket_path)
			socket_path = "/nix/var/nix/daemon-socket/socket";
		if (!daemon_reachable(socket_path, why, sizeof why)) {
			buf_printf(out, "nix-daemon is not reachable at %s (%s): start it (systemctl enable --now nix-daemon.socket) and put this user in the nix-users group\n",
				   socket_path, why);
			problems++;
		}
		return problems;
	}
	return check_local_store(out);
}

/* Whether word is one of the words of list (spaces between). */
static int has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t') &&
		    (p[len] == '\0' || p[len] == ' ' || p[len] == '\n' || p[len] == '\t' || p[len] == ','))
			return 1;
		p += len;
	}
	return 0;
}

/* The machines file builders = @FILE names, read whole, or the value. */
static void builders_text(const char *value, char *out, size_t len)
{
	FILE *f;
	size_t n;

	snprintf(out, len, "%s", value);
	if (value[0] != '@' || !(f = fopen(value + 1, "r")))
		return;
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

int nix_check_systems(const char *const *systems, size_t n, struct buf *out)
{
	char own[128] = "", extra[1024] = "", builders[8192] = "", value[4096] = "", err[512];
	size_t i;
	int problems = 0;

	if (nix_setting("system", own, sizeof own, err, sizeof err) < 0)
		return 0;   /* nix_check said why */
	nix_setting("extra-platforms", extra, sizeof extra, err, sizeof err);
	if (nix_setting("builders", value, sizeof value, err, sizeof err) == 0)
		builders_text(value, builders, sizeof builders);
	for (i = 0; i < n; i++) {
		if (strcmp(systems[i], own) == 0 || has_word(extra, systems[i]) || has_word(builders, systems[i]))
			continue;
		buf_printf(out, "Nix here builds for %s, not for %s (NIXERY_PLATFORMS): give it a remote builder for %s "
			   "(builders in nix.conf), or emulation (binfmt with qemu-user-static) and extra-platforms = %s\n",
			   own, systems[i], systems[i], systems[i]);
		problems++;
	}
	return problems;
}
