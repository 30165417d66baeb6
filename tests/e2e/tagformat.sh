#!/usr/bin/env bash
# The tag file: one format and one reading of it, whose owner is
# storage/tags.c (storage_tag_write writes it, storage_tag_answer says
# what a web server may send by it alone: a current file, the manifest
# and every blob it names there as committed). lighttpd's script
# (etc/lighttpd-files.lua, read_tag and whole) reads it again. A corpus
# of tag files (current, expired, damaged lines, blobs missing, of another
# size, with another time, not files; image indexes) is read by both: the
# C reader (tests/unit/rules tag) and the real lighttpd with the real
# script, for each manifest format and each index format. Wherever they
# differ is a failure.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-tagformat.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
RULES=$BUILD/tests/unit/rules
if [ ! -x "$RULES" ]; then
	fail "tagformat: $RULES is built (make unit)"
	exit 1
fi
docker=application/vnd.docker.distribution.manifest.v2+json
oci=application/vnd.oci.image.manifest.v1+json
list=application/vnd.docker.distribution.manifest.list.v2+json
index=application/vnd.oci.image.index.v1+json

# A package set with nothing in it: what the script leaves to a worker is
# answered at once, without a build.
mkdir -p "$work/nopkgs"
server_start "$work/srv" NIXERY_PKGS_PATH="$work/nopkgs" || { fail "tagformat: server starts"; exit 1; }
storage=$SERVER_DIR/storage

# The corpus, written under STORAGE_PATH for the image t/format: for case
# NAME, the tag files @NAME-d, -o, -l and -i (the same bytes, one asked
# for each format: Docker's and OCI's manifest, Docker's manifest list
# and the OCI index), the case's manifests (and, for an index, its two
# forms) and its layers. Standard output: NAME, then the digests of its
# Docker and OCI manifests, one case a line.
python3 - "$storage" >"$work/cases" <<'PY'
import hashlib, os, sys, time
root = sys.argv[1]
now = int(time.time())
FUTURE, PAST = now + 100000, now - 1000
B = os.path.join(root, "blobs", "sha256")
T = os.path.join(root, "tags", "t", "format")
os.makedirs(B, exist_ok=True)
os.makedirs(T, exist_ok=True)

def blob(data, mtime_ns=10**9):
    hexd = hashlib.sha256(data).hexdigest()
    path = os.path.join(B, hexd)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return hexd

def case(name, line=None, manifests=True, layers=1, setup=None, raw=None, index=None):
    d = blob(b"docker manifest of " + name.encode()) if manifests in (True, "docker") else \
        hashlib.sha256(b"docker manifest of " + name.encode()).hexdigest()
    o = blob(b"oci manifest of " + name.encode()) if manifests in (True, "oci") else \
        hashlib.sha256(b"oci manifest of " + name.encode()).hexdigest()
    l = blob(b"docker list of " + name.encode()) if index in (True, "list") else \
        hashlib.sha256(b"docker list of " + name.encode()).hexdigest()
    i_ = blob(b"oci index of " + name.encode()) if index in (True, "index") else \
        hashlib.sha256(b"oci index of " + name.encode()).hexdigest()
    ls = []
    for i in range(layers):
        data = ("layer %d of %s" % (i, name)).encode() * 10
        ls.append((blob(data), len(data)))
    ctx = {"d": d, "o": o, "l": l, "i": i_, "ls": ls, "future": FUTURE, "past": PAST,
           "blobs": "".join(" %s:%d" % b for b in ls)}
    if setup:
        setup(ctx)
    default = "{future} {d} {o} index {l} {i}{blobs}\n" if index else "{future} {d} {o}{blobs}\n"
    text = raw(ctx) if raw else (line or default).format(**ctx).encode()
    for fmt in "doli":
        path = os.path.join(T, "@%s-%s" % (name, fmt))
        if text is None:
            os.makedirs(path)
        else:
            with open(path, "wb") as f:
                f.write(text)
    print(name, d, o)

def touch(hexd, ns):
    os.utime(os.path.join(B, hexd), ns=(ns, ns))

def replace_by_folder(hexd):
    path = os.path.join(B, hexd)
    os.unlink(path)
    os.makedirs(path)
    os.utime(path, ns=(10**9, 10**9))

