/*
 * test_router — matching over a route table of our own, and router_dispatch end to end
 * with the body read from memory: size, type, JSON syntax and auth policy.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi/router.h"
#include "lib/config.h"
#include "lib/token.h"
#include "tests/unit/suites.h"

/* What the handlers saw. */
static struct {
	int calls;
	const char *name;
	int64_t user_id, admin_id;
	enum role role;
	bool authenticated, admin;
	bool had_json;
	int ncaptures;
	const char *captures[ROUTE_MAX_CAPTURES];
	size_t body_len;
	const char *idem_key, *idem_hash;
	enum token_channel channel;
	const char *appid;
} rt_seen;

static enum api_err rt_record(const char *name, struct request *req, struct reply *rep)
{
	rt_seen.calls++;
	rt_seen.name = name;
	rt_seen.user_id = req->user_id;
	rt_seen.admin_id = req->admin_id;
	rt_seen.role = req->role;
	rt_seen.authenticated = req->authenticated;
	rt_seen.admin = req->admin;
	rt_seen.had_json = req->json != NULL;
	rt_seen.ncaptures = req->ncaptures;
	for (int i = 0; i < req->ncaptures; i++)
		rt_seen.captures[i] = req->captures[i];
	rt_seen.body_len = req->body_len;
	rt_seen.idem_key = req->idempotency_key;
	rt_seen.idem_hash = req->idempotency_hash;
	rt_seen.channel = req->channel;
	rt_seen.appid = req->appid;
	return reply_ok(rep, 200, json_object_new_string(name));
}

