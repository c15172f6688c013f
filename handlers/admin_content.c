/*
 * admin_content — the catalogue the operators edit: scenes (with their thumbnails), credit
 * packages, prompt templates (with a preview) and AI models (model/catalog.h).
 *
 * For each <kind> of scenes, packages, prompt-templates and ai-models:
 * GET    /admin/<kind>?limit=&cursor= (viewer) → 200 {"items":[row],"next_cursor"}, newest
 *        first (model/catalog.h lists each row's fields)
 * GET    /admin/<kind>/:id (viewer) → 200 row; 404
 * POST   /admin/<kind> (operator) the row's fields (those required below) → 201 row
 * PUT    /admin/<kind>/:id (operator) any of the fields → 200 row; fields not given are kept;
 *        no field → 400
 * DELETE /admin/<kind>/:id (operator) → 200 the row: scenes and packages are deactivated
 *        ("active": false), prompt templates and AI models removed ("deleted": true)
 * Every write is audited (<kind>.create|update|delete, the row before and after); a change
 * of scenes is seen by GET /scenes at once (the scene cache moves on at the commit).  400
 * names the field; 404 unknown id; 503 database down.
 * The fields (* required on a creation):
 *   scenes    name* (1-64, not blank), category (≤ 32), description (≤ 1000),
 *             thumbnail_url (an http(s) URL or /media/… path, ≤ 1024), parameters (an object,
 *             ≤ 16 KiB), active, sort_order (±1000000)
 *   packages  name* (1-64), price_fen* (1-100000000), credits* (1-100000000),
 *             bonus_credits (0-100000000), active, sort_order
 *   prompt-templates  name* (1-64), type* (photography | fitting), scene_id (a scene, or
 *             null: the type's general template; unknown → 404), template* (1-4000 characters
 *             with {{name}} placeholders), negative_prompt (≤ 4000), active
 *   ai-models name* (1-64, unique → 409), provider* (an adapter of the dispatcher: openai,
 *             dashscope; the mode, sync or async, follows it), kind* (photography | fitting),
 *             endpoint* (an http(s) URL), api_key_env* (the NAME of the environment variable
 *             holding the key: [A-Z_][A-Z0-9_]*; a key is never stored or answered, and
 *             options may not carry one), model* (1-128), priority (0-1000000), weight
 *             (1-1000000), timeout_ms (1000-600000), poll_interval_ms (100-60000), options (an
 *             object of provider request fields, ≤ 8 KiB), active.  Each AI model row also
 *             answers "api_key_set": whether the workers' environment has that variable.
 * POST   /admin/scenes/:id/thumbnail (operator) an image as for POST /uploads (multipart
 *        field "file" or the raw body; JPEG, PNG or WebP, ≤ 10 MiB, ≤ 40 megapixels) → 200 the
 *        scene, its thumbnail_url now the image in the media store (audited scene.thumbnail).
 * POST   /admin/prompt-templates/:id/preview (viewer) {"scene_id"?, "params"?: object} → 200
 *        {"template_id","type","scene_id","prompt","negative_prompt","chosen"}: the template
 *        rendered exactly as a task of its type with that scene (default: the template's own)
 *        and params would send it (model/prompts.h); "chosen" says whether such a task would
 *        choose this template now.  An unknown or inactive scene → 404.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers/handlers.h"
#include "lib/crypto.h"
#include "lib/fields.h"
#include "lib/image.h"
#include "lib/jsonx.h"
#include "lib/media.h"
#include "model/catalog.h"
#include "model/prompts.h"
#include "model/scenes.h"
#include "service/aitest.h"

#define CONTENT_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A kind of the catalogue and what its routes need to know of it. */
struct content {
	enum catalog_kind kind;
	const char *name; /* in messages */
	const struct field *fields;
	size_t nfields;
	/* further checks of a body's checked fields (create: the whole row); may add fields;
	 * E_OK or the reply's error */
	enum api_err (*check)(struct request *req, struct reply *rep, json_object *clean,
	                      bool create);
	/* adds to a row what only this process knows (NULL: nothing) */
	void (*decorate)(json_object *row);
};

/* ------------------------------------------------------------------ the kinds */

static const char *const content_types[] = {"photography", "fitting", NULL};

