#!/usr/bin/env bash
# One name, every platform (NIXERY_PLATFORMS="linux/amd64 linux/arm64"),
# with real clients: the index a client that takes one gets, its entries'
# platforms, each platform's manifest and config by digest and with HEAD,
# the first platform's manifest for a client that takes no index, lighttpd
# sending the index from the tag file; Docker 20.10 pulling each platform
# of one name, containerd's ctr and podman pulling arm64, skopeo and umoci
# unpacking arm64, whose busybox is an aarch64 ELF that qemu-aarch64-static
# runs as the shell of bin/hello; a package not offered for arm64 leaving
# it out (annotation, log, page); metrics by platform; the arm64
# meta-package still one platform.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-platforms.XXXXXX)
dockerd_pid=
cleanup() {
	[ -z "$dockerd_pid" ] || { kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null; }
	server_stop
	# dockerd's and podman's layers: mounts and read-only files.
	umount -R "$work/docker" 2>/dev/null
	rm -rf "$work" 2>/dev/null || { chmod -R u+w "$work"; rm -rf "$work"; }
}
trap cleanup EXIT
INDEX=application/vnd.oci.image.index.v1+json
LIST=application/vnd.docker.distribution.manifest.list.v2+json
OCI=application/vnd.oci.image.manifest.v1+json
DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json

server_start "$work/srv" NIX_TIMEOUT=600 NIXERY_PLATFORMS="linux/amd64 linux/arm64" ||
	{ fail "platforms: server starts"; exit 1; }
IMAGE=127.0.0.1:$PORT/shell/hello

# get PATH ACCEPT [curl args]: the status; headers in $work/h, body in $work/b.
get() {
	local path=$1 accept=$2; shift 2
	curl -s -D "$work/h" -o "$work/b" -w '%{http_code}' -H "Accept: $accept" "$@" "$URL$path"
}
header() { grep -i "^$1:" "$work/h" | tail -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$2"; }

code=$(get /v2/shell/hello/manifests/latest "$INDEX, $OCI")
check "platforms: a client that takes an OCI index gets one ($code, $(header content-type))" \
	eval '[ "$code" = 200 ] && [ "$(header content-type)" = "$INDEX" ]'
cp "$work/b" "$work/index"
index=$(header docker-content-digest)
check "platforms: its Docker-Content-Digest is its digest" [ "$index" = "sha256:$(sha256sum <"$work/index" | cut -d' ' -f1)" ]
entries=$(json '" ".join(m["platform"]["os"] + "/" + m["platform"]["architecture"] + ("/" + m["platform"]["variant"] if "variant" in m["platform"] else "") for m in d["manifests"])' "$work/index")
check "platforms: it names one manifest per platform, with OCI platform fields ($entries)" \
	[ "$entries" = "linux/amd64 linux/arm64/v8" ]
amd=$(json 'd["manifests"][0]["digest"]' "$work/index")
arm=$(json 'd["manifests"][1]["digest"]' "$work/index")
for d in "$amd" "$arm"; do
	code=$(get "/v2/shell/hello/manifests/$d" "$OCI")
	check "platforms: manifest $d is fetched by digest ($code)" \
		eval '[ "$code" = 200 ] && [ "$(header content-type)" = "$OCI" ] && [ "sha256:$(sha256sum <"$work/b" | cut -d" " -f1)" = "$d" ]'
	config=$(json 'd["config"]["digest"]' "$work/b")
	code=$(curl -s -o "$work/config" -w '%{http_code}' "$URL/v2/shell/hello/blobs/$config")
	arch=$(json 'd["architecture"] + "/" + d.get("variant", "")' "$work/config")
	check "platforms: its config is fetched by digest ($code, $arch)" [ "$code" = 200 ]
	echo "$arch" >>"$work/archs"
	code=$(curl -s -I -o /dev/null -w '%{http_code}' "$URL/v2/shell/hello/manifests/$d")
	check "platforms: and with HEAD ($code)" [ "$code" = 200 ]
done
check "platforms: the configs are amd64's and arm64's (v8) ($(tr '\n' ' ' <"$work/archs"))" \
	[ "$(tr '\n' ' ' <"$work/archs")" = "amd64/ arm64/v8 " ]
code=$(curl -s -I -D "$work/h" -o /dev/null -w '%{http_code}' "$URL/v2/shell/hello/manifests/$index")
check "platforms: the index is fetched by digest with HEAD ($code, $(header content-type))" \
	eval '[ "$code" = 200 ] && [ "$(header content-type)" = "$INDEX" ] && [ "$(header docker-content-digest)" = "$index" ]'
code=$(get /v2/shell/hello/manifests/latest "$OCI")
check "platforms: a client that takes no index gets the first platform's manifest ($code)" \
	eval '[ "$code" = 200 ] && [ "$(header docker-content-digest)" = "$amd" ]'
code=$(get /v2/shell/hello/manifests/latest "$DOCKER_MANIFEST, $LIST, $OCI, $INDEX")
list=$(header docker-content-digest)
check "platforms: a client that ranks Docker's manifest list first gets one ($code, $(header content-type))" \
	eval '[ "$code" = 200 ] && [ "$(header content-type)" = "$LIST" ]'
arm_docker=$(json 'd["manifests"][1]["digest"]' "$work/b")
before=$(curl -s "$URL/metrics" | awk '/^nixery_requests_total\{route="manifest"/ { n += $2 } END { print n + 0 }')
sleep 1.2
code=$(get /v2/shell/hello/manifests/latest "$INDEX, $OCI")
after=$(curl -s "$URL/metrics" | awk '/^nixery_requests_total\{route="manifest"/ { n += $2 } END { print n + 0 }')
check "platforms: lighttpd sends the index from the tag file, without a worker ($before, $after)" \
	eval '[ "$code" = 200 ] && [ "$before" = "$after" ] && cmp -s "$work/b" "$work/index"'
check "platforms: tags are unchanged ($(curl -s "$URL/v2/shell/hello/tags/list"))" \
	eval '[ "$(curl -s "$URL/v2/shell/hello/tags/list")" = "{\"name\":\"shell/hello\",\"tags\":[\"latest\"]}" ]'
check "platforms: the catalog too ($(curl -s "$URL/v2/_catalog"))" \
	eval '[ "$(curl -s "$URL/v2/_catalog")" = "{\"repositories\":[\"shell/hello\"]}" ]'

# The arm64 meta-package: one platform, the index's own arm64 image.
code=$(get /v2/arm64/shell/hello/manifests/latest "$DOCKER_MANIFEST, $LIST")
check "platforms: arm64/shell/hello is one manifest, the index's arm64 one ($code, $(header content-type))" \
	eval '[ "$code" = 200 ] && [ "$(header content-type)" = "$DOCKER_MANIFEST" ] && [ "$(header docker-content-digest)" = "$arm_docker" ]'

# skopeo and umoci: the arm64 image's shell is an aarch64 ELF, which
# qemu-aarch64-static runs as the shell of bin/hello; the amd64 one's is
# x86-64.
elf_machine() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(20); print(d[:4]==b"\x7fELF" and struct.unpack("<H", d[18:20])[0])' "$1"; }
# inside ROOT PATH: PATH's file, its links followed inside ROOT.
inside() { python3 - "$1" "$2" <<'PY'
import os, sys
root, path = sys.argv[1], sys.argv[2]
for _ in range(40):
    full = root + path
    if not os.path.islink(full):
        break
    target = os.readlink(full)
    path = target if target.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(path), target))
