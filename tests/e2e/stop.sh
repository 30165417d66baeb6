#!/usr/bin/env bash
# Stopping a worker with builds in flight: on SIGTERM it takes no more
# requests at once and gives up its share of the listening socket, so the
# web server turns to its siblings; the build in progress gets
# NIXERY_STOP_GRACE seconds, then its Nix processes are stopped, the client
# gets 503, and the worker exits. Stopping lighttpd mid-build leaves no
# worker and no Nix process behind.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-stop.XXXXXX)
trap 'server_stop; [ -s "$work/shared/pid" ] && kill -KILL $(cat "$work/shared/pid") 2>/dev/null; pkill -f nixery-sleeper; rm -rf "$work"' EXIT
GRACE=3

# fcgi SOCKET URI: the Status line a FastCGI request gets, or "refused".
fcgi() {
	env -i REQUEST_METHOD=GET REQUEST_URI="$2" cgi-fcgi -bind -connect "$1" 2>/dev/null | head -1 | tr -d '\r' | grep . ||
		echo refused
}

# nix_left: the Nix processes of the sleeper still running.
nix_left() {
	pgrep -r RSD -f 'nixery-sleeper|nix-build .*image.nix' | tr '\n' ' '
}

# until_gone SECONDS PID...: waits until none of the processes runs; says
# how long it took, in tenths of a second, or "never".
until_gone() {
	local limit=$(($1 * 10)) i p alive; shift
	for i in $(seq 0 "$limit"); do
		alive=
		for p in "$@"; do kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p")" != Z ] && alive=1; done
		[ -z "$alive" ] && { echo "$i"; return; }
		sleep 0.1
	done
	echo never
}

wait_for_sleeper() {
	for _ in $(seq 300); do pgrep -f nixery-sleeper >/dev/null && return 0; sleep 0.1; done
	return 1
}

settings() {
	export STORAGE_PATH=$1/storage NIXERY_STATE_DIR=$1/state NIXERY_PKGS_PATH=$TOP/nix/demo \
		NIXERY_NIX_DIR=$TOP/nix NIXERY_CONFIG=/dev/null NIX_TIMEOUT=600 NIXERY_STOP_GRACE=$GRACE \
		NIXERY_TEST_NONCE=$RANDOM$RANDOM
	mkdir -p "$1/storage" "$1/state"
}

# 1. One worker on its own socket, a build in flight.
(
	settings "$work/alone"
	exec "$BUILD/nixery-fcgi" --listen "$work/alone/sock" 2>"$work/alone/log"
) &
pid=$!
for _ in $(seq 50); do [ -S "$work/alone/sock" ] && break; sleep 0.1; done
fcgi "$work/alone/sock" /v2/sleeper/manifests/latest >"$work/alone/answer" &
client=$!
wait_for_sleeper
check "stop: a build is in flight" [ -n "$(nix_left)" ]
kill -TERM $pid
sleep 0.5
got=$(fcgi "$work/alone/sock" /v2/)
check "stop: half a second after SIGTERM the worker takes no request (a new connection: $got)" [ "$got" = refused ]
check "stop: the build in flight still runs during the grace period" [ -n "$(nix_left)" ]
took=$(until_gone $((GRACE + 5)) $pid)
check "stop: the worker exits within NIXERY_STOP_GRACE + 5 s (${took} tenths of a second)" [ "$took" != never ]
wait $pid
status=$?
check "stop: its exit status is 0 (got $status)" [ "$status" = 0 ]
wait $client
check "stop: the request in flight gets 503 (got $(cat "$work/alone/answer"))" grep -q '^Status: 503' "$work/alone/answer"
check "stop: none of its Nix processes is left ($(nix_left))" [ -z "$(nix_left)" ]
check "stop: the log says the build was cancelled after the grace period" \
	grep -q "cancelling them" "$work/alone/log"

# 2. Two workers sharing one socket (spawn-fcgi -F, systemd): the one
# stopped mid-build gives up its share at once, the other serves.
(
	settings "$work/shared"
	spawn-fcgi -s "$work/shared/sock" -F 2 -P "$work/shared/pid" -- "$BUILD/nixery-fcgi" >/dev/null 2>&1
)
sleep 1
pids=$(tr '\n' ' ' <"$work/shared/pid")
fcgi "$work/shared/sock" /v2/sleeper/manifests/latest >"$work/shared/answer" &
client=$!
wait_for_sleeper
busy=
for p in $pids; do pgrep -P "$p" -x nix-build >/dev/null && busy=$p; done
check "stop: one of the two workers runs the build ($busy)" [ -n "$busy" ]
kill -TERM "${busy:-0}"
sleep 0.5
check "stop: the stopped worker has let go of the shared socket ($(readlink /proc/"${busy:-0}"/fd/0))" \
	[ "$(readlink /proc/"${busy:-0}"/fd/0)" = /dev/null ]
ok=1
for _ in 1 2 3 4 5 6; do case $(fcgi "$work/shared/sock" /v2/) in "Status: 200"*) ;; *) ok=0 ;; esac; done
check "stop: meanwhile the other worker answers every request" [ $ok = 1 ]
took=$(until_gone $((GRACE + 5)) "${busy:-0}")
check "stop: the stopped worker exits within NIXERY_STOP_GRACE + 5 s (${took} tenths)" [ "$took" != never ]
wait $client
check "stop: its request in flight gets 503 ($(cat "$work/shared/answer"))" grep -q '^Status: 503' "$work/shared/answer"
check "stop: none of its Nix processes is left ($(nix_left))" [ -z "$(nix_left)" ]
kill -TERM $pids 2>/dev/null

# 3. lighttpd stopped mid-build: it stops its workers, which stop Nix.
if server_start "$work/lighttpd" NIX_TIMEOUT=600 NIXERY_STOP_GRACE=$GRACE NIXERY_TEST_NONCE=$RANDOM$RANDOM; then
	SERVER_KIND=lighttpd
	curl -s -o /dev/null "$URL/v2/sleeper/manifests/latest" &
	client=$!
	wait_for_sleeper
	workers=$(worker_pids)
	kill -TERM "$(cat "$SERVER_DIR/run/lighttpd.pid")"
	took=$(until_gone $((GRACE + 5)) $workers)
	check "stop: lighttpd stopped mid-build leaves no worker after NIXERY_STOP_GRACE + 5 s (${took} tenths)" [ "$took" != never ]
	check "stop: and no Nix process ($(nix_left))" [ -z "$(nix_left)" ]
	wait $client || true
else
	fail "stop: lighttpd starts"
fi
