#!/usr/bin/env bash
# Benchmark: every figure of the speed comparison in one run, each beside
# what the hardware allows, so that ratios measured together can be
# compared across days and machines.
#
#   cold images     a first request on an empty cache, the packages already
#                   in the Nix store: hello, text512m (512 MB of text:
#                   listings of hex digests) and bulk1g (1 GiB of random
#                   bytes); median of RUNS (5), the request's time as curl
#                   reports it; words512m (512 MB of words), once
#     against       tar | gzip -6 | sha256sum and tar | pigz -6 -p CORES |
#                   sha256sum over the same closure, median of RUNS (for
#                   words512m gzip -6 only, once); for the two texts also
#                   Nixery's compression (Go's compress/gzip at its
#                   default level, bench/nixery-gzip.go), once
#     and           a bare nix-build of hello, already built, median of RUNS
#   cached manifest wrk -c32 on shell/hello's manifest
#   small blob      wrk -c32 on its config blob
#   big blob        wrk -c8 on text512m's biggest layer
#     against       the same web server sending the same bytes as static
#                   files; behind lighttpd, nginx and Apache, each as its
#                   configuration in etc/ has it (Apache's workers as user
#                   nixery, through nix-daemon)
#
# Nixery itself cannot be built here (its Go modules need the network); the
# figures for it in bench/RESULTS come from a machine where it could.
#
# Prints a table and writes it into bench/RESULTS (section "Comparison").
# Exits 0 whether or not targets are met; 1 only if it could not measure.
set -eu

BENCH=compare
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/servers.sh
. "$TOP/tests/servers.sh"

RUNS=${RUNS:-5}
CORES=$(nproc)
DOCKER='Accept: application/vnd.docker.distribution.manifest.v2+json'
command -v pigz >/dev/null || die "pigz is missing (apt-get install pigz)"
command -v go >/dev/null || die "go is missing (apt-get install golang-go)"

# median: the middle of the numbers on standard input.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# seconds CMD...: wall time of CMD in seconds, and CMD's status.
seconds() {
	local start rc=0
	start=$(date +%s.%N)
	"$@" >/dev/null || rc=$?
	awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'
	return $rc
}

# layer_bytes: the layers' sizes in the manifest on standard input, summed.
layer_bytes() {
	python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))'
}

# cold IMAGE: "SECONDS BYTES", the median time of a first request on an
# empty cache and the image's layer bytes.
cold() {
	local i times=$DIR/times
	: >"$times"
	for i in $(seq "$RUNS"); do
		server_start "$DIR/cold-$i" NIX_TIMEOUT=600 || die "server did not start"
		# The request's time as curl measures it, without curl's own
		# start (about 25 ms here), which is the client's, not ours.
		curl -sf -o "$DIR/m.json" -w '%{time_total}\n' -H "$DOCKER" "$URL/v2/$1/manifests/latest" >>"$times" ||
			die "cold $1 failed: $(tail -3 "$SERVER_DIR/run/nixery-fcgi.log")"
		server_stop
		rm -rf "$DIR/cold-$i"
	done
	printf '%.3f %s\n' "$(median <"$times")" "$(layer_bytes <"$DIR/m.json")"
}

# pipeline PACKAGE COMPRESSOR...: "SECONDS BYTES", the median time of
# tar | COMPRESSOR | sha256sum over the package's closure, and the
# compressed size.
pipeline() {
	local pkg=$1 i paths times=$DIR/times
	shift
	paths=$(nix-store -qR "$(nix-build --no-out-link "$TOP/nix/demo" -A "$pkg" 2>/dev/null)")
	: >"$times"
	for i in $(seq "$RUNS"); do
		# shellcheck disable=SC2086 # the paths are store paths
		seconds bash -c 'tar -cf - "${@:2}" 2>/dev/null | $1 | tee >(sha256sum >/dev/null) | wc -c >"'"$DIR"'/bytes"' \
			bash "$*" $paths >>"$times"
	done
	echo "$(median <"$times") $(cat "$DIR/bytes")"
}

# wrk_rate CONNECTIONS URL: requests/s and bytes/s ("RPS BPS").
wrk_rate() {
	local out=$DIR/wrk.out
	wrk -t2 -c"$1" -d10s -H "$DOCKER" "$2" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
	grep -q 'Non-2xx' "$out" && die "wrk saw errors on $2: $(cat "$out")"
	awk '/^Requests\/sec:/ { r = $2 }
	     /^Transfer\/sec:/ { b = $2; u = b; sub(/^[0-9.]+/, "", u); b += 0
	                         if (u == "KB") b *= 1024; if (u == "MB") b *= 1048576; if (u == "GB") b *= 1073741824 }
	     END { printf "%.0f %.0f\n", r, b }' "$out"
}

