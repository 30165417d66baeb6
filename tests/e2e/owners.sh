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

# turn USER IMAGE...: a worker as USER, umask 002, on the shared folders,
# asked for each image through FastCGI; prints the status lines.
turn() {
	local user=$1 image; shift
	rm -f "$work/run/sock"
	setpriv --reuid="$user" --regid="$(id -gn "$user")" --init-groups env -i PATH="$PATH" HOME=/nonexistent \
		NIX_REMOTE=daemon NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
		STORAGE_PATH="$work/var/storage" NIXERY_STATE_DIR="$work/var/state" \
		sh -c 'umask 002; exec "$0" --listen "$1"' "$BUILD/nixery-fcgi" "$work/run/sock" 2>>"$work/$user.log" &
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
