#!/usr/bin/env bash
# Checks tests/s3-proxy/proxy.mjs against AWS's own client libraries: s3rver
# and the proxy on free ports, URLs presigned by @aws-sdk/s3-request-presigner
# (getSignedUrl) and requests made with curl, one line per check.
#
#   tests/s3-proxy/selftest.sh        [NPM_MODULES=DIR, default var/npm/node_modules]
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
MODULES=${NPM_MODULES:-$TOP/var/npm/node_modules}
PROXY=$TOP/tests/s3-proxy/proxy.mjs
export NODE_NO_WARNINGS=1            # the SDK's notice about Node versions
work=$(mktemp -d /tmp/s3-proxy-selftest.XXXXXX)
pids=()
cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

failed=0 passed=0
pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

# start LOG ARGS...: a Node server; sets PORT from its "listening" line.
start() {
	local log=$1 i; shift
	node "$@" >"$log" 2>"$log.err" &
	pids+=($!)
	for i in $(seq 100); do
		PORT=$(awk '/listening/ { n = split($NF, a, ":"); print a[n]; exit }' "$log")
		[ -n "$PORT" ] && return 0
		sleep 0.1
	done
	echo "node $* did not start: $(tail -3 "$log.err")" >&2
	exit 1
}

mkdir -p "$work/data"
start "$work/s3rver.log" "$MODULES/s3rver/bin/s3rver.js" -d "$work/data" -a 127.0.0.1 -p 0 \
	--configure-bucket nixery --no-vhost-buckets -s
S3RVER=$PORT
start "$work/proxy.log" "$PROXY" --port 0 --upstream "http://127.0.0.1:$S3RVER" \
	--access-key S3RVER --secret S3RVER --region us-east-1 --modules "$MODULES"
PROXY_PID=${pids[-1]}
EP=http://127.0.0.1:$PORT
CTL=$EP/_proxy
check "the proxy prints exactly one line, 'listening PORT'" \
	[ "$(wc -l <"$work/proxy.log")" = 1 -a "$(cat "$work/proxy.log")" = "listening $PORT" ]

