/*
 * jsonx — typed, bounded access to JSON request fields and small builders for replies.
 *
 * Each getter returns E_OK, or E_BAD_REQUEST with *why set to an arena message that
 * names the field ("name: must be a string of 1-64 characters").  An absent optional
 * field leaves *out untouched and returns E_OK; JSON null counts as absent.
 */
#ifndef AIPHOTO_JSONX_H
#define AIPHOTO_JSONX_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* A string of min..max characters (UTF-8 code points). */
enum api_err jsonx_string(struct arena *a, json_object *obj, const char *key, bool required,
                          size_t min, size_t max, const char **out, const char **why);
/* An integer (no fraction, no string) in [min,max]. */
enum api_err jsonx_int(struct arena *a, json_object *obj, const char *key, bool required,
                       int64_t min, int64_t max, int64_t *out, const char **why);
enum api_err jsonx_bool(struct arena *a, json_object *obj, const char *key, bool required,
                        bool *out, const char **why);
/* A JSON object (borrowed reference). */
enum api_err jsonx_object(struct arena *a, json_object *obj, const char *key, bool required,
                          json_object **out, const char **why);
/* The body must be a JSON object. */
enum api_err jsonx_require_object(struct arena *a, json_object *body, const char **why);

/* True when n bytes are strictly valid UTF-8 (RFC 3629: no overlong forms, surrogates or
 * code points above U+10FFFF) with no single quote outside a string: json-c accepts both. */
bool jsonx_text_ok(const char *s, size_t n);

/* Decodes the UTF-8 sequence at s (n bytes available) into the code point *cp; returns its
 * length (1-4), or 0 when the bytes there are not strictly valid UTF-8 (as jsonx_text_ok)
 * or n is 0. */
size_t jsonx_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Number of UTF-8 code points in s (bytes that are not continuation bytes). */
size_t jsonx_utf8_len(const char *s);

/* A string value, or JSON null for NULL. */
json_object *jsonx_str_or_null(const char *s);
/* An arena copy of o[key] when it is a string; NULL otherwise (o NULL included). */
const char *jsonx_dup_str(struct arena *a, json_object *o, const char *key);
/* Parses JSON text from the database (jsonb columns); an empty object on failure. */
json_object *jsonx_parse_or_empty(const char *text);
/* Text of a value with '/' unescaped (arena copy). */
const char *jsonx_text(struct arena *a, json_object *o);

#endif
