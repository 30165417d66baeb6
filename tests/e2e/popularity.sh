#!/usr/bin/env bash
# Popularity data: computed from a package set's closures, read from a file
# or URL, refreshed on a TTL, and never a reason for a request to fail.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-pop.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
DOCKER=application/vnd.docker.distribution.manifest.v2+json

"$TOP/nix/popularity.sh" "$TOP/nix/demo" cowsay figlet hello >"$work/pop.json"
check "popularity: libgreet is in 2 of cowsay, figlet, hello" grep -q '"libgreet": 2' "$work/pop.json"
check "popularity: busybox is in all 3" grep -q '"busybox": 3' "$work/pop.json"
check "popularity: paths in one closure only are left out" sh -c "! grep -q cowsay '$work/pop.json'"
# shellcheck disable=SC2046
"$TOP/nix/popularity.sh" "$TOP/nix/demo" $(cat "$TOP/nix/demo/popular-packages") >"$work/demo.json"
check "popularity: nix/demo/popularity.json is what the tool computes for the demo set" \
	cmp -s "$work/demo.json" "$TOP/nix/demo/popularity.json"

# store_paths_per_layer IMAGE: for each layer, the store paths it holds.
layers_of() {
	curl -s -H "Accept: $DOCKER" "$URL/v2/$1/manifests/latest" >"$work/m"
	for d in $(python3 -c 'import json,sys; [print(l["digest"]) for l in json.load(open(sys.argv[1]))["layers"]]' "$work/m"); do
		curl -s "$URL/v2/$1/blobs/$d" | tar -tzf - | sed -n 's|^nix/store/[0-9a-z]\{32\}-\([^/]*\)/\{0,1\}$|\1|p' | sort | tr '\n' ' '
		echo
	done
}

echo '{"libgreet": 1000}' >"$work/popular.json"
server_start "$work/srv1" NIX_POPULARITY_URL="$work/popular.json" || { fail "popularity: server starts"; exit 1; }
layers_of cowsay >"$work/layers1"
check "popularity: a path with popularity >= 100 gets a layer of its own" grep -qx 'libgreet ' "$work/layers1"
check "popularity: the data was loaded" grep -q "popularity data from $work/popular.json: 1 paths" "$SERVER_DIR/run/nixery-fcgi.log"
# figlet shares libgreet with cowsay: the same layer, packed once, stored once.
layers_of figlet >"$work/layers-figlet"
check "popularity: figlet's image has the libgreet layer too" grep -qx 'libgreet ' "$work/layers-figlet"
shared=$(sqlite3 "$SERVER_DIR/state/cache.db" "select digest from layers" | while read -r d; do
	curl -s "$URL/v2/figlet/blobs/sha256:$d" | tar -tzf - | grep -q -- '-libgreet/$' && echo "$d"; done)
check "popularity: one layer row holds libgreet" [ "$(echo "$shared" | grep -c .)" = 1 ]
curl -s -H "Accept: $DOCKER" "$URL/v2/cowsay/manifests/latest" >"$work/m-cowsay"
curl -s -H "Accept: $DOCKER" "$URL/v2/figlet/manifests/latest" >"$work/m-figlet"
check "popularity: both manifests name that one blob" grep -q "$shared" "$work/m-cowsay" "$work/m-figlet"
# The layers of figlet that cowsay's image did not have: exactly what
# figlet's build packed.
new_bytes=$(python3 -c '
import json, sys
cow = {l["digest"] for l in json.load(open(sys.argv[1]))["layers"]}
fig = json.load(open(sys.argv[2]))["layers"]
print(sum(l["size"] for l in fig if l["digest"] not in cow))' "$work/m-cowsay" "$work/m-figlet")
packed=$(sqlite3 "$SERVER_DIR/state/cache.db" "select packed from builds where packages like '%figlet%'")
check "popularity: the second image packed only what the first did not have ($packed = $new_bytes bytes)" [ "$packed" = "$new_bytes" ]
server_stop

echo '{"libgreet": "many"' >"$work/broken.json"
server_start "$work/srv2" NIX_POPULARITY_URL="$work/broken.json" || { fail "popularity: server starts"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/cowsay/manifests/latest")
check "popularity: a malformed file does not fail the request ($code)" [ "$code" = 200 ]
check "popularity: a malformed file logs a clear warning" \
	grep -q "cannot use popularity data from $work/broken.json.*popularity 1 for every path" "$SERVER_DIR/run/nixery-fcgi.log"
layers_of cowsay >"$work/layers2"
check "popularity: without data libgreet shares cowsay's layer" sh -c "! grep -qx 'libgreet ' '$work/layers2'"
server_stop

server_start "$work/srv3" NIX_POPULARITY_URL="http://127.0.0.1:1/popularity.json" || { fail "popularity: server starts"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/figlet/manifests/latest")
check "popularity: an unreachable URL does not fail the request ($code)" [ "$code" = 200 ]
check "popularity: an unreachable URL logs a warning" grep -q "cannot use popularity data from http://127.0.0.1:1" "$SERVER_DIR/run/nixery-fcgi.log"
server_stop

# Refresh: with a TTL of 1 s, a later build downloads the data again.
server_start "$work/srv4" NIX_POPULARITY_URL="$work/popular.json" NIXERY_POPULARITY_TTL=1 NIXERY_THREADS=1 || { fail "popularity: server starts"; exit 1; }
curl -s -o /dev/null "$URL/v2/cowsay/manifests/latest"
echo '{"libgreet": 1000, "busybox": 500}' >"$work/popular.json"
sleep 2
for image in figlet hello diamond nano; do
	curl -s -o /dev/null "$URL/v2/$image/manifests/latest"
done
log=$SERVER_DIR/run/nixery-fcgi.log
reloaded=0
for pid in $(sed -n 's/.*nixery-fcgi\[\([0-9]*\)\] info: popularity data from .*: 1 paths/\1/p' "$log"); do
	grep -q "nixery-fcgi\[$pid\] info: popularity data from $work/popular.json: 2 paths" "$log" && reloaded=1
done
check "popularity: a worker downloads the data again after its TTL" [ $reloaded = 1 ]
