#!/usr/bin/env bash
# An operator's first install, from the README alone, from a clean
# checkout: the packages it names are the ones installed; as a user other
# than root (nixery here), autoreconf, configure (which prints nothing on
# standard error) and make; as root, make install (into a temporary root
# here), the user's folder and the settings file; then the README's own
# nginx (behind basic auth, with its "Access" lines and an htpasswd made as
# it says), spawn-fcgi, lighttpd and Apache sections as written, with only
# their absolute paths moved into that root and their ports made free
# ones; and the shared-hosting route as the site's user, with the files
# make install put in place, unchanged but for the program's path. The
# workers run as nixery (Apache's too), never as root; a real client pulls
# over TLS through each server. The cron lines' commands run as cron
# would run them.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-readme.XXXXXX)
chmod 0755 "$work"
R=$work/root
# The web servers' ports, chosen before each is started.
PORT=0 PORT2=0
cleanup() {
	[ -s "$R/nginx/nginx.pid" ] && kill "$(cat "$R/nginx/nginx.pid")" 2>/dev/null
	[ -s "$R/apache/apache.pid" ] && kill "$(cat "$R/apache/apache.pid")" 2>/dev/null
	[ -s "$R/lighttpd/lighttpd.pid" ] && kill "$(cat "$R/lighttpd/lighttpd.pid")" 2>/dev/null
	[ -d "$work/site" ] && servers_stop_dir "$work/site"
	pkill -f "$R/usr/sbin/nixery-fcgi" 2>/dev/null
	sleep 1
	pkill -KILL -f "$R/usr/sbin/nixery-fcgi" 2>/dev/null
	stop_daemon
	rm -rf "$work"
}
trap cleanup EXIT
unprivileged_setup "$work"

# The README's block of indented lines after the paragraph starting with
# $1, its absolute paths moved into $R and its ports into ours.
readme_block() {
	readme_section "$1" | sed -e "s|/run/nixery-fcgi|$R/run/nixery-fcgi|g" \
		-e "s|/var/lib/nixery|$R/var/lib/nixery|g" -e "s|/var/log/|$R/var/log/|g" \
		-e "s|/usr/sbin/nixery-|$R/usr/sbin/nixery-|g" -e "s|/etc/nixery-fcgi|$R/etc/nixery-fcgi|g" \
		-e "s|/usr/share/doc/nixery-fcgi/|$R/usr/share/doc/nixery-fcgi/|g" \
		-e "s|/etc/letsencrypt/live/registry.example.org/|$R/tls/|g" \
		-e "s|listen 443 ssl http2;|listen 127.0.0.1:$PORT ssl http2;|" -e "s|listen 80;|listen 127.0.0.1:$PORT2;|" \
		-e "s|<VirtualHost \\*:443>|<VirtualHost 127.0.0.1:$PORT>|"
}

# as_nixery COMMAND...: as the user nixery, with a login's PATH.
as_nixery() {
	setpriv --reuid=nixery --regid=nixery --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME="${AS_HOME:-/nonexistent}" NIX_REMOTE=daemon "$@"
}

# The packages the README names are those the build needs: installed here
# (./run installs them), each one a package Debian has.
missing=
for p in $(readme_section "The packages the build and the registry need" | tr -d '\\' | sed 's/apt-get install//'); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
check "readme: the packages the README names are installed (missing:${missing:- none})" [ -z "$missing" ]

# From a clean checkout (what is committed), as nixery: the README's
# lines for any user, with the prefix moved into $R.
git clone -q "$TOP" "$work/src"
chown -R nixery: "$work/src"
mkdir -p "$R"
readme_section "Then as any user, in the source tree" |
	sed -e "s|--prefix=/usr --sysconfdir=/etc --localstatedir=/var|--prefix=$R/usr --sysconfdir=$R/etc --localstatedir=$R/var|" \
		-e 's|^make$|make -s -j2 >/dev/null|' >"$work/build.sh"
