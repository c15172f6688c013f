/*
 * auth — signing users in through WeChat (API.md "Auth and WeChat identity").
 *
 * GET  /auth/wechat/authorize?redirect=&scope= (public) → 302 to WeChat's OAuth page with a
 *      one-time state (Redis oauth:state:<state>, 10 min); redirect must be a same-site path
 *      (400 otherwise), scope snsapi_base (default) or snsapi_userinfo.  The state is bound
 *      to the browser that asked: the answer sets the HttpOnly cookie AUTH_BIND_COOKIE
 *      (random, reused while the browser still has it) and the state remembers its hash.
 * Every login answers a user token for its channel (lib/token): oauth → "oa", mp login → "mp",
 * the QR poll → "web", each with its app's appid (the QR code is the Official Account's).
 * POST /auth/wechat/oauth {"code","state"} (public) → 200 {"token","expires_in","user"};
 *      unknown/used state, or a state issued to another browser (no or another cookie: login
 *      CSRF) → 400; a code WeChat rejects (bad, used) → 401.
 * POST /auth/mp/login {"code"} (public) → 200 login answer; rejected code → 401.
 * POST /auth/wechat/qrcode (public) → 200 {"scene","qrcode_url","expires_in","poll_secret"}:
 *      a temporary QR_STR_SCENE code "login_<scene>"; Redis qrlogin:<scene> = pending for its
 *      lifetime, qrsecret:<scene> = the SHA-256 of poll_secret.
 * GET  /auth/wechat/qrcode/:scene (public, header X-QR-Secret: the poll_secret) →
 *      {"status":"pending"|"confirmed"|"expired"}, with "token" and "user" exactly once after
 *      the scan confirmed it (handlers/wechat.c).  No or another secret → 403: a scene seen
 *      elsewhere (a log, a shoulder) is worthless without the secret of the browser that
 *      created it.
 * GET  /auth/wechat/jssdk?url= (public) → {"appId","timestamp","nonceStr","signature"}.
 * Redis down → 503 (logins fail closed); WeChat unreachable or refusing → 502.
 * Per client address (GCRA, failing closed): authorize, oauth and qrcode creation 30 at
 * once then 30 a minute; mp login 20 at once then 20 a minute; a QR poll every 2 s (120 at
 * once) → 429 + Retry-After beyond.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/httpc.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/wechat/wxapi.h"
#include "lib/wechat/wxsign.h"
#include "model/identities.h"

#define AUTH_STATE_TTL 600
#define AUTH_QR_TTL 300
#define AUTH_BIND_COOKIE "aiphoto_oauth"

/* True when stored is the hex SHA-256 of given (a secret the client sends back: the OAuth
 * binding cookie, the QR poll secret), compared in constant time; false for a NULL given. */
static bool auth_hash_matches(const char *stored, const char *given)
{
	char h[65];

	if (given == NULL || strlen(stored) != 64)
		return false;
	crypto_sha256_hex(given, strlen(given), h);
	return CRYPTO_memcmp(stored, h, 64) == 0;
}

/* The binding cookie the browser sent (32 hex characters), or NULL. */
static const char *auth_bind_cookie(struct request *req)
{
	const char *c = request_env(req, "HTTP_COOKIE");
	const size_t n = sizeof(AUTH_BIND_COOKIE) - 1;

	for (; c != NULL && *c != '\0'; c = strchr(c, ';') ? strchr(c, ';') + 1 : NULL) {
		while (*c == ' ')
			c++;
		if (strncmp(c, AUTH_BIND_COOKIE "=", n + 1) == 0) {
			size_t len = strcspn(c + n + 1, "; ");
			if (len != 32 || strspn(c + n + 1, "0123456789abcdef") < 32)
				return NULL;
			return arena_strndup(req->arena, c + n + 1, 32);
		}
	}
	return NULL;
}

/* A same-site path: "/…", not "//…", no backslash, no control character or space. */
static bool auth_same_site(const char *p)
{
	if (p == NULL || p[0] != '/' || p[1] == '/' || strlen(p) > 512)
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '\\' || *p == 0x7f)
			return false;
	return true;
}

static enum api_err auth_authorize_get(struct request *req, struct reply *rep)
{
	const struct config *c = config_get();
	const char *redirect = request_query(req, "redirect");
	const char *scope = request_query(req, "scope");
	char state[33], fresh_bind[33], bind_hash[65];
	const char *bind;
	bool fresh = false;
	enum api_err err;

