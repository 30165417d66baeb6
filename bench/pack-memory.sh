#!/usr/bin/env bash
# Benchmark: peak resident memory of a worker while it packs a 1 GiB layer.
#
# What is measured: a fresh server (empty cache) is asked for
# /v2/bulk1g/manifests/latest; the worker that takes it realises the package
# (1 GiB of incompressible data, already in the Nix store), tars and gzips it
# into one layer, hashes it twice (tar stream and gzip stream) and writes it to
# the blob store.  The peak resident set (VmHWM in /proc/<pid>/status) of every
# nixery-fcgi worker of this server is read after the request, and the max
# is the result; VmHWM of the idle workers, read before the request, is the
# baseline.  Also reported: wall time of the cold request and layer size.
#
# Why: layers are streamed (file -> libarchive -> zlib -> disk), so memory
# must stay flat whatever the image size; a worker that buffered a layer, or
# a file, would need gigabytes and be killed on a small host.
#
# Only the worker processes are measured, not the Nix processes they spawn.
#
# Target: peak RSS < 32 MiB.
# Exits 0 whether or not the target is met; 1 only if it could not measure.
set -eu

BENCH=pack-memory
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

IMAGE=bulk1g
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
TARGET_KIB=$((32 * 1024))
MAX_REQUEST_S=240    # keeps the whole script under 5 minutes

SAMPLER=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; fi
	bench_cleanup
}
trap cleanup EXIT


# The nixery-fcgi workers lighttpd spawned for this server.
workers() {
	pgrep -P "$(cat "$SERVER_DIR/run/lighttpd.pid")" -x nixery-fcgi | sort -n | tr '\n' ' '
}

# status_kib PID FIELD: a "FIELD:  1234 kB" line of /proc/PID/status, in KiB.
status_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# CPU ticks (user + system) a process used so far.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

server_start "$DIR" NIX_TIMEOUT=900 "$@" || die "server did not start"
# lighttpd starts its workers at once; give them a moment to open the cache.
for _ in $(seq 50); do
	[ "$(workers | wc -w)" -ge 2 ] && break
	sleep 0.1
done
sleep 0.5
pids_before=$(workers)
[ -n "$pids_before" ] || die "no nixery-fcgi worker under lighttpd"

idle_max=0
declare -A ticks_before
for p in $pids_before; do
	h=$(status_kib "$p" VmHWM)
	[ "$h" -gt "$idle_max" ] && idle_max=$h
	ticks_before[$p]=$(cpu_ticks "$p")
done
idle_detail=$(for p in $pids_before; do printf '%s=%s KiB ' "$p" "$(status_kib "$p" VmHWM)"; done)

# Samples VmRSS while packing: a cross-check of VmHWM, and a worker that
# died and was respawned (losing its VmHWM) would show up here.
(
	while :; do
		for p in $pids_before; do
			r=$(status_kib "$p" VmRSS)
			[ -n "$r" ] && echo "$r"
		done
		sleep 0.2
	done
) >"$DIR/rss.samples" &
SAMPLER=$!

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
code=$(curl -s -o "$DIR/manifest.json" -w '%{http_code}' --max-time "$MAX_REQUEST_S" \
	-H "$ACCEPT" "$URL/v2/$IMAGE/manifests/latest") || true
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=

pids_after=$(workers)
peak=0 busy='' busy_ticks=-1
for p in $pids_before; do
	[ -r "/proc/$p/status" ] || continue
	h=$(status_kib "$p" VmHWM)
	[ "$h" -gt "$peak" ] && peak=$h
	t=$(( $(cpu_ticks "$p") - ${ticks_before[$p]} ))
	if [ "$t" -gt "$busy_ticks" ]; then busy=$p busy_ticks=$t; fi
done
peak_detail=$(for p in $pids_before; do printf '%s=%s KiB ' "$p" "$(status_kib "$p" VmHWM)"; done)
busy_detail="pid $busy: $(( busy_ticks / $(getconf CLK_TCK) )) s CPU, now RssAnon $(status_kib "$busy" RssAnon) KiB, RssFile $(status_kib "$busy" RssFile) KiB, $(awk '/^Threads:/ { print $2 }' "/proc/$busy/status") threads"
sampled=$(sort -n "$DIR/rss.samples" | tail -1)

if [ "$code" = 200 ]; then
	# The biggest layer is the 1 GiB package; the other is the symlink layer.
	read -r layer_bytes total_bytes nlayers < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
s = [l["size"] for l in m["layers"]]
print(max(s), sum(s), len(s))' "$DIR/manifest.json")
	mbps=$(awk -v b="$layer_bytes" -v s="$elapsed" 'BEGIN { printf "%.1f", b / 1048576 / s }')
	status=ok
else
	layer_bytes=0 total_bytes=0 nlayers=0 mbps=0
	status="FAILED: HTTP $code after $elapsed s: $(head -c 300 "$DIR/manifest.json" 2>/dev/null)"
fi
build=$(sqlite3 "$SERVER_DIR/state/cache.db" \
	"SELECT status || ', ' || round(seconds, 1) || ' s' FROM builds ORDER BY id DESC LIMIT 1" 2>/dev/null || true)
if [ "$pids_before" = "$pids_after" ]; then respawned=no; else respawned="YES ($pids_before -> $pids_after): VmHWM of a dead worker is lost"; fi

cat <<EOF
== pack-memory: cold GET /v2/$IMAGE/manifests/latest, packing ~1 GiB
binary:       $(readlink -f "$BUILD/nixery-fcgi")
machine:      $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
settings:     NIX_TIMEOUT=900, otherwise defaults; load before: ${load_before}
request:      $status; ${elapsed} s wall (build row: ${build:-none})
layer:        ${layer_bytes} bytes ($(mib $((layer_bytes / 1024))) MiB) largest of ${nlayers} layers, ${total_bytes} bytes total; ${mbps} MiB/s
idle workers: VmHWM ${idle_detail}
after:        VmHWM ${peak_detail}
worker used:  ${busy_detail}
sampled RSS:  max VmRSS ${sampled:-0} KiB over 0.2 s samples; workers respawned: ${respawned}
RESULT pack_worker_peak_rss $(mib "$peak") MiB (target < 32 MiB)
RESULT idle_worker_peak_rss $(mib "$idle_max") MiB (baseline, no target)
RESULT pack_1g_seconds ${elapsed} s (no target)
RESULT pack_1g_layer_bytes ${layer_bytes} bytes (no target)
TARGET pack_worker_peak_rss $(if [ "$code" = 200 ] && [ "$respawned" = no ] && [ "$peak" -lt "$TARGET_KIB" ]; then echo met; else echo MISSED; fi)
EOF
exit 0
