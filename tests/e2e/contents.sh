#!/usr/bin/env bash
# What images contain and how names resolve: the nonroot meta-package runs
# as an unprivileged user; attribute paths and case are resolved at every
# level; arm64 evaluates for aarch64-linux and says clearly what is missing.
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

# arm64: evaluation gives aarch64-linux derivations; this host cannot build
# them, and the error says so.
drv=$(nix-instantiate "$TOP/nix/image.nix" -A contents --argstr packages '["hello"]' \
	--argstr srcType path --argstr srcArgs "$TOP/nix/demo" --argstr system aarch64-linux 2>/dev/null)
system=$(nix show-derivation --extra-experimental-features nix-command "$drv" 2>/dev/null | python3 -c 'import json,sys; print(list(json.load(sys.stdin).values())[0]["system"])')
check "contents: arm64 evaluates to aarch64-linux derivations ($system)" [ "$system" = aarch64-linux ]
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/arm64/hello/manifests/latest")
check "contents: arm64 on an x86_64 host without a builder is a 500 ($code)" [ "$code" = 500 ]
check "contents: the arm64 error says how to fix it" grep -q 'this host cannot build for aarch64-linux: configure a remote builder' "$work/b"

# A package's second output by attribute path; its GC roots are released
# once the image is packed.
check "contents: libmulti.dev, a second output, pulls" pull_image libmulti.dev/libmulti "$work/multi"
check "contents: the dev output's files are in the image" test -e "$work/multi/bundle/rootfs/include/multi.h"
check "contents: and the default output's" test -L "$work/multi/bundle/rootfs/bin/multi"
check "contents: no GC root is left once images are packed ($(ls "$SERVER_DIR/state/gcroots" | tr '\n' ' '))" \
	[ -z "$(ls -A "$SERVER_DIR/state/gcroots")" ]
