#!/usr/bin/env bash
# Eight clients ask at once for an image nobody built yet: one Nix build,
# one answer for all.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-conc.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
# Eight clients from one address: no one client's quota (access.sh) here.
server_start "$work/srv" NIXERY_MAX_BUILDS_PER_CLIENT=0 || { fail "concurrency: server starts"; exit 1; }
# Both worker processes opened the fresh database at once; both must serve.
for _ in $(seq 50); do [ "$(grep -c 'serving with 16 threads' "$SERVER_DIR/run/nixery-fcgi.log")" = 2 ] && break; sleep 0.1; done
check "concurrency: both worker processes start on a fresh cache" \
	[ "$(grep -c 'serving with 16 threads' "$SERVER_DIR/run/nixery-fcgi.log")" = 2 ]

for i in $(seq 8); do
	curl -s -D "$work/h$i" -o "$work/b$i" -w '%{http_code}\n' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"$URL/v2/cowsay/figlet/manifests/latest" >"$work/code$i" &
done
wait
codes=$(cat "$work"/code* | sort -u | tr '\n' ' ')
digests=$(grep -hi '^docker-content-digest' "$work"/h* | tr -d '\r' | sort -u | wc -l)
check "concurrency: all 8 concurrent cold requests succeed (codes: $codes)" [ "$codes" = "200 " ]
check "concurrency: all 8 get the same manifest digest" [ "$digests" = 1 ]
check "concurrency: exactly one Nix build ran ($(builds_count))" [ "$(builds_count)" = 1 ]

# Two different images sharing a big dependency nobody packed yet, asked for
# at once: the shared 500 MB layer is packed by one build only.
curl -s -o /dev/null "$URL/v2/bulka/manifests/latest" &
curl -s -o /dev/null "$URL/v2/bulkb/manifests/latest" &
wait
packed=$(sqlite3 "$SERVER_DIR/state/cache.db" "select sum(packed) from builds where packages like '%bulk%'")
big=$(sqlite3 "$SERVER_DIR/state/cache.db" "select max(size) from layers")
check "concurrency: a layer two cold images share is packed once ($packed bytes packed, layer $big)" \
	[ "$big" -gt 500000000 -a "$packed" -lt $((big + 20000000)) ]
