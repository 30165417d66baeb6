# Shared by ./run, the end-to-end tests and the benchmarks: start and stop a
# real lighttpd with nixery-fcgi workers on a loopback port, and report
# results as PASS:/FAIL: lines that ./run counts.
#
# Needs TOP (the source tree) set by the caller; BUILD is where ./run built.

: "${TOP:?TOP must name the source tree}"
: "${BUILD:=$TOP/var/build}"

# A hung request must fail its test, not stall the suite.
curl() { command curl --max-time 300 "$@"; }
# Workers write the cache while tests read it: wait for locks, as they do.
sqlite3() { command sqlite3 -cmd ".timeout 10000" "$@"; }

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }

# check NAME COMMAND...: PASS when the command succeeds.
check() {
	local name=$1; shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# pull_image IMAGE[:TAG] DIR: what a user does, with real clients: skopeo
# copies the image from $PORT into DIR/oci and umoci unpacks it into
# DIR/bundle (the root file system is DIR/bundle/rootfs). On failure
# DIR/pull.log holds what the tools said.
pull_image() {
	mkdir -p "$2"
	skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PORT/$1" "oci:$2/oci:latest" \
		>"$2/pull.log" 2>&1 &&
		umoci unpack --image "$2/oci:latest" "$2/bundle" >>"$2/pull.log" 2>&1
}

# pulls CHECK IMAGE DIR: CHECK passes when pull_image does; else it fails
# with what the tools said.
pulls() {
	if pull_image "$2" "$3"; then
		pass "$1"
	else
		fail "$1 ($(tail -3 "$3/pull.log"))"
	fi
}

# A free loopback port, asked of the kernel.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# server_start DIR [VAR=VALUE...]: lighttpd + nixery-fcgi with all state in
# DIR, extra settings from the arguments; sets SERVER_DIR, PORT and URL.
# NIXERY_HTPASSWD=FILE serves behind basic auth (etc/lighttpd-auth.conf).
server_start() {
	local dir=$1 i conf=$TOP/etc/lighttpd.conf; shift
	case " $* " in *" NIXERY_HTPASSWD=/"*) conf=$TOP/etc/lighttpd-auth.conf ;; esac
	SERVER_DIR=$dir
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	mkdir -p "$dir/storage/empty" "$dir/state" "$dir/run"
	(
		export NIXERY_PORT=$PORT NIXERY_BIN="$BUILD/nixery-fcgi" \
			STORAGE_PATH="$dir/storage" NIXERY_STATE_DIR="$dir/state" \
			NIXERY_RUN_DIR="$dir/run" NIXERY_NIX_DIR="$TOP/nix" NIXERY_CONFIG=/dev/null \
			NIXERY_FILES_SCRIPT="$TOP/etc/lighttpd-files.lua" NIXERY_ERRORFILE_PREFIX="$TOP/etc/lighttpd-" \
			NIXERY_PKGS_PATH="${NIXERY_PKGS_PATH:-$TOP/nix/demo}" \
			NIX_POPULARITY_URL="$TOP/nix/demo/popularity.json"
		# One package source: another given replaces the demo set.
		case " $* " in *" NIXERY_PKGS_REPO="* | *" NIXERY_CHANNEL="*) unset NIXERY_PKGS_PATH ;; esac
		for kv in "$@"; do export "${kv?}"; done
		exec lighttpd -f "$conf"
	) || return 1
	for i in $(seq 50); do
		server_up && return 0
		sleep 0.1
	done
	echo "lighttpd did not come up on $PORT:" >&2
	cat "$dir/run/lighttpd-error.log" >&2
	return 1
}

# server_up: whether the registry at $URL answers /v2/: 200, or 401 when
# it asks for a password.
server_up() {
	case $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$URL/v2/" 2>/dev/null) in
	200 | 401) return 0 ;;
	*) return 1 ;;
	esac
}

server_stop() {
	local pid
	[ -f "$SERVER_DIR/run/lighttpd.pid" ] || return 0
	pid=$(cat "$SERVER_DIR/run/lighttpd.pid")
	kill "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$SERVER_DIR/run/lighttpd.pid"
}