print(root + path)
PY
}
for arch in arm64 amd64; do
	rm -rf "$work/$arch"
	mkdir -p "$work/$arch"
	if skopeo copy --quiet --src-tls-verify=false --override-arch "$arch" "docker://$IMAGE" "oci:$work/$arch/oci:latest" \
		>"$work/$arch.log" 2>&1 && umoci unpack --image "$work/$arch/oci:latest" "$work/$arch/bundle" >>"$work/$arch.log" 2>&1; then
		pass "platforms: skopeo copy --override-arch $arch and umoci unpack"
	else
		fail "platforms: skopeo copy --override-arch $arch and umoci unpack ($(tail -2 "$work/$arch.log"))"
	fi
done
sh_arm=$(inside "$work/arm64/bundle/rootfs" /bin/sh)
sh_amd=$(inside "$work/amd64/bundle/rootfs" /bin/sh)
check "platforms: the arm64 image's bin/sh is an aarch64 ELF ($(elf_machine "$sh_arm"))" [ "$(elf_machine "$sh_arm")" = 183 ]
check "platforms: the amd64 image's bin/sh is an x86-64 ELF ($(elf_machine "$sh_amd"))" [ "$(elf_machine "$sh_amd")" = 62 ]
cp /usr/bin/qemu-aarch64-static "$work/arm64/bundle/rootfs/qemu-aarch64-static"
out=$(chroot "$work/arm64/bundle/rootfs" /qemu-aarch64-static /bin/sh /bin/hello 2>&1)
check "platforms: qemu-aarch64-static runs the arm64 image's shell on bin/hello: \"$out\"" [ "$out" = "Hello, world!" ]

# Docker 20.10 (Debian's docker.io), a daemon of its own: each platform
# of one name, by --platform.
DOCKER="/usr/bin/docker -H unix://$work/docker.sock"
mkdir -p "$work/docker"
dockerd --iptables=false --bridge=none --storage-driver vfs --host "unix://$work/docker.sock" --data-root "$work/docker/data" \
	--exec-root "$work/docker/exec" --pidfile "$work/docker/pid" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 100); do $DOCKER version >/dev/null 2>&1 && break; sleep 0.3; done
