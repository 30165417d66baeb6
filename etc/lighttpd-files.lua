-- lighttpd's mod_magnet, for the routes of etc/lighttpd.conf that send
-- files without a worker. The URL was rewritten under /_nixery/, which
-- alias.url maps to STORAGE_PATH:
--   /_nixery/blobs/sha256/<hex>   a blob, by digest
--   /_nixery/tags/<name>/@<tag>   a tag's file, which the workers write
--                                 (storage/tags.c); its manifest is sent
--                                 once the image's blobs are found whole
-- A GET or HEAD whose file is there is sent by lighttpd itself (ranges,
-- ETag, 304s) with the registry's headers; any other request goes on to
-- the workers, which answer by the URI the client sent: a missing blob's
-- JSON 404, a tag not yet built or past its time, a method not allowed.
--
-- Each rule here is another's, repeated, and held to it by a test: the
-- headers a blob is sent with (fcgi/reply.h; tests/e2e/blobheaders.sh),
-- when a file is there as committed and what a tag's file says
-- (storage/tags.c, storage_tag_answer_for; tests/e2e/tagformat.sh), and the
-- manifest format an Accept header asks for (core/manifest.c,
-- manifest_negotiate_all; tests/e2e/accept.sh).
local r = lighty.r

local function to_worker()
	r.req_attr["request.uri"] = "/v2/_nixery/files"
	-- Unset, so that the restarted request is routed afresh.
	r.req_attr["physical.path"] = nil
	return lighty.RESTART_REQUEST
end

-- Whether a blob file is as it was committed (storage/tags.c,
-- committed()): a regular file, of its size when that is known, whose
-- modification time is one second past the epoch, to the nanosecond. The
-- workers stamp every blob so as they commit it (storage/filesystem.c),
-- so that a file written since (a disk, a hand) is told by its time. A
-- worker hashes such a file again before it is sent: it packs it again if
-- its bytes changed.
local function whole(st, size)
	if not st or not st.is_file or (size and st.st_size ~= size) then
		return false
	end
	local sec, nsec = st.st_mtim()
	return sec == 1 and nsec == 0
end

-- Sends the file at physical.path, hex its digest, with the registry's
-- headers (and more, in headers); a file that is not there, or not as
-- committed, is the workers'.
local function send(hex, media, headers)
	if not whole(lighty.c.stat(r.req_attr["physical.path"])) then
		return to_worker()
	end
	r.resp_header["Content-Type"] = media
	r.resp_header["Docker-Content-Digest"] = "sha256:" .. hex
	r.resp_header["Docker-Distribution-API-Version"] = "registry/2.0"
	for name, value in pairs(headers) do
		r.resp_header[name] = value
	end
end

local path = r.req_attr["uri.path"]
local method = r.req_attr["request.method"]
-- Only lighttpd.conf's rewrite leads here, which admits only the names
-- and tags the workers take: from a path as the client sent it, since
-- one that lighttpd made plain first (escapes, dot segments, doubled
-- slashes: no name of the workers has them) would be refused by them.
-- That, and a client asking for /_nixery/ itself, is theirs to answer.
local sent = r.req_attr["request.orig-uri"]
if (method ~= "GET" and method ~= "HEAD") or sent:sub(1, 4) ~= "/v2/" or sent:find("%", 1, true)
	or sent:find("/.", 1, true) or sent:find("//", 1, true) then
	return to_worker()
end
-- A blob, the most frequent request, is answered first: the script runs
-- whole on every request, and setting up the tags' part below would cost
-- a blob a tenth of its time.
local blob = path:match("^/_nixery/blobs/sha256/([0-9a-f]+)$")
if blob and #blob == 64 then
	-- fcgi/reply.h's REPLY_BLOB_TYPE and REPLY_BLOB_CACHE.
	return send(blob, "application/octet-stream", { ["Cache-Control"] = "max-age=31536000" })
end

local DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
local OCI = "application/vnd.oci.image.manifest.v1+json"
local LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
local INDEX = "application/vnd.oci.image.index.v1+json"

