#!/usr/bin/env bash
# Discovery that clients expect, and the OCI distribution-spec conformance
# suite's read-only checks. The suite itself (Go, Ginkgo, and modules from
# the network) cannot be built offline, so this is its own equivalent, case
# by case: each check below is named after the suite's spec it stands for
# (conformance v1.1: 01_pull_test.go "Pull", 03_discovery_test.go "Content
# Discovery"). The push, delete and referrer-upload cases need a writable
# registry and have no equivalent here: images are built, not pushed.
# Twice: with the host's own platform, and with two, where a tag is an
# image index for the clients that take one (the suite's clients take
# the manifest they ask for, the first platform's).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-conformance.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
NAME=shell/hello
MISSING=sha256:0000000000000000000000000000000000000000000000000000000000000000
OCI=application/vnd.oci.image.manifest.v1+json

# status METHOD PATH [curl args]: the status; headers in $work/h, body in $work/b.
status() {
	local method=$1 path=$2; shift 2
	curl -s -X "$method" -D "$work/h" -o "$work/b" -w '%{http_code}' "$@" "$URL$path"
}
header() { grep -i "^$1:" "$work/h" | tail -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
# A HEAD with curl: -I, not -X HEAD, so that curl reads no body.
head_status() { curl -s -I -D "$work/h" -o /dev/null -w '%{http_code}' "$URL$1"; }

INDEX=application/vnd.oci.image.index.v1+json

for platforms in "" "linux/amd64 linux/arm64"; do
	P=${platforms:+ (two platforms)}
	settings=(NIX_TIMEOUT=600)
	[ -z "$platforms" ] || settings+=("NIXERY_PLATFORMS=$platforms")
	[ -z "${SERVER_DIR:-}" ] || server_stop
	server_start "$work/srv${platforms:+2}" "${settings[@]}" || { fail "conformance$P: server starts"; exit 1; }
	# Plain skopeo inspect lists the tags too (it failed with "fetching tags
	# list: 404" before tags/list existed).
	if skopeo inspect --tls-verify=false "docker://127.0.0.1:$PORT/$NAME" >"$work/inspect" 2>&1; then
		pass "discovery$P: plain skopeo inspect works (no --no-tags)"
	else
		fail "discovery$P: plain skopeo inspect works (no --no-tags): $(tail -2 "$work/inspect")"
	fi
	check "discovery$P: skopeo inspect lists the tag latest" grep -q '"latest"' "$work/inspect"

	digest=$(curl -s -o "$work/manifest" -D - -H "Accept: $OCI" "$URL/v2/$NAME/manifests/latest" | tr -d '\r' |
		awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
	blob=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$work/manifest")
	for tag in v1.0 v1.1 v2.0; do curl -s -o /dev/null "$URL/v2/$NAME/manifests/$tag"; done

	# Pull.
	code=$(head_status "/v2/$NAME/blobs/$MISSING")
	check "conformance$P: HEAD request to nonexistent blob should result in 404 response ($code)" [ "$code" = 404 ]
	code=$(head_status "/v2/$NAME/blobs/$blob")
	check "conformance$P: HEAD request to existing blob should yield 200 ($code)" [ "$code" = 200 ]
	check "conformance$P: its Docker-Content-Digest, if present, is the blob's digest" \
		eval '[ -z "$(header docker-content-digest)" ] || [ "$(header docker-content-digest)" = "$blob" ]'
	code=$(status GET "/v2/$NAME/blobs/$MISSING")
	check "conformance$P: GET nonexistent blob should result in 404 response ($code)" [ "$code" = 404 ]
	code=$(status GET "/v2/$NAME/blobs/$blob")
	check "conformance$P: GET request to existing blob URL should yield 200 ($code)" \
		eval '[ "$code" = 200 ] && [ "sha256:$(sha256sum <"$work/b" | cut -d" " -f1)" = "$blob" ]'
	code=$(head_status "/v2/$NAME/manifests/.INVALID_MANIFEST_NAME")
	check "conformance$P: HEAD request to nonexistent manifest should return 404 ($code)" [ "$code" = 404 ]
	code=$(head_status "/v2/$NAME/manifests/$digest")
	check "conformance$P: HEAD request to manifest path (digest) should yield 200 response ($code)" \
		eval '[ "$code" = 200 ] && [ "$(header docker-content-digest)" = "$digest" ]'
	code=$(head_status "/v2/$NAME/manifests/latest")
	check "conformance$P: HEAD request to manifest path (tag) should yield 200 response ($code)" [ "$code" = 200 ]
	code=$(status GET "/v2/$NAME/manifests/.INVALID_MANIFEST_NAME")
	check "conformance$P: GET nonexistent manifest should return 404 ($code)" [ "$code" = 404 ]
	code=$(status PUT "/v2/$NAME/manifests/sha256:totallywrong" -H "Content-Type: $OCI" --data '{"invalid": true}')
	check "conformance$P: 400 response body should contain OCI-conforming JSON message ($code)" \
		eval '[ "$code" = 400 -o "$code" = 404 ] && python3 -c "import json,sys; e=json.load(open(sys.argv[1]))[\"errors\"][0]; sys.exit(e[\"code\"] not in (\"MANIFEST_UNKNOWN\", \"MANIFEST_INVALID\", \"DIGEST_INVALID\", \"NAME_INVALID\") or not e[\"message\"])" "$work/b"'
	code=$(status PUT "/v2/$NAME/manifests/latest" -H "Content-Type: $OCI" --data '{}')
	check "discovery$P: a push is refused with 405 UNSUPPORTED ($code)" \
		eval '[ "$code" = 405 ] && grep -q UNSUPPORTED "$work/b"'
	code=$(status GET "/v2/$NAME/manifests/$digest" -H "Accept: $OCI")
	check "conformance$P: GET request to manifest path (digest) should yield 200 response ($code)" \
		eval '[ "$code" = 200 ] && cmp -s "$work/b" "$work/manifest"'
	code=$(status GET "/v2/$NAME/manifests/latest" -H "Accept: $OCI")
	check "conformance$P: GET request to manifest path (tag) should yield 200 response ($code)" \
		eval '[ "$code" = 200 ] && [ "$(header docker-content-digest)" = "$digest" ]'

	# Content discovery.
	code=$(status GET "/v2/$NAME/tags/list")
	check "conformance$P: GET request to list tags should yield 200 response ($code: $(cat "$work/b"))" \
		eval '[ "$code" = 200 ] && [ "$(cat "$work/b")" = "{\"name\":\"$NAME\",\"tags\":[\"latest\",\"v1.0\",\"v1.1\",\"v2.0\"]}" ]'
	code=$(status GET "/v2/$NAME/tags/list?n=2")
	check "conformance$P: GET number of tags should be limitable by \`n\` query parameter ($(cat "$work/b"))" \
		eval '[ "$code" = 200 ] && [ "$(cat "$work/b")" = "{\"name\":\"$NAME\",\"tags\":[\"latest\",\"v1.0\"]}" ]'
	check "conformance$P: and the page links to the next ($(header link))" \
		[ "$(header link)" = "</v2/$NAME/tags/list?n=2&last=v1.0>; rel=\"next\"" ]
	code=$(status GET "/v2/$NAME/tags/list?n=2&last=v1.0")
	check "conformance$P: GET start of tag is set by \`last\` query parameter ($(cat "$work/b"))" \
		eval '[ "$code" = 200 ] && [ "$(cat "$work/b")" = "{\"name\":\"$NAME\",\"tags\":[\"v1.1\",\"v2.0\"]}" ]'
	code=$(status GET "/v2/$NAME/referrers/$digest")
	check "conformance$P: GET request to nonexistent referrers should result in an empty 200 index ($code)" \
		eval '[ "$code" = 200 ] && grep -q "\"manifests\":\[\]" "$work/b" && [ "$(header content-type)" = application/vnd.oci.image.index.v1+json ]'

	# The catalog lists the names built.
	curl -s -o /dev/null "$URL/v2/cowsay/manifests/latest"
	code=$(status GET "/v2/_catalog")
	check "discovery$P: the catalog lists the images built ($(cat "$work/b"))" \
		eval '[ "$code" = 200 ] && [ "$(cat "$work/b")" = "{\"repositories\":[\"cowsay\",\"$NAME\"]}" ]'
	code=$(status GET "/v2/_catalog?n=1")
	check "discovery$P: the catalog pages with n and Link ($(header link))" \
		eval '[ "$(cat "$work/b")" = "{\"repositories\":[\"cowsay\"]}" ] && [ "$(header link)" = "</v2/_catalog?n=1&last=cowsay>; rel=\"next\"" ]'
	code=$(status GET "/v2/nosuchpkg/manifests/latest")
	check "discovery$P: a name whose packages do not exist is not in the catalog" \
		eval '[ "$code" = 404 ] && ! curl -s "$URL/v2/_catalog" | grep -q nosuchpkg'
	[ -n "$platforms" ] || continue

	# The index itself: by tag to a client that takes it, then by digest,
	# GET and HEAD, as containerd and Kubernetes fetch it.
	code=$(status GET "/v2/$NAME/manifests/latest" -H "Accept: $INDEX, $OCI")
	index=$(header docker-content-digest)
	check "conformance$P: GET by tag with an index in Accept gives the OCI index ($code, $(header content-type))" \
		eval '[ "$code" = 200 ] && [ "$(header content-type)" = "$INDEX" ] && [ "sha256:$(sha256sum <"$work/b" | cut -d" " -f1)" = "$index" ]'
	code=$(status GET "/v2/$NAME/manifests/$index")
	check "conformance$P: GET request to the index's path (digest) should yield 200 ($code)" \
		eval '[ "$code" = 200 ] && [ "$(header content-type)" = "$INDEX" ]'
	code=$(head_status "/v2/$NAME/manifests/$index")
	check "conformance$P: HEAD request to the index's path (digest) should yield 200 ($code)" \
		eval '[ "$code" = 200 ] && [ "$(header docker-content-digest)" = "$index" ]'
	first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$work/b")
	check "conformance$P: a client that takes no index gets the index's first manifest" [ "$first" = "$digest" ]
done
