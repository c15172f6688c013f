/*
 * multipart — a small, bounded parser of multipart/form-data bodies (RFC 7578, RFC 2046).
 *
 * The parser works on the whole body in memory and copies nothing large: each part's data
 * points into the body.  Part headers must end in CRLF and be at most MULTIPART_MAX_LINE
 * bytes each (at most MULTIPART_MAX_HEADERS of them), every part needs a
 * "Content-Disposition: form-data" header, and a body holds at most MULTIPART_MAX_PARTS
 * parts.  A preamble before the first boundary and an epilogue after the last are ignored.
 * No type of FastCGI or of the router appears here, so the unit tests and the fuzzer drive
 * it with plain memory.
 */
#ifndef AIPHOTO_MULTIPART_H
#define AIPHOTO_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"

#define MULTIPART_MAX_PARTS 16
#define MULTIPART_MAX_LINE 1024
#define MULTIPART_MAX_HEADERS 8
#define MULTIPART_MAX_BOUNDARY 70

struct multipart_part {
	const char *name; /* the form field name (arena, NUL-terminated) */
	const char *filename; /* arena; NULL when the part has none */
	const char *content_type; /* the part's Content-Type (arena); NULL when absent */
	const unsigned char *data; /* into the body */
	size_t len;
};

struct multipart {
	struct multipart_part parts[MULTIPART_MAX_PARTS];
	size_t n;
};

/* True when content_type is multipart/form-data (whatever its parameters). */
bool multipart_is_form(const char *content_type);

/*
 * Parses body according to content_type ("multipart/form-data; boundary=…").
 * E_OK: out holds the parts in body order.  E_UNSUPPORTED_MEDIA_TYPE: not
 * multipart/form-data, or no usable boundary.  E_BAD_REQUEST: a malformed body.
 * On error *why (static text) says what is wrong.
 */
enum api_err multipart_parse(struct arena *a, const char *content_type, const unsigned char *body,
                             size_t len, struct multipart *out, const char **why);

/* The first part named name, or NULL; *count (when not NULL) gets how many parts have it. */
const struct multipart_part *multipart_find(const struct multipart *m, const char *name,
                                            size_t *count);

#endif
