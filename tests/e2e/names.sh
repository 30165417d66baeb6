#!/usr/bin/env bash
# The names and tags the registry takes: one rule, whose owner is the
# workers' own parser (fcgi/router.c, with core/image.c image_name_valid
# and core/source.c source_tag_valid, and storage_tag_file for the tag
# file's name). Every route that sends a file without a worker repeats it
# as a pattern: etc/lighttpd.conf's blob and tag routes (in both of its
# rewrite sets), the blob locations of etc/nginx.conf, etc/apache.conf and
# etc/shared-hosting/htaccess, and the README's copies of the first three.
#
# One set of request paths (tests/rules/paths) goes through each route of
# each real server, and through the parser (tests/unit/rules route, which
# names the file a route may send for each path). For every path, the
# file the parser names is planted, or, for a path it refuses, the file a
# careless route would send (tags/<name>/@<tag>, blobs/sha256/<digest>):
# a route must send the first and never the second. The README's copies
# must be the configurations' own, as lighttpd reads them (lighttpd -p)
# or as written.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
servers_work names
RULES=$BUILD/tests/unit/rules
if [ ! -x "$RULES" ]; then
	fail "names: $RULES is built (make unit)"
	exit 1
fi

grep -v '^#' "$TOP/tests/rules/paths" >"$work/paths"
"$RULES" route <"$work/paths" >"$work/want"
check "names: the parser names a file for some paths ($(grep -vc '^-$' "$work/want")) and none for others ($(grep -c '^-$' "$work/want")) of $(wc -l <"$work/paths")" \
	[ "$(grep -vc '^-$' "$work/want")" -gt 20 -a "$(grep -c '^-$' "$work/want")" -gt 20 ]

# The README's copies. lighttpd reads etc/lighttpd.conf and the README's
# lines alike: the rewrite rules it makes of each must be the same.
rewrites() {
	lighttpd -p -f "$1" 2>&1 | sed -n '/url.rewrite-once *= (/,/^ *)/p' | tr -s ' \t' ' '
}
(
	export NIXERY_PORT=1 NIXERY_BIN=/bin/true STORAGE_PATH=$work/x NIXERY_RUN_DIR=$work/x \
		NIXERY_FILES_SCRIPT=$TOP/etc/lighttpd-files.lua NIXERY_ERRORFILE_PREFIX=$TOP/etc/lighttpd-
	rewrites "$TOP/etc/lighttpd.conf"
) >"$work/etc.rewrites"
{ echo 'server.port = 1'; readme_section "lighttpd (etc/lighttpd.conf spawns"; } >"$work/readme-lighttpd.conf"
rewrites "$work/readme-lighttpd.conf" >"$work/readme.rewrites"
check "names: lighttpd makes two rewrite sets of etc/lighttpd.conf, each with the blob and tag routes" \
	[ "$(grep -c '/_nixery/tags/\$1/@\$2' "$work/etc.rewrites")" = 2 -a \
	  "$(grep -c '/_nixery/blobs/sha256/\$1' "$work/etc.rewrites")" = 2 ]
check "names: and the same two of the README's lighttpd lines ($(diff "$work/etc.rewrites" "$work/readme.rewrites" | grep -c '^[<>]') lines differ)" \
	cmp -s "$work/etc.rewrites" "$work/readme.rewrites"
