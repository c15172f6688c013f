/*
 * xalloc — allocation that never returns NULL.
 *
 * Allocation failure is not recoverable in a prefork worker: these log to stderr and
 * abort(), and the supervisor (fcgi/superv.c) starts a fresh worker.  Callers never check.
 */
#ifndef AIPHOTO_XALLOC_H
#define AIPHOTO_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