# serving START [ARGS...]: starts a server with START (server_start,
# nginx_start, apache_start) and measures the cached manifest, the small
# and the big blob, each beside the same bytes sent by the same server as
# static files from its document root: "MANIFEST STATIC BLOB STATIC
# BIG_BPS STATIC_BPS" (requests/s, bytes/s).
serving() {
	local config big manifest manifest_static blob blob_static big_bps big_static
	"$@" NIXERY_EVAL_TTL=3600 NIX_TIMEOUT=600 || die "$1 did not start"
	curl -sf -o "$DIR/hello.json" -H "$DOCKER" "$URL/v2/shell/hello/manifests/latest" || die "$1: shell/hello failed"
	curl -sf -o "$DIR/text.json" -H "$DOCKER" "$URL/v2/text512m/manifests/latest" || die "$1: text512m failed"
	config=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])' <"$DIR/hello.json")
	big=$(python3 -c 'import json,sys; print(max(json.load(sys.stdin)["layers"], key=lambda l: l["size"])["digest"])' <"$DIR/text.json")
	cp "$DIR/hello.json" "$SERVER_DIR/storage/empty/manifest"
	cp "$SERVER_DIR/storage/blobs/sha256/${config#sha256:}" "$SERVER_DIR/storage/empty/config"
	ln "$SERVER_DIR/storage/blobs/sha256/${big#sha256:}" "$SERVER_DIR/storage/empty/big"
	read -r manifest _ < <(wrk_rate 32 "$URL/v2/shell/hello/manifests/latest")
	read -r manifest_static _ < <(wrk_rate 32 "$URL/manifest")
	read -r blob _ < <(wrk_rate 32 "$URL/v2/shell/hello/blobs/$config")
	read -r blob_static _ < <(wrk_rate 32 "$URL/config")
	read -r _ big_bps < <(wrk_rate 8 "$URL/v2/text512m/blobs/$big")
	read -r _ big_static < <(wrk_rate 8 "$URL/big")
	# (The helpers of tests/ are not written for set -e.)
	servers_stop || true
	echo "$manifest $manifest_static $blob $blob_static $big_bps $big_static"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "compare: building the packages (once)" >&2
for pkg in hello text512m words512m bulk1g; do
	nix-build --no-out-link "$TOP/nix/demo" -A "$pkg" >/dev/null 2>&1 || die "cannot build $pkg"
done

echo "compare: cold images, $RUNS runs each" >&2
read -r cold_hello _ < <(cold hello)
read -r cold_text text_bytes < <(cold text512m)
read -r cold_bulk bulk_bytes < <(cold bulk1g)
read -r cold_words words_bytes < <(RUNS=1 cold words512m)

: >"$DIR/times"
for i in $(seq "$RUNS"); do
	seconds nix-build --no-out-link "$TOP/nix/demo" -A hello >>"$DIR/times" 2>/dev/null
done
bare_hello=$(median <"$DIR/times")

echo "compare: the hardware's pipelines, $RUNS runs each" >&2
read -r gzip_text gzip_text_bytes < <(pipeline text512m gzip -6)
read -r pigz_text _ < <(pipeline text512m pigz -6 -p "$CORES")
read -r gzip_bulk _ < <(pipeline bulk1g gzip -6)
read -r pigz_bulk _ < <(pipeline bulk1g pigz -6 -p "$CORES")
GOCACHE=$DIR/go-cache GO111MODULE=off go build -o "$DIR/nixery-gzip" "$TOP/bench/nixery-gzip.go" ||
	die "cannot build bench/nixery-gzip.go"
read -r nixery_text nixery_text_bytes < <(RUNS=1 pipeline text512m "$DIR/nixery-gzip")
read -r gzip_words gzip_words_bytes < <(RUNS=1 pipeline words512m gzip -6)
read -r nixery_words nixery_words_bytes < <(RUNS=1 pipeline words512m "$DIR/nixery-gzip")

echo "compare: serving" >&2
# The web servers' users (www-data, nixery) search their way to the data.
chmod 0755 "$DIR"
unprivileged_setup "$DIR" >/dev/null || true
trap 'stop_daemon || true; bench_cleanup' EXIT
sed 's|^\t\tserver_name _;|&\n\t\troot @STORAGE_PATH@/empty;|' "$TOP/etc/nginx.conf" >"$DIR/nginx.conf"
serving server_start "$DIR/lighttpd" >"$DIR/lighttpd.served"
NGINX_CONF=$DIR/nginx.conf serving nginx_start "$DIR/nginx" >"$DIR/nginx.served"
serving apache_start "$DIR/apache" >"$DIR/apache.served"
read -r manifest_rps manifest_static blob_rps blob_static big_bps big_static <"$DIR/lighttpd.served"
read -r nginx_manifest nginx_manifest_static nginx_blob nginx_blob_static nginx_big nginx_big_static <"$DIR/nginx.served"
read -r apache_manifest apache_manifest_static apache_blob apache_blob_static apache_big apache_big_static <"$DIR/apache.served"