	if (redirect == NULL || *redirect == '\0')
		redirect = "/wechat/member.html";
	if (!auth_same_site(redirect))
		return reply_error(rep, E_BAD_REQUEST, "redirect: must be a path on this site");
	if (scope == NULL || *scope == '\0')
		scope = "snsapi_base";
	if (strcmp(scope, "snsapi_base") != 0 && strcmp(scope, "snsapi_userinfo") != 0)
		return reply_error(rep, E_BAD_REQUEST, "scope: snsapi_base or snsapi_userinfo");
	if (c->wechat_appid == NULL)
		return reply_error(rep, E_UNAVAILABLE, "WeChat login is not configured");
	if ((bind = auth_bind_cookie(req)) == NULL) {
		if (crypto_random_hex(16, fresh_bind) < 0)
			return E_INTERNAL;
		bind = fresh_bind;
	}
	if (crypto_random_hex(16, state) < 0)
		return E_INTERNAL;
	crypto_sha256_hex(bind, strlen(bind), bind_hash);
	err = redis_set_nx_ex(arena_printf(req->arena, "oauth:state:%s", state),
	                      arena_printf(req->arena, "%s %s", scope, bind_hash), AUTH_STATE_TTL,
	                      &fresh);
	if (err != E_OK || !fresh)
		return err != E_OK ? err : E_INTERNAL;
	rep->set_cookie =
	    arena_printf(req->arena,
	                 AUTH_BIND_COOKIE "=%s; Path=/api/v1/auth/wechat; Max-Age=%d; HttpOnly; "
	                                  "SameSite=Lax%s",
	                 bind, AUTH_STATE_TTL,
	                 strncmp(c->public_base_url, "https://", 8) == 0 ? "; Secure" : "");
	rep->location = arena_printf(
	    req->arena,
	    "%s/connect/oauth2/authorize?appid=%s&redirect_uri=%s&response_type=code&scope=%s"
	    "&state=%s#wechat_redirect",
	    c->wechat_open_base, httpc_escape(req->arena, c->wechat_appid),
	    httpc_escape(req->arena,
	                 arena_printf(req->arena, "%s%s", c->public_base_url, redirect)),
	    scope, state);
	return reply_ok(rep, 302, NULL);
}

static enum api_err auth_oauth_post(struct request *req, struct reply *rep)
{
	const struct config *c = config_get();
	const char *why = NULL, *code = NULL, *state = NULL;
	struct identity_login in = {.app_kind = "oa", .subscribe = IDENTITY_SUB_KEEP};
	struct wxapi_oauth o;
	struct wxapi_userinfo ui;
	char *scope = NULL, *sep;
	int64_t uid;
	bool created;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "code", true, 1, 128, &code, &why)) !=
	        E_OK ||
	    (err = jsonx_string(req->arena, req->json, "state", true, 1, 64, &state, &why)) != E_OK)
		return reply_error(rep, err, why);
	/* the state is single use: taken before the code is even looked at */
	if ((err = redis_getdel(req->arena, arena_printf(req->arena, "oauth:state:%s", state),
	                        &scope)) != E_OK)
		return err;
	if (scope == NULL)
		return reply_error(rep, E_BAD_REQUEST, "state: unknown, expired or already used");
	if ((sep = strchr(scope, ' ')) == NULL ||
	    !auth_hash_matches(sep + 1, auth_bind_cookie(req)))
		return reply_error(rep, E_BAD_REQUEST,
		                   "state: issued to another browser (cookie " AUTH_BIND_COOKIE
		                   " missing or different)");
	*sep = '\0';
	if ((err = wxapi_oauth_exchange(req->arena, code, &o)) != E_OK)
		return err == E_UNAUTHORIZED
		           ? reply_error(rep, E_UNAUTHORIZED, "code: invalid or already used")
		           : err;
	in.appid = c->wechat_appid;
	in.openid = o.openid;
	in.unionid = o.unionid;
	if (o.scope != NULL && strstr(o.scope, "snsapi_userinfo") != NULL &&
	    wxapi_oauth_userinfo(req->arena, &o, &ui) == E_OK) {
		in.nickname = ui.nickname;
		in.avatar_url = ui.headimgurl;
		if (in.unionid == NULL)
			in.unionid = ui.unionid;
	}
	if ((err = identities_login(req->arena, &in, &uid, &created)) != E_OK)
		return err;
	return handlers_login_reply(req, rep, uid, TOKEN_CHANNEL_OA);
}

