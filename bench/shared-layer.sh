#!/usr/bin/env bash
# Benchmark: a second image sharing a 500 MB dependency with a first one.
#
# What is measured: on a fresh server (empty cache), a cold
# `GET /v2/bulka/manifests/latest`, then `GET /v2/bulkb/manifests/latest`.
# bulka and bulkb are 1 MiB each and both depend on bulk500m (500 MiB of
# incompressible data); a closure over 100 MB gets a layer of its own, so the
# first request packs that layer (tar + gzip + 2 x sha256 + write) and the
# second must find it in the layers table and only pack what is its own.
# Both packages are realised in the Nix store before the server starts, so
# neither request runs a Nix build: what is left is evaluation, realising
# (a no-op), closure query, layer planning, packing and the manifests.
#
# Reported for each request: wall time (curl's time_total) and, from its row
# in the builds table, `seconds` (realise + pack + manifests, without the
# evaluation) and `packed` (compressed bytes of layers newly packed).
# Also checked: both manifests name the same digest for their biggest layer,
# and that layer is stored once: one blob over 100 MB in storage/blobs/sha256,
# named by that digest and with that content (sha256sum), and the blob store
# holds about one copy of the data, not two.
#
# Targets: first/second wall time >= 5x; the second build packs < 10 MB.
# Exits 0 whether or not the targets are met; 1 only if it could not measure.
set -eu

BENCH=shared-layer
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

FIRST=bulka
SECOND=bulkb
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
TARGET_RATIO=5
TARGET_SECOND_PACKED=$((10 * 1000 * 1000))   # 10 MB
BIG=$((100 * 1000 * 1000))                    # a blob over this is "the big layer"
MAX_REQUEST_S=120    # keeps the whole script under 3 minutes



mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# Nix build time is excluded: both images' packages are in the store first.
realise_start=$(date +%s.%N)
nix-build --no-out-link "$TOP/nix/demo" -A "$FIRST" -A "$SECOND" >"$DIR/realise.log" 2>&1 ||
	die "cannot realise $FIRST and $SECOND: $(tail -5 "$DIR/realise.log")"
realise_s=$(awk -v a="$realise_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

server_start "$DIR" NIX_TIMEOUT=900 || die "server did not start"
STORE=$SERVER_DIR/storage/blobs/sha256
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# get IMAGE: GET its manifest into $DIR/IMAGE.json; sets CODE and WALL (s).
get() {
	local out
	out=$(curl -s -o "$DIR/$1.json" -w '%{http_code} %{time_total}' --max-time "$MAX_REQUEST_S" \
		-H "$ACCEPT" "$URL/v2/$1/manifests/latest") || true
	read -r CODE WALL <<<"${out:-000 0}"
	WALL=$(awk -v t="$WALL" 'BEGIN { printf "%.2f", t }')
}

# build_row IMAGE: "seconds packed status" of the image's build row.
build_row() {
	sqlite3 -separator ' ' "$SERVER_DIR/state/cache.db" \
		"SELECT round(coalesce(seconds, 0), 2), coalesce(packed, 0), status FROM builds
		 WHERE packages LIKE '%\"$1\"%' ORDER BY id DESC LIMIT 1" 2>/dev/null || true
}

# layers IMAGE: "digest size" of each layer of the manifest, biggest first.
layers() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for l in sorted(m["layers"], key=lambda l: -l["size"]):
    print(l["digest"].split(":", 1)[1], l["size"])' "$DIR/$1.json" 2>/dev/null || true
}

get "$FIRST"
code1=$CODE wall1=$WALL
[ "$code1" = 200 ] || die "$FIRST answered $code1 after $wall1 s: $(head -c 300 "$DIR/$FIRST.json" 2>/dev/null)"
blobs_between=$(find "$STORE" -type f | wc -l)
get "$SECOND"
code2=$CODE wall2=$WALL
[ "$code2" = 200 ] || die "$SECOND answered $code2 after $wall2 s: $(head -c 300 "$DIR/$SECOND.json" 2>/dev/null)"

read -r sec1 packed1 status1 < <(build_row "$FIRST") || true
read -r sec2 packed2 status2 < <(build_row "$SECOND") || true
: "${sec1:=0}" "${packed1:=0}" "${status1:=none}" "${sec2:=0}" "${packed2:=0}" "${status2:=none}"
builds=$(builds_count)

