#!/usr/bin/env bash
# With offload switched off the worker streams blobs itself; a worker stops
# cleanly on SIGTERM.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-stream.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
server_start "$work/srv" NIXERY_BLOB_OFFLOAD=none || { fail "stream: server starts"; exit 1; }

curl -s -o "$work/m" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"$URL/v2/bulksmall/manifests/latest"
ok=1
for d in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); [print(l["digest"]) for l in m["layers"]]' "$work/m"); do
	curl -s -D "$work/h" -o "$work/blob" "$URL/v2/bulksmall/blobs/$d"
	[ "sha256:$(sha256sum <"$work/blob" | cut -d' ' -f1)" = "$d" ] || ok=0
	grep -qi '^x-sendfile' "$work/h" && ok=0
	[ "$(grep -i '^content-length:' "$work/h" | tr -d '\r' | awk '{print $2}')" = "$(stat -c %s "$work/blob")" ] || ok=0
done
check "stream: with NIXERY_BLOB_OFFLOAD=none layers stream through FastCGI, exact and complete" [ $ok = 1 ]
server_stop

# SIGTERM: a worker on its own socket exits 0, promptly.
mkdir -p "$work/alone/storage" "$work/alone/state"
STORAGE_PATH=$work/alone/storage NIXERY_STATE_DIR=$work/alone/state NIXERY_PKGS_PATH=$TOP/nix/demo \
	"$BUILD/nixery-fcgi" --listen "$work/alone/sock" 2>"$work/alone/log" &
pid=$!
for _ in $(seq 50); do [ -S "$work/alone/sock" ] && break; sleep 0.1; done
kill -TERM $pid
status=timeout
for _ in $(seq 50); do
	if ! kill -0 $pid 2>/dev/null; then wait $pid; status=$?; break; fi
	sleep 0.1
done
check "stream: a worker exits with status 0 within 5 s of SIGTERM (got $status)" [ "$status" = 0 ]

# Workers sharing one listening socket (spawn-fcgi -F, systemd): stopping
# one leaves the socket to the others.
mkdir -p "$work/shared/storage" "$work/shared/state"
STORAGE_PATH=$work/shared/storage NIXERY_STATE_DIR=$work/shared/state NIXERY_PKGS_PATH=$TOP/nix/demo \
NIXERY_NIX_DIR=$TOP/nix NIXERY_CONFIG=/dev/null \
	spawn-fcgi -s "$work/shared/sock" -F 2 -P "$work/shared/pid" -- "$BUILD/nixery-fcgi" >/dev/null 2>&1
sleep 1
pids=$(tr '\n' ' ' <"$work/shared/pid")
fcgi_get() {
	env -i REQUEST_METHOD=GET REQUEST_URI=/v2/ cgi-fcgi -bind -connect "$work/shared/sock" 2>&1 | head -1
}
first=${pids%% *}
kill -TERM "$first"
sleep 1
ok=1
for _ in 1 2 3 4; do case $(fcgi_get) in Status:\ 200*) ;; *) ok=0 ;; esac; done
check "stream: after one of two workers on a shared socket stops, the other still serves" [ $ok = 1 ]
kill -TERM $pids 2>/dev/null
