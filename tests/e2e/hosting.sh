#!/usr/bin/env bash
# Shared hosting: a site whose owner may only write .htaccess (Apache with
# AllowOverride FileInfo Options and mod_fcgid), running as the site's user
# with no root, Nix through the host's daemon. The site is set up from
# etc/shared-hosting/ as the README says; blobs are sent by Apache as
# static files through mod_rewrite (no XSendFilePath), with the registry's
# headers; a real client pulls; nothing else under storage/ is served.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-hosting.XXXXXX)
chmod 0755 "$work"
cleanup() {
	servers_stop_dir "$work/hosting"
	sleep 1
	pkill -KILL -f "$work/hosting/site" 2>/dev/null
	stop_daemon
	rm -rf "$work"
}
trap cleanup EXIT
unprivileged_setup "$work"

# The site, as its owner sets it up from etc/shared-hosting/ (the host
# installed the program, here the build tree's, and Nix), under the
# host's Apache.
if hosting_start "$work/hosting"; then
	pass "hosting: the host's Apache starts"
else
	fail "hosting: the host's Apache starts"
fi

check "hosting: the site's nixery.fcgi, copied as shipped, is executable ($(stat -c %a "$work/hosting/site/public_html/nixery.fcgi"))" \
	test -x "$work/hosting/site/public_html/nixery.fcgi"
if pull_image shell/hello "$work/pull"; then
	pass "hosting: skopeo pulls shell/hello from the site"
else
	fail "hosting: skopeo pulls shell/hello from the site ($(tail -3 "$work/pull/pull.log"; tail -3 "$WORKER_LOG"))"
fi
check "hosting: the image runs" [ "$(chroot "$work/pull/bundle/rootfs" hello 2>&1)" = "Hello, world!" ]

manifest=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "$URL/v2/shell/hello/manifests/latest")
blob=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][0]["digest"])' "$manifest")
curl -s -D "$work/h" -o "$work/blob" "$URL/v2/shell/hello/blobs/$blob"
check "hosting: a blob comes whole, with Docker-Content-Digest and the API version" \
	eval '[ "sha256:$(sha256sum <"$work/blob" | cut -d" " -f1)" = "$blob" ] &&
		grep -qi "^docker-content-digest: $blob" "$work/h" && grep -qi "^docker-distribution-api-version: registry/2.0" "$work/h"'
check "hosting: it was sent by Apache from the file (its ETag, size and time, not the program's digest; a byte range)" \
	eval 'grep -qi "^etag: \"[0-9a-f]*-[0-9a-f]*\"" "$work/h" && [ "$(curl -s -r 0-9 "$URL/v2/shell/hello/blobs/$blob" | wc -c)" = 10 ]'
curl -s -o "$work/metrics" "$URL/metrics"
check "hosting: no blob passed through the program (its metrics count manifests, no blob)" \
	eval 'grep -q "route=\"manifest\"" "$work/metrics" && ! grep -q "route=\"blob\"" "$work/metrics"'
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/shell/hello/blobs/sha256:$(printf '0%.0s' $(seq 64))")
check "hosting: an unknown blob is the registry's 404 BLOB_UNKNOWN ($code)" \
	eval '[ "$code" = 404 ] && grep -q BLOB_UNKNOWN "$work/b"'
for path in "/storage/blobs/sha256/${blob#sha256:}" /storage/ /storage/tmp/ "/nixery-fcgi.conf" "/../nixery-fcgi.conf"; do
	code=$(curl -s --path-as-is -o "$work/b" -w '%{http_code}' "$URL$path")
	check "hosting: $path is not served as asked ($code)" \
		eval '[ "${code:0:1}" = 4 ] && ! grep -q "NIXERY_PKGS_PATH" "$work/b" && [ "$(stat -c %s "$work/b")" != "$(stat -c %s "$work/blob")" ]'
done
# Long paths: the program's JSON 414 as far as Apache lets them through;
# past that, Apache's own answers, which .htaccess cannot change (the
# README says so): 403 once the path below the document root is longer
# than the file system allows, 414 past LimitRequestLine. Never nothing.
for len in 2000 3000 8000 20000; do
	case $len in
	8000) want="403 text/html" ;;
	20000) want="414 text/html" ;;
	*) want="414 application/json" ;;
	esac
	bad=
	for shape in short dotted long; do
		got=$(long_answer "$(long_path "$len" "$shape" manifest)" "$work/long")
		[ "${got%%;*}" = "$want" ] || bad="$bad $shape: $got;"
		if [ "$want" = "414 application/json" ] && ! grep -q '"code":"NAME_INVALID"' "$work/long"; then
			bad="$bad $shape: $(head -c 80 "$work/long" | tr '\n' ' ');"
		fi
	done
	check "hosting: a $len-byte path gets ${want% *} as ${want#* }${bad:+ (got$bad)}" [ -z "$bad" ]
done

check "hosting: the landing page answers" eval 'curl -s "$URL/" | grep -q "docker pull 127.0.0.1:$PORT/shell/hello"'
code=$(curl -s -o "$work/far" -w '%{http_code}' --interface 127.0.0.2 "$URL/metrics")
check "hosting: the metrics refuse another address ($code)" [ "$code" = 404 ]
users=$(pgrep -f "$BUILD/nixery-fcgi" | xargs -r ps -o user= -p | sort -u | tr '\n' ' ')
check "hosting: the program runs as the site's user ($users)" [ "$users" = "nixery " ]
