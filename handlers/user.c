/*
 * user — the caller's own account.
 *
 * GET /user/me (user) → 200 User {"id","nickname","avatar_url","credits","invite_code",
 *   "created_at","subscribed"}.
 * PATCH /user/me (user) → 200 User (see user_me_patch).
 * GET /user/credits (user) → 200 {"credits","checked_in_today","checkin_streak"}.
 * POST /user/subscriptions (user) → 200 (see user_subscriptions_post).
 * All: 401 when the token's user does not exist, 403 FORBIDDEN when it is disabled
 * (its tokens stop working at once), 503 when the database is down.
 */
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "model/credits.h"
#include "model/notify.h"
#include "model/users.h"
#include "service/content.h"

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

static enum api_err user_me_get(struct request *req, struct reply *rep)
{
	struct user u = {0};
	enum api_err err = users_get(req->arena, req->user_id, &u);
	json_object *o;

	if ((err = user_loaded(err, u.disabled, rep)) != E_OK)
		return err;
	o = handlers_user_json(&u);
	return reply_ok(rep, 200, o);
}

static enum api_err user_credits_get(struct request *req, struct reply *rep)
{
	struct user_credits c = {0};
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

/* http:// or https:// followed by a host name or address. */
static bool user_url_ok(const char *u)
{
	size_t skip = strncmp(u, "https://", 8) == 0 ? 8 : strncmp(u, "http://", 7) == 0 ? 7 : 0;
	char c = skip > 0 ? u[skip] : '\0';
	/* the host starts with a letter, a digit or '[' (an IPv6 literal) */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '[';
}

/*
 * PATCH /user/me (user) {"nickname"?: 1-64 characters, "avatar_url"?: http(s) URL ≤ 512}
 * → 200 User; other fields are ignored; 400 naming the field.  Where content checks are
 * enabled (service/content.h) a nickname WeChat judges risky → 422 CONTENT_RISKY "nickname:
 * …" and nothing changes; WeChat unreachable with on_error "closed" → 502.
 */
static enum api_err user_me_patch(struct request *req, struct reply *rep)
{
	const char *why = NULL, *nickname = NULL, *avatar = NULL;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "nickname", false, 1, 64, &nickname,
	                        &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "avatar_url", false, 0, 512, &avatar,
	                        &why)) != E_OK)
		return reply_error(rep, err, why);
	if (avatar != NULL && *avatar != '\0' && !user_url_ok(avatar))
		return reply_error(rep, E_BAD_REQUEST, "avatar_url: must be an http(s) URL");
	if (avatar != NULL && strpbrk(avatar, " \t\r\n\"<>") != NULL)
		return reply_error(rep, E_BAD_REQUEST, "avatar_url: must be an http(s) URL");
	if (nickname != NULL) {
		json_object *text = json_object_new_string(nickname);
		err = content_check_text(req->arena, req->user_id, CONTENT_SCENE_PROFILE, text,
		                         "nickname", &why);
		json_object_put(text);
		if (err != E_OK)
			return why ? reply_error(rep, err, why) : err;
	}
	if ((nickname != NULL || avatar != NULL) &&
	    (err = users_update_profile(req->arena, req->user_id, nickname, avatar)) != E_OK)
		return err;
	return user_me_get(req, rep);
}

/*
 * POST /user/invite (user) {"invite_code"} → 200 {"credits","bonus"}: once per user, not
 * one's own code, no cycles; both sides rewarded per system_config.invite.  Unknown code →
 * 404, own code or a cycle → 400, already invited → 409 ALREADY_DONE.
 */
static enum api_err user_invite_post(struct request *req, struct reply *rep)
{
	const char *why = NULL, *code = NULL;
	int64_t invitee_bonus = 10, inviter_bonus = 20, credits = 0;
	enum api_err err;
	json_object *o;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "invite_code", true, 1, 32, &code, &why)) !=
	        E_OK)
		return reply_error(rep, err, why);
	for (const char *ch = code; *ch; ch++)
		if (!((*ch >= 'A' && *ch <= 'Z') || (*ch >= 'a' && *ch <= 'z') ||
		      (*ch >= '0' && *ch <= '9')))
			return reply_error(rep, E_BAD_REQUEST,
			                   "invite_code: letters and digits only");
	handlers_config_int(req, "invite", "invitee_bonus", &invitee_bonus);
	handlers_config_int(req, "invite", "inviter_bonus", &inviter_bonus);
	if ((err = credits_invite(req->arena, req->user_id, code, invitee_bonus, inviter_bonus,
	                          &credits, &why)) != E_OK)
		return reply_error(rep, err, why);
	o = json_object_new_object();
	json_object_object_add(o, "credits", json_object_new_int64(credits));
	json_object_object_add(o, "bonus", json_object_new_int64(invitee_bonus));
	return reply_ok(rep, 200, o);
}

#define USER_MAX_TEMPLATES 20

