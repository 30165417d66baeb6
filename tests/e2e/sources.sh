#!/usr/bin/env bash
# NIXERY_PKGS_REPO: the tag picks the git ref ("latest" the default branch,
# 40 hex a commit, anything else a branch), and no tag becomes a git option.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-src.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT

repo=$work/repo
mkdir -p "$repo" && cp "$TOP/nix/demo/default.nix" "$repo/"
git -C "$repo" init -q -b main
git -C "$repo" -c user.name=t -c user.email=t@t add -A
git -C "$repo" -c user.name=t -c user.email=t@t commit -qm one
first=$(git -C "$repo" rev-parse HEAD)
git -C "$repo" checkout -q -b other
sed -i 's/Hello, world!/Hello from a branch!/' "$repo/default.nix"
git -C "$repo" -c user.name=t -c user.email=t@t commit -qam two
git -C "$repo" checkout -q main

server_start "$work/srv" NIXERY_PKGS_REPO="$repo" NIXERY_EVAL_TTL=0 || { fail "sources: server starts"; exit 1; }

# greeting TAG: the greeting of hello as the image for TAG has it.
greeting() {
	local dir=$work/img-$1
	pull_image "hello:$1" "$dir" && chroot "$dir/bundle/rootfs" hello 2>&1
}
check "sources: tag latest builds the default branch" [ "$(greeting latest)" = "Hello, world!" ]
check "sources: a branch name as tag builds that branch" [ "$(greeting other)" = "Hello from a branch!" ]
check "sources: a commit as tag builds that commit" [ "$(greeting "$first")" = "Hello, world!" ]
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/hello/manifests/nosuchbranch")
check "sources: an unknown branch is 404 ($code)" [ "$code" = 404 ]
check "sources: an unknown branch is MANIFEST_UNKNOWN" grep -q '"code":"MANIFEST_UNKNOWN"' "$work/b"
check "sources: the 404 names the tag" grep -q "unknown tag 'nosuchbranch'" "$work/b"
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/hello/manifests/0123456789012345678901234567890123456789")
check "sources: an unknown commit is 404 too ($code)" [ "$code" = 404 ]
code=$(curl -s -o "$work/b" -w '%{http_code}' "$URL/v2/hello/manifests/--upload-pack=touch")
# Not a tag at all: unknown, as the distribution spec has it, and it never
# reaches git (no evaluation runs for it).
check "sources: a tag that looks like a git option is refused as unknown, before Nix ($code)" \
	eval '[ "$code" = 404 ] && grep -q "neither a tag" "$work/b"'

# A commit never changes: once built it is answered without evaluating at
# all, even with the repository gone; a branch is evaluated every time
# (the TTL is 0 here) and now fails.
mv "$repo" "$repo.gone"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/hello/manifests/$first")
check "sources: a cached commit is served without evaluating ($code with the repository gone)" [ "$code" = 200 ]
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/hello/manifests/latest")
check "sources: a branch is evaluated again after its TTL ($code with the repository gone)" [ "$code" != 200 ]
