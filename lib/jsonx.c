/* jsonx — see jsonx.h. */
#include "lib/jsonx.h"

#include <string.h>

/* Looks key up; returns 0 when absent or null, 1 when present. */
static int jsonx_find(json_object *obj, const char *key, json_object **v)
{
	*v = NULL;
	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return 0;
	if (!json_object_object_get_ex(obj, key, v) || *v == NULL)
		return 0;
	return 1;
}

static enum api_err jsonx_missing(struct arena *a, const char *key, bool required, const char **why)
{
	if (!required)
		return E_OK;
	*why = arena_printf(a, "%s: is required", key);
	return E_BAD_REQUEST;
}

size_t jsonx_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned c = n > 0 ? p[0] : 0x80;
	size_t len;
	unsigned lo = 0x80, hi = 0xBF;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	/* RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF */
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
	*cp = v;
	return len;
}

bool jsonx_text_ok(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	bool in_string = false;
	uint32_t cp;

	while (p < end) {
		unsigned c = (unsigned char)*p;
		size_t len;

		if (c >= 0x80) {
			if ((len = jsonx_utf8_decode(p, (size_t)(end - p), &cp)) == 0)
				return false;
			p += len;
			continue;
		}
		if (in_string && c == '\\' && p + 1 < end)
			p++; /* the escaped byte is ASCII in valid JSON; checked by json-c */
		else if (c == '"')
			in_string = !in_string;
		else if (c == '\'' && !in_string)
			return false;
		p++;
	}
	return true;
}

size_t jsonx_utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

enum api_err jsonx_string(struct arena *a, json_object *obj, const char *key, bool required,
                          size_t min, size_t max, const char **out, const char **why)
{
	json_object *v;
	const char *s;
	size_t n;

	if (!jsonx_find(obj, key, &v))
		return jsonx_missing(a, key, required, why);
	if (!json_object_is_type(v, json_type_string)) {
		*why = arena_printf(a, "%s: must be a string", key);
		return E_BAD_REQUEST;
	}
	s = json_object_get_string(v);
	n = jsonx_utf8_len(s);
	if ((size_t)json_object_get_string_len(v) != strlen(s)) {
		*why = arena_printf(a, "%s: must not contain NUL characters", key);
		return E_BAD_REQUEST;
	}
	if (n < min || n > max) {
		*why = arena_printf(a, "%s: must be a string of %zu-%zu characters", key, min, max);
		return E_BAD_REQUEST;
	}
	*out = arena_strdup(a, s);
	return E_OK;
}

enum api_err jsonx_int(struct arena *a, json_object *obj, const char *key, bool required,
                       int64_t min, int64_t max, int64_t *out, const char **why)
{
	json_object *v;
	int64_t n;

	if (!jsonx_find(obj, key, &v))
		return jsonx_missing(a, key, required, why);
	if (!json_object_is_type(v, json_type_int)) {
		*why = arena_printf(a, "%s: must be an integer", key);
		return E_BAD_REQUEST;
	}
	n = json_object_get_int64(v);
	/* json-c keeps numbers above INT64_MAX as uint64 and clamps them for get_int64 */
	if (n < min || n > max ||
	    (n == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)) {
		*why = arena_printf(a, "%s: must be between %lld and %lld", key, (long long)min,
		                    (long long)max);
		return E_BAD_REQUEST;
	}
	*out = n;
	return E_OK;
}

enum api_err jsonx_bool(struct arena *a, json_object *obj, const char *key, bool required,
                        bool *out, const char **why)
{
	json_object *v;

	if (!jsonx_find(obj, key, &v))
		return jsonx_missing(a, key, required, why);
	if (!json_object_is_type(v, json_type_boolean)) {
		*why = arena_printf(a, "%s: must be true or false", key);
		return E_BAD_REQUEST;
	}
	*out = json_object_get_boolean(v);
	return E_OK;
}

enum api_err jsonx_object(struct arena *a, json_object *obj, const char *key, bool required,
                          json_object **out, const char **why)
{
	json_object *v;

	if (!jsonx_find(obj, key, &v))
		return jsonx_missing(a, key, required, why);
	if (!json_object_is_type(v, json_type_object)) {
		*why = arena_printf(a, "%s: must be an object", key);
		return E_BAD_REQUEST;
	}
	*out = v;
	return E_OK;
}

enum api_err jsonx_require_object(struct arena *a, json_object *body, const char **why)
{
	if (body != NULL && json_object_is_type(body, json_type_object))
		return E_OK;
	*why = arena_strdup(a, "body: must be a JSON object");
	return E_BAD_REQUEST;
}

json_object *jsonx_str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

json_object *jsonx_parse_or_empty(const char *text)
{
	json_object *o = text ? json_tokener_parse(text) : NULL;
	return o ? o : json_object_new_object();
}

const char *jsonx_text(struct arena *a, json_object *o)
{
	return arena_strdup(a, json_object_to_json_string_ext(
	                           o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

const char *jsonx_dup_str(struct arena *a, json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return arena_strdup(a, json_object_get_string(v));
}
