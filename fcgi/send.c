/* A reply turned into FastCGI output: the status line and headers, then
 * the body, or for a blob a header that has the web server send the file
 * (X-Sendfile, X-Accel-Redirect), or the file streamed when nothing
 * offloads. */
#include "fcgi/send.h"

#include <fcntl.h>
#include <unistd.h>

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

static void stream_file(FCGX_Stream *out, int fd)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (FCGX_PutStr(chunk, (int)n, out) < 0)
			break;
	close(fd);
}

/* Headers are formatted with the C library: libfcgi's own printf knows
 * neither %zu nor %llu. */
void send_reply(FCGX_Request *req, const struct config *cfg, struct reply *rep, int head)
{
	enum offload offload = cfg->offload == OFFLOAD_AUTO ?
		config_offload_for(FCGX_GetParam("SERVER_SOFTWARE", req->envp)) : cfg->offload;
	struct buf h = { 0 };
	int body = 0, fd = -1;

	/* A blob the worker streams is opened before a header promises it. */
	if (rep->file[0] && offload == OFFLOAD_NONE && !head &&
	    (fd = open(rep->file, O_RDONLY | O_CLOEXEC)) < 0) {
		rep->file[0] = '\0';
		reply_error(rep, 404, "BLOB_UNKNOWN", "blob is missing from storage", NULL);
	}

	buf_printf(&h, "Status: %d %s\r\n"
		   "Docker-Distribution-API-Version: registry/2.0\r\n"
		   "Content-Type: %s\r\n", rep->status, reason(rep->status), rep->content_type);
	if (rep->digest[0])
		buf_printf(&h, "Docker-Content-Digest: %s\r\n", rep->digest);
	if (rep->allow)
		buf_printf(&h, "Allow: %s\r\n", rep->allow);
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
		 * sendfile); the worker streams only when nothing offloads. */
		buf_printf(&h, "X-Sendfile: %s\r\n\r\n", rep->file);
	} else if (offload == OFFLOAD_ACCEL) {
		buf_printf(&h, "X-Accel-Redirect: %s/%s\r\n\r\n", cfg->accel_prefix, rep->file_hex);
	} else {
		buf_printf(&h, "Content-Length: %llu\r\n\r\n", (unsigned long long)rep->file_size);
	}
	if (h.data)
		FCGX_PutStr(h.data, (int)h.len, req->out);
	buf_free(&h);
	if (body && rep->body.len)
		FCGX_PutStr(rep->body.data, (int)rep->body.len, req->out);
	else if (fd >= 0)
		stream_file(req->out, fd);
}
