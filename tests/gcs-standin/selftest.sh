#!/usr/bin/env bash
# shellcheck disable=SC2016 # the single-quoted scripts are JavaScript, for node
# Checks the GCS stand-in (server.mjs) against Google's own client library:
# URLs that @google-cloud/storage signs must be accepted, and the same URLs
# altered (signature, method, query, time, account, unsigned x-goog headers)
# refused; then uploads (simple, conditional, copied, resumable), reads,
# ranges, listings, deletes and injected faults behave as the tests expect.
# Prints one "ok - ..." or "not ok - ..." line per check; exits non-zero if
# any failed. NODE_MODULES may name where @google-cloud/storage is installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
modules=${NODE_MODULES:-$here/../../var/npm/node_modules}
tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
pass() { echo "ok - $1"; }
fail() {
	echo "not ok - $1"
	[ $# -lt 2 ] || echo "#   $2" | head -c 2000
	failures=$((failures + 1))
}

# Keys: the account the stand-in knows, the same account with another key,
# and another account (unknown to the stand-in) with the right key.
openssl genrsa -out "$tmp/key.pem" 2048 2>/dev/null
openssl genrsa -out "$tmp/other.pem" 2048 2>/dev/null
email=signer@standin-test.iam.gserviceaccount.com
account() { # PEM EMAIL OUT
	node -e 'const fs = require("fs"); const [pem, email, out] = process.argv.slice(1);
		fs.writeFileSync(out, JSON.stringify({ type: "service_account", project_id: "standin-test",
			private_key_id: "0", private_key: fs.readFileSync(pem, "utf8"), client_email: email,
			client_id: "0", token_uri: "https://oauth2.googleapis.com/token" }));' "$@"
}
account "$tmp/key.pem" "$email" "$tmp/sa.json"
account "$tmp/other.pem" "$email" "$tmp/wrong-key.json"
account "$tmp/key.pem" stranger@standin-test.iam.gserviceaccount.com "$tmp/stranger.json"

# Signs with the official client: sign KEYFILE METHOD BUCKET OBJECT [OPTIONS]
# OPTIONS (JSON): headers (signed extension headers), query (signed
# parameters), expires (seconds, default 600), when (epoch seconds to sign
# at), accessibleAt (epoch seconds). An empty OBJECT signs the bucket.
cat >"$tmp/sign.cjs" <<'EOF'
const { Storage } = require('@google-cloud/storage');
const [keyFile, method, bucket, object, optsJson] = process.argv.slice(2);
const o = JSON.parse(optsJson || '{}');
const RealDate = Date;
if (o.when) // The client signs at the present moment: make the present o.when.
  globalThis.Date = class extends RealDate {
    constructor(...a) { super(...(a.length ? a : [o.when * 1000])); }
    static now() { return o.when * 1000; }
  };
const start = (o.accessibleAt ?? o.when ?? RealDate.now() / 1000) * 1000;
const cfg = { version: 'v4', host: process.env.STANDIN_URL, expires: start + (o.expires ?? 600) * 1000,
  accessibleAt: o.accessibleAt ? o.accessibleAt * 1000 : undefined,
  extensionHeaders: o.headers || {}, queryParams: o.query || {} };
const storage = new Storage({ keyFilename: keyFile });
const actions = { GET: 'read', PUT: 'write', DELETE: 'delete', POST: 'resumable' };
(async () => {
  const file = storage.bucket(bucket).file(object || 'x');
  if (object && actions[method]) return (await file.getSignedUrl({ ...cfg, action: actions[method] }))[0];
  // HEAD and bucket URLs have no action: the client's own signer does them.
  await file.getSignedUrl({ ...cfg, action: 'read' });
  const signer = object ? file.signer
    : new file.signer.constructor(storage.authClient, storage.bucket(bucket), undefined, storage);
  return signer.getSignedUrl({ ...cfg, method });
})().then((url) => console.log(url), (e) => { console.error(e.message); process.exit(1); });
EOF

mkdir "$tmp/data"
node "$here/server.mjs" --port 0 --dir "$tmp/data" --key "$tmp/sa.json" --bucket b --bucket b2 \
	>"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do
	grep -q '^listening ' "$tmp/server.out" && break
	sleep 0.1
done
port=$(awk '/^listening /{ print $2 }' "$tmp/server.out")
if [ -z "$port" ]; then
	fail "the stand-in starts" "$(cat "$tmp/server.err")"
	exit 1
fi
pass "the stand-in starts and says 'listening $port'"
base=http://127.0.0.1:$port

sign() { STANDIN_URL=$base NODE_PATH=$modules node "$tmp/sign.cjs" "$@"; }

# req METHOD URL [curl options]: prints the status; the body lands in
# $tmp/body, the headers in $tmp/headers. A dropped connection prints 000.
req() {
	local method=$1 url=$2 how
	shift 2
	how=(-X "$method")
	[ "$method" != HEAD ] || how=(--head)
	curl -sS -g --path-as-is -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "${how[@]}" "$@" "$url" \
		2>"$tmp/curl.err" || true
}
header() { tr -d '\r' <"$tmp/headers" | grep -i "^$1:" | head -n1 | cut -d' ' -f2-; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# expect DESCRIPTION STATUS XML-CODE METHOD URL [curl options]
expect() {
	local desc=$1 want=$2 code=$3 got
	shift 3
	got=$(req "$@")
	if [ "$got" = "$want" ] && { [ -z "$code" ] || grep -q "<Code>$code</Code>" "$tmp/body"; }; then
		pass "$desc"
	else
		fail "$desc" "wanted $want $code, got $got: $(head -c 600 "$tmp/body")"
	fi
}
# stored BUCKET NAME: the SHA-256 the stand-in reports for an object.
stored() {
	curl -sS "$base/_standin/objects" | node -e 'let s = ""; process.stdin.on("data", (d) => s += d)
		.on("end", () => { const o = JSON.parse(s).find((x) => x.bucket === process.argv[1] &&
			x.name === process.argv[2]); console.log(o ? o.sha256 : "none"); });' "$1" "$2"
}

# --- Signed round trips, odd names included -------------------------------
names=("plain.txt" "dir/with space/file name.txt" "ünïcødé/日本語 ファイル.bin" "a+b=c&d?e#f;g,h.txt"
	"tilde~/x~y" "odd!*'()[]@\$:%25%.bin" "emoji 😀/𝒳" "trailing/slash/" "dots..in..name")
i=0
for name in "${names[@]}"; do
	i=$((i + 1))
	head -c $((1000 * i + 7)) /dev/urandom >"$tmp/in$i"
	got=$(req PUT "$(sign "$tmp/sa.json" PUT b "$name")" --data-binary @"$tmp/in$i")
	gen=$(header x-goog-generation)
	got=$got/$(req GET "$(sign "$tmp/sa.json" GET b "$name")")
	if [ "$got" = 200/200 ] && cmp -s "$tmp/in$i" "$tmp/body" && [ -n "$gen" ] &&
		[ "$(stored b "$name")" = "$(sha "$tmp/in$i")" ]; then
		pass "signed PUT then GET round-trips the bytes of '$name'"
	else
		fail "signed PUT then GET round-trips the bytes of '$name'" "statuses $got: $(head -c 600 "$tmp/body")"
	fi
done

# --- Refusals ---------------------------------------------------------------
name="dir/with space/file name.txt"
url=$(sign "$tmp/sa.json" GET b "$name")
last=${url: -1}
[ "$last" = 0 ] && flip=1 || flip=0
expect "a tampered signature gets 403 SignatureDoesNotMatch" 403 SignatureDoesNotMatch GET "${url%?}$flip"
if grep -q '<StringToSign>GOOG4-RSA-SHA256' "$tmp/body" && grep -q '<CanonicalRequest>GET' "$tmp/body"; then
	pass "the 403 shows the string to sign and the canonical request"
else
	fail "the 403 shows the string to sign and the canonical request" "$(cat "$tmp/body")"
fi
expect "a GET URL used for DELETE gets 403 SignatureDoesNotMatch" 403 SignatureDoesNotMatch DELETE "$url"
expect "a GET URL used for HEAD gets 403" 403 "" HEAD "$url"
expect "a GET URL with a parameter added gets 403 SignatureDoesNotMatch" 403 SignatureDoesNotMatch GET "$url&extra=1"
expect "a GET URL sent to another object gets 403 SignatureDoesNotMatch" 403 SignatureDoesNotMatch \
	GET "${url/file%20name/file%20nom}"
expect "a GET URL with another Host header gets 403 SignatureDoesNotMatch" 403 SignatureDoesNotMatch \
	GET "$url" -H "Host: localhost:$port"
expect "the Host header's port is not signed" 200 "" GET "$url" -H "Host: 127.0.0.1:1"
now=$(date +%s)
expect "an expired URL gets 400 ExpiredToken" 400 ExpiredToken \
	GET "$(sign "$tmp/sa.json" GET b "$name" "{\"when\": $((now - 3600)), \"expires\": 60}")"
expect "a URL dated more than 15 minutes ahead gets 400" 400 "" \
	GET "$(sign "$tmp/sa.json" GET b "$name" "{\"accessibleAt\": $((now + 3600))}")"
expect "a URL dated 5 minutes ahead is tolerated" 200 "" \
	GET "$(sign "$tmp/sa.json" GET b "$name" "{\"accessibleAt\": $((now + 300))}")"
expect "another account's email gets 403 AccessDenied" 403 AccessDenied \
	GET "$(sign "$tmp/stranger.json" GET b "$name")"
expect "the right email signed with another key gets 403 SignatureDoesNotMatch" 403 SignatureDoesNotMatch \
	GET "$(sign "$tmp/wrong-key.json" GET b "$name")"
expect "an unsigned GET gets 403 AccessDenied" 403 AccessDenied GET "$base/b/plain.txt"
expires=${url#*X-Goog-Expires=}
expires=${expires%%&*}
expect "an X-Goog-Expires over 7 days gets 400" 400 "" GET "${url/X-Goog-Expires=$expires/X-Goog-Expires=604801}"
expect "an unsigned x-goog header is refused with 400" 400 MalformedSecurityHeader \
	PUT "$(sign "$tmp/sa.json" PUT b unsigned-header)" -H 'x-goog-if-generation-match: 0' --data-binary x
if [ "$(stored b unsigned-header)" = none ]; then pass "... and nothing was stored"
else fail "... and nothing was stored"; fi
expect "a signed request to an unknown bucket gets 404 NoSuchBucket" 404 NoSuchBucket \
	GET "$(sign "$tmp/sa.json" GET nobucket x)"

# --- Conditional create, copy ---------------------------------------------
cond=$(sign "$tmp/sa.json" PUT b cond '{"headers": {"x-goog-if-generation-match": "0"}}')
expect "a conditional create succeeds the first time" 200 "" PUT "$cond" \
	-H 'x-goog-if-generation-match: 0' --data-binary first
gen=$(header x-goog-generation)
expect "the same conditional create gets 412 PreconditionFailed" 412 PreconditionFailed PUT "$cond" \
	-H 'x-goog-if-generation-match: 0' --data-binary second
expect "a PUT matching the current generation succeeds" 200 "" \
	PUT "$(sign "$tmp/sa.json" PUT b cond "{\"headers\": {\"x-goog-if-generation-match\": \"$gen\"}}")" \
	-H "x-goog-if-generation-match: $gen" --data-binary third
expect "a PUT naming an earlier generation gets 412 PreconditionFailed" 412 PreconditionFailed \
	PUT "$(sign "$tmp/sa.json" PUT b cond "{\"headers\": {\"x-goog-if-generation-match\": \"$gen\"}}")" \
	-H "x-goog-if-generation-match: $gen" --data-binary fourth
expect "a conditional create of another object succeeds" 200 "" PUT "$(sign "$tmp/sa.json" PUT b doomed \
	'{"headers": {"x-goog-if-generation-match": "0"}}')" -H 'x-goog-if-generation-match: 0' --data-binary once
gen=$(header x-goog-generation)
expect "a DELETE naming another generation gets 412 PreconditionFailed" 412 PreconditionFailed \
	DELETE "$(sign "$tmp/sa.json" DELETE b doomed "{\"headers\": {\"x-goog-if-generation-match\": \"$((gen - 1))\"}}")" \
	-H "x-goog-if-generation-match: $((gen - 1))"
if [ "$(stored b doomed)" = "$(printf once | sha256sum | cut -d' ' -f1)" ]; then pass "... and the object stays"
else fail "... and the object stays"; fi
expect "a DELETE naming the current generation deletes it" 204 "" \
	DELETE "$(sign "$tmp/sa.json" DELETE b doomed "{\"headers\": {\"x-goog-if-generation-match\": \"$gen\"}}")" \
	-H "x-goog-if-generation-match: $gen"
if [ "$(stored b doomed)" = none ]; then pass "... and the object is gone"
else fail "... and the object is gone"; fi
got=$(curl -sS -X POST -d '{"bucket": "b", "name": "by/hand", "text": "written"}' "$base/_standin/put")
if [ "$(stored b by/hand)" = "$(printf written | sha256sum | cut -d' ' -f1)" ] &&
	grep -q '"generation":[0-9]' <<<"$got"; then pass "an object written by hand (/_standin/put) is stored, its generation told"
else fail "an object written by hand (/_standin/put) is stored, its generation told" "$got"; fi
src="ünïcødé/日本語 ファイル.bin"
src_enc=$(node -e 'console.log(process.argv[1].split("/").map(encodeURIComponent).join("/"))' "$src")
expect "a server-side copy gets 200 CopyObjectResult" 200 "" \
	PUT "$(sign "$tmp/sa.json" PUT b2 "copied/$src" "{\"headers\": {\"x-goog-copy-source\": \"/b/$src_enc\"}}")" \
	-H "x-goog-copy-source: /b/$src_enc" -H 'Content-Length: 0'
grep -q '<CopyObjectResult>' "$tmp/body" || fail "the copy answers CopyObjectResult XML" "$(cat "$tmp/body")"
if [ "$(stored b2 "copied/$src")" = "$(stored b "$src")" ]; then pass "the copy has the source's bytes"
else fail "the copy has the source's bytes"; fi
expect "copying a missing object gets 404 NoSuchKey" 404 NoSuchKey \
	PUT "$(sign "$tmp/sa.json" PUT b2 copy2 '{"headers": {"x-goog-copy-source": "/b/missing"}}')" \
	-H 'x-goog-copy-source: /b/missing' -H 'Content-Length: 0'

# --- Resumable upload -------------------------------------------------------
head -c $((512 * 1024)) /dev/urandom >"$tmp/c1"
head -c $((256 * 1024)) /dev/urandom >"$tmp/c2"
head -c 1000 /dev/urandom >"$tmp/c3"
cat "$tmp/c1" "$tmp/c2" "$tmp/c3" >"$tmp/whole"
total=$(stat -c %s "$tmp/whole")
rname="resumable/big file ü.bin"
got=$(req POST "$(sign "$tmp/sa.json" POST b "$rname")" -H 'x-goog-resumable: start')
loc=$(header Location)
case "$got $loc" in
"201 http://127.0.0.1:$port/b/"*"?upload_id="*) pass "a signed resumable start gets 201 and a Location on this host" ;;
*) fail "a signed resumable start gets 201 and a Location on this host" "$got $loc $(cat "$tmp/body")" ;;
esac
steps=$(req PUT "$loc" -H "Content-Range: bytes 0-524287/*" --data-binary @"$tmp/c1")/$(header Range)
steps="$steps $(req PUT "$loc" -H 'Content-Range: bytes */*')/$(header Range)"
steps="$steps $(req PUT "$loc" -H "Content-Range: bytes 0-262143/*" --data-binary @"$tmp/c2")"
steps="$steps $(req PUT "$loc" -H "Content-Range: bytes 524288-786431/*" --data-binary @"$tmp/c2")/$(header Range)"
steps="$steps $(req PUT "$loc" -H "Content-Range: bytes 786432-$((total - 1))/$total" --data-binary @"$tmp/c3")"
want="308/bytes=0-524287 308/bytes=0-524287 400 308/bytes=0-786431 200"
desc="3 chunks: 308, status query 308, out-of-order 400, 308, 200"
if [ "$steps" = "$want" ]; then pass "$desc"; else fail "$desc" "got $steps"; fi
got=$(req GET "$(sign "$tmp/sa.json" GET b "$rname")")
if [ "$got" = 200 ] && [ "$(sha "$tmp/body")" = "$(sha "$tmp/whole")" ] &&
	[ "$(stored b "$rname")" = "$(sha "$tmp/whole")" ]; then
	pass "the resumable upload has the right SHA-256"
else
	fail "the resumable upload has the right SHA-256" "GET $got"
fi
got=$(req POST "$(sign "$tmp/sa.json" POST b partial)" -H 'x-goog-resumable: start')
loc=$(header Location)
head -c $((300 * 1024)) /dev/urandom >"$tmp/c4"
steps="$(req PUT "$loc" -H "Content-Range: bytes 0-$((300 * 1024 - 1))/*" --data-binary @"$tmp/c4")/$(header Range)"
steps="$steps $(req DELETE "$loc") $(req PUT "$loc" -H 'Content-Range: bytes */*')"
desc="an unaligned chunk keeps 256 KiB; a cancel gets 499, the session then 404"
if [ "$steps" = "308/bytes=0-262143 499 404" ]; then pass "$desc"; else fail "$desc" "got $steps"; fi
got=$(req POST "$(sign "$tmp/sa.json" POST b cond '{"headers": {"x-goog-if-generation-match": "0"}}')" \
	-H 'x-goog-resumable: start' -H 'x-goog-if-generation-match: 0')
loc=$(header Location)
expect "a resumable upload's precondition applies when it finishes" 412 PreconditionFailed PUT "$loc" \
	-H 'Content-Range: bytes 0-2/3' --data-binary abc
expect "a resumable start must be signed" 403 AccessDenied POST "$base/b/x" -H 'x-goog-resumable: start'

# --- Faults -----------------------------------------------------------------
curl -sS -X DELETE "$base/_standin/log"
curl -sS -X POST "$base/_standin/faults" -o /dev/null \
	-d '{"status":503,"count":2,"method":"PUT","path_prefix":"/b/faulty/"}'
steps=""
for n in 1 2 3; do
	steps="$steps$(req PUT "$(sign "$tmp/sa.json" PUT b faulty/f$n)" --data-binary x) "
done
steps="$steps$(req GET "$(sign "$tmp/sa.json" GET b faulty/f3)")"
logged=$(curl -sS "$base/_standin/log" | node -e 'let s = ""; process.stdin.on("data", (d) => s += d)
	.on("end", () => console.log(JSON.parse(s).map((e) => `${e.method}:${e.status}:${e.signed}`).join(" ")))')
if [ "$steps" = "503 503 200 200" ] && [ "$logged" = "PUT:503:true PUT:503:true PUT:200:true GET:200:true" ]; then
	pass "a fault with count 2 hits exactly 2 requests (and the log says so)"
else
	fail "a fault with count 2 hits exactly 2 requests (and the log says so)" "statuses $steps, log $logged"
fi
curl -sS -X POST "$base/_standin/faults" -o /dev/null -d '{"drop":true,"method":"PUT","path_prefix":"/b/dropped"}'
head -c $((1024 * 1024)) /dev/urandom >"$tmp/in"
got=$(req PUT "$(sign "$tmp/sa.json" PUT b dropped)" --data-binary @"$tmp/in")
again=$(req PUT "$(sign "$tmp/sa.json" PUT b dropped)" --data-binary @"$tmp/in")
last=$(curl -sS "$base/_standin/log" | node -e 'let s = ""; process.stdin.on("data", (d) => s += d)
	.on("end", () => console.log(JSON.parse(s).slice(-2).map((e) => e.status).join(" ")))')
desc="a drop fault cuts one upload off mid-body, logged as status 0"
if [ "$got $again $last" = "000 200 0 200" ]; then pass "$desc"; else fail "$desc" "$got $again, log $last"; fi

# --- HEAD, ranges, listing, delete, a large upload --------------------------
name="a+b=c&d?e#f;g,h.txt"
got=$(req HEAD "$(sign "$tmp/sa.json" HEAD b "$name")")
size=$(header Content-Length)
if [ "$got" = 200 ] && [ "$size" = 4007 ]; then pass "a signed HEAD gives Content-Length ($size)"
else fail "a signed HEAD gives Content-Length" "$got, Content-Length $size"; fi
got=$(req GET "$(sign "$tmp/sa.json" GET b "$name")" -H 'Range: bytes=10-19')
if [ "$got" = 206 ] && [ "$(header Content-Range)" = "bytes 10-19/4007" ] &&
	cmp -s "$tmp/body" <(tail -c +11 "$tmp/in4" | head -c 10); then
	pass "a Range GET gets 206 and the 10 bytes"
else fail "a Range GET gets 206 and the 10 bytes" "$got"; fi
got=$(req GET "$(sign "$tmp/sa.json" GET b "" '{"query": {"prefix": "dir/"}}')")
desc="a signed listing with a prefix lists what matches"
if [ "$got" = 200 ] && grep -q '<Key>dir/with space/file name.txt</Key><Generation>' "$tmp/body" &&
	! grep -q '<Key>plain.txt' "$tmp/body"; then pass "$desc"; else fail "$desc" "$got $(cat "$tmp/body")"; fi
expect "a signed HEAD of the bucket gets 200" 200 "" HEAD "$(sign "$tmp/sa.json" HEAD b "")"
expect "a signed DELETE gets 204" 204 "" DELETE "$(sign "$tmp/sa.json" DELETE b plain.txt)"
expect "the deleted object gets 404 NoSuchKey" 404 NoSuchKey GET "$(sign "$tmp/sa.json" GET b plain.txt)"
expect "deleting it again gets 404" 404 NoSuchKey DELETE "$(sign "$tmp/sa.json" DELETE b plain.txt)"
head -c $((300 * 1024 * 1024)) /dev/zero >"$tmp/in"
got=$(req PUT "$(sign "$tmp/sa.json" PUT b large)" --data-binary @"$tmp/in")
peak=$(awk '/^VmHWM/{ print $2 }' "/proc/$server_pid/status")
if [ "$got" = 200 ] && [ "$(stored b large)" = "$(sha "$tmp/in")" ] && [ "$peak" -lt 200000 ]; then
	pass "a 300 MiB upload is streamed (server peak RSS $((peak / 1024)) MiB)"
else fail "a 300 MiB upload is streamed" "$got, peak RSS $peak KiB"; fi
rm -f "$tmp/in"

if [ "$failures" -ne 0 ]; then
	echo "# $failures check(s) failed; server stderr:"
	sed 's/^/#   /' "$tmp/server.err"
	exit 1
fi
