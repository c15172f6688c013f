/* handlers — helpers shared by the resource files (see handlers.h). */
#include "handlers/handlers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/bizday.h"
#include "lib/config.h"
#include "lib/crypto.h"
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
	char *tok =
	    token_issue_user(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, user_id, channel,
	                     config_channel_appid(c, channel), c->jwt_ttl, time(NULL));

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

/* handlers_page_params with the default limit dflt. */
static enum api_err handlers_paging(struct request *req, struct reply *rep, long dflt, long *limit,
                                    long *before_id)
{
	const char *limit_s = request_query(req, "limit"), *cursor = request_query(req, "cursor");

	*limit = dflt;
	*before_id = 0;
	if (limit_s != NULL && config_parse_long(limit_s, 1, 50, limit) < 0)
		return reply_error(rep, E_BAD_REQUEST, "limit: an integer from 1 to 50");
	if (cursor != NULL && *cursor != '\0' &&
	    config_parse_long(cursor, 1, 9007199254740991L, before_id) < 0)
		return reply_error(rep, E_BAD_REQUEST, "cursor: not a cursor this API gave out");
	return E_OK;
}

enum api_err handlers_page_params(struct request *req, struct reply *rep, long *limit,
                                  long *before_id)
{
	return handlers_paging(req, rep, 12, limit, before_id);
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
	                     .admin_id = req->admin_id,
	                     .key = req->idempotency_key,
	                     .route = req->route->pattern,
	                     .hash = req->idempotency_hash};
	return k;
}

/* A YYYY-MM-DD string. */
static bool handlers_day_ok(const char *d)
{
	if (d == NULL || strlen(d) != 10 || d[4] != '-' || d[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9'))
			return false;
	return true;
}

enum api_err handlers_today(struct request *req, struct reply *rep, char today[11])
{
	const char *test_day = request_env(req, "HTTP_X_TEST_DATE");

	bizday_format(time(NULL), today);
	if (test_day != NULL && config_get()->development) {
		if (!handlers_day_ok(test_day))
			return reply_error(rep, E_BAD_REQUEST, "X-Test-Date: YYYY-MM-DD");
		memcpy(today, test_day, 11);
	}
	return E_OK;
}

const char *handlers_pay_no(struct arena *a, const char *prefix)
{
	char rnd[9], when[16];
	struct timespec ts;
	time_t now;
	struct tm tm;

	if (crypto_random_hex(4, rnd) < 0)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
	return arena_printf(a, "%s%s%02ld%s", prefix, when, ts.tv_nsec / 10000000, rnd);
}

struct audit_actor handlers_actor(const struct request *req)
{
	struct audit_actor who = {
	    .admin_id = req->admin_id, .request_id = req->request_id, .address = req->remote_addr};
	return who;
}

enum api_err handlers_view_cursor(struct request *req, struct reply *rep, struct view_cursor *c)
{
	long limit, before;
	enum api_err err = handlers_paging(req, rep, 20, &limit, &before);

	c->limit = (int)limit;
	c->before_id = before;
	return err;
}

json_object *handlers_view_array(const char *const *rows, size_t n)
{
	json_object *arr = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, jsonx_parse_or_empty(rows[i]));
	return arr;
}

json_object *handlers_view_page(struct request *req, const struct view_page *p)
{
	return handlers_page(req, handlers_view_array(p->rows, p->n), p->more && p->n > 0,
	                     p->last_id);
}

enum api_err handlers_id_object(struct request *req, struct reply *rep, bool optional, int64_t *id)
{
	const char *why = NULL;
	enum api_err err = handlers_id(req, 0, id);

	if (err != E_OK || (optional && req->json == NULL))
		return err;
	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK)
		return reply_error(rep, err, why);
	return E_OK;
}

enum api_err handlers_query_id(struct request *req, struct reply *rep, const char *name,
                               int64_t *id)
{
	const char *s = request_query(req, name);
	long v;

	*id = 0;
	if (s == NULL || *s == '\0')
		return E_OK;
	if (config_parse_long(s, 1, 9007199254740991L, &v) < 0)
		return reply_error(rep, E_BAD_REQUEST,
		                   arena_printf(req->arena, "%s: a positive integer id", name));
	*id = v;
	return E_OK;
}
