#!/usr/bin/env bash
# A worker killed at any instant leaves the cache consistent: every blob
# the cache knows is complete and matches its digest, nothing half-written
# stays in storage, its Nix processes die with it, and the next request
# builds the image.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-crash.XXXXXX)
trap 'server_stop; pkill -f nixery-sleeper; rm -rf "$work"' EXIT
nonce=$RANDOM$RANDOM
server_start "$work/srv" NIX_TIMEOUT=600 NIXERY_TEST_NONCE="$nonce" || { fail "crash: server starts"; exit 1; }
SERVER_KIND=lighttpd
# Text: its 512 MB take seconds to pack (to about 165 MB), where random
# bytes are only stored.
nix-build --no-out-link "$TOP/nix/demo" -A words512m >/dev/null 2>&1
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

# packing_worker BYTES: the worker writing a temporary blob, once it holds
# more than BYTES and is still growing (an O_TMPFILE blob has no name: it
# is found among the worker's descriptors). Empty after 120 s.
packing_worker() {
	local p fd size size2
	for _ in $(seq 1200); do
		for p in $(worker_pids); do
			for fd in /proc/"$p"/fd/*; do
				case $(readlink "$fd" 2>/dev/null) in
				"$SERVER_DIR/storage/tmp/"*)
					size=$(stat -L -c %s "$fd" 2>/dev/null || echo 0)
					[ "$size" -gt "$1" ] || continue
					sleep 0.2
					size2=$(stat -L -c %s "$fd" 2>/dev/null || echo 0)
					[ "$size2" -gt "$size" ] && { echo "$p $size2"; return; } ;;
				esac
			done
		done
		sleep 0.1
	done
}

curl -s -o /dev/null "$URL/v2/hello/manifests/latest"
for at in 1048576 52428800 125829120; do
	curl -s -o /dev/null "$URL/v2/words512m/manifests/latest" &
	set -- $(packing_worker "$at")
	if [ -z "${1:-}" ]; then
		fail "crash: a worker starts packing the 512 MB layer"
		wait
		continue
	fi
	kill -KILL "$1"
	wait
	check "crash: a worker killed while packing (its blob at $2 bytes) leaves the cache consistent" consistent
	left=$(ls -A "$SERVER_DIR/storage/tmp")
	check "crash: and nothing half-written in storage (tmp holds: ${left:-nothing})" [ -z "$left" ]
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/words512m/manifests/latest")
check "crash: after the kills the image builds ($code)" [ "$code" = 200 ]
check "crash: and the cache is consistent with it" consistent
d=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "$URL/v2/words512m/manifests/latest" |
	python3 -c 'import json,sys; print(max(json.load(sys.stdin)["layers"], key=lambda l: l["size"])["digest"])')
check "crash: the big layer it serves is complete" \
	[ "$(curl -s "$URL/v2/words512m/blobs/$d" | sha256sum | cut -d' ' -f1)" = "${d#sha256:}" ]

# A worker killed in the middle of a Nix build: its Nix processes go too.
curl -s -o /dev/null "$URL/v2/sleeper/manifests/latest" &
for _ in $(seq 300); do pgrep -f nixery-sleeper >/dev/null && break; sleep 0.1; done
check "crash: a build of the sleeper is running" pgrep -f nixery-sleeper >/dev/null
for p in $(worker_pids); do
	pgrep -P "$p" -x nix-build >/dev/null && victim=$p
done
kill -KILL "${victim:-0}"
wait
gone=no
for _ in $(seq 50); do
	pgrep -r RSD -f 'nixery-sleeper|nix-build .*image.nix' >/dev/null || { gone=yes; break; }
	sleep 0.1
done
check "crash: 5 s after a worker is killed mid-build, none of its Nix processes is left ($(pgrep -r RSD -af 'nixery-sleeper|nix-build' | head -3))" \
	[ "$gone" = yes ]

# What writers that died in older versions left (a named temporary file,
# unlocked), and the GC roots of a build nobody runs, go when workers
# start, however fresh.
touch "$SERVER_DIR/storage/tmp/blob-left"
mkdir -p "$SERVER_DIR/state/gcroots/$(printf 'a%.0s' $(seq 64))"
ln -s /nix/store/nonexistent "$SERVER_DIR/state/gcroots/$(printf 'a%.0s' $(seq 64))/result"
pkill -KILL -P "$(cat "$SERVER_DIR/run/lighttpd.pid")" -x nixery-fcgi
sleep 1
curl -s -o /dev/null "$URL/v2/"
sleep 1
check "crash: an abandoned temporary file is removed when workers start" test ! -e "$SERVER_DIR/storage/tmp/blob-left"
check "crash: the GC roots of a build that is not running are released when workers start" \
	test ! -e "$SERVER_DIR/state/gcroots/$(printf 'a%.0s' $(seq 64))"
