/*
 * admin — the operators' console API.
 *
 * POST /admin/login (public) {"username","password"} → 200 {"token","expires_in"} (an admin
 *      token: audience "admin"); wrong username or password → 401 with one message for both;
 *      after ADMINS_MAX_FAILURES wrong passwords in a row the account is locked for
 *      ADMINS_LOCK_SECONDS: every attempt then → 429 RATE_LIMITED with Retry-After (the
 *      right password too);
 *      a disabled admin → 401; database down → 503 (fails closed).  Per client address at
 *      most 60 attempts at once, then two a second → 429; Redis down → 503 (the limit fails
 *      closed).
 */
#include <string.h>

#include "handlers/handlers.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/password.h"
#include "model/admins.h"

/* Compared against when the username is unknown, so both failures cost the same time.
 * (A valid stored form of an unguessable password.) */
static const char admin_decoy_hash[] =
    "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

static enum api_err admin_locked(struct reply *rep, long seconds)
{
	rep->retry_after = seconds > 0 ? seconds : 1;
	return reply_error(rep, E_RATE_LIMITED, "登录失败次数过多，请稍后再试");
}

static enum api_err admin_login(struct request *req, struct reply *rep)
{
	const char *why = NULL, *username = NULL, *password = NULL;
	struct admin ad;
	long locked_for = 0;
	enum api_err err;
	json_object *o;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "username", true, 1, 64, &username, &why)) !=
	        E_OK ||
	    (err = jsonx_string(req->arena, req->json, "password", true, 1, 256, &password,
	                        &why)) != E_OK)
		return reply_error(rep, err, why);
	err = admins_get(req->arena, username, &ad);
	if (err == E_NOT_FOUND) {
		(void)password_verify(password, admin_decoy_hash);
		return reply_error(rep, E_UNAUTHORIZED, "用户名或密码错误");
	}
	if (err != E_OK)
		return err;
	if (ad.locked_for > 0)
		return admin_locked(rep, ad.locked_for);
	if (ad.disabled || !password_verify(password, ad.password_hash)) {
		if ((err = admins_login_failed(req->arena, ad.id, &locked_for)) != E_OK)
			return err;
		/* this attempt was wrong (401); the lock, if it just began, meets the next ones */
		log_warn("admin login failed for id %lld%s", (long long)ad.id,
		         locked_for > 0 ? ": account locked" : "");
		return reply_error(rep, E_UNAUTHORIZED, "用户名或密码错误");
	}
	if ((err = admins_login_ok(req->arena, ad.id)) != E_OK)
		return err;
	o = json_object_new_object();
	if ((err = handlers_add_token(o, ad.id, true)) != E_OK) {
		json_object_put(o);
		return err;
	}
	return reply_ok(rep, 200, o);
}

/* Password guessing from one address: 60 attempts at once, then two a second; each costs
 * an scrypt hash.  Without Redis the login is refused rather than left unlimited. */
static const struct rate_limit admin_login_limit = {
    .name = "admin-login", .per_minute = 120, .burst = 60, .fail_closed = true};

static const struct route admin_list[] = {
    {.method = HTTP_POST,
     .pattern = "/admin/login",
     .auth = AUTH_PUBLIC,
     .body = BODY_JSON,
     .max_body = 2048,
     .handler = admin_login,
     .limit = &admin_login_limit},
};

ROUTE_TABLE(admin_routes, admin_list);