# Current files, sent.
case("current")
case("no-blobs", layers=0)
case("many-blobs", layers=20)
case("far-future", "999999999999999999 {d} {o}{blobs}\n")
case("leading-zeros", "0{future} {d} {o}{blobs}\n")
# Past their time.
case("expired", "{past} {d} {o}{blobs}\n")
case("expired-zero", "0 {d} {o}{blobs}\n")
# Blobs not there as committed.
case("blob-missing", setup=lambda c: os.unlink(os.path.join(B, c["ls"][0][0])))
case("blob-missing-among", layers=3, setup=lambda c: os.unlink(os.path.join(B, c["ls"][1][0])))
case("blob-bigger", raw=lambda c: ("{future} {d} {o} %s:%d\n" % (c["ls"][0][0], c["ls"][0][1] + 1)).format(**c).encode())
case("blob-smaller", raw=lambda c: ("{future} {d} {o} %s:%d\n" % (c["ls"][0][0], c["ls"][0][1] - 1)).format(**c).encode())
case("blob-size-zero", raw=lambda c: ("{future} {d} {o} %s:0\n" % c["ls"][0][0]).format(**c).encode())
case("blob-written-since", setup=lambda c: touch(c["ls"][0][0], 1700000000 * 10**9))
case("blob-time-zero", setup=lambda c: touch(c["ls"][0][0], 0))
case("blob-a-nanosecond-off", setup=lambda c: touch(c["ls"][0][0], 10**9 + 1))
case("blob-a-folder", setup=lambda c: replace_by_folder(c["ls"][0][0]))
case("docker-manifest-missing", manifests="oci")
case("oci-manifest-missing", manifests="docker")
case("oci-manifest-written-since", setup=lambda c: touch(c["o"], 1700000000 * 10**9))
case("docker-manifest-a-folder", setup=lambda c: replace_by_folder(c["d"]))
# Lines not in the format.
case("two-spaces", "{future}  {d} {o}{blobs}\n")
case("tab", "{future}\t{d} {o}{blobs}\n")
case("leading-space", " {future} {d} {o}{blobs}\n")
case("trailing-space", "{future} {d} {o}{blobs} \n")
case("no-newline", "{future} {d} {o}{blobs}")
case("crlf", "{future} {d} {o}{blobs}\r\n")
case("second-line", "{future} {d} {o}{blobs}\nmore\n")
case("empty-second-line", "{future} {d} {o}{blobs}\n\n")
case("signed-time", "+{future} {d} {o}{blobs}\n")
case("time-of-19-digits", "1000000000000000000 {d} {o}{blobs}\n")
case("size-of-19-digits", raw=lambda c: ("{future} {d} {o} %s:0000000000000000001\n" % c["ls"][0][0]).format(**c).encode())
case("size-of-18-digits", raw=lambda c: ("{future} {d} {o} %s:%018d\n" % c["ls"][0]).format(**c).encode())
case("capitals", raw=lambda c: "{future} {d} {o}{blobs}\n".format(**c).upper().encode())
case("digest-65", "{future} {d}0 {o}{blobs}\n")
case("digest-63", raw=lambda c: ("{future} %s {o}{blobs}\n" % c["d"][:63]).format(**c).encode())
case("size-missing", raw=lambda c: ("{future} {d} {o} %s\n" % c["ls"][0][0]).format(**c).encode())
case("size-empty", raw=lambda c: ("{future} {d} {o} %s:\n" % c["ls"][0][0]).format(**c).encode())
case("size-letter", raw=lambda c: ("{future} {d} {o} %s:%dx\n" % c["ls"][0]).format(**c).encode())
case("size-negative", raw=lambda c: ("{future} {d} {o} %s:-%d\n" % c["ls"][0]).format(**c).encode())
case("junk-after-blobs", "{future} {d} {o}{blobs} junk\n")
case("junk-between-blobs", layers=2, raw=lambda c: ("{future} {d} {o} %s:%d x %s:%d\n" % (c["ls"][0] + c["ls"][1])).format(**c).encode())
case("short-blob", "{future} {d} {o} cc:12\n")
case("nul", raw=lambda c: "{future} {d} {o}{blobs}\n".format(**c).encode().replace(b" ", b"\0", 1))
case("empty", raw=lambda c: b"")
case("not-a-tag-file", raw=lambda c: b"not a tag file\n")
case("a-folder", raw=lambda c: None)
# Long files: the reader takes up to 1 MiB, and no more.
case("long", raw=lambda c: ("{future} {d} {o}" + " %s:%d" % c["ls"][0] * 15000 + "\n").format(**c).encode())
# Image indexes: sent to a client that takes one, the first platform's
# manifest to one that does not.
case("index", index=True, layers=4)
case("index-no-blobs", index=True, layers=0)
case("index-expired", "{past} {d} {o} index {l} {i}{blobs}\n", index=True)
case("index-list-missing", index="index")
case("index-oci-missing", index="list")
case("index-blob-missing", index=True, layers=2, setup=lambda c: os.unlink(os.path.join(B, c["ls"][1][0])))
case("index-list-written-since", index=True, setup=lambda c: touch(c["l"], 1700000000 * 10**9))
case("index-word-only", "{future} {d} {o} index{blobs}\n", index=True)
case("index-one-digest", "{future} {d} {o} index {l}{blobs}\n", index=True)
case("index-capital", "{future} {d} {o} INDEX {l} {i}{blobs}\n", index=True)
case("index-two-spaces", "{future} {d} {o} index  {l} {i}{blobs}\n", index=True)
case("index-after-blobs", "{future} {d} {o}{blobs} index {l} {i}\n", index=True)
case("index-twice", "{future} {d} {o} index {l} {i} index {l} {i}{blobs}\n", index=True)
case("index-digest-65", "{future} {d} {o} index {l}0 {i}{blobs}\n", index=True)
case("too-long", raw=lambda c: ("{future} {d} {o}" + " %s:%d" % c["ls"][0] * 15300 + "\n").format(**c).encode())
PY
now=$(date +%s)
check "tagformat: the corpus is written ($(wc -l <"$work/cases") cases)" [ "$(wc -l <"$work/cases")" -gt 40 ]
# What lighttpd and the script learned of a file lasts the rest of a second.
sleep 1.2

