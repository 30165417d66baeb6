#!/usr/bin/env bash
# Every file a Nix closure can hold packs and unpacks exactly: the demo's
# oddfiles package (names in UTF-8 and not, long paths and link targets,
# hard links, modes, empty files and folders) pulled by skopeo, unpacked by
# umoci and compared with its store path entry by entry. Its digests are
# the same from a second registry with a cache of its own, whatever the
# workers' locale.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-oddfiles.XXXXXX)
trap 'server_stop; rm -rf "$work"' EXIT
docker=application/vnd.docker.distribution.manifest.v2+json
store=$(nix-build --no-out-link "$TOP/nix/demo" -A oddfiles 2>/dev/null)
check "oddfiles: the package builds ($store)" [ -d "$store/share/oddfiles" ]

server_start "$work/one" LANG=C LC_ALL=C || { fail "oddfiles: server starts"; exit 1; }
pulls "oddfiles: skopeo copies the image and umoci unpacks it" oddfiles "$work/pull"
out=$(python3 "$TOP/tests/treediff.py" "$store" "$work/pull/bundle/rootfs$store")
check "oddfiles: the unpacked store path equals the store, entry by entry (${out##*$'\n'})" \
	[ "${out##*$'\n'}" = "0 differences in $(find "$store" -printf x | wc -c) entries" ]
[ "${out##*$'\n'}" = "${out}" ] || echo "$out" | head -20
first=$(curl -s -H "Accept: $docker" "$URL/v2/oddfiles/manifests/latest" | sha256sum | cut -d' ' -f1)
server_stop

server_start "$work/two" LANG=C.UTF-8 LC_ALL=C.UTF-8 || { fail "oddfiles: a second server starts"; exit 1; }
second=$(curl -s -H "Accept: $docker" "$URL/v2/oddfiles/manifests/latest" | sha256sum | cut -d' ' -f1)
check "oddfiles: a second registry, in another locale, packs the same manifest ($first, $second)" \
	[ -n "$first" -a "$first" = "$second" ]
