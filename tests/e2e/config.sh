#!/usr/bin/env bash
# The configuration file: a worker configured by the file alone serves
# images; environment variables win over the file; --check-config shows the
# effective settings and every problem with advice, and fails on any.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-config.XXXXXX)
chmod 755 "$work"
trap '[ -n "${pid:-}" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
BIN=$BUILD/nixery-fcgi
mkdir -p "$work/storage" "$work/state"
cat >"$work/nixery.conf" <<CONF
# a comment, then settings with and without quotes and spaces
NIXERY_PKGS_PATH = $TOP/nix/demo
STORAGE_PATH=$work/storage
NIXERY_STATE_DIR = "$work/state"
NIXERY_NIX_DIR = $TOP/nix
NIX_TIMEOUT = 45
NIXERY_BLOB_OFFLOAD = none
CONF

# A worker with an empty environment but PATH, on its own socket, asked
# through FastCGI by cgi-fcgi.
env -i PATH="$PATH" "$BIN" --config "$work/nixery.conf" --listen "$work/sock" 2>"$work/log" &
pid=$!
for _ in $(seq 50); do [ -S "$work/sock" ] && break; sleep 0.1; done
fcgi_get() {
	env -i REQUEST_METHOD=GET REQUEST_URI="$1" HTTP_ACCEPT="application/vnd.docker.distribution.manifest.v2+json" \
		cgi-fcgi -bind -connect "$work/sock"
}
fcgi_get /v2/hello/manifests/latest >"$work/reply"
check "config: a worker configured only by its file serves an image" grep -q '^Status: 200' "$work/reply"
check "config: the file's storage folder holds the blobs" test -n "$(ls "$work/storage/blobs/sha256")"
digest=$(python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print(json.loads(t[t.index("{"):])["layers"][0]["digest"])' "$work/reply")
fcgi_get "/v2/hello/blobs/$digest" >"$work/blob"
check "config: NIXERY_BLOB_OFFLOAD = none from the file makes the worker stream blobs" \
	sh -c "grep -q '^Content-Length:' '$work/blob' && ! grep -qi '^X-Sendfile' '$work/blob'"
kill $pid; wait $pid 2>/dev/null; pid=

# A first start on folders that do not exist yet, as the workers' user:
# it makes them; NIXERY_LOG_FILE takes the log; an unusable HOME (as a
# worker spawned from root's environment has) is replaced for Nix.
env -i PATH="$PATH" HOME=/nonexistent/home NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
	STORAGE_PATH="$work/new/var/storage" NIXERY_STATE_DIR="$work/new/var/state" \
	NIXERY_LOG_FILE="$work/new.log" NIXERY_CONFIG=/dev/null \
	"$BIN" --listen "$work/sock2" 2>"$work/new.stderr" &
pid=$!
for _ in $(seq 50); do [ -S "$work/sock2" ] && break; sleep 0.1; done
check "config: a first start creates STORAGE_PATH with blobs/, empty/ and tmp/, and NIXERY_STATE_DIR" \
	test -d "$work/new/var/storage/blobs/sha256" -a -d "$work/new/var/storage/empty" -a -d "$work/new/var/storage/tmp" \
	-a -d "$work/new/var/state/locks"
code=$(env -i REQUEST_METHOD=GET REQUEST_URI=/v2/cowsay/manifests/latest cgi-fcgi -bind -connect "$work/sock2" | head -1)
check "config: a worker whose HOME cannot be used builds an image all the same ($code)" grep -q 200 <<<"$code"
check "config: NIXERY_LOG_FILE holds the log, standard error stays empty" \
	eval 'grep -q "info: serving" "$work/new.log" && grep -q "HOME could not be written" "$work/new.log" && [ ! -s "$work/new.stderr" ]'
kill $pid; wait $pid 2>/dev/null; pid=

out=$(NIX_TIMEOUT=7 "$BIN" --config "$work/nixery.conf" --check-config)
check "config: --check-config passes on a good configuration (exit $?)" [ $? = 0 ]
check "config: the environment wins over the file" grep -q 'NIX_TIMEOUT *7 *(environment)' <<<"$out"
check "config: values from the file are shown as such" grep -q 'NIXERY_BLOB_OFFLOAD *none *(file)' <<<"$out"
check "config: unset settings show their default" grep -q 'NIXERY_MAX_LAYERS *94 *(default)' <<<"$out"
out=$(NIXERY_CONFIG="$work/nixery.conf" "$BIN" --check-config)
check "config: NIXERY_CONFIG names the file" grep -q "configuration file: $work/nixery.conf" <<<"$out"

# problem NAME PATTERN ENV... -- ARGS: --check-config fails and says PATTERN.
problem() {
	local name=$1 pattern=$2 out status; shift 2
	out=$(env "$@" 2>&1); status=$?
	if [ $status != 0 ] && grep -q -- "$pattern" <<<"$out"; then
		pass "config: --check-config reports $name"
	else
		fail "config: --check-config reports $name (exit $status): $out"
	fi
}
# Before the first start: folders the first worker makes are no problem,
# as long as this user may make them.
out=$(STORAGE_PATH="$work/nowhere/storage" NIXERY_STATE_DIR="$work/nowhere/state" NIXERY_LOG_FILE="$work/new-log" \
	"$BIN" --config "$work/nixery.conf" --check-config 2>&1)
rc=$?
check "config: --check-config before the first start passes, saying the first worker makes the folders and the log (exit $rc)" \
	eval '[ $rc = 0 ] && grep -q "STORAGE_PATH $work/nowhere/storage does not exist yet: the first worker creates it" <<<"$out" &&
		grep -q "NIXERY_LOG_FILE $work/new-log does not exist yet" <<<"$out" && [ ! -e "$work/nowhere" ] && [ ! -e "$work/new-log" ]'
id nobody >/dev/null 2>&1 &&
	problem "a missing storage folder this user cannot make" "STORAGE_PATH $work/nowhere does not exist, and this user (nobody) cannot create it in $work: create it for the user the workers run as (install -d -o nobody $work/nowhere)" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups env STORAGE_PATH="$work/nowhere" "$BIN" --config "$work/nixery.conf" --check-config
: >"$work/roots.log"
id nobody >/dev/null 2>&1 &&
	problem "a log file this user cannot write" "NIXERY_LOG_FILE $work/roots.log is not a file this user (nobody) may write: the workers could not log there" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups env NIXERY_LOG_FILE="$work/roots.log" "$BIN" --config "$work/nixery.conf" --check-config
problem "a log file in a folder that is not there" "NIXERY_LOG_FILE /nonexistent/nixery.log does not exist, and this user (root) cannot create it (in /nonexistent): the workers could not log there; create it for them" \
	NIXERY_LOG_FILE=/nonexistent/nixery.log "$BIN" --config "$work/nixery.conf" --check-config
problem "Nix missing from PATH" "nix-build is not on PATH: install Nix" \
	PATH=/nonexistent "$BIN" --config "$work/nixery.conf" --check-config
problem "a bad value, with what it accepts" "NIX_TIMEOUT=soon is not valid: give a whole number from 1 to 86400" \
	NIX_TIMEOUT=soon "$BIN" --config "$work/nixery.conf" --check-config
problem "a compression level beyond libdeflate's" "NIXERY_GZIP_LEVEL=13 is not valid: give a whole number from 1 to 12" \
	NIXERY_GZIP_LEVEL=13 "$BIN" --config "$work/nixery.conf" --check-config
problem "an unknown setting with its line" "typo.conf:3: unknown setting NIXERY_TYPO" \
	sh -c "printf '# x\n\nNIXERY_TYPO = 1\n' > '$work/typo.conf'; '$BIN' --config '$work/typo.conf' --check-config"
problem "a missing explicit file" "cannot read the configuration file $work/none.conf" \
	"$BIN" --config "$work/none.conf" --check-config
problem "two package sources in one file" "NIXERY_CHANNEL and NIXERY_PKGS_PATH are both set in the file: set exactly one package source" \
	sh -c "printf 'NIXERY_CHANNEL = nixos-unstable\nNIXERY_PKGS_PATH = /srv\n' > '$work/two.conf'; '$BIN' --config '$work/two.conf' --check-config"
problem "the shipped settings file, which sets no source" "no package source: set NIXERY_CHANNEL, NIXERY_PKGS_REPO or NIXERY_PKGS_PATH" \
	env -u NIXERY_PKGS_PATH -u NIXERY_CHANNEL -u NIXERY_PKGS_REPO "$BIN" --config "$TOP/etc/nixery-fcgi.conf" --check-config
problem "an unknown storage backend" "NIXERY_STORAGE_BACKEND=azure is not valid: use filesystem, gcs or s3" \
	NIXERY_STORAGE_BACKEND=azure "$BIN" --config "$work/nixery.conf" --check-config
problem "an s3 backend without its bucket and key" "NIXERY_STORAGE_BACKEND=s3 needs S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" \
	NIXERY_STORAGE_BACKEND=s3 S3_BUCKET=b-1 "$BIN" --config "$work/nixery.conf" --check-config
problem "a gcs backend without its bucket" "NIXERY_STORAGE_BACKEND=gcs needs GCS_BUCKET" \
	NIXERY_STORAGE_BACKEND=gcs "$BIN" --config "$work/nixery.conf" --check-config
problem "a metadata server named with a path" "GCE_METADATA_HOST=http://h/x is not a host\[:port\]" \
	GCE_METADATA_HOST=http://h/x "$BIN" --config "$work/nixery.conf" --check-config
problem "a bucket name that could change the request's path" "S3_BUCKET=a/../b is not a bucket name" \
	S3_BUCKET=a/../b "$BIN" --config "$work/nixery.conf" --check-config
problem "an endpoint with a path" "AWS_ENDPOINT_URL=http://h/x?y is not an http(s)://host\[:port\] URL" \
	AWS_ENDPOINT_URL='http://h/x?y' "$BIN" --config "$work/nixery.conf" --check-config
problem "a bucket that cannot be reached, named" "the S3 bucket b-1 cannot be reached or is busy" \
	NIXERY_STORAGE_BACKEND=s3 S3_BUCKET=b-1 AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s \
	AWS_ENDPOINT_URL=http://127.0.0.1:1 STORAGE_PATH="$work/storage" "$BIN" --config "$work/nixery.conf" --check-config
out=$(AWS_SECRET_ACCESS_KEY=very-secret "$BIN" --config "$work/nixery.conf" --check-config 2>&1)
check "config: --check-config never prints AWS_SECRET_ACCESS_KEY" \
	eval '! grep -q very-secret <<<"$out" && grep -q "AWS_SECRET_ACCESS_KEY *(set, not shown)" <<<"$out"'
problem "several problems at once" "NIXERY_THREADS=0 is not valid" \
	NIXERY_THREADS=0 NIX_TIMEOUT=0 "$BIN" --config "$work/nixery.conf" --check-config
# Nix that cannot build: nix-bin alone has no build users.
problem "build users Nix is set to use that do not exist" \
	"Nix builds as the users of group 'nixery-no-such-group' (build-users-group), which does not exist: install nix-setup-systemd" \
	NIX_CONFIG="build-users-group = nixery-no-such-group" "$BIN" --config "$work/nixery.conf" --check-config
groupadd -f nixery-empty-builders
problem "a build users group without members" "group 'nixery-empty-builders' (build-users-group) has no members" \
	NIX_CONFIG="build-users-group = nixery-empty-builders" "$BIN" --config "$work/nixery.conf" --check-config
groupdel nixery-empty-builders
problem "a store this user cannot write" "the Nix store is not usable" \
	NIX_REMOTE= unshare -m sh -c "mount -o bind,ro /nix/store /nix/store && '$BIN' --config '$work/nixery.conf' --check-config"
id nobody >/dev/null 2>&1 &&
	problem "an unwritable state folder, for the user running it" "NIXERY_STATE_DIR $work/state is not writable by this user" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN" --config "$work/nixery.conf" --check-config
id nobody >/dev/null 2>&1 &&
	problem "an unreachable nix-daemon for a user that needs it" "nix-daemon is not reachable at /nonexistent" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups env NIX_DAEMON_SOCKET_PATH=/nonexistent "$BIN" --config "$work/nixery.conf" --check-config

printf 'NIXERY_CHANNEL = nixos-unstable\nSTORAGE_PATH = %s\nNIXERY_STATE_DIR = %s\nNIXERY_NIX_DIR = %s\n' \
	"$work/storage" "$work/state" "$TOP/nix" >"$work/channel.conf"
out=$(NIXERY_PKGS_PATH="$TOP/nix/demo" "$BIN" --config "$work/channel.conf" --check-config 2>&1)
check "config: a package source in the environment wins over one in the file" \
	grep -q 'NIXERY_PKGS_PATH *'"$TOP"'/nix/demo *(environment)' <<<"$out"
check "config: that configuration has no problems" grep -q 'no problems found' <<<"$out"

# A worker that cannot open NIXERY_LOG_FILE serves all the same, and says
# so on standard error (and in the system log): spawn-fcgi would only
# have said "child exited with: 1".
env -i PATH="$PATH" NIXERY_LOG_FILE=/nonexistent/nixery.log "$BIN" --config "$work/nixery.conf" --listen "$work/sock3" \
	2>"$work/nolog.stderr" &
pid=$!
for _ in $(seq 50); do [ -S "$work/sock3" ] && break; sleep 0.1; done
code=$(env -i REQUEST_METHOD=GET REQUEST_URI=/v2/ cgi-fcgi -bind -connect "$work/sock3" | head -1)
check "config: a worker that cannot open NIXERY_LOG_FILE serves ($code), and says why and what to do" \
	eval 'grep -q "^Status: 200" <<<"$code" &&
		grep -q "cannot log to NIXERY_LOG_FILE /nonexistent/nixery.log (No such file or directory): logging to standard error; nixery-fcgi --check-config" "$work/nolog.stderr"'
kill $pid; wait $pid 2>/dev/null; pid=
