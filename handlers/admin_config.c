/*
 * admin_config — the system_config documents (lib/sysconfig.h: pricing, checkin, invite,
 * notify, backend_config, content_check).
 *
 * GET /admin/config (viewer) → 200 {"items":[{"key","value","updated_by","updated_at"}]}: every
 *     key the admin API edits, in the table's order ("value" null for a key not stored yet).
 * GET /admin/config/:key (viewer) → 200 {"key","value","updated_by","updated_at"}; a key the
 *     table does not name → 404; one not stored yet → 200 with "value" null.
 * PUT /admin/config/:key (operator) the whole document (a JSON object) → 200 as GET: checked
 *     against the key's fields (every required one, none unknown, each bounded: 400 names
 *     the field), stored whole and audited (config.update, before and after).  The next
 *     request that reads it sees it (nothing caches a document).
 * 503 database down.
 */
#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "lib/sysconfig.h"
#include "model/system.h"

/* The view of key k; a key without a row reads {"key", "value": null, …}. */
static enum api_err config_view(struct request *req, const struct sysconfig_key *k,
                                json_object **out)
{
	char *json = NULL;
	enum api_err err = system_config_view(req->arena, k->key, &json);

	if (err == E_NOT_FOUND) {
		*out = json_object_new_object();
		json_object_object_add(*out, "key", json_object_new_string(k->key));
		json_object_object_add(*out, "value", NULL);
		json_object_object_add(*out, "updated_by", NULL);
		json_object_object_add(*out, "updated_at", NULL);
		return E_OK;
	}
	*out = err == E_OK ? jsonx_parse_or_empty(json) : NULL;
	return err;
}

/* The key of the path, from the table; E_NOT_FOUND for any other. */
static enum api_err config_key(struct request *req, struct reply *rep,
                               const struct sysconfig_key **k)
{
	*k = req->ncaptures > 0 ? sysconfig_find(req->captures[0]) : NULL;
	if (*k == NULL)
		return reply_error(
		    rep, E_NOT_FOUND,
		    "key: pricing, checkin, invite, notify, backend_config or content_check");
	return E_OK;
}

static enum api_err config_list_get(struct request *req, struct reply *rep)
{
	json_object *items = json_object_new_array(), *o, *v;
	enum api_err err;

	for (size_t i = 0; i < sysconfig_nkeys; i++) {
		if ((err = config_view(req, &sysconfig_keys[i], &v)) != E_OK) {
			json_object_put(items);
			return err;
		}
		json_object_array_add(items, v);
	}
	o = json_object_new_object();
	json_object_object_add(o, "items", items);
	return reply_ok(rep, 200, o);
}

static enum api_err config_item_get(struct request *req, struct reply *rep)
{
	const struct sysconfig_key *k;
	json_object *v;
	enum api_err err;

	if ((err = config_key(req, rep, &k)) != E_OK || (err = config_view(req, k, &v)) != E_OK)
		return err;
	return reply_ok(rep, 200, v);
}

static enum api_err config_item_put(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	const struct sysconfig_key *k;
	const char *why = NULL;
	json_object *clean = NULL;
	char *json;
	enum api_err err;

	if ((err = config_key(req, rep, &k)) != E_OK)
		return err;
	if ((err = sysconfig_check(req->arena, k, req->json, config_get()->development, &clean,
	                           &why)) != E_OK)
		return reply_error(rep, err, why);
	err = system_config_put(req->arena, &who, k->key, jsonx_text(req->arena, clean), &json);
	json_object_put(clean);
	if (err != E_OK)
		return err;
	return reply_ok(rep, 200, jsonx_parse_or_empty(json));
}

static const struct route admin_config_list[] = {
    {.method = HTTP_GET,
     .pattern = "/admin/config",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = config_list_get},
    {.method = HTTP_GET,
     .pattern = "/admin/config/:key",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = config_item_get},
    {.method = HTTP_PUT,
     .pattern = "/admin/config/:key",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_JSON,
     /* the gray release's lists: 2 × 10000 openids */
     .max_body = 1024 * 1024,
     .handler = config_item_put},
};

ROUTE_TABLE(admin_config_routes, admin_config_list);
