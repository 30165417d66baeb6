#include "fcgi/page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder/lock.h"
#include "builder/search.h"
#include "core/redact.h"
#include "core/image.h"
#include "core/strv.h"

#define RECENT_BUILDS 50

/* Text into HTML: the five characters that matter, escaped. */
static void html(struct buf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': buf_printf(out, "&amp;"); break;
		case '<': buf_printf(out, "&lt;"); break;
		case '>': buf_printf(out, "&gt;"); break;
		case '"': buf_printf(out, "&quot;"); break;
		case '\'': buf_printf(out, "&#39;"); break;
		default: buf_append(out, s, 1);
		}
	}
}

/* A build's line (its error, Nix's last words) as any visitor may read
 * it: without the host's paths (core/redact.h). */
static void html_line(struct buf *out, const struct config *cfg, const char *line)
{
	char shown[1280];

	redact_host_paths(cfg, line ? line : "", shown, sizeof shown);
	html(out, shown);
}

/* The registry's address as clients write it: the Host header, when it is
 * fit to be shown and copied (a name or address, a port), with the port
 * the request reached when the Host lost it and it is not the scheme's. */
static void address(char *out, size_t len, const char *host, const char *port, int https)
{
	size_t n = host ? strlen(host) : 0;
	const char *bracket = host ? strrchr(host, ']') : NULL;

	if (n == 0 || n > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != n)
		host = "localhost";
	if (strchr(bracket ? bracket : host, ':') || !port || strspn(port, "0123456789") != strlen(port) ||
	    !*port || strcmp(port, https ? "443" : "80") == 0)
		snprintf(out, len, "%s", host);
	else
		snprintf(out, len, "%s:%s", host, port);
}

static void human_size(struct buf *out, uint64_t bytes)
{
	if (bytes >= (1u << 30))
		buf_printf(out, "%.1f GiB", (double)bytes / (1u << 30));
	else if (bytes >= (1u << 20))
		buf_printf(out, "%.1f MiB", (double)bytes / (1u << 20));
	else
		buf_printf(out, "%.1f KiB", (double)bytes / 1024);
}

static void human_age(struct buf *out, int64_t seconds)
{
	if (seconds < 120)
		buf_printf(out, "%lld s", (long long)seconds);
	else if (seconds < 7200)
		buf_printf(out, "%lld min", (long long)(seconds / 60));
	else if (seconds < 2 * 86400)
		buf_printf(out, "%lld h", (long long)(seconds / 3600));
	else
		buf_printf(out, "%lld days", (long long)(seconds / 86400));
}

static const char style[] =
	"body{font:16px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
	"h1{margin-bottom:0}h2{border-bottom:1px solid #ccc;margin-top:2em}"
	"code,pre,input{font-family:ui-monospace,monospace}pre{background:#f4f4f4;padding:.5em;overflow-x:auto}"
	"table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.2em .5em;border-bottom:1px solid #eee;vertical-align:top}"
	"input{font-size:1em;padding:.3em;width:70%}.ok{color:#060}.failed,.timeout,.unknown{color:#a00}"
	".muted{color:#777}dt{font-weight:bold}";

/* The pull commands for an image, with this registry's address. */
static void pull_commands(struct buf *out, const char *host, int https, const char *image)
{
	const char *last = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;

	buf_printf(out, "<pre id=\"commands\"><span id=\"cmd-docker\">docker pull ");
	html(out, host);
	buf_printf(out, "/");
	html(out, image);
	buf_printf(out, "</span>\n<span id=\"cmd-podman\">podman pull%s ", https ? "" : " --tls-verify=false");
	html(out, host);
	buf_printf(out, "/");
	html(out, image);
	buf_printf(out, "</span>\n<span id=\"cmd-skopeo\">skopeo copy%s docker://", https ? "" : " --src-tls-verify=false");
	html(out, host);
	buf_printf(out, "/");
	html(out, image);
	buf_printf(out, " oci:");
	html(out, last);
	buf_printf(out, ":latest</span></pre>\n");
}

static int is_meta(const char *name)
{
	return strcmp(name, "shell") == 0 || strcmp(name, "arm64") == 0 || strcmp(name, "nonroot") == 0;
}

/* Without script: the names of the composer's image that are no package,
 * checked on the server. */
