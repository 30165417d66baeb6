#!/usr/bin/env bash
# A moving source (a local package set) is trusted for NIXERY_EVAL_TTL; after
# it, a change to the package set shows up in the next image.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-ttl.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
mkdir -p "$work/pkgs" && cp "$TOP/nix/demo/default.nix" "$work/pkgs/"
server_start "$work/srv" NIXERY_PKGS_PATH="$work/pkgs" NIXERY_EVAL_TTL=3 || { fail "ttl: server starts"; exit 1; }

digest() {
	curl -s -D - -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"$URL/v2/hello/manifests/latest" | grep -i '^docker-content-digest' | tr -d '\r' | awk '{print $2}'
}
first=$(digest)
sed -i 's/Hello, world!/Hello, changed world!/' "$work/pkgs/default.nix"
within=$(digest)
check "ttl: within the TTL the cached image is served" [ -n "$first" -a "$first" = "$within" ]
sleep 4
after=$(digest)
check "ttl: after the TTL a changed package set gives a new image" [ -n "$after" -a "$after" != "$first" ]
pull_image hello "$work/image"
check "ttl: the new image has the change" [ "$(chroot "$work/image/bundle/rootfs" hello 2>&1)" = "Hello, changed world!" ]
