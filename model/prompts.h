/*
 * prompts — the one way a generation's prompt is made, so that POST /prompts/generate shows
 * exactly what POST /tasks/<type> freezes into the task.
 *
 * The template is the newest active prompt_templates row for (type, the scene) when the
 * scene has one, else for (type, no scene).  There is no built-in fallback: without a
 * template the answer is E_NOT_FOUND (PROMPTS_NO_TEMPLATE), for a preview and a task alike,
 * before anything is charged.  The template is rendered (lib/prompt) with, in priority
 * order, the request's params, the scene's parameters and {"scene": name, "category": …}.
 */
#ifndef AIPHOTO_MODEL_PROMPTS_H
#define AIPHOTO_MODEL_PROMPTS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/scenes.h"

/* The message that goes with E_NOT_FOUND (the field is the request's "type"). */
#define PROMPTS_NO_TEMPLATE "no prompt template for this type"

struct prompt_pair {
	const char *prompt, *negative; /* arena text, never NULL */
};

/* Renders the prompt of a generation of type with scene (NULL = none) and params (NULL =
 * none).  E_OK, E_NOT_FOUND (no template) or a database error. */
enum api_err prompts_render(struct arena *a, const char *type, const struct scene *scene,
                            json_object *params, struct prompt_pair *out);

/* A template's type and scene (0 = none), for its preview.  E_NOT_FOUND. */
enum api_err prompts_template_scene(struct arena *a, int64_t id, const char **type,
                                    int64_t *scene_id);

/*
 * Renders template id (active or not) with scene (NULL = none) and params exactly as a task
 * would (prompts_render's filling); *chosen tells whether a task of the template's type with
 * that scene would choose this template now (the selection rule above).  E_NOT_FOUND.
 */
enum api_err prompts_preview(struct arena *a, int64_t id, const struct scene *scene,
                             json_object *params, struct prompt_pair *out, bool *chosen);

#endif
