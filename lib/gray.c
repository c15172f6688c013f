/* gray — see gray.h. */
#include "lib/gray.h"

#include <json-c/json.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/netpolicy.h"

/* One UTF-16 code unit into the JavaScript hash: (hash << 5) - hash + unit, then & hash
 * (ToInt32).  Every step is exact in a double, so the result is the unsigned arithmetic
 * modulo 2^32. */
static uint32_t gray_step(uint32_t h, uint32_t unit)
{
	return h * 31u + unit;
}

bool gray_hash(const char *s, size_t n, uint32_t *hash)
{
	uint32_t h = 0, cp;
	size_t i = 0, len;

	while (i < n) {
		if ((len = jsonx_utf8_decode(s + i, n - i, &cp)) == 0)
			return false;
		i += len;
		if (cp < 0x10000) {
			h = gray_step(h, cp);
		} else {
			cp -= 0x10000;
			h = gray_step(h, 0xD800 + (cp >> 10));
			h = gray_step(h, 0xDC00 + (cp & 0x3FF));
		}
	}
	/* Math.abs of the int32: 0x80000000 (-2^31) stays 2^31 */
	*hash = (h & 0x80000000u) ? (uint32_t)(0u - h) : h;
	return true;
}

bool gray_openid(const char *s, uint32_t *hash)
{
	size_t n = strlen(s);

	return n > 0 && gray_hash(s, n, hash) && jsonx_utf8_len(s) <= GRAY_OPENID_MAX;
}

/* JavaScript truthiness of a JSON value (absent and null are false). */
static bool gray_truthy(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return false;
	case json_type_boolean:
		return json_object_get_boolean(v);
	case json_type_int:
		return json_object_get_int64(v) != 0;
	case json_type_double:
		return json_object_get_double(v) != 0.0; /* JSON has no NaN */
	case json_type_string:
		return json_object_get_string_len(v) > 0;
	default:
		return true; /* objects and arrays */
	}
}

void gray_config_parse(struct arena *a, const char *json, struct gray_config *c)
{
	static const char *const types[] = {"cloud", "server", "auto"};
	json_object *o = json ? json_tokener_parse(json) : NULL, *v;

	c->backend_type = types[0];
	c->server_url = NULL;
	c->gray_release = false;
	c->gray_percent = 0;
	c->percent_integral = true;
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	if (json_object_object_get_ex(o, "backend_type", &v) &&
	    json_object_is_type(v, json_type_string))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(json_object_get_string(v), types[i]) == 0)
				c->backend_type = types[i];
	if (json_object_object_get_ex(o, "server_url", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0)
		c->server_url = arena_strdup(a, json_object_get_string(v));
	if (json_object_object_get_ex(o, "gray_release", &v))
		c->gray_release = gray_truthy(v);
	if (json_object_object_get_ex(o, "gray_percent", &v)) {
		if (json_object_is_type(v, json_type_int)) {
			c->gray_percent = (double)json_object_get_int64(v);
		} else if (json_object_is_type(v, json_type_double)) {
			c->gray_percent = json_object_get_double(v);
			c->percent_integral = false;
		}
	}
out:
	json_object_put(o);
}

enum gray_backend gray_decide(const struct gray_config *c, const struct gray_subject *s)
{
	if (s == NULL || !c->gray_release)
		return strcmp(c->backend_type, "server") == 0 ? GRAY_SERVER : GRAY_CLOUD;
	if (s->black)
		return GRAY_CLOUD;
	if (s->white)
		return GRAY_SERVER;
	return (double)(s->hash % 100) < c->gray_percent ? GRAY_SERVER : GRAY_CLOUD;
}

const char *gray_backend_name(enum gray_backend b)
{
	return b == GRAY_SERVER ? "server" : "cloud";
}

bool gray_url_ok(const char *url, bool development)
{
	size_t n = strlen(url), host = strncmp(url, "https://", 8) == 0 ? 8 : 7;

	if (n > GRAY_URL_MAX || !netpolicy_url_allowed(url, development) || n <= host ||
	    url[host] == '/' || url[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (url[i] <= ' ' || url[i] > '~' || strchr("\"'\\<>`", url[i]) != NULL)
			return false;
	return true;
}
