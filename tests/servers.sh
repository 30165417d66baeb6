# Apache (mod_fcgid + X-Sendfile) and nginx (spawn-fcgi workers +
# X-Accel-Redirect) in front of nixery-fcgi, as private instances with all
# their state in one folder, and server_pull_test, the checks a registry
# must pass behind any of them. Sourced after tests/lib.sh:
#
#   apache_start DIR [VAR=VALUE...]   etc/apache.conf, workers spawned by mod_fcgid
#   nginx_start DIR [VAR=VALUE...]    etc/nginx.conf, workers started by spawn-fcgi
#   hosting_start DIR [VAR=VALUE...]  etc/shared-hosting/, under its own Apache
#   servers_stop                      stops the server started last (lighttpd too)
#   servers_stop_dir DIR              stops whatever runs from DIR
#   server_pull_test LABEL            pull, run and blob checks against $URL
#
# Like server_start they set SERVER_DIR, PORT and URL, plus SERVER_KIND
# (apache, nginx) and WORKER_LOG, the file the workers' standard error goes
# to. State lives in DIR: storage/, state/, run/ (pid files, sockets, logs).
# VAR=VALUE arguments are worker settings (NIX_TIMEOUT=..., NIX_REMOTE=...)
# or, for these functions:
#   APACHE_RUN_USER, APACHE_RUN_GROUP  Apache's children and workers (default nixery)
#   NIXERY_USER                        nginx: the workers' user (default: ours)
#   NGINX_USER                         nginx's worker user (default www-data)
#   NIXERY_WORKERS                     nginx: worker processes (default 2)
#   APACHE_CONF, NGINX_CONF            another configuration to try
#                                      (default etc/apache.conf, etc/nginx.conf)
#   NIXERY_HTPASSWD                    an htpasswd file: the server asks for
#                                      a password (basic auth, as etc/ ships it)
# A worker that is not root needs NIX_REMOTE=daemon and a running nix-daemon.
# The web server's user must be able to search DIR's parent folders.

# shellcheck shell=bash disable=SC2016 # eval and sh -c get quoted code
: "${TOP:?TOP must name the source tree}"

# The worker settings every server gets; an empty value is the default.
_SERVER_SETTINGS="NIXERY_CONFIG STORAGE_PATH NIXERY_STATE_DIR NIXERY_CHANNEL
NIXERY_PKGS_REPO NIXERY_PKGS_PATH NIXERY_NIX_DIR NIX_POPULARITY_URL NIX_TIMEOUT
NIX_REMOTE NIXERY_STOP_GRACE NIXERY_MAX_BUILDS NIXERY_EVAL_TTL NIXERY_BUILD_USERS
NIXERY_MAX_BUILDS_PER_CLIENT NIXERY_ALLOW_PACKAGES NIXERY_DENY_PACKAGES"

# _server_env DIR: exports the defaults of a test server (the caller is a
# subshell); VAR=VALUE arguments are exported after it. As in server_start,
# no settings file: the host's must not change what the tests see.
_server_env() {
	local dir=$1 v
	for v in $_SERVER_SETTINGS; do export "$v=${!v:-}"; done
	export NIXERY_HTPASSWD= NIXERY_PORT=$PORT NIXERY_BIN="$BUILD/nixery-fcgi" NIXERY_RUN_DIR="$dir/run" \
		STORAGE_PATH="$dir/storage" NIXERY_STATE_DIR="$dir/state" \
		NIXERY_NIX_DIR="$TOP/nix" NIXERY_PKGS_PATH="${NIXERY_PKGS_PATH:-$TOP/nix/demo}" \
		NIX_POPULARITY_URL="$TOP/nix/demo/popularity.json" \
		NIXERY_CONFIG=/dev/null
}

