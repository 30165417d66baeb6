#!/usr/bin/env bash
# Warm work never waits for cold work: while more cold requests than the
# host admits wait for slow builds, and gc runs in a loop beside them,
# whatever is built already answers at once; every cold request ends as an
# image, a 503 with Retry-After or a 504 within NIX_TIMEOUT + 5 s; no image
# is built twice at once. (bench/pressure.sh: the same at full size, behind
# every server.)
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
. "$TOP/tests/pressure.sh"
work=$(mktemp -d /tmp/nixery-e2e-pressure.XXXXXX)
gc_loop=
trap 'kill $gc_loop 2>/dev/null; server_stop; rm -rf "$work"' EXIT
timeout=15

pressure_pkgs "$work/pkgs" 6 20
# Every request comes from this one address, standing in for many clients:
# the host's limits are under test, not one client's quota (access.sh).
server_start "$work/srv" NIXERY_PKGS_PATH="$work/pkgs" NIX_TIMEOUT=$timeout NIXERY_MAX_BUILDS_PER_CLIENT=0 ||
	{ fail "pressure: server starts"; exit 1; }
NIXERY_PKGS_PATH=$work/pkgs
pulls "pressure: shell/hello is built before the storm" shell/hello "$work/before"

(
	while :; do admin gc --keep-days 30 >>"$work/gc.log" 2>&1; sleep 0.3; done
) &
gc_loop=$!
pressure_run pressure 40 45 "$work/run"
kill $gc_loop 2>/dev/null
wait $gc_loop 2>/dev/null

check "pressure: every warm answer is 200 (${WARM_BAD:-all})" [ -z "$WARM_BAD" ]
check "pressure: every warm answer came within 1 s (slowest $WARM_MAX_MS ms)" [ "$WARM_MAX_MS" -lt 1000 ]
check "pressure: skopeo inspect of a built image ends within 5 s ($INSPECT_MS ms)" \
	[ "$INSPECT_OK" = 1 -a "$INSPECT_MS" -lt 5000 ]
check "pressure: every cold answer is an image, a 503 with Retry-After or a 504 ($COLD_CODES${COLD_BAD:+; bad:$COLD_BAD})" \
	[ -z "$COLD_BAD" ]
check "pressure: every cold request ended within NIX_TIMEOUT + 5 s ($COLD_MAX_MS ms)" \
	[ "$COLD_MAX_MS" -le $(((timeout + 5) * 1000)) ]
check "pressure: the cold requests beyond NIXERY_MAX_COLD were told so at once" \
	grep -lq NIXERY_MAX_COLD "$work"/run/cold/b*
# Half the storm asked for one image: those admitted got it from one build.
check "pressure: the image half the storm asked for was built once, for all who waited" \
	eval 'cat "$work"/run/cold/c{1..40..2} | grep -q "^200 " &&
		[ "$(sqlite3 "$SERVER_DIR/state/cache.db" "SELECT count(*) FROM builds WHERE name = '"'slow:latest'"'")" = 1 ]'
overlap=$(pressure_builds_overlap)
check "pressure: no image was built twice at once (${overlap:-none})" [ -z "$overlap" ]
check "pressure: gc ran beside the storm and never failed" \
	eval '[ -s "$work/gc.log" ] && ! grep -q "nixery-admin: gc" "$work/gc.log"'
pulls "pressure: shell/hello still pulls whole after the storm and gc" shell/hello "$work/after"
