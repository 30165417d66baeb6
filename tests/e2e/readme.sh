#!/usr/bin/env bash
# An operator's first install, from the README alone: configure, make
# install (into a temporary root here), the settings file, then the
# README's own nginx, spawn-fcgi, lighttpd and Apache sections as written, with only
# their absolute paths moved into that root and their ports made free
# ones. The workers run as nixery (Apache's too), never as root; a real
# client pulls over TLS through each server.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
. "$TOP/tests/servers.sh"
work=$(mktemp -d /tmp/nixery-e2e-readme.XXXXXX)
chmod 0755 "$work"
R=$work/root
cleanup() {
	[ -s "$R/nginx/nginx.pid" ] && kill "$(cat "$R/nginx/nginx.pid")" 2>/dev/null
	[ -s "$R/apache/apache.pid" ] && kill "$(cat "$R/apache/apache.pid")" 2>/dev/null
	[ -s "$R/lighttpd/lighttpd.pid" ] && kill "$(cat "$R/lighttpd/lighttpd.pid")" 2>/dev/null
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
		-e "s|/usr/sbin/nixery-fcgi|$R/usr/sbin/nixery-fcgi|g" -e "s|/etc/nixery-fcgi.conf|$R/etc/nixery-fcgi.conf|g" \
		-e "s|/usr/share/doc/nixery-fcgi/|$R/usr/share/doc/nixery-fcgi/|g" \
		-e "s|/etc/letsencrypt/live/registry.example.org/|$R/tls/|g" \
		-e "s|listen 443 ssl http2;|listen 127.0.0.1:$PORT ssl http2;|" -e "s|listen 80;|listen 127.0.0.1:$PORT2;|" \
		-e "s|<VirtualHost \\*:443>|<VirtualHost 127.0.0.1:$PORT>|"
}

# Installing, as the README's section says (into $R instead of /).
mkdir -p "$work/build" "$R"
( cd "$work/build" && "$TOP/configure" -q --prefix="$R/usr" --sysconfdir="$R/etc" --localstatedir="$R/var" \
	2> >(grep -v "cannot remove 'core'" >&2) && make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null ) \
	>"$work/install.log" 2>&1
check "readme: configure, make and make install into a temporary root ($(tail -1 "$work/install.log"))" \
	test -x "$R/usr/sbin/nixery-fcgi" -a -x "$R/usr/sbin/nixery-admin" -a -f "$R/etc/nixery-fcgi.conf" \
	-a -f "$R/usr/share/nixery-fcgi/nix/image.nix"
# The operator's edit of the settings: a package source (the installed demo
# set), and, only because of the temporary root, where the data goes.
cat >>"$R/etc/nixery-fcgi.conf" <<CONF
NIXERY_PKGS_PATH = $R/usr/share/nixery-fcgi/nix/demo
STORAGE_PATH = $R/var/lib/nixery/storage
NIXERY_STATE_DIR = $R/var/lib/nixery/state
CONF
mkdir -p "$R/var/lib" "$R/var/log" "$R/run" "$R/tls"
chmod -R a+rX "$R"
install -o nixery -m 0640 /dev/null "$R/var/log/nixery-fcgi.log"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=registry.example.org \
	-keyout "$R/tls/privkey.pem" -out "$R/tls/fullchain.pem" >/dev/null 2>&1
out=$(setpriv --reuid=nixery --regid=nixery --init-groups env -i PATH=/usr/bin:/bin HOME=/nonexistent \
	NIX_REMOTE=daemon "$R/usr/sbin/nixery-fcgi" --check-config 2>&1)
check "readme: --check-config as nixery finds the settings file and the folders to make (exit $?)" \
	grep -q "configuration file: $R/etc/nixery-fcgi.conf" <<<"$out"

