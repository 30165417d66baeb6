#!/usr/bin/env bash
# Benchmark: worker CPU time to answer a 1 GiB blob, with the blob sent by
# the web server (X-Sendfile) and, for comparison in the same run, streamed
# by the worker through FastCGI (NIXERY_BLOB_OFFLOAD=none).
#
# What is measured: the summed CPU time (user + system, from
# /proc/PID/task/*/schedstat, in nanoseconds) of every nixery-fcgi worker of
# a lighttpd server, before and after one GET of the 1 GiB layer of the
# bulk1g image; the difference is that request's cost to the workers.
#
# Why: with offload the worker only looks the blob up and names the file;
# lighttpd sends it with sendfile(2). A worker that read the blob itself
# would burn CPU and hold a thread for as long as the client downloads.
#
# Target: under 50 ms of worker CPU with offload on.
# Exits 0 whether or not the target is met; 1 only if it could not measure.
set -eu

BENCH=offload-cpu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

TARGET_MS=50


# Nanoseconds of CPU used so far by all workers of the running server.
workers_cpu_ns() {
	local total=0 p t
	for p in $(pgrep -P "$(cat "$SERVER_DIR/run/lighttpd.pid")" -x nixery-fcgi); do
		for t in /proc/"$p"/task/*/schedstat; do
			total=$((total + $(cut -d' ' -f1 "$t")))
		done
	done
	echo "$total"
}

# measure OFFLOAD: ms of worker CPU for one GET of the 1 GiB blob.
measure() {
	local before after bytes
	server_start "$DIR/$1" NIX_TIMEOUT=900 NIXERY_BLOB_OFFLOAD="$1" STORAGE_PATH="$DIR/storage" \
		NIXERY_STATE_DIR="$DIR/state" || die "server did not start"
	curl -s -o "$DIR/manifest" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"$URL/v2/bulk1g/manifests/latest"
	digest=$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["layers"]; print(max(l, key=lambda x: x["size"])["digest"])' "$DIR/manifest") ||
		die "no manifest: $(head -c 200 "$DIR/manifest")"
	sleep 1
	before=$(workers_cpu_ns)
	bytes=$(curl -s -o /dev/null -w '%{size_download}' "$URL/v2/bulk1g/blobs/$digest")
	after=$(workers_cpu_ns)
	server_stop
	echo "$(( (after - before) / 1000000 )) $bytes"
}

# Both servers share storage and state: the layer is packed once, by the
# first, and both then only answer the blob request.
mkdir -p "$DIR/storage/empty" "$DIR/state"
read -r ms_offload bytes_offload < <(measure x-sendfile)
read -r ms_stream bytes_stream < <(measure none)

echo "offload-cpu: worker CPU for one GET of the 1 GiB layer of bulk1g"
echo "  x-sendfile (lighttpd sends)  $ms_offload ms for $bytes_offload bytes"
echo "  none (worker streams)        $ms_stream ms for $bytes_stream bytes"
echo "RESULT offload_worker_cpu $ms_offload ms (target < $TARGET_MS ms)"
echo "RESULT stream_worker_cpu $ms_stream ms (comparison, no target)"
if [ "$bytes_offload" -gt 1000000000 ] && [ "$ms_offload" -lt "$TARGET_MS" ]; then
	echo "TARGET offload_worker_cpu met"
else
	echo "TARGET offload_worker_cpu MISSED"
fi
