#!/usr/bin/env bash
# Benchmark: the bucket backends, each against its bucket as the tests run
# it (S3: s3rver behind the signature-checking proxy; GCS: the local
# stand-in of its XML API, tests/buckets.sh).
#
#   second host      skopeo pulls shell/hello from host B, a new host on the
#                    bucket host A filled (its own empty cache each round),
#                    against a pull of the same image cached on host A;
#                    median of RUNS (5), alternating. B must run no Nix
#                    build and upload nothing.
#   redirects        wrk -c32 on a layer blob: the worker's 303 to a
#                    signed URL (no request to the bucket)
#   upload memory    bench/pack-memory.sh on the bucket: peak RSS of the
#                    worker packing and uploading a 1 GiB layer
#
# Targets (issue "Buckets"): B's first pull within 2x A's cached one;
# 10,000 redirects/s or more; peak RSS under 32 MiB.
# Exits 0 whether or not targets are met; 1 only if it could not measure.
set -eu

BENCH=buckets
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/buckets.sh
. "$TOP/tests/buckets.sh"
RUNS=${RUNS:-5}
trap 'buckets_stop; bench_cleanup' EXIT

npm_tools || die "the Node packages of tests/npm did not install: $(tail -2 "$TOP/var/npm.log")"
command -v wrk >/dev/null || die "wrk is not installed"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# pull_s HOST-URL DIR: seconds skopeo takes to copy shell/hello.
pull_s() {
	local t
	rm -rf "$2"
	mkdir -p "$2"
	t=$(now)
	skopeo copy --quiet --src-tls-verify=false "docker://${1#http://}/shell/hello" "oci:$2:latest" \
		>"$2.log" 2>&1 || die "skopeo failed on $1: $(tail -2 "$2.log")"
	since "$t"
}

for kind in s3 gcs; do
	bucket_start "$kind" "$DIR/$kind" || die "the $kind bucket did not start"
	server_start "$DIR/$kind/host-a" "${SETTINGS[@]}" || die "host A did not start"
	A=$URL A_DIR=$SERVER_DIR
	pull_s "$A" "$DIR/pull" >/dev/null
	cached=() second=() builds=0 uploads=0
	for run in $(seq "$RUNS"); do
		cached+=("$(pull_s "$A" "$DIR/pull")")
		server_start "$DIR/$kind/host-b$run" "${SETTINGS[@]}" || die "host B did not start"
		clear_log
		second+=("$(pull_s "$URL" "$DIR/pull")")
		builds=$((builds + $(builds_count)))
		uploads=$((uploads + $(requests PUT /nixery/layers/)))
		server_stop
	done
	c=$(printf '%s\n' "${cached[@]}" | median)
	s=$(printf '%s\n' "${second[@]}" | median)
	ratio=$(awk -v s="$s" -v c="$c" 'BEGIN { printf "%.2f", s / c }')
	echo "RESULT ${kind}_second_host_first_pull ${s} s vs ${c} s cached on the first host = ${ratio}x" \
		"(target < 2x; runs: B ${second[*]}, A ${cached[*]}; B's Nix builds: $builds, uploads: $uploads)"

	SERVER_DIR=$A_DIR URL=$A
	d=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"$A/v2/shell/hello/manifests/latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
	wrk -t2 -c32 -d10s "$A/v2/shell/hello/blobs/$d" >"$DIR/wrk.out" 2>&1 || die "wrk failed: $(cat "$DIR/wrk.out")"
	rps=$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$DIR/wrk.out")
	code=$(curl -s -o /dev/null -w '%{http_code}' "$A/v2/shell/hello/blobs/$d")
	echo "RESULT ${kind}_redirects ${rps} req/s, answer $code (target >= 10000)"
	server_stop

	rss=$(bash "$TOP/bench/pack-memory.sh" "${SETTINGS[@]}" | awk '/^RESULT pack_worker_peak_rss/ { print $3 }')
	echo "RESULT ${kind}_upload_1g_worker_peak_rss ${rss:-?} MiB (target < 32)"
	buckets_stop
done