/* A required text of lo..hi characters that check accepts (what says what it must be). */
#define CONTENT_TEXT(n, lo, hi, fn, msg)                                                     \
	{                                                                                    \
		.name = (n), .kind = FIELD_TEXT, .min = (lo), .max = (hi), .required = true, \
		.check = (fn), .what = (msg)                                                 \
	}
/* Every kind's name. */
#define CONTENT_NAME CONTENT_TEXT("name", 1, 64, fields_not_blank, "not blank")
/* A required choice among content_types. */
#define CONTENT_TYPE(n)                                                                 \
	{                                                                               \
		.name = (n), .kind = FIELD_TEXT, .min = 1, .max = 16, .required = true, \
		.choices = content_types                                                \
	}

/* An http(s) URL or a path of the media store (the demo scenes' /media/demo/…). */
static bool content_image_url(const char *s)
{
	return *s == '\0' || fields_url(s) ||
	       (strncmp(s, "/media/", 7) == 0 && strstr(s, "..") == NULL &&
	        strpbrk(s, " \"'\\<>") == NULL);
}

static const struct field content_scene_fields[] = {
    CONTENT_NAME,
    {.name = "category", .kind = FIELD_TEXT, .max = 32},
    {.name = "description", .kind = FIELD_TEXT, .max = 1000},
    {.name = "thumbnail_url",
     .kind = FIELD_TEXT,
     .max = 1024,
     .check = content_image_url,
     .what = "an http(s) URL or a /media/ path"},
    {.name = "parameters", .kind = FIELD_OBJECT, .max = 16384},
    {.name = "active", .kind = FIELD_BOOL},
    {.name = "sort_order", .kind = FIELD_INT, .min = -1000000, .max = 1000000},
};

static const struct field content_package_fields[] = {
    CONTENT_NAME,
    {.name = "price_fen", .kind = FIELD_INT, .min = 1, .max = 100000000, .required = true},
    {.name = "credits", .kind = FIELD_INT, .min = 1, .max = 100000000, .required = true},
    {.name = "bonus_credits", .kind = FIELD_INT, .min = 0, .max = 100000000},
    {.name = "active", .kind = FIELD_BOOL},
    {.name = "sort_order", .kind = FIELD_INT, .min = -1000000, .max = 1000000},
};

static const struct field content_template_fields[] = {
    CONTENT_NAME,
    CONTENT_TYPE("type"),
    {.name = "scene_id", .kind = FIELD_INT, .min = 1, .max = 9007199254740991LL, .nullable = true},
    CONTENT_TEXT("template", 1, 4000, fields_not_blank, "not blank"),
    {.name = "negative_prompt", .kind = FIELD_TEXT, .max = 4000},
    {.name = "active", .kind = FIELD_BOOL},
};

/* A provider the dispatcher has an adapter for. */
static bool content_provider(const char *s)
{
	return aitest_mode(s) != NULL;
}

static const struct field content_model_fields[] = {
    CONTENT_NAME,
    CONTENT_TEXT("provider", 1, 32, content_provider,
                 "openai or dashscope (an adapter of the dispatcher)"),
    CONTENT_TYPE("kind"),
    CONTENT_TEXT("endpoint", 1, 1024, fields_url, "an http(s) URL"),
    CONTENT_TEXT("api_key_env", 1, 128, fields_env_name,
                 "the NAME of an environment variable ([A-Z_][A-Z0-9_]*), never a key"),
    CONTENT_TEXT("model", 1, 128, fields_not_blank, "not blank"),
    {.name = "priority", .kind = FIELD_INT, .min = 0, .max = 1000000},
    {.name = "weight", .kind = FIELD_INT, .min = 1, .max = 1000000},
    {.name = "timeout_ms", .kind = FIELD_INT, .min = 1000, .max = 600000},
    {.name = "poll_interval_ms", .kind = FIELD_INT, .min = 100, .max = 60000},
    {.name = "options", .kind = FIELD_OBJECT, .max = 8192},
    {.name = "active", .kind = FIELD_BOOL},
};

/* A template's scene must exist (a missing one would be a foreign-key 404 of the template). */
static enum api_err content_template_check(struct request *req, struct reply *rep,
                                           json_object *clean, bool create)
{
	json_object *v;
	char *json;
	enum api_err err;

	(void)create;
	if (!json_object_object_get_ex(clean, "scene_id", &v) || v == NULL)
		return E_OK;
	err = catalog_get(req->arena, CATALOG_SCENES, json_object_get_int64(v), &json);
	return err == E_NOT_FOUND ? reply_error(rep, err, "scene_id: no such scene") : err;
}

