#!/usr/bin/env bash
# NIX_TIMEOUT bounds the whole build: at the deadline the build is stopped,
# no process is left behind, and the client gets a JSON error saying so.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-timeout.XXXXXX)
trap 'server_stop; pkill -f nixery-sleeper; rm -rf "$work"' EXIT
nonce=$RANDOM$RANDOM
server_start "$work/srv" NIX_TIMEOUT=3 NIXERY_TEST_NONCE="$nonce" || { fail "timeout: server starts"; exit 1; }

start=$(date +%s)
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/sleeper/manifests/latest")
took=$(( $(date +%s) - start ))
check "timeout: a build past NIX_TIMEOUT gets 504 ($code after ${took}s)" [ "$code" = 504 ]
check "timeout: the error says the build timed out" grep -q '"message":"the Nix build timed out after 3 seconds' "$work/b"
check "timeout: the answer comes soon after the deadline (${took}s)" [ "$took" -le 12 ]
left=$(pgrep -f nixery-sleeper | wc -l)
check "timeout: no build process is left behind ($left found)" [ "$left" = 0 ]
left=$(pgrep -f 'nix-build.*image.nix' | wc -l)
check "timeout: no nix-build is left behind ($left found)" [ "$left" = 0 ]
check "timeout: the failed build is recorded" \
	[ "$(sqlite3 "$work/srv/state/cache.db" "select count(*) from builds where status='timeout'")" = 1 ]

# Three clients ask for the same slow image, one after another: one build,
# and those who waited for it get its timeout, not a second try.
nonce2=$RANDOM$RANDOM
server_stop
server_start "$work/srv2" NIX_TIMEOUT=4 NIXERY_TEST_NONCE="$nonce2" || { fail "timeout: server starts"; exit 1; }
for i in 1 2 3; do
	curl -s -o "$work/b$i" -w '%{http_code}\n' "$URL/v2/sleeper/manifests/latest" >"$work/code$i" &
	sleep 1
done
wait
codes=$(cat "$work"/code? | tr '\n' ' ')
check "timeout: clients who waited for a build that timed out get 504 too ($codes)" [ "$codes" = "504 504 504 " ]
check "timeout: the clients who waited ran no second build" \
	[ "$(sqlite3 "$work/srv2/state/cache.db" "select count(*) from builds")" = 1 ]
check "timeout: the build is recorded as timed out" \
	[ "$(sqlite3 "$work/srv2/state/cache.db" "select status from builds")" = timeout ]

# A package that fails to build: 500 with Nix's error, and the server goes on.
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/broken/manifests/latest")
check "timeout: a failing build gets 500 ($code)" [ "$code" = 500 ]
check "timeout: the failure carries Nix's error" grep -q 'fails to build on purpose' "$work/b"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/hello/manifests/latest")
check "timeout: the registry still serves images after failed builds" [ "$code" = 200 ]
