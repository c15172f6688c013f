/*
 * cloud — the WeChat Cloud Development functions, answered by this server, so a mini program
 * whose pages call wx.cloud.callFunction through seed 000's api-adapter.js moves over without
 * changing a page (docs/migration.md).
 *
 * Paths (all POST; the body is the cloud event {"action", …}; Authorization: Bearer <token>):
 *   /api/<function>/<action>        the adapter's fallback, e.g. /api/payment/createOrder
 *   /api/auth/register … /api/works the adapter's own mapped paths (cloud_paths below), and
 *                                   /api/auth/wechat, the login path of seed 000's notes
 *   /api/v1/cloud/:function         the function by name, the action in the body
 * One table (cloud_actions) maps (function, action) to a route of the API and two
 * translators: the event → that route's method, path, query and body; the route's answer →
 * the document the cloud function returned (seed 001's collections: `_id` strings,
 * `user_openid`, `images`, `is_favorite`, `created_at`).  The route runs through
 * router_dispatch like any request, so authentication, the account rule, rate limits,
 * idempotency (an Idempotency-Key header is passed on) and validation are the API's own.
 *
 * Answers: 200 {"success":true,"data":…}; a failure keeps the API's status and envelope
 * {"success":false,"code","message"} (no token → 401, another user's id → 404, short
 * balance → 402, …).  An unknown function or action → 400 {"success":false,
 * "code":"BAD_REQUEST","message":"未知操作"}.  Event fields accept the cloud spellings and the
 * API's (sceneId or scene_id, workId or id or _id, …); ids may be numbers or decimal strings.
 *
 * storage/registerAsset {"fileID", "sha256"?} registers a file of the mini program's cloud
 * storage as the caller's asset (POST /assets/cloud); storage/resolveAsset {"fileID"} or
 * {"sha256"} answers that asset, or null data when the caller has none (a question, not a
 * failure).  Generation takes such a file by its cloud:// id.
 *
 * user/register takes {"code", "nickName"|"nickname"?, "avatarUrl"|"avatar_url"?,
 * "userInfo"?:{…}}: wx.login's code runs through /auth/mp/login (jscode2session), profile
 * fields through PATCH /user/me; the answer is the user document plus "token" and
 * "expires_in", the token the adapter keeps as server_token.  Without a code, a valid token
 * answers the same with a fresh token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/router.h"
#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "model/identities.h"

#define CLOUD_MAX_BODY (64 * 1024)
#define CLOUD_UNKNOWN "未知操作"

/* The request an event becomes (below /api/v1). */
struct cloud_call {
	enum http_method method;
	const char *path;
	struct query_param params[4];
	size_t nparams;
	json_object *body; /* owned; NULL: no body */
	const char *authorization; /* NULL: the caller's */
};

/* One cloud call in progress. */
struct cloud_ctx {
	struct request *req;
	json_object *ev; /* the event (the request's body) */
	int64_t user_id; /* the user the last routed request authenticated, 0 = none */
	enum token_channel channel; /* the channel of that request's token */
	const char *openid; /* that user's mini-program openid, looked up once ("" = none) */
};

/* The cloud document for the route's answer (data is borrowed; a new reference back). */
typedef json_object *cloud_out_fn(struct cloud_ctx *cx, json_object *data);
/* Answers rep from the route's answer when one call is not enough (user/register). */
typedef enum api_err cloud_finish_fn(struct cloud_ctx *cx, json_object *data, struct reply *rep);

/* How an event field reaches the route. */
enum cloud_kind {
	CLOUD_VALUE, /* into the body as it is */
	CLOUD_ID, /* into the body; a decimal string becomes a number */
	CLOUD_IDS, /* into the body; an array, each decimal string a number */
	CLOUD_QUERY /* a query parameter; must be a string */
};

/* An event field: the route's name for it and the event's spellings (the first named in
 * error messages). */
struct cloud_field {
	const char *key;
	const char *const *names;
	enum cloud_kind kind;
};

#define CLOUD_MAX_FIELDS 4

/*
 * An action: the route it runs and how the event becomes that route's request.  path is below
 * /api/v1; with id set it has one "%lld", filled from the event's id (required).  POST and
 * PATCH routes get a JSON body of the fields (an empty object when none is sent); GET routes
 * get them as query parameters, plus paging (pageSize → limit, last_id → cursor) when paged,
 * and kind= when kind is set.
 */
