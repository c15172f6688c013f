/* prompt — see prompt.h. */
#include "lib/prompt.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/jsonx.h"

struct prompt_out {
	char *buf;
	size_t len;
	bool full;
};

/* Appends n bytes, or as many as fit without splitting a UTF-8 sequence. */
static void prompt_put(struct prompt_out *o, const char *s, size_t n)
{
	size_t room = PROMPT_MAX_BYTES - o->len;

	if (o->full || n == 0)
		return;
	if (n > room) {
		n = room;
		/* back off to the start of the character the cut would split */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		o->full = true;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static bool prompt_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool prompt_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * At s (which starts with "{{"): a placeholder?  Returns its total length and sets
 * *name / *nlen, or 0 when the text there is not one.
 */
static size_t prompt_placeholder(const char *s, const char **name, size_t *nlen)
{
	size_t i = 2, start, end;

	while (prompt_space(s[i]))
		i++;
	start = i;
	while (prompt_name_char(s[i]) && i - start <= PROMPT_NAME_MAX)
		i++;
	end = i;
	if (end == start || end - start > PROMPT_NAME_MAX)
		return 0;
	while (prompt_space(s[i]))
		i++;
	if (s[i] != '}' || s[i + 1] != '}')
		return 0;
	*name = s + start;
	*nlen = end - start;
	return i + 2;
}

/* The text of a string/number/boolean value (arena or borrowed), NULL for other types. */
static const char *prompt_value(struct arena *a, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		return json_object_get_string(v);
	case json_type_int:
		return arena_printf(a, "%" PRId64, json_object_get_int64(v));
	case json_type_double:
		return arena_strdup(a, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	case json_type_boolean:
		return json_object_get_boolean(v) ? "true" : "false";
	default:
		return NULL;
	}
}

static const char *prompt_lookup(struct arena *a, const char *name, size_t nlen,
                                 json_object *const *vars, size_t nvars)
{
	char key[PROMPT_NAME_MAX + 1];

	memcpy(key, name, nlen);
	key[nlen] = '\0';
	for (size_t i = 0; i < nvars; i++) {
		json_object *v;
		const char *text;

		if (vars[i] == NULL || !json_object_is_type(vars[i], json_type_object) ||
		    !json_object_object_get_ex(vars[i], key, &v))
			continue;
		if ((text = prompt_value(a, v)) != NULL)
			return text;
	}
	return "";
}

char *prompt_render(struct arena *a, const char *tmpl, json_object *const *vars, size_t nvars)
{
	struct prompt_out o = {.buf = arena_alloc(a, PROMPT_MAX_BYTES + 1)};
	const char *p = tmpl ? tmpl : "";

	while (*p != '\0' && !o.full) {
		const char *open = strstr(p, "{{");
		const char *name;
		size_t nlen, used;

		if (open == NULL) {
			prompt_put(&o, p, strlen(p));
			break;
		}
		prompt_put(&o, p, (size_t)(open - p));
		used = prompt_placeholder(open, &name, &nlen);
		if (used == 0) {
			prompt_put(&o, open,
			           1); /* a lone '{': the next one may open a placeholder */
			p = open + 1;
			continue;
		}
		{
			const char *value = prompt_lookup(a, name, nlen, vars, nvars);
			prompt_put(&o, value, strlen(value));
		}
		p = open + used;
	}
	o.buf[o.len] = '\0';
	return o.buf;
}

char *prompt_render_scene(struct arena *a, const char *tmpl, json_object *params,
                          const char *scene_parameters, const char *scene_name,
                          const char *category)
{
	json_object *scene = scene_parameters ? jsonx_parse_or_empty(scene_parameters) : NULL;
	json_object *names = json_object_new_object();
	json_object *vars[3] = {params, scene, names};
	char *out;

	if (scene_name != NULL)
		json_object_object_add(names, "scene", json_object_new_string(scene_name));
	if (category != NULL)
		json_object_object_add(names, "category", json_object_new_string(category));
	out = prompt_render(a, tmpl, vars, 3);
	json_object_put(scene);
	json_object_put(names);
	return out;
}