# servers_work NAME: $work, a scratch folder for a test that runs servers
# (the web servers' users, www-data and nixery, search their way into
# it), removed on exit once every server started under it, the
# shared-hosting site's workers and a nix-daemon the test started are
# stopped.
servers_work() {
	work=$(mktemp -d "/tmp/nixery-e2e-$1.XXXXXX")
	chmod 0755 "$work"
	trap _servers_work_done EXIT
}
_servers_work_done() {
	local d
	for d in "$work"/*/; do servers_stop_dir "${d%/}"; done
	pkill -KILL -f "$work/hosting/site" 2>/dev/null
	stop_daemon
	rm -rf "$work"
}

# _server_dirs DIR USER: the folders of a server; the workers' user owns
# what they write, everyone may search and read (the web server sends the
# blobs).
_server_dirs() {
	local dir=$1 user=$2
	mkdir -p "$dir/storage/empty" "$dir/state" "$dir/run" || return 1
	chmod 0755 "$dir" "$dir/storage" "$dir/storage/empty" "$dir/state" "$dir/run"
	if [ "$user" != root ]; then
		chown "$user:" "$dir/storage" "$dir/storage/empty" "$dir/state" || return 1
	fi
}

# _server_wait NAME LOG: until /v2/ answers 200, or 401 behind a password
# (10 s).
_server_wait() {
	local name=$1 log=$2
	for _ in $(seq 100); do
		server_up && return 0
		sleep 0.1
	done
	echo "$name did not come up on $PORT:" >&2
	tail -20 "$log" >&2
	return 1
}

apache_start() {
	local dir=$1; shift
	SERVER_KIND=apache SERVER_DIR=$dir
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	# mod_fcgid gives the workers Apache's error log as standard error.
	WORKER_LOG=$dir/run/apache-error.log
	(
		_server_env "$dir"
		export APACHE_RUN_USER=nixery APACHE_RUN_GROUP=nixery NIX_REMOTE=daemon
		for kv in "$@"; do export "${kv?}"; done
		_server_dirs "$dir" "$APACHE_RUN_USER" || exit 1
		local auth=()
		[ -z "$NIXERY_HTPASSWD" ] || auth=(-D NIXERY_AUTH)
		exec apache2 -f "${APACHE_CONF:-$TOP/etc/apache.conf}" "${auth[@]}" -k start
	) || return 1
	_server_wait Apache "$WORKER_LOG"
}

nginx_start() {
	local dir=$1; shift
	SERVER_KIND=nginx SERVER_DIR=$dir
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	WORKER_LOG=$dir/run/nixery-fcgi.log
	(
		_server_env "$dir"
		NIXERY_USER=$(id -un) NGINX_USER=www-data NIXERY_WORKERS=2
		export HOME=$dir/state
		for kv in "$@"; do export "${kv?}"; done
		_server_dirs "$dir" "$NIXERY_USER" || exit 1
		mkdir -p "$dir/run/nginx-tmp"
		: >"$WORKER_LOG"
		chown "$NIXERY_USER:" "$WORKER_LOG"
		# Basic auth: the lines etc/nginx.conf has for it, enabled.
		local auth=()
		[ -z "$NIXERY_HTPASSWD" ] || auth=(-e 's/^\([[:space:]]*\)#auth: /\1/')
		sed -e "s|@PORT@|$PORT|g" -e "s|@RUN_DIR@|$dir/run|g" \
			-e "s|@SOCKET@|$dir/run/nixery-fcgi.sock|g" -e "s|@HTPASSWD@|$NIXERY_HTPASSWD|g" \
			-e "s|@STORAGE_PATH@|$STORAGE_PATH|g" -e "s|@USER@|$NGINX_USER|g" "${auth[@]}" \
			"${NGINX_CONF:-$TOP/etc/nginx.conf}" >"$dir/run/nginx.conf"
		# The socket belongs to nginx's user, the workers run as
		# NIXERY_USER; a shell puts their standard error in the log.
		local as=()
		[ "$NIXERY_USER" = root ] || as=(-u "$NIXERY_USER" -G "$(id -gn "$NIXERY_USER")")
		spawn-fcgi -s "$dir/run/nixery-fcgi.sock" -M 0660 -U "$NGINX_USER" \
			"${as[@]}" -F "$NIXERY_WORKERS" \
			-P "$dir/run/spawn-fcgi.pid" -d "$dir/state" -- \
			/bin/sh -c 'exec "$0" 2>>"$1"' "$NIXERY_BIN" "$WORKER_LOG" \
			>"$dir/run/spawn-fcgi.log" 2>&1 || { cat "$dir/run/spawn-fcgi.log" >&2; exit 1; }
		exec nginx -p "$dir/run" -c "$dir/run/nginx.conf" -e "$dir/run/nginx-error.log"
	) || return 1
	_server_wait nginx "$dir/run/nginx-error.log"
}

# hosting_start DIR: a shared-hosting site, as its owner sets it up from
# etc/shared-hosting/ (the README says how), under the host's Apache,
# private here and reading nothing else: the site's folder may hold
# FileInfo and Options overrides, nothing more; Apache and the program run
# as the site's user, nixery, with Nix through the host's daemon
# (unprivileged_setup first). The site is DIR/site (public_html, and the
# settings file beside it), Apache's files DIR/run; the program is the
# build tree's. Sets SERVER_KIND (hosting), SERVER_DIR, PORT, URL and
# WORKER_LOG (Apache's error log, where the program's standard error
# goes). VAR=VALUE arguments are lines of the site's settings file, but
# NIXERY_HTPASSWD=FILE: the site asks for a password, the htaccess's auth
# lines enabled and naming that file, where the host allows AuthConfig
# too.
hosting_start() {
	local dir=$1 htpasswd="" site=$1/site public=$1/site/public_html override="FileInfo Options" kv
	shift
	mkdir -p "$public" || return 1
	cp "$TOP/etc/shared-hosting/htaccess" "$public/.htaccess"
	# Copied as the owner copies it, its mode kept (sed -i keeps it too).
	cp "$TOP/etc/shared-hosting/nixery.fcgi" "$public/nixery.fcgi"
	sed -i "s|/usr/sbin/nixery-fcgi|$BUILD/nixery-fcgi|" "$public/nixery.fcgi"
	sed -e "s|^NIXERY_CHANNEL = .*|NIXERY_PKGS_PATH = ${NIXERY_PKGS_PATH:-$TOP/nix/demo}\nNIXERY_NIX_DIR = $TOP/nix|" \
		-e "s|/home/site/public_html|$public|" -e "s|/home/site|$site|" \
		"$TOP/etc/shared-hosting/nixery-fcgi.conf" >"$site/nixery-fcgi.conf"
	for kv in "$@"; do
		case $kv in
		NIXERY_HTPASSWD=*) htpasswd=${kv#*=} ;;
		*) echo "${kv%%=*} = ${kv#*=}" >>"$site/nixery-fcgi.conf" ;;
		esac
	done
	if [ -n "$htpasswd" ]; then
		override="$override AuthConfig"
		sed -i -e 's/^#auth: //' -e "s|^AuthUserFile .*|AuthUserFile $htpasswd|" "$public/.htaccess"
	fi
	chown -R nixery: "$site"
	hosting_apache_start "$dir" "$public" "$override"
}

# hosting_apache_start DIR PUBLIC OVERRIDES: the host's Apache for a site
# whose document root PUBLIC is set up already, private and reading
# nothing else, as the site's user, nixery; PUBLIC may hold OVERRIDES
# (AllowOverride's list). Its files in DIR/run. Sets SERVER_KIND,
# SERVER_DIR, PORT, URL and WORKER_LOG.
hosting_apache_start() {
	local dir=$1 public=$2 override=$3
	SERVER_KIND=hosting SERVER_DIR=$dir
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	WORKER_LOG=$dir/run/error.log
	mkdir -p "$dir/run/fcgid" || return 1
	chmod 0755 "$dir" "$dir/run"
	: >"$dir/run/mime.types"
	chown -R nixery: "$dir/run/fcgid"
	cat >"$dir/run/apache.conf" <<CONF
ServerRoot $dir/run
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile $dir/run/apache.pid
DefaultRuntimeDir $dir/run
Mutex file:$dir/run default
ErrorLog $WORKER_LOG
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule fcgid_module /usr/lib/apache2/modules/mod_fcgid.so
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule auth_basic_module /usr/lib/apache2/modules/mod_auth_basic.so
LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authn_file_module /usr/lib/apache2/modules/mod_authn_file.so
LoadModule authz_user_module /usr/lib/apache2/modules/mod_authz_user.so
User nixery
Group nixery
FcgidIPCDir $dir/run/fcgid
FcgidProcessTableFile $dir/run/fcgid-shm
FcgidIOTimeout 900
DocumentRoot $public
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory $public>
	AllowOverride $override
	Require all granted
</Directory>
CONF
	apache2 -f "$dir/run/apache.conf" -k start >"$dir/run/apache.out" 2>&1 ||
		{ cat "$dir/run/apache.out" >&2; return 1; }
	_server_wait "the shared-hosting site" "$WORKER_LOG"
}

# _stop_pids SIGNAL PID...: signals the processes and waits up to 10 s for
# them to go, then kills what is left.
_stop_pids() {
	local sig=$1 p left; shift
	[ $# -gt 0 ] || return 0
	kill "-$sig" "$@" 2>/dev/null
	for _ in $(seq 100); do
		left=
		for p in "$@"; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null
}

# servers_stop_dir DIR: stops the web server and the workers started from
# DIR, by their pid files. Apache and nginx run in a process group of their
# own (they detach), which takes the workers mod_fcgid spawned with it.
servers_stop_dir() {
	local run=$1/run pid f pids
	for f in "$run/nginx.pid" "$run/apache.pid" "$run/lighttpd.pid"; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill -0 "$pid" 2>/dev/null || { rm -f "$f"; continue; }
		pids=$(ps -eo pid=,pgid= | awk -v g="$pid" '$2 == g && $1 != g {print $1}')
		_stop_pids TERM "$pid"
		# shellcheck disable=SC2086
		_stop_pids TERM $pids
		rm -f "$f"
	done
	if [ -s "$run/spawn-fcgi.pid" ]; then
		# shellcheck disable=SC2046
		_stop_pids TERM $(cat "$run/spawn-fcgi.pid")
		rm -f "$run/spawn-fcgi.pid"
	fi
}

servers_stop() {
	[ -n "${SERVER_DIR:-}" ] || return 0
	servers_stop_dir "$SERVER_DIR"
}

# page_metrics_check LABEL: the server routes the landing page and its
# search to the workers, and the metrics to this host's clients only.
page_metrics_check() {
	local label=$1 code
	code=$(curl -s -o "$SERVER_DIR/page.html" -w '%{http_code}' "$URL/")
	check "$label: the landing page answers ($code)" \
		eval '[ "$code" = 200 ] && grep -q "docker pull 127.0.0.1:$PORT/shell/hello" "$SERVER_DIR/page.html"'
	check "$label: the search answers" eval 'curl -s "$URL/search?q=hell" | grep -q "\"names\":\[\"hello\"\]"'
	code=$(curl -s -o "$SERVER_DIR/metrics" -w '%{http_code}' "$URL/metrics")
	check "$label: the metrics answer this host ($code)" \
		eval '[ "$code" = 200 ] && grep -q "^nixery_requests_total" "$SERVER_DIR/metrics"'
	code=$(curl -s -o "$SERVER_DIR/far" -w '%{http_code}' --interface 127.0.0.2 "$URL/metrics")
	check "$label: the metrics refuse another address ($code)" \
		eval '[ "$code" != 200 ] && ! grep -q nixery_ "$SERVER_DIR/far"'
}

# midbuild_stop_check LABEL GRACE: the server is stopped (SIGTERM only)
# while it builds the demo's never-ending sleeper; GRACE + 5 s later none
# of its workers and no Nix process of the build may be left.
midbuild_stop_check() {
	local label=$1 grace=$2 workers p left i pids client
	curl -s -o /dev/null "$URL/v2/sleeper/manifests/latest" &
	client=$!
	for i in $(seq 300); do pgrep -f nixery-sleeper >/dev/null && break; sleep 0.1; done
	if ! pgrep -f nixery-sleeper >/dev/null; then
		fail "$label: a build is in flight when the server is stopped"
		return
	fi
	workers=$(worker_pids)
	pids=$(cat "$SERVER_DIR"/run/*.pid 2>/dev/null)
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	for i in $(seq 0 $(((grace + 5) * 10))); do
		left=
		for p in $workers; do kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p")" != Z ] && left="$left $p"; done
		left="$left$(pgrep -r RSD -f 'nixery-sleeper|nix-build .*image.nix' | tr '\n' ' ')"
		[ -z "${left// /}" ] && break
		sleep 0.1
	done
	check "$label: stopped mid-build, no worker (of:$(echo $workers)) and no Nix process is left after NIXERY_STOP_GRACE + 5 s (left:${left:- none}, after $i tenths)" \
		[ -z "${left// /}" ]
	wait "$client"
}

# heal_check LABEL: what the registry keeps serving when its files are
# damaged or removed under it. shell/hello's biggest layer and its config
# are overwritten in place, their sizes kept (dd conv=notrunc): the next
# pull succeeds, and the files hold their digests again. Then
# STORAGE_PATH/tmp, STORAGE_PATH/blobs and what NIXERY_STATE_DIR holds are
# removed, one after the other: the next pull succeeds each time.
heal_check() {
	local label=$1 w=$SERVER_DIR/heal m layer config f ok=1
	local docker=application/vnd.docker.distribution.manifest.v2+json
	rm -rf "$w"
	mkdir -p "$w"
	pull_image shell/hello "$w/first" || { fail "$label: shell/hello pulls before any damage"; return; }
	curl -s -o "$w/m" -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest"
	read -r layer config < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))
print(max(m["layers"], key=lambda l: l["size"])["digest"][7:], m["config"]["digest"][7:])' "$w/m")
	for f in "$layer" "$config"; do
		printf 'damage' | dd of="$SERVER_DIR/storage/blobs/sha256/$f" bs=1 seek=40 conv=notrunc status=none
	done
	# What the web server trusted of a file it lasts the rest of a second.
	sleep 1.2
	pulls "$label: a layer and a config damaged in place, sizes kept: the next pull succeeds" shell/hello "$w/damaged"
	for f in "$layer" "$config"; do
		[ "$(sha256sum <"$SERVER_DIR/storage/blobs/sha256/$f" | cut -d' ' -f1)" = "$f" ] || ok=0
	done
	check "$label: and their files hold their digests again" [ $ok = 1 ]
	check "$label: the worker logged the damage" grep -q "blob $layer is damaged in storage" "${WORKER_LOG:-$SERVER_DIR/run/nixery-fcgi.log}"
	rm -rf "$SERVER_DIR/storage/tmp"
	pulls "$label: STORAGE_PATH/tmp removed: an image never built pulls" figlet "$w/notmp"
	rm -rf "$SERVER_DIR/storage/blobs"
	sleep 1.2
	pulls "$label: STORAGE_PATH/blobs removed: a pull succeeds" shell/hello "$w/noblobs"
	# Everything in NIXERY_STATE_DIR (its folder is the test's, not the
	# workers' to make): cache.db, locks/, gcroots/.
	rm -rf "${SERVER_DIR:?}/state/"*
	sleep 1.2
	pulls "$label: NIXERY_STATE_DIR emptied: a pull succeeds" shell/hello "$w/nostate"
	# (lighttpd may have sent that pull from its tag files alone.)
	check "$label: and a worker's answer makes the cache again (catalog: $(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/_catalog"))" \
		[ -s "$SERVER_DIR/state/cache.db" ]
}

# worker_pids: the nixery-fcgi processes of the running server.
worker_pids() {
	local run=$SERVER_DIR/run pid
	case ${SERVER_KIND:-lighttpd} in
	nginx) cat "$run/spawn-fcgi.pid" 2>/dev/null ;;
	*)
		for f in "$run/apache.pid" "$run/lighttpd.pid"; do
			[ -s "$f" ] || continue
			pid=$(cat "$f")
			ps -eo pid=,pgid=,ppid=,comm= |
				awk -v g="$pid" '($2 == g || $3 == g) && $4 == "nixery-fcgi" {print $1}'
		done
		;;
	esac
}

# header FILE NAME: the value of a header in a curl -D dump.
header() {
	grep -i "^$2:" "$1" | tail -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'
}

# server_pull_test LABEL: a real client pulls and runs an image from $URL,
# and the blobs come back exact, by range, and as 304 when unchanged.
server_pull_test() {
	local label=$1 w=$SERVER_DIR/pull out d ok got etag lm code digest
	local docker=application/vnd.docker.distribution.manifest.v2+json
	rm -rf "$w"
	mkdir -p "$w"
	pulls "$label: skopeo copies shell/hello and umoci unpacks it" shell/hello "$w"
	out=$(chroot "$w/bundle/rootfs" hello 2>&1)
	check "$label: chroot ROOTFS hello prints Hello, world! (got: $out)" [ "$out" = "Hello, world!" ]

	# The manifest and its registry headers.
	curl -s -D "$w/mh" -o "$w/manifest" -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest"
	digest=$(header "$w/mh" Docker-Content-Digest)
	check "$label: the manifest's Docker-Content-Digest is the sha256 of its body" \
		[ "$digest" = "sha256:$(sha256sum <"$w/manifest" | cut -d' ' -f1)" ]
	check "$label: the manifest has Docker-Distribution-API-Version registry/2.0" \
		[ "$(header "$w/mh" Docker-Distribution-API-Version)" = registry/2.0 ]

	# The worker routes on REQUEST_URI as the client sent it: a ".." the
	# web server would resolve reaches it, and the registry refuses it.
	code=$(curl -s --path-as-is -o "$w/dots" -w '%{http_code}' "$URL/v2/shell/../hello/manifests/latest")
	check "$label: REQUEST_URI reaches the worker unchanged (/v2/shell/../hello: the registry's 400, got $code)" \
		eval '[ "$code" = 400 ] && grep -q NAME_INVALID "$w/dots"'

	# Every blob hashes to its digest and says so; each has its own ETag.
	ok=1
	: >"$w/etags"
	for d in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]' "$w/manifest" 2>/dev/null); do
		curl -s -D "$w/bh" -o "$w/blob" "$URL/v2/shell/hello/blobs/$d"
		got=sha256:$(sha256sum <"$w/blob" | cut -d' ' -f1)
		[ "$got" = "$d" ] || { ok=0; echo "$label: blob $d came back as $got"; }
		[ "$(header "$w/bh" Docker-Content-Digest)" = "$d" ] ||
			{ ok=0; echo "$label: blob $d answered Docker-Content-Digest '$(header "$w/bh" Docker-Content-Digest)'"; }
		header "$w/bh" ETag >>"$w/etags"
	done
	check "$label: every blob's bytes hash to its digest, named in Docker-Content-Digest" \
		[ $ok = 1 -a -n "${d:-}" ]
	check "$label: every blob has an ETag of its own ($(sort -u "$w/etags" | grep -c .) for $(wc -l <"$w/etags") blobs)" \
		[ "$(sort -u "$w/etags" | grep -c .)" = "$(wc -l <"$w/etags")" ]
	code=$(curl -s -o "$w/unknown" -w '%{http_code}' "$URL/v2/shell/hello/blobs/sha256:$(printf '0%.0s' $(seq 64))")
	check "$label: an unknown blob gets the registry's 404 BLOB_UNKNOWN (got $code)" \
		eval '[ "$code" = 404 ] && grep -q BLOB_UNKNOWN "$w/unknown"'

	# The first layer, in full, by range, with its validators.
	d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"])' "$w/manifest" 2>/dev/null)
	curl -s -D "$w/lh" -o "$w/layer" "$URL/v2/shell/hello/blobs/$d"
	code=$(curl -s -o "$w/range" -w '%{http_code}' -r 0-9 "$URL/v2/shell/hello/blobs/$d")
	check "$label: a Range request gets 206 and the blob's first 10 bytes" \
		eval '[ "$code" = 206 ] && [ "$(stat -c %s "$w/range")" = 10 ] && cmp -s "$w/range" <(head -c 10 "$w/layer")'
	etag=$(header "$w/lh" ETag)
	code=$(curl -s -o "$w/cond" -w '%{http_code}' -H "If-None-Match: $etag" "$URL/v2/shell/hello/blobs/$d")
	check "$label: GET with If-None-Match: its ETag ($etag) gets 304 and no body" \
		[ -n "$etag" -a "$code" = 304 -a ! -s "$w/cond" ]
	lm=$(header "$w/lh" Last-Modified)
	code=$(curl -s -o "$w/cond" -w '%{http_code}' -H "If-Modified-Since: $lm" "$URL/v2/shell/hello/blobs/$d")
	check "$label: GET with If-Modified-Since: its Last-Modified gets 304" \
		[ -n "$lm" -a "$code" = 304 ]
	curl -s -I -o /dev/null -D "$w/hh" "$URL/v2/shell/hello/blobs/$d"
	check "$label: HEAD on a blob gives its length and type" \
		[ "$(header "$w/hh" Content-Length)" = "$(stat -c %s "$w/layer")" -a \
		  -n "$(header "$w/hh" Content-Type)" ]
}

# blob_requests [URL]: how many blob requests the workers behind URL
# (default $URL) have answered, from their metrics.
blob_requests() {
	worker_requests blob "${1:-$URL}"
}

# worker_requests ROUTE [URL]: what the workers' /metrics says they answered
# on ROUTE.
worker_requests() {
	curl -sk "${2:-$URL}/metrics" | awk -v r="route=\"$1\"" 'index($0, "nixery_requests_total{" r) == 1 { n += $2 } END { print n + 0 }'
}

# server_requests: the web server's own count of requests, from its status
# page (lighttpd's and Apache's Total Accesses, nginx's requests). lighttpd
# adds up its counters once a second.
server_requests() {
	sleep 1.2
	curl -s "$URL/server-status?auto" | awk '/^Total Accesses:/ { print $3; exit } NR == 3 && /^ *[0-9]+ [0-9]+ [0-9]+/ { print $3; exit }'
}

# tag_files_check LABEL WANTED: tag files are written where the web server
# reads them (lighttpd: WANTED yes), and nowhere else (no).
tag_files_check() {
	local n
	n=$(find "$SERVER_DIR/storage/tags" -type f -name '@*' 2>/dev/null | wc -l)
	if [ "$2" = yes ]; then
		check "$1: the workers keep tag files for it to send cached tags ($n)" [ "$n" -gt 0 ]
	else
		check "$1: the workers write no tag file, which it would not read ($n)" [ "$n" = 0 ]
	fi
}

# status_check LABEL WORKER_MANIFESTS: the two places an operator reads
# numbers agree with what a client did. Five GETs of a built image's
# manifest and five of its config raise the web server's /server-status
# count by exactly those ten (and the one that read it before), and the
# workers' /metrics by the manifests that reached them (WORKER_MANIFESTS
# of the five) and no blob: those the server sends itself.
status_check() {
	local label=$1 want=$2 docker=application/vnd.docker.distribution.manifest.v2+json
	local config server_before server_after manifests_before blobs_before i
	config=$(curl -s -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')
	manifests_before=$(worker_requests manifest)
	blobs_before=$(worker_requests blob)
	server_before=$(server_requests)
	for i in 1 2 3 4 5; do
		curl -s -o /dev/null -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest"
		curl -s -o /dev/null "$URL/v2/shell/hello/blobs/$config"
	done
	server_after=$(server_requests)
	check "$label: its /server-status counted the ten requests and the status request before them ($server_before -> $server_after)" \
		[ -n "$server_before" -a "$server_after" = "$((server_before + 11))" ]
	check "$label: the workers' /metrics counted the $want manifests that reached them and no blob" \
		[ "$(worker_requests manifest)" = $((manifests_before + want)) -a "$(worker_requests blob)" = "$blobs_before" ]
}

# direct_blob_check LABEL: blobs whose file is there are sent by the web
# server without a worker, with the registry's headers; the route reaches
# no other file, however the path is dressed up; a blob whose file is gone
# falls through to the worker, for the registry's answer.
direct_blob_check() {
	local label=$1 w=$SERVER_DIR/direct before d hex path code config blobs=$SERVER_DIR/storage/blobs/sha256
	local docker=application/vnd.docker.distribution.manifest.v2+json
	local fake=fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
	rm -rf "$w"
	mkdir -p "$w"
	curl -s -o "$w/m" -H "Accept: $docker" "$URL/v2/shell/hello/manifests/latest"
	before=$(blob_requests)
	for d in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]' "$w/m" 2>/dev/null); do
		curl -s -D "$w/h" -o "$w/b" "$URL/v2/shell/hello/blobs/$d"
		curl -s -I -o /dev/null -D "$w/hh" "$URL/v2/other/name/blobs/$d"
	done
	check "$label: blobs whose file is there never reach a worker (blob requests answered by workers: $before before, $(blob_requests) after)" \
		[ "$before" = "$(blob_requests)" ]
	check "$label: such a blob has Content-Type application/octet-stream, Docker-Content-Digest $d and the API version" \
		eval '[ "$(header "$w/h" Content-Type)" = application/octet-stream ] &&
			[ "$(header "$w/h" Docker-Content-Digest)" = "$d" ] &&
			[ "$(header "$w/h" Docker-Distribution-API-Version)" = registry/2.0 ] &&
			[ "sha256:$(sha256sum <"$w/b" | cut -d" " -f1)" = "$d" ]'
	check "$label: and so has a HEAD of it under another repository name" \
		eval '[ "$(header "$w/hh" Docker-Content-Digest)" = "$d" ] && [ "$(header "$w/hh" Content-Length)" = "$(stat -c %s "$w/b")" ]'

	code=$(curl -s -o "$w/delete" -w '%{http_code}' -X DELETE "$URL/v2/shell/hello/blobs/$d")
	check "$label: a DELETE of such a blob gets the registry's 405 UNSUPPORTED ($code)" \
		eval '[ "$code" = 405 ] && grep -q UNSUPPORTED "$w/delete"'

	# Files beside the blob folder, named like a digest, and one blob's
	# digest with its letters in capitals: none is a blob.
	hex=${d#sha256:}
	for path in "$SERVER_DIR/storage/blobs/$fake" "$SERVER_DIR/storage/$fake" "$SERVER_DIR/storage/tmp/$fake" \
		"$SERVER_DIR/state/$fake"; do
		[ -d "${path%/*}" ] && echo "nixery-secret-beside-blobs" >"$path"
	done
	for path in "/v2/x/blobs/sha256:$fake" "/v2/x/blobs/sha256:${hex^^}" "/v2/x/blobs/sha256:${hex}x" \
		"/v2/x/blobs/sha256:${hex:0:63}" "/v2/x/blobs/sha256:$hex/../../../../../etc/passwd" \
		"/v2/x/blobs/sha256:$hex/..%2f..%2f$fake" "/v2/x/blobs/sha256:..%2f$fake" \
		"/v2/x/blobs/sha256:%2e%2e/%2e%2e/$fake" "/v2/x/blobs/sha256:$hex%00" "/v2/blobs/sha256:$hex" \
		"/_nixery/blobs/sha256/$fake" "/_nixery/blobs/sha256/../$fake" "/_nixery/blobs/$fake" "/_nixery/$fake" \
		"/_nixery/tmp/$fake" "/_nixery/blobs/sha256/%2e%2e%2f$fake" "/_nixery/../state/$fake"; do
		code=$(curl -s --path-as-is -o "$w/hostile" -w '%{http_code}' "$URL$path")
		check "$label: $path reaches no file ($code)" \
			eval '[ "${code:0:1}" = 4 ] && ! grep -q -e nixery-secret -e "^root:" "$w/hostile" && ! cmp -s "$w/hostile" "$w/b"'
	done
	rm -f "$SERVER_DIR/storage/blobs/$fake" "$SERVER_DIR/storage/$fake" "$SERVER_DIR/storage/tmp/$fake" \
		"$SERVER_DIR/state/$fake"

	# A blob the registry knows whose file is gone: the worker's answer.
	curl -s -o "$w/hm" -H "Accept: $docker" "$URL/v2/hello/manifests/latest"
	config=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"][7:])' "$w/hm" 2>/dev/null)
	mv "$blobs/$config" "$w/config" 2>/dev/null
	before=$(blob_requests)
	code=$(curl -s -o "$w/gone" -w '%{http_code}' "$URL/v2/hello/blobs/sha256:$config")
	check "$label: a blob whose file is gone reaches a worker, which says so ($code: $(head -c 120 "$w/gone"))" \
		eval '[ "$code" = 404 ] && grep -q "missing or damaged in storage" "$w/gone"'
	check "$label: and the workers count it (blob requests: $before before, $(blob_requests) after)" \
		[ "$(blob_requests)" = $((before + 1)) ]
	mv "$w/config" "$blobs/$config" 2>/dev/null
}

# blob_offload_check LABEL: a 2 MiB blob (image bulksmall) arrives whole and
# was sent by the web server from the file: its answer has the validators a
# web server gives files (an ETag of its own making, not the worker's,
# which is the digest; Last-Modified the file's mtime), and the offload
# header did not reach the client. For Apache and nginx the ETag is the one
# they make from the file's modification time (and size).
blob_offload_check() {
	local label=$1 w=$SERVER_DIR/offload d file etag want size mtime
	rm -rf "$w"
	mkdir -p "$w"
	curl -s -o "$w/m" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"$URL/v2/bulksmall/manifests/latest"
	d=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(max(m["layers"], key=lambda l: l["size"])["digest"])' "$w/m" 2>/dev/null)
	curl -s -D "$w/h" -o "$w/blob" "$URL/v2/bulksmall/blobs/$d"
	check "$label: a 2 MiB+ blob (bulksmall) arrives whole ($(stat -c %s "$w/blob") bytes)" \
		[ -n "$d" -a "sha256:$(sha256sum <"$w/blob" | cut -d' ' -f1)" = "$d" -a "$(stat -c %s "$w/blob")" -ge 2097152 ]
	file=$SERVER_DIR/storage/blobs/sha256/${d#sha256:}
	etag=$(header "$w/h" ETag)
	etag=${etag#W/}
	want=
	size=$(stat -c %s "$file" 2>/dev/null)
	case ${SERVER_KIND:-lighttpd} in
	nginx)
		# "mtime-size", in hex.
		want=$(printf '"%x-%x"' "$(stat -c %Y "$file")" "$size") ;;
	apache)
		# FileETag MTime Size: "size-mtime", the mtime in microseconds.
		mtime=$(python3 -c 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns // 1000)' "$file" 2>/dev/null)
		want=$(printf '"%x-%x"' "$size" "$mtime") ;;
	esac
	if [ -n "$want" ]; then
		check "$label: the blob was sent by the web server: its ETag $etag is the one it makes from the file" \
			[ "$etag" = "$want" ]
	else
		check "$label: the blob was sent by the web server: it has an ETag of its making ($etag)" \
			[ -n "$etag" -a "$etag" != "\"$d\"" ]
	fi
	check "$label: the blob answer has the web server's Last-Modified ($(header "$w/h" Last-Modified))" \
		[ "$(header "$w/h" Last-Modified)" = "$(TZ=GMT LC_ALL=C date -d "@$(stat -c %Y "$file")" '+%a, %d %b %Y %H:%M:%S GMT')" ]
	check "$label: no X-Sendfile or X-Accel-Redirect header reaches the client" \
		eval '! grep -qi "^x-sendfile\|^x-accel" "$w/h"'
}

# unprivileged_setup DIR: the system user nixery in group nix-users, as
# the README's installation makes it, and a nix-daemon accepting (started
# here, its log in DIR, when none runs; stop_daemon stops that one).
daemon_socket=/nix/var/nix/daemon-socket/socket
started_daemon=
daemon_accepting() {
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])' \
		"$daemon_socket" 2>/dev/null
}
unprivileged_setup() {
	if ! id nixery >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/nixery --no-create-home \
			--shell /usr/sbin/nologin nixery
	fi
	getent group nix-users >/dev/null || groupadd --system nix-users
	id -nG nixery 2>/dev/null | grep -qw nix-users || usermod -aG nix-users nixery
	check "setup: a system user nixery exists, in group nix-users" \
		eval 'id -nG nixery | grep -qw nix-users'
	if ! daemon_accepting; then
		setsid nix-daemon >"$1/nix-daemon.log" 2>&1 </dev/null &
		started_daemon=$!
		for _ in $(seq 100); do daemon_accepting && break; sleep 0.1; done
	fi
	check "setup: nix-daemon accepts on $daemon_socket ($([ -n "$started_daemon" ] && echo "started by the test" || echo "already running"))" \
		daemon_accepting
}
stop_daemon() {
	local children
	[ -n "$started_daemon" ] || return 0
	children=$(ps -eo pid=,ppid= | awk -v p="$started_daemon" '$2 == p {print $1}')
	# shellcheck disable=SC2086
	_stop_pids TERM "$started_daemon" $children
	started_daemon=
}
