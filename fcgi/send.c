/* A reply turned into FastCGI output: the status line and headers, then
 * the body, or for a blob a header that has the web server send the file
 * (X-Sendfile, X-Accel-Redirect), or the file streamed when nothing
 * offloads. */
#include "fcgi/send.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

/* length bytes of the file from offset, then the file is closed. */
static void stream_file(FCGX_Stream *out, int fd, uint64_t offset, uint64_t length)
{
	char chunk[65536];
	ssize_t n;

	while (length > 0 &&
	       (n = pread(fd, chunk, length < sizeof chunk ? (size_t)length : sizeof chunk, (off_t)offset)) > 0) {
		if (FCGX_PutStr(chunk, (int)n, out) < 0)
			break;
		offset += (uint64_t)n;
		length -= (uint64_t)n;
	}
	close(fd);
}

/* A blob the worker streams is opened before a header promises it, and
 * answered as the web servers answer its file (reply.h): fd, or -1 with
 * the reply turned into a 404. */
static int open_blob(FCGX_Request *req, struct reply *rep, struct reply_blob *blob)
{
	struct stat st;
	int fd = open(rep->file, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		rep->file[0] = '\0';
		reply_error(rep, 404, "BLOB_UNKNOWN", "blob is missing from storage", NULL);
		return -1;
	}
	const struct reply_conditions c = {
		.range = FCGX_GetParam("HTTP_RANGE", req->envp),
		.if_range = FCGX_GetParam("HTTP_IF_RANGE", req->envp),
		.if_none_match = FCGX_GetParam("HTTP_IF_NONE_MATCH", req->envp),
		.if_modified_since = FCGX_GetParam("HTTP_IF_MODIFIED_SINCE", req->envp),
	};
	reply_blob_plan(rep->file_hex, (uint64_t)st.st_size, st.st_mtime, &c, blob);
	rep->status = blob->status;
	return fd;
}

/* Headers are formatted with the C library: libfcgi's own printf knows
 * neither %zu nor %llu. */
void send_reply(FCGX_Request *req, const struct config *cfg, struct reply *rep, int head)
{
	enum offload offload = cfg->offload == OFFLOAD_AUTO ?
		config_offload_for(FCGX_GetParam("SERVER_SOFTWARE", req->envp)) : cfg->offload;
	struct reply_blob blob = { 0 };
	struct buf h = { 0 };
	int body = 0, fd = -1;

	if (rep->file[0] && offload == OFFLOAD_NONE)
		fd = open_blob(req, rep, &blob);

	buf_printf(&h, "Status: %d %s\r\n"
		   "Docker-Distribution-API-Version: registry/2.0\r\n"
		   "Content-Type: %s\r\n", rep->status, reason(rep->status), rep->content_type);
	if (rep->digest[0])
		buf_printf(&h, "Docker-Content-Digest: %s\r\n", rep->digest);
	if (rep->allow)
		buf_printf(&h, "Allow: %s\r\n", rep->allow);
	if (rep->cache_control)
		buf_printf(&h, "Cache-Control: %s\r\n", rep->cache_control);
	if (rep->vary_accept)
		buf_printf(&h, "Vary: Accept\r\n");
	if (rep->retry_after)
		buf_printf(&h, "Retry-After: %d\r\n", rep->retry_after);
	if (rep->link[0])
		buf_printf(&h, "Link: %s\r\n", rep->link);
	if (rep->location[0])
		buf_printf(&h, "Location: %s\r\n", rep->location);
	if (!rep->file[0]) {
		buf_printf(&h, "Content-Length: %zu\r\n\r\n", rep->body.len);
		body = !head;
	} else if (offload == OFFLOAD_SENDFILE) {
		/* Blobs: the web server sends the file (ranges, validators,
		 * sendfile); the worker streams only when nothing offloads.
		 * Apache's mod_xsendfile honours ranges without saying so:
		 * said here, as every route says it (reply.h). */
		buf_printf(&h, "Accept-Ranges: bytes\r\nX-Sendfile: %s\r\n\r\n", rep->file);
	} else if (offload == OFFLOAD_ACCEL) {
		buf_printf(&h, "X-Accel-Redirect: %s/%s\r\n\r\n", cfg->accel_prefix, rep->file_hex);
	} else {
		buf_printf(&h, "ETag: %s\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n", blob.etag,
			   blob.last_modified);
		if (blob.content_range[0])
			buf_printf(&h, "Content-Range: %s\r\n", blob.content_range);
		if (blob.status != 304)
			buf_printf(&h, "Content-Length: %llu\r\n", (unsigned long long)blob.length);
		buf_printf(&h, "\r\n");
	}
	if (h.data)
		FCGX_PutStr(h.data, (int)h.len, req->out);
	buf_free(&h);
	if (body && rep->body.len)
		FCGX_PutStr(rep->body.data, (int)rep->body.len, req->out);
	else if (fd >= 0 && !head && blob.length > 0 && (blob.status == 200 || blob.status == 206))
		stream_file(req->out, fd, blob.offset, blob.length);
	else if (fd >= 0)
		close(fd);
}
