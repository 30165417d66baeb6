#!/usr/bin/env bash
# Buckets end to end, for both bucket backends:
#   s3   s3rver (npm), a real S3 server, behind tests/s3-proxy, which checks
#        every request's SigV4 signature with AWS's own signer (s3rver 3.7.1
#        does not) and injects faults;
#   gcs  tests/gcs-standin, a local STAND-IN for Google Cloud Storage's XML
#        API (no GCS can run here), which checks every V4 signature.
# What a user and an operator rely on: --check-config reaches the bucket and
# says what is wrong; skopeo pulls through 303 redirects to signed URLs and
# verifies every digest, umoci unpacks, the image runs; layers of several
# parts arrive whole; a second host takes images over without building; two
# hosts asked at once build once; faults are retried, then named; an upload
# cut short leaves no object under a name its bytes do not have; hosts
# serving two platforms share image indexes and each platform's image.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/buckets.sh"
work=$(mktemp -d /tmp/nixery-e2e-buckets.XXXXXX)
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local d
	for d in "$work"/*/host-*; do [ -d "$d" ] && SERVER_DIR=$d server_stop; done
	buckets_stop
	rm -rf "$work"
}
trap cleanup EXIT
BIN=$BUILD/nixery-fcgi
DOCKER=application/vnd.docker.distribution.manifest.v2+json

if ! npm_tools; then
	fail "buckets: the Node packages install from tests/npm ($(tail -2 "$TOP/var/npm.log"))"
	echo "1 failed"
	exit 1
fi

# The buckets refuse what real ones refuse: their own checks, by name.
for fixture in gcs-standin s3-proxy; do
	bash "$TOP/tests/$fixture/selftest.sh" 2>&1 |
		sed -n -e "s/^ok - /PASS: $fixture: /p" -e "s/^not ok - /FAIL: $fixture: /p"
done

# host NAME: a registry host (lighttpd, workers, its own state) on the
# bucket; sets URL and SERVER_DIR.
host() {
	server_start "$BDIR/host-$1" "${SETTINGS[@]}"
}

# both_ask IMAGE: hosts A and B asked for IMAGE at once (answers in
# $BDIR/ma and mb); echoes how many Nix builds the two ran for it.
both_ask() {
	local before pa
	before=$(( $(SERVER_DIR=$BDIR/host-a builds_count) + $(SERVER_DIR=$BDIR/host-b builds_count) ))
	curl -s -o "$BDIR/ma" -H "Accept: $DOCKER" "$A/v2/$1/manifests/latest" &
	pa=$!
	curl -s -o "$BDIR/mb" -H "Accept: $DOCKER" "$B/v2/$1/manifests/latest" &
	wait $pa $!
	echo $(( $(SERVER_DIR=$BDIR/host-a builds_count) + $(SERVER_DIR=$BDIR/host-b builds_count) - before ))
}

manifest_code() {
	curl -s -o "$2" -w '%{http_code}' -H "Accept: $DOCKER" "$URL/v2/$1/manifests/latest"
}

# An image's key does not depend on where its blobs are kept: a prebuild
# on a storage of its own says the keys of the images claims() uses, so
# that a test can write their claims before a host is asked for them.
mkdir -p "$work/keys"
env NIXERY_CONFIG=/dev/null STORAGE_PATH="$work/keys/storage" NIXERY_STATE_DIR="$work/keys/state" \
	NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" "$BUILD/nixery-admin" prebuild figlet cowsay nano \
	>"$work/keys/log" 2>&1
image_key() {
	sqlite3 "$work/keys/state/cache.db" "SELECT image_key FROM builds WHERE name = '$1:latest' AND status = 'ok'"
}
claim() { echo "{\"host\":\"$1\",\"pid\":1,\"until\":$2}"; }
text_sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

# claims KIND: on host B, a claim (claims/<key>) is removed only by a host
# that holds it, and only while it is the claim that host read or made.
claims() {
	local kind=$1 k held code asked until done_at
	URL=$B SERVER_DIR=$BDIR/host-b

	# The bucket refused host B's claim: it builds without one, and leaves
	# alone the claim another host holds.
	k=$(image_key figlet)
	held=$(claim elsewhere $(($(date +%s) + 600)))
	put_object "claims/$k" "$held"
	fault '{"status":503,"count":5,"method":"PUT","path_prefix":"/nixery/claims/"}'
	code=$(manifest_code figlet "$BDIR/c1")
	clear_faults
	check "$kind: a host whose claim the bucket would not take builds the image all the same ($code)" [ "$code" = 200 ]
	check "$kind: and does not remove the claim another host holds" [ "$(object_sha "claims/$k")" = "$(text_sha "$held")" ]

	# A claim that ran out is removed only while it is the claim read: here
	# another host claims anew while host B's removal is on its way.
	k=$(image_key cowsay)
	put_object "claims/$k" "$(claim gone $(($(date +%s) - 60)))"
	clear_log
	fault '{"delay_ms":2000,"count":1,"method":"DELETE","path_prefix":"/nixery/claims/"}'
	manifest_code cowsay "$BDIR/c2" >"$BDIR/c2.code" &
	asked=$!
	for _ in $(seq 200); do [ "$(requests DELETE "/nixery/claims/$k")" -ge 1 ] && break; sleep 0.1; done
	until=$(($(date +%s) + 4))
	put_object "claims/$k" "$(claim newcomer $until)"
	wait $asked
	done_at=$(date +%s) code=$(cat "$BDIR/c2.code")
	check "$kind: a claim that ran out, claimed anew while host B removed it, is not removed ($(requests DELETE "/nixery/claims/$k" 412) removals refused)" \
		[ "$(requests DELETE "/nixery/claims/$k" 412)" = 1 ]
	check "$kind: host B waited for the new claim to run out, then built the image ($code, $((done_at - until)) s after)" \
		[ "$code" = 200 -a "$done_at" -ge "$until" ]

	# Host B's own claim, taken by another host while B still holds the
	# lock (its lease ran out, say): B's release leaves the other's alone.
	k=$(image_key nano)
	clear_log
	fault '{"delay_ms":2000,"count":1,"method":"PUT","path_prefix":"/nixery/images/"}'
	manifest_code nano "$BDIR/c3" >"$BDIR/c3.code" &
	asked=$!
	for _ in $(seq 300); do [ "$(requests PUT "/nixery/images/$k")" -ge 1 ] && break; sleep 0.1; done
	held=$(claim successor $(($(date +%s) + 600)))
	put_object "claims/$k" "$held"
	wait $asked
	check "$kind: a host whose claim another took over builds the image ($(cat "$BDIR/c3.code"))" \
		[ "$(cat "$BDIR/c3.code")" = 200 ]
	check "$kind: and its release leaves the other host's claim alone" [ "$(object_sha "claims/$k")" = "$(text_sha "$held")" ]
}

# platforms KIND: two hosts serving linux/amd64 and linux/arm64 on the
# bucket: the second takes over every platform's image the first built
# (or took over: host A built shell/hello's amd64 image), and makes the
# same index of them, building nothing.
platforms() {
	local kind=$1 pa pb ia ib
	local index='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'
	server_start "$BDIR/host-pa" "${SETTINGS[@]}" NIX_TIMEOUT=600 NIXERY_PLATFORMS="linux/amd64 linux/arm64" ||
		{ fail "$kind: a host of two platforms starts"; return; }
	pa=$SERVER_DIR
	ia=$(curl -s -o "$BDIR/ia" -D - -H "$index" "$URL/v2/shell/hello/manifests/latest" | tr -d '\r' |
		awk 'tolower($1) == "docker-content-digest:" { print $2 }')
	check "$kind: a host of two platforms answers an index of both ($(head -c 200 "$BDIR/ia"))" \
		eval 'grep -q "\"architecture\":\"arm64\"" "$BDIR/ia" && grep -q "\"architecture\":\"amd64\"" "$BDIR/ia"'
	check "$kind: it built arm64's image alone, and took amd64's over from host A ($(builds_count) builds)" \
		[ "$(builds_count)" = 1 ]
	server_start "$BDIR/host-pb" "${SETTINGS[@]}" NIX_TIMEOUT=600 NIXERY_PLATFORMS="linux/amd64 linux/arm64" ||
		{ fail "$kind: a second host of two platforms starts"; return; }
	pb=$SERVER_DIR
	clear_log
	ib=$(curl -s -o "$BDIR/ib" -D - -H "$index" "$URL/v2/shell/hello/manifests/latest" | tr -d '\r' |
		awk 'tolower($1) == "docker-content-digest:" { print $2 }')
	check "$kind: a second host first pulling the index answers the same index ($ia, $ib)" \
		eval '[ -n "$ia" ] && [ "$ia" = "$ib" ] && cmp -s "$BDIR/ia" "$BDIR/ib"'
	check "$kind: and builds nothing ($(builds_count) builds, $(requests PUT /nixery/layers/) layers uploaded)" \
		[ "$(builds_count)$(requests PUT /nixery/layers/)" = 00 ]
	rm -rf "$BDIR/pull-arm"
	mkdir -p "$BDIR/pull-arm"
	if skopeo copy --quiet --src-tls-verify=false --override-arch arm64 "docker://127.0.0.1:$PORT/shell/hello" \
		"oci:$BDIR/pull-arm/oci:latest" >"$BDIR/pull-arm/log" 2>&1; then
		pass "$kind: skopeo pulls the arm64 image from the second host, through the bucket"
	else
		fail "$kind: skopeo pulls the arm64 image from the second host, through the bucket ($(tail -2 "$BDIR/pull-arm/log"))"
	fi
	SERVER_DIR=$pa server_stop
	SERVER_DIR=$pb server_stop
	URL=$B SERVER_DIR=$BDIR/host-b
}

suite() {
	local kind=$1 BDIR=$work/$1 A B out code d loc
	bucket_start "$kind" "$BDIR" || { fail "$kind: the bucket starts"; return; }

	# --check-config reaches the bucket.
	mkdir -p "$BDIR/check"
	out=$(env "${SETTINGS[@]}" NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
		STORAGE_PATH="$BDIR/check" NIXERY_STATE_DIR="$BDIR/check" "$BIN" --check-config 2>&1)
	check "$kind: --check-config writes to the bucket and finds no problem ($(tail -2 <<<"$out" | head -1))" \
		grep -q '^no problems found' <<<"$out"
	out=$(env "${WRONG[@]}" NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
		STORAGE_PATH="$BDIR/check" NIXERY_STATE_DIR="$BDIR/check" "$BIN" --check-config 2>&1)
	check "$kind: --check-config says the bucket refused the credentials" grep -q 'refused the credentials' <<<"$out"
	out=$(env "${SETTINGS[@]}" S3_BUCKET=no-such-bucket GCS_BUCKET=no-such-bucket NIXERY_CONFIG=/dev/null \
		NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" STORAGE_PATH="$BDIR/check" \
		NIXERY_STATE_DIR="$BDIR/check" "$BIN" --check-config 2>&1)
	check "$kind: --check-config says a bucket does not exist" grep -q 'no-such-bucket does not exist' <<<"$out"

	# A pull through redirects, every request to the bucket signed.
	host a || { fail "$kind: host A starts"; return; }
	A=$URL
	clear_log
	pulls "$kind: skopeo pulls shell/hello through the bucket's signed redirects and umoci unpacks it" \
		shell/hello "$BDIR/pull-a"
	check "$kind: the image runs (chroot ROOTFS hello)" \
		[ "$(chroot "$BDIR/pull-a/bundle/rootfs" hello 2>&1)" = "Hello, world!" ]
	check "$kind: no request to the bucket was refused (none unsigned, none badly signed)" \
		[ "$(requests PUT / 403)$(requests GET / 403)$(requests POST / 403)" = 000 ]
	check "$kind: skopeo fetched the layers from the bucket itself" [ "$(requests GET /nixery/layers/)" -ge 2 ]
	manifest_code shell/hello "$BDIR/m" >/dev/null
	d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$BDIR/m")
	curl -s -D "$BDIR/h" -o /dev/null "$A/v2/shell/hello/blobs/$d"
	loc=$(awk 'tolower($1) == "location:" { print $2 }' "$BDIR/h" | tr -d '\r')
	check "$kind: a blob GET answers 303 See Other" grep -q '^HTTP/1.1 303' "$BDIR/h"
	check "$kind: to the object layers/<hex>, signed" \
		grep -Eq "^http://$BUCKET_HOST/nixery/layers/${d#sha256:}\?.*X-(Amz|Goog)-Signature=[0-9a-f]{64,}" <<<"$loc"
	check "$kind: with the digest header" grep -qi "^docker-content-digest: $d" "$BDIR/h"
	check "$kind: the object's bytes have the digest" [ "sha256:$(curl -s "$loc" | sha256sum | cut -d' ' -f1)" = "$d" ]
	check "$kind: every object layers/<hex> holds bytes of that digest" objects_match_names "$kind" "$BDIR"

	# A layer of three parts.
	clear_log
	pulls "$kind: a 12 MiB layer, uploaded in parts, is pulled and verified by skopeo" bulk12m "$BDIR/pull-big"
	check "$kind: the large layer went in parts to a staging object ($(requests PUT /nixery/staging/) PUTs)" \
		[ "$(requests PUT /nixery/staging/)" -ge 3 ]
	check "$kind: every object layers/<hex> still holds bytes of that digest" objects_match_names "$kind" "$BDIR"

	# A second host takes A's image over.
	host b || { fail "$kind: host B starts"; return; }
	B=$URL
	clear_log
	pulls "$kind: host B, with its own cache, serves the image host A built" shell/hello "$BDIR/pull-b"
	check "$kind: host B ran no Nix build for it ($(builds_count) builds)" [ "$(builds_count)" = 0 ]
	check "$kind: host B packed and uploaded nothing" [ "$(requests PUT /nixery/layers/)" = 0 ]
	check "$kind: host B says it took the image over" grep -q 'taken over from the bucket' "$SERVER_DIR"/run/*.log
	d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"])' "$BDIR/m")
	check "$kind: host B had the manifest and the config from A's record, not a GET each" \
		[ "$(requests GET "/nixery/layers/$(sha256sum <"$BDIR/m" | cut -d' ' -f1)")$(requests GET "/nixery/layers/${d#sha256:}")" = 00 ]
	check "$kind: host B answers the manifest host A built" \
		eval '[ "$(manifest_code shell/hello "$BDIR/mb")" = 200 ] && cmp -s "$BDIR/m" "$BDIR/mb"'

	# A layer in use outlives the bucket's age rule: found over a week old
	# when the image's use is next recorded, it is copied onto itself.
	d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' "$BDIR/m")
	age_object "$kind" "$BDIR" "layers/$d" 10
	# Two hours on: the image's use was recorded that long ago, and the
	# tag's file lighttpd answered from (an hour at most) is gone.
	sqlite3 "$SERVER_DIR/state/cache.db" "UPDATE images SET used = used - 7200"
	tags_forget
	clear_log
	code=$(manifest_code shell/hello "$BDIR/mr")
	check "$kind: an image used again, one of its layer objects 10 days old, is answered ($code)" [ "$code" = 200 ]
	check "$kind: and that object is copied onto itself, which renews its age" \
		[ "$(requests PUT "/nixery/layers/$d" 200)" = 1 ]
	check "$kind: no other object is ($(requests PUT /nixery/layers/) copies)" [ "$(requests PUT /nixery/layers/)" = 1 ]
	check "$kind: the renewed object holds the same bytes" objects_match_names "$kind" "$BDIR"
	check "$kind: the log says so" grep -q "renewed layers/$d in the bucket" "$SERVER_DIR"/run/*.log
	# s3rver keeps an object's time on a copy onto itself (S3 renews it):
	# young again, it is not copied at every later look.
	[ "$kind" = s3 ] && touch "$BDIR/data/nixery/layers/$d._S3rver_object"

	# A layer the bucket lost (a lifecycle rule): a new host builds the
	# image again rather than take it over broken.
	if [ "$kind" = s3 ]; then
		d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][-1]["digest"])' "$BDIR/m")
		rm -f "$BDIR/data/nixery/layers/${d#sha256:}"._S3rver_*
		host c || fail "$kind: host C starts"
		pulls "$kind: a host finding a layer missing from the bucket serves the image all the same" \
			shell/hello "$BDIR/pull-c"
		check "$kind: by building it again ($(builds_count) builds)" [ "$(builds_count)" = 1 ]
		check "$kind: which put the layer back" test -e "$BDIR/data/nixery/layers/${d#sha256:}._S3rver_object"
		server_stop

		# A record whose copies of the manifests and config were damaged:
		# refused for their digests, and the bucket's own objects read.
		key=$(sed -n 's/.*image \([0-9a-f]\{64\}\): taken over from the bucket.*/\1/p' "$BDIR"/host-b/run/*.log)
		sed -i 's/schemaVersion\\":2/schemaVersion\\":3/g' "$BDIR/data/nixery/images/$key._S3rver_object"
		host d || fail "$kind: host D starts"
		check "$kind: a host given a damaged record answers the manifest host A built" \
			eval '[ "$(manifest_code shell/hello "$BDIR/md")" = 200 ] && cmp -s "$BDIR/m" "$BDIR/md"'
		check "$kind: having refused the record's copy for its digest" grep -q 'record holds a damaged copy' \
			"$SERVER_DIR"/run/*.log
		check "$kind: and built nothing ($(builds_count) builds)" [ "$(builds_count)" = 0 ]
		server_stop
		URL=$B SERVER_DIR=$BDIR/host-b
	fi

	# Both asked for a new image at once: built once.
	out=$(both_ask shell/moreutils)
	check "$kind: two hosts asked for a new image at once build it once ($out builds)" [ "$out" = 1 ]
	check "$kind: and both answer the same manifest" cmp -s "$BDIR/ma" "$BDIR/mb"
	# A store without conditional creation (the proxy stops emulating
	# it, as s3rver has none): both build, and no harm is done.
	if [ "$kind" = s3 ]; then
		curl -s -X POST -d '{"enabled":false}' "$CONTROL/conditional" >/dev/null
		out=$(both_ask hello)
		check "$kind: without conditional creation both hosts may build ($out builds), and answer the same manifest" \
			eval '[ "$out" -ge 1 ] && cmp -s "$BDIR/ma" "$BDIR/mb" && grep -q schemaVersion "$BDIR/ma"'
		check "$kind: and the twice-built objects still hold bytes of their names" objects_match_names "$kind" "$BDIR"
		curl -s -X POST -d '{"enabled":true}' "$CONTROL/conditional" >/dev/null
	fi

	[ "$kind" = s3 ] && platforms "$kind"
	claims "$kind"

	# Faults, on host A.
	URL=$A SERVER_DIR=$BDIR/host-a
	clear_log
	fault '{"status":503,"count":2,"method":"PUT","path_prefix":"/nixery/layers/"}'
	code=$(manifest_code bulksmall "$BDIR/f1")
	check "$kind: two 503s from the bucket are retried and the image is built ($code)" [ "$code" = 200 ]
	check "$kind: the two failed uploads were tried again" [ "$(requests PUT /nixery/layers/ 503)" = 2 ]

	clear_log
	fault '{"status":429,"count":1,"method":"PUT","path_prefix":"/nixery/layers/"}'
	code=$(manifest_code libmulti "$BDIR/f1")
	check "$kind: a 429 (slow down) is waited out and the image is built ($code, $(requests PUT /nixery/layers/ 429) 429)" \
		[ "$code" = 200 -a "$(requests PUT /nixery/layers/ 429)" = 1 ]

	clear_log
	fault '{"status":503,"count":100,"method":"PUT","path_prefix":"/nixery/layers/"}'
	code=$(manifest_code diamond "$BDIR/f2")
	check "$kind: a bucket that stays busy gives a 503 ($code: $(head -c 300 "$BDIR/f2"))" [ "$code" = 503 ]
	check "$kind: naming the bucket" grep -q 'bucket nixery cannot be reached or is busy' "$BDIR/f2"
	# Layers are packed side by side: each one in flight is tried 5 times.
	t=$(tries PUT /nixery/layers/)
	check "$kind: after 5 tries of each layer in flight, not a storm (tries: $t)" \
		eval '[ -n "$t" ] && [ "$(tr " " "\n" <<<"$t" | sort -u)" = 5 ] && [ "$(wc -w <<<"$t")" -le "$(nproc)" ]'
	clear_faults
	code=$(manifest_code diamond "$BDIR/f3")
	check "$kind: once the bucket is back the same image is built ($code)" [ "$code" = 200 ]

	clear_log
	fault '{"status":403,"count":100,"method":"PUT","path_prefix":"/nixery/layers/"}'
	code=$(manifest_code coreutils "$BDIR/f4")
	check "$kind: credentials refused give an error ($code) that says so" \
		eval '[ "$code" = 500 ] && grep -q "refused the credentials" "$BDIR/f4"'
	t=$(tries PUT /nixery/layers/)
	check "$kind: a 403 is not retried (tries: $t)" \
		eval '[ -n "$t" ] && [ "$(tr " " "\n" <<<"$t" | sort -u)" = 1 ] && [ "$(wc -w <<<"$t")" -le "$(nproc)" ]'
	clear_faults

	# An upload cut short, again and again, then once.
	SERVER_DIR=$BDIR/host-b URL=$B
	fault '{"drop":true,"count":100,"method":"PUT","path_prefix":"/nixery/staging/"}'
	code=$(manifest_code bulk11m "$BDIR/f5")
	check "$kind: uploads cut short every time fail the request ($code)" [ "$code" = 503 ]
	check "$kind: and leave no object under a name its bytes do not have" objects_match_names "$kind" "$BDIR"
	clear_faults
	curl -s -X DELETE "$CONTROL/log" >/dev/null
	fault '{"drop":true,"count":1,"method":"PUT","path_prefix":"/nixery/staging/"}'
	code=$(manifest_code bulk11m "$BDIR/f6")
	d=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(max(m["layers"], key=lambda l: l["size"])["digest"])' "$BDIR/f6" 2>/dev/null)
	check "$kind: an upload cut short once is sent again ($code)" [ "$code" = 200 ]
	check "$kind: and its layer arrives whole" \
		[ "sha256:$(curl -sL "$B/v2/bulk11m/blobs/$d" | sha256sum | cut -d' ' -f1)" = "$d" ]
	check "$kind: every object layers/<hex> holds bytes of that digest, after the faults" \
		objects_match_names "$kind" "$BDIR"
	clear_faults
	SERVER_DIR=$BDIR/host-a server_stop
	SERVER_DIR=$BDIR/host-b server_stop
}

suite s3
suite gcs

# Public URLs instead of presigned ones, where an operator asks for them.
URL= SERVER_DIR=
bucket_start s3 "$work/public" --public &&
	server_start "$work/public/host-p" "${SETTINGS[@]}" S3_USE_PRESIGNED_URLS=false
manifest_code shell/hello "$work/public/m" >/dev/null
d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$work/public/m" 2>/dev/null)
loc=$(curl -s -D - -o /dev/null "$URL/v2/shell/hello/blobs/$d" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
check "s3: S3_USE_PRESIGNED_URLS=false redirects to the object's public URL ($loc)" \
	[ "$loc" = "http://$BUCKET_HOST/nixery/layers/${d#sha256:}" ]
pulls "s3: skopeo pulls through public URLs from a public bucket" shell/hello "$work/public/pull"
server_stop

# GCS without a key file, as on Google's own machines: requests carry the
# metadata server's access token (the stand-in plays that server too, and
# takes only the tokens it gave out); blobs redirect to public URLs.
URL= SERVER_DIR=
bucket_start gcs "$work/keyless" --public || fail "gcs: a public bucket starts"
keyless=(GCE_METADATA_HOST="$BUCKET_HOST")
for kv in "${SETTINGS[@]}"; do
	[ "${kv%%=*}" = GOOGLE_APPLICATION_CREDENTIALS ] || keyless+=("$kv")
done
mkdir -p "$work/keyless/check"
keyless_check() {
	env "${keyless[@]}" "$@" NIXERY_CONFIG=/dev/null NIXERY_PKGS_PATH="$TOP/nix/demo" NIXERY_NIX_DIR="$TOP/nix" \
		STORAGE_PATH="$work/keyless/check" NIXERY_STATE_DIR="$work/keyless/check" "$BIN" --check-config 2>&1
}
out=$(keyless_check)
check "gcs: without a key file, --check-config reaches the bucket with the metadata server's token" \
	grep -q '^no problems found' <<<"$out"
out=$(keyless_check GCE_METADATA_HOST=127.0.0.1:1)
check "gcs: without a key file or a metadata server, --check-config says what to set" \
	grep -q 'no access token from the metadata server.*set GOOGLE_APPLICATION_CREDENTIALS' <<<"$out"
server_start "$work/keyless/host" "${keyless[@]}"
clear_log
pulls "gcs: without a key file, skopeo pulls shell/hello through public URLs" shell/hello "$work/keyless/pull"
check "gcs: the uploads were taken, with the token ($(requests PUT /nixery/layers/ 200) PUTs, none refused)" \
	eval '[ "$(requests PUT /nixery/layers/ 200)" -ge 2 ] && [ "$(requests PUT / 401)$(requests PUT / 403)" = 00 ]'
check "gcs: the token was asked for once, and kept ($(requests GET /computeMetadata/) asks)" \
	[ "$(requests GET /computeMetadata/)" = 1 ]
manifest_code shell/hello "$work/keyless/m" >/dev/null
d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$work/keyless/m" 2>/dev/null)
loc=$(curl -s -D - -o /dev/null "$URL/v2/shell/hello/blobs/$d" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
check "gcs: without a key file a blob redirects to the object's public URL ($loc)" \
	[ "$loc" = "http://$BUCKET_HOST/nixery/layers/${d#sha256:}" ]
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Authorization: Bearer ya29.made-up' --data x \
	"http://$BUCKET_HOST/nixery/layers/made-up")
check "gcs-standin: a token it did not give out is refused ($code)" [ "$code" = 401 ]
server_stop