#define RT_HANDLER(fn)                                                 \
	static enum api_err fn(struct request *req, struct reply *rep) \
	{                                                              \
		return rt_record(#fn, req, rep);                       \
	}

RT_HANDLER(rt_items_list)
RT_HANDLER(rt_items_create)
RT_HANDLER(rt_items_new)
RT_HANDLER(rt_item_get)
RT_HANDLER(rt_item_delete)
RT_HANDLER(rt_item_tag)
RT_HANDLER(rt_me)
RT_HANDLER(rt_admin)
RT_HANDLER(rt_maybe)
RT_HANDLER(rt_raw)
RT_HANDLER(rt_opt)
RT_HANDLER(rt_root_sub)

static const struct rate_limit rt_limit = {.name = "rt", .per_minute = 60, .burst = 2};
static const struct rate_limit rt_byte_limit = {
    .name = "rtb", .per_minute = 60, .burst = 2, .bytes_per_hour = 4096, .bytes_burst = 10};

/* A fake limiter: answers what rt_limit_answer (requests) and rt_bytes_answer (bytes) say,
 * counts its calls and remembers the last byte cost. */
static enum api_err rt_limit_answer, rt_bytes_answer;
static int rt_limit_calls;
static long long rt_limit_bytes;

static enum api_err rt_fake_limit(const struct request *req, const struct rate_limit *rl,
                                  long long bytes, long *retry_after)
{
	enum api_err answer = bytes > 0 ? rt_bytes_answer : rt_limit_answer;

	ck_assert_ptr_eq(rl, req->route->limit);
	ck_assert(rl == &rt_limit || rl == &rt_byte_limit);
	rt_limit_calls++;
	if (bytes > 0)
		rt_limit_bytes = bytes;
	if (answer == E_RATE_LIMITED)
		*retry_after = bytes > 0 ? 90 : 7;
	return answer;
}

static const struct route rt_routes_a[] = {
    /* POST listed before GET: Allow must still come out in method order */
    {.method = HTTP_POST,
     .pattern = "/items",
     .auth = AUTH_PUBLIC,
     .body = BODY_JSON,
     .max_body = 64,
     .handler = rt_items_create},
    {.method = HTTP_GET, .pattern = "/items", .handler = rt_items_list},
    {.method = HTTP_GET, .pattern = "/items/new", .handler = rt_items_new},
    {.method = HTTP_GET, .pattern = "/items/:id", .handler = rt_item_get},
    {.method = HTTP_DELETE, .pattern = "/items/:id", .auth = AUTH_USER, .handler = rt_item_delete},
    {.method = HTTP_GET, .pattern = "/items/:id/tags/:tag", .handler = rt_item_tag},
};

static const struct route rt_routes_b[] = {
    {.method = HTTP_GET, .pattern = "/me", .auth = AUTH_USER, .handler = rt_me},
    {.method = HTTP_GET,
     .pattern = "/admin/stats",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = rt_admin},

    {.method = HTTP_GET, .pattern = "/maybe", .auth = AUTH_OPTIONAL, .handler = rt_maybe},
    {.method = HTTP_POST, .pattern = "/raw", .body = BODY_RAW, .max_body = 16, .handler = rt_raw},
    {.method = HTTP_POST,
     .pattern = "/opt",
     .body = BODY_JSON_OPTIONAL,
     .max_body = 64,
     .handler = rt_opt},
    {.method = HTTP_POST,
     .pattern = "/deep",
     .body = BODY_JSON,
     .max_body = 4096,
     .handler = rt_opt},
    {.method = HTTP_GET, .pattern = "/v", .handler = rt_root_sub},
    {.method = HTTP_POST,
     .pattern = "/limited",
     .body = BODY_JSON,
     .max_body = 64,
     .handler = rt_opt,
     .limit = &rt_limit},
    {.method = HTTP_POST,
     .pattern = "/heavy",
     .body = BODY_RAW,
     .max_body = 16,
     .handler = rt_raw,
     .limit = &rt_byte_limit},
    {.method = HTTP_POST,
     .pattern = "/once",
     .body = BODY_JSON,
     .max_body = 64,
     .handler = rt_opt,
     .idempotency = IDEMPOTENCY_REQUIRED},
    {.method = HTTP_POST,
     .pattern = "/maybe-once",
     .body = BODY_JSON,
     .max_body = 64,
     .handler = rt_opt,
     .idempotency = IDEMPOTENCY_OPTIONAL},
    /* appended: tests above find routes by index */
    {.method = HTTP_POST,
     .pattern = "/admin/config",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .handler = rt_admin},
    {.method = HTTP_GET, .pattern = "/admin/owners", .auth = AUTH_ADMIN, .handler = rt_admin},
};

static ROUTE_TABLE(rt_table_a, rt_routes_a);
static ROUTE_TABLE(rt_table_b, rt_routes_b);
static const struct route_table *const rt_tables[] = {&rt_table_a, &rt_table_b};
#define RT_NTABLES (sizeof(rt_tables) / sizeof(rt_tables[0]))

/* The body source: a memory buffer handed out at most chunk bytes per call. */
static struct {
	const char *buf;
	size_t len, pos, chunk;
	int calls;
} rt_body;

static long rt_read_body(void *ctx, char *buf, size_t n)
{
	size_t k;

	(void)ctx;
	rt_body.calls++;
	k = rt_body.len - rt_body.pos;
	if (k > n)
		k = n;
	if (k > rt_body.chunk)
		k = rt_body.chunk;
	if (k > 0)
		memcpy(buf, rt_body.buf + rt_body.pos, k);
	rt_body.pos += k;
	return (long)k;
}

static struct arena rt_arena;
static struct request rt_req;
static struct reply rt_rep;
static char *rt_user_token, *rt_admin_token;

static void rt_setup(void)
{
	char err[256];
	const struct config *c;

	unit_env_baseline();
	ck_assert_msg(config_load(CONFIG_NEED_ALL, err, sizeof(err)) == 0, "config: %s", err);
	c = config_get();
	rt_user_token = token_issue(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, 42, false,
	                            3600, time(NULL));
	rt_admin_token = token_issue_admin(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, 7,
	                                   ROLE_OPERATOR, 2, 3600, time(NULL));
	ck_assert_ptr_nonnull(rt_user_token);
	ck_assert_ptr_nonnull(rt_admin_token);
	arena_init(&rt_arena, 4096);
	memset(&rt_seen, 0, sizeof(rt_seen));
	memset(&rt_body, 0, sizeof(rt_body));
	memset(&rt_req, 0, sizeof(rt_req));
	memset(&rt_rep, 0, sizeof(rt_rep));
}

static void rt_teardown(void)
{
	json_object_put(rt_req.json);
	json_object_put(rt_rep.data);
	rt_req.json = NULL;
	rt_rep.data = NULL;
	free(rt_user_token);
	free(rt_admin_token);
	arena_fini(&rt_arena);
}

/* A fresh request (the previous one's objects released). */
static void rt_request(enum http_method m, const char *path)
{
	json_object_put(rt_req.json);
	json_object_put(rt_rep.data);
	memset(&rt_req, 0, sizeof(rt_req));
	memset(&rt_rep, 0, sizeof(rt_rep));
	memset(&rt_seen, 0, sizeof(rt_seen));
	rt_req.arena = &rt_arena;
	rt_req.method = m;
	rt_req.method_name = http_method_name(m);
	rt_req.path = path;
	rt_req.query = "";
	rt_req.content_length = -1;
	rt_req.read_body = rt_read_body;
	rt_req.read_ctx = &rt_body;
}

static void rt_set_body(const char *type, const char *body, size_t len, long long content_length)
{
	rt_body.buf = body;
	rt_body.len = len;
	rt_body.pos = 0;
	rt_body.chunk = 7; /* odd-sized reads exercise the read loop */
	rt_body.calls = 0;
	rt_req.content_type = type;
	rt_req.content_length = content_length;
}

/* router_match only; returns the error and leaves *allow. */
static enum api_err rt_match(enum http_method m, const char *path, const char **allow)
{
	rt_request(m, path);
	return router_match(rt_tables, RT_NTABLES, &rt_req, allow);
}

static enum api_err rt_dispatch(void)
{
	return router_dispatch(rt_tables, RT_NTABLES, &rt_req, &rt_rep);
}

/* POST a JSON body with the exact Content-Length. */
static enum api_err rt_post_json(const char *path, const char *body)
{
	rt_request(HTTP_POST, path);
	rt_set_body("application/json", body, strlen(body), (long long)strlen(body));
	return rt_dispatch();
}

START_TEST(router_match_static_and_captures)
{
	const char *allow;

	ck_assert_int_eq(rt_match(HTTP_GET, "/api/v1/items", &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route->handler, rt_items_list);
	ck_assert_int_eq(rt_req.ncaptures, 0);
	ck_assert_ptr_null(allow);

	ck_assert_int_eq(rt_match(HTTP_GET, "/api/v1/items/new", &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route->handler, rt_items_new);

	ck_assert_int_eq(rt_match(HTTP_GET, "/api/v1/items/17", &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route->handler, rt_item_get);
	ck_assert_int_eq(rt_req.ncaptures, 1);
	ck_assert_str_eq(rt_req.captures[0], "17");

	ck_assert_int_eq(rt_match(HTTP_GET, "/api/v1/items/a%2Fb%20c/tags/%E4%BA%BA+x", &allow),
	                 E_OK);
	ck_assert_ptr_eq(rt_req.route->handler, rt_item_tag);
	ck_assert_int_eq(rt_req.ncaptures, 2);
	ck_assert_str_eq(rt_req.captures[0], "a/b c");
	ck_assert_str_eq(rt_req.captures[1], "\xe4\xba\xba+x"); /* '+' is not a space in paths */

	ck_assert_int_eq(rt_match(HTTP_GET, "/api/v1/me", &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route->handler, rt_me);
	ck_assert_int_eq(rt_match(HTTP_GET, "/api/v1/v", &allow), E_OK);
}
END_TEST

START_TEST(router_match_not_found)
{
	static const char *const paths[] = {
	    "/api/v1/items/%00",
	    "/api/v1/items/a%00b/tags/x",
	    "/api/v1/items/",
	    "/api/v1/items/17/",
	    "/api/v1//items",
	    "/api/v1/items//17",
	    "/api/v1",
	    "/api/v1/",
	    "/api/v10/items",
	    "/api/v1items",
	    "/items",
	    "/api/v2/items",
	    "/API/V1/items",
	    "",
	    "/api/v1/items/17/tags",
	    "/api/v1/items/17/tags/x/y",
	    "/api/v1/nothing",
	    "api/v1/items",
	    "/api/v1/Items",
	    "/api/v1/items/17/tags/",
	};
	const char *allow;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ck_assert_msg(rt_match(HTTP_GET, paths[i], &allow) == E_NOT_FOUND, "path %s",
		              paths[i]);
		ck_assert_ptr_null(allow);
		ck_assert_ptr_null(rt_req.route);
	}
	ck_assert_int_eq(rt_match(HTTP_GET, NULL, &allow), E_NOT_FOUND);
}
END_TEST

/* ROUTE_CLOUD routes: matched below /api (outside /api/v1) only; ROUTE_V1 ones never there. */
static const struct route rt_routes_cloud[] = {
    {.method = HTTP_POST, .pattern = "/:one", .handler = rt_opt, .prefix = ROUTE_CLOUD},
    {.method = HTTP_POST, .pattern = "/:fn/:action", .handler = rt_opt, .prefix = ROUTE_CLOUD},
    {.method = HTTP_POST, .pattern = "/cloud/:fn", .handler = rt_raw},
};
static ROUTE_TABLE(rt_table_cloud, rt_routes_cloud);

START_TEST(router_match_cloud_prefix)
{
	static const struct route_table *const tables[] = {&rt_table_cloud};
	static const char *const none[] = {"/api/v1",     "/api/v1/", "/api/v1/x",
	                                   "/api/v1/a/b", "/api/",    "/api",
	                                   "/api/a/b/c",  "/api//b",  "/apix/a"};
	const char *allow;

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		rt_request(HTTP_POST, none[i]);
		ck_assert_msg(router_match(tables, 1, &rt_req, &allow) == E_NOT_FOUND, "path %s",
		              none[i]);
	}
	rt_request(HTTP_POST, "/api/works");
	ck_assert_int_eq(router_match(tables, 1, &rt_req, &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route, &rt_routes_cloud[0]);
	ck_assert_str_eq(rt_req.captures[0], "works");
	rt_request(HTTP_POST, "/api/payment/createOrder");
	ck_assert_int_eq(router_match(tables, 1, &rt_req, &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route, &rt_routes_cloud[1]);
	ck_assert_str_eq(rt_req.captures[1], "createOrder");
	/* /cloud/:fn is an ordinary /api/v1 route; below /api it is a cloud path */
	rt_request(HTTP_POST, "/api/v1/cloud/api");
	ck_assert_int_eq(router_match(tables, 1, &rt_req, &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route, &rt_routes_cloud[2]);
	rt_request(HTTP_POST, "/api/cloud/api");
	ck_assert_int_eq(router_match(tables, 1, &rt_req, &allow), E_OK);
	ck_assert_ptr_eq(rt_req.route, &rt_routes_cloud[1]);
	/* the v1 tables are never matched below /api */
	ck_assert_int_eq(rt_match(HTTP_GET, "/api/items", &allow), E_NOT_FOUND);
	ck_assert_int_eq(rt_match(HTTP_GET, "/api/items/17", &allow), E_NOT_FOUND);
}
END_TEST

START_TEST(router_match_405)
{
	const char *allow;

	ck_assert_int_eq(rt_match(HTTP_PUT, "/api/v1/items", &allow), E_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(allow, "GET, POST");
	ck_assert_int_eq(rt_match(HTTP_POST, "/api/v1/items/9", &allow), E_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(allow, "GET, DELETE");
	/* logged by its pattern, not by the path */
	ck_assert_str_eq(rt_req.log_route, "/items/:id");
	ck_assert_int_eq(rt_match(HTTP_GET, "/api/v1/raw", &allow), E_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(allow, "POST");
	/* a static segment matched by the capture route as well: only its methods */
	ck_assert_int_eq(rt_match(HTTP_PATCH, "/api/v1/items/new", &allow), E_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(allow, "GET, DELETE");
	/* an unknown method on a known path → 405; elsewhere → 404 */
	ck_assert_int_eq(rt_match(HTTP__MAX, "/api/v1/items", &allow), E_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(allow, "GET, POST");
	ck_assert_int_eq(rt_match(HTTP__MAX, "/api/v1/nothing", &allow), E_NOT_FOUND);
	ck_assert_ptr_null(allow);
}
END_TEST

START_TEST(router_dispatch_405_and_404)
{
	rt_request(HTTP_DELETE, "/api/v1/items");
	ck_assert_int_eq(rt_dispatch(), E_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(rt_rep.allow, "GET, POST");
	ck_assert_int_eq(rt_seen.calls, 0);
	rt_request(HTTP_GET, "/api/v1/none");
	rt_set_body(NULL, "abc", 3, 3);
	ck_assert_int_eq(rt_dispatch(), E_NOT_FOUND);
	ck_assert_ptr_null(rt_rep.allow);
	ck_assert_uint_eq(rt_body.pos, 3); /* drained */
}
END_TEST

START_TEST(router_dispatch_get)
{
	rt_request(HTTP_GET, "/api/v1/items/x%41y");
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert_int_eq(rt_seen.calls, 1);
	ck_assert_str_eq(rt_seen.name, "rt_item_get");
	ck_assert_str_eq(rt_seen.captures[0], "xAy");
	ck_assert(!rt_seen.authenticated);
	ck_assert_int_eq(rt_seen.user_id, 0);
	ck_assert_str_eq(json_object_get_string(rt_rep.data), "rt_item_get");
}
END_TEST

/* POST a raw body to /heavy (byte budget: 10 bytes at once, max_body 16). */
static enum api_err rt_post_heavy(const char *body, long long content_length)
{
	rt_request(HTTP_POST, "/api/v1/heavy");
	rt_set_body("application/octet-stream", body, strlen(body), content_length);
	return rt_dispatch();
}

START_TEST(router_byte_budget)
{
	router_limit_hook = rt_fake_limit;
	rt_limit_answer = E_OK;
	rt_bytes_answer = E_OK;

	/* the count, then the bytes: the Content-Length is the cost */
	rt_limit_calls = 0;
	ck_assert_int_eq(rt_post_heavy("abcdef", 6), E_OK);
	ck_assert_int_eq(rt_limit_calls, 2);
	ck_assert_int_eq(rt_limit_bytes, 6);
	ck_assert_int_eq(router_byte_cost(&rt_req), 6);
	/* capped at the burst, so one request is never refused forever */
	ck_assert_int_eq(rt_post_heavy("abcdefghijkl", 12), E_OK);
	ck_assert_int_eq(rt_limit_bytes, 10);
	/* unknown length: the route's largest body (then capped) */
	rt_request(HTTP_POST, "/api/v1/heavy");
	rt_req.route = &rt_routes_b[8];
	rt_req.content_length = -1;
	ck_assert_int_eq(router_byte_cost(&rt_req), 10);
	/* no body: nothing to weigh, only the count is asked */
	rt_limit_calls = 0;
	rt_limit_bytes = 0;
	ck_assert_int_eq(rt_post_heavy("", 0), E_OK);
	ck_assert_int_eq(rt_limit_calls, 1);
	ck_assert_int_eq(rt_limit_bytes, 0);
	/* a class without a byte budget costs nothing */
	rt_request(HTTP_POST, "/api/v1/limited");
	rt_req.route = &rt_routes_b[7];
	rt_req.content_length = 50;
	ck_assert_int_eq(router_byte_cost(&rt_req), 0);

	/* over the budget: 429 before the handler, with its own Retry-After and message */
	rt_bytes_answer = E_RATE_LIMITED;
	rt_seen.calls = 0;
	ck_assert_int_eq(rt_post_heavy("abcdef", 6), E_RATE_LIMITED);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_int_eq(rt_rep.retry_after, 90);
	ck_assert_str_eq(rt_rep.message,
	                 "数据量超出限制（每小时 4 KiB，一次最多 10 字节），请 90 秒后再试");
	ck_assert_uint_eq(rt_body.pos, 6); /* drained */

	/* the count refused first: the bytes are not asked, the message is the count's */
	rt_limit_answer = E_RATE_LIMITED;
	rt_limit_calls = 0;
	ck_assert_int_eq(rt_post_heavy("abcdef", 6), E_RATE_LIMITED);
	ck_assert_int_eq(rt_limit_calls, 1);
	ck_assert_int_eq(rt_rep.retry_after, 7);
	ck_assert_str_eq(rt_rep.message, "请求过于频繁，请 7 秒后再试");
	router_limit_hook = NULL;
}
END_TEST

START_TEST(router_rate_limit)
{
	router_limit_hook = rt_fake_limit;
	rt_limit_calls = 0;

	/* routes without a class are never counted */
	rt_request(HTTP_GET, "/api/v1/items/1");
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert_int_eq(rt_limit_calls, 0);

	rt_limit_answer = E_OK;
	ck_assert_int_eq(rt_post_json("/api/v1/limited", "{}"), E_OK);
	ck_assert_int_eq(rt_limit_calls, 1);
	ck_assert_int_eq(rt_seen.calls, 1);

	/* refused before the handler and before the body is parsed, with Retry-After */
	rt_limit_answer = E_RATE_LIMITED;
	rt_seen.calls = 0;
	ck_assert_int_eq(rt_post_json("/api/v1/limited", "{not json"), E_RATE_LIMITED);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_int_eq(rt_rep.retry_after, 7);
	ck_assert_ptr_nonnull(rt_rep.message);

	/* a limiter that cannot decide (fail closed) answers its own error */
	rt_limit_answer = E_UNAVAILABLE;
	ck_assert_int_eq(rt_post_json("/api/v1/limited", "{}"), E_UNAVAILABLE);
	ck_assert_int_eq(rt_seen.calls, 0);

	/* a class without a byte budget is asked once, never about bytes */
	rt_limit_answer = E_OK;
	rt_limit_calls = 0;
	rt_limit_bytes = 0;
	ck_assert_int_eq(rt_post_json("/api/v1/limited", "{\"a\":1}"), E_OK);
	ck_assert_int_eq(rt_limit_calls, 1);
	ck_assert_int_eq(rt_limit_bytes, 0);

	/* no limiter installed (unit tests, fuzzers): everything goes through */
	router_limit_hook = NULL;
	rt_limit_calls = 0;
	ck_assert_int_eq(rt_post_json("/api/v1/limited", "{}"), E_OK);
	ck_assert_int_eq(rt_limit_calls, 0);
}
END_TEST

START_TEST(router_json_happy)
{
	json_object *v;

	ck_assert_int_eq(rt_post_json("/api/v1/items", "{\"name\":\"张\",\"n\":[1,2]}"), E_OK);
	ck_assert_int_eq(rt_seen.calls, 1);
	ck_assert(rt_seen.had_json);
	ck_assert_ptr_nonnull(rt_req.json);
	ck_assert(json_object_object_get_ex(rt_req.json, "name", &v));
	ck_assert_str_eq(json_object_get_string(v), "张");
	ck_assert_str_eq(rt_req.body, "{\"name\":\"张\",\"n\":[1,2]}");
}
END_TEST

START_TEST(router_json_content_types)
{
	static const char body[] = "{\"a\":1}";

	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json; charset=utf-8", body, 7, 7);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("Application/JSON", body, 7, 7);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("text/plain", body, 7, 7);
	ck_assert_int_eq(rt_dispatch(), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_uint_eq(rt_body.pos, 7); /* drained */
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/jsonp", body, 7, 7);
	ck_assert_int_eq(rt_dispatch(), E_UNSUPPORTED_MEDIA_TYPE);
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body(NULL, body, 7, 7);
	ck_assert_int_eq(rt_dispatch(), E_UNSUPPORTED_MEDIA_TYPE);
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/x-www-form-urlencoded", body, 7, 7);
	ck_assert_int_eq(rt_dispatch(), E_UNSUPPORTED_MEDIA_TYPE);
}
END_TEST

START_TEST(router_body_too_large)
{
	char big[200];

	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 1] = '}';
	/* by Content-Length: refused before reading, then drained */
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json", big, sizeof(big), sizeof(big));
	ck_assert_int_eq(rt_dispatch(), E_PAYLOAD_TOO_LARGE);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_ptr_nonnull(rt_rep.message);
	ck_assert_uint_eq(rt_body.pos, sizeof(big));
	/* Content-Length absent: by the bytes actually read */
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json", big, sizeof(big), -1);
	ck_assert_int_eq(rt_dispatch(), E_PAYLOAD_TOO_LARGE);
	ck_assert_int_eq(rt_seen.calls, 0);
	/* 65 bytes with no Content-Length: one over */
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json", big + 135, 65, -1);
	big[135] = '{';
	ck_assert_int_eq(rt_dispatch(), E_PAYLOAD_TOO_LARGE);
	/* exactly 64 with no Content-Length: fine */
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json", big + 136, 64, -1);
	big[136] = '{';
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert_uint_eq(rt_seen.body_len, 64);
	/* size is checked before the type */
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("text/plain", big, sizeof(big), sizeof(big));
	ck_assert_int_eq(rt_dispatch(), E_PAYLOAD_TOO_LARGE);
}
END_TEST

START_TEST(router_json_malformed)
{
	static const char *const bad[] = {
	    "{",
	    "{\"a\":}",
	    "{\"a\":1} x",
	    "{\"a\":1}{}",
	    "{\"a\" 1}",
	    "{\"a\":1,}",
	    "[1,]",
	    "{\"a\":01}",
	    "nul",
	    "{\"a\":\"\xff\"}",
	    "\xc3\x28",
	    "{\"a\":1}\x01",
	    "{\"a\":\"\xe4\xb8\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(rt_post_json("/api/v1/items", bad[i]) == E_BAD_REQUEST, "body #%zu",
		              i);
		ck_assert_int_eq(rt_seen.calls, 0);
		ck_assert_ptr_null(rt_req.json);
		ck_assert_ptr_nonnull(rt_rep.message);
		ck_assert_msg(strncmp(rt_rep.message, "body:", 5) == 0, "%s", rt_rep.message);
	}
}
END_TEST

START_TEST(router_json_embedded_nul)
{
	static const char body[] = "{\"a\":1}\0\0";

	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json", body, sizeof(body) - 1, (long long)sizeof(body) - 1);
	ck_assert_int_eq(rt_dispatch(), E_BAD_REQUEST);
}
END_TEST

START_TEST(router_json_whitespace_ok)
{
	ck_assert_int_eq(rt_post_json("/api/v1/items", " \r\n\t{\"a\":1} \n\t\r "), E_OK);
	ck_assert(rt_seen.had_json);
	ck_assert_int_eq(rt_post_json("/api/v1/items", "[1,2]\n"), E_OK);
}
END_TEST

/*
 * Byte sequences that have the shape of UTF-8 but are not UTF-8 (RFC 3629): an overlong
 * '/', a UTF-16 surrogate, a code point above U+10FFFF.  json-c's VALIDATE_UTF8 checks only
 * the shape; PostgreSQL refuses these bytes later (SQLSTATE 22021, an INTERNAL 500).
 */
START_TEST(router_json_utf8_strict)
{
	static const char *const bad[] = {
	    "{\"a\":\"\xc0\xaf\"}",
	    "{\"a\":\"\xed\xa0\x80\"}",
	    "{\"a\":\"\xf4\x90\x80\x80\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(rt_post_json("/api/v1/items", bad[i]) == E_BAD_REQUEST, "body #%zu",
		              i);
}
END_TEST

/* RFC 8259 texts may be a bare scalar: json-c answers "continue" for one that fills the
 * whole buffer, which the router must not report as malformed. */
START_TEST(router_json_top_level_scalar)
{
	ck_assert_int_eq(rt_post_json("/api/v1/opt", "true"), E_OK);
	ck_assert_int_eq(rt_post_json("/api/v1/opt", "123"), E_OK);
	ck_assert_int_eq(rt_post_json("/api/v1/opt", "null"), E_OK);
	ck_assert_int_eq(rt_post_json("/api/v1/opt", "\"s\""), E_OK);
}
END_TEST

/* json-c 0.16 in strict mode still takes a single-quoted member name: not JSON. */
START_TEST(router_json_single_quotes)
{
	ck_assert_int_eq(rt_post_json("/api/v1/items", "{'a':1}"), E_BAD_REQUEST);
	ck_assert_int_eq(rt_post_json("/api/v1/items", "{\"a\":'x'}"), E_BAD_REQUEST);
}
END_TEST

static void rt_nested(char *buf, int depth)
{
	for (int i = 0; i < depth; i++)
		buf[i] = '[';
	for (int i = 0; i < depth; i++)
		buf[depth + i] = ']';
	buf[2 * depth] = '\0';
}

START_TEST(router_json_depth)
{
	char buf[200];

	rt_nested(buf, 16);
	ck_assert_int_eq(rt_post_json("/api/v1/deep", buf), E_OK);
	rt_nested(buf, 17);
	ck_assert_int_eq(rt_post_json("/api/v1/deep", buf), E_BAD_REQUEST);
	rt_nested(buf, 60);
	ck_assert_int_eq(rt_post_json("/api/v1/deep", buf), E_BAD_REQUEST);
	ck_assert_int_eq(rt_post_json("/api/v1/deep", "{\"a\":{\"b\":{\"c\":{}}}}"), E_OK);
}
END_TEST

START_TEST(router_json_empty)
{
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json", "", 0, 0);
	ck_assert_int_eq(rt_dispatch(), E_BAD_REQUEST);
	ck_assert_int_eq(rt_seen.calls, 0);
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body("application/json", "", 0, -1);
	ck_assert_int_eq(rt_dispatch(), E_BAD_REQUEST);
	rt_request(HTTP_POST, "/api/v1/items");
	rt_set_body(NULL, "", 0, 0);
	ck_assert_int_eq(rt_dispatch(), E_BAD_REQUEST);
	ck_assert_int_eq(rt_post_json("/api/v1/items", "   "), E_BAD_REQUEST);
}
END_TEST

START_TEST(router_json_optional)
{
	rt_request(HTTP_POST, "/api/v1/opt");
	rt_set_body(NULL, "", 0, 0);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert(!rt_seen.had_json);
	rt_request(HTTP_POST, "/api/v1/opt");
	rt_set_body("application/json", "", 0, -1);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert(!rt_seen.had_json);
	rt_request(HTTP_POST, "/api/v1/opt");
	rt_set_body("text/plain", "{}", 2, 2);
	ck_assert_int_eq(rt_dispatch(), E_UNSUPPORTED_MEDIA_TYPE);
	ck_assert_int_eq(rt_post_json("/api/v1/opt", "{\"x\":true}"), E_OK);
	ck_assert(rt_seen.had_json);
	ck_assert_int_eq(rt_post_json("/api/v1/opt", "{x}"), E_BAD_REQUEST);
}
END_TEST

/* No Content-Length, no Content-Type and no body at all: nothing was sent, so the
 * optional JSON body is simply absent (not 415). */
START_TEST(router_json_optional_no_headers)
{
	rt_request(HTTP_POST, "/api/v1/opt");
	rt_set_body(NULL, "", 0, -1);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert(!rt_seen.had_json);
}
END_TEST

START_TEST(router_raw_body)
{
	rt_request(HTTP_POST, "/api/v1/raw");
	rt_set_body("application/octet-stream", "\x01\x02not json", 10, 10);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert_uint_eq(rt_seen.body_len, 10);
	ck_assert(!rt_seen.had_json);
	ck_assert(memcmp(rt_req.body, "\x01\x02not json", 10) == 0);
	ck_assert_int_eq(rt_req.body[10], '\0');
	rt_request(HTTP_POST, "/api/v1/raw");
	rt_set_body(NULL, "0123456789abcdefg", 17, -1);
	ck_assert_int_eq(rt_dispatch(), E_PAYLOAD_TOO_LARGE);
}
END_TEST

START_TEST(router_body_none_drained)
{
	rt_request(HTTP_GET, "/api/v1/items");
	rt_set_body("application/json", "{\"ignored\":1}", 13, 13);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert_uint_eq(rt_body.pos, 13);
	ck_assert_ptr_null(rt_req.json);
}
END_TEST

static enum api_err rt_get_auth(const char *path, const char *authorization)
{
	rt_request(HTTP_GET, path);
	rt_req.authorization = authorization;
	return rt_dispatch();
}

static char rt_hdr[8192];

static const char *rt_bearer(const char *token)
{
	snprintf(rt_hdr, sizeof(rt_hdr), "Bearer %s", token);
	return rt_hdr;
}

START_TEST(router_auth_user)
{
	ck_assert_int_eq(rt_get_auth("/api/v1/me", NULL), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_ptr_nonnull(rt_rep.message);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", ""), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", "Basic x"), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", "Bearer"), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", "Bearer "), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", "Bearer not.a.token"), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_user_token), E_UNAUTHORIZED); /* no scheme */
	ck_assert_int_eq(rt_seen.calls, 0);

	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_OK);
	ck_assert_int_eq(rt_seen.calls, 1);
	ck_assert_int_eq(rt_seen.user_id, 42);
	ck_assert(rt_seen.authenticated);
	ck_assert(!rt_seen.admin);
	/* scheme is case-insensitive */
	snprintf(rt_hdr, sizeof(rt_hdr), "bearer %s", rt_user_token);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_hdr), E_OK);

	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_admin_token)), E_FORBIDDEN);
	ck_assert_int_eq(rt_seen.calls, 0);
}
END_TEST

/* The account hook: the answer it gives, and whom it was asked about. */
static enum api_err rt_account_answer;
static int64_t rt_account_asked;

static enum api_err rt_fake_account(struct request *req)
{
	rt_account_asked = req->user_id;
	return rt_account_answer;
}

START_TEST(router_account_rule)
{
	router_account_hook = rt_fake_account;
	rt_account_asked = 0;
	rt_account_answer = E_OK;
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_OK);
	ck_assert_int_eq(rt_account_asked, 42);
	/* a deleted user: 401; a disabled one: 403; the handler never runs */
	rt_account_answer = E_UNAUTHORIZED;
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_ptr_nonnull(rt_rep.message);
	rt_account_answer = E_FORBIDDEN;
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_FORBIDDEN);
	ck_assert_int_eq(rt_seen.calls, 0);
	/* the database cannot tell: 503, not a pass */
	rt_account_answer = E_UNAVAILABLE;
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_UNAVAILABLE);
	/* no token, an admin token, a public route: not asked */
	rt_account_asked = 0;
	rt_account_answer = E_FORBIDDEN;
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(rt_admin_token)), E_OK);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", NULL), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_account_asked, 0);
	router_account_hook = NULL;
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_OK);
}
END_TEST