# The official client: sign OP KEY [JSON] prints a presigned URL; head KEY
# [JSON] sends a HeadObject signed in the Authorization header and prints
# the status. JSON: secret, access_key, region, expires, date (epoch s),
# upload_id, part, if_none_match, if_match, copy_source.
cat >"$work/sign.mjs" <<'EOF'
import { createRequire } from 'node:module';
const require = createRequire(`${process.env.MODULES}/selftest.js`);
const s3 = require('@aws-sdk/client-s3');
const { getSignedUrl } = require('@aws-sdk/s3-request-presigner');
const [what, op, key, json] = process.argv.slice(2);
const o = JSON.parse(json || '{}');
const client = new s3.S3Client({
  region: o.region ?? 'us-east-1', endpoint: process.env.EP, forcePathStyle: true,
  // Otherwise the presigner signs a CRC32 of the empty body into every PUT.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  credentials: { accessKeyId: o.access_key ?? 'S3RVER', secretAccessKey: o.secret ?? 'S3RVER' },
});
const Bucket = 'nixery', Key = key;
const commands = {
  put: () => new s3.PutObjectCommand({ Bucket, Key, ...(o.if_none_match ? { IfNoneMatch: o.if_none_match } : {}) }),
  get: () => new s3.GetObjectCommand({ Bucket, Key }),
  head: () => new s3.HeadObjectCommand({ Bucket, Key }),
  create: () => new s3.CreateMultipartUploadCommand({ Bucket, Key }),
  part: () => new s3.UploadPartCommand({ Bucket, Key, UploadId: o.upload_id, PartNumber: o.part }),
  complete: () => new s3.CompleteMultipartUploadCommand({ Bucket, Key, UploadId: o.upload_id }),
  del: () => new s3.DeleteObjectCommand({ Bucket, Key, ...(o.if_match ? { IfMatch: o.if_match } : {}) }),
  copy: () => new s3.CopyObjectCommand({ Bucket, Key, CopySource: o.copy_source,
    ...(o.if_none_match ? { IfNoneMatch: o.if_none_match } : {}) }),
};
if (what === 'sign') {
  // x-amz-copy-source stays a header, signed, as the registry sends it.
  console.log(await getSignedUrl(client, commands[op](), {
    expiresIn: o.expires ?? 900, unhoistableHeaders: new Set(['x-amz-copy-source']),
    ...(o.date ? { signingDate: new Date(o.date * 1000) } : {}) }));
} else {
  try {
    const r = await client.send(commands[op]());
    console.log(r.$metadata.httpStatusCode, r.ContentLength ?? '');
  } catch (e) {
    console.log(e.$metadata?.httpStatusCode ?? 'error', e.name);
  }
}
EOF
sign() { MODULES=$MODULES EP=$EP node "$work/sign.mjs" sign "$@"; }
sdk() { MODULES=$MODULES EP=$EP node "$work/sign.mjs" send "$@"; }
# code URL [CURL ARGS...]: the status; the body in $work/body.
code() { local u=$1; shift; curl -s -o "$work/body" -w '%{http_code}' "$@" "$u" || true; }
err_code() { sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$work/body"; }
log() { curl -s "$CTL/log"; }
# logq PYTHON-EXPR: evaluates with L, the proxy's log.
logq() { log | python3 -c "import json, sys; L = json.load(sys.stdin); sys.exit(0 if ($1) else 1)"; }

# --- Round trips, keys that encode differently --------------------------------
for key in 'with space.txt' 'plus+sign' 'tilde~name' 'unicodé/ключ/中文' 'all of it/a+b ~c é (1).txt'; do
	head -c 3000 /dev/urandom >"$work/obj"
	put=$(code "$(sign put "$key")" -T "$work/obj")
	get=$(code "$(sign get "$key")")
	check "presigned PUT then GET of '$key' round-trips ($put $get)" \
		eval '[ "$put" = 200 ] && [ "$get" = 200 ] && cmp -s "$work/obj" "$work/body"'
done
check "every round trip was signed and verified" \
	logq 'len(L) == 10 and all(r["signed"] and r["verified"] and r["status"] == 200 for r in L)'
check "the log has the decoded path and no X-Amz-* among query_keys" \
	logq 'L[0]["path"] == "/nixery/with space.txt" and L[0]["query_keys"] == ["x-id"]'

# --- Header-signed requests (Authorization) --------------------------------------
out=$(sdk head 'plus+sign')
check "a HeadObject signed in the Authorization header is verified ($out)" [ "$out" = "200 3000" ]
out=$(sdk head 'plus+sign' '{"secret":"wrong"}')
check "and refused with a wrong secret ($out)" [ "${out%% *}" = 403 ]

# --- Multipart upload through presigned URLs ------------------------------------------
curl -s -X DELETE "$CTL/log" >/dev/null
head -c $((5 * 1024 * 1024)) /dev/urandom >"$work/p1"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$work/p2"
head -c 1024 /dev/urandom >"$work/p3"
key='multi part/layer é'
c=$(code "$(sign create "$key")" -X POST)
id=$(sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p' "$work/body")
check "CreateMultipartUpload, presigned, gives an UploadId ($c)" [ "$c" = 200 -a -n "$id" ]
parts=
for n in 1 2 3; do
	c=$(code "$(sign part "$key" "{\"upload_id\":\"$id\",\"part\":$n}")" -T "$work/p$n" -D "$work/h")
	etag=$(awk 'tolower($1) == "etag:" { print $2 }' "$work/h" | tr -d '\r')
	check "part $n ($(stat -c %s "$work/p$n") bytes) is taken, ETag $etag ($c)" [ "$c" = 200 -a -n "$etag" ]
	parts="$parts<Part><PartNumber>$n</PartNumber><ETag>$etag</ETag></Part>"
done
c=$(code "$(sign complete "$key" "{\"upload_id\":\"$id\"}")" -X POST \
	--data-binary "<CompleteMultipartUpload>$parts</CompleteMultipartUpload>")
check "CompleteMultipartUpload, presigned ($c)" [ "$c" = 200 ]
want=$(cat "$work/p1" "$work/p2" "$work/p3" | sha256sum | cut -d' ' -f1)
got=$(curl -s "$(sign get "$key")" | sha256sum | cut -d' ' -f1)
check "the object has the parts' sha256 ($got)" [ "$got" = "$want" ]
check "the log shows the parts with partNumber and uploadId, verified" \
	logq 'sum(1 for r in L if r["method"] == "PUT" and {"partNumber", "uploadId"} <= set(r["query_keys"]) and r["verified"]) == 3'

# --- Refusals -------------------------------------------------------------------------
c=$(code "$(sign get 'plus+sign' '{"secret":"not-the-secret"}')")
check "a wrong secret: 403 SignatureDoesNotMatch ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = SignatureDoesNotMatch ]
check "the error shows the StringToSign and the CanonicalRequest" \
	eval 'grep -q "<StringToSign>AWS4-HMAC-SHA256" "$work/body" && grep -q "<CanonicalRequest>GET" "$work/body"'
check "as S3 XML (Content-Type application/xml)" \
	eval 'curl -s -D - -o /dev/null "$(sign get plus+sign "{\"secret\":\"x\"}")" | grep -qi "^content-type: application/xml"'
c=$(code "$(sign get 'plus+sign' '{"access_key":"NOBODY"}')")
check "an unknown access key: 403 InvalidAccessKeyId ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = InvalidAccessKeyId ]
u=$(sign get 'plus+sign')
c=$(code "${u/X-Amz-Expires=900/X-Amz-Expires=901}")
check "a tampered X-Amz-Expires: 403 SignatureDoesNotMatch ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = SignatureDoesNotMatch ]
c=$(code "${u/x-id=GetObject/x-id=GetObjectAcl}")
check "a tampered x-id: 403 SignatureDoesNotMatch ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = SignatureDoesNotMatch ]
c=$(code "$u&partNumber=1")
check "a parameter added: 403 SignatureDoesNotMatch ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = SignatureDoesNotMatch ]
c=$(code "${u/plus%2Bsign/plus%20sign}")
check "another key under the same signature: 403 ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = SignatureDoesNotMatch ]
c=$(code "${u/127.0.0.1:$PORT/localhost:$PORT}")
check "the URL sent to another Host: 403 ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = SignatureDoesNotMatch ]
c=$(code "$(sign get 'plus+sign' "{\"date\":$(($(date +%s) - 3600)),\"expires\":60}")")
check "an expired URL: 403 AccessDenied, Request has expired ($c $(err_code))" \
	eval '[ "$c" = 403 ] && [ "$(err_code)" = AccessDenied ] && grep -q "Request has expired" "$work/body"'
c=$(code "$(sign get 'plus+sign' "{\"date\":$(($(date +%s) + 3600))}")")
check "a URL dated an hour ahead: 403 ($c $(err_code))" [ "$c" = 403 ]
c=$(code "${u/X-Amz-Expires=900/X-Amz-Expires=604801}")
check "X-Amz-Expires over a week: 400 AuthorizationQueryParametersError ($c $(err_code))" \
	[ "$c" = 400 -a "$(err_code)" = AuthorizationQueryParametersError ]
c=$(code "$(sign get 'plus+sign' '{"region":"eu-west-1"}')")
check "another region in the scope: 400 AuthorizationQueryParametersError ($c $(err_code))" \
	[ "$c" = 400 -a "$(err_code)" = AuthorizationQueryParametersError ]
c=$(code "$u" -H 'x-amz-meta-extra: 1')
check "an x-amz-* header sent but not signed: 403 AccessDenied ($c $(err_code))" \
	eval '[ "$c" = 403 ] && grep -q "<HeadersNotSigned>x-amz-meta-extra" "$work/body"'
curl -s -X DELETE "$CTL/log" >/dev/null
c=$(code "$EP/nixery/plus+sign")
check "an unsigned GET: 403 AccessDenied ($c $(err_code))" [ "$c" = 403 -a "$(err_code)" = AccessDenied ]
check "logged signed:false, verified:false" logq 'L[-1]["signed"] is False and L[-1]["verified"] is False and L[-1]["status"] == 403'
c=$(code "$(sign put 'refused' '{"secret":"x"}')" -T "$work/p1")
check "a badly signed 5 MiB PUT is answered 403 after its body is read ($c)" [ "$c" = 403 ]
check "and nothing reached s3rver" [ ! -e "$work/data/nixery/refused._S3rver_object" ]

# --- Faults ----------------------------------------------------------------------------
curl -s -X DELETE "$CTL/log" >/dev/null
curl -s -X POST -d '{"status":503,"count":2,"method":"GET","path_prefix":"/nixery/plus"}' "$CTL/faults" >/dev/null
codes=
for i in 1 2 3; do
	codes="$codes $(code "$u")"
	if [ "$i" = 1 ]; then first=$(err_code); fi
done
check "a fault with count 2 hits exactly 2 requests (${codes# })" [ "$codes" = " 503 503 200" ]
check "as 503 SlowDown" [ "$first" = SlowDown ]
check "and is gone after" [ "$(curl -s "$CTL/faults")" = "[]" ]
check "the log shows two 503s then a 200, all verified" \
	logq '[r["status"] for r in L] == [503, 503, 200] and all(r["verified"] for r in L)'
curl -s -X POST -d '{"status":503,"count":2,"method":"PUT"}' "$CTL/faults" >/dev/null
c=$(code "$u")
check "a fault for PUTs leaves a GET alone ($c)" [ "$c" = 200 ]
curl -s -X POST -d '{"status":500,"count":100}' "$CTL/faults" >/dev/null
curl -s -X DELETE "$CTL/faults" >/dev/null
c=$(code "$u")
check "DELETE /_proxy/faults clears them ($c)" [ "$c" = 200 ]
for s in 500:InternalError 429:TooManyRequests 403:AccessDenied; do
	curl -s -X POST -d "{\"status\":${s%%:*},\"count\":1}" "$CTL/faults" >/dev/null
	c=$(code "$u")
	check "a fault of ${s%%:*} answers $c $(err_code)" [ "$c" = "${s%%:*}" -a "$(err_code)" = "${s#*:}" ]
done
curl -s -X POST -d '{"delay_ms":1200,"count":1,"method":"GET"}' "$CTL/faults" >/dev/null
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$u")
check "a delay of 1.2 s delays, then answers ($t)" python3 -c 'import sys; c, t = sys.argv[1].split(); sys.exit(not (c == "200" and float(t) >= 1.2))' "$t"

curl -s -X DELETE "$CTL/log" >/dev/null
curl -s -X POST -d '{"drop":true,"count":1,"method":"PUT","path_prefix":"/nixery/dropped"}' "$CTL/faults" >/dev/null
rc=0; curl -s -o /dev/null -T "$work/p1" "$(sign put dropped)" || rc=$?
check "drop cuts a 5 MiB upload short (curl exit $rc)" [ "$rc" -ne 0 ]
c=$(code "$(sign get dropped)")
check "and nothing of it was stored ($c)" [ "$c" = 404 -a ! -e "$work/data/nixery/dropped._S3rver_object" ]
check "the log shows the dropped PUT with status 0" \
	logq 'L[0]["method"] == "PUT" and L[0]["status"] == 0 and L[0]["verified"]'
c=$(code "$(sign put dropped)" -T "$work/p3")
check "the next PUT goes through ($c)" [ "$c" = 200 ]
curl -s -X POST -d '{"drop":true,"count":1,"method":"GET"}' "$CTL/faults" >/dev/null
rc=0; curl -s -o /dev/null "$u" || rc=$?
check "drop of a request without a body closes the connection (curl exit $rc)" [ "$rc" = 52 ]

# --- Conditional writes (emulated by the proxy) ---------------------------------------------
echo first >"$work/v1"; echo second >"$work/v2"
c=$(code "$(sign put 'cond/new' '{"if_none_match":"*"}')" -T "$work/v1" -H 'If-None-Match: *')
check "If-None-Match: * on a new key writes it ($c)" [ "$c" = 200 ]
c=$(code "$(sign put 'cond/new' '{"if_none_match":"*"}')" -T "$work/v2" -H 'If-None-Match: *')
check "If-None-Match: * on an existing key: 412 PreconditionFailed ($c $(err_code))" \
	[ "$c" = 412 -a "$(err_code)" = PreconditionFailed ]
check "and the object is unchanged" eval 'curl -s "$(sign get cond/new)" | cmp -s - "$work/v1"'
c=$(code "$(sign put 'cond/new' '{"if_none_match":"*"}')" -T "$work/v2")
check "the signed If-None-Match header left out: 403 ($c $(err_code))" [ "$c" = 403 ]
url=$(sign put 'cond/race' '{"if_none_match":"*"}')
racers=()
for i in 1 2 3 4 5 6; do
	curl -s -o /dev/null -w '%{http_code}\n' -T "$work/p3" -H 'If-None-Match: *' "$url" >"$work/race.$i" &
	racers+=($!)
done
wait "${racers[@]}"
codes=$(cat "$work"/race.* | sort | tr '\n' ' ')
check "six racing If-None-Match: * PUTs: one writes, five get 412 ($codes)" [ "$codes" = "200 412 412 412 412 412 " ]
c=$(code "$(sign copy 'cond/copy' '{"copy_source":"nixery/cond/new","if_none_match":"*"}')" -X PUT \
	-H 'x-amz-copy-source: nixery/cond/new' -H 'If-None-Match: *')
check "a copy with x-amz-copy-source signed as a header, if absent ($c)" [ "$c" = 200 ]
c=$(code "$(sign copy 'cond/copy' '{"copy_source":"nixery/cond/new","if_none_match":"*"}')" -X PUT \
	-H 'x-amz-copy-source: nixery/cond/new' -H 'If-None-Match: *')
check "the same copy again: 412 ($c)" [ "$c" = 412 ]

# Conditional deletes (emulated too): only the object with the ETag given.
etag=$(curl -s -D - -o /dev/null "$(sign get cond/new)" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r')
c=$(code "$(sign del 'cond/new' '{"if_match":"\"0123456789abcdef0123456789abcdef\""}')" -X DELETE \
	-H 'If-Match: "0123456789abcdef0123456789abcdef"')
check "If-Match with another ETag on a DELETE: 412 PreconditionFailed ($c $(err_code))" \
	[ "$c" = 412 -a "$(err_code)" = PreconditionFailed ]
check "and the object is still there" eval 'curl -s "$(sign get cond/new)" | cmp -s - "$work/v1"'
c=$(code "$(sign del 'cond/new' "{\"if_match\":$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$etag")}")" \
	-X DELETE -H "If-Match: $etag")
check "If-Match with the object's own ETag ($etag) deletes it ($c)" \
	eval '[ "$c" = 204 ] && [ "$(code "$(sign get cond/new)")" = 404 ]'
c=$(code "$(sign del 'cond/new' "{\"if_match\":$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$etag")}")" \
	-X DELETE -H "If-Match: $etag")
check "If-Match on a key with no object: 404 NoSuchKey ($c $(err_code))" [ "$c" = 404 -a "$(err_code)" = NoSuchKey ]
c=$(code "$(sign put 'cond/new' '{"if_none_match":"*"}')" -T "$work/v1" -H 'If-None-Match: *')

curl -s -X POST -d '{"enabled":false}' "$CTL/conditional" >/dev/null
c=$(code "$(sign put 'cond/new' '{"if_none_match":"*"}')" -T "$work/v2" -H 'If-None-Match: *')
check "with the emulation off, s3rver overwrites as it does alone ($c)" \
	eval '[ "$c" = 200 ] && curl -s "$(sign get cond/new)" | cmp -s - "$work/v2"'
c=$(code "$(sign del 'cond/new' '{"if_match":"\"0123456789abcdef0123456789abcdef\""}')" -X DELETE \
	-H 'If-Match: "0123456789abcdef0123456789abcdef"')
check "and deletes whatever If-Match says, as it does alone ($c)" \
	eval '[ "$c" = 204 ] && [ "$(code "$(sign get cond/new)")" = 404 ]'
curl -s -X POST -d '{"enabled":true}' "$CTL/conditional" >/dev/null

# --- A large body streams -------------------------------------------------------------------
head -c $((256 * 1024 * 1024)) /dev/urandom >"$work/big"
c=$(code "$(sign put big)" -T "$work/big")
got=$(curl -s "$(sign get big)" | sha256sum | cut -d' ' -f1)
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$PROXY_PID/status")
check "256 MiB up and down ($c), the same bytes" [ "$c" = 200 -a "$got" = "$(sha256sum <"$work/big" | cut -d' ' -f1)" ]
check "without the proxy holding it (peak RSS $((hwm / 1024)) MiB)" [ "$hwm" -lt $((160 * 1024)) ]
rm -f "$work/big"

check "the log shows verified:true for signed requests" \
	logq 'any(r["verified"] for r in L) and all(r["verified"] == r["signed"] or r["status"] == 403 for r in L)'

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
