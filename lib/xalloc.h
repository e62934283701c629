/*
 * xalloc.h: allocation that never returns NULL to the caller.
 *
 * On failure the process logs and exits with EX_TEMPFAIL: in a session child
 * only that session dies, and an MTA calling refimapctl retries later.
 */
#ifndef REFIMAPD_XALLOC_H
#define REFIMAPD_XALLOC_H

#include <stddef.h>
#include "compat.h"

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
/* Grows or shrinks p to nmemb * size bytes; the product is checked. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* Copies n bytes and appends a NUL. */
char *xmemdup0(const void *p, size_t n);
/* Frees *p and sets it to NULL. */
void xfree(void *pp);
ATTR_NORETURN void xalloc_fail(size_t n);

#endif
