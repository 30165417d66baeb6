# shellcheck shell=bash
# Shared by the benchmarks (sourced, not run): set BENCH to the script's
# name first. Gives the binary ./run built ($BUILD), the server helpers of
# tests/lib.sh, a scratch folder $DIR removed on exit with the server, and
# die (exit 1: the benchmark could not measure).
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$TOP/var/build}
export BUILD

die() { echo "$BENCH: $*" >&2; exit 1; }

[ -x "$BUILD/nixery-fcgi" ] || die "no $BUILD/nixery-fcgi: build first (./run test)"
# shellcheck source=../tests/lib.sh
. "$TOP/tests/lib.sh"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/nixery-bench-$BENCH.XXXXXX")
# shellcheck disable=SC2317 # run by the EXIT trap
bench_cleanup() {
	if [ -n "${SERVER_DIR:-}" ]; then server_stop || true; fi
	rm -rf "$DIR"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