START_TEST(router_auth_admin)
{
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", NULL), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(rt_user_token)), E_FORBIDDEN);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(rt_admin_token)), E_OK);
	ck_assert_int_eq(rt_seen.calls, 1);
	ck_assert(rt_seen.admin);
	/* an admin id never lands where a user id is read */
	ck_assert_int_eq(rt_seen.admin_id, 7);
	ck_assert_int_eq(rt_seen.user_id, 0);
	ck_assert_int_eq(rt_seen.role, ROLE_OPERATOR);
	/* and a user id never where an admin id is */
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_OK);
	ck_assert_int_eq(rt_seen.admin_id, 0);
	ck_assert_int_eq(rt_seen.user_id, 42);
}
END_TEST

/* The route's least role: an operator passes viewer and operator routes, not an owner-only
 * one (a route naming no role); a role-less admin token is refused before any route. */
START_TEST(router_admin_roles)
{
	const struct config *c = config_get();
	char *viewer = token_issue_admin(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, 8,
	                                 ROLE_VIEWER, 1, 3600, time(NULL));
	char *legacy =
	    token_issue(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, 9, true, 3600, time(NULL));

	ck_assert_int_eq(rt_get_auth("/api/v1/admin/owners", rt_bearer(rt_admin_token)),
	                 E_FORBIDDEN);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_ptr_nonnull(strstr(rt_rep.message, "owner"));
	rt_request(HTTP_POST, "/api/v1/admin/config");
	rt_req.authorization = rt_bearer(rt_admin_token);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	rt_request(HTTP_POST, "/api/v1/admin/config");
	rt_req.authorization = rt_bearer(viewer);
	ck_assert_int_eq(rt_dispatch(), E_FORBIDDEN);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_ptr_nonnull(strstr(rt_rep.message, "operator"));
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(viewer)), E_OK);
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(legacy)), E_UNAUTHORIZED);
	free(viewer);
	free(legacy);
}
END_TEST

