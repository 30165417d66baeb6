#!/usr/bin/env bash
# GET /metrics: the Prometheus text format, counters shared by every worker
# process, matching the requests made, every build started ended (a build
# stopped with its worker as cancelled); promtool accepts it; the shipped
# lighttpd configuration gives it to this host's own clients only.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-metrics.XXXXXX)
trap 'server_stop; [ -n "${stopped:-}" ] && kill -KILL $stopped 2>/dev/null; rm -rf "$work"' EXIT
server_start "$work/srv" || { fail "metrics: server starts"; exit 1; }

# value NAME{LABELS}: a sample's value, 0 when absent.
value() { awk -v k="$1" '$1 == k {print $2; found=1} END {if (!found) print 0}' "$work/m"; }
# Builds are counted by platform: this host's own.
P='platform="linux/amd64"'


# The first answer leaves the tag's file, and lighttpd sends the manifest
# from it after that without a worker: a query string keeps the next two
# on their way to the workers, and the fourth is not theirs to count.
for q in "" "?" "?"; do curl -s -o /dev/null "$URL/v2/hello/manifests/latest$q"; done
curl -s -o "$work/from-file" -D "$work/from-file.h" "$URL/v2/hello/manifests/latest"
curl -s -o /dev/null "$URL/v2/nosuchpkg/manifests/latest"
curl -s -o /dev/null "$URL/v2/hello/blobs/sha256:$(printf '0%.0s' $(seq 64))"
curl -s -o /dev/null "$URL/v2/"
code=$(curl -s -o "$work/m" -D "$work/h" -w '%{http_code}' "$URL/metrics")
check "metrics: GET /metrics from this host answers 200 ($code)" [ "$code" = 200 ]
check "metrics: in the Prometheus text format" grep -qi '^content-type: text/plain; version=0.0.4' "$work/h"
# Two workers (max-procs 2) served these: the counts are the host's.
check "metrics: three manifests answered 200 are counted ($(value 'nixery_requests_total{route="manifest",status="200"}'))" \
	[ "$(value 'nixery_requests_total{route="manifest",status="200"}')" = 3 ]
check "metrics: a manifest lighttpd sent from the tag's file is not (it was one: $(grep -ci '^etag:' "$work/from-file.h") ETag)" \
	grep -qi '^etag:' "$work/from-file.h"
check "metrics: an unknown package's 404 is counted" [ "$(value 'nixery_requests_total{route="manifest",status="404"}')" = 1 ]
check "metrics: an unknown blob's 404 is counted" [ "$(value 'nixery_requests_total{route="blob",status="404"}')" = 1 ]
# server_start asked for it too, until the server answered.
check "metrics: the API base is counted" [ "$(value 'nixery_requests_total{route="base",status="200"}')" -ge 1 ]
check "metrics: one build started and ended ok, for linux/amd64" \
	[ "$(value "nixery_builds_started_total{$P}")" = 1 -a "$(value "nixery_builds_total{$P,result=\"ok\"}")" = 1 ]
check "metrics: its duration is in the histogram" [ "$(value "nixery_build_duration_seconds_count{$P}")" = 1 ]
check "metrics: two requests were answered from the request cache, one was not" \
	[ "$(value 'nixery_cache_hits_total{level="request"}')" = 2 -a "$(value 'nixery_cache_misses_total{level="request"}')" = 2 ]
check "metrics: the bytes packed are the build's ($(value "nixery_packed_bytes_total{$P}"))" \
	[ "$(value "nixery_packed_bytes_total{$P}")" = "$(sqlite3 "$SERVER_DIR/state/cache.db" 'select sum(packed) from builds')" ]
check "metrics: the blob store's size is the cache's" \
	[ "$(value nixery_blob_store_bytes)" = "$(sqlite3 "$SERVER_DIR/state/cache.db" 'select sum(size) from blobs')" ]

# A build stopped with its worker: a worker of its own on the same state,
# asked for a build that never ends, is sent SIGTERM; after
# NIXERY_STOP_GRACE its build is cancelled. It counts as cancelled, not
# failed, its row is closed so, and every build started has ended.
(
	export STORAGE_PATH=$SERVER_DIR/storage NIXERY_STATE_DIR=$SERVER_DIR/state NIXERY_PKGS_PATH=$TOP/nix/demo \
		NIXERY_NIX_DIR=$TOP/nix NIXERY_CONFIG=/dev/null NIX_TIMEOUT=600 NIXERY_STOP_GRACE=1 \
		NIXERY_TEST_NONCE=$RANDOM$RANDOM
	exec "$BUILD/nixery-fcgi" --listen "$work/sock" 2>"$work/stopped.log"
) &
stopped=$!
for _ in $(seq 50); do [ -S "$work/sock" ] && break; sleep 0.1; done
env -i REQUEST_METHOD=GET REQUEST_URI=/v2/sleeper/manifests/latest cgi-fcgi -bind -connect "$work/sock" \
	>"$work/stopped.answer" 2>/dev/null &
client=$!
for _ in $(seq 300); do pgrep -P $stopped -x nix-build >/dev/null && break; sleep 0.1; done
kill -TERM $stopped
wait $stopped
wait $client
check "metrics: a build whose worker was stopped is answered 503 ($(head -1 "$work/stopped.answer" | tr -d '\r'))" \
	grep -q '^Status: 503' "$work/stopped.answer"
row=$(sqlite3 "$SERVER_DIR/state/cache.db" "SELECT status FROM builds WHERE name = 'sleeper:latest'")
check "metrics: its row in the builds table is closed as cancelled ($row)" [ "$row" = cancelled ]
curl -s -o "$work/m" "$URL/metrics"
check "metrics: it is counted as cancelled, not failed ($(value "nixery_builds_total{$P,result=\"cancelled\"}") cancelled, $(value "nixery_builds_total{$P,result=\"failed\"}") failed)" \
	[ "$(value "nixery_builds_total{$P,result=\"cancelled\"}")" = 1 -a "$(value "nixery_builds_total{$P,result=\"failed\"}")" = 0 ]
ended=$(( $(value "nixery_builds_total{$P,result=\"ok\"}") + $(value "nixery_builds_total{$P,result=\"failed\"}") +
	$(value "nixery_builds_total{$P,result=\"timeout\"}") + $(value "nixery_builds_total{$P,result=\"cancelled\"}") ))
check "metrics: builds started = builds ended, none running ($(value "nixery_builds_started_total{$P}") started, $ended ended)" \
	[ "$(value "nixery_builds_started_total{$P}")" = 2 -a "$ended" = 2 ]
curl -s -o "$work/page" "$URL/"
check "metrics: the landing page lists it as cancelled, not as a failure" \
	grep -q '<td class="muted">cancelled</td>' "$work/page"

if out=$(promtool check metrics <"$work/m" 2>&1); then
	pass "metrics: promtool check metrics accepts the page"
else
	fail "metrics: promtool check metrics accepts the page: $out"
fi

# The shipped configuration: the same path asked from another address
# (127.0.0.2, a client that is not this host's loopback 127.0.0.1) is not
# the registry's: lighttpd's own 404, no metrics.
code=$(curl -s -o "$work/far" -w '%{http_code}' --interface 127.0.0.2 "$URL/metrics")
check "metrics: from another address the page is refused ($code)" \
	eval '[ "$code" = 404 ] && ! grep -q nixery_ "$work/far"'
