#!/usr/bin/env bash
# One owner and group for every setup: the data folders belong to group
# nixery, setgid and group-writable; the workers run with umask 002, as
# nixery (systemd, spawn-fcgi) or as Apache's www-data, a member of the
# group (mod_fcgid). Workers of both users take turns on the same storage
# and state, each building and serving, and neither finds "attempt to
# write a readonly database" nor a file it cannot write.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-owners.XXXXXX)
chmod 0755 "$work"
trap '[ -n "${pid:-}" ] && kill $pid 2>/dev/null; stop_daemon; rm -rf "$work"' EXIT
unprivileged_setup "$work"
# As the README says: www-data in the group, and in nix-users for the daemon.
usermod -aG nixery,nix-users www-data
check "owners: www-data is in the groups nixery and nix-users" eval 'id -nG www-data | grep -qw nixery && id -nG www-data | grep -qw nix-users'
install -d -o nixery -g nixery -m 2775 "$work/var" "$work/var/storage" "$work/var/state"
mkdir -p "$work/run" && chmod 0777 "$work/run"

# turn USER IMAGE...: a worker as USER, umask 002 (or $UMASK), on the
# shared folders, asked for each image through FastCGI; prints the status
# lines.
turn() {
	local user=$1 image; shift
	rm -f "$work/run/sock"
	setpriv --reuid="$user" --regid="$(id -gn "$user")" --init-groups env -i PATH="$PATH" HOME=/nonexistent \
		NIX_REMOTE=daemon NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
		STORAGE_PATH="$work/var/storage" NIXERY_STATE_DIR="$work/var/state" \
		sh -c "umask ${UMASK:-002}; "'exec "$0" --listen "$1"' "$BUILD/nixery-fcgi" "$work/run/sock" 2>>"$work/$user.log" &
	pid=$!
	for _ in $(seq 50); do [ -S "$work/run/sock" ] && break; sleep 0.1; done
	for image in "$@"; do
		env -i REQUEST_METHOD=GET REQUEST_URI="/v2/$image/manifests/latest" cgi-fcgi -bind -connect "$work/run/sock" |
			head -1 | tr -d '\r'
	done
	kill $pid
	wait $pid 2>/dev/null
	pid=
}

out=$(turn nixery cowsay)
check "owners: a worker as nixery builds cowsay ($out)" [ "$out" = "Status: 200 OK" ]
out=$(turn www-data cowsay figlet | tr '\n' ' ')
check "owners: then one as www-data serves cowsay and builds figlet ($out)" \
	[ "$out" = "Status: 200 OK Status: 200 OK " ]
out=$(turn nixery figlet shell/hello | tr '\n' ' ')
check "owners: then nixery again serves figlet and builds shell/hello ($out)" \
	[ "$out" = "Status: 200 OK Status: 200 OK " ]
check "owners: neither found the cache read-only" eval '! grep -qi "readonly\|permission denied" "$work"/*.log'
# Nix's homes (home-<uid>, cache-<uid>) are each worker user's own.
bad=$(find "$work/var" -name 'home-*' -prune -o \( -type d ! -perm -2070 -print \) -o \
	\( -type f -name 'cache.db*' ! -perm -0660 -print \) | head -3)
check "owners: folders stay setgid and group-writable, the cache group-writable (${bad:-all})" [ -z "$bad" ]
bad=$(find "$work/var/storage/blobs" -type f ! -perm -0444 | head -3)
check "owners: every blob is readable by the web server (${bad:-all})" [ -z "$bad" ]

# nixery-admin run as the README shows (sudo -u nixery ..., with a login
# umask of 022): what it writes stays as the workers of the other user
# need it, group-writable, and it never narrows the cache's mode.
admin_as_nixery() {
	setpriv --reuid=nixery --regid=nixery --init-groups env -i PATH="$PATH" HOME=/nonexistent \
		NIX_REMOTE=daemon NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
		STORAGE_PATH="$work/var/storage" NIXERY_STATE_DIR="$work/var/state" \
		sh -c 'umask 022; exec "$0" "$@"' "$BUILD/nixery-admin" "$@"
}
db=$work/var/state/cache.db
admin_as_nixery status >"$work/status.out" 2>&1
check "owners: nixery-admin status with umask 022 leaves cache.db group-writable ($(stat -c %A "$db"))" \
	[ -n "$(find "$db" -perm -0660)" ]
admin_as_nixery prebuild nano >"$work/prebuild.out" 2>&1
check "owners: nixery-admin prebuild with umask 022 builds ($(tail -1 "$work/prebuild.out"))" \
	grep -q '^1 of 1 images ready' "$work/prebuild.out"
bad=$(find "$work/var" -name 'home-*' -prune -o \( -type d ! -perm -2070 -print \) -o \
	\( -type f -name 'cache.db*' ! -perm -0660 -print \) | head -3 | tr '\n' ' ')
check "owners: and the cache and every folder stay group-writable (${bad:-all})" [ -z "$bad" ]
out=$(turn www-data nano diamond | tr '\n' ' ')
check "owners: a worker as www-data then serves nano and builds diamond ($out)" \
	[ "$out" = "Status: 200 OK Status: 200 OK " ]
out=$(UMASK=022 turn nixery nano)
check "owners: a worker as nixery started with umask 022 by mistake serves ($out), and does not narrow cache.db's mode ($(stat -c %A "$db"))" \
	eval '[ "$out" = "Status: 200 OK" ] && [ -n "$(find "$db" -perm -0660)" ]'

# A worker whose cache was read-only to it when it opened it (cache.db
# 0644, as nixery-admin left it before) answers 503 while it is, and
# serves again once the file is writable, without a restart.
chmod 0644 "$db"
rm -f "$work/run/sock"
setpriv --reuid=www-data --regid=www-data --init-groups env -i PATH="$PATH" HOME=/nonexistent \
	NIX_REMOTE=daemon NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
	STORAGE_PATH="$work/var/storage" NIXERY_STATE_DIR="$work/var/state" \
	sh -c 'umask 002; exec "$0" --listen "$1"' "$BUILD/nixery-fcgi" "$work/run/sock" 2>>"$work/readonly.log" &
pid=$!
for _ in $(seq 50); do [ -S "$work/run/sock" ] && break; sleep 0.1; done
ask() {
	env -i REQUEST_METHOD=GET REQUEST_URI="/v2/$1/manifests/latest" cgi-fcgi -bind -connect "$work/run/sock" |
		head -1 | tr -d '\r'
}
out=$(ask libmulti)
check "owners: with cache.db read-only to www-data, a new image gets 503 ($out)" [ "$out" = "Status: 503 Service Unavailable" ]
chmod 0664 "$db"
out=$(ask libmulti)
check "owners: once it is group-writable again, the same worker builds it ($out)" [ "$out" = "Status: 200 OK" ]
out=$(ask libmulti)
check "owners: and serves it after ($out)" [ "$out" = "Status: 200 OK" ]
kill $pid
wait $pid 2>/dev/null
pid=
