# shellcheck shell=bash
# Buckets for the tests and benchmarks (sourced after tests/lib.sh): S3 is
# s3rver (npm), a real S3 server, behind tests/s3-proxy, which checks every
# request's SigV4 signature with AWS's own signer (s3rver 3.7.1 does not)
# and injects faults; GCS is tests/gcs-standin, a local stand-in for
# Google Cloud Storage's XML API (no GCS can run here) that checks every V4
# signature and injects the same faults. Both keep a log of the requests.
# Needs npm_tools (tests/lib.sh) first.

NODE_PIDS=()

# Stops every bucket started.
buckets_stop() {
	[ ${#NODE_PIDS[@]} -gt 0 ] && kill "${NODE_PIDS[@]}" 2>/dev/null
	NODE_PIDS=()
}

# node_start LOG ARGS...: a Node server that prints "listening [on
# HOST:]PORT"; sets NODE_PORT.
node_start() {
	local log=$1 i; shift
	node "$@" >"$log" 2>&1 &
	NODE_PIDS+=($!)
	for i in $(seq 100); do
		NODE_PORT=$(awk '/listening/ { n = split($NF, a, ":"); print a[n]; exit }' "$log")
		[ -n "$NODE_PORT" ] && return 0
		sleep 0.1
	done
	echo "node $* did not start: $(tail -3 "$log")" >&2
	return 1
}

# A service account of our own: the stand-in checks its signatures.
service_account() {
	openssl genrsa 2048 2>/dev/null >"$1.pem" &&
		python3 -c 'import json,sys; print(json.dumps({"type": "service_account", "client_email": sys.argv[2],
			"private_key": open(sys.argv[1]).read(), "private_key_id": "test"}))' "$1.pem" "$2" >"$1"
}

# bucket_start KIND DIR [--public]: the bucket, empty (--public: anyone may
# read its objects without a signature); sets SETTINGS (the host's
# settings), WRONG (the same with credentials the bucket refuses), CONTROL
# (the faults and log URL), BUCKET_HOST, BUCKET_KIND and BUCKET_DIR.
bucket_start() {
	local kind=$1 dir=$2 port public=${3:-}
	BUCKET_KIND=$kind BUCKET_DIR=$dir
	mkdir -p "$dir/data"
	if [ "$kind" = s3 ]; then
		node_start "$dir/s3rver.log" "$NPM_DIR/node_modules/s3rver/bin/s3rver.js" -d "$dir/data" \
			-a 127.0.0.1 -p 0 --configure-bucket nixery --no-vhost-buckets || return 1
		S3RVER_URL=http://127.0.0.1:$NODE_PORT
		node_start "$dir/proxy.log" "$TOP/tests/s3-proxy/proxy.mjs" --port 0 \
			--upstream "http://127.0.0.1:$NODE_PORT" --access-key S3RVER --secret S3RVER --region us-east-1 \
			--modules "$NPM_DIR/node_modules" $public || return 1
		port=$NODE_PORT
		SETTINGS=(NIXERY_STORAGE_BACKEND=s3 S3_BUCKET=nixery AWS_ENDPOINT_URL=http://127.0.0.1:$port
			AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER)
		WRONG=("${SETTINGS[@]}" AWS_SECRET_ACCESS_KEY=not-the-secret)
		CONTROL=http://127.0.0.1:$port/_proxy
	else
		service_account "$dir/key.json" nixery@test-project.iam.gserviceaccount.com &&
			service_account "$dir/other-key.json" nixery@test-project.iam.gserviceaccount.com || return 1
		node_start "$dir/standin.log" "$TOP/tests/gcs-standin/server.mjs" --port 0 --dir "$dir/data" \
			--key "$dir/key.json" --bucket nixery $public || return 1
		port=$NODE_PORT
		SETTINGS=(NIXERY_STORAGE_BACKEND=gcs GCS_BUCKET=nixery GOOGLE_APPLICATION_CREDENTIALS="$dir/key.json"
			STORAGE_EMULATOR_HOST=127.0.0.1:$port)
		WRONG=("${SETTINGS[@]}" GOOGLE_APPLICATION_CREDENTIALS="$dir/other-key.json")
		CONTROL=http://127.0.0.1:$port/_standin
	fi
	BUCKET_HOST=127.0.0.1:$port
}