/* True when s is 1-128 of [A-Za-z0-9_-] (the shape of WeChat's template ids). */
static bool user_template_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= 128 || !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		                  (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
			return false;
	return n > 0;
}

/* body[field]: absent, or an array of ≤ USER_MAX_TEMPLATES template ids, folded into a
 * new array of distinct ids (*out, owned); false with *why when malformed. */
static bool user_templates(json_object *body, const char *field, json_object **out,
                           const char **why)
{
	json_object *arr = NULL;

	*out = json_object_new_array();
	if (!json_object_object_get_ex(body, field, &arr) ||
	    json_object_is_type(arr, json_type_null))
		return true;
	if (!json_object_is_type(arr, json_type_array) ||
	    json_object_array_length(arr) > USER_MAX_TEMPLATES)
		goto bad;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		const char *id = json_object_get_string(v);
		bool seen = false;

		if (!json_object_is_type(v, json_type_string) || !user_template_ok(id))
			goto bad;
		for (size_t j = 0; j < json_object_array_length(*out) && !seen; j++)
			seen = strcmp(json_object_get_string(json_object_array_get_idx(*out, j)),
			              id) == 0;
		if (!seen)
			json_object_array_add(*out, json_object_new_string(id));
	}
	return true;
bad:
	*why = strcmp(field, "accepted") == 0
	           ? "accepted: an array of at most 20 template ids ([A-Za-z0-9_-], 1-128)"
	           : "rejected: an array of at most 20 template ids ([A-Za-z0-9_-], 1-128)";
	return false;
}

/* True when an id of a is also in b. */
static bool user_templates_overlap(json_object *a, json_object *b)
{
	for (size_t i = 0; i < json_object_array_length(a); i++)
		for (size_t j = 0; j < json_object_array_length(b); j++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)),
			           json_object_get_string(json_object_array_get_idx(b, j))) == 0)
				return true;
	return false;
}

/*
 * POST /user/subscriptions (user) {"accepted"?:[template ids],"rejected"?:[…]} — what
 * wx.requestSubscribeMessage answered (a template "accept" goes in accepted; "reject", "ban"
 * and "filter" in rejected) → 200 {"templates":[{"template_id","remaining"}…]} for every
 * template named, by id.  Each accept allows one subscribe message of that template (one-time
 * subscriptions; at most 100 kept); a reject keeps what was accepted before.  400 naming the
 * field: not arrays of ≤ 20 ids of [A-Za-z0-9_-]{1,128}, both empty, or an id in both.
 * Per user: 30 at once, then one every 2 s → 429.
 */
static enum api_err user_subscriptions_post(struct request *req, struct reply *rep)
{
	const char *why = NULL;
	json_object *acc = NULL, *rej = NULL, *items, *o = NULL;
	struct notify_subscription *subs = NULL;
	size_t n = 0;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    !user_templates(req->json, "accepted", &acc, &why) ||
	    !user_templates(req->json, "rejected", &rej, &why)) {
		err = reply_error(rep, E_BAD_REQUEST, why);
		goto out;
	}
	if (json_object_array_length(acc) + json_object_array_length(rej) == 0) {
		err = reply_error(rep, E_BAD_REQUEST, "accepted: name at least one template");
		goto out;
	}
	if (user_templates_overlap(acc, rej)) {
		err = reply_error(rep, E_BAD_REQUEST, "rejected: a template is also in accepted");
		goto out;
	}
	if ((err =
	         notify_subscriptions_record(req->arena, req->user_id, jsonx_text(req->arena, acc),
	                                     jsonx_text(req->arena, rej), &subs, &n)) != E_OK)
		goto out;
	items = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_new_object();
		json_object_object_add(t, "template_id",
		                       json_object_new_string(subs[i].template_id));
		json_object_object_add(t, "remaining", json_object_new_int(subs[i].remaining));
		json_object_array_add(items, t);
	}
	o = json_object_new_object();
	json_object_object_add(o, "templates", items);
	err = reply_ok(rep, 200, o);
out:
	json_object_put(acc);
	json_object_put(rej);
	return err;
}

static const struct rate_limit subscriptions_limit = {
    .name = "subscriptions", .per_minute = 30, .burst = 30};

static const struct route user_list[] = {
    {.method = HTTP_GET, .pattern = "/user/me", .auth = AUTH_USER, .handler = user_me_get},
    {.method = HTTP_PATCH,
     .pattern = "/user/me",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 4096,
     .handler = user_me_patch},
    {.method = HTTP_GET,
     .pattern = "/user/credits",
     .auth = AUTH_USER,
     .handler = user_credits_get},
    {.method = HTTP_POST,
     .pattern = "/user/invite",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 1024,
     .handler = user_invite_post},
    {.method = HTTP_POST,
     .pattern = "/user/subscriptions",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 8192,
     .handler = user_subscriptions_post,
     .limit = &subscriptions_limit},
};

ROUTE_TABLE(user_routes, user_list);
