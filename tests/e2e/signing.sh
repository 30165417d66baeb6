#!/usr/bin/env bash
# The project's presigned URLs agree byte for byte with the official client
# libraries', which sign offline here: AWS's @aws-sdk/s3-request-presigner
# for S3 (SigV4, AWS's own hosts and S3-compatible servers by path) and
# Google's @google-cloud/storage getSignedUrl v4 for GCS, on cases of
# varied object names, times, expiries, regions and endpoints
# (tests/signing/cases.py). The libraries' versions are pinned by
# tests/npm/package-lock.json and installed into var/npm.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-signing.XXXXXX)
trap 'rm -rf "$work"' EXIT
PER_KIND=24

npm_tools
check "signing: the official client libraries are installed from the lockfile ($(tail -1 "$TOP/var/npm.log" 2>/dev/null))" \
	test -d "$NPM_DIR/node_modules/@aws-sdk/s3-request-presigner" -a -d "$NPM_DIR/node_modules/@google-cloud/storage"
npm_dir=$NPM_DIR
cp "$TOP/tests/signing/presign.mjs" "$npm_dir/"

key=$TOP/tests/unit/gcs-conformance/test_service_account.not-a-test.json
python3 "$TOP/tests/signing/cases.py" "$PER_KIND" "$key" >"$work/cases.json"
"$BUILD/tests/unit/sign_urls" <"$work/cases.json" >"$work/ours" 2>&1
(cd "$npm_dir" && node presign.mjs) <"$work/cases.json" >"$work/theirs" 2>"$work/node.err"
check "signing: both sides signed all $((2 * PER_KIND)) cases ($(wc -l <"$work/ours") and $(wc -l <"$work/theirs") URLs; $(grep -m2 -i error "$work/node.err"))" \
	[ "$(wc -l <"$work/ours")" = $((2 * PER_KIND)) -a "$(wc -l <"$work/theirs")" = $((2 * PER_KIND)) ]

python3 - "$work/cases.json" "$work/ours" "$work/theirs" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))
ours, theirs = open(sys.argv[2]).read().split("\n"), open(sys.argv[3]).read().split("\n")
for i, c in enumerate(cases):
    lib = "@aws-sdk/s3-request-presigner" if c["kind"] == "s3" else "@google-cloud/storage getSignedUrl v4"
    how = ("%s, %s" % (c["region"], "by path at " + c["authority"] if c["bucket"] else "virtual-hosted")
           if c["kind"] == "s3" else "expires %d s" % c["expires"])
    name = "signing: %s case %d (%s, object %r) agrees byte for byte with %s" % (c["kind"], i, how, c["object"][:40], lib)
    a, b = ours[i] if i < len(ours) else "", theirs[i] if i < len(theirs) else ""
    print(("PASS: %s" % name) if a == b and a.startswith("http") else ("FAIL: %s (ours %s, theirs %s)" % (name, a, b)))
PY

# The comparison can fail: another secret gives another signature.
python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))[:1]; c[0]["secret_key"] += "x"; json.dump(c, sys.stdout)' \
	"$work/cases.json" | "$BUILD/tests/unit/sign_urls" >"$work/other"
check "signing: a case signed with another secret differs from the library's URL" \
	eval '[ -s "$work/other" ] && [ "$(cat "$work/other")" != "$(head -1 "$work/theirs")" ]'