struct cloud_action {
	const char *function, *action;
	enum http_method method;
	const char *path;
	const char *const *id;
	struct cloud_field fields[CLOUD_MAX_FIELDS];
	bool paged;
	bool profile; /* the body is the event's profile fields (at least one) */
	bool by_hash; /* an event with a hash and no file id asks GET /assets/<sha256> */
	bool missing_is_null; /* 404 answers success with null data (a "do you have it?") */
	const char *kind;
	cloud_out_fn *out; /* NULL: the route's data as it is */
	cloud_finish_fn *finish; /* instead of out */
};

static cloud_finish_fn cloud_register;

/* ---- events ---------------------------------------------------------------------------- */

/* The first of names present in the event (and not null), or NULL. */
static json_object *cloud_field(const struct cloud_ctx *cx, const char *const *names)
{
	json_object *v;

	for (; *names != NULL; names++)
		if (json_object_object_get_ex(cx->ev, *names, &v) && v != NULL)
			return v;
	return NULL;
}

/* An id given as a positive integer or a decimal string; false otherwise. */
static bool cloud_id_value(json_object *v, int64_t *id)
{
	char *end;
	long long n;

	if (json_object_is_type(v, json_type_int)) {
		*id = json_object_get_int64(v);
		return *id > 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return false;
	{
		const char *s = json_object_get_string(v);
		if (*s < '0' || *s > '9' || strlen(s) > 19)
			return false;
		n = strtoll(s, &end, 10);
		if (*end != '\0' || n <= 0)
			return false;
		*id = n;
	}
	return true;
}

/* A required id field; *why names the first spelling. */
static enum api_err cloud_id(struct cloud_ctx *cx, const char *const *names, int64_t *id,
                             const char **why)
{
	json_object *v = cloud_field(cx, names);

	if (v == NULL || !cloud_id_value(v, id)) {
		*why = arena_printf(cx->req->arena, "%s: an id is required", names[0]);
		return E_BAD_REQUEST;
	}
	return E_OK;
}

/* v as the API takes an id: a decimal string becomes a number, anything else (a cloud://
 * file id, a wrong type) passes unchanged, so the route names the field. */
static json_object *cloud_id_json(json_object *v)
{
	int64_t id;

	if (cloud_id_value(v, &id))
		return json_object_new_int64(id);
	return json_object_get(v);
}

static void cloud_param(struct cloud_ctx *cx, struct cloud_call *c, const char *name,
                        const char *value)
{
	if (c->nparams < sizeof(c->params) / sizeof(c->params[0]))
		c->params[c->nparams++] = (struct query_param){
		    .name = name, .value = arena_strdup(cx->req->arena, value)};
}

/* The cloud paging fields: pageSize (1-50, larger asks are served 50 at a time, as the
 * cloud database served at most 100) and last_id (the last _id of the previous page). */
static enum api_err cloud_paging(struct cloud_ctx *cx, struct cloud_call *c, const char **why)
{
	static const char *const size[] = {"pageSize", "page_size", "limit", NULL};
	static const char *const last[] = {"last_id", "lastId", "cursor", NULL};
	json_object *v = cloud_field(cx, size);
	int64_t n = 12, id;
	char buf[24];

	if (v != NULL) {
		if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 1) {
			*why = "pageSize: a positive integer";
			return E_BAD_REQUEST;
		}
		if (n > 50)
			n = 50;
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)n);
	cloud_param(cx, c, "limit", buf);
	if ((v = cloud_field(cx, last)) != NULL) {
		if (!cloud_id_value(v, &id)) {
			*why = "last_id: the _id of the last item of the previous page";
			return E_BAD_REQUEST;
		}
		snprintf(buf, sizeof(buf), "%lld", (long long)id);
		cloud_param(cx, c, "cursor", buf);
	}
	return E_OK;
}

/* ---- documents ------------------------------------------------------------------------- */

static json_object *cloud_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/* Copies o[key] into doc (null when absent). */
static void cloud_keep(json_object *doc, json_object *o, const char *key)
{
	json_object_object_add(doc, key, json_object_get(cloud_get(o, key)));
}

