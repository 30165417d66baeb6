-- lighttpd's mod_magnet, for the blob route of etc/lighttpd.conf: the URL
-- was rewritten to /_nixery_blob/<hex> and mapped by alias.url to
-- STORAGE_PATH/blobs/sha256/<hex>. A GET or HEAD of a blob whose file is
-- there is sent by lighttpd itself (ranges, ETag, 304s) with the
-- registry's headers; any other request goes on to the workers, which
-- answer by the URI the client sent (the registry's JSON 404, say).
local r = lighty.r
local hex = r.req_attr["uri.path"]:match("^/_nixery_blob/(" .. ("[0-9a-f]"):rep(64) .. ")$")
local method = r.req_attr["request.method"]

if not hex or (method ~= "GET" and method ~= "HEAD") or not lighty.c.stat(r.req_attr["physical.path"]) then
	r.req_attr["request.uri"] = "/v2/_nixery/blob"
	-- Unset, so that the restarted request is routed afresh.
	r.req_attr["physical.path"] = nil
	return lighty.RESTART_REQUEST
end
r.resp_header["Content-Type"] = "application/octet-stream"
r.resp_header["Docker-Content-Digest"] = "sha256:" .. hex
r.resp_header["Docker-Distribution-API-Version"] = "registry/2.0"