/* The admin hook: what it answers, and what it was asked. */
static enum api_err rt_admin_answer;
static int64_t rt_admin_asked;
static long rt_admin_session;

static enum api_err rt_fake_admin(struct request *req, const char **why)
{
	rt_admin_asked = req->admin_id;
	rt_admin_session = req->admin_session;
	*why = rt_admin_answer == E_OK ? NULL : "session ended";
	return rt_admin_answer;
}

START_TEST(router_admin_account)
{
	router_admin_hook = rt_fake_admin;
	rt_admin_answer = E_OK;
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(rt_admin_token)), E_OK);
	ck_assert_int_eq(rt_admin_asked, 7);
	ck_assert_int_eq(rt_admin_session, 2);
	/* disabled, another role, an ended session: 401 before the role check and the handler */
	rt_admin_answer = E_UNAUTHORIZED;
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/owners", rt_bearer(rt_admin_token)),
	                 E_UNAUTHORIZED);
	ck_assert_str_eq(rt_rep.message, "session ended");
	ck_assert_int_eq(rt_seen.calls, 0);
	rt_admin_answer = E_UNAVAILABLE;
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(rt_admin_token)),
	                 E_UNAVAILABLE);
	/* user tokens are the other hook's */
	rt_admin_asked = 0;
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(rt_user_token)), E_OK);
	ck_assert_int_eq(rt_admin_asked, 0);
	router_admin_hook = NULL;
}
END_TEST

