#!/usr/bin/env bash
# The operators' tool, nixery-admin, beside a running registry: prebuild
# fills the cache without HTTP; gc forgets images unused for the window and
# removes exactly the blobs only they named, and run in a loop during a
# storm of builds it leaves every image pullable; status shows the images.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-admin.XXXXXX)
trap 'server_stop; kill $gc_loop 2>/dev/null; rm -rf "$work"' EXIT
gc_loop=
docker=application/vnd.docker.distribution.manifest.v2+json

# status and gc --dry-run change nothing: before the registry has ever
# started (no folders, no cache), they say there is nothing yet, and
# create nothing.
mkdir "$work/fresh"
fresh_admin() {
	env NIXERY_CONFIG=/dev/null STORAGE_PATH="$work/fresh/storage" NIXERY_STATE_DIR="$work/fresh/state" \
		NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" "$BUILD/nixery-admin" "$@"
}
out=$(fresh_admin status 2>&1)
status=$?
check "admin: status before the registry ever ran exits 0 and says nothing is built yet ($status: $out)" \
	eval '[ $status = 0 ] && grep -q "nothing is built yet" <<<"$out"'
out=$(fresh_admin gc --dry-run 2>&1)
status=$?
check "admin: so does gc --dry-run ($status: $out)" eval '[ $status = 0 ] && grep -q "nothing is built yet" <<<"$out"'
check "admin: and neither created a folder or a file ($(ls -A "$work/fresh" | tr '\n' ' '))" \
	[ -z "$(ls -A "$work/fresh")" ]
mkdir "$work/fresh/state"
out=$(fresh_admin status 2>&1)
check "admin: a state folder without cache.db is no different ($(ls -A "$work/fresh/state" | tr '\n' ' '))" \
	eval '[ -z "$(ls -A "$work/fresh/state")" ] && [ ! -e "$work/fresh/storage" ] && grep -q "nothing is built yet" <<<"$out"'

server_start "$work/srv" || { fail "admin: server starts"; exit 1; }
db=$SERVER_DIR/state/cache.db
blobs=$SERVER_DIR/storage/blobs/sha256

# The blobs an image's manifests name: both manifests, config, layers.
image_blobs() {
	local m
	m=$(curl -s -H "Accept: $docker" "$URL/v2/$1/manifests/latest")
	{
		printf "%s" "$m" | sha256sum | cut -d" " -f1
		curl -s -H "Accept: application/vnd.oci.image.manifest.v1+json" "$URL/v2/$1/manifests/latest" | sha256sum | cut -d' ' -f1
		echo "$m" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["config"]["digest"][7:]); [print(l["digest"][7:]) for l in m["layers"]]'
	} | sort -u
}

# prebuild: built without HTTP, then served with no build.
out=$(admin prebuild cowsay figlet shell/hello nosuchpkg 2>/dev/null)
status=$?
echo "$out"
check "admin: prebuild prints a line for each image and a total" \
	eval '[ "$(grep -c "^cowsay:latest built in\|^figlet:latest built in\|^shell/hello:latest built in" <<<"$out")" = 3 ] && grep -q "^3 of 4 images ready" <<<"$out"'
check "admin: an image that cannot be built is named with its reason, and the exit status says so" \
	eval 'grep -q "^nosuchpkg:latest failed: Could not find Nix packages: nosuchpkg" <<<"$out" && [ $status = 1 ]'
builds=$(builds_count)
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/cowsay/manifests/latest")
check "admin: a prebuilt image is served without a build ($code, $builds builds before, $(builds_count) after)" \
	[ "$code" = 200 -a "$(builds_count)" = "$builds" ]