check "readme: the build lines run autoreconf, configure and make ($(tr '\n' ';' <"$work/build.sh"))" \
	eval 'grep -q "^autoreconf -fi$" "$work/build.sh" && grep -q "^./configure " "$work/build.sh"'
(cd "$work/src" && as_nixery bash -e "$work/build.sh") >"$work/build.out" 2>"$work/build.err"
check "readme: as nixery, autoreconf, configure and make build from a clean checkout (exit $?; $(tail -2 "$work/build.err" | tr '\n' ' '))" \
	test -x "$work/src/nixery-fcgi"
check "readme: configure says nothing on standard error ($(grep -v "^autoreconf\|^configure.ac\|^Makefile.am\|^libtoolize\|installing\|^aclocal" "$work/build.err" | head -3 | tr '\n' ' '))" \
	eval '! grep -q "rm: cannot remove\|configure: WARNING\|configure: error" "$work/build.err"'
check "readme: and leaves no confdefs.h" [ ! -e "$work/src/confdefs.h" ]
readme_section "(\`make check\` runs the unit tests.) Then as root" >"$work/install.sh"
(cd "$work/src" && bash -e "$work/install.sh") >"$work/install.log" 2>&1
check "readme: as root, make install into a temporary root ($(tail -1 "$work/install.log"))" \
	test -x "$R/usr/sbin/nixery-fcgi" -a -x "$R/usr/sbin/nixery-admin" -a -f "$R/etc/nixery-fcgi.conf" \
	-a -f "$R/usr/share/nixery-fcgi/nix/image.nix"
check "readme: make install puts the shared-hosting nixery.fcgi in place executable" \
	test -x "$R/usr/share/doc/nixery-fcgi/examples/shared-hosting/nixery.fcgi"
mkdir -p "$R/var/lib" "$R/var/log" "$R/run" "$R/tls"
chmod -R a+rX "$R"
# The user, its folder and the settings: useradd only where nixery is not
# there yet (unprivileged_setup made it as the README does), the editor
# is the operator's: here the package source (the installed demo set)
# and, only because of the temporary root, where the data goes.
readme_block "installs /usr/sbin/nixery-fcgi and nixery-admin" >"$work/user.sh"
check "readme: the user lines make nixery in nix-users, and its folder" \
	eval 'grep -q "useradd --system --user-group --groups nix-users" "$work/user.sh" && grep -q "^install -d -o nixery -g nixery -m 2775 " "$work/user.sh"'
grep -v '^editor ' "$work/user.sh" | python3 -c 'import sys; t=sys.stdin.read().replace("\\\n", " "); print("\n".join(l for l in t.split("\n") if not l.startswith("useradd ")))' >"$work/user-run.sh"
check "readme: the user's folder as the README makes it" eval 'bash -e "$work/user-run.sh" && [ "$(stat -c %U:%G:%a "$R/var/lib/nixery")" = nixery:nixery:2775 ]'
cat >>"$R/etc/nixery-fcgi.conf" <<CONF
NIXERY_PKGS_PATH = $R/usr/share/nixery-fcgi/nix/demo
STORAGE_PATH = $R/var/lib/nixery/storage
NIXERY_STATE_DIR = $R/var/lib/nixery/state
CONF
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=registry.example.org \
	-keyout "$R/tls/privkey.pem" -out "$R/tls/fullchain.pem" >/dev/null 2>&1
out=$(as_nixery "$R/usr/sbin/nixery-fcgi" --config "$R/etc/nixery-fcgi.conf" --check-config 2>&1)
rc=$?
check "readme: --check-config as nixery before the first start passes, noting the folders the first worker makes (exit $rc: $(grep -A3 problems <<<"$out" | tr '\n' ' '))" \
	eval '[ $rc = 0 ] && grep -q "STORAGE_PATH $R/var/lib/nixery/storage does not exist yet: the first worker creates it" <<<"$out"'

