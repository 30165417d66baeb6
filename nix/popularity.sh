#!/bin/sh
# Popularity data for a package set, in Nixery's format: for every store
# path name ("name-version"), how many of the given packages have it in
# their runtime closure. Paths counted once are left out (1 is the default).
#
#   popularity.sh PACKAGE_SET ATTRIBUTE... > popularity.json
#
# The packages are built (or found already built) to know their closures.
set -eu
if [ $# -lt 2 ]; then
	echo "usage: popularity.sh PACKAGE_SET ATTRIBUTE..." >&2
	exit 2
fi
set_path=$1
shift
for attr in "$@"; do
	outputs=$(nix-build --no-out-link "$set_path" -A "$attr") ||
		{ echo "popularity.sh: cannot build $attr" >&2; exit 1; }
	# shellcheck disable=SC2086
	nix-store --query --requisites $outputs | sed 's|^/nix/store/[0-9a-z]\{32\}-||' | sort -u
done | LC_ALL=C sort | uniq -c | awk '
	$1 > 1 { printf "%s\n  \"%s\": %d", (n++ ? "," : "{"), $2, $1 }
	END { print (n ? "\n}" : "{}") }'
