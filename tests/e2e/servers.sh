#!/usr/bin/env bash
# The registry behind each web server it ships a configuration for: lighttpd
# (mod_magnet, X-Sendfile), Apache (mod_fcgid, mod_rewrite, mod_xsendfile)
# and nginx (spawn-fcgi, try_files, X-Accel-Redirect), each on its own
# loopback port; the blobs are sent by the web server, most without a
# worker, none streamed by one. Then the unprivileged setup:
# workers as user nixery under nginx, reaching Nix through nix-daemon.
# shellcheck disable=SC2016 # checks given to eval are quoted on purpose
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-servers.XXXXXX)
# The web servers' users (www-data, nixery) search their way to the state.
chmod 0755 "$work"

# Processes of this test: they name its folder in their command line or
# environment (servers, workers, Nix builds they run).
test_processes() {
	local p pid
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
		grep -qsF "$work" "$p/cmdline" "$p/environ" && echo "$pid"
	done
}

cleanup() {
	local d left
	for d in "$work"/*/; do servers_stop_dir "${d%/}"; done
	left=$(test_processes)
	# shellcheck disable=SC2086
	[ -z "$left" ] || _stop_pids KILL $left
	stop_daemon
	rm -rf "$work"
}
trap cleanup EXIT

# worker_checks LABEL USER: the workers run as USER and log to WORKER_LOG.
worker_checks() {
	local label=$1 user=$2 pids p users ok=1
	pids=$(worker_pids)
	users=$(for p in $pids; do ps -o user= -p "$p"; done | sort -u | tr '\n' ' ')
	check "$label: the workers run as $user (pids $(echo "$pids" | tr '\n' ' ')users ${users:-none})" \
		[ -n "$pids" -a "$users" = "$user " ]
	for p in $pids; do grep -q "nixery-fcgi\[$p\] info: serving" "$WORKER_LOG" || ok=0; done
	check "$label: the workers' standard error is in ${WORKER_LOG#"$SERVER_DIR"/}" [ -n "$pids" -a $ok = 1 ]
}

# 0. The unprivileged user, and nix-daemon for it. Apache's workers need
# them too: Apache does not run its children as root.
unprivileged_setup "$work"

# The demo package set plus two packages never built before: freshbuild,
# and slowbuild, whose build outlasts mod_fcgid's default I/O timeout (40 s).
nonce=$(date +%s%N)-$$
mkdir -p "$work/pkgs"
cat >"$work/pkgs/default.nix" <<NIX
args@{ ... }:
let demo = import $TOP/nix/demo args; in
demo // {
  freshbuild = demo.mkDemo {
    name = "freshbuild";
    script = "mkdir -p \$out/share && echo $nonce > \$out/share/freshbuild";
  };
  slowbuild = demo.mkDemo {
    name = "slowbuild";
    script = "sleep 42 && mkdir -p \$out/share && echo $nonce > \$out/share/slowbuild";
  };
}
NIX
chmod -R a+rX "$work/pkgs"

# 1. lighttpd, X-Sendfile.
if server_start "$work/lighttpd" NIXERY_STOP_GRACE=2; then
	SERVER_KIND=lighttpd WORKER_LOG=$SERVER_DIR/run/nixery-fcgi.log
	pass "lighttpd: starts on 127.0.0.1:$PORT"
	server_pull_test lighttpd
	blob_offload_check lighttpd
	direct_blob_check lighttpd
	worker_checks lighttpd root
	page_metrics_check lighttpd
	status_check lighttpd 0
	tag_files_check lighttpd yes
	heal_check lighttpd
	midbuild_stop_check lighttpd 2
else
	fail "lighttpd: starts"
fi
servers_stop

# The control: a blob the worker streams itself has its own validator (an
# ETag that is its digest), not the web server's, so the offload checks
# can fail. A query string keeps the request off lighttpd's direct blob
# route, so that it reaches a worker.
if server_start "$work/control" NIXERY_BLOB_OFFLOAD=none; then
	curl -s -o "$work/control/m" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"$URL/v2/bulksmall/manifests/latest"
	d=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(max(m["layers"], key=lambda l: l["size"])["digest"])' "$work/control/m" 2>/dev/null)
	curl -s -D "$work/control/h" -o "$work/control/blob" "$URL/v2/bulksmall/blobs/$d?to=worker"
	check "control: a blob streamed by the worker (NIXERY_BLOB_OFFLOAD=none) arrives whole, its ETag the digest" \
		eval '[ "sha256:$(sha256sum <"$work/control/blob" | cut -d" " -f1)" = "$d" ] && [ "$(header "$work/control/h" ETag)" = "\"$d\"" ]'
else
	fail "control: lighttpd starts with NIXERY_BLOB_OFFLOAD=none"
fi
servers_stop

# 2. Apache: mod_fcgid spawns the workers (as nixery, through nix-daemon),
# mod_xsendfile sends the blobs. A slow build runs meanwhile.
if apache_start "$work/apache" APACHE_RUN_USER=nixery APACHE_RUN_GROUP=nixery NIX_REMOTE=daemon \
	NIXERY_PKGS_PATH="$work/pkgs" NIX_TIMEOUT=120 NIXERY_STOP_GRACE=2; then
	pass "apache: starts on 127.0.0.1:$PORT"
	curl -s -o "$work/slow" -w '%{http_code} %{time_total}' "$URL/v2/slowbuild/manifests/latest" \
		>"$work/slow.status" 2>&1 &
	slow=$!
	server_pull_test apache
	blob_offload_check apache
	direct_blob_check apache
	worker_checks apache nixery
	page_metrics_check apache
	status_check apache 5
	tag_files_check apache no
	heal_check apache
	wait $slow
	read -r code took <"$work/slow.status"
	check "apache: a build longer than mod_fcgid's default 40 s I/O timeout ends in its image (HTTP $code after ${took%.*} s)" \
		eval '[ "$code" = 200 ] && grep -q schemaVersion "$work/slow"'
	midbuild_stop_check apache 2
else
	fail "apache: starts ($(tail -3 "$work/apache/run/apache-error.log" 2>/dev/null))"
fi
servers_stop

# 3. nginx: spawn-fcgi workers (as root, like lighttpd's), X-Accel-Redirect.
if nginx_start "$work/nginx" NIXERY_STOP_GRACE=2; then
	pass "nginx: starts on 127.0.0.1:$PORT"
	server_pull_test nginx
	blob_offload_check nginx
	direct_blob_check nginx
	worker_checks nginx root
	code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/_nixery_blobs/$(find "$SERVER_DIR/storage/blobs/sha256" -type f -printf '%f\n' | head -1)")
	check "nginx: the X-Accel-Redirect location is internal (a client gets 404: got $code)" [ "$code" = 404 ]
	page_metrics_check nginx
	status_check nginx 5
	tag_files_check nginx no
	heal_check nginx
	midbuild_stop_check nginx 2
else
	fail "nginx: starts ($(tail -3 "$work/nginx/run/nginx-error.log" "$work/nginx/run/spawn-fcgi.log" 2>/dev/null))"
fi
servers_stop

# 4. Unprivileged: workers as nixery under nginx, NIX_REMOTE=daemon; the
# package set has a package no one has built before (freshbuild), so that
# its image needs a real build, which only the daemon can do for them. They
# inherit root's HOME, as spawn-fcgi run by root gives them.
if nginx_start "$work/unpriv" NIXERY_USER=nixery NIX_REMOTE=daemon NIXERY_PKGS_PATH="$work/pkgs" HOME=/root; then
	pass "unprivileged: nginx starts with workers as nixery on 127.0.0.1:$PORT"
	check "unprivileged: the workers found root's HOME unusable and gave Nix one of their own" \
		grep -q "HOME could not be written" "$WORKER_LOG"
	worker_checks unprivileged nixery
	server_pull_test unprivileged
	blob_offload_check unprivileged
	bad=$(find "$SERVER_DIR/storage" "$SERVER_DIR/state" ! -user nixery | head -3)
	check "unprivileged: storage and state belong to nixery (${bad:-all})" [ -z "$bad" ]
	bad=$(find "$SERVER_DIR/storage/blobs" \( -type d ! -perm 0755 \) -o \( -type f ! -perm 0644 \) | head -3)
	check "unprivileged: blob folders are 0755 and blobs 0644, readable by nginx (${bad:-all})" [ -z "$bad" ]
	before=$(builds_count)
	code=$(curl -s -o "$work/fresh" -w '%{http_code}' "$URL/v2/freshbuild/manifests/latest")
	out=$(grep -lx "$nonce" /nix/store/*-freshbuild/share/freshbuild 2>/dev/null | head -1)
	check "unprivileged: a package never built before builds through nix-daemon (HTTP $code, ${out:-no store path})" \
		[ "$code" = 200 -a -n "$out" -a "$(builds_count)" -gt "$before" ]
	check "unprivileged: the new store path is the daemon's (owned by root), not the worker's" \
		[ -n "$out" -a "$(stat -c %U "${out:-/}")" = root ]
else
	fail "unprivileged: nginx starts with workers as nixery ($(tail -3 "$work/unpriv/run/nginx-error.log" "$work/unpriv/run/spawn-fcgi.log" "$work/unpriv/run/nixery-fcgi.log" 2>/dev/null))"
fi
servers_stop

left=$(test_processes)
check "servers: no process of the test is left once the servers stop (${left:-none})" [ -z "$left" ]