static enum api_err auth_mp_login_post(struct request *req, struct reply *rep)
{
	const struct config *c = config_get();
	const char *why = NULL, *code = NULL;
	struct identity_login in = {.app_kind = "mp", .subscribe = IDENTITY_SUB_KEEP};
	struct wxapi_session s;
	int64_t uid;
	bool created;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "code", true, 1, 128, &code, &why)) != E_OK)
		return reply_error(rep, err, why);
	if ((err = wxapi_jscode2session(req->arena, code, &s)) != E_OK)
		return err == E_UNAUTHORIZED
		           ? reply_error(rep, E_UNAUTHORIZED, "code: invalid or already used")
		           : err;
	in.appid = c->wechat_mp_appid;
	in.openid = s.openid;
	in.unionid = s.unionid;
	if ((err = identities_login(req->arena, &in, &uid, &created)) != E_OK)
		return err;
	return handlers_login_reply(req, rep, uid, TOKEN_CHANNEL_MP);
}

static enum api_err auth_qrcode_post(struct request *req, struct reply *rep)
{
	char scene[33], secret[33], secret_hash[65];
	struct wxapi_qrcode qr;
	bool fresh = false;
	enum api_err err;
	json_object *o;

	if (crypto_random_hex(16, scene) < 0 || crypto_random_hex(16, secret) < 0)
		return E_INTERNAL;
	crypto_sha256_hex(secret, strlen(secret), secret_hash);
	if ((err = redis_set_ex(arena_printf(req->arena, "qrsecret:%s", scene), secret_hash,
	                        AUTH_QR_TTL)) != E_OK ||
	    (err = redis_set_nx_ex(arena_printf(req->arena, "qrlogin:%s", scene), "pending",
	                           AUTH_QR_TTL, &fresh)) != E_OK)
		return err;
	if (!fresh)
		return E_INTERNAL;
	if ((err = wxapi_qrcode_create(req->arena, arena_printf(req->arena, "login_%s", scene),
	                               AUTH_QR_TTL, &qr)) != E_OK)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "scene", json_object_new_string(scene));
	json_object_object_add(
	    o, "qrcode_url",
	    json_object_new_string(arena_printf(req->arena, "%s/cgi-bin/showqrcode?ticket=%s",
	                                        config_get()->wechat_mp_base,
	                                        httpc_escape(req->arena, qr.ticket))));
	json_object_object_add(o, "expires_in", json_object_new_int64(AUTH_QR_TTL));
	json_object_object_add(o, "poll_secret", json_object_new_string(secret));
	return reply_ok(rep, 200, o);
}

static bool auth_scene_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 32;
}

static enum api_err auth_qrcode_item_get(struct request *req, struct reply *rep)
{
	const char *scene = req->captures[0];
	const char *key = arena_printf(req->arena, "qrlogin:%s", scene);
	json_object *o = json_object_new_object();
	char *v = NULL;
	long long uid = 0;
	bool mine = false;
	enum api_err err = E_OK;

	char *want = NULL;

	if (auth_scene_ok(scene) &&
	    (err = redis_get(req->arena, arena_printf(req->arena, "qrsecret:%s", scene), &want)) ==
	        E_OK &&
	    want != NULL) {
		if (!auth_hash_matches(want, request_env(req, "HTTP_X_QR_SECRET"))) {
			json_object_put(o);
			return reply_error(
			    rep, E_FORBIDDEN,
			    "X-QR-Secret: not the browser that created this QR code");
		}
		err = redis_get(req->arena, key, &v);
	}
	if (err != E_OK) {
		json_object_put(o);
		return err;
	}
	if (v == NULL) {
		json_object_object_add(o, "status", json_object_new_string("expired"));
	} else if (strcmp(v, "pending") == 0) {
		json_object_object_add(o, "status", json_object_new_string("pending"));
	} else {
		json_object_object_add(o, "status", json_object_new_string("confirmed"));
		/* "confirmed:<uid>" becomes "done:<uid>": whoever swaps it gets the token */
		if (sscanf(v, "confirmed:%lld", &uid) == 1 &&
		    (err = redis_swap_if_equal(key, v, arena_printf(req->arena, "done:%lld", uid),
		                               &mine)) == E_OK &&
		    mine) {
			struct reply login = {0};
			json_object_put(o);
			if ((err = handlers_login_reply(req, &login, uid, TOKEN_CHANNEL_WEB)) !=
			    E_OK) {
				rep->message = login.message;
				return err;
			}
			o = login.data;
			json_object_object_del(o, "expires_in"); /* API.md: status, token, user */
			json_object_object_add(o, "status", json_object_new_string("confirmed"));
		}
		if (err != E_OK) {
			json_object_put(o);
			return err;
		}
	}
	return reply_ok(rep, 200, o);
}