gb() { awk -v b="$1" 'BEGIN { printf "%.2f GB/s", b / 1e9 }'; }
table=$(cat <<EOF
  figure                         nixery-fcgi        limit                     ratio
  cold hello, median of $RUNS        ${cold_hello} s            nix-build -A hello ${bare_hello} s        $(ratio "$cold_hello" "$bare_hello")x
  cold text512m (512 MB text)    ${cold_text} s, $((text_bytes / 1000000)) MB   tar|gzip -6|sha256sum ${gzip_text} s, $((gzip_text_bytes / 1000000)) MB   $(ratio "$cold_text" "$gzip_text")x time, $(ratio "$text_bytes" "$gzip_text_bytes")x bytes
                                                    tar|pigz -6 -p$CORES|sha256sum ${pigz_text} s   $(ratio "$cold_text" "$pigz_text")x
                                                    tar|Nixery's gzip|sha256sum ${nixery_text} s, $((nixery_text_bytes / 1000000)) MB   $(ratio "$cold_text" "$nixery_text")x time, $(ratio "$text_bytes" "$nixery_text_bytes")x bytes
  cold words512m (512 MB words), once ${cold_words} s, $((words_bytes / 1000000)) MB   tar|gzip -6|sha256sum ${gzip_words} s, $((gzip_words_bytes / 1000000)) MB   $(ratio "$cold_words" "$gzip_words")x time, $(ratio "$words_bytes" "$gzip_words_bytes")x bytes
                                                    tar|Nixery's gzip|sha256sum ${nixery_words} s, $((nixery_words_bytes / 1000000)) MB   $(ratio "$cold_words" "$nixery_words")x time, $(ratio "$words_bytes" "$nixery_words_bytes")x bytes
  cold bulk1g (1 GiB random)     ${cold_bulk} s, $((bulk_bytes / 1000000)) MB   tar|gzip -6|sha256sum ${gzip_bulk} s   $(ratio "$cold_bulk" "$gzip_bulk")x
                                                    tar|pigz -6 -p$CORES|sha256sum ${pigz_bulk} s   $(ratio "$cold_bulk" "$pigz_bulk")x
  behind lighttpd
  cached manifest, wrk -c32      ${manifest_rps} req/s       static ${manifest_static} req/s         $(ratio "$manifest_rps" "$manifest_static")x
  small blob (config), wrk -c32  ${blob_rps} req/s       static ${blob_static} req/s         $(ratio "$blob_rps" "$blob_static")x
  big blob (text512m), wrk -c8   $(gb "$big_bps")          static $(gb "$big_static")           $(ratio "$big_bps" "$big_static")x
  behind nginx
  cached manifest                ${nginx_manifest} req/s       static ${nginx_manifest_static} req/s         $(ratio "$nginx_manifest" "$nginx_manifest_static")x
  small blob                     ${nginx_blob} req/s       static ${nginx_blob_static} req/s         $(ratio "$nginx_blob" "$nginx_blob_static")x
  big blob                       $(gb "$nginx_big")          static $(gb "$nginx_big_static")           $(ratio "$nginx_big" "$nginx_big_static")x
  behind Apache
  cached manifest                ${apache_manifest} req/s       static ${apache_manifest_static} req/s         $(ratio "$apache_manifest" "$apache_manifest_static")x
  small blob                     ${apache_blob} req/s       static ${apache_blob_static} req/s         $(ratio "$apache_blob" "$apache_blob_static")x
  big blob                       $(gb "$apache_big")          static $(gb "$apache_big_static")           $(ratio "$apache_big" "$apache_big_static")x
EOF
)
echo "$table"

day=$(date -u +%Y-%m-%d)
python3 - "$TOP/bench/RESULTS" "$day" "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$table" <<'PY'
import re, sys
path, day, rev, table = sys.argv[1:5]
text = open(path).read()
section = ("Comparison (bench/compare.sh, %s, at %s)\n\n%s\n" % (day, rev, table.rstrip("\n")))
pattern = re.compile(r"Comparison \(bench/compare\.sh.*?\n\n.*?(?=\n\n|\Z)", re.S)
text = pattern.sub(lambda m: section.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
PY
