/* The package set's attribute names, for the landing page's composer: Nix
 * lists them once per evaluation of the source (the top level, or the set
 * a dotted name leads to) and the cache keeps the list; a search then
 * only reads it. */
#ifndef NIXERY_SEARCH_H
#define NIXERY_SEARCH_H

#include <stddef.h>

#include "builder/builder.h"

/* A name as it may be searched for: letters, digits and . _ - +. */
int search_query_valid(const char *query);

/* The attribute names that start with query's last part, ignoring case,
 * inside the set its dotted prefix names (as dotted names), at most max,
 * sorted; *known says whether query names an attribute itself. A listing
 * Nix must make is cold work, admitted for who (admission.h). Errors as
 * builder_image's, with the reason in err. */
int search_names(struct builder *b, const struct asker *who, const char *query, int max,
		 const struct deadline *dl, char ***names, size_t *n, int *known, char *err, size_t errlen);

#endif