# nginx's and Apache's, as written.
blob_pattern() {
	grep -o -e 'location ~ "[^"]*blobs/sha256[^"]*"' -e 'RewriteRule "[^"]*blobs/sha256[^"]*"'
}
check "names: the README's nginx blob location is etc/nginx.conf's" \
	eval '[ -n "$(blob_pattern <"$TOP/etc/nginx.conf")" ] &&
		[ "$(readme_section "nginx (" | blob_pattern)" = "$(blob_pattern <"$TOP/etc/nginx.conf")" ]'
check "names: the README's Apache blob rule is etc/apache.conf's" \
	eval '[ -n "$(blob_pattern <"$TOP/etc/apache.conf")" ] &&
		[ "$(readme_section "Apache 2.4 with mod_fcgid" | blob_pattern)" = "$(blob_pattern <"$TOP/etc/apache.conf")" ]'

# plant STORAGE_PATH: the files of the paths, as above. Each blob file is
# committed (its time one second past the epoch), each tag file current
# and naming a manifest of its own; what a route sends for path n must be
# line n of STORAGE_PATH/expected (a path that cannot be planted, its
# file's name too long for the file system, expects nothing).
plant() {
	python3 - "$1" "$work/paths" "$work/want" <<'PY'
import hashlib, os, re, sys, time
root, paths, want = sys.argv[1], open(sys.argv[2]).read().split("\n")[:-1], open(sys.argv[3]).read().split("\n")[:-1]
def careless(path):
    m = re.match(r"^/v2/(.+)/manifests/([^/]+)$", path)
    if m:
        return "tags/%s/@%s" % m.groups()
    m = re.match(r"^/v2/(.+)/blobs/sha256:([^/]+)$", path)
    return "blobs/sha256/" + m.group(2) if m else None
def commit(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(10**9, 10**9))
expected = []
for path, file in zip(paths, want):
    rel = file if file != "-" else careless(path)
    full = os.path.normpath(os.path.join(root, rel)) if rel else None
    if not full or not full.startswith(root + "/") or any(len(c) > 255 for c in rel.split("/")):
        expected.append("")
        continue
    if rel.startswith("blobs/"):
        body = ("nixery-planted %s\n" % rel).encode()
        commit(full, body)
    else:
        body = ("nixery-planted manifest for %s\n" % rel).encode()
        hexd = hashlib.sha256(body).hexdigest()
        commit(os.path.join(root, "blobs/sha256", hexd), body)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write("%d %s %s\n" % (time.time() + 86400, hexd, hexd))
    expected.append(body.decode().strip())
open(os.path.join(root, "expected"), "w").write("\n".join(expected) + "\n")
PY
}

# route_check LABEL STORAGE_PATH FILTER [CURL-ARGS...]: every path matching
# FILTER (a grep pattern) sent to $URL; a path is sent from its file when
# the answer is 200 with the planted body. It must be exactly the paths
# the parser names a file for.
route_check() {
	local label=$1 storage=$2 filter=$3 i=0 path want body code sent taken=0 admitted='' refused='' n=0
	shift 3
	while IFS= read -r path; do
		i=$((i + 1))
		grep -q -e "$filter" <<<"$path" || continue
		n=$((n + 1))
		want=$(sed -n "${i}p" "$work/want")
		body=$(sed -n "${i}p" "$storage/expected")
		code=$(curl -s --path-as-is "$@" -o "$work/answer" -w '%{http_code}' "$URL$path")
		sent=0
		[ "$code" = 200 ] && [ -n "$body" ] && [ "$(cat "$work/answer")" = "$body" ] && sent=1
		if [ "$want" = - ] && [ $sent = 1 ]; then
			admitted="$admitted $path"
		elif [ "$want" != - ] && [ -n "$body" ] && [ $sent = 0 ]; then
			refused="$refused $path($code)"
		fi
		[ $sent = 1 ] && taken=$((taken + 1))
	done <"$work/paths"
	check "names: $label: of $n paths, sends the file of each the workers take ($taken), and of none other${refused:+ (not sent:$(cut -c1-600 <<<"$refused"))}" \
		[ -z "$refused" -a "$taken" -gt 0 ]
	check "names: $label: no file for a path the workers refuse${admitted:+ (sent:$(cut -c1-600 <<<"$admitted"))}" \
		[ -z "$admitted" ]
}

# A package set with nothing in it: a path that reaches a worker costs no
# build (Nix finds nothing, at once).
mkdir -p "$work/nopkgs"
export NIXERY_PKGS_PATH=$work/nopkgs

# lighttpd: both rewrite sets, by the client's address.
if server_start "$work/lighttpd"; then
	plant "$SERVER_DIR/storage"
	route_check "lighttpd (this host's rewrite set)" "$SERVER_DIR/storage" '^/v2/'
	route_check "lighttpd (other hosts' rewrite set)" "$SERVER_DIR/storage" '^/v2/' --interface 127.0.0.2
else
	fail "names: lighttpd starts"
fi
servers_stop

# nginx and Apache, as shipped, and the shared-hosting .htaccess: their
# blob routes (they have no tag route).
if nginx_start "$work/nginx"; then
	plant "$SERVER_DIR/storage"
	route_check nginx "$SERVER_DIR/storage" '/blobs/[^/]*$'
else
	fail "names: nginx starts"
fi
servers_stop
unprivileged_setup "$work"
if apache_start "$work/apache"; then
	plant "$SERVER_DIR/storage"
	route_check Apache "$SERVER_DIR/storage" '/blobs/[^/]*$'
else
	fail "names: Apache starts"
fi
servers_stop
if hosting_start "$work/hosting"; then
	plant "$SERVER_DIR/site/public_html/storage"
	route_check "shared hosting" "$SERVER_DIR/site/public_html/storage" '/blobs/[^/]*$'
else
	fail "names: the shared-hosting site starts"
fi
servers_stop