/* o[key], an integer id, as a cloud _id string (null when absent or null). */
static json_object *cloud_sid(json_object *o, const char *key)
{
	json_object *v = cloud_get(o, key);

	if (v == NULL || json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_new_string(json_object_get_string(v));
}

/* The mini-program openid of the routed request's user, or NULL. */
static const char *cloud_openid(struct cloud_ctx *cx)
{
	if (cx->openid == NULL) {
		const char *appid = config_get()->wechat_mp_appid;
		const char *o = NULL;
		if (cx->user_id <= 0 || appid == NULL || *appid == '\0' ||
		    identities_openid(cx->req->arena, cx->user_id, appid, &o) != E_OK || o == NULL)
			o = "";
		cx->openid = o;
	}
	return *cx->openid ? cx->openid : NULL;
}

/* The cloud status of a work: pending, processing, completed, failed or canceled. */
static const char *cloud_work_status(const char *s)
{
	if (s == NULL)
		return "pending";
	if (strcmp(s, "succeeded") == 0)
		return "completed";
	if (strcmp(s, "running") == 0)
		return "processing";
	if (strcmp(s, "queued") == 0)
		return "pending";
	return s;
}

/* A User → the users collection's document. */
static json_object *cloud_user_doc(struct cloud_ctx *cx, json_object *u)
{
	json_object *d = json_object_new_object();
	static const char *const keep[] = {"nickname",    "avatar_url", "credits",
	                                   "invite_code", "created_at", "subscribed"};

	json_object_object_add(d, "_id", cloud_sid(u, "id"));
	json_object_object_add(d, "openid", jsonx_str_or_null(cloud_openid(cx)));
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		cloud_keep(d, u, keep[i]);
	return d;
}

/* A Work → the works collection's document. */
static json_object *cloud_work_doc(struct cloud_ctx *cx, json_object *w)
{
	json_object *d = json_object_new_object(), *images = json_object_new_array();
	json_object *img = cloud_get(w, "image_url");
	static const char *const keep[] = {"type",        "image_url",  "thumb_url",
	                                   "is_favorite", "created_at", "error"};

	json_object_object_add(d, "_id", cloud_sid(w, "id"));
	json_object_object_add(d, "user_openid", jsonx_str_or_null(cloud_openid(cx)));
	json_object_object_add(d, "task_id", cloud_sid(w, "task_id"));
	json_object_object_add(d, "scene_id", cloud_sid(w, "scene_id"));
	json_object_object_add(d, "status",
	                       json_object_new_string(cloud_work_status(
	                           json_object_get_string(cloud_get(w, "status")))));
	if (img != NULL && json_object_is_type(img, json_type_string))
		json_object_array_add(images, json_object_get(img));
	json_object_object_add(d, "images", images);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (cloud_get(w, keep[i]) != NULL)
			cloud_keep(d, w, keep[i]);
	return d;
}

/* A Task → the task document getProgress answered: the counts, a percentage, the finished
 * images so far and the works. */
static json_object *cloud_task_doc(struct cloud_ctx *cx, json_object *t)
{
	json_object *d = json_object_new_object(), *images = json_object_new_array();
	json_object *works = cloud_get(t, "works"), *docs = json_object_new_array();
	int64_t count = json_object_get_int64(cloud_get(t, "count"));
	int64_t ended = json_object_get_int64(cloud_get(t, "done")) +
	                json_object_get_int64(cloud_get(t, "failed")) +
	                json_object_get_int64(cloud_get(t, "canceled"));
	static const char *const keep[] = {
	    "type",       "status",     "count",           "done",
	    "failed",     "canceled",   "credits_charged", "credits_refunded",
	    "created_at", "finished_at"};

	json_object_object_add(d, "_id", cloud_sid(t, "id"));
	json_object_object_add(d, "task_id", cloud_sid(t, "id"));
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		cloud_keep(d, t, keep[i]);
	json_object_object_add(d, "progress",
	                       json_object_new_int64(count > 0 ? ended * 100 / count : 0));
	for (size_t i = 0; works != NULL && i < json_object_array_length(works); i++) {
		json_object *w = json_object_array_get_idx(works, i),
		            *img = cloud_get(w, "image_url");
		json_object_array_add(docs, cloud_work_doc(cx, w));
		if (img != NULL && json_object_is_type(img, json_type_string))
			json_object_array_add(images, json_object_get(img));
	}
	json_object_object_add(d, "images", images);
	json_object_object_add(d, "works", docs);
	return d;
}

/* Each item of a page ({"items","next_cursor"}) or a list, through doc. */
static json_object *cloud_list(struct cloud_ctx *cx, json_object *data,
                               json_object *(*doc)(struct cloud_ctx *, json_object *))
{
	json_object *items =
	    json_object_is_type(data, json_type_array) ? data : cloud_get(data, "items");
	size_t n = items != NULL ? json_object_array_length(items) : 0;
	json_object *arr = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, doc(cx, json_object_array_get_idx(items, i)));
	return arr;
}

