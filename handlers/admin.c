/*
 * admin — an admin's own account: login, who am I, password.
 *
 * POST /admin/login (public) {"username","password"} → 200 {"token","expires_in"}: an admin
 *      token (audience "admin", claims role and sv: the admin's role and session version)
 *      valid ADMIN_TOKEN_HOURS hours; wrong username or password → 401 with one message for
 *      both.  Failures are counted per (username, client address) for ADMIN_LOCK_SECONDS:
 *      after ADMIN_MAX_FAILURES every attempt at that username from that address → 429
 *      RATE_LIMITED with Retry-After (the right password too), while the same admin signs
 *      in from elsewhere as usual, so nobody can lock an admin out from their own address.
 *      Unknown usernames are counted and locked exactly alike and cost the same password
 *      check, so the answers tell nothing about which usernames exist.
 *      A disabled admin → 401; database down → 503 (fails closed).  Per client address at
 *      most 60 attempts at once, then two a second → 429; Redis down → 503 (the limits
 *      fail closed).  Password checks (scrypt, ~0.1 s of CPU each) are capped for the whole
 *      service at ADMIN_HASHES_BURST at once, then ADMIN_HASHES_PER_SECOND a second, so a
 *      flood from many addresses cannot starve the workers: past that → 429.
 * GET  /admin/me (admin, viewer) → 200 the caller's account {"id","username","role",
 *      "disabled","last_login_at","session_version","created_at"}.
 * POST /admin/password (admin, viewer) {"current_password","new_password"} → 200
 *      {"token","expires_in"}: the new password is stored, every session of the admin ends
 *      (their other tokens → 401) and this token starts the next one.  A wrong current
 *      password → 403 and counts as a failed login: the login's lockout (429 with
 *      Retry-After) and its service-wide budget of password checks apply alike.
 *      new_password: PASSWORD_MIN to PASSWORD_MAX bytes, not the current one → else 400.
 *      Audited (admin.password).
 * Every admin route: a user token → 403; a disabled admin, another role or an ended session
 * → 401 (the router, fcgi/router.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/password.h"
#include "lib/redis.h"
#include "lib/token.h"
#include "model/admins.h"

#define ADMIN_MAX_FAILURES 5
#define ADMIN_LOCK_SECONDS 900
#define ADMIN_HASHES_PER_SECOND 8
#define ADMIN_HASHES_BURST 8

/* Compared against when the username is unknown, so both failures cost the same time.
 * (A valid stored form of an unguessable password.) */
static const char admin_decoy_hash[] =
    "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

static enum api_err admin_refused(struct reply *rep, long seconds, const char *message)
{
	rep->retry_after = seconds > 0 ? seconds : 1;
	return reply_error(rep, E_RATE_LIMITED, message);
}

/* The failure counter of (username, address); the username is hashed so any text fits. */
static const char *admin_fail_key(struct request *req, const char *username)
{
	char h[65];

	crypto_sha256_hex(username, strlen(username), h);
	return arena_printf(req->arena, "adminfail:%.32s:%.64s", h,
	                    req->remote_addr ? req->remote_addr : "-");
}

/* Counts one failure and answers err with message. */
static enum api_err admin_failed(struct reply *rep, const char *key, enum api_err err,
                                 const char *message)
{
	long long n = 0;
	long ttl = 0;

	if (redis_counter(key, true, ADMIN_LOCK_SECONDS, &n, &ttl) != E_OK)
		return E_UNAVAILABLE;
	if (n >= ADMIN_MAX_FAILURES)
		log_warn("admin login: %lld failures from one address for one username, locked", n);
	return reply_error(rep, err, message);
}

/* Before a password check of username: E_OK, or the lockout's 429, the service-wide budget's
 * 429, or E_UNAVAILABLE (Redis down: both fail closed). */
static enum api_err admin_may_check(struct reply *rep, const char *key)
{
	long long failures = 0;
	long ttl = 0, wait_ms = 0;

	if (redis_counter(key, false, ADMIN_LOCK_SECONDS, &failures, &ttl) != E_OK)
		return E_UNAVAILABLE;
	if (failures >= ADMIN_MAX_FAILURES)
		return admin_refused(rep, ttl, "登录失败次数过多，请稍后再试");
	if (redis_gcra("rl:admin-hash:all", 1000 / ADMIN_HASHES_PER_SECOND, ADMIN_HASHES_BURST,
	               &wait_ms) != E_OK)
		return E_UNAVAILABLE;
	if (wait_ms > 0)
		return admin_refused(rep, (wait_ms + 999) / 1000, "登录请求过多，请稍后再试");
	return E_OK;
}