START_TEST(router_auth_optional)
{
	char tampered[8192];

	ck_assert_int_eq(rt_get_auth("/api/v1/maybe", NULL), E_OK);
	ck_assert_int_eq(rt_seen.user_id, 0);
	ck_assert(!rt_seen.authenticated);
	ck_assert_int_eq(rt_get_auth("/api/v1/maybe", rt_bearer(rt_user_token)), E_OK);
	ck_assert_int_eq(rt_seen.user_id, 42);
	ck_assert_int_eq(rt_get_auth("/api/v1/maybe", "Bearer x.y.z"), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_int_eq(rt_get_auth("/api/v1/maybe", "Basic dXNlcjpwdw=="), E_UNAUTHORIZED);
	snprintf(tampered, sizeof(tampered), "Bearer %s", rt_user_token);
	tampered[strlen(tampered) - 2] ^= 1;
	ck_assert_int_eq(rt_get_auth("/api/v1/maybe", tampered), E_UNAUTHORIZED);
}
END_TEST

START_TEST(router_auth_public_ignores_header)
{
	ck_assert_int_eq(rt_get_auth("/api/v1/items", "Bearer garbage"), E_OK);
	ck_assert_int_eq(rt_seen.calls, 1);
	ck_assert_int_eq(rt_seen.user_id, 0);
}
END_TEST

START_TEST(router_auth_before_body)
{
	rt_request(HTTP_DELETE, "/api/v1/items/5");
	rt_set_body("application/json", "{}", 2, 2);
	ck_assert_int_eq(rt_dispatch(), E_UNAUTHORIZED);
	ck_assert_uint_eq(rt_body.pos, 2);
	rt_request(HTTP_DELETE, "/api/v1/items/5");
	rt_req.authorization = rt_bearer(rt_user_token);
	ck_assert_int_eq(rt_dispatch(), E_OK);
	ck_assert_str_eq(rt_seen.captures[0], "5");
	ck_assert_int_eq(rt_seen.user_id, 42);
}
END_TEST

/* A user token of channel ch naming appid (NULL: none), for user 42. */
static char *rt_channel_token(enum token_channel ch, const char *appid)
{
	const struct config *c = config_get();
	char *t = token_issue_user(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, 42, ch, appid,
	                           3600, time(NULL));

	ck_assert_ptr_nonnull(t);
	return t;
}

/* The router puts the token's channel and its configured app on the request; a token issued
 * before channels is the Official Account's; a token of an app we no longer serve is 401. */
START_TEST(router_channel_on_the_request)
{
	char err[256];
	char *oa, *mp, *web, *bare_mp, *stale, *old;

	setenv("WECHAT_APPID", "wxoa0000000000001", 1);
	setenv("WECHAT_MP_APPID", "wxmp0000000000001", 1);
	ck_assert_msg(config_load(CONFIG_NEED_ALL, err, sizeof(err)) == 0, "config: %s", err);
	oa = rt_channel_token(TOKEN_CHANNEL_OA, "wxoa0000000000001");
	mp = rt_channel_token(TOKEN_CHANNEL_MP, "wxmp0000000000001");
	web = rt_channel_token(TOKEN_CHANNEL_WEB, "wxoa0000000000001");
	bare_mp = rt_channel_token(TOKEN_CHANNEL_MP, NULL);
	stale = rt_channel_token(TOKEN_CHANNEL_MP, "wxmp0000000000000");
	old = rt_user_token; /* token_issue: no channel, no appid */

	{
		const struct {
			const char *path, *token;
			enum token_channel channel;
			const char *appid;
		} seen[] = {
		    {"/api/v1/me", oa, TOKEN_CHANNEL_OA, "wxoa0000000000001"},
		    {"/api/v1/me", mp, TOKEN_CHANNEL_MP, "wxmp0000000000001"},
		    {"/api/v1/maybe", mp, TOKEN_CHANNEL_MP, "wxmp0000000000001"},
		    {"/api/v1/me", web, TOKEN_CHANNEL_WEB, "wxoa0000000000001"},
		    {"/api/v1/me", bare_mp, TOKEN_CHANNEL_MP, "wxmp0000000000001"},
		    {"/api/v1/me", old, TOKEN_CHANNEL_OA, "wxoa0000000000001"},
		};
		for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
			ck_assert_int_eq(rt_get_auth(seen[i].path, rt_bearer(seen[i].token)), E_OK);
			ck_assert_int_eq(rt_seen.channel, seen[i].channel);
			ck_assert_str_eq(rt_seen.appid, seen[i].appid);
		}
	}
	/* issued for another mini program than the configured one */
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(stale)), E_UNAUTHORIZED);
	ck_assert_int_eq(rt_seen.calls, 0);
	ck_assert_ptr_nonnull(rt_rep.message);
	/* admins and anonymous callers have no channel */
	ck_assert_int_eq(rt_get_auth("/api/v1/admin/stats", rt_bearer(rt_admin_token)), E_OK);
	ck_assert_int_eq(rt_seen.channel, TOKEN_CHANNEL_NONE);
	ck_assert_ptr_null(rt_seen.appid);
	ck_assert_int_eq(rt_get_auth("/api/v1/maybe", NULL), E_OK);
	ck_assert_int_eq(rt_seen.channel, TOKEN_CHANNEL_NONE);
	ck_assert_ptr_null(rt_seen.appid);

	/* an app not configured here: the token's own appid, or none */
	unsetenv("WECHAT_MP_APPID");
	ck_assert_msg(config_load(CONFIG_NEED_ALL, err, sizeof(err)) == 0, "config: %s", err);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(stale)), E_OK);
	ck_assert_int_eq(rt_seen.channel, TOKEN_CHANNEL_MP);
	ck_assert_str_eq(rt_seen.appid, "wxmp0000000000000");
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(bare_mp)), E_OK);
	ck_assert_ptr_null(rt_seen.appid);
	free(oa);
	free(mp);
	free(web);
	free(bare_mp);
	free(stale);
}
END_TEST

