/* A folder's entries in byte order, without "." and "..": layers and the
 * symlink layer list folders the same way on every host, whatever LANG. */
#ifndef NIXERY_DIRLIST_H
#define NIXERY_DIRLIST_H

#include <dirent.h>

/* As scandir(3): the number of entries, or -1 with errno set. */
int dirlist_sorted(const char *path, struct dirent ***list);
void dirlist_free(struct dirent **list, int n);

#endif