static void flag_unknown(struct buf *out, struct registry *reg, const struct asker *who, const char *image)
{
	struct deadline dl = deadline_in(reg->builder.cfg->nix_timeout * 1000L, reg->cancel);
	char copy[IMAGE_NAME_MAX + 1], err[512], *name, *save = NULL, **none;
	size_t n;
	int known, shown = 0;

	snprintf(copy, sizeof copy, "%s", image);
	for (name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		if (is_meta(name) || search_names(&reg->builder, who, name, 0, &dl, &none, &n, &known, err, sizeof err) < 0)
			continue;
		strv_free(none, n);
		if (known)
			continue;
		buf_printf(out, "%s", shown++ ? ", " : "<p id=\"unknown\" class=\"unknown\">Not in the package set: ");
		html(out, name);
	}
	if (shown)
		buf_printf(out, "</p>\n");
}

/* The platforms an image is built for: each client picks its own from
 * the index, or asks for another. */
static void platforms_served(struct buf *out, const struct config *cfg, const char *host, const char *image)
{
	const struct platform *const *served = cfg->platforms;
	size_t i, n = cfg->nplatforms;

	buf_printf(out, "<p id=\"platforms\">Built for ");
	for (i = 0; i < n; i++)
		buf_printf(out, "%s<code class=\"platform\">%s</code>", i == 0 ? "" : i + 1 == n ? " and " : ", ",
			   served[i]->name);
	if (n == 1) {
		buf_printf(out, " only.</p>\n");
		return;
	}
	buf_printf(out, ": one name, an image index of one image per platform, from which each client takes "
		   "its own (a client that takes no index gets %s's). Another platform's: <code>docker pull "
		   "--platform %s ", served[0]->name, served[1]->name);
	html(out, host);
	buf_printf(out, "/");
	html(out, image);
	buf_printf(out, "</code>.</p>\n");
}

static void composer(struct buf *out, struct registry *reg, const struct asker *who, const char *host, int https,
		     const char *image)
{
	int valid = image && image_name_valid(image);

	buf_printf(out, "<section id=\"pull\"><h2>Pull an image</h2>\n"
		   "<p>Name the packages in the image path, separated by <code>/</code>; the image is built "
		   "the first time it is asked for, then served from the cache.</p>\n"
		   "<form method=\"get\" action=\"/\"><input id=\"image\" name=\"image\" autocomplete=\"off\" "
		   "spellcheck=\"false\" list=\"names\" value=\"");
	html(out, valid ? image : "shell/hello");
	buf_printf(out, "\" aria-label=\"packages\"> <button>Show the commands</button>"
		   "<datalist id=\"names\"></datalist></form>\n");
	if (image && !valid)
		buf_printf(out, "<p class=\"unknown\">That is not an image name: lowercase package names "
			   "separated by <code>/</code>.</p>\n");
	if (valid)
		flag_unknown(out, reg, who, image);
	pull_commands(out, host, https, valid ? image : "shell/hello");
	platforms_served(out, reg->builder.cfg, host, valid ? image : "shell/hello");
	if (!https)
		buf_printf(out, "<p class=\"muted\">This page came over plain HTTP: Docker pulls from such a "
			   "registry only on localhost, or when it is listed in insecure-registries.</p>\n");
	buf_printf(out, "</section>\n");
}

static void meta_packages(struct buf *out)
{
	buf_printf(out, "<section id=\"meta\"><h2>Meta-packages</h2><dl>\n"
		   "<dt>shell</dt><dd>adds bash, coreutils, moreutils and nano, and runs bash</dd>\n"
		   "<dt>arm64</dt><dd>builds for linux/arm64 alone (aarch64-linux), where it is served</dd>\n"
		   "<dt>nonroot</dt><dd>runs as <code>user</code> (uid and gid 1000) in its home</dd>\n"
		   "</dl><p>Every image has cacert and iana-etc, /etc/passwd, /tmp and /usr/bin/env. "
		   "Names ignore case at each level of a dotted path (<code>python3packages.numpy</code>); "
		   "a name that starts with a digit stands for <code>_</code> and it.</p></section>\n");
}

static void source(struct buf *out, struct registry *reg)
{
	const struct config *cfg = reg->builder.cfg;
	int64_t when = 0;

	buf_printf(out, "<section id=\"source\"><h2>Package source</h2><p>");
	switch (cfg->source) {
	case SOURCE_CHANNEL:
		buf_printf(out, "nixpkgs channel or commit <code>");
		break;
	case SOURCE_GIT:
		buf_printf(out, "git repository <code>");
		break;
	case SOURCE_PATH:
		buf_printf(out, "local package set <code>");
		break;
	}
	html(out, cfg->source_arg);
	buf_printf(out, "</code>%s", cfg->source == SOURCE_GIT ? "; the tag names the branch or commit (latest: the default branch)" : "");
	if (cache_last_evaluated(reg->builder.cache, &when) == 0 && when > 0) {
		buf_printf(out, "; last evaluated ");
		human_age(out, (int64_t)time(NULL) - when);
		buf_printf(out, " ago");
	}
	buf_printf(out, ".</p></section>\n");
}

