/* handlers — helpers shared by the resource files (see handlers.h). */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <time.h>

#include "lib/config.h"
#include "lib/token.h"
#include "lib/jsonx.h"
#include "model/system.h"
#include "model/users.h"

enum api_err handlers_id(const struct request *req, int idx, int64_t *id)
{
	long v;

	if (idx >= req->ncaptures ||
	    config_parse_long(req->captures[idx], 1, 9007199254740991L, &v) < 0)
		return E_NOT_FOUND;
	*id = v;
	return E_OK;
}

json_object *handlers_user_json(const struct user *u)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(u->id));
	json_object_object_add(o, "nickname", json_object_new_string(u->nickname));
	json_object_object_add(o, "avatar_url", json_object_new_string(u->avatar_url));
	json_object_object_add(o, "credits", json_object_new_int64(u->credits));
	json_object_object_add(o, "invite_code", json_object_new_string(u->invite_code));
	json_object_object_add(o, "created_at", json_object_new_string(u->created_at));
	json_object_object_add(o, "subscribed", json_object_new_boolean(u->subscribed));
	return o;
}

enum api_err handlers_add_token(json_object *obj, int64_t user_id, enum token_channel channel)
{
	const struct config *c = config_get();
	char *tok = channel == TOKEN_CHANNEL_NONE
	                ? token_issue(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, user_id,
	                              true, c->jwt_ttl, time(NULL))
	                : token_issue_user(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, user_id,
	                                   channel, config_channel_appid(c, channel), c->jwt_ttl,
	                                   time(NULL));

	if (tok == NULL)
		return E_INTERNAL;
	json_object_object_add(obj, "token", json_object_new_string(tok));
	json_object_object_add(obj, "expires_in", json_object_new_int64(c->jwt_ttl));
	free(tok);
	return E_OK;
}

enum api_err handlers_login_reply(struct request *req, struct reply *rep, int64_t user_id,
                                  enum token_channel channel)
{
	struct user u = {0};
	enum api_err err = users_get(req->arena, user_id, &u);
	json_object *o;

	if (err != E_OK)
		return err == E_NOT_FOUND ? E_INTERNAL : err;
	if (u.disabled)
		return reply_error(rep, E_FORBIDDEN, "账号已停用");
	o = json_object_new_object();
	if ((err = handlers_add_token(o, user_id, channel)) != E_OK) {
		json_object_put(o);
		return err;
	}
	json_object_object_add(o, "user", handlers_user_json(&u));
	return reply_ok(rep, 200, o);
}

void handlers_config_int(struct request *req, const char *key, const char *field, int64_t *out)
{
	char *text = NULL;
	json_object *o, *v;

	if (system_config_get(req->arena, key, &text) != E_OK || text == NULL)
		return;
	o = jsonx_parse_or_empty(text);
	if (json_object_object_get_ex(o, field, &v) && json_object_is_type(v, json_type_int))
		*out = json_object_get_int64(v);
	json_object_put(o);
}

enum api_err handlers_page_params(struct request *req, struct reply *rep, long *limit,
                                  long *before_id)
{
	const char *limit_s = request_query(req, "limit"), *cursor = request_query(req, "cursor");

	*limit = 12;
	*before_id = 0;
	if (limit_s != NULL && config_parse_long(limit_s, 1, 50, limit) < 0)
		return reply_error(rep, E_BAD_REQUEST, "limit: an integer from 1 to 50");
	if (cursor != NULL && *cursor != '\0' &&
	    config_parse_long(cursor, 1, 9007199254740991L, before_id) < 0)
		return reply_error(rep, E_BAD_REQUEST, "cursor: not a cursor this API gave out");
	return E_OK;
}

json_object *handlers_page(struct request *req, json_object *items, bool more, int64_t last_id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "items", items);
	json_object_object_add(
	    o, "next_cursor",
	    more ? json_object_new_string(arena_printf(req->arena, "%lld", (long long)last_id))
	         : NULL);
	return o;
}

struct idem_key handlers_idem_key(const struct request *req)
{
	struct idem_key k = {.user_id = req->user_id,
	                     .key = req->idempotency_key,
	                     .route = req->route->pattern,
	                     .hash = req->idempotency_hash};
	return k;
}
