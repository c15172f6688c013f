/*
 * prompts — the prompt a generation would use, for clients that show or edit it first.
 *
 * POST /prompts/generate (user) {"type":"photography"|"fitting","scene_id"?,"params"?:{}} →
 *      200 {"prompt","negative_prompt"}: model/prompts' rendering, the one a task with the
 *      same type, scene and params freezes (the newest active template for (type, scene),
 *      else for (type, no scene), with params, the scene's parameters and its names).
 *      400 names the field (photography without scene_id: "scene_id: required"); a missing
 *      or inactive scene → 404; no template → 404; more than 60 at once, then two a
 *      second, per user → 429 RATE_LIMITED with Retry-After.  Where content checks are
 *      enabled (service/content.h), text in params that WeChat judges risky → 422
 *      CONTENT_RISKY "params: …"; WeChat unreachable with on_error "closed" → 502.
 */
#include <stdint.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/prompts.h"
#include "model/scenes.h"
#include "service/content.h"

static enum api_err prompts_generate(struct request *req, struct reply *rep)
{
	struct arena *a = req->arena;
	const char *why = NULL, *type = NULL;
	struct prompt_pair pp;
	struct scene scene = {0};
	json_object *params = NULL, *o;
	int64_t scene_id = 0;
	bool photo;
	enum api_err err;

	if ((err = jsonx_require_object(a, req->json, &why)) != E_OK ||
	    (err = jsonx_string(a, req->json, "type", true, 1, 32, &type, &why)) != E_OK)
		return reply_error(rep, err, why);
	photo = strcmp(type, "photography") == 0;
	if (!photo && strcmp(type, "fitting") != 0)
		return reply_error(rep, E_BAD_REQUEST, "type: photography or fitting");
	if ((err = jsonx_int(a, req->json, "scene_id", false, 1, INT64_MAX - 1, &scene_id, &why)) !=
	        E_OK ||
	    (err = jsonx_object(a, req->json, "params", false, &params, &why)) != E_OK)
		return reply_error(rep, err, why);
	if (photo && scene_id == 0)
		return reply_error(rep, E_BAD_REQUEST, "scene_id: required");
	if ((err = content_check_text(a, req->user_id, CONTENT_SCENE_COMMENT, params, "params",
	                              &why)) != E_OK)
		return why ? reply_error(rep, err, why) : err;
	if (scene_id > 0 && (err = scenes_get_active(a, scene_id, &scene)) != E_OK)
		return err == E_NOT_FOUND ? reply_error(rep, err, "scene_id: unknown scene") : err;
	if ((err = prompts_render(a, type, scene_id > 0 ? &scene : NULL, params, &pp)) != E_OK)
		return err == E_NOT_FOUND ? reply_error(rep, err, PROMPTS_NO_TEMPLATE) : err;
	o = json_object_new_object();
	json_object_object_add(o, "prompt", json_object_new_string(pp.prompt));
	json_object_object_add(o, "negative_prompt", json_object_new_string(pp.negative));
	return reply_ok(rep, 200, o);
}

/* Two prompt renderings a second per user, 60 at once. */
static const struct rate_limit prompts_limit = {.name = "prompts", .per_minute = 120, .burst = 60};

static const struct route prompts_route_list[] = {
    {.method = HTTP_POST,
     .pattern = "/prompts/generate",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 8192,
     .handler = prompts_generate,
     .limit = &prompts_limit},
};

ROUTE_TABLE(prompts_routes, prompts_route_list);
