#!/usr/bin/env bash
# A tag's manifest, once a worker has answered it, is sent by lighttpd from
# the tag's file (etc/lighttpd-files.lua) until its time is up: the same
# bytes and headers the worker gives, for every Accept a client sends;
# never an expired answer, nor one whose blobs are lost; no other file is
# reached through the route; gc removes the tag files.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-tagfiles.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
docker=application/vnd.docker.distribution.manifest.v2+json
oci=application/vnd.oci.image.manifest.v1+json

# manifest_requests: the manifest requests the workers have answered.
manifest_requests() {
	curl -s "$URL/metrics" | awk '/^nixery_requests_total\{route="manifest"/ { n += $2 } END { print n + 0 }'
}
# get NAME OUT [CURL ARGS...]: the manifest of NAME:latest, its headers in
# OUT.h (lower-case names, no Date or Server) and its body in OUT.
get() {
	local name=$1 out=$2
	shift 2
	curl -s -D "$out.raw" -o "$out" "$@" "$URL/v2/$name/manifests/latest" >/dev/null
	tr -d '\r' <"$out.raw" | awk -F': ' 'NR > 1 && NF > 1 { print tolower($1) ": " $2 }' |
		grep -v -e '^date:' -e '^server:' -e '^etag:' -e '^last-modified:' -e '^accept-ranges:' | sort >"$out.h"
}
header() { awk -F': ' -v h="$2" 'tolower($1) == tolower(h) { print $2 }' "$1.h"; }

server_start "$work/srv" NIXERY_EVAL_TTL=3600 || { fail "tagfiles: server starts"; exit 1; }
blobs=$SERVER_DIR/storage/blobs/sha256
tags=$SERVER_DIR/storage/tags

get shell/hello "$work/first" -H "Accept: $docker"
check "tagfiles: a worker's answer leaves the tag's file" [ -f "$tags/shell/hello/@latest" ]

# Every Accept a client sends, answered from the file and by a worker (a
# query string keeps a request off the route): the same bytes and headers.
n=0
for accept in "$docker" "$oci" "$docker, $oci" "$oci, $docker" "$oci,$docker" "  $oci , $docker" \
	"APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON" "application/json" "*/*" \
	"$oci;q=0.5, $docker" "$docker;q=0.1, $oci;q=0.9" "$oci, $docker;q=1.0" ""; do
	n=$((n + 1))
	before=$(manifest_requests)
	get shell/hello "$work/file$n" -H "Accept: $accept"
	after=$(manifest_requests)
	get shell/hello "$work/worker$n" -H "Accept: $accept" -G -d from=worker
	case $accept in
	*';'*) want="a worker, which weighs q=" ;;
	*) want="lighttpd" ;;
	esac
	if [ "$want" = lighttpd ]; then
		check "tagfiles: Accept '$accept' is answered without a worker ($before before, $after after)" \
			[ "$before" = "$after" ]
	else
		check "tagfiles: Accept '$accept' goes to $want ($before before, $after after)" \
			[ "$after" = $((before + 1)) ]
	fi
	check "tagfiles: Accept '$accept': the same manifest as the worker's ($(header "$work/file$n" content-type))" \
		cmp -s "$work/file$n" "$work/worker$n"
	check "tagfiles: Accept '$accept': the same headers as the worker's ($(tr '\n' ' ' <"$work/file$n.h"))" \
		cmp -s "$work/file$n.h" "$work/worker$n.h"
done
check "tagfiles: the answer's digest is its body's" \
	[ "$(header "$work/file1" docker-content-digest)" = "sha256:$(sha256sum <"$work/file1" | cut -d' ' -f1)" ]
check "tagfiles: the answer varies by Accept" [ "$(header "$work/file1" vary)" = Accept ]

before=$(manifest_requests)
curl -s -I -D "$work/head.raw" -o /dev/null -H "Accept: $oci" "$URL/v2/shell/hello/manifests/latest"
check "tagfiles: a HEAD gives the OCI manifest's digest and length, without a worker" \
	eval '[ "$(manifest_requests)" = "$before" ] &&
		grep -qi "^docker-content-digest: $(header "$work/file2" docker-content-digest)" "$work/head.raw" &&
		grep -qi "^content-length: $(stat -c %s "$work/file2")" "$work/head.raw"'
etag=$(tr -d '\r' <"$work/head.raw" | awk -F': ' 'tolower($1) == "etag" { print $2 }')
code=$(curl -s -o "$work/cond" -w '%{http_code}' -H "Accept: $oci" -H "If-None-Match: $etag" \
	"$URL/v2/shell/hello/manifests/latest")
check "tagfiles: a GET with If-None-Match: its ETag gets 304 ($code)" [ -n "$etag" -a "$code" = 304 -a ! -s "$work/cond" ]
code=$(curl -s -o "$work/put" -w '%{http_code}' -X PUT --data '{}' "$URL/v2/shell/hello/manifests/latest")
check "tagfiles: a PUT still gets the registry's 405 UNSUPPORTED ($code)" \
	eval '[ "$code" = 405 ] && grep -q UNSUPPORTED "$work/put"'

