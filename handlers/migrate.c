/*
 * migrate — the WeChat cloud database moving in over HTTP: what seed 000's data-migration.js
 * cloud function posts (docs/migration.md "Data in and out"), applied by the same model code
 * as `aiphotoctl import` (model/legacy.h says what happens to each document).
 *
 * POST /admin/migrate/:collection (admin, least role operator: it sets balances as an
 *   unlimited credit adjustment does) — collection users, works, scenes or orders; body
 *   ≤ MIGRATE_MAX_BODY (8 MiB) application/json: {"data":[document…]} (what the cloud function
 *   posts) or a bare [document…]
 *   → 200 {"inserted","updated","skipped","malformed":[{"index","_id","reason"}],
 *          "rejected":[{"index","_id","reason"}]}: index is the document's place in the array
 *          (from 0), _id null when it has none; malformed and rejected documents are skipped,
 *          the rest applied.
 *   Each batch that changed something is one row of the admin audit log (collection.import,
 *   model/legacy.h).
 *   No token → 401; a user token or a role below operator → 403; another collection → 404;
 *   a body that is not such an array → 400; over 8 MiB → 413; WECHAT_MP_APPID unset (users,
 *   works, orders) or the database down → 503 (the batches of LEGACY_BATCH documents applied
 *   before stay applied, and posting the same body again skips them).
 */
#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "model/legacy.h"
#include "model/scenes.h"

#define MIGRATE_MAX_BODY (8 * 1024 * 1024)

struct migrate_lists {
	json_object *malformed, *rejected;
};

static void migrate_note(void *ctx, const struct legacy_note *n)
{
	struct migrate_lists *l = ctx;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "index", json_object_new_int64(n->index));
	json_object_object_add(o, "_id", jsonx_str_or_null(n->id));
	json_object_object_add(o, "reason", json_object_new_string(n->reason));
	json_object_array_add(n->malformed ? l->malformed : l->rejected, o);
}

static enum api_err migrate_post(struct request *req, struct reply *rep)
{
	enum clouddoc_kind kind = clouddoc_kind_parse(req->captures[0]);
	const char *appid = config_get()->wechat_mp_appid;
	struct migrate_lists lists = {NULL, NULL};
	struct legacy_sink sink = {.note = migrate_note, .ctx = &lists, .index_name = "index"};
	struct audit_actor who = handlers_actor(req);
	struct legacy_import *imp = NULL;
	const struct legacy_counts *c;
	json_object *docs = req->json, *o;
	enum api_err err;
	size_t n;

	if (kind == CLOUDDOC__MAX)
		return reply_error(rep, E_NOT_FOUND, "collection: users, works, scenes or orders");
	if (json_object_is_type(docs, json_type_object) &&
	    !json_object_object_get_ex(req->json, "data", &docs))
		docs = NULL;
	if (!json_object_is_type(docs, json_type_array))
		return reply_error(rep, E_BAD_REQUEST, "data: must be an array of documents");
	if (appid == NULL && kind != CLOUDDOC_SCENES)
		return reply_error(rep, E_UNAVAILABLE, "WECHAT_MP_APPID is not configured");
	lists.malformed = json_object_new_array();
	lists.rejected = json_object_new_array();
	imp = legacy_import_new(kind, appid, &who, &sink);
	n = json_object_array_length(docs);
	err = E_OK;
	for (size_t i = 0; i < n && err == E_OK; i++)
		err = legacy_import_add(imp, (long)i, json_object_array_get_idx(docs, i));
	if (err == E_OK)
		err = legacy_import_finish(imp);
	c = legacy_import_counts(imp);
	if (err != E_OK)
		goto out;
	if (kind == CLOUDDOC_SCENES && c->inserted + c->updated > 0 &&
	    scenes_cache_invalidate(NULL) != E_OK)
		log_warn("migrate scenes: the scene cache stays until it expires");
	o = json_object_new_object();
	json_object_object_add(o, "inserted", json_object_new_int64((int64_t)c->inserted));
	json_object_object_add(o, "updated", json_object_new_int64((int64_t)c->updated));
	json_object_object_add(o, "skipped", json_object_new_int64((int64_t)c->skipped));
	json_object_object_add(o, "malformed", lists.malformed);
	json_object_object_add(o, "rejected", lists.rejected);
	lists.malformed = lists.rejected = NULL;
	err = reply_ok(rep, 200, o);
out:
	json_object_put(lists.malformed);
	json_object_put(lists.rejected);
	legacy_import_free(imp);
	return err;
}

static const struct route migrate_list[] = {
    {.method = HTTP_POST,
     .pattern = "/admin/migrate/:collection",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_JSON,
     .max_body = MIGRATE_MAX_BODY,
     .handler = migrate_post},
};

ROUTE_TABLE(migrate_routes, migrate_list);