START_TEST(router_expired_token)
{
	const struct config *c = config_get();
	char *old = token_issue(c->jwt_secret, c->jwt_secret_len, c->jwt_issuer, 42, false, 60,
	                        time(NULL) - 3600);

	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(rt_get_auth("/api/v1/me", rt_bearer(old)), E_UNAUTHORIZED);
	free(old);
}
END_TEST

START_TEST(router_helpers)
{
	char e1[] = "HTTP_X_FOO=bar", e2[] = "HTTP_X_FOOBAR=no", e3[] = "EMPTY=";
	char *env[] = {e1, e2, e3, NULL};

	rt_request(HTTP_GET, "/api/v1/items");
	rt_req.env = env;
	ck_assert_str_eq(request_env(&rt_req, "HTTP_X_FOO"), "bar");
	ck_assert_str_eq(request_env(&rt_req, "EMPTY"), "");
	ck_assert_ptr_null(request_env(&rt_req, "HTTP_X"));
	ck_assert_int_eq(http_method_parse("GET"), HTTP_GET);
	ck_assert_int_eq(http_method_parse("DELETE"), HTTP_DELETE);
	ck_assert_int_eq(http_method_parse("get"), HTTP__MAX);
	ck_assert_int_eq(http_method_parse("OPTIONS"), HTTP__MAX);
	ck_assert_int_eq(http_method_parse(NULL), HTTP__MAX);
	ck_assert_str_eq(http_method_name(HTTP_PATCH), "PATCH");
	ck_assert_str_eq(http_method_name(HTTP__MAX), "?");
	ck_assert_int_eq(reply_error(&rt_rep, E_CONFLICT, "x: taken"), E_CONFLICT);
	ck_assert_str_eq(rt_rep.message, "x: taken");
	ck_assert_int_eq(reply_ok(&rt_rep, 201, json_object_new_int(1)), E_OK);
	ck_assert_int_eq(reply_ok(&rt_rep, 202, json_object_new_int(2)), E_OK); /* replaces */
	ck_assert_int_eq(rt_rep.status, 202);
	ck_assert_int_eq(json_object_get_int(rt_rep.data), 2);
}
END_TEST

