#!/usr/bin/env bash
# A real client pulls, unpacks and runs an image; cached images are served
# without Nix; manifests and blobs are exact and retrievable by digest.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-pull.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
server_start "$work/srv" || { fail "pull: server starts"; exit 1; }

DOCKER=application/vnd.docker.distribution.manifest.v2+json
OCI=application/vnd.oci.image.manifest.v1+json

# 1. skopeo copy, umoci unpack, chroot run.
pulls "pull: skopeo copies shell/hello from the registry and umoci unpacks it" shell/hello "$work"
root=$work/bundle/rootfs
out=$(chroot "$root" hello 2>&1)
check "pull: chroot ROOTFS hello prints its greeting" [ "$out" = "Hello, world!" ]
out=$(chroot "$root" /bin/bash -c 'echo shell works' 2>&1)
check "pull: the shell image runs bash" [ "$out" = "shell works" ]
check "pull: /tmp is world-writable and sticky" [ "$(stat -c %a "$root/tmp")" = 1777 ]
check "pull: /usr/bin/env resolves inside the image" test -e "$root$(readlink "$root/usr/bin/env")"
check "pull: /etc/passwd has root and nobody" grep -q '^nobody:x:65534:' "$root/etc/passwd"
check "pull: the CA bundle is at ca-certificates.crt too" test -e "$root$(readlink "$root/etc/ssl/certs/ca-certificates.crt")"
check "pull: the config says Cmd bash for a shell image" grep -q '"bash"' "$work/bundle/config.json"

# 2. A second pull of the same image runs no Nix build.
before=$(builds_count)
pull_image shell/hello "$work/again"
after=$(builds_count)
check "pull: a second pull runs no Nix build ($before -> $after builds)" [ "$before" = 1 -a "$after" = 1 ]

# 3. Manifests: exact length, digest header = sha256 of the body, media type
# by Accept, and both retrievable by digest.
manifest_check() {
	local accept=$1 want=$2 hdr body len digest type
	hdr=$work/h.$RANDOM body=$work/b.$RANDOM
	curl -s -D "$hdr" -o "$body" -H "Accept: $accept" "$URL/v2/shell/hello/manifests/latest"
	type=$(grep -i '^content-type:' "$hdr" | tr -d '\r' | awk '{print $2}')
	len=$(grep -i '^content-length:' "$hdr" | tr -d '\r' | awk '{print $2}')
	digest=$(grep -i '^docker-content-digest:' "$hdr" | tr -d '\r' | awk '{print $2}')
	check "manifest: Accept $want gives media type $want" [ "$type" = "$want" ]
	check "manifest: Content-Length is exact for $want" [ "$len" = "$(stat -c %s "$body")" ]
	check "manifest: Docker-Content-Digest is the sha256 of the $want body" \
		[ "$digest" = "sha256:$(sha256sum "$body" | cut -d' ' -f1)" ]
	check "manifest: the $want answer by tag says Vary: Accept, so no cache in front mixes formats" \
		grep -qi '^vary: accept' "$hdr"
	curl -s -o "$body.bydigest" "$URL/v2/shell/hello/manifests/$digest"
	check "manifest: the $want manifest is retrievable by digest" cmp -s "$body" "$body.bydigest"
	MANIFEST=$body
}
manifest_check "$DOCKER" "$DOCKER"
manifest_check "$OCI" "$OCI"
manifest_check "$OCI;q=0.5, $DOCKER" "$DOCKER"

# 4. HEAD on a cached image: headers, no body, no build.
before=$(builds_count)
curl -s -I -H "Accept: $DOCKER" "$URL/v2/shell/hello/manifests/latest" >"$work/head"
check "manifest: HEAD answers 200 with a digest" grep -qi '^docker-content-digest: sha256:' "$work/head"
check "manifest: HEAD on a cached image runs no build" [ "$(builds_count)" = "$before" ]

# 5. Every layer and the config come back byte for byte.
ok=1
for d in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]' "$MANIFEST"); do
	got=$(curl -s "$URL/v2/shell/hello/blobs/$d" | sha256sum | cut -d' ' -f1)
	[ "sha256:$got" = "$d" ] || { ok=0; echo "blob $d came back as sha256:$got"; }
done
check "blob: every layer and the config are served byte for byte (X-Sendfile)" [ $ok = 1 ]
d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$MANIFEST")
code=$(curl -s -o /dev/null -w '%{http_code}' -r 0-9 "$URL/v2/shell/hello/blobs/$d")
check "blob: a Range request gets 206 from the web server" [ "$code" = 206 ]

# 6. The same request on a second, empty cache gives the same digests.
d1=$(curl -s -D - -o /dev/null -H "Accept: $DOCKER" "$URL/v2/shell/hello/manifests/latest" | grep -i '^docker-content-digest' | tr -d '\r' | awk '{print $2}')
server_stop
server_start "$work/srv2" || fail "pull: second server starts"
d2=$(curl -s -D - -o /dev/null -H "Accept: $DOCKER" "$URL/v2/shell/hello/manifests/latest" | grep -i '^docker-content-digest' | tr -d '\r' | awk '{print $2}')
check "pull: two fresh caches give the same manifest digest ($d1)" [ -n "$d1" -a "$d1" = "$d2" ]

# 7. A layer of several gzip pieces (bulksmall: 2 MiB in one file) unpacks
# whole, and its bytes do not depend on how many threads packed it.
digest_of() {
	curl -s -D - -o /dev/null -H "Accept: $DOCKER" "$URL/v2/$1/manifests/latest" |
		grep -i '^docker-content-digest' | tr -d '\r' | awk '{print $2}'
}
server_stop
server_start "$work/srv3" NIXERY_PACK_THREADS=1 || fail "pull: a server packing on one thread starts"
d1=$(digest_of bulksmall)
pulls "pull: skopeo copies bulksmall (a layer of several gzip members) and umoci unpacks it" bulksmall "$work/bulk"
store=$(nix-build --no-out-link "$TOP/nix/demo" -A bulksmall 2>/dev/null)
check "pull: its 2 MiB file comes out of the image byte for byte" \
	cmp "$store/share/bulk/part-000" "$work/bulk/bundle/rootfs$store/share/bulk/part-000"
server_stop
server_start "$work/srv4" NIXERY_PACK_THREADS=8 || fail "pull: a server packing on eight threads starts"
d2=$(digest_of bulksmall)
check "pull: one and eight packing threads give the same manifest digest ($d1)" [ -n "$d1" -a "$d1" = "$d2" ]

# 8. The compression level changes the layers' bytes, never what they hold:
# the config (the diff_ids of the uncompressed layers) stays the same.
config_of() {
	curl -s -H "Accept: $DOCKER" "$URL/v2/$1/manifests/latest" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])'
}
c1=$(config_of shell/hello) d1=$(digest_of shell/hello)
server_stop
server_start "$work/srv5" NIXERY_GZIP_LEVEL=1 || fail "pull: a server compressing at level 1 starts"
c2=$(config_of shell/hello) d2=$(digest_of shell/hello)
check "pull: level 1 packs other layer bytes than level 6 ($d2)" [ -n "$d2" -a "$d1" != "$d2" ]
check "pull: level 1 and level 6 layers hold the same tar streams (config $c1)" [ -n "$c1" -a "$c1" = "$c2" ]
