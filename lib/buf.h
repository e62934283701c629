/*
 * buf.h: a growable byte buffer with a hard maximum.
 *
 * Exceeding the maximum is an error (-1), never a silent truncation; running
 * out of memory ends the process (see xalloc.h). The data is always followed
 * by a NUL byte that is not counted in len, so text can be read as a C string.
 */
#ifndef REFIMAPD_BUF_H
#define REFIMAPD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;	/* largest len allowed */
};

#define BUF_INITIALIZER(m) { NULL, 0, 0, (m) }

void buf_init(struct buf *b, size_t max);
/* Releases the memory; the buffer may be used again (it is empty). */
void buf_free(struct buf *b);
/* Empties the buffer and keeps its memory. */
void buf_reset(struct buf *b);
/* Each returns 0, or -1 if the result would exceed b->max (b unchanged). */
int buf_add(struct buf *b, const void *p, size_t n) ATTR_WUR;
int buf_addc(struct buf *b, uint8_t c) ATTR_WUR;
int buf_adds(struct buf *b, const char *s) ATTR_WUR;
int buf_addf(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3) ATTR_WUR;
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) ATTR_WUR;
int buf_add_u64(struct buf *b, uint64_t v) ATTR_WUR;
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Shortens the buffer to n bytes (n <= len). */
void buf_truncate(struct buf *b, size_t n);
/* The contents as a NUL-terminated string (never NULL). */
const char *buf_cstr(struct buf *b);

#endif
