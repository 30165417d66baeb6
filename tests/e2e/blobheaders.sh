#!/usr/bin/env bash
# The headers a blob is sent with: one set, whose owner is the worker
# (fcgi/reply.h, and fcgi/main.c where it streams a blob itself), repeated
# by every route that sends one without it. The same blob is fetched, GET
# and HEAD, over every route of every server:
#
#   lighttpd's script (etc/lighttpd-files.lua), lighttpd via a worker's
#   X-Sendfile, a worker streaming it (NIXERY_BLOB_OFFLOAD = none), nginx's
#   try_files and nginx via X-Accel-Redirect, Apache's rewrite and Apache
#   via X-Sendfile, the shared-hosting .htaccess
#
# and each answer must have the headers of the worker's own, with the
# same values, but for the ETag, which each server makes its own way.
# Each route is made sure of (a worker counted the blob or not, whose ETag
# it is), and each honours a range and the conditions. A query string
# keeps a request off lighttpd's direct route; nginx and Apache match
# their blob routes by the path alone, so their offloads are reached
# through their configurations less the blob route, as when a blob's file
# appears between the server's look and the worker's.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
servers_work blobheaders
docker=application/vnd.docker.distribution.manifest.v2+json
# What a server adds to any answer, whatever it sends: not the blob's.
ignored='^(date|server|connection|keep-alive):'

# headers FILE: a curl -D dump as sorted "name: value" lines, names in
# lower case, without what every answer has.
headers() {
	tr -d '\r' <"$1" | awk -F': ' 'NR > 1 && NF > 1 { n = tolower($1); sub(/^[^:]*: */, ""); print n ": " $0 }' |
		grep -Ev "$ignored" | sort
}

# layer: the first layer of hello, built by the server at $URL.
layer() {
	curl -s -H "Accept: $docker" "$URL/v2/hello/manifests/latest" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])' 2>/dev/null
}

# fetch ROUTE SUFFIX WORKER: GET and HEAD of blob $d at $URL (SUFFIX after
# its path), kept as $work/ROUTE.get, .head (headers) and .body; WORKER
# says whether a worker must have answered (1: it counts the request) or
# not (0), and whose ETag the answer must have: the digest when the worker
# sent the bytes itself (stream), a web server's (file) otherwise.
fetch() {
	local route=$1 suffix=$2 worker=$3 whose=$4 before after etag code
	before=$(blob_requests)
	curl -s -D "$work/$route.get" -o "$work/$route.body" "$URL/v2/hello/blobs/$d$suffix"
	curl -s -I -D "$work/$route.head" -o /dev/null "$URL/v2/hello/blobs/$d$suffix"
	after=$(blob_requests)
	etag=$(header "$work/$route.get" ETag)
	check "blobheaders: $route: the blob comes whole" \
		[ "sha256:$(sha256sum <"$work/$route.body" | cut -d' ' -f1)" = "$d" ]
	if [ "$worker" = 1 ]; then
		check "blobheaders: $route: a worker answered both ($before blob requests before, $after after)" \
			[ "$after" = $((before + 2)) ]
	else
		check "blobheaders: $route: no worker answered ($before blob requests before, $after after)" \
			[ "$after" = "$before" ]
	fi
	if [ "$whose" = stream ]; then
		check "blobheaders: $route: the worker sent the bytes (its ETag, the digest: $etag)" [ "$etag" = "\"$d\"" ]
	else
		check "blobheaders: $route: the web server sent the file (an ETag of its own: $etag)" \
			[ -n "$etag" -a "$etag" != "\"$d\"" ]
	fi
	echo "$route" >>"$work/routes"
	# A range, and the conditions, with the answer's own validators.
	code=$(curl -s -o "$work/$route.range" -D "$work/$route.rangeh" -w '%{http_code}' -r 0-9 "$URL/v2/hello/blobs/$d$suffix")
	check "blobheaders: $route: bytes 0-9 are a 206 of the blob's first 10 bytes, bytes 0-9/$(stat -c %s "$work/$route.body")" \
		eval '[ "$code" = 206 ] && cmp -s "$work/$route.range" <(head -c 10 "$work/$route.body") &&
			[ "$(header "$work/$route.rangeh" Content-Range)" = "bytes 0-9/$(stat -c %s "$work/$route.body")" ]'
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/v2/hello/blobs/$d$suffix")
	check "blobheaders: $route: If-None-Match: its ETag is a 304 ($code)" [ "$code" = 304 ]
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $(header "$work/$route.get" Last-Modified)" \
		"$URL/v2/hello/blobs/$d$suffix")
	check "blobheaders: $route: If-Modified-Since: its Last-Modified is a 304 ($code)" [ "$code" = 304 ]
}

# without FILE PATTERN START END: the configuration FILE less its blob
# route: the lines from the one matching START (a Python pattern) to the
# one matching END.
without() {
	python3 - "$@" <<'PY'
import re, sys
lines, start, end = open(sys.argv[1]).read().split("\n"), sys.argv[2], sys.argv[3]
out, skipping, cut = [], False, 0
for line in lines:
    if not skipping and re.search(start, line):
        skipping = True
    if skipping:
        cut += 1
        if re.search(end, line):
            skipping = False
        continue
    out.append(line)
assert cut > 1 and not skipping, "the blob route was not found"
print("\n".join(out))
PY
}