/* An object with "id" → the same with "_id" (a string) first. */
static json_object *cloud_plain_doc(struct cloud_ctx *cx, json_object *o)
{
	json_object *d = json_object_new_object();

	(void)cx;
	json_object_object_add(d, "_id", cloud_sid(o, "id"));
	json_object_object_foreach(o, k, v)
	{
		if (strcmp(k, "id") != 0)
			json_object_object_add(d, k, json_object_get(v));
	}
	return d;
}

/* A package document: also its price in yuan, as the cloud collection kept it. */
static json_object *cloud_package_doc(struct cloud_ctx *cx, json_object *p)
{
	json_object *d = cloud_plain_doc(cx, p);

	json_object_object_add(
	    d, "price",
	    json_object_new_double((double)json_object_get_int64(cloud_get(p, "price_fen")) /
	                           100.0));
	return d;
}

static const char *const cloud_nick[] = {"nickName", "nickname", NULL};
static const char *const cloud_avatar[] = {"avatarUrl", "avatar_url", NULL};

/* ---- actions --------------------------------------------------------------------------- */

static json_object *cloud_out_user(struct cloud_ctx *cx, json_object *data)
{
	return cloud_user_doc(cx, data);
}

static json_object *cloud_out_work(struct cloud_ctx *cx, json_object *data)
{
	return cloud_work_doc(cx, data);
}

static json_object *cloud_out_works(struct cloud_ctx *cx, json_object *data)
{
	return cloud_list(cx, data, cloud_work_doc);
}

static json_object *cloud_out_task(struct cloud_ctx *cx, json_object *data)
{
	return cloud_task_doc(cx, data);
}

static json_object *cloud_out_deleted(struct cloud_ctx *cx, json_object *data)
{
	(void)cx;
	(void)data;
	return json_object_new_object();
}

static json_object *cloud_out_plain_list(struct cloud_ctx *cx, json_object *data)
{
	return cloud_list(cx, data, cloud_plain_doc);
}

static json_object *cloud_out_packages(struct cloud_ctx *cx, json_object *data)
{
	return cloud_list(cx, data, cloud_package_doc);
}

/* create-order's answer, plus the pay parameters under "payment" as the mini program's
 * wx.requestPayment({...data.payment}) takes them. */
static json_object *cloud_out_order(struct cloud_ctx *cx, json_object *data)
{
	json_object *d = json_object_get(data);

	(void)cx;
	json_object_object_add(d, "_id", json_object_get(cloud_get(data, "out_trade_no")));
	json_object_object_add(d, "payment", json_object_get(cloud_get(data, "pay_params")));
	return d;
}

/* An Asset → {_id, fileID, sha256, url, …}: the file the mini program may reuse. */
static json_object *cloud_out_asset(struct cloud_ctx *cx, json_object *data)
{
	json_object *d = json_object_new_object();

	(void)cx;
	json_object_object_add(d, "_id", cloud_sid(data, "asset_id"));
	json_object_object_add(d, "fileID", json_object_get(cloud_get(data, "cloud_file_id")));
	json_object_object_foreach(data, k, v)
	{
		if (strcmp(k, "asset_id") != 0 && strcmp(k, "cloud_file_id") != 0)
			json_object_object_add(d, k, json_object_get(v));
	}
	return d;
}

static const char *const cloud_work_ids[] = {"workId", "work_id", "id", "_id", NULL};
static const char *const cloud_task_ids[] = {"taskId", "task_id", "id", "_id", NULL};
static const char *const cloud_scene[] = {"sceneId", "scene_id", NULL};
static const char *const cloud_count[] = {"count", NULL};
static const char *const cloud_params[] = {"params", "parameters", NULL};
static const char *const cloud_code[] = {"code", NULL};
static const char *const cloud_tab[] = {"tab", NULL};
static const char *const cloud_fav[] = {"is_favorite", "isFavorite", "favorite", NULL};
static const char *const cloud_images[] = {"asset_ids", "assetIds", "imageIds", "images",
                                           "fileIDs",   "fileIds",  NULL};
static const char *const cloud_person[] = {"personImage",  "person_asset_id", "personAssetId",
                                           "person_image", "modelImage",      NULL};
static const char *const cloud_garment[] = {"garmentImage",
                                            "garment_asset_id",
                                            "garmentAssetId",
                                            "garment_image",
                                            "clothImage",
                                            "clothesImage",
                                            NULL};
static const char *const cloud_package[] = {"packageId", "package_id", NULL};
static const char *const cloud_category[] = {"category", NULL};
static const char *const cloud_type[] = {"type", NULL};
static const char *const cloud_file[] = {"fileID", "fileId", "file_id", "cloudPath", NULL};
static const char *const cloud_hash[] = {"sha256", "hash", "fileHash", NULL};