/* POST body to path with Idempotency-Key key (NULL: none). */
static enum api_err rt_post_keyed(const char *path, const char *key, const char *body)
{
	rt_request(HTTP_POST, path);
	rt_req.idempotency_key = key;
	rt_set_body("application/json", body, strlen(body), (long long)strlen(body));
	return rt_dispatch();
}

/* The route's .idempotency: the header's shape, one message, and the fingerprint. */
START_TEST(router_idempotency_rule)
{
	static const char *const bad[] = {NULL, "",
	                                  "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	                                  "kkkkkkkkkkkkkkk"};
	char h1[65], h2[65];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(rt_post_keyed("/api/v1/once", bad[i], "{}"), E_BAD_REQUEST);
		ck_assert_str_eq(rt_rep.message, ROUTER_IDEM_MESSAGE);
		ck_assert_int_eq(rt_seen.calls, 0);
		ck_assert_int_eq((int)rt_body.pos, 2); /* drained, not parsed */
	}
	/* optional: absent is fine, malformed is not (the same message) */
	ck_assert_int_eq(rt_post_keyed("/api/v1/maybe-once", NULL, "{}"), E_OK);
	ck_assert_ptr_null(rt_seen.idem_key);
	ck_assert_ptr_null(rt_seen.idem_hash);
	ck_assert_int_eq(rt_post_keyed("/api/v1/maybe-once", "", "{}"), E_BAD_REQUEST);
	ck_assert_str_eq(rt_rep.message, ROUTER_IDEM_MESSAGE);
	/* 64 characters (not bytes) pass */
	ck_assert_int_eq(
	    rt_post_keyed("/api/v1/once",
	                  "幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等"
	                  "幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等幂等",
	                  "{}"),
	    E_OK);
	/* a route without the rule ignores the header */
	ck_assert_int_eq(rt_post_keyed("/api/v1/opt", "", "{}"), E_OK);
	ck_assert_ptr_null(rt_seen.idem_key);
	/* the fingerprint: spacing does not count, the body and the route do */
	ck_assert_int_eq(rt_post_keyed("/api/v1/once", "k1", "{\"a\":1}"), E_OK);
	ck_assert_str_eq(rt_seen.idem_key, "k1");
	ck_assert_uint_eq(strlen(rt_seen.idem_hash), 64);
	memcpy(h1, rt_seen.idem_hash, 65);
	ck_assert_int_eq(rt_post_keyed("/api/v1/once", "k1", "{ \"a\" : 1 }"), E_OK);
	ck_assert_str_eq(rt_seen.idem_hash, h1);
	ck_assert_int_eq(rt_post_keyed("/api/v1/once", "k1", "{\"a\":2}"), E_OK);
	memcpy(h2, rt_seen.idem_hash, 65);
	ck_assert_str_ne(h2, h1);
	ck_assert_int_eq(rt_post_keyed("/api/v1/maybe-once", "k1", "{\"a\":1}"), E_OK);
	ck_assert_str_ne(rt_seen.idem_hash, h1);
}
END_TEST

