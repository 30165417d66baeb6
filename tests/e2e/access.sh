#!/usr/bin/env bash
# Who may build, and how much, behind real web servers: a user without
# build rights (NIXERY_BUILD_USERS) asking for an image not built yet gets
# 403 DENIED and no Nix process starts, and pulls what is built, also past
# NIXERY_EVAL_TTL; a package not allowed (NIXERY_DENY_PACKAGES) is 403
# naming it, the meta-packages exempt; who asked is in the log and in
# nixery-admin status; nginx's REMOTE_USER from a client's own header,
# without auth, gives no build rights; one client sending 20 cold requests
# has NIXERY_MAX_BUILDS_PER_CLIENT of them worked on, the rest 429 at
# once, while another client's cold request is built.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-access.XXXXXX)
chmod 0755 "$work"
cleanup() {
	local d
	[ -n "${watcher:-}" ] && kill "$watcher" 2>/dev/null
	for d in "$work"/srv-*; do [ -d "$d" ] && servers_stop_dir "$d"; done
	rm -rf "$work"
}
trap cleanup EXIT
PW=access-$RANDOM$RANDOM
htpasswd -cbB "$work/htpasswd" alice "$PW" >/dev/null 2>&1
htpasswd -bB "$work/htpasswd" bob "$PW" >/dev/null 2>&1
chmod 0644 "$work/htpasswd"
docker=application/vnd.docker.distribution.manifest.v2+json
NIX_PROCS='nix-instantiate|nix-build|nix-store --serve|nix-env'

# my_nix: the Nix processes the running server's workers started (their
# children: every Nix job of theirs starts as one); other Nix processes
# on the machine are not this test's.
my_nix() {
	local workers
	workers=" $(worker_pids | tr '\n' ' ') "
	ps -eo ppid=,pid=,args= | awk -v w="$workers" -v re="$NIX_PROCS" 'index(w, " " $1 " ") && $0 ~ re'
}

# watch_nix FILE: notes in FILE every Nix process the server's workers
# start, until unwatch_nix; a denied request must leave FILE empty.
watch_nix() {
	: >"$1"
	(while :; do my_nix >>"$1"; sleep 0.01; done) &
	watcher=$!
}
unwatch_nix() {
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	watcher=
}

# as USER PATH [CURL-ARGS...]: "STATUS" of a GET as USER (password
# known), the body in $work/b.
as() {
	local user=$1 path=$2; shift 2
	curl -s -o "$work/b" -w '%{http_code}' -u "$user:$PW" -H "Accept: $docker" "$@" "$URL$path"
}

# Behind lighttpd's basic auth, alice alone may build, cowsay and
# coreutils may not be asked for, and an evaluation is trusted 3 s.
server_start "$work/srv-lighttpd" NIXERY_HTPASSWD="$work/htpasswd" NIXERY_BUILD_USERS=alice \
	NIXERY_DENY_PACKAGES="cowsay coreutils" NIXERY_EVAL_TTL=3 || fail "lighttpd starts behind basic auth"
# The watch can see: the workers' Nix jobs, while alice's first build runs.
watch_nix "$work/nix-seen"
curl -s -o /dev/null -u "alice:$PW" "$URL/v2/figlet/manifests/latest"
unwatch_nix
check "the watch sees the Nix processes the workers start ($(wc -l <"$work/nix-seen") sightings of a build)" [ -s "$work/nix-seen" ]
builds=$(builds_count)
watch_nix "$work/nix-seen"
code=$(as bob /v2/hello/manifests/latest)
sleep 0.5
unwatch_nix
check "bob, not allowed to build, asking for hello not built yet gets 403 DENIED ($code: $(head -c 200 "$work/b"))" \
	eval '[ "$code" = 403 ] && grep -q "\"code\":\"DENIED\"" "$work/b" &&
		grep -q "building it needs a user allowed to build (NIXERY_BUILD_USERS)" "$work/b"'
check "and no Nix process started ($(sort -u "$work/nix-seen" | head -3 | tr '\n' ' '))" [ ! -s "$work/nix-seen" ]
check "nor was a build recorded ($builds, then $(builds_count))" [ "$(builds_count)" = "$builds" ]
code=$(as alice /v2/hello/manifests/latest)
check "alice, allowed, gets it built ($code)" [ "$code" = 200 ]
watch_nix "$work/nix-seen"
code=$(as bob /v2/hello/manifests/latest)
rm -rf "$work/pull"
if skopeo copy --quiet --src-tls-verify=false --src-creds "bob:$PW" "docker://127.0.0.1:$PORT/hello" \
	"oci:$work/pull:latest" >"$work/pull.log" 2>&1; then
	pass "bob pulls the image alice built, with skopeo ($code)"
else
	fail "bob pulls the image alice built, with skopeo ($code; $(tail -2 "$work/pull.log"))"
fi
# Past the TTL: lighttpd's tag file has run out, a worker answers, with
# the image built before: bob's request may not evaluate.
sleep 4
code=$(as bob /v2/hello/manifests/latest)
sleep 0.5
unwatch_nix
check "past NIXERY_EVAL_TTL bob still gets hello ($code), the image built before" [ "$code" = 200 ]
check "and no Nix process started for any of bob's requests ($(sort -u "$work/nix-seen" | head -3 | tr '\n' ' '))" \
	[ ! -s "$work/nix-seen" ]
