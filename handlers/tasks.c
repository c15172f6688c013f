/*
 * tasks — AI generation requests.
 *
 * POST /tasks/photography (user, active) {"scene_id","asset_ids":[1-10 ids],"count":1-50,
 *      "params"?:{}} and POST /tasks/fitting {"person_asset_id","garment_asset_id","count",
 *      "params"?} + optional Idempotency-Key (1-64) → 202 Task.  Charges count × price
 *      (system_config.pricing[type]; defaults photography 10, fitting 15) in the same
 *      transaction that creates the task and its works; a short balance → 402 and nothing
 *      created.  400 names the field (an inactive or missing scene: "scene_id: unknown
 *      scene"); an asset id that is not the caller's → 404.  An input may also be named by
 *      the cloud storage file id the caller registered it under (POST /assets/cloud): a
 *      "cloud://…" string in asset_ids, person_asset_id or garment_asset_id stands for that
 *      asset (malformed → 400, not registered by the caller → 404).  The prompt is rendered now by
 *      model/prompts (the rendering /prompts/generate shows) and frozen with the task; no
 *      active template → 404 and nothing charged.  The same key and body → the same task
 *      (as it is now); the same key with another body → 409 IDEMPOTENCY_MISMATCH.
 * GET  /tasks/:id (user) → Task with its works.
 * GET  /tasks?status=&limit=&cursor= (user) → {"items":[Task without works],"next_cursor"}.
 * POST /tasks/:id/cancel (user) → Task: the items not yet started (queued, holding no
 *      provider job: a retry waiting for its turn counts, an async job being polled does not)
 *      are canceled and refunded
 *      once; an ended task answers unchanged.
 * Task = {"id","type","status","count","done","failed","canceled","credits_charged",
 *         "credits_refunded","created_at","finished_at","works":[Work…]}.
 * Content safety (service/content.h, where enabled): text in params that WeChat judges risky
 * → 422 CONTENT_RISKY "params: …"; an input image judged risky → 422 CONTENT_RISKY "asset:
 * …" (one whose check could not be made, under on_error "closed" → 502); nothing charged.
 * Another user's task → 404 everywhere.  Creating tasks is rate-limited per user (class
 * "tasks": 20 at once, then one every 3 s) → 429 RATE_LIMITED with Retry-After.
 */
#include <stdint.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "lib/wechat/wxcloud.h"
#include "model/assets.h"
#include "model/prompts.h"
#include "model/scenes.h"
#include "model/tasks.h"
#include "service/content.h"

#define TASKS_PARAMS_MAX 4096

static json_object *tasks_json(const struct task *t, const struct work *works, size_t n,
                               bool with_works)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(t->id));
	json_object_object_add(o, "type", json_object_new_string(t->type));
	json_object_object_add(o, "status", json_object_new_string(t->status));
	json_object_object_add(o, "count", json_object_new_int(t->count));
	json_object_object_add(o, "done", json_object_new_int(t->done));
	json_object_object_add(o, "failed", json_object_new_int(t->failed));
	json_object_object_add(o, "canceled", json_object_new_int(t->canceled));
	json_object_object_add(o, "credits_charged", json_object_new_int64(t->credits_charged));
	json_object_object_add(o, "credits_refunded", json_object_new_int64(t->credits_refunded));
	json_object_object_add(o, "created_at", json_object_new_string(t->created_at));
	json_object_object_add(o, "finished_at", jsonx_str_or_null(t->finished_at));
	if (with_works) {
		json_object *arr = json_object_new_array_ext((int)n);
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, works_json(&works[i]));
		json_object_object_add(o, "works", arr);
	}
	return o;
}

/* The task with its works, as the API shows it. */
static enum api_err tasks_load(struct request *req, int64_t id, json_object **out)
{
	struct task t;
	struct work *w = NULL;
	size_t n = 0;
	enum api_err err;

	if ((err = tasks_get(req->arena, req->user_id, id, &t)) != E_OK ||
	    (err = tasks_items(req->arena, id, &w, &n)) != E_OK)
		return err;
	*out = tasks_json(&t, w, n, true);
	return E_OK;
}

