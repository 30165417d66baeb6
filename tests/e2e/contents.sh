#!/usr/bin/env bash
# What images contain and how names resolve: the nonroot meta-package runs
# as an unprivileged user; attribute paths and case are resolved at every
# level; arm64 evaluates for aarch64-linux, is not found where linux/arm64
# is not served, and says clearly what is missing where Nix cannot build it.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-contents.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
server_start "$work/srv" || { fail "contents: server starts"; exit 1; }


check "contents: shell/nonroot pulls and unpacks" pull_image shell/nonroot "$work/nr"
root=$work/nr/bundle/rootfs
uid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["process"]["user"]["uid"])' "$work/nr/bundle/config.json")
check "contents: a nonroot image's config runs as uid 1000 (got $uid)" [ "$uid" = 1000 ]
out=$(chroot --userspec=1000:1000 "$root" id -u 2>&1)
check "contents: id -u in the nonroot image, as its user, is non-zero ($out)" [ "$out" = 1000 ]
out=$(chroot --userspec=1000:1000 "$root" /bin/sh -c 'cd /home/user && echo hi > f && cat f' 2>&1)
check "contents: the user can write its home directory ($out)" [ "$out" = hi ]
check "contents: /etc/passwd names the user" grep -q '^user:x:1000:1000:user:/home/user:' "$root/etc/passwd"
out=$(chroot --userspec=1000:1000 "$root" /bin/sh -c 'echo x > /tmp/t && cat /tmp/t' 2>&1)
check "contents: the user can write /tmp ($out)" [ "$out" = x ]

code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/demopackages.alpha/demopackages.beta/manifests/latest")
check "contents: dotted attribute paths resolve, ignoring case at every level ($code)" [ "$code" = 200 ]
check "contents: a leading digit finds the _-prefixed attribute" pull_image 1password "$work/op"
check "contents: the _1password package is linked into /bin" test -L "$work/op/bundle/rootfs/bin/1password-demo"
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/demopackages/manifests/latest")
check "contents: an attribute set that is not a package is unknown ($code)" [ "$code" = 404 ]

# arm64: evaluation gives aarch64-linux derivations; a host that does not
# serve linux/arm64 (NIXERY_PLATFORMS, by default the host's own) says so,
# naming what it serves.
drv=$(nix-instantiate "$TOP/nix/image.nix" -A contents --argstr packages '["hello"]' \
	--argstr srcType path --argstr srcArgs "$TOP/nix/demo" --argstr system aarch64-linux 2>/dev/null)
system=$(nix show-derivation --extra-experimental-features nix-command "$drv" 2>/dev/null | python3 -c 'import json,sys; print(list(json.load(sys.stdin).values())[0]["system"])')
check "contents: arm64 evaluates to aarch64-linux derivations ($system)" [ "$system" = aarch64-linux ]
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/arm64/hello/manifests/latest")
check "contents: arm64 where linux/arm64 is not served is a 404 MANIFEST_UNKNOWN ($code)" \
	eval '[ "$code" = 404 ] && grep -q "\"code\":\"MANIFEST_UNKNOWN\"" "$work/b"'
check "contents: it names the platforms served ($(cat "$work/b"))" \
	grep -q 'does not serve linux/arm64: it serves linux/amd64 (NIXERY_PLATFORMS)' "$work/b"

# Served, but Nix here is not let build aarch64-linux (nix.conf without
# extra-platforms, and no builder): the host's configuration, a 404 that
# says how to fix it, not a registry failure. A nonce makes the demo set's
# derivations new ones: none is in the store already.
server_stop
mkdir -p "$work/nixconf"
grep -v '^[[:space:]]*extra-platforms' /etc/nix/nix.conf >"$work/nixconf/nix.conf"
server_start "$work/srv-arm" NIXERY_PLATFORMS="linux/amd64 linux/arm64" NIX_CONF_DIR="$work/nixconf" \
	NIXERY_DEMO_NONCE="contents-$RANDOM$RANDOM" ||
	{ fail "contents: a server of two platforms starts"; exit 1; }
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/arm64/hello/manifests/latest")
check "contents: arm64 served on a host that cannot build it is a 404 MANIFEST_UNKNOWN, not a 500 ($code)" \
	eval '[ "$code" = 404 ] && grep -q "\"code\":\"MANIFEST_UNKNOWN\"" "$work/b"'
check "contents: the error says how to fix it ($(head -c 300 "$work/b"))" \
	grep -q 'this host cannot build for aarch64-linux: give Nix a remote builder for aarch64-linux, or emulation' "$work/b"
server_stop
server_start "$work/srv2" || { fail "contents: server starts again"; exit 1; }

# A package's second output by attribute path; its GC roots are released
# once the image is packed.
check "contents: libmulti.dev, a second output, pulls" pull_image libmulti.dev/libmulti "$work/multi"
check "contents: the dev output's files are in the image" test -e "$work/multi/bundle/rootfs/include/multi.h"
check "contents: and the default output's" test -L "$work/multi/bundle/rootfs/bin/multi"
check "contents: no GC root is left once images are packed ($(ls "$SERVER_DIR/state/gcroots" | tr '\n' ' '))" \
	[ -z "$(ls -A "$SERVER_DIR/state/gcroots")" ]