code=$(as alice /v2/hello/manifests/latest)
check "past the TTL alice's request evaluates again and answers ($code)" [ "$code" = 200 ]

# Package policy.
watch_nix "$work/nix-seen"
code=$(as alice /v2/hello/cowsay/manifests/latest)
sleep 0.5
unwatch_nix
check "a denied package is 403 DENIED naming it, for a builder too ($code: $(head -c 200 "$work/b"))" \
	eval '[ "$code" = 403 ] && grep -q "\"DENIED\"" "$work/b" && grep -q "NIXERY_DENY_PACKAGES): cowsay" "$work/b" &&
		python3 -c "import json,sys; assert json.load(open(sys.argv[1]))[\"errors\"][0][\"detail\"][\"packages\"] == [\"cowsay\"]" "$work/b"'
check "before any evaluation ($(sort -u "$work/nix-seen" | head -3 | tr '\n' ' '))" [ ! -s "$work/nix-seen" ]
code=$(as alice /v2/coreutils/manifests/latest)
check "coreutils named in the path is denied ($code)" [ "$code" = 403 ]
code=$(as alice /v2/shell/hello/manifests/latest)
check "but shell, which brings coreutils, is exempt ($code: $(head -c 120 "$work/b"))" [ "$code" = 200 ]
code=$(as alice /v2/cacert/hello/manifests/latest)
check "and so is cacert, which every image gets ($code)" [ "$code" = 200 ]

# Who asked, where the operator reads it.
check "the log says who each build was for" grep -q "info: building image [0-9a-f]* for linux/[a-z0-9/]*, asked by alice: " "$SERVER_DIR/run/nixery-fcgi.log"
admin status >"$work/status" 2>&1
check "nixery-admin status lists each build with who asked ($(grep -c 'for alice' "$work/status") lines)" \
	eval 'grep -q "ok .* for alice  hello:latest" "$work/status" && grep -q "for alice  shell/hello:latest" "$work/status"'
servers_stop

# nginx without basic auth passes $remote_user, the name in a client's
# own Authorization header, as REMOTE_USER: the workers take it only
# with AUTH_TYPE, which the auth lines set.
nginx_start "$work/srv-nginx" NIXERY_BUILD_USERS=alice || fail "nginx starts"
watch_nix "$work/nix-seen"
code=$(curl -s -o "$work/b" -w '%{http_code}' -u "alice:anything" "$URL/v2/figlet/manifests/latest")
sleep 0.5
unwatch_nix
check "nginx without auth: a client claiming to be alice in its own header gets no build rights ($code)" \
	eval '[ "$code" = 403 ] && grep -q DENIED "$work/b" && [ ! -s "$work/nix-seen" ]'
servers_stop

# Quotas: twenty cold requests at once from one address, for an image
# whose build never ends (the demo's sleeper, stopped at NIX_TIMEOUT);
# another address's cold request meanwhile.
server_start "$work/srv-quota" NIXERY_MAX_BUILDS_PER_CLIENT=2 NIXERY_MAX_BUILDS=4 NIX_TIMEOUT=15 ||
	fail "lighttpd starts"
mkdir -p "$work/q"
for i in $(seq 20); do
	curl -s -o "$work/q/$i.body" -D "$work/q/$i.h" -w '%{http_code} %{time_total}\n' \
		"$URL/v2/sleeper/manifests/latest" >"$work/q/$i" &
done
sleep 2
code=$(curl -s -o "$work/b" -w '%{http_code}' --interface 127.0.0.2 -H "Accept: $docker" "$URL/v2/figlet/manifests/latest")
check "while one address has its cold requests in progress, another's cold request is built ($code)" [ "$code" = 200 ]
wait
refused=0 worked=0 slow=0 noretry=0
for i in $(seq 20); do
	read -r status secs <"$work/q/$i"
	if [ "$status" = 429 ]; then
		refused=$((refused + 1))
		python3 -c "import sys; sys.exit(float(sys.argv[1]) < 2)" "$secs" && slow=$((slow + 1))
		grep -qi '^retry-after: [0-9]' "$work/q/$i.h" && grep -q TOOMANYREQUESTS "$work/q/$i.body" ||
			noretry=$((noretry + 1))
	else
		worked=$((worked + 1))
	fi
done
check "of 20 cold requests from one address, at most NIXERY_MAX_BUILDS_PER_CLIENT (2) were worked on ($worked)" \
	[ "$worked" -le 2 -a "$worked" -ge 1 ]
check "the other $refused got 429 TOOMANYREQUESTS with Retry-After ($noretry did not)" \
	[ "$refused" -ge 18 -a "$noretry" = 0 ]
check "at once ($slow took 2 s or more)" [ "$slow" = 0 ]
check "the sleeper's build was recorded for this address" \
	eval '[ "$(sqlite3 "$SERVER_DIR/state/cache.db" "SELECT count(*) FROM builds WHERE requester = '"'"'127.0.0.1'"'"'")" -ge 1 ]'
# The requests have all been answered: their Nix processes are gone.
sleep 1
left=$(my_nix)
check "no Nix process of the workers is left once every request was answered (${left:-none})" [ -z "$left" ]
servers_stop