/* A member name of options that would hold a secret. */
static bool content_secret_name(const char *k)
{
	static const char *const words[] = {"key", "secret", "token", "password", "authorization"};

	for (size_t i = 0; i < CONTENT_LEN(words); i++)
		if (strcasestr(k, words[i]) != NULL)
			return true;
	return false;
}

/* The mode follows the provider's adapter; options never carry a key. */
static enum api_err content_model_check(struct request *req, struct reply *rep, json_object *clean,
                                        bool create)
{
	json_object *v;

	(void)create;
	if (json_object_object_get_ex(clean, "provider", &v))
		json_object_object_add(
		    clean, "mode", json_object_new_string(aitest_mode(json_object_get_string(v))));
	if (json_object_object_get_ex(clean, "options", &v)) {
		json_object_object_foreach(v, k, val)
		{
			(void)val;
			if (content_secret_name(k))
				return reply_error(
				    rep, E_BAD_REQUEST,
				    arena_printf(req->arena,
				                 "options.%s: a key is never stored here: name its "
				                 "environment variable in api_key_env",
				                 k));
		}
	}
	return E_OK;
}

/* "api_key_set": whether this process's environment holds the model's key (never the key). */
static void content_model_decorate(json_object *row)
{
	json_object *v;
	const char *key = NULL;

	if (json_object_object_get_ex(row, "api_key_env", &v))
		key = getenv(json_object_get_string(v));
	json_object_object_add(row, "api_key_set", json_object_new_boolean(key && *key));
}

static const struct content content_scenes = {
    CATALOG_SCENES, "scene", content_scene_fields, CONTENT_LEN(content_scene_fields), NULL, NULL};
static const struct content content_packages = {CATALOG_PACKAGES,
                                                "package",
                                                content_package_fields,
                                                CONTENT_LEN(content_package_fields),
                                                NULL,
                                                NULL};
static const struct content content_templates = {
    CATALOG_TEMPLATES,       "prompt template",
    content_template_fields, CONTENT_LEN(content_template_fields),
    content_template_check,  NULL};
static const struct content content_models = {
    CATALOG_MODELS,       "AI model",
    content_model_fields, CONTENT_LEN(content_model_fields),
    content_model_check,  content_model_decorate};

/* ------------------------------------------------------------------ the routes of every kind */

/* A row's JSON text as the answer, decorated. */
static json_object *content_row(const struct content *c, const char *json)
{
	json_object *o = jsonx_parse_or_empty(json);

	if (c->decorate != NULL)
		c->decorate(o);
	return o;
}

/* The reply of a model error: what is missing or taken, said for the kind. */
static enum api_err content_failed(struct request *req, struct reply *rep, const struct content *c,
                                   enum api_err err)
{
	if (err == E_NOT_FOUND)
		return reply_error(rep, err, arena_printf(req->arena, "no such %s", c->name));
	if (err == E_CONFLICT)
		return reply_error(rep, err, "name: taken (名称已存在)");
	return err;
}

static enum api_err content_list(struct request *req, struct reply *rep, const struct content *c)
{
	struct view_cursor cur;
	struct view_page pg;
	json_object *items;
	enum api_err err;

	if ((err = handlers_view_cursor(req, rep, &cur)) != E_OK ||
	    (err = catalog_list(req->arena, c->kind, &cur, &pg)) != E_OK)
		return err;
	items = json_object_new_array_ext((int)pg.n);
	for (size_t i = 0; i < pg.n; i++)
		json_object_array_add(items, content_row(c, pg.rows[i]));
	return reply_ok(rep, 200, handlers_page(req, items, pg.more && pg.n > 0, pg.last_id));
}

static enum api_err content_get(struct request *req, struct reply *rep, const struct content *c)
{
	int64_t id;
	char *json;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK)
		return err;
	if ((err = catalog_get(req->arena, c->kind, id, &json)) != E_OK)
		return content_failed(req, rep, c, err);
	return reply_ok(rep, 200, content_row(c, json));
}

/* The body's fields for a creation (whole) or an update: E_OK with *clean (the caller puts
 * it), or the reply's error. */