out=$(admin prebuild --from - <<<"# warm these
figlet
shell/hello   # and this" 2>/dev/null)
check "admin: prebuild --from - reads images a line, skipping comments: both cached" \
	eval '[ "$(grep -c " cached, sha256:" <<<"$out")" = 2 ]'

find "$SERVER_DIR/state" "$SERVER_DIR/storage" | sort >"$work/files-before"
out=$(admin status 2>/dev/null)
check "admin: status lists each image with its names" \
	eval 'grep -q " cowsay:latest$" <<<"$out" && grep -q " figlet:latest$" <<<"$out" && grep -q " shell/hello:latest$" <<<"$out"'
admin gc --dry-run >/dev/null 2>&1
find "$SERVER_DIR/state" "$SERVER_DIR/storage" | sort >"$work/files-after"
check "admin: status and gc --dry-run on a registry create and remove no file ($(diff "$work/files-before" "$work/files-after" | grep '^[<>]' | head -3 | tr '\n' ' '))" \
	cmp -s "$work/files-before" "$work/files-after"

# gc: cowsay unused for 40 days goes, with exactly the blobs only it had.
cowsay=$(image_blobs cowsay) others=$(image_blobs figlet; image_blobs shell/hello)
expected=$(comm -23 <(echo "$cowsay") <(echo "$others" | sort -u))
sqlite3 "$db" "UPDATE images SET used = used - 40 * 86400 WHERE image_key IN (SELECT image_key FROM tags WHERE name = 'cowsay')"
ls "$blobs" | sort >"$work/before"
out=$(admin gc --dry-run 2>/dev/null)
check "admin: gc --dry-run says what would go and removes nothing ($out)" \
	eval 'grep -q "would remove 1 images not used for 30 days, $(echo "$expected" | wc -l) blobs" <<<"$out" && [ "$(ls "$blobs" | sort)" = "$(cat "$work/before")" ]'
out=$(admin gc 2>/dev/null)
ls "$blobs" | sort >"$work/after"
removed=$(comm -23 "$work/before" "$work/after")
check "admin: gc removes exactly the blobs only the expired image named ($(echo "$removed" | wc -l) removed, $(echo "$expected" | wc -l) expected)" \
	[ -n "$expected" -a "$removed" = "$expected" ]
check "admin: and says so ($out)" grep -q "removed 1 images not used for 30 days, $(echo "$expected" | wc -l) blobs" <<<"$out"
check "admin: no row is left for a removed blob" \
	[ "$(for d in $removed; do sqlite3 "$db" "select count(*) from blobs where digest = '$d'"; done | sort -u)" = 0 ]
check "admin: the expired image is gone from the catalog" eval '! curl -s "$URL/v2/_catalog" | grep -q cowsay'
for image in figlet shell/hello cowsay; do
	pulls "admin: after gc, $image pulls (cowsay is built again)" "$image" "$work/pull-${image//\//-}"
done

# gc in a loop while ten cold images build: every image still pulls.
nonce=$RANDOM$RANDOM
mkdir -p "$work/pkgs"
{
	echo "args@{ ... }: let demo = import $TOP/nix/demo args; in demo // {"
	for i in $(seq 0 9); do
		echo "  gc$i = demo.mkDemo { name = \"gc$i-$nonce\"; deps = [ demo.libgreet ]; script = \"sleep 1; mkdir -p \$out/share; echo \$deps $i > \$out/share/gc$i\"; };"
	done
	echo "}"
} >"$work/pkgs/default.nix"
server_stop
server_start "$work/srv" NIXERY_PKGS_PATH="$work/pkgs"
(while :; do NIXERY_PKGS_PATH="$work/pkgs" admin gc --keep-days 1 >>"$work/gc.log" 2>&1 || echo "gc failed: $?" >>"$work/gc.log"; done) &
gc_loop=$!
for i in $(seq 0 9); do
	curl -s -o /dev/null -w '%{http_code}\n' "$URL/v2/gc$i/manifests/latest" >"$work/storm$i" &
done
wait $(jobs -p | grep -v "^$gc_loop$")
kill $gc_loop
wait $gc_loop 2>/dev/null
gc_loop=
runs=$(grep -c "^removed" "$work/gc.log")
check "admin: gc ran again and again during the storm ($runs runs), without an error" \
	eval '[ "$runs" -ge 2 ] && ! grep -q "gc failed\|error:" "$work/gc.log"'
ok=1
for i in $(seq 0 9); do
	pull_image "gc$i" "$work/storm-pull$i" || { ok=0; echo "gc$i: $(tail -2 "$work/storm-pull$i/pull.log")"; }
done
check "admin: every image of the storm pulls afterwards, every digest verified ($(cat "$work"/storm? | sort | uniq -c | tr -s ' \n' ' '))" [ $ok = 1 ]