/* The action's name and the route it runs. */
#define CLOUD_ON(fn, act, m, p) .function = (fn), .action = (act), .method = (m), .path = (p)

static const struct cloud_action cloud_actions[] = {
    /* user/register: without a code, GET /user/me (cloud_prepare); with profile fields, a
     * PATCH /user/me after the login (cloud_register) */
    {CLOUD_ON("user", "register", HTTP_POST, "/auth/mp/login"),
     .fields = {{"code", cloud_code, CLOUD_VALUE}}, .finish = cloud_register},
    {CLOUD_ON("user", "getUserInfo", HTTP_GET, "/user/me"), .out = cloud_out_user},
    {CLOUD_ON("user", "updateUserInfo", HTTP_PATCH, "/user/me"), .profile = true,
     .out = cloud_out_user},
    {CLOUD_ON("api", "listWorks", HTTP_GET, "/works"), .fields = {{"tab", cloud_tab, CLOUD_QUERY}},
     .paged = true, .out = cloud_out_works},
    {CLOUD_ON("api", "getWorkList", HTTP_GET, "/works"),
     .fields = {{"tab", cloud_tab, CLOUD_QUERY}}, .paged = true, .out = cloud_out_works},
    {CLOUD_ON("api", "getWorkDetail", HTTP_GET, "/works/%lld"), .id = cloud_work_ids,
     .out = cloud_out_work},
    {CLOUD_ON("api", "deleteWork", HTTP_DELETE, "/works/%lld"), .id = cloud_work_ids,
     .out = cloud_out_deleted},
    {CLOUD_ON("api", "toggleFavorite", HTTP_POST, "/works/%lld/favorite"), .id = cloud_work_ids,
     .fields = {{"favorite", cloud_fav, CLOUD_VALUE}}, .out = cloud_out_work},
    {CLOUD_ON("api", "cancelTask", HTTP_POST, "/tasks/%lld/cancel"), .id = cloud_task_ids,
     .out = cloud_out_task},
    {CLOUD_ON("photography", "generate", HTTP_POST, "/tasks/photography"),
     .fields = {{"scene_id", cloud_scene, CLOUD_ID},
                {"asset_ids", cloud_images, CLOUD_IDS},
                {"count", cloud_count, CLOUD_VALUE},
                {"params", cloud_params, CLOUD_VALUE}},
     .out = cloud_out_task},
    {CLOUD_ON("photography", "getProgress", HTTP_GET, "/tasks/%lld"), .id = cloud_task_ids,
     .out = cloud_out_task},
    {CLOUD_ON("fitting", "generate", HTTP_POST, "/tasks/fitting"),
     .fields = {{"person_asset_id", cloud_person, CLOUD_ID},
                {"garment_asset_id", cloud_garment, CLOUD_ID},
                {"count", cloud_count, CLOUD_VALUE},
                {"params", cloud_params, CLOUD_VALUE}},
     .out = cloud_out_task},
    {CLOUD_ON("fitting", "getProgress", HTTP_GET, "/tasks/%lld"), .id = cloud_task_ids,
     .out = cloud_out_task},
    {CLOUD_ON("payment", "getPackages", HTTP_GET, "/credits/packages"), .out = cloud_out_packages},
    {CLOUD_ON("payment", "createOrder", HTTP_POST, "/payment/create-order"),
     .fields = {{"package_id", cloud_package, CLOUD_ID}}, .out = cloud_out_order},
    {CLOUD_ON("payment", "dailyCheckin", HTTP_POST, "/credits/checkin")},
    {CLOUD_ON("payment", "listRechargeRecords", HTTP_GET, "/credits/records"), .paged = true,
     .kind = "recharge", .out = cloud_out_plain_list},
    {CLOUD_ON("payment", "listConsumeRecords", HTTP_GET, "/credits/records"), .paged = true,
     .kind = "consume", .out = cloud_out_plain_list},
    {CLOUD_ON("scene", "getScenes", HTTP_GET, "/scenes"),
     .fields = {{"category", cloud_category, CLOUD_QUERY}}, .out = cloud_out_plain_list},
    {CLOUD_ON("storage", "registerAsset", HTTP_POST, "/assets/cloud"),
     .fields = {{"file_id", cloud_file, CLOUD_VALUE}, {"sha256", cloud_hash, CLOUD_VALUE}},
     .out = cloud_out_asset},
    {CLOUD_ON("storage", "resolveAsset", HTTP_GET, "/assets"),
     .fields = {{"cloud_file_id", cloud_file, CLOUD_QUERY}}, .by_hash = true,
     .missing_is_null = true, .out = cloud_out_asset},
    {CLOUD_ON("prompt", "generatePrompt", HTTP_POST, "/prompts/generate"),
     .fields = {{"type", cloud_type, CLOUD_VALUE},
                {"scene_id", cloud_scene, CLOUD_ID},
                {"params", cloud_params, CLOUD_VALUE}}},
};

