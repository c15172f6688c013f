/*
 * works — the user's generated images.
 *
 * GET    /works?tab=all|photography|fitting|favorite&limit=&cursor= (user) →
 *        {"items":[Work],"next_cursor"}: succeeded, not deleted works, newest first;
 *        another tab → 400.
 * GET    /works/:id (user) → Work (any status, not deleted).
 * DELETE /works/:id (user) → 204 (soft delete; again → 404).
 * POST   /works/:id/favorite (user) {"favorite":bool}, or no body / no field = toggle → Work.
 * POST   /works/batch-delete (user) {"ids":[1-100 positive ids]} → {"deleted": n}: only the
 *        caller's works not deleted yet are counted.
 * Work = {"id","task_id","type","status","image_url","thumb_url","scene_id","is_favorite",
 *         "created_at"} (+ "error": the error code, when failed).  An imported work whose
 *         image is still a cloud storage file id (cloud://…, until aiphoto-dispatch has
 *         fetched it into the media store) shows it as an HTTPS URL: CLOUD_STORAGE_URL_PREFIX
 *         + "/" + path, else https://<bucket>.tcb.qcloud.la/<path>, else the id as stored
 *         (docs/cloud-files.md).
 * Another user's work → 404 everywhere.
 */
#include <stdint.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "lib/wechat/wxcloud.h"
#include "model/tasks.h"

static json_object *works_id_or_null(int64_t id)
{
	return id > 0 ? json_object_new_int64(id) : NULL;
}

/* An image URL as clients get it (see Work above). */
static json_object *works_url(const char *url)
{
	char buf[4096];

	if (wxcloud_is_fileid(url) &&
	    wxcloud_public_url(url, config_get()->cloud_storage_url_prefix, buf, sizeof(buf)))
		return json_object_new_string(buf);
	return jsonx_str_or_null(url);
}

json_object *works_json(const struct work *w)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(w->id));
	json_object_object_add(o, "task_id", works_id_or_null(w->task_id));
	json_object_object_add(o, "type", json_object_new_string(w->type));
	json_object_object_add(o, "status", json_object_new_string(w->status));
	json_object_object_add(o, "image_url", works_url(w->image_url));
	json_object_object_add(o, "thumb_url", works_url(w->thumb_url));
	json_object_object_add(o, "scene_id", works_id_or_null(w->scene_id));
	json_object_object_add(o, "is_favorite", json_object_new_boolean(w->is_favorite));
	json_object_object_add(o, "created_at", json_object_new_string(w->created_at));
	if (strcmp(w->status, "failed") == 0)
		json_object_object_add(o, "error",
		                       json_object_new_string(w->error_code ? w->error_code : ""));
	return o;
}

static enum api_err works_list_get(struct request *req, struct reply *rep)
{
	static const char *const tabs[] = {
	    [TASKS_TAB_ALL] = "all",
	    [TASKS_TAB_PHOTOGRAPHY] = "photography",
	    [TASKS_TAB_FITTING] = "fitting",
	    [TASKS_TAB_FAVORITE] = "favorite",
	};
	const char *tab_s = request_query(req, "tab");
	enum tasks_tab tab = TASKS_TAB_ALL;
	long limit, before;
	struct work *rows;
	size_t n;
	bool more, known = tab_s == NULL || *tab_s == '\0';
	enum api_err err;
	json_object *items;

	for (size_t i = 0; !known && i < sizeof(tabs) / sizeof(tabs[0]); i++)
		if (strcmp(tab_s, tabs[i]) == 0) {
			tab = (enum tasks_tab)i;
			known = true;
		}
	if (!known)
		return reply_error(rep, E_BAD_REQUEST,
		                   "tab: all, photography, fitting or favorite");
	if ((err = handlers_page_params(req, rep, &limit, &before)) != E_OK ||
	    (err = tasks_works_list(req->arena, req->user_id, tab, before, (int)limit, &rows, &n,
	                            &more)) != E_OK)
		return err;
	items = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(items, works_json(&rows[i]));
	return reply_ok(rep, 200,
	                handlers_page(req, items, more && n > 0, n > 0 ? rows[n - 1].id : 0));
}

static enum api_err works_item_get(struct request *req, struct reply *rep)
{
	struct work w;
	int64_t id;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK ||
	    (err = tasks_work_get(req->arena, req->user_id, id, &w)) != E_OK)
		return err;
	return reply_ok(rep, 200, works_json(&w));
}

static enum api_err works_item_delete(struct request *req, struct reply *rep)
{
	int64_t id;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK ||
	    (err = tasks_work_delete(req->arena, req->user_id, id)) != E_OK)
		return err;
	return reply_ok(rep, 204, NULL);
}

static enum api_err works_favorite_post(struct request *req, struct reply *rep)
{
	const char *why = NULL;
	struct work w;
	int64_t id;
	bool fav = false;
	int set = -1;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK)
		return err;
	if (req->json != NULL) {
		json_object *v = NULL;
		if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK)
			return reply_error(rep, err, why);
		if (json_object_object_get_ex(req->json, "favorite", &v) && v != NULL) {
			if ((err = jsonx_bool(req->arena, req->json, "favorite", true, &fav,
			                      &why)) != E_OK)
				return reply_error(rep, err, why);
			set = fav ? 1 : 0;
		}
	}
	if ((err = tasks_work_favorite(req->arena, req->user_id, id, set, &w)) != E_OK)
		return err;
	return reply_ok(rep, 200, works_json(&w));
}

static enum api_err works_batch_delete_post(struct request *req, struct reply *rep)
{
	const char *why = "ids: an array of 1-100 positive work ids";
	json_object *arr = NULL, *o;
	int64_t *ids, deleted = 0;
	size_t len;
	enum api_err err;

	if (jsonx_require_object(req->arena, req->json, &why) != E_OK)
		return reply_error(rep, E_BAD_REQUEST, why);
	if (!json_object_object_get_ex(req->json, "ids", &arr) ||
	    !json_object_is_type(arr, json_type_array) ||
	    (len = json_object_array_length(arr)) < 1 || len > TASKS_MAX_BATCH)
		return reply_error(rep, E_BAD_REQUEST, why);
	ids = arena_alloc(req->arena, sizeof(*ids) * len);
	for (size_t i = 0; i < len; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(v, json_type_int) ||
		    (ids[i] = json_object_get_int64(v)) < 1 || ids[i] == INT64_MAX)
			return reply_error(rep, E_BAD_REQUEST, why);
	}
	if ((err = tasks_works_delete(req->arena, req->user_id, ids, len, &deleted)) != E_OK)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "deleted", json_object_new_int64(deleted));
	return reply_ok(rep, 200, o);
}

static const struct route works_route_list[] = {
    {.method = HTTP_GET, .pattern = "/works", .auth = AUTH_USER, .handler = works_list_get},
    {.method = HTTP_POST,
     .pattern = "/works/batch-delete",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 8192,
     .handler = works_batch_delete_post},
    {.method = HTTP_GET, .pattern = "/works/:id", .auth = AUTH_USER, .handler = works_item_get},
    {.method = HTTP_DELETE,
     .pattern = "/works/:id",
     .auth = AUTH_USER,
     .handler = works_item_delete},
    {.method = HTTP_POST,
     .pattern = "/works/:id/favorite",
     .auth = AUTH_USER,
     .body = BODY_JSON_OPTIONAL,
     .max_body = 1024,
     .handler = works_favorite_post},
};

ROUTE_TABLE(works_routes, works_route_list);
