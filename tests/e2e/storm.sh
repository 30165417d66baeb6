#!/usr/bin/env bash
# Bounded work: a storm of 20 distinct cold images on this host runs at
# most NIXERY_MAX_BUILDS Nix jobs at once (evaluations count too); every
# answer is an image or a clear 503 with Retry-After; nothing is left
# behind, and the workers' memory stays bounded.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-storm.XXXXXX)
trap 'server_stop; kill $sampler 2>/dev/null; rm -rf "$work"' EXIT
sampler=
slots=$(nproc)

# Twenty packages never built before, each a second of build.
nonce=$RANDOM$RANDOM
mkdir -p "$work/pkgs"
{
	echo "args@{ ... }: let demo = import $TOP/nix/demo args; in demo // {"
	for i in $(seq -w 0 19); do
		echo "  storm$i = demo.mkDemo { name = \"storm$i-$nonce\"; script = \"sleep 1; mkdir -p \$out/share; echo $i > \$out/share/storm$i\"; };"
	done
	echo "}"
} >"$work/pkgs/default.nix"
# One address stands in for many clients: no one client's quota here.
server_start "$work/srv" NIXERY_PKGS_PATH="$work/pkgs" NIXERY_MAX_BUILDS_PER_CLIENT=0 ||
	{ fail "storm: server starts"; exit 1; }
SERVER_KIND=lighttpd

# The most Nix jobs (nix-instantiate, nix-build, nix-store) seen at once,
# and the workers' largest resident memory, sampled every 20 ms. A job's
# own children count with it: nix-build forks its builder, which carries
# nix-build's command line until it runs the builder. A request's store
# session (nix-store --serve) answers queries beside its job and builds
# nothing: it is no job of its own.
(
	jobs_max=0 rss_max=0
	while :; do
		n=$(ps -eo pid=,ppid=,args= | awk '$3 ~ /^nix-(instantiate|build|store)$/ && $4 != "--serve" { job[$1] = $2 }
			END { for (p in job) if (!(job[p] in job)) n++; print n + 0 }')
		[ "$n" -gt "$jobs_max" ] && jobs_max=$n
		for p in $(worker_pids); do
			r=$(awk '/^VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
			[ "${r:-0}" -gt "$rss_max" ] && rss_max=$r
		done
		# Renamed into place: the sampler is killed at any instant, and a
		# file it was writing would be read empty.
		echo "$jobs_max $rss_max" >"$work/peaks.new" && mv -f "$work/peaks.new" "$work/peaks"
		sleep 0.02
	done
) &
sampler=$!

start=$(date +%s%3N)
for i in $(seq -w 0 19); do
	curl -s -o "$work/b$i" -D "$work/h$i" -w '%{http_code}\n' "$URL/v2/storm$i/manifests/latest" >"$work/code$i" &
done
wait $(jobs -p | grep -v "^$sampler$")
took=$(($(date +%s%3N) - start))
kill $sampler
read -r jobs_max rss_max <"$work/peaks"
codes=$(cat "$work"/code* | sort | uniq -c | awk '{printf "%s x %s, ", $1, $2}')
echo "storm: 20 cold images in $took ms: ${codes%, }; at most $jobs_max Nix jobs at once; worker RSS at most $rss_max KiB"

ok=1
for i in $(seq -w 0 19); do
	case $(cat "$work/code$i") in
	200) grep -q schemaVersion "$work/b$i" || ok=0 ;;
	503) grep -qi '^retry-after:' "$work/h$i" && grep -q 'build slots\|NIXERY_MAX_COLD' "$work/b$i" || ok=0 ;;
	*) ok=0 ;;
	esac
done
check "storm: every answer is an image or a 503 with Retry-After (${codes%, })" [ $ok = 1 ]
check "storm: at most NIXERY_MAX_BUILDS=$slots Nix jobs ran at once ($jobs_max)" [ "$jobs_max" -le "$slots" -a "$jobs_max" -ge 1 ]
check "storm: the workers' memory stayed bounded (at most $rss_max KiB, limit 65536)" [ "$rss_max" -lt 65536 ]
sleep 1
left=$(pgrep -r RSD -f '^nix-(instantiate|build|store)( |$)' | tr '\n' ' ')
check "storm: no Nix process is left (${left:-none})" [ -z "$left" ]
check "storm: no GC root is left" [ -z "$(ls -A "$SERVER_DIR/state/gcroots")" ]
check "storm: nothing half-written is left" [ -z "$(ls -A "$SERVER_DIR/storage/tmp")" ]
built=$(sqlite3 "$SERVER_DIR/state/cache.db" "select count(*) from builds where status = 'ok'")
echo "storm: $built images built"
