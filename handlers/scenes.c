/*
 * scenes — the scene catalogue.
 *
 * GET /scenes?category= (public) → 200 [Scene] active scenes in display order, only the
 *   category's when given (1–64 characters, else 400).
 * GET /scenes/:id (public) → 200 Scene; 404 for a missing, inactive or malformed id.
 * Scene = {"id","name","category","thumbnail_url","parameters"}.  503 when the database is down.
 *
 * Both answers are cached in Redis for SCENES_CACHE_TTL seconds under the current cache
 * generation, by model/scenes (scenes_cache_*) under "list", "list:c:<category>" and
 * "id:<id>".  A miss reads the database and fills the entry; when Redis is down the database
 * answers alone.  A 404 is never cached.
 */
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/scenes.h"

/* The cached answer under what (NULL on a miss or when Redis is down); *e is where to fill
 * it on a miss. */
static json_object *scenes_cached(struct request *req, const char *what,
                                  struct scenes_cache_entry *e)
{
	scenes_cache_get(req->arena, what, e);
	return e->text != NULL ? json_tokener_parse(e->text) : NULL;
}

/* Stores the answer about to be sent (best effort). */
static void scenes_fill(struct request *req, const struct scenes_cache_entry *e, json_object *data)
{
	scenes_cache_fill(e, jsonx_text(req->arena, data));
}

static json_object *scenes_json(const struct scene *s)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(s->id));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "category", json_object_new_string(s->category));
	json_object_object_add(o, "thumbnail_url", json_object_new_string(s->thumbnail_url));
	json_object_object_add(o, "parameters", jsonx_parse_or_empty(s->parameters));
	return o;
}

static enum api_err scenes_list_get(struct request *req, struct reply *rep)
{
	const char *category = request_query(req, "category");
	struct scene *s;
	size_t n;
	enum api_err err;
	json_object *arr;
	struct scenes_cache_entry cached;

	if (category != NULL && *category == '\0')
		category = NULL;
	if (category != NULL && jsonx_utf8_len(category) > 64)
		return reply_error(rep, E_BAD_REQUEST, "category: at most 64 characters");
	if ((arr = scenes_cached(
	         req, category ? arena_printf(req->arena, "list:c:%s", category) : "list",
	         &cached)) != NULL)
		return reply_ok(rep, 200, arr);
	if ((err = scenes_list_active(req->arena, category, &s, &n)) != E_OK)
		return err;
	arr = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, scenes_json(&s[i]));
	if (n > 0) /* an empty list (any category name) is not cached: it costs nothing to
	            * recompute, and anyone may ask for any category */
		scenes_fill(req, &cached, arr);
	return reply_ok(rep, 200, arr);
}

static enum api_err scenes_item_get(struct request *req, struct reply *rep)
{
	struct scene s;
	int64_t id;
	enum api_err err;
	json_object *o;
	struct scenes_cache_entry cached;

	if ((err = handlers_id(req, 0, &id)) != E_OK)
		return err;
	if ((o = scenes_cached(req, arena_printf(req->arena, "id:%lld", (long long)id), &cached)) !=
	    NULL)
		return reply_ok(rep, 200, o);
	if ((err = scenes_get_active(req->arena, id, &s)) != E_OK)
		return err;
	o = scenes_json(&s);
	scenes_fill(req, &cached, o);
	return reply_ok(rep, 200, o);
}

static const struct route scenes_list_routes[] = {
    {.method = HTTP_GET, .pattern = "/scenes", .auth = AUTH_PUBLIC, .handler = scenes_list_get},
    {.method = HTTP_GET, .pattern = "/scenes/:id", .auth = AUTH_PUBLIC, .handler = scenes_item_get},
};

ROUTE_TABLE(scenes_routes, scenes_list_routes);