static enum api_err content_fields(struct request *req, struct reply *rep, const struct content *c,
                                   bool create, json_object **clean)
{
	const char *why = NULL;
	enum api_err err =
	    fields_check(req->arena, req->json, c->fields, c->nfields, create, false, clean, &why);

	if (err != E_OK)
		return reply_error(rep, err, why);
	if (!create && json_object_object_length(*clean) == 0)
		err = reply_error(rep, E_BAD_REQUEST, "body: no field to change");
	else if (c->check != NULL)
		err = c->check(req, rep, *clean, create);
	if (err != E_OK) {
		json_object_put(*clean);
		*clean = NULL;
	}
	return err;
}

static enum api_err content_create(struct request *req, struct reply *rep, const struct content *c)
{
	struct audit_actor who = handlers_actor(req);
	json_object *clean;
	char *json;
	enum api_err err;

	if ((err = content_fields(req, rep, c, true, &clean)) != E_OK)
		return err;
	err = catalog_create(req->arena, &who, c->kind, jsonx_text(req->arena, clean), &json);
	json_object_put(clean);
	if (err != E_OK)
		return content_failed(req, rep, c, err);
	return reply_ok(rep, 201, content_row(c, json));
}

static enum api_err content_update(struct request *req, struct reply *rep, const struct content *c)
{
	struct audit_actor who = handlers_actor(req);
	json_object *clean;
	int64_t id;
	char *json;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK ||
	    (err = content_fields(req, rep, c, false, &clean)) != E_OK)
		return err;
	err = catalog_update(req->arena, &who, c->kind, id, jsonx_text(req->arena, clean), &json);
	json_object_put(clean);
	if (err != E_OK)
		return content_failed(req, rep, c, err);
	return reply_ok(rep, 200, content_row(c, json));
}

static enum api_err content_delete(struct request *req, struct reply *rep, const struct content *c)
{
	struct audit_actor who = handlers_actor(req);
	int64_t id;
	char *json;
	json_object *o;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK)
		return err;
	if ((err = catalog_delete(req->arena, &who, c->kind, id, &json)) != E_OK)
		return content_failed(req, rep, c, err);
	o = content_row(c, json);
	if (c->kind == CATALOG_TEMPLATES || c->kind == CATALOG_MODELS)
		json_object_object_add(o, "deleted", json_object_new_boolean(true));
	return reply_ok(rep, 200, o);
}

