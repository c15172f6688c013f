/* router — see router.h. */
#include "fcgi/router.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fcgi/query.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/token.h"

static const char *const http_method_names[HTTP__MAX] = {
    [HTTP_GET] = "GET",     [HTTP_POST] = "POST",     [HTTP_PUT] = "PUT",
    [HTTP_PATCH] = "PATCH", [HTTP_DELETE] = "DELETE",
};

const char *http_method_name(enum http_method m)
{
	return (unsigned)m < HTTP__MAX ? http_method_names[m] : "?";
}

enum http_method http_method_parse(const char *s)
{
	for (int m = 0; m < HTTP__MAX; m++)
		if (s != NULL && strcmp(s, http_method_names[m]) == 0)
			return (enum http_method)m;
	return HTTP__MAX;
}

const char *request_query(const struct request *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

const char *request_env(const struct request *req, const char *name)
{
	size_t n = strlen(name);

	for (char **e = req->env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

enum api_err reply_error(struct reply *rep, enum api_err err, const char *message)
{
	rep->message = message;
	return err;
}

enum api_err reply_ok(struct reply *rep, int status, json_object *data)
{
	rep->status = status;
	if (rep->data != NULL)
		json_object_put(rep->data);
	rep->data = data;
	return E_OK;
}

/*
 * Matches path (after the prefix) against pattern; on success fills caps with the
 * undecoded ":name" segments (pointers into path, lengths in lens).
 */
static bool router_pattern(const char *pattern, const char *path, const char **caps, size_t *lens,
                           int *ncaps)
{
	int n = 0;

	while (*pattern != '\0' || *path != '\0') {
		const char *pe, *se;
		size_t plen, slen;

		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		pe = strchr(pattern, '/');
		se = strchr(path, '/');
		plen = pe ? (size_t)(pe - pattern) : strlen(pattern);
		slen = se ? (size_t)(se - path) : strlen(path);
		if (slen == 0)
			return false;
		if (*pattern == ':') {
			if (n >= ROUTE_MAX_CAPTURES)
				return false;
			caps[n] = path;
			lens[n] = slen;
			n++;
		} else if (plen != slen || memcmp(pattern, path, slen) != 0) {
			return false;
		}
		pattern += plen;
		path += slen;
	}
	*ncaps = n;
	return true;
}

enum api_err router_match(const struct route_table *const *tables, size_t ntables,
                          struct request *req, const char **allow)
{
	const size_t plen = sizeof(ROUTER_PREFIX) - 1, clen = sizeof(ROUTER_CLOUD_PREFIX) - 1;
	const char *path = req->path;
	const char *caps[ROUTE_MAX_CAPTURES];
	size_t lens[ROUTE_MAX_CAPTURES];
	unsigned methods = 0;
	enum route_prefix prefix;
	const char *seen = NULL;
	int ncaps;

	*allow = NULL;
	if (path != NULL && strncmp(path, ROUTER_PREFIX, plen) == 0 && path[plen] == '/') {
		prefix = ROUTE_V1;
		path += plen;
	} else if (path != NULL && strncmp(path, ROUTER_CLOUD_PREFIX, clen) == 0 &&
	           path[clen] == '/' && strcmp(path + clen, "/v1") != 0) {
		prefix = ROUTE_CLOUD;
		path += clen;
	} else {
		return E_NOT_FOUND;
	}
	for (size_t t = 0; t < ntables; t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct route *r = &tables[t]->routes[i];
			if (r->prefix != prefix ||
			    !router_pattern(r->pattern, path, caps, lens, &ncaps))
				continue;
			if (r->method != req->method) {
				methods |= 1u << r->method;
				if (seen == NULL)
					seen = r->pattern;
				continue;
			}
			for (int c = 0; c < ncaps; c++) {
				const char *v = query_decode(req->arena, caps[c], lens[c], false);
				if (v == NULL)
					return E_NOT_FOUND;
				req->captures[c] = v;
			}
			req->ncaptures = ncaps;
			req->route = r;
			return E_OK;
		}
	}
	if (methods == 0)
		return E_NOT_FOUND;
	{
		char buf[64] = "";
		size_t len = 0;
		for (int m = 0; m < HTTP__MAX; m++) {
			if (methods & (1u << m)) {
				int k = snprintf(buf + len, sizeof(buf) - len, "%s%s",
				                 len ? ", " : "", http_method_names[m]);
				if (k > 0 && (size_t)k < sizeof(buf) - len)
					len += (size_t)k;
			}
		}
		*allow = arena_strdup(req->arena, buf);
	}
	/* logged by the pattern, never by the path (a login QR scene is a secret in it) */
	req->log_route = seen;
	return E_METHOD_NOT_ALLOWED;
}

/*
 * Puts the app of a user token on the request: its channel and that channel's configured
 * appid.  A token that names another appid than the configured one was issued for an app this
 * service no longer serves (its openid means nothing to the configured one): 401, so the client
 * signs in again.  A token naming none (issued before tokens carried it) is the configured app's.
 */
static enum api_err router_channel(struct request *req, struct reply *rep,
                                   const struct token_claims *claims)
{
	const char *want = config_channel_appid(config_get(), claims->channel);

	req->channel = claims->channel;
	if (claims->appid[0] == '\0' || (want != NULL && strcmp(want, claims->appid) == 0)) {
		req->appid = want;
		return E_OK;
	}
	if (want == NULL) {
		req->appid = arena_strdup(req->arena, claims->appid);
		return E_OK;
	}
	log_info("token refused: issued for %s app %s, configured %s",
	         token_channel_name(claims->channel), claims->appid, want);
	return reply_error(rep, E_UNAUTHORIZED, "登录凭证属于另一个应用，请重新登录");
}

/* Checks the bearer token against the route's auth level. */
static enum api_err router_auth(struct request *req, struct reply *rep)
{
	const struct config *cfg = config_get();
	enum auth_level level = req->route->auth;
	struct token_claims claims;
	enum token_err terr;
	const char *h = req->authorization;

	if (level == AUTH_PUBLIC || level == AUTH_SIGNED)
		return E_OK;
	if (h == NULL || *h == '\0') {
		if (level == AUTH_OPTIONAL)
			return E_OK;
		return reply_error(rep, E_UNAUTHORIZED, "缺少登录凭证 (Authorization: Bearer)");
	}
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return reply_error(rep, E_UNAUTHORIZED,
		                   "Authorization 头格式错误，应为 Bearer <token>");
	h += 7;
	while (*h == ' ')
		h++;
	terr = token_verify_cached(cfg->jwt_secret, cfg->jwt_secret_len, cfg->jwt_issuer, h,
	                           time(NULL), &claims);
	if (terr != TOKEN_OK) {
		log_info("token refused: %s", token_err_str(terr));
		return reply_error(rep, E_UNAUTHORIZED,
		                   terr == TOKEN_EXPIRED ? "登录已过期" : "登录凭证无效");
	}
	req->authenticated = true;
	req->admin = claims.admin;
	/* the two kinds of subject never share a field: a user id cannot act as an admin id */
	if (claims.admin) {
		req->admin_id = claims.sub;
		req->role = claims.role;
		req->admin_session = claims.session;
	} else {
		req->user_id = claims.sub;
	}
	if (level == AUTH_ADMIN && !claims.admin)
		return reply_error(rep, E_FORBIDDEN, "需要管理员权限");
	if ((level == AUTH_USER || level == AUTH_OPTIONAL) && claims.admin)
		return reply_error(rep, E_FORBIDDEN, "管理员凭证不能用于用户接口");
	return claims.admin ? E_OK : router_channel(req, rep, &claims);
}

/* Reads and throws away what is left of the body (bounded), so the front end sees the
 * whole request consumed before our answer. */
static void router_drain(struct request *req)
{
	char buf[8192];
	long total = 0, n;

	if (req->read_body == NULL || req->content_length == 0)
		return;
	while (total < ROUTER_MAX_DRAIN &&
	       (n = req->read_body(req->read_ctx, buf, sizeof(buf))) > 0)
		total += n;
}

/* True when the Content-Type is application/json (parameters such as charset allowed). */
static bool router_is_json(const char *ct)
{
	size_t n = sizeof("application/json") - 1;
	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static enum api_err router_too_large(struct request *req, struct reply *rep)
{
	router_drain(req);
	return reply_error(
	    rep, E_PAYLOAD_TOO_LARGE,
	    arena_printf(req->arena, "body: at most %zu bytes", req->route->max_body));
}

/*
 * Reads the body (at most max_body bytes; Content-Length is checked before reading, the
 * bytes actually sent after), then, for JSON routes, checks the type and parses it.
 */
static enum api_err router_body(struct request *req, struct reply *rep)
{
	const struct route *r = req->route;
	bool json = r->body == BODY_JSON || r->body == BODY_JSON_OPTIONAL;
	size_t cap, len = 0;
	long n;
	json_tokener *tok;
	enum json_tokener_error jerr;

	if (r->body == BODY_NONE || req->content_length == 0 || req->read_body == NULL) {
		router_drain(req);
		goto empty;
	}
	if (req->content_length > 0 && (unsigned long long)req->content_length > r->max_body)
		return router_too_large(req, rep);
	if (json && req->content_length > 0 && !router_is_json(req->content_type)) {
		router_drain(req);
		return reply_error(rep, E_UNSUPPORTED_MEDIA_TYPE,
		                   "Content-Type must be application/json");
	}
	cap = r->max_body;
	req->body = arena_alloc(req->arena, cap + 2);
	while (len <= cap &&
	       (n = req->read_body(req->read_ctx, req->body + len, cap + 1 - len)) > 0)
		len += (size_t)n;
	if (len > r->max_body)
		return router_too_large(req, rep);
	req->body[len] = '\0';
	req->body_len = len;
	if (len == 0)
		goto empty;
	if (r->body == BODY_RAW)
		return E_OK;
	if (!router_is_json(req->content_type))
		return reply_error(rep, E_UNSUPPORTED_MEDIA_TYPE,
		                   "Content-Type must be application/json");
	if (!jsonx_text_ok(req->body, len))
		return reply_error(rep, E_BAD_REQUEST,
		                   "body: malformed JSON (invalid UTF-8 or quoting)");
	tok = json_tokener_new_ex(16);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* the terminating NUL is passed too: it ends a bare top-level number or literal */
	req->json = json_tokener_parse_ex(tok, req->body, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	if (req->json != NULL && jerr == json_tokener_success) {
		/* after the value only whitespace may follow */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (req->body[i] != ' ' && req->body[i] != '\n' && req->body[i] != '\r' &&
			    req->body[i] != '\t')
				jerr = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_success && req->json == NULL)
		goto empty; /* a literal null counts as no body */
	if (req->json == NULL || jerr != json_tokener_success) {
		json_object_put(req->json);
		req->json = NULL;
		if (jerr == json_tokener_success || jerr == json_tokener_continue)
			jerr = json_tokener_error_parse_eof;
		return reply_error(rep, E_BAD_REQUEST,
		                   arena_printf(req->arena, "body: malformed JSON (%s)",
		                                json_tokener_error_desc(jerr)));
	}
	return E_OK;
empty:
	if (r->body == BODY_JSON)
		return reply_error(rep, E_BAD_REQUEST, "body: a JSON object is required");
	return E_OK;
}

enum api_err (*router_account_hook)(struct request *req);
enum api_err (*router_admin_hook)(struct request *req, const char **why);

/* The route's account rule for an admin token, then the route's least role. */
static enum api_err router_admin_account(struct request *req, struct reply *rep)
{
	enum role need = req->route->role > ROLE_NONE ? req->route->role : ROLE_OWNER;
	const char *why = NULL;
	enum api_err err;

	if (req->route->account == ACCOUNT_ACTIVE && router_admin_hook != NULL &&
	    (err = router_admin_hook(req, &why)) != E_OK)
		return reply_error(rep, err, why);
	if (req->route->auth == AUTH_ADMIN && !role_allows(req->role, need))
		return reply_error(rep, E_FORBIDDEN,
		                   arena_printf(req->arena,
		                                "需要 %s 及以上角色 (role: %s or above)",
		                                role_name(need), role_name(need)));
	return E_OK;
}

/* The route's account rule: a user token's user (router_account_hook), an admin token's admin
 * and role (router_admin_account). */
static enum api_err router_account(struct request *req, struct reply *rep)
{
	enum api_err err;

	if (!req->authenticated)
		return E_OK;
	if (req->admin)
		return router_admin_account(req, rep);
	if (req->route->account != ACCOUNT_ACTIVE || router_account_hook == NULL)
		return E_OK;
	err = router_account_hook(req);
	if (err == E_UNAUTHORIZED)
		return reply_error(rep, err, "用户不存在");
	if (err == E_FORBIDDEN)
		return reply_error(rep, err, "账号已停用");
	return err;
}

enum api_err (*router_limit_hook)(const struct request *req, const struct rate_limit *rl,
                                  long long bytes, long *retry_after);

long long router_byte_cost(const struct request *req)
{
	const struct route *r = req->route;
	const struct rate_limit *rl = r ? r->limit : NULL;
	long long cost;

	if (rl == NULL || rl->bytes_per_hour <= 0 || rl->bytes_burst <= 0 || r->body == BODY_NONE)
		return 0;
	cost = req->content_length < 0 ? (long long)r->max_body : req->content_length;
	if (cost > (long long)r->max_body)
		cost = (long long)r->max_body;
	return cost < rl->bytes_burst ? cost : rl->bytes_burst;
}

/* A byte count for a message: "50 MiB", "8 KiB" or "1000 字节". */
static const char *router_size_text(struct arena *a, long long n)
{
	if (n > 0 && n % (1024 * 1024) == 0)
		return arena_printf(a, "%lld MiB", n / (1024 * 1024));
	if (n > 0 && n % 1024 == 0)
		return arena_printf(a, "%lld KiB", n / 1024);
	return arena_printf(a, "%lld 字节", n);
}

static enum api_err router_limit(struct request *req, struct reply *rep)
{
	const struct rate_limit *rl = req->route->limit;
	long long bytes = 0;
	long retry = 0;
	enum api_err err;

	if (rl == NULL || router_limit_hook == NULL)
		return E_OK;
	err = router_limit_hook(req, rl, 0, &retry);
	if (err == E_OK && (bytes = router_byte_cost(req)) > 0)
		err = router_limit_hook(req, rl, bytes, &retry);
	if (err != E_RATE_LIMITED)
		return err;
	rep->retry_after = retry > 0 ? retry : 1;
	if (bytes > 0)
		return reply_error(rep, err,
		                   arena_printf(req->arena,
		                                "数据量超出限制（每小时 %s，一次最多 %s），请 %ld "
		                                "秒后再试",
		                                router_size_text(req->arena, rl->bytes_per_hour),
		                                router_size_text(req->arena, rl->bytes_burst),
		                                rep->retry_after));
	return reply_error(
	    rep, err, arena_printf(req->arena, "请求过于频繁，请 %ld 秒后再试", rep->retry_after));
}

/* The route's Idempotency-Key rule: the header's shape, before the body is read. */
static enum api_err router_idem_key(struct request *req, struct reply *rep)
{
	enum idempotency_rule rule = req->route->idempotency;
	const char *k = req->idempotency_key;

	if (rule == IDEMPOTENCY_NONE) {
		req->idempotency_key = NULL;
		return E_OK;
	}
	if (k == NULL && rule == IDEMPOTENCY_OPTIONAL)
		return E_OK;
	if (k == NULL || *k == '\0' || jsonx_utf8_len(k) > 64)
		return reply_error(rep, E_BAD_REQUEST, ROUTER_IDEM_MESSAGE);
	return E_OK;
}

/* The keyed request's fingerprint: method, route pattern, the path's captures (a line each:
 * the same key on another object is another request), body (JSON re-serialised). */
static void router_idem_hash(struct request *req)
{
	const char *body = req->json != NULL ? jsonx_text(req->arena, req->json) : req->body;
	size_t blen = req->json != NULL ? strlen(body) : (body != NULL ? req->body_len : 0), hlen;
	const char *head =
	    arena_printf(req->arena, "%s %s\n", http_method_name(req->method), req->route->pattern);
	char *all, *hash = arena_alloc(req->arena, 65);

	for (int i = 0; i < req->ncaptures; i++)
		head = arena_printf(req->arena, "%s%s\n", head, req->captures[i]);
	hlen = strlen(head);
	all = arena_alloc(req->arena, hlen + blen + 1);
	memcpy(all, head, hlen);
	if (blen > 0)
		memcpy(all + hlen, body, blen);
	crypto_sha256_hex(all, hlen + blen, hash);
	req->idempotency_hash = hash;
}

/* CORS for the answer, whatever it is (an error too, so that the page can read it): with
 * CORS_ALLOWED_ORIGINS set, Vary: Origin, and for an Origin in that list the origin itself. */
static void router_cors(struct request *req, struct reply *rep)
{
	const struct config *cfg = config_get();
	const char *origin;

	if (cfg->ncors_origins == 0)
		return;
	rep->vary_origin = true;
	origin = request_env(req, "HTTP_ORIGIN");
	if (config_cors_allowed(cfg, origin))
		rep->cors_origin = arena_strdup(req->arena, origin);
}

/* OPTIONS: 204 with the methods of the path's routes (a CORS preflight when the origin is
 * allowed), before any auth or limit (a preflight never carries credentials); 404 for a path
 * without routes. */
static enum api_err router_options(const struct route_table *const *tables, size_t ntables,
                                   struct request *req, struct reply *rep)
{
	enum api_err err = router_match(tables, ntables, req, &rep->allow);

	router_drain(req);
	if (err != E_METHOD_NOT_ALLOWED)
		return E_NOT_FOUND;
	rep->preflight = true;
	return reply_ok(rep, 204, NULL);
}

enum api_err router_dispatch(const struct route_table *const *tables, size_t ntables,
                             struct request *req, struct reply *rep)
{
	enum api_err err;

	router_cors(req, rep);
	if (req->method == HTTP__MAX && req->method_name != NULL &&
	    strcmp(req->method_name, "OPTIONS") == 0)
		return router_options(tables, ntables, req, rep);
	err = router_match(tables, ntables, req, &rep->allow);
	if (err != E_OK) {
		router_drain(req);
		return err;
	}
	if ((err = router_auth(req, rep)) != E_OK || (err = router_account(req, rep)) != E_OK ||
	    (err = router_limit(req, rep)) != E_OK || (err = router_idem_key(req, rep)) != E_OK) {
		router_drain(req);
		return err;
	}
	if ((err = router_body(req, rep)) != E_OK)
		return err;
	if (req->idempotency_key != NULL)
		router_idem_hash(req);
	err = req->route->handler(req, rep);
	if (err == E_IDEMPOTENCY_MISMATCH && rep->message == NULL)
		rep->message = ROUTER_IDEM_MISMATCH;
	return err;
}
