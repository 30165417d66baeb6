#!/usr/bin/env bash
# A worker killed at any instant leaves the cache consistent: every blob
# the cache knows is complete and matches its digest, and the next request
# builds the image.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-crash.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
server_start "$work/srv" NIX_TIMEOUT=600 || { fail "crash: server starts"; exit 1; }
nix-build --no-out-link "$TOP/nix/demo" -A bulk500m >/dev/null 2>&1
db=$SERVER_DIR/state/cache.db

# consistent: every blob row names a complete file whose sha256 is its name,
# and every layer, image and manifest row names a known blob.
consistent() {
	local d bad=0
	for d in $(sqlite3 "$db" "select digest from blobs"); do
		f=$SERVER_DIR/storage/blobs/sha256/$d
		[ -f "$f" ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$d" ] || { echo "bad blob $d"; bad=1; }
	done
	[ "$(sqlite3 "$db" "select count(*) from layers where digest not in (select digest from blobs)
		union all select count(*) from images where docker_manifest not in (select digest from blobs)
		or oci_manifest not in (select digest from blobs)" | sort -u)" = 0 ] || { echo "dangling rows"; bad=1; }
	return $bad
}

curl -s -o /dev/null "$URL/v2/hello/manifests/latest"
for delay in 1 3 5; do
	curl -s -o /dev/null "$URL/v2/bulka/manifests/latest" &
	sleep "$delay"
	pkill -KILL -P "$(cat "$SERVER_DIR/run/lighttpd.pid")" -x nixery-fcgi
	wait
	check "crash: workers killed ${delay}s into packing leave the cache consistent" consistent
done
sleep 1
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/bulka/manifests/latest")
check "crash: after the kills the image builds ($code)" [ "$code" = 200 ]
check "crash: and the cache is consistent with it" consistent
d=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "$URL/v2/bulka/manifests/latest" |
	python3 -c 'import json,sys; print(max(json.load(sys.stdin)["layers"], key=lambda l: l["size"])["digest"])')
check "crash: the big layer it serves is complete" \
	[ "$(curl -s "$URL/v2/bulka/blobs/$d" | sha256sum | cut -d' ' -f1)" = "${d#sha256:}" ]

# What killed workers leave (a temporary blob, a GC root) goes once it is a
# day old, when workers start; fresh ones may be writes in progress.
touch -d '2 days ago' "$SERVER_DIR/storage/tmp/blob-old"
ln -s /nix/store/nonexistent "$SERVER_DIR/state/gcroots/old" && touch -h -d '2 days ago' "$SERVER_DIR/state/gcroots/old"
touch "$SERVER_DIR/storage/tmp/blob-new"
pkill -KILL -P "$(cat "$SERVER_DIR/run/lighttpd.pid")" -x nixery-fcgi
sleep 1
curl -s -o /dev/null "$URL/v2/"
sleep 1
check "crash: a day-old temporary blob is removed when workers start" test ! -e "$SERVER_DIR/storage/tmp/blob-old"
check "crash: a day-old GC root is removed when workers start" test ! -L "$SERVER_DIR/state/gcroots/old"
check "crash: a fresh temporary blob is left alone" test -e "$SERVER_DIR/storage/tmp/blob-new"