# pull LABEL: skopeo pulls over TLS and the image runs; the page answers.
pull() {
	local label=$1 d=$work/pull-$1 before
	before=$(blob_requests "https://127.0.0.1:$PORT")
	if skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PORT/shell/hello" "oci:$d:latest" \
		>"$work/$label.pull" 2>&1 && umoci unpack --image "$d:latest" "$d.bundle" >>"$work/$label.pull" 2>&1; then
		pass "readme: $label: skopeo pulls shell/hello over TLS"
	else
		fail "readme: $label: skopeo pulls shell/hello over TLS ($(tail -2 "$work/$label.pull"))"
	fi
	check "readme: $label: the image runs" [ "$(chroot "$d.bundle/rootfs" hello 2>&1)" = "Hello, world!" ]
	check "readme: $label: the landing page answers over TLS" \
		eval 'curl -sk "https://127.0.0.1:$PORT/" | grep -q "docker pull 127.0.0.1:$PORT/shell/hello"'
	check "readme: $label: the metrics answer this host" \
		eval 'curl -sk "https://127.0.0.1:$PORT/metrics" | grep -q "^nixery_builds_total"'
	check "readme: $label: the pull's blobs were sent by the web server, none by a worker (blob requests the workers answered: $before before, $(blob_requests "https://127.0.0.1:$PORT") after)" \
		[ "$(blob_requests "https://127.0.0.1:$PORT")" = "$before" ]
}

# long_path_check LABEL BASE LENGTH STATUS [CURL-ARGS...]: a path of LENGTH
# bytes gets STATUS and the registry's JSON error for a path too long.
long_path_check() {
	local got want="$4 application/json"
	got=$(curl -sk "${@:5}" -o "$work/long" -w '%{http_code} %{content_type}' "$2$(long_path "$3" short manifest)")
	check "readme: $1: a $3-byte path gets $4 and the JSON error ($got)" \
		eval '[ "$got" = "$want" ] && grep -q "request path too long" "$work/long"'
}

# nginx with the README's server blocks, the workers started by its
# spawn-fcgi lines (run as root, as an operator would, in root's clean
# environment: the workers become nixery).
PORT=$(free_port) PORT2=$(free_port)
mkdir -p "$R/nginx/tmp"
cp /etc/nginx/fastcgi_params "$R/nginx/"
{
	echo "user www-data; pid $R/nginx/nginx.pid; error_log $R/nginx/error.log;"
	echo "events { worker_connections 256; }"
	echo "http { include /etc/nginx/mime.types; access_log $R/nginx/access.log; client_body_temp_path $R/nginx/tmp/body;"
	echo "fastcgi_temp_path $R/nginx/tmp/fastcgi; proxy_temp_path $R/nginx/tmp/proxy; scgi_temp_path $R/nginx/tmp/scgi; uwsgi_temp_path $R/nginx/tmp/uwsgi;"
	readme_block "nginx ("
	echo "}"
} >"$R/nginx/nginx.conf"
readme_block "Without systemd" >"$work/spawn.sh"
check "readme: the README's spawn-fcgi lines start the workers ($(tail -1 "$work/spawn.out" 2>/dev/null))" \
	eval 'env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root bash -e "$work/spawn.sh" >"$work/spawn.out" 2>&1'
check "readme: nginx starts with the README's server blocks" \
	eval 'nginx -p "$R/nginx" -c "$R/nginx/nginx.conf" >"$work/nginx.out" 2>&1'
for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
pull nginx
users=$(pgrep -f "$R/usr/sbin/nixery-fcgi" | xargs -r ps -o user= -p | sort -u | tr '\n' ' ')
check "readme: nginx: the workers run as nixery ($users)" [ "$users" = "nixery " ]
check "readme: nginx: NIXERY_LOG_FILE holds their log" grep -q "info: serving" "$R/var/log/nixery-fcgi.log"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT2/v2/")
check "readme: nginx: plain HTTP is sent to HTTPS ($code)" [ "$code" = 301 ]
long_path_check "nginx, HTTP/2" "https://127.0.0.1:$PORT" 2000 414 --http2
long_path_check "nginx, HTTP/1.1" "https://127.0.0.1:$PORT" 20000 414 --http1.1
check "readme: nginx: over HTTP/2 a 20000-byte path ends the connection (GOAWAY), as the README says" \
	eval 'curl -sk --http2 -v -o /dev/null "https://127.0.0.1:$PORT$(long_path 20000 short manifest)" 2>&1 | grep -qi goaway'
kill "$(cat "$R/nginx/nginx.pid")"

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
