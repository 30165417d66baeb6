#!/usr/bin/env bash
# Benchmark: a soak. wrk -c256 for 60 s on a cached manifest, then on a
# blob, through lighttpd. Targets: 0 errors and 0 non-2xx answers; the
# workers' resident memory after each run within 1 MiB of before it (no
# leak, no growth per request). Memory is read from /proc (VmRSS) of every
# nixery-fcgi child of this server's lighttpd.
# Exits 0 whether or not the targets are met; 1 only if it could not measure.
set -eu

BENCH=soak
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/servers.sh
. "$TOP/tests/servers.sh"

DURATION=${SOAK_SECONDS:-60}
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'

server_start "$DIR" NIXERY_EVAL_TTL=3600 || die "server did not start"
SERVER_KIND=lighttpd
manifest_url=$URL/v2/shell/hello/manifests/latest
curl -sf -o "$DIR/manifest.json" --max-time 240 -H "$ACCEPT" "$manifest_url" || die "cannot build shell/hello"
blob=$(python3 -c 'import json,sys; print(max(json.load(open(sys.argv[1]))["layers"], key=lambda l: l["size"])["digest"])' "$DIR/manifest.json")
blob_url=$URL/v2/shell/hello/blobs/$blob

# rss: the workers' VmRSS in KiB, summed.
rss() {
	local p total=0 r
	for p in $(worker_pids); do
		r=$(awk '/^VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
		total=$((total + r))
	done
	echo "$total"
}

# soak NAME URL: one wrk run; prints its line and the RESULT lines.
soak() {
	local name=$1 url=$2 out=$DIR/$1.wrk before after bad rps pids
	# Every worker has served before the first reading: warm, not growing.
	wrk -t2 -c256 -d3s -H "$ACCEPT" "$url" >/dev/null 2>&1 || true
	pids=$(worker_pids | tr '\n' ' ')
	before=$(rss)
	wrk -t2 -c256 -d"${DURATION}s" -H "$ACCEPT" "$url" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
	after=$(rss)
	[ "$(worker_pids | tr '\n' ' ')" = "$pids" ] || echo "note: the workers changed during the run ($pids -> $(worker_pids | tr '\n' ' '))"
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
		/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
		END { print n + 0 }' "$out")
	echo "$name: wrk -t2 -c256 -d${DURATION}s: $rps req/s, $(awk '/requests in/ {print $1}' "$out") requests; workers' RSS ${before} KiB before, ${after} KiB after"
	echo "RESULT soak_${name}_errors $bad (target 0)"
	echo "RESULT soak_${name}_rss_growth $((after - before)) KiB (target within 1024 KiB)"
	echo "TARGET soak_${name}_errors $([ "$bad" = 0 ] && echo met || echo MISSED)"
	echo "TARGET soak_${name}_rss $([ $((after - before)) -le 1024 ] && [ $((before - after)) -le 1024 ] && echo met || echo MISSED)"
}

echo "== soak: $(nproc) cores; binary $(readlink -f "$BUILD/nixery-fcgi")"
soak manifest "$manifest_url"
soak blob "$blob_url"
exit 0
