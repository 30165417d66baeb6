#!/usr/bin/env bash
# Benchmark: what serving two platforms costs (NIXERY_PLATFORMS).
#
# 1. A cold `shell/hello`, one platform (linux/amd64) against two
#    (linux/amd64 linux/arm64, an image index), in the same run, ROUNDS
#    times each, interleaved. Cold means cold everywhere: a new
#    NIXERY_DEMO_NONCE each time makes every derivation of the demo set a
#    new one (busybox too), so Nix builds the whole closure, for each
#    platform, and the registry packs it all. Target: two platforms take at
#    most 1.5x one platform (median against median).
# 2. Cached requests, through lighttpd's tag route (what a pull of a built
#    image pays): the index (OCI index Accept) of the two-platform host
#    against the manifest of the one-platform host, wrk, ROUNDS rounds
#    each, interleaved. Target: within the noise (the spread of the
#    manifest's rounds).
# 3. Two hosts of two platforms on one bucket (S3: s3rver behind the
#    signature-checking proxy, tests/buckets.sh): host A builds shell/hello's
#    index; host B, new, first pulls it (skopeo, arm64). Target: B builds
#    nothing and uploads nothing, and answers A's index.
#
# Exits 0 whether or not the targets are met; 1 only if it could not measure.
set -eu

BENCH=platforms
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/buckets.sh
. "$TOP/tests/buckets.sh"
trap 'buckets_stop; bench_cleanup' EXIT

ROUNDS=${ROUNDS:-3}
IMAGE=shell/hello
INDEX_ACCEPT='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'
DOCKER_ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
WRK_ARGS=(-t2 -c16 -d8s)

# cold PLATFORMS: seconds for a cold shell/hello on a new server.
cold() {
	local dir=$DIR/cold-$RANDOM$RANDOM start code
	server_start "$dir" NIX_TIMEOUT=900 NIXERY_EVAL_TTL=3600 NIXERY_PLATFORMS="$1" \
		NIXERY_DEMO_NONCE="bench-$RANDOM$RANDOM-$(date +%s%N)" || die "server did not start"
	start=$(date +%s.%N)
	code=$(curl -s -o "$dir/answer" -w '%{http_code}' --max-time 900 -H "$INDEX_ACCEPT" "$URL/v2/$IMAGE/manifests/latest")
	[ "$code" = 200 ] || die "cold $IMAGE for $1 answered $code: $(head -c 300 "$dir/answer")"
	awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }'
	server_stop
	rm -rf "$dir"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f", hi - lo }'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$DIR/cold1" && : >"$DIR/cold2"
for _ in $(seq "$ROUNDS"); do
	cold "linux/amd64" >>"$DIR/cold1"
	cold "linux/amd64 linux/arm64" >>"$DIR/cold2"
done
one=$(median <"$DIR/cold1")
two=$(median <"$DIR/cold2")
ratio=$(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }')

# Cached: one server of each kind, built once, then wrk in turns.
server_start "$DIR/one" NIXERY_EVAL_TTL=3600 NIXERY_PLATFORMS=linux/amd64 || die "server did not start"
one_url=$URL SERVER_ONE=$SERVER_DIR
curl -sf -o /dev/null --max-time 600 -H "$DOCKER_ACCEPT" "$one_url/v2/$IMAGE/manifests/latest" || die "cannot build $IMAGE"
server_start "$DIR/two" NIXERY_EVAL_TTL=3600 NIXERY_PLATFORMS="linux/amd64 linux/arm64" || die "server did not start"
two_url=$URL
curl -sf -o "$DIR/index" --max-time 600 -H "$INDEX_ACCEPT" "$two_url/v2/$IMAGE/manifests/latest" || die "cannot build $IMAGE"
grep -q '"manifests"' "$DIR/index" || die "the two-platform host answered no index"
sleep 1.2
rps() {
	wrk "${WRK_ARGS[@]}" -H "$2" "$1" >"$DIR/wrk" 2>&1 || die "wrk failed: $(cat "$DIR/wrk")"
	! grep -q "Non-2xx" "$DIR/wrk" || die "wrk saw errors: $(cat "$DIR/wrk")"
	awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$DIR/wrk"
}
: >"$DIR/rps-manifest" && : >"$DIR/rps-index"
for _ in $(seq "$ROUNDS"); do
	rps "$one_url/v2/$IMAGE/manifests/latest" "$DOCKER_ACCEPT" >>"$DIR/rps-manifest"
	rps "$two_url/v2/$IMAGE/manifests/latest" "$INDEX_ACCEPT" >>"$DIR/rps-index"