/* A JSON array of 1..max distinct positive ids (duplicates are folded).  NULL when bad. */
static int64_t *tasks_ids(struct arena *a, json_object *arr, size_t max, size_t *n)
{
	size_t len;
	int64_t *ids;

	*n = 0;
	if (arr == NULL || !json_object_is_type(arr, json_type_array))
		return NULL;
	len = json_object_array_length(arr);
	if (len < 1 || len > max)
		return NULL;
	ids = arena_alloc(a, sizeof(*ids) * len);
	for (size_t i = 0; i < len; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		int64_t id;
		bool seen = false;

		if (!json_object_is_type(v, json_type_int))
			return NULL;
		id = json_object_get_int64(v);
		if (id < 1 || id >= INT64_MAX)
			return NULL;
		for (size_t j = 0; j < *n && !seen; j++)
			seen = ids[j] == id;
		if (!seen)
			ids[(*n)++] = id;
	}
	return ids;
}

/* *v as an asset id when it is a "cloud://" string: the caller's asset registered under
 * that file id (*cloud true), else left alone (*cloud false). */
static enum api_err tasks_cloud_ref(struct request *req, struct reply *rep, const char *field,
                                    json_object *v, int64_t *id, bool *cloud)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	struct wxcloud_fileid f;
	struct asset as;
	enum api_err err;

	*cloud = wxcloud_is_fileid(s);
	if (!*cloud)
		return E_OK;
	if (!wxcloud_fileid_parse(s, &f))
		return reply_error(
		    rep, E_BAD_REQUEST,
		    arena_printf(req->arena, "%s: not a cloud storage file id", field));
	err = assets_get_by_cloud(req->arena, req->user_id, s, &as);
	if (err == E_NOT_FOUND)
		return reply_error(rep, err,
		                   arena_printf(req->arena,
		                                "%s: cloud file not registered (POST "
		                                "/assets/cloud): %.200s",
		                                field, s));
	*id = as.id;
	return err;
}

/* Replaces the cloud:// inputs of the body by the asset ids they stand for (see the top of
 * this file), so the rest reads ids only.  An over-long asset_ids is left to tasks_ids. */
static enum api_err tasks_cloud_inputs(struct request *req, struct reply *rep)
{
	static const char *const fields[] = {"person_asset_id", "garment_asset_id"};
	json_object *body = req->json, *arr, *v;
	int64_t id = 0;
	bool cloud;
	enum api_err err;

	if (body == NULL || !json_object_is_type(body, json_type_object))
		return E_OK;
	if (json_object_object_get_ex(body, "asset_ids", &arr) &&
	    json_object_is_type(arr, json_type_array) &&
	    json_object_array_length(arr) <= TASKS_MAX_ASSETS)
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			v = json_object_array_get_idx(arr, i);
			if ((err = tasks_cloud_ref(req, rep, "asset_ids", v, &id, &cloud)) != E_OK)
				return err;
			if (cloud)
				json_object_array_put_idx(arr, i, json_object_new_int64(id));
		}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!json_object_object_get_ex(body, fields[i], &v))
			continue;
		if ((err = tasks_cloud_ref(req, rep, fields[i], v, &id, &cloud)) != E_OK)
			return err;
		if (cloud)
			json_object_object_add(body, fields[i], json_object_new_int64(id));
	}
	return E_OK;
}

