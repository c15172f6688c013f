/*
 * tasks — AI generation requests.
 *
 * POST /tasks/photography (user, active) {"scene_id","asset_ids":[1-10 ids],"count":1-50,
 *      "params"?:{}} and POST /tasks/fitting {"person_asset_id","garment_asset_id","count",
 *      "params"?} + optional Idempotency-Key (1-64) → 202 Task.  Charges count × price
 *      (system_config.pricing[type]; defaults photography 10, fitting 15) in the same
 *      transaction that creates the task and its works; a short balance → 402 and nothing
 *      created.  400 names the field (an inactive or missing scene: "scene_id: unknown
 *      scene"); an asset id that is not the caller's → 404.  The prompt is rendered from the
 *      active template now and frozen with the task.  The same key and body → the first
 *      answer; the same key with another body → 409 IDEMPOTENCY_MISMATCH.
 * GET  /tasks/:id (user) → Task with its works.
 * GET  /tasks?status=&limit=&cursor= (user) → {"items":[Task without works],"next_cursor"}.
 * POST /tasks/:id/cancel (user) → Task: the items not yet started (queued, holding no
 *      provider job: a retry waiting for its turn counts, an async job being polled does not)
 *      are canceled and refunded
 *      once; an ended task answers unchanged.
 * Task = {"id","type","status","count","done","failed","canceled","credits_charged",
 *         "credits_refunded","created_at","finished_at","works":[Work…]}.
 * Another user's task → 404 everywhere.  Creating tasks is rate-limited per user (class
 * "tasks": 20 at once, then one every 3 s) → 429 RATE_LIMITED with Retry-After.
 */
#include <stdint.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/crypto.h"
#include "lib/db.h"
#include "lib/jsonx.h"
#include "lib/prompt.h"
#include "model/assets.h"
#include "model/idempotency.h"
#include "model/scenes.h"
#include "model/tasks.h"

/* Used when no active template exists for a type (the seed always provides one). */
static const char *const tasks_fallback[] = {"{{scene}} {{style}} {{extra}}", "{{extra}}"};

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

/* The request's fingerprint for the Idempotency-Key check: its route and its JSON body
 * (re-serialised, so spacing does not matter; key order does). */
static void tasks_hash(struct request *req, const char *route, char hash[65])
{
	const char *canon =
	    arena_printf(req->arena, "%s\n%s", route, jsonx_text(req->arena, req->json));
	crypto_sha256_hex(canon, strlen(canon), hash);
}

static enum api_err tasks_create_post(struct request *req, struct reply *rep, bool photo)
{
	struct arena *a = req->arena;
	struct task_new t = {.type = photo ? "photography" : "fitting"};
	struct scene scene = {0};
	json_object *params = NULL, *task = NULL;
	const char *why = NULL, *key = req->idempotency_key, *route, *tmpl = NULL, *neg = NULL;
	const char *stored = NULL;
	int64_t inputs[2], task_id = 0;
	size_t owned = 0, ninputs;
	char hash[65];
	int status = 0;
	enum api_err err;

	if (!tasks_create_body(req, photo, &t, &params, &why))
		return reply_error(rep, E_BAD_REQUEST, why);
	if (key != NULL && (*key == '\0' || jsonx_utf8_len(key) > 64))
		return reply_error(rep, E_BAD_REQUEST, "Idempotency-Key: 1-64 characters");
	if (photo && (err = scenes_get_active(a, t.scene_id, &scene)) != E_OK)
		return err == E_NOT_FOUND
		           ? reply_error(rep, E_BAD_REQUEST, "scene_id: unknown scene")
		           : err;
	if (photo) {
		ninputs = t.nassets;
		err = assets_owned(a, req->user_id, t.asset_ids, ninputs, &owned);
	} else {
		inputs[0] = t.person_asset_id;
		inputs[1] = t.garment_asset_id;
		ninputs = inputs[0] == inputs[1] ? 1 : 2;
		err = assets_owned(a, req->user_id, inputs, ninputs, &owned);
	}
	if (err != E_OK)
		return err;
	if (owned != ninputs)
		return reply_error(rep, E_NOT_FOUND,
		                   photo ? "asset_ids: no such asset" : "asset: no such asset");
	t.price = photo ? 10 : 15;
	handlers_config_int(req, "pricing", t.type, &t.price);
	if (t.price < 0)
		t.price = 0;
	err = tasks_template(a, t.type, t.scene_id, &tmpl, &neg);
	if (err == E_NOT_FOUND) {
		tmpl = tasks_fallback[photo ? 0 : 1];
		neg = "";
	} else if (err != E_OK) {
		return err;
	}
	t.prompt = prompt_render_scene(a, tmpl, params, photo ? scene.parameters : NULL,
	                               photo ? scene.name : NULL, photo ? scene.category : NULL);
	t.negative_prompt =
	    prompt_render_scene(a, neg, params, photo ? scene.parameters : NULL,
	                        photo ? scene.name : NULL, photo ? scene.category : NULL);

	route = photo ? "tasks/photography" : "tasks/fitting";
	if (key != NULL) {
		tasks_hash(req, route, hash);
		err = idempotency_begin(a, req->user_id, key, route, hash, &status, &stored);
		if (err == E_ALREADY_DONE)
			return reply_ok(rep, status ? status : 202, jsonx_parse_or_empty(stored));
		if (err == E_IDEMPOTENCY_MISMATCH)
			return reply_error(rep, err,
			                   "Idempotency-Key: already used with a different "
			                   "request");
	} else {
		err = db_begin();
	}
	if (err != E_OK)
		return err;
	/* from here a transaction is open: created, charged and itemised together */
	if ((err = tasks_create(a, req->user_id, &t, &task_id)) != E_OK ||
	    (err = tasks_load(req, task_id, &task)) != E_OK)
		goto out;
	if (key != NULL)
		err = idempotency_commit(a, req->user_id, key, 202, jsonx_text(a, task));
	else if ((err = db_commit()) != E_OK)
		db_rollback();
	if (err != E_OK) {
		json_object_put(task);
		return err;
	}
	return reply_ok(rep, 202, task);
out:
	/* a short balance leaves nothing behind, not even the key: a retry may succeed */
	if (key != NULL)
		idempotency_abort();
	else
		db_rollback();
	json_object_put(task);
	return err == E_INSUFFICIENT_CREDITS ? reply_error(rep, err, NULL) : err;
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
     .limit = &tasks_limit},
    {.method = HTTP_POST,
     .pattern = "/tasks/fitting",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 16384,
     .handler = tasks_fitting_post,
     .limit = &tasks_limit},
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