done
server_stop
SERVER_DIR=$SERVER_ONE server_stop
manifest_rps=$(median <"$DIR/rps-manifest")
index_rps=$(median <"$DIR/rps-index")
noise=$(spread <"$DIR/rps-manifest")
gap=$(awk -v a="$manifest_rps" -v b="$index_rps" 'BEGIN { d = a - b; printf "%.0f", d < 0 ? -d : d }')
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

# A second host of the bucket, first pulling the index host A built.
npm_tools || die "the Node packages of tests/npm did not install: $(tail -2 "$TOP/var/npm.log")"
bucket_start s3 "$DIR/bucket" || die "the bucket did not start"
server_start "$DIR/bucket/host-a" "${SETTINGS[@]}" NIX_TIMEOUT=900 NIXERY_PLATFORMS="linux/amd64 linux/arm64" ||
	die "host A did not start"
ia=$(curl -sf -D - -o /dev/null --max-time 600 -H "$INDEX_ACCEPT" "$URL/v2/$IMAGE/manifests/latest" | tr -d '\r' |
	awk 'tolower($1) == "docker-content-digest:" { print $2 }') || die "host A did not build $IMAGE"
SERVER_A=$SERVER_DIR
server_start "$DIR/bucket/host-b" "${SETTINGS[@]}" NIX_TIMEOUT=900 NIXERY_PLATFORMS="linux/amd64 linux/arm64" ||
	die "host B did not start"
clear_log
start=$(date +%s.%N)
mkdir -p "$DIR/pull"
skopeo copy --quiet --src-tls-verify=false --override-arch arm64 "docker://127.0.0.1:$PORT/$IMAGE" \
	"oci:$DIR/pull:latest" >"$DIR/pull.log" 2>&1 || die "skopeo failed on host B: $(tail -2 "$DIR/pull.log")"
second_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
ib=$(curl -sf -D - -o /dev/null -H "$INDEX_ACCEPT" "$URL/v2/$IMAGE/manifests/latest" | tr -d '\r' |
	awk 'tolower($1) == "docker-content-digest:" { print $2 }')
second_builds=$(builds_count)
second_uploads=$(requests PUT /nixery/layers/)
server_stop
SERVER_DIR=$SERVER_A server_stop
buckets_stop

cat <<EOF
== platforms: one name, two platforms
machine:      $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); load before: ${load_before}
cold shell/hello, one platform (s):  $(tr '\n' ' ' <"$DIR/cold1")-> median ${one}
cold shell/hello, two platforms (s): $(tr '\n' ' ' <"$DIR/cold2")-> median ${two}
cached manifest, one platform (req/s, wrk ${WRK_ARGS[*]}): $(tr '\n' ' ' <"$DIR/rps-manifest")-> median ${manifest_rps}, spread ${noise}
cached index, two platforms (req/s):   $(tr '\n' ' ' <"$DIR/rps-index")-> median ${index_rps}
second host:  skopeo --override-arch arm64 from host B, new on host A's bucket: ${second_s} s; its index ${ib:-none}, A's ${ia}
RESULT platforms_cold_ratio ${ratio}x (target <= 1.5x)
RESULT platforms_cached_index_gap ${gap} req/s (target within the manifest's spread, ${noise} req/s)
TARGET platforms_cold_ratio $(verdict "$ratio <= 1.5")
RESULT platforms_second_host_builds ${second_builds} builds, ${second_uploads} uploads (target 0, 0)
TARGET platforms_cached_index_gap $(verdict "$gap <= $noise")
TARGET platforms_second_host_builds_nothing $(verdict "$second_builds == 0 && $second_uploads == 0")
TARGET platforms_second_host_same_index $( [ -n "$ib" ] && [ "$ib" = "$ia" ] && echo met || echo MISSED)
EOF
exit 0