static enum api_err auth_jssdk_get(struct request *req, struct reply *rep)
{
	const struct config *c = config_get();
	const char *url = request_query(req, "url");
	const char *ticket = NULL, *hash;
	char nonce[17], ts[24], sig[41];
	time_t now = time(NULL);
	enum api_err err;
	json_object *o;

	if (url == NULL || *url == '\0' || strlen(url) > 1024 ||
	    (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
		return reply_error(rep, E_BAD_REQUEST, "url: the page's http(s) URL is required");
	if ((hash = strchr(url, '#')) != NULL)
		url = arena_strndup(req->arena, url, (size_t)(hash - url));
	if ((err = wxapi_jsapi_ticket(req->arena, &ticket)) != E_OK)
		return err;
	if (crypto_random_hex(8, nonce) < 0)
		return E_INTERNAL;
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	wxsign_jssdk(ticket, nonce, ts, url, sig);
	o = json_object_new_object();
	json_object_object_add(o, "appId",
	                       json_object_new_string(c->wechat_appid ? c->wechat_appid : ""));
	json_object_object_add(o, "timestamp", json_object_new_int64((int64_t)now));
	json_object_object_add(o, "nonceStr", json_object_new_string(nonce));
	json_object_object_add(o, "signature", json_object_new_string(sig));
	return reply_ok(rep, 200, o);
}

/* Anonymous login routes, per client address; each costs Redis state or a WeChat call, so
 * without Redis they are refused rather than left unlimited. */
static const struct rate_limit auth_login_limit = {
    .name = "login", .per_minute = 30, .burst = 30, .fail_closed = true};
static const struct rate_limit auth_mp_limit = {
    .name = "mp-login", .per_minute = 20, .burst = 20, .fail_closed = true};
static const struct rate_limit auth_qrcode_limit = {
    .name = "qrcode", .per_minute = 30, .burst = 30, .fail_closed = true};
static const struct rate_limit auth_poll_limit = {
    .name = "qrcode-poll", .per_minute = 30, .burst = 120, .fail_closed = true};

static const struct route auth_list[] = {
    {.method = HTTP_GET,
     .pattern = "/auth/wechat/authorize",
     .auth = AUTH_PUBLIC,
     .handler = auth_authorize_get,
     .limit = &auth_login_limit},
    {.method = HTTP_POST,
     .pattern = "/auth/wechat/oauth",
     .auth = AUTH_PUBLIC,
     .body = BODY_JSON,
     .max_body = 2048,
     .handler = auth_oauth_post,
     .limit = &auth_login_limit},
    {.method = HTTP_POST,
     .pattern = "/auth/mp/login",
     .auth = AUTH_PUBLIC,
     .body = BODY_JSON,
     .max_body = 2048,
     .handler = auth_mp_login_post,
     .limit = &auth_mp_limit},
    {.method = HTTP_POST,
     .pattern = "/auth/wechat/qrcode",
     .auth = AUTH_PUBLIC,
     .handler = auth_qrcode_post,
     .limit = &auth_qrcode_limit},
    {.method = HTTP_GET,
     .pattern = "/auth/wechat/qrcode/:scene",
     .auth = AUTH_PUBLIC,
     .handler = auth_qrcode_item_get,
     .limit = &auth_poll_limit},
    {.method = HTTP_GET,
     .pattern = "/auth/wechat/jssdk",
     .auth = AUTH_PUBLIC,
     .handler = auth_jssdk_get},
};

ROUTE_TABLE(auth_routes, auth_list);
