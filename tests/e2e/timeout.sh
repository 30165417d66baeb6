#!/usr/bin/env bash
# NIX_TIMEOUT bounds a request from its arrival to its answer: evaluation,
# build, closure and packing share one deadline. At the deadline the work
# is stopped, no process is left behind, and the client gets a JSON error
# saying so.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-timeout.XXXXXX)
trap 'server_stop; pkill -f nixery-sleeper; exec 9>&-; rm -rf "$work"' EXIT
nonce=$RANDOM$RANDOM
server_start "$work/srv" NIX_TIMEOUT=3 NIXERY_TEST_NONCE="$nonce" || { fail "timeout: server starts"; exit 1; }

start=$(date +%s)
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/sleeper/manifests/latest")
took=$(( $(date +%s) - start ))
check "timeout: a build past NIX_TIMEOUT gets 504 ($code after ${took}s)" [ "$code" = 504 ]
check "timeout: the error says the image was not ready in time" grep -q '"message":"the image was not ready within NIX_TIMEOUT (3 seconds)' "$work/b"
check "timeout: the answer comes soon after the deadline (${took}s)" [ "$took" -le 12 ]
left=$(pgrep -f nixery-sleeper | wc -l)
check "timeout: no build process is left behind ($left found)" [ "$left" = 0 ]
left=$(pgrep -f 'nix-build.*image.nix' | wc -l)
check "timeout: no nix-build is left behind ($left found)" [ "$left" = 0 ]
check "timeout: the failed build is recorded" \
	[ "$(sqlite3 "$work/srv/state/cache.db" "select count(*) from builds where status='timeout'")" = 1 ]

# Three clients ask for the same slow image, one after another: one build,
# and those who waited for it get its timeout, not a second try.
nonce2=$RANDOM$RANDOM
server_stop
# Several clients from one address: no one client's quota here.
server_start "$work/srv2" NIX_TIMEOUT=4 NIXERY_TEST_NONCE="$nonce2" NIXERY_MAX_BUILDS_PER_CLIENT=0 ||
	{ fail "timeout: server starts"; exit 1; }
for i in 1 2 3; do
	curl -s -o "$work/b$i" -w '%{http_code}\n' "$URL/v2/sleeper/manifests/latest" >"$work/code$i" &
	sleep 1
done
wait
codes=$(cat "$work"/code? | tr '\n' ' ')
check "timeout: clients who waited for a build that timed out get 504 too ($codes)" [ "$codes" = "504 504 504 " ]
check "timeout: the clients who waited ran no second build" \
	[ "$(sqlite3 "$work/srv2/state/cache.db" "select count(*) from builds")" = 1 ]
check "timeout: the build is recorded as timed out" \
	[ "$(sqlite3 "$work/srv2/state/cache.db" "select status from builds")" = timeout ]

# A package that fails to build: 500 with Nix's error, and the server goes on.
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/broken/manifests/latest")
check "timeout: a failing build gets 500 ($code)" [ "$code" = 500 ]
check "timeout: the failure carries Nix's error" grep -q 'fails to build on purpose' "$work/b"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/hello/manifests/latest")
check "timeout: the registry still serves images after failed builds" [ "$code" = 200 ]

# One deadline, not one per step: evaluation takes 3 s (it reads a FIFO the
# test writes to late), the build 3 s more; each alone fits in NIX_TIMEOUT=5,
# both together do not.
server_stop
nonce3=$RANDOM$RANDOM
mkdir -p "$work/pkgs"
mkfifo "$work/eval-gate"
cat >"$work/pkgs/default.nix" <<NIX
args@{ ... }:
let demo = import $TOP/nix/demo args; in
demo // {
  sloweval = builtins.seq (builtins.readFile "$work/eval-gate") (demo.mkDemo {
    name = "sloweval-$nonce3";
    script = "sleep 3; mkdir -p \$out/share; echo $nonce3 > \$out/share/sloweval";
  });
}
NIX
server_start "$work/srv3" NIX_TIMEOUT=5 NIXERY_PKGS_PATH="$work/pkgs" || { fail "timeout: server starts"; exit 1; }
start=$(date +%s%3N)
curl -s -o "$work/b3" -w '%{http_code}' "$URL/v2/sloweval/manifests/latest" >"$work/code3" &
sleep 3
echo open >"$work/eval-gate"
wait
took=$(($(date +%s%3N) - start))
check "timeout: 3 s of evaluation and 3 s of build under NIX_TIMEOUT=5 get 504 ($(cat "$work/code3") after $took ms)" \
	[ "$(cat "$work/code3")" = 504 ]
check "timeout: the answer comes at the request's deadline, not a step's ($took ms)" [ "$took" -lt 7500 ]
check "timeout: it was the build that ran out of time" grep -q 'nix-build stopped at the deadline' "$work/b3"

# Packing is bound by the same deadline: the 512 MB package is built
# already, so its request spends the deadline packing (text, on one
# thread, so that packing outlasts the deadline on any machine).
server_stop
nix-build --no-out-link "$TOP/nix/demo" -A words512m >/dev/null 2>&1
server_start "$work/srv4" NIX_TIMEOUT=3 NIXERY_PACK_THREADS=1 || { fail "timeout: server starts"; exit 1; }
start=$(date +%s%3N)
code=$(curl -s -o "$work/b4" -w '%{http_code}' "$URL/v2/words512m/manifests/latest")
took=$(($(date +%s%3N) - start))
check "timeout: packing 512 MB under NIX_TIMEOUT=3 gets 504 ($code after $took ms)" [ "$code" = 504 ]
check "timeout: packing stopped at the deadline ($(cat "$work/b4"))" grep -q 'packing stopped at the deadline' "$work/b4"
check "timeout: the answer comes soon after it ($took ms)" [ "$took" -lt 5000 ]
check "timeout: nothing half-packed is left in storage" [ -z "$(ls -A "$SERVER_DIR/storage/tmp")" ]