layers "$FIRST" >"$DIR/$FIRST.layers"
layers "$SECOND" >"$DIR/$SECOND.layers"
read -r big1 size1 <"$DIR/$FIRST.layers" || true
read -r big2 size2 <"$DIR/$SECOND.layers" || true
nlayers1=$(wc -l <"$DIR/$FIRST.layers")
nlayers2=$(wc -l <"$DIR/$SECOND.layers")
# Layers both manifests list (by digest).
common=$(sort "$DIR/$FIRST.layers" "$DIR/$SECOND.layers" | cut -d' ' -f1 | uniq -d | wc -l)
if [ -n "${big1:-}" ] && [ "$big1" = "${big2:-}" ]; then same_digest=yes; else same_digest=no; fi

# The big layer on disk: blobs over $BIG bytes, and whether it is the one named.
big_blobs=$(find "$STORE" -type f -size +"$((BIG / 1024))"k | wc -l)
blobs_after=$(find "$STORE" -type f | wc -l)
store_bytes=$(find "$STORE" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }')
tmp_left=$(find "$SERVER_DIR/storage/tmp" -type f 2>/dev/null | wc -l)
if [ -n "${big1:-}" ] && [ -f "$STORE/$big1" ]; then
	disk_size=$(stat -c %s "$STORE/$big1")
	disk_hash=$(sha256sum "$STORE/$big1" | cut -d' ' -f1)
	[ "$disk_hash" = "$big1" ] && hash_ok=yes || hash_ok="NO ($disk_hash)"
else
	disk_size=0 hash_ok="no such blob"
fi
# Stored once: one big blob, it is the shared one, with the right content, and
# the store is not holding a second copy (it holds less than 1.5 big layers).
if [ "$same_digest" = yes ] && [ "$big_blobs" -eq 1 ] && [ "$hash_ok" = yes ] &&
	[ "$disk_size" = "$size1" ] && [ "$store_bytes" -lt $((disk_size * 3 / 2)) ]; then
	stored_once=yes
else
	stored_once=no
fi

ratio=$(awk -v a="$wall1" -v b="$wall2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
build_ratio=$(awk -v a="$sec1" -v b="$sec2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
mbps=$(awk -v b="$packed1" -v s="$sec1" 'BEGIN { printf "%.1f", (s > 0 ? b / 1048576 / s : 0) }')
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }
yesno() { if [ "$1" = yes ]; then echo met; else echo MISSED; fi; }

cat <<EOF
== shared-layer: cold GET /v2/$FIRST then /v2/$SECOND (manifests/latest), sharing bulk500m
binary:       $(readlink -f "$BUILD/nixery-fcgi")
machine:      $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
settings:     NIX_TIMEOUT=900, otherwise defaults; load before: ${load_before}
nix-build:    $FIRST $SECOND realised first (${realise_s} s), so no Nix build in either request
$FIRST:        HTTP $code1, ${wall1} s wall; build row: ${status1}, ${sec1} s, packed ${packed1} bytes ($(mib "$packed1") MiB, ${mbps} MiB/s); ${nlayers1} layers
$SECOND:        HTTP $code2, ${wall2} s wall; build row: ${status2}, ${sec2} s, packed ${packed2} bytes ($(mib "$packed2") MiB); ${nlayers2} layers
ratio:        wall ${ratio}x, build rows (seconds) ${build_ratio}x; ${builds} build rows
big layer:    $FIRST sha256:${big1:-none} (${size1:-0} bytes)
              $SECOND sha256:${big2:-none} (${size2:-0} bytes); same: ${same_digest}; ${common} layer(s) in common
blob store:   ${big_blobs} blob(s) over $((BIG / 1000000)) MB; the shared one: ${disk_size} bytes on disk, sha256 matches: ${hash_ok}
              ${blobs_between} blobs after $FIRST, ${blobs_after} after $SECOND, $(mib "$store_bytes") MiB in all; ${tmp_left} file(s) left in storage/tmp
RESULT shared_first_seconds ${wall1} s (no target)
RESULT shared_second_seconds ${wall2} s (no target)
RESULT shared_first_packed_bytes ${packed1} bytes (no target)
RESULT shared_second_packed_bytes ${packed2} bytes (target < ${TARGET_SECOND_PACKED} bytes)
RESULT shared_speedup ${ratio} x (target >= ${TARGET_RATIO} x)
RESULT shared_layer_stored_once ${stored_once} (target yes)
TARGET shared_speedup $(verdict "$ratio >= $TARGET_RATIO")
TARGET shared_second_packed_bytes $(verdict "$packed2 < $TARGET_SECOND_PACKED")
TARGET shared_layer_stored_once $(yesno "$stored_once")
EOF
exit 0
