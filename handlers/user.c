/*
 * user — the caller's own account.
 *
 * GET /user/me (user) → 200 User {"id","nickname","avatar_url","credits","invite_code",
 *   "created_at","subscribed"}.
 * GET /user/credits (user) → 200 {"credits","checked_in_today","checkin_streak"}.
 * Both: 401 when the token's user does not exist, 403 FORBIDDEN when it is disabled
 * (its tokens stop working at once), 503 when the database is down.
 */
#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/users.h"

/* The outcome of loading the caller's own row: a user that no longer exists is 401 (the
 * token names nobody), a disabled one 403. */
static enum api_err user_loaded(enum api_err err, bool disabled, struct reply *rep)
{
	if (err == E_NOT_FOUND)
		return reply_error(rep, E_UNAUTHORIZED, "用户不存在");
	if (err != E_OK)
		return err;
	if (disabled)
		return reply_error(rep, E_FORBIDDEN, "账号已停用");
	return E_OK;
}

static enum api_err user_me(struct request *req, struct reply *rep)
{
	struct user u;
	enum api_err err = users_get(req->arena, req->user_id, &u);
	json_object *o;

	if ((err = user_loaded(err, u.disabled, rep)) != E_OK)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(u.id));
	json_object_object_add(o, "nickname", json_object_new_string(u.nickname));
	json_object_object_add(o, "avatar_url", json_object_new_string(u.avatar_url));
	json_object_object_add(o, "credits", json_object_new_int64(u.credits));
	json_object_object_add(o, "invite_code", json_object_new_string(u.invite_code));
	json_object_object_add(o, "created_at", json_object_new_string(u.created_at));
	json_object_object_add(o, "subscribed", json_object_new_boolean(u.subscribed));
	return reply_ok(rep, 200, o);
}

static enum api_err user_credits(struct request *req, struct reply *rep)
{
	struct user_credits c;
	enum api_err err = users_credits(req->arena, req->user_id, &c);
	json_object *o;

	if ((err = user_loaded(err, c.disabled, rep)) != E_OK)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "credits", json_object_new_int64(c.credits));
	json_object_object_add(o, "checked_in_today", json_object_new_boolean(c.checked_in_today));
	json_object_object_add(o, "checkin_streak", json_object_new_int64(c.checkin_streak));
	return reply_ok(rep, 200, o);
}

static const struct route user_list[] = {
    {.method = HTTP_GET, .pattern = "/user/me", .auth = AUTH_USER, .handler = user_me},
    {.method = HTTP_GET, .pattern = "/user/credits", .auth = AUTH_USER, .handler = user_credits},
};

ROUTE_TABLE(user_routes, user_list);