# Past its time the file is not used: a worker answers, and renews it.
line=$(cat "$tags/shell/hello/@latest")
echo "$(($(date +%s) - 1)) ${line#* }" >"$tags/shell/hello/@latest"
sleep 1.2 # lighttpd's script keeps a tag's verdict for the rest of the second
before=$(manifest_requests)
get shell/hello "$work/expired" -H "Accept: $docker"
check "tagfiles: past its time, the tag's file is not used ($before before, $(manifest_requests) after)" \
	[ "$(manifest_requests)" = $((before + 1)) ]
check "tagfiles: the worker gave it a new time" \
	[ "$(cut -d' ' -f1 "$tags/shell/hello/@latest")" -gt "$(date +%s)" ]

# A damaged file, or one naming a manifest that is not there: a worker.
echo "not a tag file" >"$tags/shell/hello/@latest"
sleep 1.2
before=$(manifest_requests)
get shell/hello "$work/damaged" -H "Accept: $docker"
check "tagfiles: a damaged tag's file goes to a worker, who answers and writes it again" \
	eval '[ "$(manifest_requests)" = $((before + 1)) ] && cmp -s "$work/damaged" "$work/first" &&
		cmp -s <(cut -d" " -f2- "$tags/shell/hello/@latest") <(echo "${line#* }")'

# A lost layer: the file is not trusted, the worker packs the layer again.
# (lighttpd trusts what it learned of a file for up to a second.)
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' "$work/first")
rm -f "$blobs/$layer"
sleep 1.2
before=$(manifest_requests)
get shell/hello "$work/lost" -H "Accept: $docker"
check "tagfiles: with a layer lost, the manifest comes from a worker ($before before, $(manifest_requests) after)" \
	[ "$(manifest_requests)" = $((before + 1)) ]
check "tagfiles: which packed the layer again" [ -f "$blobs/$layer" ]
# One cut short (a bad restore) too.
head -c 10 "$blobs/$layer" >"$work/cut" && mv "$work/cut" "$blobs/$layer"
sleep 1.2
before=$(manifest_requests)
get shell/hello "$work/cut" -H "Accept: $docker"
check "tagfiles: with a layer cut short, the manifest comes from a worker, which packs it again" \
	eval '[ "$(manifest_requests)" = $((before + 1)) ] && [ "$(sha256sum <"$blobs/$layer" | cut -d" " -f1)" = "$layer" ]'

# No other file is reached through the route, however the path is dressed.
# (A second first, for lighttpd to see the layer whole again.)
sleep 1.2
for path in "$SERVER_DIR/storage/secret" "$SERVER_DIR/storage/tmp/secret" "$SERVER_DIR/state/secret" \
	"$tags/secret"; do
	echo "nixery-secret" >"$path"
done
mkdir -p "$tags/x"
echo "$(($(date +%s) + 600)) ${line#* }" >"$tags/x/@latest"
for path in "/v2/../storage/manifests/secret" "/v2/shell/hello/manifests/latest/../../../../../secret" \
	"/v2/x/manifests/..%2f..%2fsecret" "/v2/x/manifests/%2e%2e%2fsecret" "/v2/X/manifests/latest" \
	"/v2/x/manifests/.latest" "/v2/x/manifests/latest%00" "/v2/.x/manifests/latest" \
	"/_nixery/secret" "/_nixery/tmp/secret" "/_nixery/tags/secret" "/_nixery/tags/../secret" \
	"/_nixery/tags/%2e%2e/secret" "/_nixery/../state/secret" "/_nixery/tags/x/@latest/../../secret"; do
	code=$(curl -s --path-as-is -o "$work/hostile" -w '%{http_code}' "$URL$path")
	check "tagfiles: $path reaches no file ($code)" \
		eval '[ "${code:0:1}" = 4 ] && ! grep -q nixery-secret "$work/hostile"'
done
code=$(curl -s -o "$work/x" -w "%{http_code}" "$URL/v2/x/manifests/latest")
check "tagfiles: a tag file planted for an image that is not there is sent only as the image it names ($code)" \
	eval '[ "$code" = 200 ] && cmp -s "$work/x" "$work/first"'
rm -rf "$tags/x" "$SERVER_DIR/storage/secret" "$SERVER_DIR/storage/tmp/secret" "$SERVER_DIR/state/secret" \
	"$tags/secret"

# Names the route does not admit are answered by the workers, without a file.
get Shell/Hello "$work/upper" -H "Accept: $docker"
check "tagfiles: a name in capitals is the workers' to answer, and leaves no file" \
	eval '[ -s "$work/upper" ] && [ -z "$(find "$tags" -name "*Shell*")" ]'

# gc removes every tag file: none may name a blob it removed.
admin gc --keep-days 0 >"$work/gc.log" 2>&1
check "tagfiles: gc leaves no tag file ($(find "$tags" -type f | wc -l) left)" [ -z "$(find "$tags" -type f)" ]
code=$(curl -s -o "$work/after-gc" -w '%{http_code}' -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest")
check "tagfiles: after gc the tag is answered, and its file written again ($code)" \
	[ "$code" = 200 -a -f "$tags/shell/hello/@latest" ]