/* The five handlers of a kind, each the generic one for its struct content. */
#define CONTENT_HANDLERS(k)                                                    \
	static enum api_err k##_list(struct request *req, struct reply *rep)   \
	{                                                                      \
		return content_list(req, rep, &content_##k);                   \
	}                                                                      \
	static enum api_err k##_get(struct request *req, struct reply *rep)    \
	{                                                                      \
		return content_get(req, rep, &content_##k);                    \
	}                                                                      \
	static enum api_err k##_create(struct request *req, struct reply *rep) \
	{                                                                      \
		return content_create(req, rep, &content_##k);                 \
	}                                                                      \
	static enum api_err k##_update(struct request *req, struct reply *rep) \
	{                                                                      \
		return content_update(req, rep, &content_##k);                 \
	}                                                                      \
	static enum api_err k##_delete(struct request *req, struct reply *rep) \
	{                                                                      \
		return content_delete(req, rep, &content_##k);                 \
	}

CONTENT_HANDLERS(scenes)
CONTENT_HANDLERS(packages)
CONTENT_HANDLERS(templates)
CONTENT_HANDLERS(models)

/* ------------------------------------------------------------------ thumbnails and previews */

static enum api_err scenes_thumbnail(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	const unsigned char *data = NULL;
	size_t len = 0;
	struct image_info info;
	char sha[65], *json;
	const char *key;
	int64_t id;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK)
		return err;
	if ((err = catalog_get(req->arena, CATALOG_SCENES, id, &json)) != E_OK)
		return content_failed(req, rep, &content_scenes, err);
	if ((err = uploads_image(req, rep, &data, &len, &info)) != E_OK)
		return err;
	crypto_sha256_hex(data, len, sha);
	if ((err = media_store_hashed(req->arena, data, len, info.ext, sha, &key)) != E_OK)
		return err;
	err = catalog_scene_thumbnail(req->arena, &who, id, media_url(req->arena, key), &json);
	if (err != E_OK)
		return content_failed(req, rep, &content_scenes, err);
	return reply_ok(rep, 200, content_row(&content_scenes, json));
}

static enum api_err templates_preview(struct request *req, struct reply *rep)
{
	struct arena *a = req->arena;
	const char *why = NULL, *type = NULL;
	struct scene scene = {0};
	struct prompt_pair pp;
	json_object *params = NULL, *o;
	int64_t id, own = 0, scene_id = 0;
	bool chosen = false;
	enum api_err err;

	if ((err = handlers_id_object(req, rep, true, &id)) != E_OK)
		return err;
	if ((err = jsonx_int(a, req->json, "scene_id", false, 1, 9007199254740991LL, &scene_id,
	                     &why)) != E_OK ||
	    (err = jsonx_object(a, req->json, "params", false, &params, &why)) != E_OK)
		return reply_error(rep, err, why);
	if ((err = prompts_template_scene(a, id, &type, &own)) != E_OK)
		return content_failed(req, rep, &content_templates, err);
	if (scene_id == 0)
		scene_id = own;
	if (scene_id > 0 && (err = scenes_get_active(a, scene_id, &scene)) != E_OK)
		return err == E_NOT_FOUND ? reply_error(rep, err, "scene_id: no such active scene")
		                          : err;
	err = prompts_preview(a, id, scene_id > 0 ? &scene : NULL, params, &pp, &chosen);
	if (err != E_OK)
		return content_failed(req, rep, &content_templates, err);
	o = json_object_new_object();
	json_object_object_add(o, "template_id", json_object_new_int64(id));
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "scene_id",
	                       scene_id > 0 ? json_object_new_int64(scene_id) : NULL);
	json_object_object_add(o, "prompt", json_object_new_string(pp.prompt));
	json_object_object_add(o, "negative_prompt", json_object_new_string(pp.negative));
	json_object_object_add(o, "chosen", json_object_new_boolean(chosen));
	return reply_ok(rep, 200, o);
}

/* ------------------------------------------------------------------ the table */

/* A row's body: its largest field (a scene's parameters) with room to spare. */
#define CONTENT_MAX_BODY 32768

/* The five routes of kind k under /admin/<path> (`aiphotoctl routes` lists them all). */
#define CONTENT_ROUTES(k, path)                                                              \
	{.method = HTTP_GET,                                                                 \
	 .pattern = "/admin/" path,                                                          \
	 .auth = AUTH_ADMIN,                                                                 \
	 .role = ROLE_VIEWER,                                                                \
	 .handler = k##_list},                                                               \
	    {.method = HTTP_POST,                                                            \
	     .pattern = "/admin/" path,                                                      \
	     .auth = AUTH_ADMIN,                                                             \
	     .role = ROLE_OPERATOR,                                                          \
	     .body = BODY_JSON,                                                              \
	     .max_body = CONTENT_MAX_BODY,                                                   \
	     .handler = k##_create},                                                         \
	    {.method = HTTP_GET,                                                             \
	     .pattern = "/admin/" path "/:id",                                               \
	     .auth = AUTH_ADMIN,                                                             \
	     .role = ROLE_VIEWER,                                                            \
	     .handler = k##_get},                                                            \
	    {.method = HTTP_PUT,                                                             \
	     .pattern = "/admin/" path "/:id",                                               \
	     .auth = AUTH_ADMIN,                                                             \
	     .role = ROLE_OPERATOR,                                                          \
	     .body = BODY_JSON,                                                              \
	     .max_body = CONTENT_MAX_BODY,                                                   \
	     .handler = k##_update},                                                         \
	{                                                                                    \
		.method = HTTP_DELETE, .pattern = "/admin/" path "/:id", .auth = AUTH_ADMIN, \
		.role = ROLE_OPERATOR, .handler = k##_delete                                 \
	}

static const struct route admin_content_list[] = {
    CONTENT_ROUTES(scenes, "scenes"),
    CONTENT_ROUTES(packages, "packages"),
    CONTENT_ROUTES(templates, "prompt-templates"),
    CONTENT_ROUTES(models, "ai-models"),
    {.method = HTTP_POST,
     .pattern = "/admin/scenes/:id/thumbnail",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_RAW,
     .max_body = IMAGE_MAX_BYTES + 64 * 1024,
     .handler = scenes_thumbnail},
    {.method = HTTP_POST,
     .pattern = "/admin/prompt-templates/:id/preview",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .body = BODY_JSON_OPTIONAL,
     .max_body = 8192,
     .handler = templates_preview},
};

ROUTE_TABLE(admin_content_routes, admin_content_list);
