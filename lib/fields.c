/* fields — see fields.h. */
#include "lib/fields.h"

#include <string.h>

#include "lib/jsonx.h"

bool fields_url(const char *s)
{
	const char *host;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return false;
	if (*host == '\0' || *host == '/')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\'' || *p == '\\' || *p == '<' ||
		    *p == '>')
			return false;
	return true;
}

bool fields_env_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

bool fields_not_blank(const char *s)
{
	return s[strspn(s, " ")] != '\0';
}

/* A FIELD_TEXT value's choices and check. */
static enum api_err fields_text_rule(struct arena *a, const struct field *f, const char *s,
                                     const char **why)
{
	if (f->choices != NULL) {
		const char *list = "";
		for (const char *const *c = f->choices; *c != NULL; c++) {
			if (strcmp(*c, s) == 0)
				return E_OK;
			list = arena_printf(a, "%s%s%s", list, *list ? ", " : "", *c);
		}
		*why = arena_printf(a, "%s: one of %s", f->name, list);
		return E_BAD_REQUEST;
	}
	if (f->check != NULL && !f->check(s)) {
		*why = arena_printf(a, "%s: must be %s", f->name, f->what ? f->what : "valid");
		return E_BAD_REQUEST;
	}
	return E_OK;
}

/* A FIELD_NUMBER: any JSON number in [min, max]. */
static enum api_err fields_number(struct arena *a, const struct field *f, json_object *v,
                                  const char **why)
{
	double d;

	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
		*why = arena_printf(a, "%s: must be a number", f->name);
		return E_BAD_REQUEST;
	}
	d = json_object_get_double(v);
	if (!(d >= (double)f->min && d <= (double)f->max)) {
		*why =
		    arena_printf(a, "%s: must be between %lld and %lld", f->name, f->min, f->max);
		return E_BAD_REQUEST;
	}
	return E_OK;
}

/* A FIELD_TEXTS: an array of at most max strings of 1..item_max characters. */
static enum api_err fields_texts(struct arena *a, const struct field *f, json_object *v,
                                 const char **why)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array)) {
		*why = arena_printf(a, "%s: must be an array of strings", f->name);
		return E_BAD_REQUEST;
	}
	if ((n = json_object_array_length(v)) > (size_t)f->max) {
		*why = arena_printf(a, "%s: at most %lld items", f->name, f->max);
		return E_BAD_REQUEST;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(v, i);
		const char *s = json_object_get_string(item);
		size_t len = json_object_is_type(item, json_type_string) ? jsonx_utf8_len(s) : 0;

		if (len == 0 || len > (size_t)f->item_max ||
		    strlen(s) != (size_t)json_object_get_string_len(item)) {
			*why = arena_printf(a, "%s[%zu]: a string of 1-%lld characters", f->name, i,
			                    f->item_max);
			return E_BAD_REQUEST;
		}
	}
	return E_OK;
}

static enum api_err fields_one(struct arena *a, json_object *body, const struct field *f,
                               json_object *v, bool whole, const char **why);

/* An object's members against f->sub (strictly); the message names "<field>.<member>". */
static enum api_err fields_sub(struct arena *a, const struct field *f, json_object *o, bool whole,
                               const char **why)
{
	json_object *v;
	size_t k;

	if (f->sub == NULL)
		return E_OK;
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		for (k = 0; k < f->nsub && strcmp(f->sub[k].name, key) != 0; k++)
			;
		if (k == f->nsub) {
			*why = arena_printf(a, "%s.%s: not a field of this document", f->name, key);
			return E_BAD_REQUEST;
		}
	}
	for (k = 0; k < f->nsub; k++) {
		bool given = json_object_object_get_ex(o, f->sub[k].name, &v) && v != NULL;
		enum api_err err = E_OK;

		if (!given && whole && f->sub[k].required) {
			*why = arena_printf(a, "%s.%s: is required", f->name, f->sub[k].name);
			return E_BAD_REQUEST;
		}
		if (given && (err = fields_one(a, o, &f->sub[k], v, whole, why)) != E_OK) {
			*why = arena_printf(a, "%s.%s", f->name, *why);
			return err;
		}
	}
	return E_OK;
}

/* One given field, checked: E_OK or E_BAD_REQUEST with *why. */
static enum api_err fields_one(struct arena *a, json_object *body, const struct field *f,
                               json_object *v, bool whole, const char **why)
{
	const char *s;
	int64_t i;
	bool b;
	json_object *o;
	enum api_err err;

	switch (f->kind) {
	case FIELD_TEXT:
		if ((err = jsonx_string(a, body, f->name, true, (size_t)f->min, (size_t)f->max, &s,
		                        why)) != E_OK)
			return err;
		return fields_text_rule(a, f, s, why);
	case FIELD_INT:
		return jsonx_int(a, body, f->name, true, f->min, f->max, &i, why);
	case FIELD_NUMBER:
		return fields_number(a, f, v, why);
	case FIELD_BOOL:
		return jsonx_bool(a, body, f->name, true, &b, why);
	case FIELD_OBJECT:
		if ((err = jsonx_object(a, body, f->name, true, &o, why)) != E_OK)
			return err;
		if (strlen(jsonx_text(a, o)) > (size_t)f->max) {
			*why = arena_printf(a, "%s: at most %lld bytes of JSON", f->name, f->max);
			return E_BAD_REQUEST;
		}
		return fields_sub(a, f, o, whole, why);
	case FIELD_TEXTS:
		return fields_texts(a, f, v, why);
	}
	return E_INTERNAL;
}

enum api_err fields_check(struct arena *a, json_object *body, const struct field *f, size_t n,
                          bool whole, bool strict, json_object **clean, const char **why)
{
	json_object *out = NULL, *v;
	enum api_err err = E_BAD_REQUEST;

	*clean = NULL;
	if ((err = jsonx_require_object(a, body, why)) != E_OK)
		return err;
	if (strict) {
		json_object_object_foreach(body, key, val)
		{
			size_t k = 0;
			(void)val;
			while (k < n && strcmp(f[k].name, key) != 0)
				k++;
			if (k == n) {
				*why = arena_printf(a, "%s: not a field of this document", key);
				return E_BAD_REQUEST;
			}
		}
	}
	out = json_object_new_object();
	for (size_t k = 0; k < n; k++) {
		bool given = json_object_object_get_ex(body, f[k].name, &v);

		if (given && v == NULL && f[k].nullable) {
			json_object_object_add(out, f[k].name, NULL);
			continue;
		}
		if (!given || v == NULL) {
			if (whole && f[k].required) {
				*why = arena_printf(a, "%s: is required", f[k].name);
				err = E_BAD_REQUEST;
				goto fail;
			}
			continue;
		}
		if ((err = fields_one(a, body, &f[k], v, whole, why)) != E_OK)
			goto fail;
		json_object_object_add(out, f[k].name, json_object_get(v));
	}
	*clean = out;
	return E_OK;
fail:
	json_object_put(out);
	return err;
}
