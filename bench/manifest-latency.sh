#!/usr/bin/env bash
# Benchmark: latency and throughput of a *cached* manifest GET.
#
# What is measured: `GET /v2/shell/hello/manifests/latest` (Docker v2 Accept
# header) after the image was built once, through the whole serving path:
# wrk -> lighttpd -> mod_fastcgi -> nixery-fcgi worker (route, SQLite cache
# lookups, manifest read from the blob store) -> back.  This is what every
# `docker pull` of an already-built image pays first, so it must be cheap.
#
# Why the baseline: the same wrk run against a static file of the same size
# served by the same lighttpd tells how much of the cost is lighttpd + the
# loopback + wrk itself (all sharing this machine's cores) and how much is
# FastCGI + nixery-fcgi.
#
# Also checked: no Nix build ran during the run (builds table unchanged) and
# every response was a 2xx.
#
# Targets (2-core machine): median < 5 ms, >= 2000 requests/s.
# Exits 0 whether or not the targets are met; 1 only if it could not measure.
set -eu

BENCH=manifest-latency
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

IMAGE=shell/hello
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
WRK_ARGS=(-t2 -c32 -d10s --latency)
TARGET_MEDIAN_MS=5
TARGET_RPS=2000



# wrk's "50%  1.28ms" -> milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}

# run_wrk NAME URL: runs wrk, keeps its output in $DIR/NAME.wrk and sets
# RPS, P50_MS, P99_MS, BAD (non-2xx/3xx responses + socket errors).
run_wrk() {
	local out=$DIR/$1.wrk
	wrk "${WRK_ARGS[@]}" -H "$ACCEPT" "$2" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
	RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	P50_MS=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	P99_MS=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	BAD=$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
		/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
		END { print n + 0 }' "$out")
	if [ -z "$RPS" ] || [ -z "$P50_MS" ]; then die "cannot read wrk output: $(cat "$out")"; fi
}

# A long evaluation TTL: a slow first build must not let the cached
# evaluation expire during the run (re-evaluation is not what is measured).
server_start "$DIR" NIXERY_EVAL_TTL=3600 || die "server did not start"
manifest_url=$URL/v2/$IMAGE/manifests/latest

# Warm: the first request evaluates, builds and packs; later ones are cached.
start=$(date +%s.%N)
code=$(curl -s -o "$DIR/manifest.json" -w '%{http_code}' --max-time 240 -H "$ACCEPT" "$manifest_url") || true
warm_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$code" = 200 ] || die "warming $IMAGE answered $code: $(cat "$DIR/manifest.json" 2>/dev/null)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$manifest_url")
[ "$code" = 200 ] || die "second GET of $IMAGE answered $code"
one_ms=$(curl -s -o /dev/null -w '%{time_total}' -H "$ACCEPT" "$manifest_url" | awk '{ printf "%.2f", $1 * 1000 }')

# Baseline payload: the manifest itself, as a static file of the same size.
cp "$DIR/manifest.json" "$SERVER_DIR/storage/empty/static-manifest.json"
size=$(wc -c <"$DIR/manifest.json")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
builds_before=$(builds_count)
run_wrk fcgi "$manifest_url"
builds_after=$(builds_count)
fcgi_rps=$RPS fcgi_p50=$P50_MS fcgi_p99=$P99_MS fcgi_bad=$BAD

run_wrk static "$URL/static-manifest.json"
static_rps=$RPS static_p50=$P50_MS static_p99=$P99_MS static_bad=$BAD

builds_run=$((builds_after - builds_before))
rps_ratio=$(awk -v a="$fcgi_rps" -v b="$static_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
p50_ratio=$(awk -v a="$fcgi_p50" -v b="$static_p50" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

cat <<EOF
== manifest-latency: cached GET /v2/$IMAGE/manifests/latest ($size bytes)
binary:       $(readlink -f "$BUILD/nixery-fcgi")
machine:      $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
settings:     NIXERY_EVAL_TTL=3600, otherwise defaults; load before: ${load_before}
wrk:          wrk ${WRK_ARGS[*]} -H '$ACCEPT'
warm-up:      first GET ${warm_s} s (build + pack), one cached GET ${one_ms} ms (curl)
nixery-fcgi:  ${fcgi_rps} req/s, median ${fcgi_p50} ms, p99 ${fcgi_p99} ms, errors/non-2xx ${fcgi_bad}
static file:  ${static_rps} req/s, median ${static_p50} ms, p99 ${static_p99} ms, errors/non-2xx ${static_bad}
ratio:        nixery-fcgi/static = ${rps_ratio}x throughput, ${p50_ratio}x median latency
Nix builds:   ${builds_before} before, ${builds_after} after the wrk run
RESULT manifest_median_latency ${fcgi_p50} ms (target < ${TARGET_MEDIAN_MS} ms)
RESULT manifest_requests_per_sec ${fcgi_rps} req/s (target >= ${TARGET_RPS} req/s)
RESULT manifest_failed_responses ${fcgi_bad} responses (target 0)
RESULT manifest_builds_during_run ${builds_run} builds (target 0)
TARGET manifest_median_latency $(verdict "$fcgi_p50 < $TARGET_MEDIAN_MS")
TARGET manifest_requests_per_sec $(verdict "$fcgi_rps >= $TARGET_RPS")
TARGET manifest_failed_responses $(verdict "$fcgi_bad == 0")
TARGET manifest_builds_during_run $(verdict "$builds_run == 0")
EOF
exit 0
