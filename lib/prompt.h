/*
 * prompt — fills prompt templates.
 *
 * A template is text with placeholders {{name}} (name: 1–32 of [A-Za-z0-9_], spaces allowed
 * inside the braces: {{ name }}).  Each placeholder is replaced by the value of that key
 * in the first of the vars objects (in priority order) where it is a string, a number or a
 * boolean; a name found nowhere becomes "".  Replacement is one pass: a value containing
 * "{{x}}" is inserted as it is.  Anything that is not a placeholder is copied unchanged.
 * The result is at most PROMPT_MAX_BYTES bytes, cut at a character boundary.
 */
#ifndef AIPHOTO_PROMPT_H
#define AIPHOTO_PROMPT_H

#include <json-c/json.h>
#include <stddef.h>

#include "lib/arena.h"

#define PROMPT_MAX_BYTES 4000
#define PROMPT_NAME_MAX 32

/* The rendered text (arena, NUL-terminated); tmpl NULL renders "".  NULL entries of vars are
 * skipped. */
char *prompt_render(struct arena *a, const char *tmpl, json_object *const *vars, size_t nvars);

/*
 * The vars of a scene-based prompt, in priority order: the request's params (may be NULL),
 * the scene's parameters (JSON object text, may be NULL), then {"scene": scene_name,
 * "category": category} (either may be NULL).  Renders tmpl with them.
 */
char *prompt_render_scene(struct arena *a, const char *tmpl, json_object *params,
                          const char *scene_parameters, const char *scene_name,
                          const char *category);

#endif
