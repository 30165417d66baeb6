#!/usr/bin/env bash
# Hostile and mistaken requests get a clear JSON error, and nothing outside
# the storage folder is ever served.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-err.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
server_start "$work/srv" || { fail "errors: server starts"; exit 1; }
echo "nixery-secret-outside-storage" >"$work/secret"
HEX=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

# expect NAME STATUS CODE [curl args...] URL-PATH: status, JSON error code,
# JSON content type and the API version header.
expect() {
	local name=$1 status=$2 code=$3; shift 3
	local got body type api
	got=$(curl -s --path-as-is -D "$work/h" -o "$work/b" -w '%{http_code}' "$@")
	type=$(grep -i '^content-type:' "$work/h" | tr -d '\r' | awk '{print $2}')
	api=$(grep -i '^docker-distribution-api-version:' "$work/h" | tr -d '\r' | awk '{print $2}')
	if [ "$got" = "$status" ] && [ "$type" = application/json ] && grep -q "\"code\":\"$code\"" "$work/b" &&
	   [ "$api" = registry/2.0 ] && ! grep -q nixery-secret "$work/b"; then
		pass "errors: $name -> $status $code"
	else
		fail "errors: $name -> wanted $status $code, got $got $type [$api] $(head -c 200 "$work/b")"
	fi
}

expect "an unknown package" 404 MANIFEST_UNKNOWN "$URL/v2/hello/nosuchpkg/manifests/latest"
check "errors: the 404 names the unknown package" grep -q '"message":"Could not find Nix packages: nosuchpkg"' "$work/b"
expect "two unknown packages" 404 MANIFEST_UNKNOWN "$URL/v2/nopea/hello/nopeb/manifests/latest"
check "errors: one 404 names every unknown package" grep -q 'nopea nopeb' "$work/b"
expect "an unknown blob" 404 BLOB_UNKNOWN "$URL/v2/hello/blobs/sha256:$HEX"
expect "an unknown manifest digest" 404 MANIFEST_UNKNOWN "$URL/v2/hello/manifests/sha256:$HEX"
expect "POST" 405 UNSUPPORTED --data "" "$URL/v2/hello/manifests/latest"
expect "PUT" 405 UNSUPPORTED -X PUT "$URL/v2/hello/manifests/latest"
expect "DELETE" 405 UNSUPPORTED -X DELETE "$URL/v2/hello/blobs/sha256:$HEX"
expect "an unknown endpoint" 404 UNSUPPORTED "$URL/v2/hello/uploads/"
expect "an uppercase name" 400 NAME_INVALID "$URL/v2/Hello/manifests/latest"
expect "a reference that is neither a tag nor a digest" 404 MANIFEST_UNKNOWN "$URL/v2/hello/manifests/-x"
expect "a tags listing with a bad n" 400 PAGINATION_NUMBER_INVALID "$URL/v2/hello/tags/list?n=x"
expect "a short digest" 400 DIGEST_INVALID "$URL/v2/hello/blobs/sha256:abc"
expect "an uppercase digest" 400 DIGEST_INVALID "$URL/v2/hello/blobs/sha256:${HEX^^}"
expect "a digest with a slash" 400 DIGEST_INVALID "$URL/v2/hello/blobs/sha256:${HEX:0:32}/${HEX:0:31}"
expect "a sha512 digest" 400 DIGEST_INVALID "$URL/v2/hello/blobs/sha512:$HEX$HEX"
expect "an encoded slash in a digest" 400 NAME_INVALID "$URL/v2/hello/blobs/sha256:..%2f..%2f..%2fsecret"

# Dot segments (plain or encoded) are resolved by the web server before the
# registry sees the path; whatever answers, it must not be a file from
# outside storage.
for path in "/v2/../../../../etc/passwd" "/v2/%2e%2e/%2e%2e/manifests/latest" "/v2/../manifests/latest" "/v2/hello/blobs/../../../../../etc/passwd" \
	"/v2/hello/blobs/sha256:$HEX/../../../../$work/secret" "/v2/..%2f..%2f..%2fetc%2fpasswd"; do
	code=$(curl -s --path-as-is -o "$work/b" -w '%{http_code}' "$URL$path")
	if [ "${code:0:1}" = 4 ] && ! grep -q -e '^root:' -e nixery-secret "$work/b"; then
		pass "errors: traversal $path gets $code and no outside file"
	else
		fail "errors: traversal $path gets $code: $(head -c 100 "$work/b")"
	fi
done
