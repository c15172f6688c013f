/*
 * admin_accounts — the admin accounts (an owner's business) and the audit log.
 *
 * GET  /admin/admins?limit=&cursor= (owner) → 200 {"items":[Admin],"next_cursor"}, newest
 *      first; Admin = {"id","username","role","disabled","last_login_at","session_version",
 *      "created_at"} (never a password hash).
 * POST /admin/admins (owner) {"username": 1-64 of [A-Za-z0-9_.@-], "password": 8-256 bytes,
 *      "role": owner|operator|support|viewer} → 201 Admin; the username taken (in any case)
 *      → 409.  Audited (admin.create).
 * PUT  /admin/admins/:id (owner) {"role"?, "disabled"?: bool} → 200 Admin; a new role or a
 *      disabling ends the admin's sessions at once (their tokens → 401); a change that would
 *      leave no active owner → 409; unknown id → 404.  Audited (admin.update).
 * GET  /admin/audit?admin=&action=&target_type=&target_id=&limit=&cursor= (operator) → 200
 *      {"items":[{"id","admin_id","actor","action","target_type","target_id","before",
 *      "after","request_id","address","created_at"}],"next_cursor"}, newest first; actor is
 *      the admin's username then, or "aiphotoctl".
 * 400 names the field or parameter; 503 database down.
 */
#include <stdlib.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "lib/password.h"
#include "model/admins.h"

static enum api_err accounts_list_get(struct request *req, struct reply *rep)
{
	struct view_cursor c;
	struct view_page pg;
	enum api_err err;

	if ((err = handlers_view_cursor(req, rep, &c)) != E_OK ||
	    (err = admins_list(req->arena, &c, &pg)) != E_OK)
		return err;
	return reply_ok(rep, 200, handlers_view_page(req, &pg));
}

/* An optional "role" member: ROLE_NONE when absent; E_BAD_REQUEST naming it when not a role. */
static enum api_err accounts_role(struct request *req, struct reply *rep, bool required,
                                  enum role *role)
{
	const char *why = NULL, *s = NULL;
	enum api_err err = jsonx_string(req->arena, req->json, "role", required, 1, 16, &s, &why);

	*role = ROLE_NONE;
	if (err != E_OK)
		return reply_error(rep, err, why);
	if (s != NULL && (*role = role_parse(s)) == ROLE_NONE)
		return reply_error(rep, E_BAD_REQUEST, "role: owner, operator, support or viewer");
	return E_OK;
}

static enum api_err accounts_create_post(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	const char *why = NULL, *username = NULL, *password = NULL;
	enum role role;
	int64_t id = 0;
	char *hash, *json;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "username", true, 1, 64, &username, &why)) !=
	        E_OK ||
	    (err = jsonx_string(req->arena, req->json, "password", true, 1, PASSWORD_MAX, &password,
	                        &why)) != E_OK)
		return reply_error(rep, err, why);
	if ((err = accounts_role(req, rep, true, &role)) != E_OK)
		return err;
	if (strlen(password) < PASSWORD_MIN || strlen(password) > PASSWORD_MAX)
		return reply_error(rep, E_BAD_REQUEST, "password: 8 to 256 bytes");
	if ((hash = password_hash(password)) == NULL)
		return E_INTERNAL;
	err = admins_create(req->arena, &who, username, hash, role, &id);
	free(hash);
	if (err == E_BAD_REQUEST)
		return reply_error(rep, err, "username: 1-64 of A-Z a-z 0-9 _ . @ -");
	if (err == E_CONFLICT)
		return reply_error(rep, err, "username: taken (用户名已存在)");
	if (err != E_OK || (err = admins_view(req->arena, id, &json)) != E_OK)
		return err;
	return reply_ok(rep, 201, jsonx_parse_or_empty(json));
}

static enum api_err accounts_update_put(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	struct admin_change c = {.role = ROLE_NONE, .disabled = -1};
	const char *why = NULL;
	bool disabled = false, given = false;
	json_object *v;
	int64_t id;
	char *json;
	enum api_err err;

	if ((err = handlers_id_object(req, rep, false, &id)) != E_OK)
		return err;
	if ((err = jsonx_bool(req->arena, req->json, "disabled", false, &disabled, &why)) != E_OK)
		return reply_error(rep, err, why);
	if ((err = accounts_role(req, rep, false, &c.role)) != E_OK)
		return err;
	given = json_object_object_get_ex(req->json, "disabled", &v) && v != NULL;
	if (given)
		c.disabled = disabled;
	if (c.role == ROLE_NONE && !given)
		return reply_error(rep, E_BAD_REQUEST, "body: role or disabled is required");
	err = admins_update(req->arena, &who, id, &c, &json);
	if (err == E_CONFLICT)
		return reply_error(rep, err,
		                   "至少保留一个启用的 owner (no active owner would remain)");
	if (err != E_OK)
		return err;
	return reply_ok(rep, 200, jsonx_parse_or_empty(json));
}

/* An optional text filter of at most max characters (NULL when absent or empty). */
static enum api_err accounts_filter(struct request *req, struct reply *rep, const char *name,
                                    size_t max, const char **out)
{
	const char *s = request_query(req, name);

	*out = s != NULL && *s != '\0' ? s : NULL;
	if (*out != NULL && jsonx_utf8_len(*out) > max)
		return reply_error(
		    rep, E_BAD_REQUEST,
		    arena_printf(req->arena, "%s: at most %zu characters", name, max));
	return E_OK;
}

static enum api_err accounts_audit_get(struct request *req, struct reply *rep)
{
	struct audit_filter f = {0};
	struct view_cursor c;
	struct view_page pg;
	enum api_err err;

	if ((err = handlers_view_cursor(req, rep, &c)) != E_OK ||
	    (err = handlers_query_id(req, rep, "admin", &f.admin_id)) != E_OK ||
	    (err = accounts_filter(req, rep, "action", 64, &f.action)) != E_OK ||
	    (err = accounts_filter(req, rep, "target_type", 32, &f.target_type)) != E_OK ||
	    (err = accounts_filter(req, rep, "target_id", 128, &f.target_id)) != E_OK ||
	    (err = audit_list(req->arena, &f, &c, &pg)) != E_OK)
		return err;
	return reply_ok(rep, 200, handlers_view_page(req, &pg));
}

static const struct route accounts_list[] = {
    {.method = HTTP_GET,
     .pattern = "/admin/admins",
     .auth = AUTH_ADMIN,
     .role = ROLE_OWNER,
     .handler = accounts_list_get},
    {.method = HTTP_POST,
     .pattern = "/admin/admins",
     .auth = AUTH_ADMIN,
     .role = ROLE_OWNER,
     .body = BODY_JSON,
     .max_body = 2048,
     .handler = accounts_create_post},
    {.method = HTTP_PUT,
     .pattern = "/admin/admins/:id",
     .auth = AUTH_ADMIN,
     .role = ROLE_OWNER,
     .body = BODY_JSON,
     .max_body = 1024,
     .handler = accounts_update_put},
    {.method = HTTP_GET,
     .pattern = "/admin/audit",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .handler = accounts_audit_get},
};

ROUTE_TABLE(admin_accounts_routes, accounts_list);