for platform in linux/arm64 linux/amd64; do
	if $DOCKER pull --platform "$platform" "$IMAGE" >"$work/docker-pull.log" 2>&1; then
		got=$($DOCKER image inspect --format '{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}' "$IMAGE")
		check "platforms: docker pull --platform $platform, and docker image inspect says $got" \
			eval '[ "$got" = "$platform" ] || [ "$got" = "$platform/v8" ]'
	else
		fail "platforms: docker pull --platform $platform ($(tail -2 "$work/docker-pull.log"))"
	fi
done
out=$($DOCKER run --rm "$IMAGE" hello 2>&1)
check "platforms: docker runs the amd64 image it pulled: \"$out\"" [ "$out" = "Hello, world!" ]

# containerd's ctr, through dockerd's containerd.
CTR="ctr --address $work/docker/exec/containerd/containerd.sock --namespace nixery-test"
if $CTR images pull --plain-http --platform linux/arm64 "$IMAGE:latest" >"$work/ctr.log" 2>&1; then
	pass "platforms: ctr images pull --plain-http --platform linux/arm64"
	check "platforms: ctr fetched the arm64 manifest" \
		eval '$CTR content ls | grep -q -e "${arm#sha256:}" -e "${arm_docker#sha256:}"'
else
	fail "platforms: ctr images pull --plain-http --platform linux/arm64 ($(tail -2 "$work/ctr.log"))"
fi
kill "$dockerd_pid" 2>/dev/null
wait "$dockerd_pid" 2>/dev/null
dockerd_pid=

# podman, with storage of its own.
PODMAN="podman --root $work/podman/root --runroot $work/podman/run --storage-driver vfs"
if $PODMAN pull --tls-verify=false --arch arm64 "$IMAGE" >"$work/podman.log" 2>&1; then
	got=$($PODMAN image inspect --format '{{.Os}}/{{.Architecture}}' "$IMAGE")
	check "platforms: podman pull --arch arm64, and podman image inspect says $got" [ "$got" = linux/arm64 ]
else
	fail "platforms: podman pull --arch arm64 ($(tail -2 "$work/podman.log"))"
fi

# A package not offered for aarch64-linux: the index leaves linux/arm64
# out and says so, as the log and the page do.
code=$(get /v2/amd64only/manifests/latest "$INDEX, $OCI")
entries=$(json '" ".join(m["platform"]["architecture"] for m in d["manifests"])' "$work/b")
note=$(json 'd.get("annotations", {}).get("nixery-fcgi.platforms.left-out", "")' "$work/b")
check "platforms: a package offered for amd64 only gives an index of amd64 alone ($code, $entries)" \
	eval '[ "$code" = 200 ] && [ "$entries" = amd64 ]'
check "platforms: its annotation says why linux/arm64 was left out ($note)" \
	eval 'echo "$note" | grep -q "linux/arm64: not offered for aarch64-linux (meta.platforms): amd64only"'
check "platforms: the log says so" grep -q "amd64only:latest: linux/arm64 is left out of its index" "$SERVER_DIR/run/nixery-fcgi.log"
curl -s -o "$work/page" "$URL/"
check "platforms: the page lists it as left out, with why" \
	eval 'grep -q "<code>amd64only:latest</code></td><td class=\"platform\">linux/arm64</td><td class=\"muted\">left out</td>" "$work/page" && grep -q "not offered for aarch64-linux" "$work/page"'
check "platforms: the page's composer names the platforms served" \
	grep -q 'Built for <code class="platform">linux/amd64</code> and <code class="platform">linux/arm64</code>' "$work/page"
check "platforms: the page lists each build with its platform" \
	eval 'grep -q "<code>shell/hello:latest</code></td><td class=\"platform\">linux/arm64</td><td class=\"ok\">ok</td>" "$work/page" && grep -q "<code>shell/hello:latest</code></td><td class=\"platform\">linux/amd64</td><td class=\"ok\">ok</td>" "$work/page"'
curl -s -o "$work/metrics" "$URL/metrics"
check "platforms: builds are counted by platform ($(grep '^nixery_builds_started_total' "$work/metrics" | tr '\n' ' '))" \
	eval 'grep -q "^nixery_builds_started_total{platform=\"linux/arm64\"} [1-9]" "$work/metrics" && grep -q "^nixery_builds_started_total{platform=\"linux/amd64\"} [1-9]" "$work/metrics"'
code=$(get /v2/nosuchpackage/manifests/latest "$INDEX")
check "platforms: a package on no platform is still a 404 naming it ($code)" \
	eval '[ "$code" = 404 ] && grep -q nosuchpackage "$work/b"'