/* One field of the event into the call (nothing when absent). */
static enum api_err cloud_apply(struct cloud_ctx *cx, struct cloud_call *c,
                                const struct cloud_field *f, const char **why)
{
	json_object *v = cloud_field(cx, f->names), *out;

	if (v == NULL)
		return E_OK;
	if (f->kind == CLOUD_QUERY) {
		if (!json_object_is_type(v, json_type_string)) {
			*why = arena_printf(cx->req->arena, "%s: a string", f->names[0]);
			return E_BAD_REQUEST;
		}
		cloud_param(cx, c, f->key, json_object_get_string(v));
		return E_OK;
	}
	if (f->kind == CLOUD_IDS && json_object_is_type(v, json_type_array)) {
		out = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(v); i++)
			json_object_array_add(out, cloud_id_json(json_object_array_get_idx(v, i)));
	} else if (f->kind == CLOUD_VALUE) {
		out = json_object_get(v);
	} else { /* an id, or a wrong type the route will name */
		out = cloud_id_json(v);
	}
	json_object_object_add(c->body, f->key, out);
	return E_OK;
}

static const struct cloud_field cloud_profile_fields[] = {
    {"nickname", cloud_nick, CLOUD_VALUE},
    {"avatar_url", cloud_avatar, CLOUD_VALUE},
};

/* Profile fields inside userInfo or at the top of the event (those win), as PATCH /user/me
 * takes them; NULL when there are none. */
static json_object *cloud_profile(struct cloud_ctx *cx)
{
	struct cloud_ctx inner = *cx;
	struct cloud_call c = {.body = json_object_new_object()};
	json_object *info = NULL;
	const char *why;

	if (json_object_object_get_ex(cx->ev, "userInfo", &info) &&
	    json_object_is_type(info, json_type_object)) {
		inner.ev = info;
		for (size_t i = 0; i < 2; i++)
			cloud_apply(&inner, &c, &cloud_profile_fields[i], &why);
	}
	for (size_t i = 0; i < 2; i++)
		cloud_apply(cx, &c, &cloud_profile_fields[i], &why);
	if (json_object_object_length(c.body) == 0) {
		json_object_put(c.body);
		return NULL;
	}
	return c.body;
}

/* The request an action makes of the event. */
static enum api_err cloud_prepare(struct cloud_ctx *cx, const struct cloud_action *a,
                                  struct cloud_call *c, const char **why)
{
	int64_t id = 0;
	enum api_err err;

	c->method = a->method;
	c->path = a->path;
	if (a->id != NULL) {
		if ((err = cloud_id(cx, a->id, &id, why)) != E_OK)
			return err;
		c->path = arena_printf(cx->req->arena, a->path, (long long)id);
	}
	if (a->method == HTTP_POST || a->method == HTTP_PATCH)
		c->body = json_object_new_object();
	if (a->finish == cloud_register && cloud_field(cx, cloud_code) == NULL) {
		c->method = HTTP_GET; /* a returning user without a code: the token decides */
		c->path = "/user/me";
		json_object_put(c->body);
		c->body = NULL;
		return E_OK;
	}
	if (a->by_hash && cloud_field(cx, a->fields[0].names) == NULL) {
		json_object *h = cloud_field(cx, cloud_hash);
		const char *hex = h != NULL && json_object_is_type(h, json_type_string)
		                      ? json_object_get_string(h)
		                      : "";
		if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) {
			*why = "fileID, or sha256: 64 lowercase hex digits";
			return E_BAD_REQUEST;
		}
		c->path = arena_printf(cx->req->arena, "%s/%s", a->path, hex);
		return E_OK;
	}
	for (size_t i = 0; i < CLOUD_MAX_FIELDS && a->fields[i].key != NULL; i++)
		if ((err = cloud_apply(cx, c, &a->fields[i], why)) != E_OK)
			return err;
	if (a->profile) {
		json_object_put(c->body);
		if ((c->body = cloud_profile(cx)) == NULL) {
			*why = "nickName or avatarUrl is required";
			return E_BAD_REQUEST;
		}
	}
	if (a->kind != NULL)
		cloud_param(cx, c, "kind", a->kind);
	return a->paged ? cloud_paging(cx, c, why) : E_OK;
}

