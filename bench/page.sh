#!/usr/bin/env bash
# Benchmark: the landing page with 1,000 builds recorded, and what routing
# the page costs the registry's own routes.
#
# Page: GET / with 1,000 rows in the builds table (the page lists the last
# 50 and those running); time to first byte (curl's time_starttransfer),
# median of 21. Target: under 50 ms.
# Routes: wrk -t2 -c32 -d10s on a cached manifest behind the shipped
# lighttpd.conf (which rewrites /, /search and /metrics to the workers),
# then behind the same file without those rewrites, in the same run.
# Target: the shipped one no slower (ratio at least 0.95, the noise here).
# Exits 0 whether or not the targets are met; 1 only if it could not measure.
set -eu

BENCH=page
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'

server_start "$DIR/srv" NIXERY_EVAL_TTL=3600 || die "server did not start"
curl -sf -o /dev/null --max-time 240 "$URL/v2/shell/hello/manifests/latest" || die "cannot build shell/hello"
sqlite3 "$SERVER_DIR/state/cache.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
	INSERT INTO builds (image_key, packages, started, finished, finished_ms, seconds, packed, status, message, name, size)
	SELECT printf('%064d', i), '[\"hello\"]', strftime('%s','now') - i, strftime('%s','now') - i, 0, 1.5, 1048576,
	       CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'ok' END,
	       CASE WHEN i % 10 = 0 THEN 'nix-build failed: error: builder failed' ELSE '' END,
	       'image' || i || ':latest', 4194304 FROM n"
rows=$(sqlite3 "$SERVER_DIR/state/cache.db" "select count(*) from builds")
for _ in $(seq 21); do
	curl -s -o /dev/null -w '%{time_starttransfer}\n' "$URL/"
done | sort -n >"$DIR/ttfb"
ttfb_ms=$(awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] * 1000 }' "$DIR/ttfb")
bytes=$(curl -s "$URL/" | wc -c)

# rps URL: a 10 s wrk run on a cached manifest.
rps() { wrk -t2 -c32 -d10s -H "$ACCEPT" "$1" 2>&1 | awk '/^Requests\/sec:/ { print $2 }'; }
shipped=$(rps "$URL/v2/shell/hello/manifests/latest")
server_stop
sed '/^url.rewrite-once/,/^}/d' "$TOP/etc/lighttpd.conf" >"$DIR/plain.conf"
grep -q rewrite-once "$DIR/plain.conf" && die "could not strip the rewrites"
(
	export NIXERY_PORT=$PORT NIXERY_BIN="$BUILD/nixery-fcgi" STORAGE_PATH="$SERVER_DIR/storage" \
		NIXERY_STATE_DIR="$SERVER_DIR/state" NIXERY_RUN_DIR="$SERVER_DIR/run" NIXERY_NIX_DIR="$TOP/nix" \
		NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_EVAL_TTL=3600 \
		NIX_POPULARITY_URL="$TOP/nix/demo/popularity.json" NIXERY_FILES_SCRIPT="$TOP/etc/lighttpd-files.lua" \
		NIXERY_ERRORFILE_PREFIX="$TOP/etc/lighttpd-"
	exec lighttpd -f "$DIR/plain.conf"
)
for _ in $(seq 50); do curl -sf -o /dev/null "$URL/v2/" && break; sleep 0.1; done
plain=$(rps "$URL/v2/shell/hello/manifests/latest")
ratio=$(awk -v a="$shipped" -v b="$plain" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
cat <<EOF2
== page: GET / with $rows builds recorded ($bytes bytes)
time to first byte: median ${ttfb_ms} ms of 21 (min $(awk 'NR == 1 { printf "%.2f", $1 * 1000 }' "$DIR/ttfb") ms, max $(awk 'END { printf "%.2f", $1 * 1000 }' "$DIR/ttfb") ms)
cached manifest:    ${shipped} req/s behind the shipped lighttpd.conf, ${plain} req/s without its rewrites (ratio ${ratio})
RESULT page_ttfb_ms ${ttfb_ms} ms with 1000 builds (target < 50 ms)
RESULT page_routing_manifest_ratio ${ratio} (target >= 0.95)
TARGET page_ttfb $(awk -v v="$ttfb_ms" 'BEGIN { print (v < 50 ? "met" : "MISSED") }')
TARGET page_routing_manifest $(awk -v v="$ratio" 'BEGIN { print (v >= 0.95 ? "met" : "MISSED") }')
EOF2
exit 0