Suite *router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("match");

	tcase_add_checked_fixture(tc, rt_setup, rt_teardown);
	tcase_add_test(tc, router_match_static_and_captures);
	tcase_add_test(tc, router_match_not_found);
	tcase_add_test(tc, router_match_405);
	tcase_add_test(tc, router_match_cloud_prefix);
	tcase_add_test(tc, router_dispatch_405_and_404);
	tcase_add_test(tc, router_dispatch_get);
	tcase_add_test(tc, router_helpers);
	suite_add_tcase(s, tc);
	tc = tcase_create("body");
	tcase_add_checked_fixture(tc, rt_setup, rt_teardown);
	tcase_add_test(tc, router_json_happy);
	tcase_add_test(tc, router_json_content_types);
	tcase_add_test(tc, router_body_too_large);
	tcase_add_test(tc, router_json_malformed);
	tcase_add_test(tc, router_json_embedded_nul);
	tcase_add_test(tc, router_json_whitespace_ok);
	tcase_add_test(tc, router_json_depth);
	tcase_add_test(tc, router_json_empty);
	tcase_add_test(tc, router_json_optional);
	tcase_add_test(tc, router_json_optional_no_headers);
	tcase_add_test(tc, router_json_top_level_scalar);
	tcase_add_test(tc, router_json_utf8_strict);
	tcase_add_test(tc, router_json_single_quotes);
	tcase_add_test(tc, router_raw_body);
	tcase_add_test(tc, router_body_none_drained);
	suite_add_tcase(s, tc);
	tc = tcase_create("auth");
	tcase_add_checked_fixture(tc, rt_setup, rt_teardown);
	tcase_add_test(tc, router_auth_user);
	tcase_add_test(tc, router_account_rule);
	tcase_add_test(tc, router_auth_admin);
	tcase_add_test(tc, router_admin_roles);
	tcase_add_test(tc, router_admin_account);
	tcase_add_test(tc, router_auth_optional);
	tcase_add_test(tc, router_auth_public_ignores_header);
	tcase_add_test(tc, router_auth_before_body);
	tcase_add_test(tc, router_expired_token);
	tcase_add_test(tc, router_channel_on_the_request);
	tcase_add_test(tc, router_rate_limit);
	tcase_add_test(tc, router_byte_budget);
	tcase_add_test(tc, router_idempotency_rule);
	suite_add_tcase(s, tc);
	return s;
}