/* The adapter's mapped paths (mapFunctionToEndpoint in seed 000), below /api. */
static const struct {
	const char *path, *function, *action;
} cloud_paths[] = {
    {"/auth/register", "user", "register"},
    {"/auth/wechat", "user", "register"},
    {"/users/me", "user", "getUserInfo"},
    {"/tasks/photography", "photography", "generate"},
    {"/tasks/progress", "photography", "getProgress"},
    {"/tasks/fitting", "fitting", "generate"},
    {"/works", "api", "getWorkList"},
    {"/works/favorite", "api", "toggleFavorite"},
    {"/credits/checkin", "payment", "dailyCheckin"},
    {"/credits/packages", "payment", "getPackages"},
};

/* ---- dispatch --------------------------------------------------------------------------- */

struct cloud_body {
	const char *p;
	size_t n, off;
};

static long cloud_read(void *ctx, char *buf, size_t n)
{
	struct cloud_body *b = ctx;

	if (n > b->n - b->off)
		n = b->n - b->off;
	memcpy(buf, b->p + b->off, n);
	b->off += n;
	return (long)n;
}

/* Runs c through the router as a request of its own (the caller's headers, address and
 * request id); its answer lands in out.  Remembers the user it authenticated. */
static enum api_err cloud_route(struct cloud_ctx *cx, const struct cloud_call *c, struct reply *out)
{
	struct request *req = cx->req, sub = {0};
	struct cloud_body b = {0};
	enum api_err err;

	sub.arena = req->arena;
	sub.env = req->env;
	sub.method = c->method;
	sub.method_name = http_method_name(c->method);
	sub.path = arena_printf(req->arena, ROUTER_PREFIX "%s", c->path);
	sub.query = "";
	sub.params = arena_alloc(req->arena, sizeof(c->params));
	memcpy(sub.params, c->params, sizeof(c->params));
	sub.nparams = c->nparams;
	sub.authorization = c->authorization ? c->authorization : req->authorization;
	sub.idempotency_key = req->idempotency_key;
	sub.remote_addr = req->remote_addr;
	sub.request_id = req->request_id;
	sub.content_length = 0;
	if (c->body != NULL) {
		b.p = jsonx_text(req->arena, c->body);
		b.n = strlen(b.p);
		sub.content_type = "application/json";
		sub.content_length = (long long)b.n;
		sub.read_body = cloud_read;
		sub.read_ctx = &b;
	}
	err = router_dispatch(router_tables, router_ntables, &sub, out);
	json_object_put(sub.json);
	if (sub.authenticated && !sub.admin) {
		if (sub.user_id != cx->user_id)
			cx->openid = NULL;
		cx->user_id = sub.user_id;
		cx->channel = sub.channel;
		req->user_id = sub.user_id; /* for the access log */
	}
	return err;
}

/* user/register after the login route answered {"token","expires_in","user"} (or, without a
 * code, GET /user/me answered the User): profile fields applied with the new token, then the
 * user document with "token" and "expires_in". */
static enum api_err cloud_register(struct cloud_ctx *cx, json_object *data, struct reply *rep)
{
	json_object *user = cloud_get(data, "user"), *tok = cloud_get(data, "token");
	json_object *profile = cloud_profile(cx), *doc;
	struct reply r2 = {0};
	enum api_err err;

	if (tok == NULL) { /* the User itself: a returning user with a valid token */
		user = data;
	} else {
		cx->user_id = json_object_get_int64(cloud_get(user, "id"));
		cx->openid = NULL;
		cx->req->user_id = cx->user_id; /* for the access log */
	}
	if (tok != NULL && profile != NULL) {
		struct cloud_call c = {.method = HTTP_PATCH, .path = "/user/me", .body = profile};
		c.authorization =
		    arena_printf(cx->req->arena, "Bearer %s", json_object_get_string(tok));
		err = cloud_route(cx, &c, &r2);
		json_object_put(profile);
		profile = NULL;
		if (err != E_OK) {
			json_object_put(r2.data);
			return reply_error(rep, err, r2.message);
		}
		user = r2.data;
	}
	json_object_put(profile);
	doc = cloud_user_doc(cx, user);
	if (tok != NULL) {
		json_object_object_add(doc, "token", json_object_get(tok));
		cloud_keep(doc, data, "expires_in");
		err = E_OK;
	} else {
		err = handlers_add_token(doc, cx->user_id, cx->channel); /* the token's own app */
	}
	json_object_put(r2.data);
	if (err != E_OK) {
		json_object_put(doc);
		return err;
	}
	return reply_ok(rep, 200, doc);
}