: >"$work/routes"
d=

# lighttpd: its script, and a worker's X-Sendfile.
if server_start "$work/lighttpd"; then
	d=$(layer)
	check "blobheaders: lighttpd builds hello ($d)" [ -n "$d" ]
	fetch lighttpd-script "" 0 file
	fetch lighttpd-x-sendfile "?via=worker" 1 file
else
	fail "blobheaders: lighttpd starts"
fi
servers_stop
# A worker streaming it, on the same data.
if server_start "$work/stream" NIXERY_BLOB_OFFLOAD=none STORAGE_PATH="$work/lighttpd/storage" \
	NIXERY_STATE_DIR="$work/lighttpd/state"; then
	fetch worker-stream "?via=worker" 1 stream
	check "blobheaders: worker-stream: the workers' metrics count the 206 and the two 304 as sent" \
		eval 'curl -s "$URL/metrics" | grep -q "^nixery_requests_total{route=\"blob\",status=\"206\"} 1$" &&
			curl -s "$URL/metrics" | grep -q "^nixery_requests_total{route=\"blob\",status=\"304\"} 2$"'
else
	fail "blobheaders: lighttpd with NIXERY_BLOB_OFFLOAD=none starts"
fi
servers_stop

# nginx: try_files, and X-Accel-Redirect.
if nginx_start "$work/nginx"; then
	check "blobheaders: nginx builds the same hello" [ "$(layer)" = "$d" ]
	fetch nginx-try-files "" 0 file
else
	fail "blobheaders: nginx starts"
fi
servers_stop
without "$TOP/etc/nginx.conf" '^\s*location ~ "\^/v2/.*blobs/sha256' '^\s*}\s*$' >"$work/nginx-accel.conf"
if nginx_start "$work/nginx-accel" NGINX_CONF="$work/nginx-accel.conf" STORAGE_PATH="$work/nginx/storage" \
	NIXERY_STATE_DIR="$work/nginx/state"; then
	fetch nginx-x-accel-redirect "" 1 file
else
	fail "blobheaders: nginx without its blob location starts"
fi
servers_stop

# Apache: the rewrite, and X-Sendfile. Its workers are nixery, reaching
# Nix through the daemon.
unprivileged_setup "$work"
if apache_start "$work/apache"; then
	check "blobheaders: Apache builds the same hello" [ "$(layer)" = "$d" ]
	fetch apache-rewrite "" 0 file
else
	fail "blobheaders: Apache starts"
fi
servers_stop
without "$TOP/etc/apache.conf" '^\s*RewriteCond %\{REQUEST_METHOD\}' 'H=default-handler' >"$work/apache-xsendfile.conf"
if apache_start "$work/apache-xsendfile" APACHE_CONF="$work/apache-xsendfile.conf" \
	STORAGE_PATH="$work/apache/storage" NIXERY_STATE_DIR="$work/apache/state"; then
	fetch apache-x-sendfile "" 1 file
else
	fail "blobheaders: Apache without its blob rule starts"
fi
servers_stop

# The shared-hosting site: its .htaccess.
if hosting_start "$work/hosting"; then
	check "blobheaders: the shared-hosting site builds the same hello" [ "$(layer)" = "$d" ]
	fetch hosting-htaccess "" 0 file
else
	fail "blobheaders: the shared-hosting site starts"
fi
servers_stop

# Every route's headers against the worker's own (its streamed answer),
# GET and HEAD: the same names, and the same values but the ETag's.
for method in get head; do
	headers "$work/worker-stream.$method" | sed 's/^etag: .*/etag: */' >"$work/want.$method"
done
check "blobheaders: the worker's own answer has the set: $(cut -d: -f1 "$work/want.get" | tr '\n' ' ')" \
	eval 'grep -qx "content-type: application/octet-stream" "$work/want.get" &&
		grep -qx "docker-content-digest: $d" "$work/want.get" &&
		grep -qx "docker-distribution-api-version: registry/2.0" "$work/want.get" &&
		grep -qx "cache-control: max-age=31536000" "$work/want.get" &&
		grep -qx "accept-ranges: bytes" "$work/want.get" &&
		grep -qx "last-modified: Thu, 01 Jan 1970 00:00:01 GMT" "$work/want.get" &&
		grep -qx "etag: \*" "$work/want.get" && grep -q "^content-length: [1-9]" "$work/want.get" &&
		cmp -s "$work/want.get" "$work/want.head"'
check "blobheaders: every route was tried ($(wc -l <"$work/routes") of 8)" [ "$(wc -l <"$work/routes")" = 8 ]
while read -r route; do
	for method in get head; do
		headers "$work/$route.$method" | sed 's/^etag: ..*/etag: */' >"$work/got.$method"
		check "blobheaders: $route: ${method^^} has the worker's headers$(diff "$work/want.$method" "$work/got.$method" |
			grep '^[<>]' | sed 's/^</ missing:/; s/^>/ more:/' | tr '\n' ';' | sed 's/^./ (&/; s/;$/)/')" \
			cmp -s "$work/want.$method" "$work/got.$method"
	done
done <"$work/routes"
