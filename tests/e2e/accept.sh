#!/usr/bin/env bash
# The manifest format an Accept header asks for: one rule, whose owner is
# core/manifest.c (manifest_negotiate); lighttpd's script
# (etc/lighttpd-files.lua, negotiate) repeats it for the tag route and
# leaves headers that weigh formats (q=) to the workers. Each Accept
# header of the fuzz corpus (tests/fuzz/accept) is sent to the real
# lighttpd's tag route, and, with a query string that keeps it off the
# route, to a worker: the two answers must be the same manifest, of the
# same media type, whichever of them chose it. Once with one platform
# served, once with two, where a tag's answer is an image index for the
# clients that take one, and the first platform's manifest for the rest.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-accept.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT

# The manifest requests the workers have answered.
manifest_requests() {
	curl -s "$URL/metrics" | awk '/^nixery_requests_total\{route="manifest"/ { n += $2 } END { print n + 0 }'
}
# answer OUT ACCEPT-FILE [CURL ARGS...]: hello:latest's manifest asked
# with the Accept header in ACCEPT-FILE; "STATUS TYPE" on standard output,
# the body in OUT.
answer() {
	local out=$1 file=$2 value
	shift 2
	value=$(cat "$file")
	# curl sends "Accept:" with an empty value only in its "Name;" form.
	if [ -z "$value" ]; then
		set -- -H "Accept;" "$@"
	else
		set -- -H "Accept: $value" "$@"
	fi
	curl -s -o "$out" -w '%{http_code} %{content_type}' "$@" "$URL/v2/hello/manifests/latest"
}

# run_corpus LABEL: the corpus against the running server.
run_corpus() {
	local label=$1 n=0 same=0 skipped=0 by_lighttpd=0 by_worker=0 differ= file name before route after worker
	indexes=0
	for file in "$TOP"/tests/fuzz/accept/*; do
		# A header's value holds no control character but tabs: HTTP cannot
		# carry it, and no server would pass it on.
		if LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\t' <"$file"); then
			skipped=$((skipped + 1))
			continue
		fi
		n=$((n + 1))
		name=$(basename "$file")
		before=$(manifest_requests)
		route=$(answer "$work/route" "$file")
		after=$(manifest_requests)
		worker=$(answer "$work/worker" "$file" -G -d from=worker)
		if [ "$before" = "$after" ]; then
			by_lighttpd=$((by_lighttpd + 1))
		else
			by_worker=$((by_worker + 1))
		fi
		case "$route" in *index* | *list*) indexes=$((indexes + 1)) ;; esac
		if [ "$route" = "$worker" ] && [ "${route%% *}" = 200 ] && cmp -s "$work/route" "$work/worker"; then
			same=$((same + 1))
		else
			differ="$differ $name (route: $route, worker: $worker);"
		fi
	done
	check "accept: $label: every Accept of the corpus ($n, $skipped not sendable) gets the same manifest and type from lighttpd's tag route as from a worker${differ:+ (differ:$differ)}" \
		[ -z "$differ" -a "$same" = "$n" -a "$n" -gt 30 ]
	check "accept: $label: lighttpd chose by itself for most ($by_lighttpd) and left the rest to the workers ($by_worker)" \
		[ "$by_lighttpd" -gt 20 -a "$by_worker" -gt 5 ]
}

server_start "$work/srv" NIXERY_EVAL_TTL=3600 || { fail "accept: server starts"; exit 1; }
curl -s -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"$URL/v2/hello/manifests/latest"
check "accept: a worker's answer leaves hello:latest's tag file for lighttpd" \
	[ -f "$SERVER_DIR/storage/tags/hello/@latest" ]
run_corpus "one platform"
check "accept: one platform: no answer is an index ($indexes)" [ "$indexes" = 0 ]
server_stop

server_start "$work/srv2" NIXERY_EVAL_TTL=3600 NIXERY_PLATFORMS="linux/amd64 linux/arm64" ||
	{ fail "accept: server of two platforms starts"; exit 1; }
curl -s -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"$URL/v2/hello/manifests/latest"
check "accept: two platforms: hello:latest's tag file names an index" \
	grep -q " index " "$SERVER_DIR/storage/tags/hello/@latest"
run_corpus "two platforms"
check "accept: two platforms: the clients that take an index get one ($indexes answers)" [ "$indexes" -ge 8 ]
