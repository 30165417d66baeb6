#!/usr/bin/env bash
# With offload switched off the worker streams blobs itself. (Stopping a
# worker is tests/e2e/stop.sh, with builds in flight.)
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
