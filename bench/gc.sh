#!/usr/bin/env bash
# Benchmark: nixery-admin gc over 10,000 blobs. Target: under 10 s.
#
# What is measured: a cache with one real image (shell/hello, built through
# the registry) plus 10,000 small blobs recorded in the cache and stored,
# that no image names (as a long-running registry accumulates them); then
# the wall time of one `nixery-admin gc`, which reads every image's
# manifest, lists every blob file and row, and removes the 10,000. Checked:
# the real image still pulls afterwards.
# Exits 0 whether or not the target is met; 1 only if it could not measure.
set -eu

BENCH=gc
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
N=${GC_BLOBS:-10000}

server_start "$DIR" || die "server did not start"
curl -sf -o /dev/null --max-time 240 "$URL/v2/shell/hello/manifests/latest" || die "cannot build shell/hello"
python3 - "$SERVER_DIR/storage/blobs/sha256" "$SERVER_DIR/state/cache.db" "$N" <<'PY'
import hashlib, os, sqlite3, sys
folder, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
for i in range(n):
    data = b"unused blob %d\n" % i
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(folder, hexd), "wb") as f:
        f.write(data)
    rows.append((hexd, len(data), "application/octet-stream"))
c = sqlite3.connect(db, timeout=30)
c.executemany("INSERT OR IGNORE INTO blobs (digest, size, media_type) VALUES (?, ?, ?)", rows)
c.commit()
PY
total=$(find "$SERVER_DIR/storage/blobs/sha256" -type f | wc -l)
start=$(date +%s%N)
out=$(admin gc 2>/dev/null) || die "gc failed: $out"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
left=$(find "$SERVER_DIR/storage/blobs/sha256" -type f | wc -l)
pull_image shell/hello "$DIR/pull" || die "shell/hello does not pull after gc"
cat <<EOF2
== gc: nixery-admin gc over $total blobs ($N of them unused)
gc:           $out
wall time:    $ms ms; $left blobs left, shell/hello still pulls
RESULT gc_${N}_blobs_ms $ms ms (target < 10000 ms)
TARGET gc_${N}_blobs $([ "$ms" -lt 10000 ] && echo met || echo MISSED)
EOF2
exit 0
