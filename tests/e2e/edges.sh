#!/usr/bin/env bash
# The edges of a request: paths from 2,000 to 20,000 bytes, of many short
# components or of a few long ones, through each shipped server (lighttpd,
# nginx, Apache). Each answer is the registry's JSON error for a path too
# long, byte for byte: the workers' below the server's own limit on the
# request line, the server's own past it (414; lighttpd's limit counts the
# headers too and its status is 431). Never an empty reply.
# shellcheck disable=SC2016 # checks given to eval are quoted on purpose
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
servers_work edges
# Apache's workers run as nixery, who reaches Nix through nix-daemon.
unprivileged_setup "$work"

LENGTHS="2000 3000 8000 20000"
SHAPES="short dotted long"

# too_long_check LABEL: every length and shape, at a manifest and at a blob,
# gets the status the server should give and the workers' JSON body.
too_long_check() {
	local label=$1 ref=$SERVER_DIR/ref len shape endpoint want got bad
	got=$(long_answer "$(long_path 2000 short manifest)" "$ref")
	check "$label: a worker answers a 2,000-byte path 414 NAME_INVALID in JSON ($got: $(head -c 100 "$ref"))" \
		eval '[ "$got" = "414 application/json" ] && grep -q "\"code\":\"NAME_INVALID\"" "$ref" &&
			[ "$(header "$ref.h" Docker-Distribution-API-Version)" = registry/2.0 ]'
	for len in $LENGTHS; do
		want=414
		[ "$SERVER_KIND" = lighttpd ] && [ "$len" -gt 8192 ] && want=431
		for shape in $SHAPES; do
			bad=
			for endpoint in manifest blob; do
				got=$(long_answer "$(long_path "$len" "$shape" "$endpoint")" "$SERVER_DIR/long")
				if [ "$got" != "$want application/json" ] || ! cmp -s "$SERVER_DIR/long" "$ref"; then
					bad="$bad $endpoint: $got $(head -c 80 "$SERVER_DIR/long" 2>/dev/null | tr '\n' ' ');"
				fi
			done
			check "$label: a $len-byte path of $shape components gets $want and the workers' JSON error${bad:+ (got$bad)}" \
				[ -z "$bad" ]
		done
	done
}

if server_start "$work/lighttpd"; then
	SERVER_KIND=lighttpd
	too_long_check lighttpd
	check "lighttpd: no rewrite failed on a long path (no pcre_exec() error in its log)" \
		eval '! grep -q "pcre_exec() error" "$SERVER_DIR/run/lighttpd-error.log"'
	servers_stop
else
	fail "lighttpd: starts"
fi

if nginx_start "$work/nginx"; then
	too_long_check nginx
	servers_stop
else
	fail "nginx: starts"
fi

if apache_start "$work/apache"; then
	too_long_check apache
	check "apache: no long path was refused as a file name (no 'Cannot map' or 'File name too long' in its log)" \
		eval '! grep -q -e AH00127 -e "File name too long" "$WORKER_LOG"'
	servers_stop
else
	fail "apache: starts"
fi