static bool tasks_create_body(struct request *req, bool photo, struct task_new *t,
                              json_object **params, const char **why)
{
	struct arena *a = req->arena;
	json_object *body = req->json, *arr = NULL;
	int64_t count = 1;

	if (jsonx_require_object(a, body, why) != E_OK)
		return false;
	if (photo) {
		if (jsonx_int(a, body, "scene_id", true, 1, INT64_MAX - 1, &t->scene_id, why) !=
		    E_OK)
			return false;
		if (!json_object_object_get_ex(body, "asset_ids", &arr) ||
		    (t->asset_ids = tasks_ids(a, arr, TASKS_MAX_ASSETS, &t->nassets)) == NULL) {
			*why = "asset_ids: an array of 1-10 asset ids";
			return false;
		}
	} else if (jsonx_int(a, body, "person_asset_id", true, 1, INT64_MAX - 1,
	                     &t->person_asset_id, why) != E_OK ||
	           jsonx_int(a, body, "garment_asset_id", true, 1, INT64_MAX - 1,
	                     &t->garment_asset_id, why) != E_OK) {
		return false;
	}
	if (jsonx_int(a, body, "count", false, 1, TASKS_MAX_COUNT, &count, why) != E_OK ||
	    jsonx_object(a, body, "params", false, params, why) != E_OK)
		return false;
	t->count = (int)count;
	t->params = *params ? jsonx_text(a, *params) : "{}";
	if (strlen(t->params) > TASKS_PARAMS_MAX) {
		*why = "params: at most 4096 bytes of JSON";
		return false;
	}
	return true;
}

/* The scene (photography) and the input assets exist and are the caller's. */
static enum api_err tasks_inputs(struct request *req, struct reply *rep, bool photo,
                                 const struct task_new *t, struct scene *scene)
{
	int64_t pair[2] = {t->person_asset_id, t->garment_asset_id};
	const int64_t *ids = photo ? t->asset_ids : pair;
	size_t n = photo ? t->nassets : (pair[0] == pair[1] ? 1 : 2);
	struct assets_owned owned;
	const char *why = NULL;
	enum api_err err = E_OK;

	if (photo && (err = scenes_get_active(req->arena, t->scene_id, scene)) != E_OK) {
		if (err == E_NOT_FOUND)
			err = reply_error(rep, E_BAD_REQUEST, "scene_id: unknown scene");
		goto out;
	}
	if ((err = assets_owned(req->arena, req->user_id, ids, n, &owned)) != E_OK)
		goto out;
	if (owned.count != n) {
		err = reply_error(rep, E_NOT_FOUND,
		                  photo ? "asset_ids: no such asset" : "asset: no such asset");
		goto out;
	}
	if ((err = content_check_inputs(req->arena, owned.risky, owned.unchecked, &why)) != E_OK &&
	    why)
		err = reply_error(rep, err, why);
out:
	return err;
}

/* The price per image: system_config.pricing[type], defaults photography 10, fitting 15. */
static int64_t tasks_price(struct request *req, bool photo)
{
	int64_t price = photo ? 10 : 15;

	handlers_config_int(req, "pricing", photo ? "photography" : "fitting", &price);
	return price < 0 ? 0 : price;
}

/* The prompt the task freezes: the same rendering POST /prompts/generate shows. */
static enum api_err tasks_prompt(struct request *req, struct reply *rep, struct task_new *t,
                                 const struct scene *scene, json_object *params)
{
	struct prompt_pair pp;
	enum api_err err = prompts_render(req->arena, t->type, scene, params, &pp);

	if (err == E_NOT_FOUND)
		err = reply_error(rep, err, PROMPTS_NO_TEMPLATE);
	t->prompt = pp.prompt;
	t->negative_prompt = pp.negative;
	return err;
}

static enum api_err tasks_create_post(struct request *req, struct reply *rep, bool photo)
{
	struct task_new t = {.type = photo ? "photography" : "fitting"};
	/* the app the task came from (model/notify tells its user through that app): the
	 * token's channel; none (NULL) counts as "oa" */
	t.channel = req->channel != TOKEN_CHANNEL_NONE ? token_channel_name(req->channel) : NULL;
	struct idem_key k = handlers_idem_key(req);
	struct idem_outcome out;
	struct scene scene = {0};
	json_object *params = NULL, *task = NULL;
	const char *why = NULL;
	enum api_err err;

