/*
 * query — percent-decoding and application/x-www-form-urlencoded query parsing.
 * Pure functions over memory (fuzzed in tests/fuzz/fuzz_query.c).
 */
#ifndef AIPHOTO_QUERY_H
#define AIPHOTO_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "fcgi/http.h"

/*
 * Decodes n bytes of s into a NUL-terminated arena string.  "%XX" becomes the byte; an
 * invalid escape is kept as is; with plus_is_space, '+' becomes ' '.  A decoded NUL byte
 * makes the result invalid: returns NULL then.
 */
char *query_decode(struct arena *a, const char *s, size_t n, bool plus_is_space);

/*
 * Splits qs on '&' into at most QUERY_MAX_PARAMS decoded name/value pairs (empty names
 * are skipped; further pairs are ignored).  Returns the count; *out is in the arena.
 */
size_t query_parse(struct arena *a, const char *qs, struct query_param **out);

#endif
