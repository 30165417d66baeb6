/* A growable byte buffer, always NUL-terminated so text can be read in place. */
#ifndef NIXERY_BUF_H
#define NIXERY_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len, cap;
};

int buf_append(struct buf *b, const void *data, size_t len);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

#endif