	if ((err = tasks_cloud_inputs(req, rep)) != E_OK)
		goto out;
	if (!tasks_create_body(req, photo, &t, &params, &why)) {
		err = reply_error(rep, E_BAD_REQUEST, why);
		goto out;
	}
	t.price = tasks_price(req, photo);
	if ((err = content_check_text(req->arena, req->user_id, CONTENT_SCENE_COMMENT, params,
	                              "params", &why)) != E_OK) {
		err = why ? reply_error(rep, err, why) : err;
		goto out;
	}
	if ((err = tasks_inputs(req, rep, photo, &t, &scene)) != E_OK ||
	    (err = tasks_prompt(req, rep, &t, photo ? &scene : NULL, params)) != E_OK ||
	    (err = tasks_create(req->arena, &k, &t, &out)) != E_OK ||
	    (err = tasks_load(req, out.resource_id, &task)) != E_OK)
		goto out;
	err = reply_ok(rep, 202, task); /* a repeat renders the same task as it is now */
out:
	return err;
}

static enum api_err tasks_photography_post(struct request *req, struct reply *rep)
{
	return tasks_create_post(req, rep, true);
}

static enum api_err tasks_fitting_post(struct request *req, struct reply *rep)
{
	return tasks_create_post(req, rep, false);
}

static enum api_err tasks_get_one(struct request *req, struct reply *rep)
{
	json_object *o = NULL;
	int64_t id;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK || (err = tasks_load(req, id, &o)) != E_OK)
		return err;
	return reply_ok(rep, 200, o);
}

static enum api_err tasks_list_get(struct request *req, struct reply *rep)
{
	static const char *const statuses[] = {"queued",  "running", "completed",
	                                       "partial", "failed",  "canceled"};
	const char *status = request_query(req, "status");
	long limit, before;
	struct task *rows;
	size_t n;
	bool more, known = false;
	enum api_err err;
	json_object *items;

	if (status != NULL && *status == '\0')
		status = NULL;
	for (size_t i = 0; status != NULL && i < sizeof(statuses) / sizeof(statuses[0]); i++)
		known = known || strcmp(status, statuses[i]) == 0;
	if (status != NULL && !known)
		return reply_error(
		    rep, E_BAD_REQUEST,
		    "status: queued, running, completed, partial, failed or canceled");
	if ((err = handlers_page_params(req, rep, &limit, &before)) != E_OK ||
	    (err = tasks_list(req->arena, req->user_id, status, before, (int)limit, &rows, &n,
	                      &more)) != E_OK)
		return err;
	items = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(items, tasks_json(&rows[i], NULL, 0, false));
	return reply_ok(rep, 200,
	                handlers_page(req, items, more && n > 0, n > 0 ? rows[n - 1].id : 0));
}

static enum api_err tasks_cancel_post(struct request *req, struct reply *rep)
{
	json_object *o = NULL;
	int64_t id;
	int canceled = 0;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK ||
	    (err = tasks_cancel(req->arena, req->user_id, id, &canceled)) != E_OK ||
	    (err = tasks_load(req, id, &o)) != E_OK)
		return err;
	return reply_ok(rep, 200, o);
}

/* Each image costs real money at the provider: a user may start 20 tasks at once and one
 * more every 3 seconds. */
static const struct rate_limit tasks_limit = {.name = "tasks", .per_minute = 20, .burst = 20};

static const struct route tasks_route_list[] = {
    {.method = HTTP_POST,
     .pattern = "/tasks/photography",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 16384,
     .handler = tasks_photography_post,
     .limit = &tasks_limit,
     .idempotency = IDEMPOTENCY_OPTIONAL},
    {.method = HTTP_POST,
     .pattern = "/tasks/fitting",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 16384,
     .handler = tasks_fitting_post,
     .limit = &tasks_limit,
     .idempotency = IDEMPOTENCY_OPTIONAL},
    {.method = HTTP_GET, .pattern = "/tasks", .auth = AUTH_USER, .handler = tasks_list_get},
    {.method = HTTP_GET, .pattern = "/tasks/:id", .auth = AUTH_USER, .handler = tasks_get_one},
    {.method = HTTP_POST,
     .pattern = "/tasks/:id/cancel",
     .auth = AUTH_USER,
     .body = BODY_JSON_OPTIONAL,
     .max_body = 1024,
     .handler = tasks_cancel_post},
};

ROUTE_TABLE(tasks_routes, tasks_route_list);