# readme_section START: the README's block of indented lines after the
# paragraph starting with START, unindented (tests/e2e/readme.sh runs
# them, names.sh compares them with etc/).
readme_section() {
	python3 - "$TOP/README" "$1" <<'PY'
import sys
lines, start, out, seen = open(sys.argv[1]).read().split("\n"), sys.argv[2], [], False
for i, line in enumerate(lines):
    if not seen and line.startswith(start):
        seen = True
    elif seen and (line.startswith("    ") or (not line and out)):
        out.append(line[4:])
    elif seen and out:
        break
print("\n".join(out).strip("\n"))
PY
}

# tags_forget: removes the tag files lighttpd answers from, so that the
# workers answer every tag again. lighttpd's script keeps what it read of a
# tag for the rest of the second, as its stat cache does for any file.
tags_forget() {
	rm -rf "$SERVER_DIR/storage/tags"
	sleep 1.2
}

# admin ARGS...: nixery-admin on the running server's storage and state.
admin() {
	env NIXERY_CONFIG=/dev/null STORAGE_PATH="$SERVER_DIR/storage" NIXERY_STATE_DIR="$SERVER_DIR/state" \
		NIXERY_PKGS_PATH="${NIXERY_PKGS_PATH:-$TOP/nix/demo}" NIXERY_NIX_DIR="$TOP/nix" \
		NIX_POPULARITY_URL="$TOP/nix/demo/popularity.json" "$BUILD/nixery-admin" "$@"
}

# Nix builds the registry ran for an image so far (the builds table; a
# platform left out of an index is listed there, but nothing was built).
builds_count() {
	sqlite3 "$SERVER_DIR/state/cache.db" "SELECT count(*) FROM builds WHERE status != 'left out'" 2>/dev/null ||
		echo 0
}

# npm_tools: the Node packages of tests/npm (the official cloud client
# libraries, s3rver), installed from the lockfile into var/npm once per
# lockfile. Sets NPM_DIR; false when they could not be installed.
npm_tools() {
	NPM_DIR=$TOP/var/npm
	mkdir -p "$TOP/var"
	# Tests may ask at once: one installs, the others wait for it.
	(
		flock 9
		if ! cmp -s "$TOP/tests/npm/package-lock.json" "$NPM_DIR/package-lock.json" 2>/dev/null ||
			[ ! -d "$NPM_DIR/node_modules" ]; then
			rm -rf "$NPM_DIR"
			mkdir -p "$NPM_DIR"
			cp "$TOP/tests/npm/package.json" "$TOP/tests/npm/package-lock.json" "$NPM_DIR/"
			cd "$NPM_DIR" && npm ci --silent --no-audit --no-fund >"$TOP/var/npm.log" 2>&1
		fi
	) 9>"$TOP/var/npm.lock"
	[ -d "$NPM_DIR/node_modules/s3rver" ] && [ -d "$NPM_DIR/node_modules/@google-cloud/storage" ]
}

# long_path LENGTH SHAPE ENDPOINT: a registry path of LENGTH bytes, of
# SHAPE: short (one-letter components), dotted (a-b.c_d components, whose
# separators each cost a regex a step) or long (a few components of 200
# and 300 letters among short ones); ENDPOINT: manifest or blob.
long_path() {
	python3 - "$@" <<'PY'
import sys
length, shape, endpoint = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tail = "/manifests/latest" if endpoint == "manifest" else "/blobs/sha256:" + "0" * 64
unit = {"short": "a/", "dotted": "a-b.c_d/", "long": "b" * 200 + "/x/y/" + "c" * 300 + "/z/"}[shape]
room = length - len("/v2/") - len(tail)
name = (unit * (room // len(unit) + 1))[:room]
# A name ends in a letter: the last component is cut, never empty.
print("/v2/" + name[:-1] + "q" + tail)
PY
}

# long_answer PATH FILE: "STATUS CONTENT-TYPE" of the answer to GET PATH,
# its body in FILE and its headers in FILE.h; "000" and curl's exit status
# when there was no answer (an empty reply is exit 52).
long_answer() {
	local out rc
	rm -f "$2" "$2.h"
	out=$(curl -s --path-as-is -D "$2.h" -o "$2" -w '%{http_code} %{content_type}' "$URL$1")
	rc=$?
	[ "$rc" = 0 ] && echo "$out" || echo "000 curl-exit-$rc"
}