# lighttpd's answer for one tag file in one format: the manifest's digest
# when it sent the case's manifest, "-" when not (a worker answered).
sent() {
	local code
	code=$(curl -s -o "$work/answer" -w '%{http_code}' -H "Accept: $2" "$URL/v2/t/format/manifests/$1")
	if [ "$code" = 200 ] && grep -q "^\(docker manifest\|oci manifest\|docker list\|oci index\) of " "$work/answer"; then
		sha256sum <"$work/answer" | cut -d' ' -f1
	else
		echo -
	fi
}

# c_answer CASE FILE LABEL: the C reader's answer from the case's file
# FILE (d, o, l or i) for the client LABEL.
c_answer() {
	"$RULES" tag "$storage" t/format "$1-$2" "$now" | awk -v l="$3" '$1 == l { print $2 }'
}

served=0 refused=0 indexes=0
while read -r name d _; do
	c_docker=$(c_answer "$name" d docker)
	c_oci=$(c_answer "$name" o oci)
	c_list=$(c_answer "$name" l docker-list)
	c_index=$(c_answer "$name" i oci-index)
	l_docker=$(sent "$name-d" "$docker")
	l_oci=$(sent "$name-o" "$oci")
	l_list=$(sent "$name-l" "$list, $docker")
	l_index=$(sent "$name-i" "$index, $oci")
	check "tagformat: $name: the C reader and lighttpd's script agree (docker: C ${c_docker:0:12}, script ${l_docker:0:12}; oci: C ${c_oci:0:12}, script ${l_oci:0:12}; list: C ${c_list:0:12}, script ${l_list:0:12}; index: C ${c_index:0:12}, script ${l_index:0:12})" \
		[ -n "$c_docker" -a "$c_docker" = "$l_docker" -a -n "$c_oci" -a "$c_oci" = "$l_oci" \
			-a -n "$c_list" -a "$c_list" = "$l_list" -a -n "$c_index" -a "$c_index" = "$l_index" ]
	[ "$c_docker" = "$d" ] && served=$((served + 1))
	[ "$c_docker" = - ] && refused=$((refused + 1))
	[ "$c_index" != - ] && [ "$c_index" != "$c_oci" ] && indexes=$((indexes + 1))
done <"$work/cases"
check "tagformat: the corpus has files both send ($served) and files both refuse ($refused)" \
	[ "$served" -ge 5 -a "$refused" -ge 30 ]
check "tagformat: an image index is sent by both to a client that takes one ($indexes cases)" [ "$indexes" -ge 2 ]