# pull LABEL: skopeo pulls over TLS and the image runs; the page answers.
pull() {
	local label=$1 d=$work/pull-$1 before
	before=$(blob_requests "https://127.0.0.1:$PORT")
	if skopeo copy --quiet --src-tls-verify=false ${CREDS:+--src-creds "$CREDS"} "docker://127.0.0.1:$PORT/shell/hello" "oci:$d:latest" \
		>"$work/$label.pull" 2>&1 && umoci unpack --image "$d:latest" "$d.bundle" >>"$work/$label.pull" 2>&1; then
		pass "readme: $label: skopeo pulls shell/hello over TLS"
	else
		fail "readme: $label: skopeo pulls shell/hello over TLS ($(tail -2 "$work/$label.pull"))"
	fi
	check "readme: $label: the image runs" [ "$(chroot "$d.bundle/rootfs" hello 2>&1)" = "Hello, world!" ]
	check "readme: $label: the landing page answers over TLS" \
		eval 'curl -sk ${CREDS:+-u "$CREDS"} "https://127.0.0.1:$PORT/" | grep -q "docker pull 127.0.0.1:$PORT/shell/hello"'
	check "readme: $label: the metrics answer this host" \
		eval 'curl -sk "https://127.0.0.1:$PORT/metrics" | grep -q "^nixery_builds_total"'
	check "readme: $label: the pull's blobs were sent by the web server, none by a worker (blob requests the workers answered: $before before, $(blob_requests "https://127.0.0.1:$PORT") after)" \
		[ "$(blob_requests "https://127.0.0.1:$PORT")" = "$before" ]
}

# long_path_check LABEL BASE LENGTH STATUS [CURL-ARGS...]: a path of LENGTH
# bytes gets STATUS and the registry's JSON error for a path too long.
long_path_check() {
	local got want="$4 application/json"
	got=$(curl -sk ${CREDS:+-u "$CREDS"} "${@:5}" -o "$work/long" -w '%{http_code} %{content_type}' "$2$(long_path "$3" short manifest)")
	check "readme: $1: a $3-byte path gets $4 and the JSON error ($got)" \
		eval '[ "$got" = "$want" ] && grep -q "request path too long" "$work/long"'
}

# nginx with the README's server blocks behind basic auth (its "Access"
# lines in the first server block, and the password file made as it
# says: htpasswd asks for the password on a terminal), the workers
# started by its spawn-fcgi lines (run as root, as an operator would, in
# root's clean environment: the workers become nixery).
PORT=$(free_port) PORT2=$(free_port)
PW=readme-$RANDOM$RANDOM
readme_block "The password file, as root" >"$work/htpasswd.sh"
timeout 60 python3 "$TOP/tests/typeat.py" "$PW" bash -e "$work/htpasswd.sh" >"$work/htpasswd.out" 2>&1
check "readme: the password file, made as the README says, has alice and is readable by www-data only ($(stat -c %G:%a "$R/etc/nixery-fcgi/htpasswd" 2>&1))" \
	eval 'htpasswd -vb "$R/etc/nixery-fcgi/htpasswd" alice "$PW" >/dev/null 2>&1 &&
		[ "$(stat -c %G:%a "$R/etc/nixery-fcgi/htpasswd")" = www-data:640 ]'
CREDS=alice:$PW
mkdir -p "$R/nginx/tmp"
cp /etc/nginx/fastcgi_params "$R/nginx/"
{
	echo "user www-data; pid $R/nginx/nginx.pid; error_log $R/nginx/error.log;"
	echo "events { worker_connections 256; }"
	echo "http { include /etc/nginx/mime.types; access_log $R/nginx/access.log; client_body_temp_path $R/nginx/tmp/body;"
	echo "fastcgi_temp_path $R/nginx/tmp/fastcgi; proxy_temp_path $R/nginx/tmp/proxy; scgi_temp_path $R/nginx/tmp/scgi; uwsgi_temp_path $R/nginx/tmp/uwsgi;"
	readme_block "nginx (" | python3 -c 'import sys
block, auth = sys.stdin.read(), open(sys.argv[1]).read()
line = "include fastcgi_params;\n"
sys.stdout.write(block.replace(line, line + auth + "\n", 1))' <(readme_block "nginx: in the server block")
	echo "}"
} >"$R/nginx/nginx.conf"
check "readme: the nginx server block has the Access lines" grep -q "auth_basic_user_file $R/etc/nixery-fcgi/htpasswd;" "$R/nginx/nginx.conf"
readme_block "Without systemd" >"$work/spawn.sh"
check "readme: the README's spawn-fcgi lines start the workers ($(tail -1 "$work/spawn.out" 2>/dev/null))" \
	eval 'env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root bash -e "$work/spawn.sh" >"$work/spawn.out" 2>&1'
check "readme: nginx starts with the README's server blocks" \
	eval 'nginx -p "$R/nginx" -c "$R/nginx/nginx.conf" >"$work/nginx.out" 2>&1'
for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
code=$(curl -sk -o "$work/anon" -w '%{http_code}' "https://127.0.0.1:$PORT/v2/shell/hello/manifests/latest")
check "readme: nginx: without the password, 401 with the registry's JSON error ($code)" \
	eval '[ "$code" = 401 ] && grep -q "\"UNAUTHORIZED\"" "$work/anon"'
pull nginx
users=$(pgrep -f "$R/usr/sbin/nixery-fcgi" | xargs -r ps -o user= -p | sort -u | tr '\n' ' ')
check "readme: nginx: the workers run as nixery ($users)" [ "$users" = "nixery " ]
check "readme: nginx: NIXERY_LOG_FILE, made as the README says, holds their log" \
	eval 'grep -q "info: serving" "$R/var/log/nixery-fcgi.log" && [ "$(stat -c %U "$R/var/log/nixery-fcgi.log")" = nixery ]'
check "readme: nginx: the build is recorded for alice, whom nginx authenticated" \
	grep -q "building image [0-9a-f]* for linux/[a-z0-9/]*, asked by alice: " "$R/var/log/nixery-fcgi.log"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT2/v2/")
check "readme: nginx: plain HTTP is sent to HTTPS ($code)" [ "$code" = 301 ]
long_path_check "nginx, HTTP/2" "https://127.0.0.1:$PORT" 2000 414 --http2
long_path_check "nginx, HTTP/1.1" "https://127.0.0.1:$PORT" 20000 414 --http1.1
check "readme: nginx: over HTTP/2 a 20000-byte path ends the connection (GOAWAY), as the README says" \
	eval 'curl -sk --http2 -v -o /dev/null "https://127.0.0.1:$PORT$(long_path 20000 short manifest)" 2>&1 | grep -qi goaway'
kill "$(cat "$R/nginx/nginx.pid")"
CREDS=

# lighttpd with the README's lines, in front of the same workers, on plain
# HTTP (its TLS module is another package): the page's routes, and blobs
# sent from their files without a worker.
PORT=$(free_port)
mkdir -p "$R/lighttpd"
{
	echo "server.bind = \"127.0.0.1\""
	echo "server.port = $PORT"
	echo "server.pid-file = \"$R/lighttpd/lighttpd.pid\""
	echo "server.errorlog = \"$R/lighttpd/error.log\""
	readme_block "lighttpd (etc/lighttpd.conf spawns"
} >"$R/lighttpd/lighttpd.conf"
check "readme: lighttpd starts with the README's lines ($(tail -2 "$R/lighttpd/error.log" 2>/dev/null | tr '\n' ' '))" \
	eval 'lighttpd -f "$R/lighttpd/lighttpd.conf" >"$work/lighttpd.out" 2>&1'
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
curl -s -o "$work/lm" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://127.0.0.1:$PORT/v2/shell/hello/manifests/latest"
d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$work/lm" 2>/dev/null)
before=$(blob_requests "http://127.0.0.1:$PORT")
curl -s -D "$work/lh" -o "$work/lb" "http://127.0.0.1:$PORT/v2/shell/hello/blobs/$d"
check "readme: lighttpd: a layer comes whole with its Docker-Content-Digest" \
	eval '[ -n "$d" ] && [ "sha256:$(sha256sum <"$work/lb" | cut -d" " -f1)" = "$d" ] && grep -qi "^docker-content-digest: $d" "$work/lh"'
check "readme: lighttpd: it was sent without a worker (blob requests the workers answered: $before before, $(blob_requests "http://127.0.0.1:$PORT") after)" \
	[ "$(blob_requests "http://127.0.0.1:$PORT")" = "$before" ]
code=$(curl -s -o "$work/lu" -w '%{http_code}' "http://127.0.0.1:$PORT/v2/shell/hello/blobs/sha256:$(printf '0%.0s' $(seq 64))")
check "readme: lighttpd: an unknown blob gets the registry's 404 BLOB_UNKNOWN ($code)" \
	eval '[ "$code" = 404 ] && grep -q BLOB_UNKNOWN "$work/lu"'
check "readme: lighttpd: which a worker answered, and counted ($(blob_requests "http://127.0.0.1:$PORT") after $before)" \
	[ "$(blob_requests "http://127.0.0.1:$PORT")" = $((before + 1)) ]
check "readme: lighttpd: the landing page answers" eval 'curl -s "http://127.0.0.1:$PORT/" | grep -q "docker pull"'
long_path_check lighttpd "http://127.0.0.1:$PORT" 3000 414
long_path_check lighttpd "http://127.0.0.1:$PORT" 20000 431
kill "$(cat "$R/lighttpd/lighttpd.pid")"
pkill -f "$R/usr/sbin/nixery-fcgi"
sleep 1

# Apache with the README's VirtualHost, as the modules it names allow;
# mod_fcgid runs the workers as Apache's user, here nixery, who owns the
# data since the nginx run.
PORT=$(free_port)
mkdir -p "$R/apache/fcgid"
chown nixery "$R/apache/fcgid"
{
	echo "ServerRoot $R/apache"
	echo "ServerName 127.0.0.1"
	echo "Listen 127.0.0.1:$PORT"
	echo "PidFile $R/apache/apache.pid"
	echo "DefaultRuntimeDir $R/apache"
	echo "Mutex file:$R/apache default"
	echo "ErrorLog $R/apache/error.log"
	# What Debian's apache2.conf loads, and the README's a2enmod line.
	for m in mpm_event authz_core socache_shmcb $(tr '\n' ' ' <"$TOP/README" | grep -o 'a2enmod [a-z_ ]*' | head -1 | cut -d' ' -f2-); do
		echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"
	done
	echo "User nixery"
	echo "Group nixery"
	echo "FcgidIPCDir $R/apache/fcgid"
	echo "FcgidProcessTableFile $R/apache/fcgid-shm"
	readme_block "Apache 2.4 with mod_fcgid"
} >"$R/apache/apache.conf"
if apache2 -f "$R/apache/apache.conf" -k start >"$work/apache.out" 2>&1; then
	pass "readme: Apache starts with the README's VirtualHost"
else
	fail "readme: Apache starts with the README's VirtualHost ($(cat "$work/apache.out"; tail -2 "$R/apache/error.log" 2>/dev/null))"
fi
for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
pull apache
users=$(pgrep -f "$R/usr/sbin/nixery-fcgi" | xargs -r ps -o user= -p | sort -u | tr '\n' ' ')
check "readme: apache: the workers run as nixery ($users)" [ "$users" = "nixery " ]
long_path_check apache "https://127.0.0.1:$PORT" 8000 414
long_path_check apache "https://127.0.0.1:$PORT" 20000 414
kill "$(cat "$R/apache/apache.pid")"
pkill -f "$R/usr/sbin/nixery-fcgi"
sleep 1

# cron: the README's lines, written where it says but here, and their
# commands run as cron runs them (sh, cron's PATH), as the user named.
readme_block "Without systemd, nix-daemon and the workers start" | sed "s|>/etc/cron.d/nixery-admin|>$work/cron.d|" >"$work/cron.sh"
bash -e "$work/cron.sh"
check "readme: the cron lines run gc and verify as nixery ($(wc -l <"$work/cron.d" 2>/dev/null) lines)" \
	eval 'grep -q "^17 4 \* \* \* nixery .*/usr/sbin/nixery-admin gc" "$work/cron.d" && grep -q "nixery-admin verify" "$work/cron.d"'
while read -r _ _ _ _ _ user cmd; do
	out=$(setpriv --reuid="$user" --regid="$user" --init-groups env -i PATH=/usr/bin:/bin HOME=/var/lib/nixery SHELL=/bin/sh sh -c "$cmd" 2>&1)
	rc=$?
	check "readme: cron's command for $user works with cron's PATH: ${cmd##*/} (exit $rc: $(tail -1 <<<"$out"))" [ $rc = 0 ]
done <"$work/cron.d"

# Shared hosting, as the site's user (nixery, its home $site), from the
# files make install put under $R/usr/share/doc: the README's lines, the
# operator's edit (the package source) for its editor line, and the
# host's program path in nixery.fcgi moved into $R as every absolute path
# here; no chmod.
site=$work/site
mkdir -p "$site/public_html"
chown -R nixery: "$site"
chmod 0755 "$site"
readme_block "Shared hosting, where the site's owner" |
	sed "s|^editor ~/nixery-fcgi.conf|sed -i 's@^NIXERY_CHANNEL = .*@NIXERY_PKGS_PATH = $R/usr/share/nixery-fcgi/nix/demo@' ~/nixery-fcgi.conf|" \
	>"$work/site.sh"
check "readme: the site's lines copy the three installed files" [ "$(grep -c "^cp $R/usr/share/doc/nixery-fcgi/examples/shared-hosting/" "$work/site.sh")" = 3 ]
out=$(cd "$site" && AS_HOME=$site as_nixery bash -e "$work/site.sh" 2>&1)
rc=$?
check "readme: as the site's user they run, --check-config passing at the end (exit $rc: $(tail -2 <<<"$out" | tr '\n' ' '))" [ $rc = 0 ]
check "readme: the site's nixery.fcgi is executable as copied ($(stat -c %a "$site/public_html/nixery.fcgi"))" \
	test -x "$site/public_html/nixery.fcgi"
sed -i "s|/usr/sbin/nixery-fcgi|$R/usr/sbin/nixery-fcgi|" "$site/public_html/nixery.fcgi"
if hosting_apache_start "$site" "$site/public_html" "FileInfo Options"; then
	pass "readme: the host's Apache serves the site"
else
	fail "readme: the host's Apache serves the site"
fi
pulls "readme: hosting: skopeo pulls shell/hello from the site" shell/hello "$work/pull-site"
check "readme: hosting: the image runs" [ "$(chroot "$work/pull-site/bundle/rootfs" hello 2>&1)" = "Hello, world!" ]
users=$(pgrep -f "$R/usr/sbin/nixery-fcgi" | xargs -r ps -o user= -p | sort -u | tr '\n' ' ')
check "readme: hosting: the program runs as the site's user ($users)" [ "$users" = "nixery " ]
cmd=$(readme_section "A site's user has no systemd timer" | sed "s|/usr/sbin/nixery-admin|$R/usr/sbin/nixery-admin|" | cut -d' ' -f6-)
out=$(setpriv --reuid=nixery --regid=nixery --init-groups env -i PATH=/usr/bin:/bin HOME="$site" SHELL=/bin/sh sh -c "$cmd" 2>&1)
rc=$?
check "readme: hosting: the site's crontab line runs gc with cron's PATH (exit $rc: $(tail -1 <<<"$out"))" \
	eval '[ $rc = 0 ] && grep -q "removed" <<<"$out"'
servers_stop_dir "$site"
