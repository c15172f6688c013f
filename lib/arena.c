/*
 * arena — see arena.h.  A list of chunks; allocations bump a pointer inside the newest
 * chunk; an allocation larger than a chunk gets a chunk of its own.
 */
#include "lib/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "lib/xalloc.h"

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

#define ARENA_ALIGN 16u

void arena_init(struct arena *a, size_t chunk_size)
{
	a->head = NULL;
	a->chunk_size = chunk_size ? chunk_size : 16384;
	a->used_total = 0;
}

static struct arena_chunk *arena_chunk_new(size_t size)
{
	struct arena_chunk *c = xmalloc(sizeof(*c) + size);
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

void arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next, *keep = NULL;

	if (a == NULL)
		return;
	/* keep the oldest chunk of the default size (the list is newest first) for the next
	 * request; every other chunk, oversized ones included, goes */
	for (c = a->head; c != NULL; c = c->next)
		if (c->size == a->chunk_size)
			keep = c;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		if (c != keep)
			free(c);
	}
	if (keep != NULL) {
		keep->used = 0;
		keep->next = NULL;
	}
	a->head = keep;
	a->used_total = 0;
}

void arena_fini(struct arena *a)
{
	struct arena_chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
	a->used_total = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t need;
	void *p;

	if (n > SIZE_MAX / 2) {
		fprintf(stderr, "arena: impossible allocation of %zu bytes\n", n);
		abort();
	}
	need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (c == NULL || c->size - c->used < need) {
		size_t size = need > a->chunk_size ? need : a->chunk_size;
		struct arena_chunk *nc = arena_chunk_new(size);
		if (c != NULL && need > a->chunk_size) {
			/* oversized: put it behind the current chunk so the bump space stays usable */
			nc->next = c->next;
			c->next = nc;
			nc->used = need;
			a->used_total += need;
			return nc->data;
		}
		nc->next = c;
		a->head = c = nc;
	}
	p = c->data + c->used;
	c->used += need;
	a->used_total += need;
	return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = arena_alloc(a, len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return s == NULL ? NULL : arena_strndup(a, s, SIZE_MAX);
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	struct arena_chunk *c = a->head;
	va_list ap2;
	int n;
	char *s;

	/* one pass when the text fits in what is left of the current chunk */
	if (c != NULL && c->size - c->used > 1) {
		size_t avail = c->size - c->used;
		s = (char *)c->data + c->used;
		va_copy(ap2, ap);
		n = vsnprintf(s, avail, fmt, ap2);
		va_end(ap2);
		if (n >= 0 && (size_t)n < avail) {
			size_t need =
			    ((size_t)n + 1 + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
			if (need > avail)
				need = avail;
			c->used += need;
			a->used_total += need;
			return s;
		}
	}
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	s = arena_alloc(a, (size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return s;
}