-- The manifest format the Accept header asks for, and the image index it
-- takes (nil for none), chosen as the workers choose (core/manifest.c,
-- manifest_negotiate_all): of each pair the first named, Docker's
-- manifest when neither is; an index only when one is named. nil for a
-- header with parameters (q=): the workers weigh those.
local function negotiate(accept)
	if not accept then
		return DOCKER, nil
	end
	if accept:find(";", 1, true) then
		return nil
	end
	local first, i = {}, 0
	for item in accept:lower():gmatch("[^,]+") do
		i = i + 1
		item = item:match("^ *(.-) *$")
		first[item] = first[item] or i
	end
	local manifest, index = DOCKER, nil
	if first[OCI] and (not first[DOCKER] or first[OCI] < first[DOCKER]) then
		manifest = OCI
	end
	if first[INDEX] and (not first[LIST] or first[INDEX] < first[LIST]) then
		index = INDEX
	elseif first[LIST] then
		index = LIST
	end
	return manifest, index
end

-- The tag file's manifests, { docker, oci, list, index } (list and index
-- for an image index only), while it is current and every blob it names
-- is there whole; nil otherwise. root is STORAGE_PATH/. The format is
-- storage/tags.c's (one line, "<expires> <docker> <oci>", then
-- " index <list> <index>" for an image index, and " <blob>:<size>" for
-- each blob; numbers of at most 18 digits, digests of 64), read as
-- storage_tag_answer_for reads it: the line, then its time, then its
-- blobs. Anything else is the workers'.
local TAG_FILE_MAX = 1048576
local HEX = ("[0-9a-f]"):rep(64)
local function read_tag(file, root)
	local f = io.open(file, "rb")
	local text = f and f:read(TAG_FILE_MAX + 1)
	if f then
		f:close()
	end
	if not text or #text > TAG_FILE_MAX then
		return nil
	end
	local expires, docker, oci, blobs = text:match("^(%d+) (" .. HEX .. ") (" .. HEX .. ")([^\n]*)\n$")
	local list, index
	if blobs and blobs:sub(1, 7) == " index " then
		list, index, blobs = blobs:match("^ index (" .. HEX .. ") (" .. HEX .. ")(.*)$")
		if not list then
			return nil
		end
	end
	if not expires or #expires > 18 or tonumber(expires) <= os.time() then
		return nil
	end
	-- A blob lost, cut short or changed: the workers check it, and build
	-- the image again if it is damaged.
	local at = 1
	while at <= #blobs do
		local hex, size, after = blobs:match("^ (" .. HEX .. "):(%d+)()", at)
		if not hex or #size > 18 or not whole(lighty.c.stat(root .. "blobs/sha256/" .. hex), tonumber(size)) then
			return nil
		end
		at = after
	end
	return { docker, oci, list, index }
end

-- The tag's manifest for this request, or its index when it has one and
-- the client takes it; nil when the workers are to answer. A tag found current is
-- remembered for the rest of the second, in the script's global state,
-- which lasts as long as the process: lighttpd's stat cache trusts what it
-- has seen for a second, so reading the file and checking the blobs again
-- within it would learn nothing new, at half the route's cost. A tag not
-- found current is read again at once: a worker may be writing its file.
local function tag_manifest(file, root)
	local media, index = negotiate(r.req_header["Accept"])
	if not media then
		return nil
	end
	local now, seen = os.time(), _G.nixery_tags_seen
	if not seen or seen.second ~= now then
		seen = { second = now }
		_G.nixery_tags_seen = seen
	end
	local tag = seen[file] or read_tag(file, root)
	if not tag then
		return nil
	end
	seen[file] = tag
	if index and tag[3] then
		return index == INDEX and tag[4] or tag[3], index
	end
	return media == OCI and tag[2] or tag[1], media
end

local file = r.req_attr["physical.path"]
-- STORAGE_PATH/ is the file's path less the URL's part after /_nixery/.
local root = file:sub(1, #file - (#path - #"/_nixery/"))
local hex, media = tag_manifest(file, root)
if not hex then
	return to_worker()
end
r.req_attr["physical.path"] = root .. "blobs/sha256/" .. hex
-- A cache in front must not give one client's format to another.
return send(hex, media, { Vary = "Accept" })