struct table {
	struct buf *out;
	struct registry *reg;
	int rows;
	int requesters;   /* show who asked for each build */
};

/* Who asked for a build: user names and addresses are for those the web
 * server let in with a password, not for every visitor of a public page. */
static void requester_cell(const struct table *t, const struct cache_build *b)
{
	if (!t->requesters)
		return;
	buf_printf(t->out, "<td>");
	html(t->out, b->requester[0] ? b->requester : "-");
	buf_printf(t->out, "</td>");
}

static void image_cell(struct buf *out, const struct cache_build *b)
{
	buf_printf(out, "<td><code>");
	html(out, b->name[0] ? b->name : b->packages);
	buf_printf(out, "</code></td><td class=\"platform\">");
	html(out, b->platforms[0] ? b->platforms : "-");
	buf_printf(out, "</td>");
}

static int running_row(void *ctx, const struct cache_build *b)
{
	struct table *t = ctx;
	int lock = lock_try(t->reg->builder.cfg->state_dir, "image", b->image_key);

	/* A build whose lock is free has no worker left. */
	if (lock >= 0) {
		lock_release(lock);
		return 0;
	}
	buf_printf(t->out, "<tr>");
	image_cell(t->out, b);
	requester_cell(t, b);
	buf_printf(t->out, "<td>");
	human_age(t->out, (int64_t)time(NULL) - b->started);
	buf_printf(t->out, "</td><td><code>");
	html_line(t->out, t->reg->builder.cfg, b->log);
	buf_printf(t->out, "</code></td></tr>\n");
	t->rows++;
	return 0;
}

static int ended_row(void *ctx, const struct cache_build *b)
{
	struct table *t = ctx;

	buf_printf(t->out, "<tr class=\"build\">");
	image_cell(t->out, b);
	requester_cell(t, b);
	/* A build stopped with its worker (cancelled) is nobody's failure,
	 * nor a platform left out of an index (the package set's word). */
	buf_printf(t->out, "<td class=\"%s\">", strcmp(b->status, "ok") == 0 ? "ok" :
		   strcmp(b->status, "timeout") == 0 ? "timeout" :
		   strcmp(b->status, "cancelled") == 0 || strcmp(b->status, "left out") == 0 ? "muted" : "failed");
	html(t->out, b->status);
	buf_printf(t->out, "</td><td>%.1f s</td><td>", b->seconds);
	if (b->size)
		human_size(t->out, b->size);
	buf_printf(t->out, "</td><td>");
	human_size(t->out, b->packed);
	buf_printf(t->out, "</td><td>");
	html_line(t->out, t->reg->builder.cfg, b->message);
	buf_printf(t->out, "</td></tr>\n");
	t->rows++;
	return 0;
}

static void builds(struct buf *out, struct registry *reg, const struct asker *who)
{
	struct table t = { .out = out, .reg = reg, .requesters = who && who->user };
	const char *asked = t.requesters ? "<th>Asked by</th>" : "";

	buf_printf(out, "<section id=\"running\"><h2>Builds in progress</h2>\n<table><thead><tr>"
		   "<th>Image</th><th>Platform</th>%s<th>For</th><th>Last line from Nix</th></tr></thead><tbody>\n",
		   asked);
	cache_each_build(reg->builder.cache, 1, 100, running_row, &t);
	if (!t.rows)
		buf_printf(out, "<tr><td colspan=\"%d\" class=\"muted\">None right now.</td></tr>\n",
			   4 + t.requesters);
	buf_printf(out, "</tbody></table></section>\n<section id=\"builds\"><h2>Last builds</h2>\n<table><thead><tr>"
		   "<th>Image</th><th>Platform</th>%s<th>Result</th><th>Took</th><th>Size</th><th>Packed</th>"
		   "<th>Error, or why left out</th></tr></thead><tbody>\n", asked);
	t.rows = 0;
	cache_each_build(reg->builder.cache, 0, RECENT_BUILDS, ended_row, &t);
	if (!t.rows)
		buf_printf(out, "<tr><td colspan=\"%d\" class=\"muted\">No build yet.</td></tr>\n",
			   7 + t.requesters);
	buf_printf(out, "</tbody></table></section>\n");
}

