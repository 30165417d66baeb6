# shellcheck shell=bash
# A storm of cold requests with warm ones beside it, for tests/e2e/pressure.sh
# and bench/pressure.sh (sourced after tests/lib.sh and tests/servers.sh):
#
#   pressure_pkgs DIR SECONDS N   a package set in DIR: the demo set, plus
#                                 `slow` and slow00..slowN-1, each a build
#                                 of SECONDS never made before
#   pressure_run LABEL COLD TRIES WORK
#                                 against the running server ($URL, built
#                                 shell/hello already): COLD cold requests at
#                                 once (every other one for `slow`, one
#                                 image for all of them; the others for
#                                 distinct slowNN), and
#                                 meanwhile TRIES timed warm requests (/v2/,
#                                 the cached manifest by tag from the web
#                                 server and from a worker, by digest, its
#                                 config blob, tags, the catalog, the page,
#                                 the metrics) and a skopeo inspect. Files
#                                 in WORK; sets the figures below, and
#                                 checks nothing itself.
#
# Figures: WARM_MAX_MS (the slowest warm answer), WARM_BAD (warm answers
# that were not 200, with what they were), INSPECT_MS and INSPECT_OK,
# COLD_CODES ("N x CODE, ..."), COLD_BAD (cold answers that were none of
# 200, 503 with Retry-After, 504), COLD_MAX_MS (the longest cold request).

pressure_pkgs() {
	local dir=$1 seconds=$2 n=$3 nonce=$RANDOM$RANDOM i
	mkdir -p "$dir"
	{
		echo "args@{ ... }: let demo = import $TOP/nix/demo args; in demo // {"
		echo "  slow = demo.mkDemo { name = \"slow-$nonce\"; script = \"sleep $seconds; mkdir -p \$out/share; echo slow > \$out/share/slow\"; };"
		for i in $(seq -w 0 $((n - 1))); do
			echo "  slow$i = demo.mkDemo { name = \"slow$i-$nonce\"; script = \"sleep $seconds; mkdir -p \$out/share; echo $i > \$out/share/slow$i\"; };"
		done
		echo "}"
	} >"$dir/default.nix"
}

# _timed NAME URL [CURL ARGS...]: one request; "NAME CODE MS" into $work/warm.
_timed() {
	local name=$1 url=$2; shift 2
	curl -s -o /dev/null --max-time 10 -w "$name %{http_code} %{time_total}\n" "$@" "$url" |
		awk '{ printf "%s %s %d\n", $1, $2, $3 * 1000 }' >>"$work/warm"
}

pressure_run() {
	local label=$1 cold=$2 tries=$3 work=$4 i digest config docker oci start pids=
	docker=application/vnd.docker.distribution.manifest.v2+json
	oci=application/vnd.oci.image.manifest.v1+json
	mkdir -p "$work/cold"
	: >"$work/warm"
	digest=$(curl -s -D - -o "$work/manifest" -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest" |
		header /dev/stdin Docker-Content-Digest)
	config=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"])' "$work/manifest")
	for i in $(seq "$cold"); do
		local image=slow
		[ $((i % 2)) = 1 ] || image=slow$(printf '%02d' $((i / 2 - 1)))
		curl -s -o "$work/cold/b$i" -D "$work/cold/h$i" --max-time 600 \
			-w '%{http_code} %{time_total}\n' "$URL/v2/$image/manifests/latest" >"$work/cold/c$i" &
		pids="$pids $!"
		# The shared image's build is under way before the storm.
		[ "$i" != 1 ] || sleep 0.5
	done
	# Every cold request is on its way before the warm ones start.
	sleep 1
	start=$(date +%s%3N)
	( skopeo inspect --tls-verify=false "docker://127.0.0.1:$PORT/shell/hello" >"$work/inspect" 2>&1
	  echo "$? $(($(date +%s%3N) - start))" >"$work/inspect.rc" ) &
	pids="$pids $!"
	for i in $(seq "$tries"); do
		case $((i % 9)) in
		0) _timed v2 "$URL/v2/" ;;
		1) _timed tag "$URL/v2/shell/hello/manifests/latest" -H "Accept: $docker" ;;
		# Weighed by q=: answered by a worker behind every server.
		2) _timed tag-worker "$URL/v2/shell/hello/manifests/latest" -H "Accept: $oci;q=0.9, $docker;q=0.5" ;;
		3) _timed digest "$URL/v2/shell/hello/manifests/$digest" -H "Accept: $docker" ;;
		4) _timed config "$URL/v2/shell/hello/blobs/$config" ;;
		5) _timed tags "$URL/v2/shell/hello/tags/list" ;;
		6) _timed catalog "$URL/v2/_catalog" ;;
		7) _timed page "$URL/" ;;
		8) _timed metrics "$URL/metrics" ;;
		esac
		sleep 0.2
	done
	# shellcheck disable=SC2086
	wait $pids
	WARM_MAX_MS=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$work/warm")
	WARM_BAD=$(awk '$2 != 200 { printf "%s %s; ", $1, $2 }' "$work/warm")
	read -r i INSPECT_MS <"$work/inspect.rc"
	INSPECT_OK=$([ "$i" = 0 ] && grep -q '"Digest"' "$work/inspect" && echo 1 || echo 0)
	COLD_CODES=$(cut -d' ' -f1 "$work"/cold/c* | sort | uniq -c | awk '{ printf "%s x %s, ", $1, $2 }')
	COLD_CODES=${COLD_CODES%, }
	COLD_MAX_MS=$(cat "$work"/cold/c* | awk 'BEGIN { m = 0 } $2 * 1000 > m { m = $2 * 1000 } END { printf "%d", m }')
	COLD_BAD=
	for i in $(seq "$cold"); do
		case $(cut -d' ' -f1 "$work/cold/c$i") in
		200) grep -q schemaVersion "$work/cold/b$i" || COLD_BAD="$COLD_BAD $i:200-without-manifest" ;;
		503) grep -qi '^retry-after:' "$work/cold/h$i" || COLD_BAD="$COLD_BAD $i:503-without-Retry-After" ;;
		504) ;;
		*) COLD_BAD="$COLD_BAD $i:$(cut -d' ' -f1 "$work/cold/c$i")" ;;
		esac
	done
	echo "$label: $cold cold requests (${COLD_CODES}; longest $COLD_MAX_MS ms); $tries warm ones, slowest $WARM_MAX_MS ms; skopeo inspect $INSPECT_MS ms"
}

# pressure_builds_overlap: image keys built twice at once (a build started
# before the one before it ended), from the builds table.
pressure_builds_overlap() {
	sqlite3 "$SERVER_DIR/state/cache.db" "SELECT DISTINCT b.image_key FROM builds a JOIN builds b
		ON a.image_key = b.image_key AND b.id > a.id
		WHERE a.finished_ms IS NULL OR b.started < a.finished_ms / 1000"
}
