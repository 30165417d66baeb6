/* The landing page at /: what this registry is and how to pull from it,
 * the meta-packages, the package source, the builds in progress and the
 * last ones, and a composer that turns package names into pull commands.
 * Plain HTML and CSS, no asset from elsewhere; its script only helps (the
 * composer works as a form without it). */
#ifndef NIXERY_PAGE_H
#define NIXERY_PAGE_H

#include "fcgi/registry.h"
#include "fcgi/reply.h"

/* who: the visitor (router_asker): one the web server authenticated
 * sees who asked for each build; host: the Host the client asked for
 * (checked here), and port the one it reached, for a Host without one
 * (nginx passes $host); https: whether it came over TLS; image: the
 * composer's field, or NULL. */
void page_render(struct registry *reg, const struct asker *who, const char *host, const char *port, int https,
		 const char *image, struct reply *rep);

#endif
