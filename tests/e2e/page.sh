#!/usr/bin/env bash
# The landing page, in a real browser (headless Chromium): the pull
# commands name this registry, finished and failed builds are listed, the
# composer flags names that are not in the package set (its script asks
# the JSON search; without script the form asks the server), a build in
# progress shows with the last line from Nix, and the page is not blank.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"
work=$(mktemp -d /tmp/nixery-e2e-page.XXXXXX)
trap 'server_stop; pkill -f nixery-sleeper; rm -rf "$work"' EXIT
server_start "$work/srv" NIX_TIMEOUT=600 NIXERY_TEST_NONCE=$RANDOM$RANDOM || { fail "page: server starts"; exit 1; }

# browser ARGS... URL: headless Chromium with a profile of its own and no
# network beyond the page.
browser() {
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$work/profile-$RANDOM" "$@" 2>>"$work/chromium.log"
}

curl -s -o /dev/null "$URL/v2/cowsay/manifests/latest"
curl -s -o /dev/null "$URL/v2/broken/manifests/latest"

code=$(curl -s -o "$work/page.html" -D "$work/h" -w '%{http_code}' "$URL/")
check "page: GET / answers 200 HTML ($code)" \
	eval '[ "$code" = 200 ] && grep -qi "^content-type: text/html" "$work/h"'
check "page: it refers to nothing outside itself (no src= or href= to another place)" \
	eval '! grep -qiE "(src|href)=\"?(https?:)?//" "$work/page.html"'

browser --dump-dom "$URL/" >"$work/dom.html"
check "page: in Chromium, the DOM has the pull commands with this host and port" \
	eval 'grep -q "docker pull 127.0.0.1:$PORT/shell/hello" "$work/dom.html" && grep -q "skopeo copy --src-tls-verify=false docker://127.0.0.1:$PORT/shell/hello oci:hello:latest" "$work/dom.html"'
check "page: a finished build is listed (cowsay:latest, its platform, ok)" \
	python3 -c 'import re,sys; d=open(sys.argv[1]).read(); sys.exit(not re.search(r"<tr class=\"build\"><td><code>cowsay:latest</code></td><td class=\"platform\">linux/amd64</td><td class=\"ok\">ok</td>", d))' "$work/dom.html"
check "page: a failed build is listed with its error line" \
	python3 -c 'import re,sys; d=open(sys.argv[1]).read(); sys.exit(not re.search(r"broken:latest</code></td><td class=\"platform\">linux/amd64</td><td class=\"failed\">failed</td>.*fails to build on purpose", d))' "$work/dom.html"
check "page: the composer says the one platform served" \
	grep -q "Built for <code class=\"platform\">linux/amd64</code> only." "$work/dom.html"
check "page: the meta-packages and the package source are shown" \
	eval 'grep -q "<dt>nonroot</dt>" "$work/dom.html" && grep -q "local package set <code>$TOP/nix/demo</code>" "$work/dom.html"'

# The composer, with script: a link with #image= fills it, the commands
# follow, and the search flags the name that is no package.
browser --virtual-time-budget=10000 --dump-dom "$URL/#image=cowsay/nosuchthing" >"$work/composed.html"
check "page: with script, the composer's commands follow the image (cowsay/nosuchthing)" \
	grep -q "docker pull 127.0.0.1:$PORT/cowsay/nosuchthing" "$work/composed.html"
check "page: with script, a name that is not in the package set is flagged before any pull" \
	grep -q "Not in the package set: nosuchthing<" "$work/composed.html"
check "page: the JSON search completes names ($(curl -s "$URL/search?q=cow"))" \
	eval '[ "$(curl -s "$URL/search?q=cow")" = "{\"query\":\"cow\",\"known\":false,\"names\":[\"cowsay\"]}" ]'
check "page: the search says which names are packages (cowsay: $(curl -s "$URL/search?q=cowsay" | grep -o "\"known\":[a-z]*"))" \
	eval 'curl -s "$URL/search?q=cowsay" | grep -q "\"known\":true"'
# Without script, the form asks the server.
curl -s -o "$work/form.html" "$URL/?image=figlet%2Fnosuchthing"
check "page: without script, the form's answer flags the unknown name and shows the commands" \
	eval 'grep -q "Not in the package set: nosuchthing" "$work/form.html" && grep -q "docker pull 127.0.0.1:$PORT/figlet/nosuchthing" "$work/form.html"'

# A screenshot that is not blank: many colours, text on the page.
browser --window-size=1200,1400 --screenshot="$work/page.png" "$URL/" >/dev/null
colours=$(python3 - "$work/page.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, width, height, bpp = 8, b"", 0, 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        bpp = {2: 3, 6: 4}[colour]
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw, stride, prev, seen = zlib.decompress(idat), width * bpp, None, set()
for y in range(height):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x] if prev else 0
        c = prev[x - bpp] if prev and x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 4 == 0:
        seen.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp * 4))
print(len(seen))
PY
)
check "page: the screenshot is not blank (${colours:-no} colours)" [ "${colours:-0}" -ge 16 ]

# A build in progress shows, with how long it has run and Nix's last line.
curl -s -o /dev/null "$URL/v2/sleeper/manifests/latest" &
client=$!
for _ in $(seq 300); do pgrep -f nixery-sleeper >/dev/null && break; sleep 0.1; done
sleep 2
browser --dump-dom "$URL/" >"$work/running.html"
check "page: a build in progress is shown with the last line from Nix" \
	python3 -c 'import re,sys; d=open(sys.argv[1]).read(); sys.exit(not re.search(r"id=\"running\".*<td><code>sleeper:latest</code></td><td class=\"platform\">linux/amd64</td><td>\d+ s</td><td><code>[^<]*sleeper[^<]*</code>", d, re.S))' "$work/running.html"
kill $client 2>/dev/null
server_stop
pkill -f nixery-sleeper