static const struct cloud_action *cloud_find(const char *function, const char *action)
{
	for (size_t i = 0; i < sizeof(cloud_actions) / sizeof(cloud_actions[0]); i++)
		if (strcmp(cloud_actions[i].function, function) == 0 &&
		    strcmp(cloud_actions[i].action, action) == 0)
			return &cloud_actions[i];
	return NULL;
}

/* Runs (function, action) with the request's event. */
static enum api_err cloud_run(struct request *req, struct reply *rep, const char *function,
                              const char *action)
{
	const struct cloud_action *a = function && action ? cloud_find(function, action) : NULL;
	struct cloud_ctx cx = {.req = req, .ev = req->json};
	struct cloud_call c = {0};
	struct reply sub = {0};
	const char *why = NULL;
	enum api_err err;

	if (a == NULL)
		return reply_error(rep, E_BAD_REQUEST, CLOUD_UNKNOWN);
	/* the access log names the action (the gray-release gates are read per action) */
	req->log_route = arena_printf(req->arena, "cloud %s.%s", a->function, a->action);
	if (cx.ev == NULL || !json_object_is_type(cx.ev, json_type_object))
		return reply_error(rep, E_BAD_REQUEST, "body: the cloud event, a JSON object");
	err = cloud_prepare(&cx, a, &c, &why);
	if (err != E_OK) {
		json_object_put(c.body);
		return reply_error(rep, err, why);
	}
	err = cloud_route(&cx, &c, &sub);
	json_object_put(c.body);
	if (err == E_NOT_FOUND && a->missing_is_null) {
		json_object_put(sub.data);
		return reply_ok(rep, 200, NULL);
	}
	if (err != E_OK) {
		rep->retry_after = sub.retry_after;
		json_object_put(sub.data);
		return reply_error(rep, err, sub.message);
	}
	if (a->finish != NULL)
		err = a->finish(&cx, sub.data, rep);
	else
		err =
		    reply_ok(rep, 200, a->out ? a->out(&cx, sub.data) : json_object_get(sub.data));
	json_object_put(sub.data);
	return err;
}

/* The event's action (a string), or NULL. */
static const char *cloud_event_action(const struct request *req)
{
	json_object *v;

	if (req->json == NULL || !json_object_object_get_ex(req->json, "action", &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* POST /api/v1/cloud/:function — the action in the event. */
static enum api_err cloud_named_post(struct request *req, struct reply *rep)
{
	return cloud_run(req, rep, req->captures[0], cloud_event_action(req));
}

/* POST /api/<path>: a mapped path of the adapter, else /api/<function>/<action>. */
static enum api_err cloud_path_post(struct request *req, struct reply *rep)
{
	const char *rest = req->path + sizeof(ROUTER_CLOUD_PREFIX) - 1;

	for (size_t i = 0; i < sizeof(cloud_paths) / sizeof(cloud_paths[0]); i++)
		if (strcmp(cloud_paths[i].path, rest) == 0)
			return cloud_run(req, rep, cloud_paths[i].function, cloud_paths[i].action);
	return cloud_run(req, rep, req->captures[0], req->ncaptures > 1 ? req->captures[1] : NULL);
}

/* Every cloud path: public at the router (each action's own route applies its auth), a JSON
 * event of at most 64 KiB, an Idempotency-Key passed on to the action's route. */
#define CLOUD_ROUTE(pat, fn, pfx)                                                                 \
	{                                                                                         \
		.method = HTTP_POST, .pattern = (pat), .auth = AUTH_PUBLIC, .body = BODY_JSON,    \
		.max_body = CLOUD_MAX_BODY, .handler = (fn), .idempotency = IDEMPOTENCY_OPTIONAL, \
		.prefix = (pfx)                                                                   \
	}

static const struct route cloud_list_routes[] = {
    CLOUD_ROUTE("/cloud/:function", cloud_named_post, ROUTE_V1),
    CLOUD_ROUTE("/:function/:action", cloud_path_post, ROUTE_CLOUD),
    CLOUD_ROUTE("/:path", cloud_path_post, ROUTE_CLOUD),
};

ROUTE_TABLE(cloud_routes, cloud_list_routes);
