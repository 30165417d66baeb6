-- The build cache. Rows are only ever inserted after the blobs they name are
-- on disk, in one transaction, so a worker killed at any moment leaves no row
-- pointing at a missing or partial blob.

-- Every blob in storage: layers, configs and manifests.
CREATE TABLE IF NOT EXISTS blobs (
	digest     TEXT PRIMARY KEY,        -- sha256 hex
	size       INTEGER NOT NULL,
	media_type TEXT NOT NULL
);

-- Packed layers by the store paths they hold: a group of paths is packed once.
CREATE TABLE IF NOT EXISTS layers (
	layer_key  TEXT PRIMARY KEY,        -- sha256 of the sorted store paths
	digest     TEXT NOT NULL REFERENCES blobs (digest),
	diff_id    TEXT NOT NULL,           -- sha256 of the uncompressed tar
	size       INTEGER NOT NULL
);

-- Built images by their package-set hash (output paths, system, format),
-- and image indexes by theirs (each platform's image, the platforms left
-- out): an index's two "manifests" are its Docker manifest list and its
-- OCI index, which name each platform's image's manifests.
CREATE TABLE IF NOT EXISTS images (
	image_key       TEXT PRIMARY KEY,
	docker_manifest TEXT NOT NULL REFERENCES blobs (digest),
	oci_manifest    TEXT NOT NULL REFERENCES blobs (digest),
	created         INTEGER NOT NULL,
	used            INTEGER NOT NULL DEFAULT 0,  -- unix time of the last answer
	                                             -- from it, to the hour
	is_index        INTEGER NOT NULL DEFAULT 0,  -- 1: an image index
	platforms       TEXT NOT NULL DEFAULT ''     -- e.g. "linux/amd64 linux/arm64"
);

-- What an image request (source, tag, system, packages) last evaluated to.
CREATE TABLE IF NOT EXISTS requests (
	request_key TEXT PRIMARY KEY,
	image_key   TEXT NOT NULL REFERENCES images (image_key),
	evaluated   INTEGER NOT NULL        -- unix time of the evaluation
);

-- Every Nix build run, for operators and for waiters on a failed build.
CREATE TABLE IF NOT EXISTS builds (
	id        INTEGER PRIMARY KEY,
	image_key TEXT NOT NULL,
	packages  TEXT NOT NULL,
	started   INTEGER NOT NULL,         -- unix time
	finished  INTEGER,
	finished_ms INTEGER,                -- the same in milliseconds: a failure is
	                                    -- told only to requests that waited for it
	seconds   REAL,
	packed    INTEGER,                  -- compressed bytes of layers newly packed
	status    TEXT NOT NULL,            -- running, ok, failed, timeout, cancelled,
	                                    -- left out (a platform an index has not)
	message   TEXT,
	name      TEXT,                     -- the image as asked, e.g. shell/hello:latest
	size      INTEGER,                  -- bytes of the image's blobs, once built
	log       TEXT,                     -- the last line Nix printed, while it runs
	platforms TEXT,                     -- the platform built for, e.g. linux/arm64
	requester TEXT                      -- who asked: the user the web server
	                                    -- authenticated, else the address
);
CREATE INDEX IF NOT EXISTS builds_by_image ON builds (image_key, started);

-- The tags asked for under each image name, for tags/list and _catalog:
-- written when a tag is evaluated or built, not on every request.
CREATE TABLE IF NOT EXISTS tags (
	name      TEXT NOT NULL,            -- the image name as asked, e.g. shell/hello
	tag       TEXT NOT NULL,
	image_key TEXT NOT NULL,
	evaluated INTEGER NOT NULL,         -- unix time
	PRIMARY KEY (name, tag)
) WITHOUT ROWID;

-- Attribute names of the package set, for the landing page's search: the
-- top level (prefix ''), or the names inside a set (prefix 'python3Packages').
CREATE TABLE IF NOT EXISTS names (
	source    TEXT NOT NULL,            -- the source and system they were listed from
	prefix    TEXT NOT NULL,
	listed    INTEGER NOT NULL,         -- unix time
	names     TEXT NOT NULL,            -- a JSON list
	PRIMARY KEY (source, prefix)
) WITHOUT ROWID;