/* The composer's script: the commands follow the field as it is typed,
 * names are looked up in the package set as they are finished, and the
 * last one is completed from it. */
static const char script[] =
	"<script>\n"
	"(function () {\n"
	"  var field = document.getElementById('image'), list = document.getElementById('names');\n"
	"  var meta = { shell: 1, arm64: 1, nonroot: 1 }, data = document.body.dataset;\n"
	"  var known = {}, timer;\n"
	"  function text(id, s) { document.getElementById(id).textContent = s; }\n"
	"  function show() {\n"
	"    var image = field.value.trim().toLowerCase().replace(/^\\/+|\\/+$/g, '');\n"
	"    var ref = data.host + '/' + image, last = image.split('/').pop() || 'image';\n"
	"    text('cmd-docker', 'docker pull ' + ref);\n"
	"    text('cmd-podman', 'podman pull' + data.podman + ' ' + ref);\n"
	"    text('cmd-skopeo', 'skopeo copy' + data.skopeo + ' docker://' + ref + ' oci:' + last + ':latest');\n"
	"    var unknown = image.split('/').filter(function (n) { return n && !meta[n] && known[n] === false; });\n"
	"    var flag = document.getElementById('unknown');\n"
	"    if (!flag) { flag = document.createElement('p'); flag.id = 'unknown'; flag.className = 'unknown';\n"
	"      field.form.after(flag); }\n"
	"    flag.textContent = unknown.length ? 'Not in the package set: ' + unknown.join(', ') : '';\n"
	"  }\n"
	"  function look(name, complete) {\n"
	"    fetch('/search?q=' + encodeURIComponent(name)).then(function (r) { return r.json(); })\n"
	"      .then(function (answer) {\n"
	"        known[name] = answer.known;\n"
	"        if (complete) { list.innerHTML = ''; answer.names.forEach(function (n) {\n"
	"          var o = document.createElement('option');\n"
	"          o.value = field.value.replace(/[^\\/]*$/, '') + n.toLowerCase(); list.appendChild(o); }); }\n"
	"        show();\n"
	"      }).catch(function () {});\n"
	"  }\n"
	"  field.addEventListener('input', function () {\n"
	"    clearTimeout(timer);\n"
	"    timer = setTimeout(function () {\n"
	"      var names = field.value.toLowerCase().split('/');\n"
	"      names.forEach(function (n, i) { if (n && !meta[n] && (known[n] === undefined || i === names.length - 1))\n"
	"        look(n, i === names.length - 1); });\n"
	"      show();\n"
	"    }, 200);\n"
	"  });\n"
	"  field.form.addEventListener('submit', function (e) { e.preventDefault(); show(); });\n"
	"  /* A link to a composed image: /#image=shell/git */\n"
	"  if (location.hash.indexOf('#image=') === 0) {\n"
	"    field.value = decodeURIComponent(location.hash.slice(7));\n"
	"    field.dispatchEvent(new Event('input'));\n"
	"  }\n"
	"})();\n"
	"</script>\n";

void page_render(struct registry *reg, const struct asker *who, const char *host_header, const char *port,
		 int https, const char *image, struct reply *rep)
{
	struct buf *out = &rep->body;
	char host[300];

	address(host, sizeof host, host_header, port, https);
	out->len = 0;
	buf_printf(out, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		   "<title>nixery-fcgi on ");
	html(out, host);
	buf_printf(out, "</title><style>%s</style></head>\n<body data-host=\"", style);
	html(out, host);
	buf_printf(out, "\" data-podman=\"%s\" data-skopeo=\"%s\"><header>",
		   https ? "" : " --tls-verify=false", https ? "" : " --src-tls-verify=false");
	buf_printf(out, "<h1>nixery-fcgi</h1><p>A container registry that builds images "
		   "from Nix packages on demand: the image path names the packages, and packages that "
		   "images share are layers that images share.</p></header>\n");
	composer(out, reg, who, host, https, image);
	meta_packages(out);
	source(out, reg);
	builds(out, reg, who);
	buf_printf(out, "%s</body></html>\n", script);
	rep->status = 200;
	snprintf(rep->content_type, sizeof rep->content_type, "text/html; charset=utf-8");
}
