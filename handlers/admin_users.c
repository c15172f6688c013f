/*
 * admin_users — users as the operators see them: search, detail, credits, status.
 *
 * GET  /admin/users?q=&limit=&cursor= (viewer) → 200 {"items":[AdminUser],"next_cursor"},
 *      newest first: everyone, or with q (1-128 characters) the users whose id is q, whose
 *      invite code is q (any case), who have a WeChat identity with openid or unionid q, or
 *      whose nickname contains q (any case).  AdminUser = {"id","nickname","avatar_url",
 *      "credits","status","invite_code","invited_by","upload_quota_bytes",
 *      "upload_quota_files","created_at"}.
 * GET  /admin/users/:id (viewer) → 200 {"user": AdminUser + "last_checkin_day",
 *      "checkin_streak", "identities", "ledger", "orders", "tasks"} (the 20 newest of each
 *      list); 404 unknown user.
 * POST /admin/users/:id/credits (support) {"delta": ±1..10000000, "memo": 1-256 characters}
 *      + Idempotency-Key (required) → 200 {"user_id","ledger_id","delta","credits" (the
 *      balance right after),"memo","created_at","replayed"}: ledger kind 'admin', audited
 *      (user.credits).  A support admin may move at most ADMIN_SUPPORT_CREDIT_LIMIT credits
 *      at a time → else 403 naming the limit.  A debit past the balance → 402
 *      INSUFFICIENT_CREDITS naming the balance, nothing written; the balance never goes below
 *      0 whatever the user spends meanwhile.  The same key and body again → the first answer
 *      ("replayed": true); the same key with another body or another user → 409
 *      IDEMPOTENCY_MISMATCH.  404 unknown user.
 * POST /admin/users/:id/status (operator) {"status": "active"|"disabled"} → 200 AdminUser;
 *      a disabled user's every token is refused from their next request on (403); audited
 *      (user.status) when it changes.  404 unknown user.
 * 400 names the field; 503 database down.
 */
#include <inttypes.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "model/credits.h"
#include "model/users.h"

#define ADMIN_USERS_MAX_DELTA 10000000

static enum api_err users_list_get(struct request *req, struct reply *rep)
{
	const char *q = request_query(req, "q");
	struct view_cursor c;
	struct view_page pg;
	enum api_err err;

	if (q != NULL && *q == '\0')
		q = NULL;
	if (q != NULL && jsonx_utf8_len(q) > 128)
		return reply_error(rep, E_BAD_REQUEST, "q: at most 128 characters");
	if ((err = handlers_view_cursor(req, rep, &c)) != E_OK ||
	    (err = users_search(req->arena, q, &c, &pg)) != E_OK)
		return err;
	return reply_ok(rep, 200, handlers_view_page(req, &pg));
}

static enum api_err users_item_get(struct request *req, struct reply *rep)
{
	int64_t id;
	char *json;
	enum api_err err;

	if ((err = handlers_id(req, 0, &id)) != E_OK ||
	    (err = users_detail(req->arena, id, &json)) != E_OK)
		return err;
	return reply_ok(rep, 200, jsonx_parse_or_empty(json));
}

/* The 402 of a debit past the balance, naming it (read now: it may have moved since). */
static enum api_err users_short(struct request *req, struct reply *rep, int64_t id, int64_t delta)
{
	struct user u = {0};

	if (users_get(req->arena, id, &u) != E_OK)
		return E_INSUFFICIENT_CREDITS;
	return reply_error(rep, E_INSUFFICIENT_CREDITS,
	                   arena_printf(req->arena,
	                                "余额不足：当前 %" PRId64 " 积分，不能扣减 %" PRId64
	                                " (delta: the balance %" PRId64 " is less than %" PRId64
	                                ")",
	                                u.credits, -delta, u.credits, -delta));
}

static enum api_err users_credits_post(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	struct idem_key k = handlers_idem_key(req);
	long limit = config_get()->admin_support_credit_limit;
	struct credits_adjusted r;
	struct idem_outcome out;
	const char *why = NULL, *memo = NULL;
	int64_t id, delta = 0;
	enum api_err err;
	json_object *o;

	if ((err = handlers_id_object(req, rep, false, &id)) != E_OK)
		return err;
	if ((err = jsonx_int(req->arena, req->json, "delta", true, -ADMIN_USERS_MAX_DELTA,
	                     ADMIN_USERS_MAX_DELTA, &delta, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "memo", true, 1, 256, &memo, &why)) != E_OK)
		return reply_error(rep, err, why);
	if (delta == 0)
		return reply_error(rep, E_BAD_REQUEST, "delta: not 0");
	if (req->role == ROLE_SUPPORT && (delta > limit || -delta > limit))
		return reply_error(
		    rep, E_FORBIDDEN,
		    arena_printf(req->arena,
		                 "support 单次最多调整 %ld 积分 (delta: support may move "
		                 "at most %ld credits at a time)",
		                 limit, limit));
	err = credits_admin_adjust(req->arena, &who, &k, id, delta, memo, &out, &r);
	if (err == E_INSUFFICIENT_CREDITS)
		return users_short(req, rep, id, delta);
	if (err == E_NOT_FOUND)
		return reply_error(rep, err, "user: no such user (用户不存在)");
	if (err != E_OK)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "user_id", json_object_new_int64(r.user_id));
	json_object_object_add(o, "ledger_id", json_object_new_int64(r.ledger_id));
	json_object_object_add(o, "delta", json_object_new_int64(r.delta));
	json_object_object_add(o, "credits", json_object_new_int64(r.balance_after));
	json_object_object_add(o, "memo", json_object_new_string(r.memo));
	json_object_object_add(o, "created_at", json_object_new_string(r.created_at));
	json_object_object_add(o, "replayed", json_object_new_boolean(out.replayed));
	return reply_ok(rep, 200, o);
}

static enum api_err users_status_post(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	const char *why = NULL, *status = NULL;
	int64_t id;
	char *json;
	enum api_err err;

	if ((err = handlers_id_object(req, rep, false, &id)) != E_OK)
		return err;
	if ((err = jsonx_string(req->arena, req->json, "status", true, 1, 16, &status, &why)) !=
	    E_OK)
		return reply_error(rep, err, why);
	if (strcmp(status, "active") != 0 && strcmp(status, "disabled") != 0)
		return reply_error(rep, E_BAD_REQUEST, "status: active or disabled");
	if ((err = users_set_status(req->arena, &who, id, status, &json)) != E_OK)
		return err;
	return reply_ok(rep, 200, jsonx_parse_or_empty(json));
}

static const struct route admin_users_list[] = {
    {.method = HTTP_GET,
     .pattern = "/admin/users",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = users_list_get},
    {.method = HTTP_GET,
     .pattern = "/admin/users/:id",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = users_item_get},
    {.method = HTTP_POST,
     .pattern = "/admin/users/:id/credits",
     .auth = AUTH_ADMIN,
     .role = ROLE_SUPPORT,
     .body = BODY_JSON,
     .max_body = 2048,
     .handler = users_credits_post,
     .idempotency = IDEMPOTENCY_REQUIRED},
    {.method = HTTP_POST,
     .pattern = "/admin/users/:id/status",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_JSON,
     .max_body = 1024,
     .handler = users_status_post},
};

ROUTE_TABLE(admin_users_routes, admin_users_list);
