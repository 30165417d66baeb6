/* Vectors of owned strings, as names and store paths come in. */
#ifndef NIXERY_STRV_H
#define NIXERY_STRV_H

#include <stddef.h>

/* Sorts by bytes (not the locale) and frees duplicates, shrinking *n. */
void strv_sort_unique(char **v, size_t *n);
void strv_free(char **v, size_t n);

#endif
