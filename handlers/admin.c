/*
 * admin — the operators' console API.
 *
 * POST /admin/login (public) {"username","password"} → 200 {"token","expires_in"} (an admin
 *      token: audience "admin"); wrong username or password → 401 with one message for both.
 *      Failures are counted per (username, client address) for ADMIN_LOCK_SECONDS: after
 *      ADMIN_MAX_FAILURES every attempt at that username from that address → 429
 *      RATE_LIMITED with Retry-After (the right password too), while the same admin signs
 *      in from elsewhere as usual, so nobody can lock an admin out from their own address.
 *      Unknown usernames are counted and locked exactly alike and cost the same password
 *      check, so the answers tell nothing about which usernames exist.
 *      A disabled admin → 401; database down → 503 (fails closed).  Per client address at
 *      most 60 attempts at once, then two a second → 429; Redis down → 503 (the limits
 *      fail closed).  Password checks (scrypt, ~0.1 s of CPU each) are capped for the whole
 *      service at ADMIN_HASHES_BURST at once, then ADMIN_HASHES_PER_SECOND a second, so a
 *      flood from many addresses cannot starve the workers: past that → 429.
 */
#include <string.h>

#include "handlers/handlers.h"
#include "lib/crypto.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/password.h"
#include "lib/redis.h"
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

/* Counts one failure and answers the one 401 of every kind of failure. */
static enum api_err admin_failed(struct reply *rep, const char *key)
{
	long long n = 0;
	long ttl = 0;

	if (redis_counter(key, true, ADMIN_LOCK_SECONDS, &n, &ttl) != E_OK)
		return E_UNAVAILABLE;
	if (n >= ADMIN_MAX_FAILURES)
		log_warn("admin login: %lld failures from one address for one username, locked", n);
	return reply_error(rep, E_UNAUTHORIZED, "用户名或密码错误");
}

static enum api_err admin_login_post(struct request *req, struct reply *rep)
{
	const char *why = NULL, *username = NULL, *password = NULL, *key;
	struct admin ad;
	long long failures = 0;
	long ttl = 0, wait_ms = 0;
	enum api_err err;
	json_object *o;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "username", true, 1, 64, &username, &why)) !=
	        E_OK ||
	    (err = jsonx_string(req->arena, req->json, "password", true, 1, 256, &password,
	                        &why)) != E_OK)
		return reply_error(rep, err, why);
	key = admin_fail_key(req, username);
	if (redis_counter(key, false, ADMIN_LOCK_SECONDS, &failures, &ttl) != E_OK)
		return E_UNAVAILABLE;
	if (failures >= ADMIN_MAX_FAILURES)
		return admin_refused(rep, ttl, "登录失败次数过多，请稍后再试");
	if (redis_gcra("rl:admin-hash:all", 1000 / ADMIN_HASHES_PER_SECOND, ADMIN_HASHES_BURST,
	               &wait_ms) != E_OK)
		return E_UNAVAILABLE;
	if (wait_ms > 0)
		return admin_refused(rep, (wait_ms + 999) / 1000, "登录请求过多，请稍后再试");
	err = admins_get(req->arena, username, &ad);
	if (err == E_NOT_FOUND) {
		(void)password_verify(password, admin_decoy_hash);
		return admin_failed(rep, key);
	}
	if (err != E_OK)
		return err;
	if (!password_verify(password, ad.password_hash) || ad.disabled)
		return admin_failed(rep, key);
	if ((err = admins_login_ok(req->arena, ad.id)) != E_OK || (err = redis_del(key)) != E_OK)
		return err;
	o = json_object_new_object();
	if ((err = handlers_add_token(o, ad.id, TOKEN_CHANNEL_NONE)) != E_OK) {
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
     .handler = admin_login_post,
     .limit = &admin_login_limit},
};

ROUTE_TABLE(admin_routes, admin_list);
