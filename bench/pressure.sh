#!/usr/bin/env bash
# Benchmark: warm work under a storm of cold work, behind lighttpd, nginx
# (spawn-fcgi workers) and Apache (mod_fcgid), each with its shipped
# configuration and default settings.
#
# What is measured: 60 cold requests at once, half for one image and half
# for 30 distinct ones, each a build of 37 s; while they are in flight, 45
# warm requests spread over 9 s (/v2/, a built image's manifest by tag from
# the web server and from a worker, by digest, its config blob, tags/list,
# the catalog, the landing page, the metrics) and a skopeo inspect of the
# built image; then every cold answer and how long it took.
#
# Must hold (issue 22), on every server: each warm request 200 in under
# 1 s, skopeo inspect under 5 s, each cold request 200, 503 with
# Retry-After or 504 within NIX_TIMEOUT + 5 s. The figures go to
# bench/RESULTS by hand. Exits 0 whether or not they hold; 1 only if it
# could not measure. About 4 minutes.
set -eu

BENCH=pressure
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/servers.sh
. "$TOP/tests/servers.sh"
# shellcheck source=../tests/pressure.sh
. "$TOP/tests/pressure.sh"

SERVERS=${SERVERS:-lighttpd nginx apache}
COLD=${COLD:-60}
SECONDS_PER_BUILD=${SECONDS_PER_BUILD:-37}
TRIES=${TRIES:-45}
TIMEOUT=60

# The web servers' users (www-data, nixery) search their way to the data.
chmod 0755 "$DIR"
unprivileged_setup "$DIR" >/dev/null || true
trap 'stop_daemon || true; bench_cleanup' EXIT

# storm SERVER [ARGS...]: a server of its own and a package set never
# built, the storm, one line of figures.
storm() {
	local server=$1 dir=$DIR/$1 start=${1}_start; shift
	[ "$server" = lighttpd ] && start=server_start
	pressure_pkgs "$dir/pkgs" "$SECONDS_PER_BUILD" $((COLD / 2))
	chmod -R a+rX "$dir/pkgs"
	"$start" "$dir/srv" NIXERY_PKGS_PATH="$dir/pkgs" "$@" || die "$start did not start"
	curl -sf -o /dev/null "$URL/v2/shell/hello/manifests/latest" || die "$start: shell/hello failed"
	pressure_run "$server" "$COLD" "$TRIES" "$dir/run" >&2
	[ -z "${KEEP:-}" ] || cp -r "$dir/run" "$KEEP-$server"
	servers_stop || true
	printf '  %-13s warm: slowest %5s ms%s; skopeo inspect %5s ms%s; cold: %s; longest %s ms%s\n' \
		"$server" "$WARM_MAX_MS" "${WARM_BAD:+ (not 200: $WARM_BAD)}" "$INSPECT_MS" \
		"$([ "$INSPECT_OK" = 1 ] || echo ' FAILED')" "$COLD_CODES" "$COLD_MAX_MS" \
		"${COLD_BAD:+ (bad:$COLD_BAD)}"
}

echo "pressure: $COLD cold requests of $SECONDS_PER_BUILD s builds, $TRIES warm ones, NIX_TIMEOUT=$TIMEOUT" >&2
{
	echo "Pressure ($(date -u +%Y-%m-%d), bash bench/pressure.sh: $COLD cold requests of ${SECONDS_PER_BUILD}-s builds at once, $TRIES warm requests beside them; must: warm < 1000 ms, inspect < 5000 ms, cold within $(((TIMEOUT + 5) * 1000)) ms)"
	for server in $SERVERS; do
		storm "$server" NIX_TIMEOUT=$TIMEOUT NIXERY_MAX_BUILDS_PER_CLIENT=0
	done
} | tee "$DIR/table"
