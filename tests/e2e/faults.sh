#!/usr/bin/env bash
# Faults that heal: a lost or damaged blob, a damaged build cache, a
# database that fails, a full disk; after each the next request succeeds
# with nothing lost. And what is the user's mistake is a 4xx with Nix's
# reason, never a 5xx.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-faults.XXXXXX)
trap 'server_stop; umount "$work/full/storage" 2>/dev/null; rm -rf "$work"' EXIT
docker=application/vnd.docker.distribution.manifest.v2+json

# manifest IMAGE: the Docker manifest's body; code IMAGE: its status.
manifest() { curl -s -H "Accept: $docker" "$URL/v2/$1/manifests/latest"; }
code() { curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' -H "Accept: $docker" "$URL/v2/$1/manifests/latest"; }
layers() { python3 -c 'import json,sys; m=json.load(sys.stdin); [print(l["digest"][7:]) for l in m["layers"]]'; }
log_has() { grep -q "$1" "$SERVER_DIR/run/nixery-fcgi.log"; }
# no_host_path FILE: the file names none of this test's folders, where the
# settings point (storage, state, the package set, image.nix).
no_host_path() { ! grep -q -e "$work" -e "$TOP" "$1"; }

server_start "$work/srv" || { fail "faults: server starts"; exit 1; }
blobs=$SERVER_DIR/storage/blobs/sha256
db=$SERVER_DIR/state/cache.db

# 1. A lost blob: the image is packed again, and the pull succeeds.
pull_image cowsay "$work/first" || fail "faults: the first pull of cowsay ($(tail -2 "$work/first/pull.log"))"
before=$(manifest cowsay)
lost=$(layers <<<"$before" | head -1)
rm -f "$blobs/$lost"
# lighttpd trusts what it learned of a file for up to a second: the tag's
# file (which names the image's blobs) is not used once it sees the loss.
sleep 1.2
pulls "faults: after a layer's blob file is deleted, the next pull succeeds" cowsay "$work/healed"
check "faults: the layer is packed again, byte for byte (the same digest)" \
	[ -f "$blobs/$lost" -a "$(sha256sum <"$blobs/$lost" | cut -d' ' -f1)" = "$lost" ]
check "faults: the manifest is the same as before the loss" [ "$(manifest cowsay)" = "$before" ]
check "faults: the worker said what it rebuilt" log_has "blob $lost is missing in storage"

# A new image sharing that layer heals it too: the layer cache checks files.
shared=$(layers <<<"$(manifest figlet)" | head -1)
rm -f "$blobs/$shared"
sleep 1.2
pull_image figlet "$work/figlet" && pull_image cowsay "$work/cowsay2"
check "faults: a layer lost under two images comes back for both" \
	[ -f "$blobs/$shared" -a -f "$work/figlet/bundle/rootfs/bin/figlet" -a -f "$work/cowsay2/bundle/rootfs/bin/cowsay" ]

# A blob of the wrong size (a cut copy from a bad restore) counts as lost.
# (Restored, not cut in place: lighttpd keeps files it sent open for about
# a second, and would send from the old one in that time.) The web server
# sends a blob's file as it is, without a worker; the manifest's request
# finds it damaged, and the client's pull gets it packed again.
cut=$(layers <<<"$(manifest cowsay)" | tail -1)
head -c 10 "$blobs/$cut" >"$work/cut" && mv "$work/cut" "$blobs/$cut"
sleep 1.2
code=$(code cowsay)
check "faults: a manifest request after a blob was cut says what it packs again ($code)" \
	eval '[ "$code" = 200 ] && log_has "blob $cut is damaged in storage"'
pull_image cowsay "$work/cut" ||
	fail "faults: after a blob was cut short, the next pull succeeds ($(tail -2 "$work/cut/pull.log"))"
check "faults: after a blob was cut short, the next pull gets it whole" \
	[ "$(sha256sum <"$blobs/$cut" | cut -d' ' -f1)" = "$cut" ]

# Bit rot: other bytes, the file's time as it was written. Only verify,
# which hashes every blob, can see it; it forgets the damaged blob, and
# the next pull packs it again.
out=$(admin verify --rate 0 2>&1); rc=$?
check "faults: verify finds every blob whole (exit $rc: $out)" \
	eval '[ $rc = 0 ] && grep -q "0 damaged" <<<"$out"'
rot=$(layers <<<"$(manifest cowsay)" | head -1)
printf 'rot' | dd of="$blobs/$rot" bs=1 seek=100 conv=notrunc status=none
touch -d @1 "$blobs/$rot"
sleep 1.2
code=$(code cowsay)
check "faults: bit rot goes unseen by the check before each use ($code)" eval '[ "$code" = 200 ] && [ -f "$blobs/$rot" ]'
out=$(admin verify --rate 0 2>&1); rc=$?
check "faults: verify names the rotten blob and exits 1 (exit $rc: $out)" \
	eval '[ $rc = 1 ] && grep -q "damaged: sha256:$rot" <<<"$out"'
check "faults: and removed it, so that nothing sends it" [ ! -f "$blobs/$rot" ]
sleep 1.2
pulls "faults: after verify, the next pull succeeds" cowsay "$work/rot"
check "faults: and packed the blob again, byte for byte" \
	[ "$(sha256sum <"$blobs/$rot" 2>/dev/null | cut -d' ' -f1)" = "$rot" ]

# A lost manifest file: the image is built again.
m=$(curl -s -o /dev/null -D - -H "Accept: $docker" "$URL/v2/cowsay/manifests/latest" | tr -d '\r' |
	awk -F': ' 'tolower($1) == "docker-content-digest" {print substr($2, 8)}')
rm -f "$blobs/$m"
sleep 1.2
check "faults: a lost manifest file is written again on the next request (got $(code cowsay))" \
	[ -f "$blobs/$m" ]

# A blob that cannot be stored (a folder holds its name): 500, its message
# naming the file by its setting, STORAGE_PATH, and not by the host's path,
# which the log keeps.
stuck=$(layers <<<"$(manifest cowsay)" | head -1)
rm -f "$blobs/$stuck" && mkdir -p "$blobs/$stuck/in-the-way"
tags_forget
got=$(code cowsay)
check "faults: a blob that cannot be stored gives 500 naming STORAGE_PATH/blobs/sha256/$stuck ($got: $(head -c 300 "$work/body"))" \
	eval '[ "$got" = 500 ] && grep -q "STORAGE_PATH/blobs/sha256/$stuck" "$work/body"'
check "faults: the 500's body names no host path" no_host_path "$work/body"
check "faults: the log names the blob's file" log_has "$blobs/$stuck"
curl -s -o "$work/page" "$URL/"
check "faults: the landing page's last builds show that error without the host path" \
	eval 'grep "STORAGE_PATH/blobs/sha256/$stuck" "$work/page" >"$work/row" && no_host_path "$work/row"'
rm -rf "${blobs:?}/$stuck"
check "faults: once the folder is gone, the image is answered again ($(code cowsay))" [ "$(code cowsay)" = 200 ]

# 2. A database error that is not a miss: 503 with Retry-After, logged,
# and never a rebuild.
builds=$(builds_count)
sqlite3 "$db" "ALTER TABLE requests RENAME TO requests_away"
got=$(code cowsay)
check "faults: with the database failing, lighttpd still sends a tag it holds the file of ($got)" [ "$got" = 200 ]
# The tag files go (as they do when their time is up): from here on, the
# workers answer.
tags_forget
got=$(code cowsay)
retry=$(grep -i '^retry-after:' "$work/headers" | tr -d '\r' | awk '{print $2}')
check "faults: a failing database gives 503 with Retry-After ($got, Retry-After ${retry:-none})" \
	[ "$got" = 503 -a -n "$retry" ]
check "faults: the 503 says the cache cannot be read ($(cat "$work/body"))" grep -q 'build cache cannot be read' "$work/body"
check "faults: it is logged" log_has "build cache: no such table: requests"
sqlite3 "$db" "ALTER TABLE requests_away RENAME TO requests"
check "faults: a failing database never triggers a build ($builds before, $(builds_count) after)" \
	[ "$(builds_count)" = "$builds" ]
check "faults: once the database works again, so does the registry ($(code cowsay))" [ "$(code cowsay)" = 200 ]

# 3. A damaged page in cache.db: moved aside, a new cache, and the cached
# image is answered (built again), never 404.
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
tags_forget
pkill -KILL -P "$(cat "$SERVER_DIR/run/lighttpd.pid")" -x nixery-fcgi
size=$(stat -c %s "$db")
python3 - "$db" <<'PY'
import os, sys
# Every page but the first (the header): the tables and their indexes.
with open(sys.argv[1], "r+b") as f:
    f.seek(4096)
    f.write(os.urandom(os.path.getsize(sys.argv[1]) - 4096))
PY
got=$(code cowsay)
check "faults: with a damaged page in cache.db, a cached image is still answered 200 ($got: $(head -c 200 "$work/body"))" [ "$got" = 200 ]
check "faults: the damaged database was moved aside ($(cd "$SERVER_DIR/state" && ls -d cache.db.corrupt-* 2>/dev/null | head -1))" \
	eval 'ls "$SERVER_DIR/state"/cache.db.corrupt-* >/dev/null 2>&1'
check "faults: and said so in one log line" [ "$(grep -c 'was damaged' "$SERVER_DIR/run/nixery-fcgi.log")" = 1 ]
pull_image cowsay "$work/after-corrupt" ||
	fail "faults: after the cache was replaced, a pull succeeds ($(tail -2 "$work/after-corrupt/pull.log"))"
check "faults: the image is the same as before the damage" [ "$(manifest cowsay)" = "$(manifest cowsay)" -a -n "$size" ]

# A cache.db that is not a database at all: workers start, move it aside.
server_stop
rm -f "$SERVER_DIR/state"/cache.db*
head -c 8192 /dev/urandom >"$db"
rm -rf "$SERVER_DIR/storage/tags"
server_start "$work/srv" || fail "faults: workers start over a cache.db that is not a database"
check "faults: over a garbage cache.db the registry serves (cowsay: $(code cowsay))" [ "$(code cowsay)" = 200 ]
check "faults: the garbage was moved aside" eval 'ls "$SERVER_DIR/state"/cache.db.corrupt-* >/dev/null 2>&1'

# 4. A build failure is told to those who waited for it, not to a request
# that comes after it: that one builds again.
builds=$(builds_count)
code broken >/dev/null
code broken >/dev/null
check "faults: two requests, one after the other, for a failing build run two builds ($builds -> $(builds_count))" \
	[ "$(builds_count)" = $((builds + 2)) ]

# 5. The user's mistakes are 404 MANIFEST_UNKNOWN with Nix's reason.
mistake() {
	local image=$1 pattern=$2 got
	got=$(code "$image")
	check "faults: $image is 404 MANIFEST_UNKNOWN saying why (got $got: $(head -c 300 "$work/body"))" \
		eval '[ "$got" = 404 ] && grep -q MANIFEST_UNKNOWN "$work/body" && grep -q -- "$pattern" "$work/body"'
}
mistake removed "removed (removed has been removed from the demo package set: use hello instead)"
mistake assertfails "assertfails (assertion '(system == \\\\\"nowhere-linux\\\\\")' failed)"
mistake markedbroken "markedbroken (Package ‘markedbroken’ in nix/demo/default.nix is marked as broken, refusing to evaluate.)"
mistake hello/removed "removed has been removed"
check "faults: beside a good name, only the refused one is named" \
	eval '! grep -q "Could not find" "$work/body" && grep -q "\"packages\":\[\"removed\"\]" "$work/body"'
mistake nosuchthing/removed/assertfails "Could not find Nix packages: nosuchthing; Nix refused packages: assertfails (assertion"
check "faults: all three names are listed" grep -q '"packages":\["nosuchthing","assertfails","removed"\]' "$work/body"
check "faults: the good name alone still builds (hello: $(code hello))" [ "$(code hello)" = 200 ]
server_stop

# 6. A full disk: a JSON error saying so, no partial blob, and once there
# is room the same request succeeds. Storage on a 40 MiB file system of
# its own; the 500 MB package needs more.
nix-build --no-out-link "$TOP/nix/demo" -A bulk500m >/dev/null 2>&1
mkdir -p "$work/full/storage"
mount -t tmpfs -o size=40m tmpfs "$work/full/storage"
server_start "$work/full" || fail "faults: server starts on a small file system"
got=$(code bulk500m)
check "faults: a full disk gives 507 ($got)" [ "$got" = 507 ]
check "faults: its JSON error says storage is full ($(cat "$work/body"))" grep -q '"message":"storage is full' "$work/body"
check "faults: the 507 names STORAGE_PATH and no host path" \
	eval 'grep -q "under STORAGE_PATH" "$work/body" && no_host_path "$work/body"'
check "faults: the log names the full folder" log_has "storage is full: .*$SERVER_DIR/storage"
check "faults: nothing half-written is left in storage" [ -z "$(ls -A "$SERVER_DIR/storage/tmp")" ]
bad=0
for d in $(sqlite3 "$SERVER_DIR/state/cache.db" "select digest from blobs"); do
	f=$SERVER_DIR/storage/blobs/sha256/$d
	[ -f "$f" ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$d" ] || bad=1
done
check "faults: every blob the cache knows is whole" [ $bad = 0 ]
mount -o remount,size=1g "$work/full/storage"
got=$(code bulk500m)
check "faults: once there is room, the same request succeeds ($got)" [ "$got" = 200 ]
big=$(manifest bulk500m | python3 -c 'import json,sys; print(max(json.load(sys.stdin)["layers"], key=lambda l: l["size"])["digest"])')
check "faults: and its big layer is whole" \
	[ "$(curl -s "$URL/v2/bulk500m/blobs/$big" | sha256sum | cut -d' ' -f1)" = "${big#sha256:}" ]
