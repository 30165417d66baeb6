#!/usr/bin/env bash
# Benchmark: what HTTP basic auth costs the registry's hottest request, a
# cached manifest by tag, behind each web server as etc/ ships it
# (lighttpd-auth.conf, nginx.conf's "#auth: " lines, apache.conf with
# -D NIXERY_AUTH).
#
# What is measured: wrk's requests a second (-t2 -c16, DURATION s, default
# 8) on GET /v2/shell/hello/manifests/latest, with the Docker manifest
# Accept, against the same server and cache started without and with
# basic auth (the request then carries a valid Authorization header),
# ROUNDS times (default 3), the two interleaved; medians compared. The
# password is hashed with bcrypt (htpasswd -B, cost 5) for every server,
# and as the README says for nginx and Apache, which check it on every
# request: htpasswd -s (SHA-1, for a machine-made password); for nginx
# also -2 -r 1000 (SHA-256 crypt, 1000 rounds) and -m (APR1-MD5).
#
# Why: lighttpd sends a cached tag from its tag file without a worker,
# nginx and Apache pass it to a worker; every one of them now also
# checks a password first. bcrypt costs milliseconds: lighttpd keeps a
# checked password (auth.cache); nginx and Apache have no such cache
# (Apache's mod_authn_socache keeps the file's line, not the check).
#
# Target: auth costs under 10% of the throughput without it.
# Exits 0 whether or not the target is met; 1 only if it could not measure.
set -eu

BENCH=auth
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/servers.sh
. "$TOP/tests/servers.sh"

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
TARGET_PCT=10
ACCEPT='Accept: application/vnd.docker.distribution.manifest.v2+json'
PW=bench-$RANDOM$RANDOM
AUTH="Authorization: Basic $(printf 'alice:%s' "$PW" | base64 -w0)"
trap 'servers_stop; stop_daemon; rm -rf "$DIR"' EXIT

# nginx's and Apache's workers run as www-data: they walk into DIR.
chmod 0755 "$DIR"
unprivileged_setup "$DIR" >/dev/null
command -v wrk >/dev/null || die "wrk is not installed"
for hash in B 2 m s; do
	case $hash in 2) opts=(-2 -r 1000) ;; *) opts=("-$hash") ;; esac
	htpasswd -cb "${opts[@]}" "$DIR/htpasswd-$hash" alice "$PW" >/dev/null 2>&1 || die "htpasswd -$hash failed"
	chmod 0644 "$DIR/htpasswd-$hash"
done

# start KIND HTPASSWD: KIND's server on DIR/KIND, behind HTPASSWD unless
# it is empty.
start() {
	local kind=$1 pw=$2
	case $kind in
	lighttpd) server_start "$DIR/$kind" ${pw:+NIXERY_HTPASSWD=$pw} NIXERY_EVAL_TTL=3600 ;;
	nginx) nginx_start "$DIR/$kind" NIXERY_HTPASSWD="$pw" NIXERY_EVAL_TTL=3600 ;;
	apache) apache_start "$DIR/$kind" NIXERY_HTPASSWD="$pw" NIXERY_EVAL_TTL=3600 ;;
	esac || die "$kind did not start"
}

# rate [HEADER]: wrk's requests a second on the cached manifest.
rate() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" ${1:+-H "$1"} "$URL/v2/shell/hello/manifests/latest")
	[ "$code" = 200 ] || die "the warm-up request got $code"
	wrk -t2 -c16 -d"${DURATION}s" -H "$ACCEPT" ${1:+-H "$1"} "$URL/v2/shell/hello/manifests/latest" |
		awk '/^Requests\/sec:/ { printf "%d\n", $2 } /Non-2xx/ { print "non-2xx" > "/dev/stderr" }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure KIND HASH...: interleaved rounds without auth and with each
# hash; prints "KIND HASH median-without median-with cost%" per hash.
measure() {
	local kind=$1 round hash r; shift
	: >"$DIR/$kind.none"
	for hash in "$@"; do : >"$DIR/$kind.$hash"; done
	for round in $(seq "$ROUNDS"); do
		start "$kind" ""
		rate >>"$DIR/$kind.none"
		servers_stop || true
		for hash in "$@"; do
			start "$kind" "$DIR/htpasswd-$hash"
			rate "$AUTH" >>"$DIR/$kind.$hash"
			servers_stop || true
		done
		echo "auth: $kind round $round: none $(tail -1 "$DIR/$kind.none")$(for h in "$@"; do printf ', %s %s' "$h" "$(tail -1 "$DIR/$kind.$h")"; done)" >&2
	done
	for hash in "$@"; do
		r=$(median <"$DIR/$kind.none")
		echo "$kind $hash $r $(median <"$DIR/$kind.$hash")"
	done
}

{
	measure lighttpd B
	measure nginx B 2 m s
	measure apache B s
} >"$DIR/results"

echo "auth: cached manifest GETs a second, median of $ROUNDS rounds of ${DURATION} s (wrk -t2 -c16)"
printf '    %-9s %-28s %10s %10s %8s\n' server "password hash" "no auth" "auth" cost
while read -r kind hash none with; do
	case $hash in
	B) name="bcrypt (htpasswd -B)" ;;
	2) name="SHA-256 crypt, 1000 rounds" ;;
	m) name="APR1-MD5 (htpasswd -m)" ;;
	s) name="SHA-1 (htpasswd -s)" ;;
	esac
	cost=$(python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.1f%%' % (100 * (a - b) / a))" "$none" "$with")
	verdict=$(python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('meets' if (a - b) / a < $TARGET_PCT / 100 else 'MISSES')" "$none" "$with")
	printf '    %-9s %-28s %10s %10s %8s  %s the %d%% target\n' "$kind" "$name" "$none" "$with" "$cost" "$verdict" "$TARGET_PCT"
done <"$DIR/results"