fault() { curl -s -X POST -H 'Content-Type: application/json' -d "$1" "$CONTROL/faults" >/dev/null; }
clear_faults() { curl -s -X DELETE "$CONTROL/faults" >/dev/null; }
clear_log() { curl -s -X DELETE "$CONTROL/log" >/dev/null; }
# requests METHOD PATH-PREFIX [STATUS]: how many the bucket got since the
# log was cleared.
requests() {
	curl -s "$CONTROL/log" | python3 -c 'import json, sys
m, p, s = sys.argv[1:4]
print(sum(1 for r in json.load(sys.stdin) if r["method"] == m and r["path"].startswith(p) and (not s or str(r["status"]) == s)))' \
		"$1" "$2" "${3:-}"
}

# age_object KIND DIR NAME DAYS: the object looks DAYS older to the bucket.
age_object() {
	if [ "$1" = s3 ]; then
		touch -d "$4 days ago" "$2/data/nixery/$3._S3rver_object"
	else
		curl -sf -X POST -d "{\"bucket\": \"nixery\", \"name\": \"$3\", \"days\": $4}" "$CONTROL/age" >/dev/null
	fi
}

# tries METHOD PATH-PREFIX: how many times each object under the prefix was
# asked for since the log was cleared, most first.
tries() {
	curl -s "$CONTROL/log" | python3 -c 'import json, sys, collections
m, p = sys.argv[1:3]
c = collections.Counter(r["path"] for r in json.load(sys.stdin) if r["method"] == m and r["path"].startswith(p))
print(" ".join(str(n) for _, n in c.most_common()))' "$1" "$2"
}

# Every object layers/<hex> holds bytes whose sha256 is hex.
objects_match_names() {
	local kind=$1 dir=$2
	if [ "$kind" = s3 ]; then
		for f in "$dir"/data/nixery/layers/*._S3rver_object; do
			[ -e "$f" ] || continue
			[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f" ._S3rver_object)" ] || return 1
		done
	else
		curl -s "$CONTROL/objects" | python3 -c 'import json, sys
bad = [o["name"] for o in json.load(sys.stdin) if o["name"].startswith("layers/") and o["name"][7:] != o["sha256"]]
sys.exit(1 if bad else 0)'
	fi
}


# put_object NAME TEXT: writes object NAME of the last bucket started by
# hand, as another client of the bucket would: for s3 straight to s3rver
# (which takes unsigned requests), for gcs through the stand-in's control.
put_object() {
	if [ "$BUCKET_KIND" = s3 ]; then
		curl -sf -o /dev/null -X PUT --data-binary "$2" "$S3RVER_URL/nixery/$1"
	else
		python3 -c 'import json, sys; print(json.dumps({"bucket": "nixery", "name": sys.argv[1], "text": sys.argv[2]}))' \
			"$1" "$2" | curl -sf -o /dev/null -X POST --data-binary @- "$CONTROL/put"
	fi
}

# object_sha NAME: the sha256 of object NAME's bytes, or "none".
object_sha() {
	local f=$BUCKET_DIR/data/nixery/$1._S3rver_object
	if [ "$BUCKET_KIND" = s3 ]; then
		if [ -e "$f" ]; then sha256sum <"$f" | cut -d' ' -f1; else echo none; fi
	else
		curl -s "$CONTROL/objects" | python3 -c 'import json, sys
o = [o for o in json.load(sys.stdin) if o["bucket"] == "nixery" and o["name"] == sys.argv[1]]
print(o[0]["sha256"] if o else "none")' "$1"
	fi
}