/* Answers {"token","expires_in"}: an admin token of the admin's role and session version. */
static enum api_err admin_token_reply(struct reply *rep, int64_t id, enum role role, long session)
{
	const struct config *c = config_get();
	long ttl = c->admin_token_hours * 3600;
	char *tok = token_issue_admin(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, id, role,
	                              session, ttl, time(NULL));
	json_object *o;

	if (tok == NULL)
		return E_INTERNAL;
	o = json_object_new_object();
	json_object_object_add(o, "token", json_object_new_string(tok));
	json_object_object_add(o, "expires_in", json_object_new_int64(ttl));
	free(tok);
	return reply_ok(rep, 200, o);
}

static enum api_err admin_login_post(struct request *req, struct reply *rep)
{
	const char *why = NULL, *username = NULL, *password = NULL, *key;
	struct admin ad;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "username", true, 1, 64, &username, &why)) !=
	        E_OK ||
	    (err = jsonx_string(req->arena, req->json, "password", true, 1, 256, &password,
	                        &why)) != E_OK)
		return reply_error(rep, err, why);
	key = admin_fail_key(req, username);
	if ((err = admin_may_check(rep, key)) != E_OK)
		return err;
	err = admins_get(req->arena, username, &ad);
	if (err == E_NOT_FOUND) {
		(void)password_verify(password, admin_decoy_hash);
		return admin_failed(rep, key, E_UNAUTHORIZED, "用户名或密码错误");
	}
	if (err != E_OK)
		return err;
	if (!password_verify(password, ad.password_hash) || ad.disabled)
		return admin_failed(rep, key, E_UNAUTHORIZED, "用户名或密码错误");
	if ((err = admins_login_ok(req->arena, ad.id)) != E_OK || (err = redis_del(key)) != E_OK)
		return err;
	return admin_token_reply(rep, ad.id, ad.role, ad.session_version);
}

static enum api_err admin_me_get(struct request *req, struct reply *rep)
{
	char *json;
	enum api_err err = admins_view(req->arena, req->admin_id, &json);

	if (err != E_OK)
		return err == E_NOT_FOUND ? E_UNAUTHORIZED : err;
	return reply_ok(rep, 200, jsonx_parse_or_empty(json));
}

static enum api_err admin_password_post(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	const char *why = NULL, *current = NULL, *fresh = NULL, *key;
	struct admin ad;
	long session = 0;
	char *hash;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "current_password", true, 1, 256, &current,
	                        &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "new_password", true, 1, PASSWORD_MAX,
	                        &fresh, &why)) != E_OK)
		return reply_error(rep, err, why);
	if (strlen(fresh) < PASSWORD_MIN || strlen(fresh) > PASSWORD_MAX)
		return reply_error(rep, E_BAD_REQUEST,
		                   "new_password: 8 to 256 bytes (新密码至少 8 个字节)");
	if (strcmp(fresh, current) == 0)
		return reply_error(rep, E_BAD_REQUEST,
		                   "new_password: must differ from the current one (新旧密码相同)");
	if ((err = admins_get_id(req->arena, req->admin_id, &ad)) != E_OK)
		return err == E_NOT_FOUND ? E_UNAUTHORIZED : err;
	key = admin_fail_key(req, ad.username);
	if ((err = admin_may_check(rep, key)) != E_OK)
		return err;
	if (!password_verify(current, ad.password_hash))
		return admin_failed(rep, key, E_FORBIDDEN, "current_password: 当前密码错误");
	if ((hash = password_hash(fresh)) == NULL)
		return E_INTERNAL;
	err = admins_set_password(req->arena, &who, ad.id, hash, &session);
	free(hash);
	if (err != E_OK || (err = redis_del(key)) != E_OK)
		return err;
	return admin_token_reply(rep, ad.id, ad.role, session);
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
     .handler = admin_login_post,
     .limit = &admin_login_limit},
    {.method = HTTP_GET,
     .pattern = "/admin/me",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = admin_me_get},
    {.method = HTTP_POST,
     .pattern = "/admin/password",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .body = BODY_JSON,
     .max_body = 2048,
     .handler = admin_password_post},
};

ROUTE_TABLE(admin_routes, admin_list);
