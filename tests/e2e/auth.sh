#!/usr/bin/env bash
# HTTP basic auth as etc/ ships it, behind each web server: lighttpd
# (etc/lighttpd-auth.conf), nginx and Apache (their auth lines enabled),
# and the shared-hosting .htaccess (its auth lines enabled). Against each:
# Docker 20.10 logs in and pulls, podman logs in and pulls, skopeo copies
# with --src-creds; without credentials every route, the blob files the
# web server sends itself included, is 401 with the registry's realm and
# JSON error, the same on every server; 100 wrong passwords are 100 401s
# and reach no worker; the web server passes the user, so that
# NIXERY_BUILD_USERS tells a builder from another user, and the landing
# page shows an authenticated visitor who asked for each build.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-auth.XXXXXX)
chmod 0755 "$work"
DOCKER_DIR=$work/docker
cleanup() {
	local d
	for d in "$work"/srv-*; do [ -d "$d" ] && servers_stop_dir "$d"; done
	# dockerd stops the containerd it started.
	[ -n "${dockerd_pid:-}" ] && _stop_pids TERM "$dockerd_pid"
	stop_daemon
	umount "$DOCKER_DIR"/root/*/* 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
unprivileged_setup "$work"

PW=correct-horse-$RANDOM$RANDOM
htpasswd -cbB "$work/htpasswd" alice "$PW" >/dev/null 2>&1
htpasswd -bB "$work/htpasswd" bob "$PW-bob" >/dev/null 2>&1
# The web servers' users read it: nginx's www-data, Apache's nixery.
chmod 0644 "$work/htpasswd"
UNAUTHORIZED=$(cat "$TOP/etc/lighttpd-401.html")
docker=application/vnd.docker.distribution.manifest.v2+json

# One 401 body and one realm: lighttpd's file is the body; nginx's,
# Apache's, the htaccess's and the README's copies must be it, word for
# word (each server's answers are compared with it below too).
copies=$(python3 - "$TOP" <<'PY'
import re, sys
top = sys.argv[1]
body = open(top + "/etc/lighttpd-401.html").read().strip()
bad = []
for f in ["etc/nginx.conf", "etc/apache.conf", "etc/shared-hosting/htaccess", "README"]:
    text = open(top + "/" + f).read()
    found = [m.replace('\\"', '"') for m in re.findall(r'\{\\?"errors\\?":\[\{\\?"code\\?":\\?"UNAUTHORIZED.*?\}\]\}', text)]
    realms = re.findall(r'(?:auth_basic|AuthName|"realm" =>) "([^"]*)"', text)
    if not found or any(c != body for c in found):
        bad.append("%s: body %s" % (f, found))
    if not realms or any(r not in ("nixery", "off") for r in realms):
        bad.append("%s: realms %s" % (f, realms))
print("; ".join(bad))
PY
)
check "the 401 body and the realm are the same in etc/ and the README (${copies:-all alike})" [ -z "$copies" ]

# Docker 20.10 (Debian's docker.io), a private daemon: no bridge, no
# iptables, its own folders and socket, the vfs driver (no overlayfs
# needed); the CLI's credentials in a folder of ours.
mkdir -p "$DOCKER_DIR/config"
export DOCKER_CONFIG=$DOCKER_DIR/config DOCKER_HOST=unix://$DOCKER_DIR/sock
/usr/sbin/dockerd --iptables=false --bridge=none --storage-driver=vfs --data-root "$DOCKER_DIR/root" \
	--exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/pid" -H "$DOCKER_HOST" \
	>"$DOCKER_DIR/log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 300); do /usr/bin/docker version >/dev/null 2>&1 && break; sleep 0.1; done
check "setup: dockerd runs ($(/usr/bin/docker version --format '{{.Server.Version}}' 2>&1 | tail -1))" \
	/usr/bin/docker version
podman_() {
	podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs \
		--cgroup-manager cgroupfs --events-backend none "$@"
}

# requests_counted: what the workers' /metrics says they answered.
requests_counted() {
	curl -s -u "alice:$PW" "$URL/metrics" | awk '/^nixery_requests_total/ { n += $2 } END { print n + 0 }'
}

# builds_made: the builds the server's workers recorded (the site keeps
# its state beside public_html).
builds_made() {
	local db
	db=$(find "$SERVER_DIR" -name cache.db | head -1)
	[ -n "$db" ] && sqlite3 "$db" "SELECT count(*) FROM builds" || echo 0
}

# get [CURL-ARGS...] URL: "STATUS" of a GET, its body in $work/b and its
# headers in $work/h.
get() {
	curl -s --path-as-is -D "$work/h" -o "$work/b" -w '%{http_code}' "$@"
}

# refused LABEL PATH [CURL-ARGS...]: PATH without (valid) credentials is
# the registry's 401: its realm, its JSON error.
refused() {
	local label=$1 path=$2 code; shift 2
	code=$(get "$@" "$URL$path")
	check "$label: $path ${*:+($*) }is 401 with Basic realm=\"nixery\" and the registry's JSON error ($code $(header "$work/h" WWW-Authenticate); $(header "$work/h" Content-Type); $(head -c 80 "$work/b"))" \
		eval '[ "$code" = 401 ] && header "$work/h" WWW-Authenticate | grep -q "^Basic realm=\"nixery\"" &&
			[ "$(header "$work/h" Content-Type)" = application/json ] && [ "$(cat "$work/b")" = "$UNAUTHORIZED" ]'
}

# auth_checks LABEL: the checks above, against $URL.
auth_checks() {
	local label=$1 code manifest config layer hex path before after i bad=0 builds
	local -a paths
	code=$(get -u "alice:$PW" "$URL/v2/")
	check "$label: /v2/ with alice's password is 200 ($code)" [ "$code" = 200 ]
	check "$label: a 401 has the API version header, as registries send it" \
		eval 'get "$URL/v2/" >/dev/null; [ "$(header "$work/h" Docker-Distribution-API-Version)" = registry/2.0 ]'

	# Built by alice, who may build; then its files are there.
	code=$(get -u "alice:$PW" -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest")
	cp "$work/b" "$work/manifest"
	check "$label: alice, allowed to build (NIXERY_BUILD_USERS), builds shell/hello ($code)" [ "$code" = 200 ]
	manifest=sha256:$(sha256sum <"$work/manifest" | cut -d' ' -f1)
	config=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"])' "$work/manifest" 2>/dev/null)
	layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$work/manifest" 2>/dev/null)
	hex=${layer#sha256:}
	code=$(get -u "alice:$PW" "$URL/v2/shell/hello/blobs/$layer")
	check "$label: with the password a layer comes whole ($code)" \
		eval '[ "$code" = 200 ] && [ "sha256:$(sha256sum <"$work/b" | cut -d" " -f1)" = "$layer" ]'

	# Without credentials, or with a wrong password, or a user the file
	# does not have: every route.
	paths=(/v2/ /v2 /v2/shell/hello/manifests/latest "/v2/shell/hello/manifests/$manifest"
		"/v2/shell/hello/blobs/$layer" "/v2/other/name/blobs/$config" "/v2/x/blobs/sha256:$(printf '0%.0s' $(seq 64))"
		/v2/shell/hello/tags/list /v2/_catalog "/v2/shell/hello/referrers/$manifest" /v2/figlet/manifests/latest
		/ /search?q=hel)
	for path in "${paths[@]}"; do refused "$label" "$path"; done
	refused "$label" "/v2/shell/hello/blobs/$layer" -r 0-9
	refused "$label" "/v2/shell/hello/blobs/$layer" -u "alice:wrong"
	refused "$label" /v2/shell/hello/manifests/latest -u "mallory:$PW"
	code=$(curl -s -I -o /dev/null -w '%{http_code}' "$URL/v2/shell/hello/blobs/$layer")
	check "$label: a HEAD of a blob is 401 too ($code)" [ "$code" = 401 ]
	# The places a web server keeps blobs and tags behind its routes.
	for path in "/_nixery/blobs/sha256/$hex" "/_nixery/tags/shell/hello/@latest" "/_nixery_blobs/$hex" \
		"/storage/blobs/sha256/$hex" "/blobs/sha256/$hex" "/v2/_nixery/files"; do
		code=$(get "$URL$path")
		check "$label: $path without a password reaches no file ($code)" \
			eval '[ "${code:0:1}" = 4 ] && ! cmp -s "$work/b" <(curl -s -u "alice:$PW" "$URL/v2/shell/hello/blobs/$layer")'
	done

	# 100 wrong passwords: 100 401s, and nothing reaches a worker.
	before=$(requests_counted)
	builds=$(builds_made)
	for i in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -u "alice:wrong$i" "$URL/v2/figlet/manifests/latest")
		[ "$code" = 401 ] || bad=$((bad + 1))
	done
	after=$(requests_counted)
	check "$label: 100 wrong passwords each get 401 ($bad did not)" [ "$bad" = 0 ]
	check "$label: and none reached a worker (requests counted: $before, then $after, the first count's included)" \
		[ "$after" = $((before + 1)) ]
	check "$label: nor started a build ($builds, then $(builds_made))" [ "$(builds_made)" = "$builds" ]
	code=$(get -u "alice:$PW" "$URL/v2/")
	check "$label: and alice is not locked out ($code)" [ "$code" = 200 ]

	# The user reaches the workers: bob may pull, not build.
	code=$(get -u "bob:$PW-bob" "$URL/v2/figlet/manifests/latest")
	check "$label: bob, not allowed to build, asking for an image not built yet gets 403 DENIED ($code: $(head -c 160 "$work/b"))" \
		eval '[ "$code" = 403 ] && grep -q "\"DENIED\"" "$work/b" && grep -q NIXERY_BUILD_USERS "$work/b"'
	code=$(get -u "bob:$PW-bob" -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest")
	check "$label: bob pulls the image alice built ($code)" [ "$code" = 200 ]
	code=$(get -u "alice:$PW" "$URL/")
	check "$label: the landing page shows alice, authenticated, who asked for the build" \
		eval '[ "$code" = 200 ] && grep -q "<th>Asked by</th>" "$work/b" && grep -q "<td>alice</td>" "$work/b"'

	# Real clients.
	rm -rf "$work/skopeo"
	if skopeo copy --quiet --src-tls-verify=false --src-creds "alice:$PW" "docker://127.0.0.1:$PORT/shell/hello" \
		"oci:$work/skopeo:latest" >"$work/skopeo.log" 2>&1; then
		pass "$label: skopeo copy --src-creds pulls shell/hello"
	else
		fail "$label: skopeo copy --src-creds pulls shell/hello ($(tail -2 "$work/skopeo.log"))"
	fi
	check "$label: skopeo without credentials cannot" \
		eval '! skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PORT/shell/hello" "oci:$work/skopeo-anon:latest" >/dev/null 2>&1'
	check "$label: docker pull without logging in fails" \
		eval '! /usr/bin/docker pull -q "127.0.0.1:$PORT/shell/hello" >/dev/null 2>&1'
	if echo "$PW" | /usr/bin/docker login -u alice --password-stdin "127.0.0.1:$PORT" >"$work/docker.log" 2>&1 &&
		/usr/bin/docker pull -q "127.0.0.1:$PORT/shell/hello" >>"$work/docker.log" 2>&1; then
		pass "$label: docker login, then docker pull shell/hello"
	else
		fail "$label: docker login, then docker pull shell/hello ($(tail -2 "$work/docker.log"))"
	fi
	check "$label: and Docker has the image, its layers whole" \
		eval '/usr/bin/docker image inspect "127.0.0.1:$PORT/shell/hello" >/dev/null 2>&1'
	/usr/bin/docker logout "127.0.0.1:$PORT" >/dev/null 2>&1
	/usr/bin/docker image rm -f "127.0.0.1:$PORT/shell/hello" >/dev/null 2>&1
	if podman_ login --tls-verify=false --authfile "$work/podman-auth.json" -u alice -p "$PW" "127.0.0.1:$PORT" \
		>"$work/podman.log" 2>&1 &&
		podman_ pull -q --tls-verify=false --authfile "$work/podman-auth.json" "127.0.0.1:$PORT/shell/hello" \
			>>"$work/podman.log" 2>&1; then
		pass "$label: podman login, then podman pull shell/hello"
	else
		fail "$label: podman login, then podman pull shell/hello ($(tail -2 "$work/podman.log"))"
	fi
	podman_ rmi -f "127.0.0.1:$PORT/shell/hello" >/dev/null 2>&1
	rm -f "$work/podman-auth.json"
}

# Each server, behind the password, alice alone allowed to build.
server_start "$work/srv-lighttpd" NIXERY_HTPASSWD="$work/htpasswd" NIXERY_BUILD_USERS=alice ||
	fail "lighttpd: starts with etc/lighttpd-auth.conf"
auth_checks lighttpd
servers_stop

nginx_start "$work/srv-nginx" NIXERY_HTPASSWD="$work/htpasswd" NIXERY_BUILD_USERS=alice ||
	fail "nginx: starts with its auth lines"
auth_checks nginx
servers_stop

apache_start "$work/srv-apache" NIXERY_HTPASSWD="$work/htpasswd" NIXERY_BUILD_USERS=alice ||
	fail "apache: starts with -D NIXERY_AUTH"
auth_checks apache
servers_stop

hosting_start "$work/srv-hosting" NIXERY_HTPASSWD="$work/htpasswd" NIXERY_BUILD_USERS=alice ||
	fail "hosting: the site starts with its .htaccess auth lines"
auth_checks hosting
servers_stop

# No Nix process was left behind by any of it.
check "no Nix process is left" eval '! pgrep -f "nix-build .*image.nix|nix-instantiate .*image.nix" >/dev/null'
