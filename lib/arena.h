/*
 * arena — the per-request bump allocator.
 *
 * Everything a request needs (its parsed params, path captures, model rows, strings) comes
 * from one arena, and the whole arena is reset after the response is written.  Nothing
 * allocated here may outlive arena_reset().  Allocation never fails (see xalloc.h).
 * Objects owned by other libraries (PGresult, json_object, redisReply) are never put here.
 */
#ifndef AIPHOTO_ARENA_H
#define AIPHOTO_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head; /* newest chunk first */
	size_t chunk_size; /* default size of a new chunk */
	size_t used_total; /* bytes handed out since the last reset */
};

void arena_init(struct arena *a, size_t chunk_size);
/* Frees every chunk but the first (kept for the next request); NULL-safe. */
void arena_reset(struct arena *a);
/* Frees everything; NULL-safe. */
void arena_fini(struct arena *a);

void *arena_alloc(struct arena *a, size_t n); /* 16-byte aligned, uninitialised */
void *arena_zalloc(struct arena *a, size_t n); /* zeroed */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);

#endif
