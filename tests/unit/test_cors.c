/*
 * test_cors — CORS_ALLOWED_ORIGINS and MEDIA_SENDFILE (lib/config), OPTIONS and the CORS
 * headers (fcgi/router, fcgi/response), the X-Accel-Redirect of a media file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/response.h"
#include "fcgi/router.h"
#include "lib/config.h"
#include "tests/unit/suites.h"

static char cors_err[512];

/* Loads the baseline with CORS_ALLOWED_ORIGINS=origins (NULL: unset); returns config_load's. */
static int cors_load(const char *origins)
{
	unit_env_baseline();
	if (origins != NULL)
		setenv("CORS_ALLOWED_ORIGINS", origins, 1);
	return config_load(CONFIG_NEED_ALL, cors_err, sizeof(cors_err));
}

START_TEST(cors_config_none_by_default)
{
	ck_assert_int_eq(cors_load(NULL), 0);
	ck_assert_uint_eq(config_get()->ncors_origins, 0);
	ck_assert(!config_cors_allowed(config_get(), "https://web.example.com"));
	ck_assert(!config_cors_allowed(config_get(), NULL));
	ck_assert_int_eq(cors_load(""), 0);
	ck_assert_uint_eq(config_get()->ncors_origins, 0);
	ck_assert(!config_get()->media_accel);
}
END_TEST

START_TEST(cors_config_list)
{
	const struct config *c;

	ck_assert_int_eq(cors_load("https://web.example.com, http://127.0.0.1:5173,"
	                           "https://a-b.example.cn:8443"),
	                 0);
	c = config_get();
	ck_assert_uint_eq(c->ncors_origins, 3);
	ck_assert_str_eq(c->cors_origins[0], "https://web.example.com");
	ck_assert_str_eq(c->cors_origins[1], "http://127.0.0.1:5173");
	ck_assert_str_eq(c->cors_origins[2], "https://a-b.example.cn:8443");
	ck_assert(config_cors_allowed(c, "https://web.example.com"));
	ck_assert(config_cors_allowed(c, "http://127.0.0.1:5173"));
	/* exact: no prefix, suffix, other scheme, port or case */
	ck_assert(!config_cors_allowed(c, "https://web.example.com.evil.cn"));
	ck_assert(!config_cors_allowed(c, "https://web.example.co"));
	ck_assert(!config_cors_allowed(c, "http://web.example.com"));
	ck_assert(!config_cors_allowed(c, "https://web.example.com:443"));
	ck_assert(!config_cors_allowed(c, "https://WEB.example.com"));
	ck_assert(!config_cors_allowed(c, "null"));
	ck_assert(!config_cors_allowed(c, ""));
}
END_TEST

START_TEST(cors_config_refused)
{
	static const char *const bad[] = {
	    "*",
	    "https://*.example.com",
	    "https://web.example.com/",
	    "https://web.example.com/app",
	    "web.example.com",
	    "ftp://web.example.com",
	    "https://",
	    "https://Web.example.com",
	    "https://web.example.com:0",
	    "https://web.example.com:65536",
	    "https://web.example.com:",
	    "https://web.example.com:80a",
	    "https://user@web.example.com",
	    "https://web.example.com,",
	    "https://a.example.com,,https://b.example.com",
	    "https://.example.com",
	    "https://example.com.",
	    "null",
	    "https://web.example.com?x=1",
	    "https://web example.com",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(cors_load(bad[i]) == -1, "accepted: %s", bad[i]);
		ck_assert_msg(strncmp(cors_err, "CORS_ALLOWED_ORIGINS:", 21) == 0, "%s: %s", bad[i],
		              cors_err);
	}
}
END_TEST

START_TEST(cors_config_too_many)
{
	char list[2048] = "";

	for (int i = 0; i < CONFIG_CORS_MAX; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		         "%shttps://h%d.example.com", i ? "," : "", i);
	ck_assert_int_eq(cors_load(list), 0);
	ck_assert_uint_eq(config_get()->ncors_origins, CONFIG_CORS_MAX);
	snprintf(list + strlen(list), sizeof(list) - strlen(list), ",https://one-more.example.com");
	ck_assert_int_eq(cors_load(list), -1);
	ck_assert_ptr_nonnull(strstr(cors_err, "at most"));
}
END_TEST

START_TEST(config_media_sendfile)
{
	unit_env_baseline();
	setenv("MEDIA_SENDFILE", "x-accel-redirect", 1);
	ck_assert_int_eq(config_load(CONFIG_NEED_ALL, cors_err, sizeof(cors_err)), 0);
	ck_assert(config_get()->media_accel);
	setenv("MEDIA_SENDFILE", "x-sendfile", 1);
	ck_assert_int_eq(config_load(CONFIG_NEED_ALL, cors_err, sizeof(cors_err)), 0);
	ck_assert(!config_get()->media_accel);
	setenv("MEDIA_SENDFILE", "nginx", 1);
	ck_assert_int_eq(config_load(CONFIG_NEED_ALL, cors_err, sizeof(cors_err)), -1);
	ck_assert(strncmp(cors_err, "MEDIA_SENDFILE:", 15) == 0);
}
END_TEST

/* ------------------------------------------------------------------ router and response */

static enum api_err cors_handler(struct request *req, struct reply *rep)
{
	(void)req;
	return reply_ok(rep, 200, NULL);
}

static const struct route cors_routes[] = {
    {.method = HTTP_GET, .pattern = "/things/:id", .handler = cors_handler},
    {.method = HTTP_DELETE, .pattern = "/things/:id", .auth = AUTH_USER, .handler = cors_handler},
    {.method = HTTP_POST, .pattern = "/things", .auth = AUTH_USER, .handler = cors_handler},
};
static ROUTE_TABLE(cors_table, cors_routes);
static const struct route_table *const cors_tables[] = {&cors_table};

static struct arena cors_arena;
static char *cors_env[4];

/* Dispatches method path with Origin: origin (NULL: none); returns the rendered answer. */
static char *cors_call(const char *method, const char *path, const char *origin, int *status)
{
	struct request req = {0};
	struct reply rep = {0};
	enum api_err err;
	size_t len;
	char *out;

	cors_env[0] = origin ? arena_printf(&cors_arena, "HTTP_ORIGIN=%s", origin) : NULL;
	cors_env[1] = NULL;
	req.arena = &cors_arena;
	req.env = cors_env;
	req.method_name = method;
	req.method = http_method_parse(method);
	req.path = path;
	req.query = "";
	req.content_length = -1;
	req.request_id = "rid1";
	err = router_dispatch(cors_tables, 1, &req, &rep);
	out = response_render(&cors_arena, &req, &rep, err, &len, status);
	json_object_put(rep.data);
	json_object_put(req.json);
	return out;
}

static void cors_setup(void)
{
	arena_init(&cors_arena, 4096);
}

static void cors_teardown(void)
{
	arena_fini(&cors_arena);
}

/* One request and what its answer must and must not contain. */
struct cors_case {
	const char *method, *path, *origin;
	int status;
	const char *has[7], *lacks[3];
};

#define CORS_WEB "https://web.example.com"
#define CORS_ACAO_WEB "\r\nAccess-Control-Allow-Origin: " CORS_WEB "\r\n"

/* With CORS_ALLOWED_ORIGINS = CORS_WEB and https://b.example.com. */
static const struct cors_case cors_cases[] = {
    /* preflight of an allowed origin: the path's methods, headers, max-age; no body */
    {"OPTIONS",
     "/api/v1/things/9",
     CORS_WEB,
     204,
     {"\r\nAllow: GET, DELETE, OPTIONS\r\n", CORS_ACAO_WEB,
      "\r\nAccess-Control-Allow-Credentials: true\r\n",
      "\r\nAccess-Control-Allow-Methods: GET, DELETE\r\n",
      "\r\nAccess-Control-Allow-Headers: Authorization, Content-Type, Idempotency-Key",
      "\r\nAccess-Control-Max-Age: 600\r\n", "\r\nVary: Origin\r\n"},
     {"Content-Type:", ": *"}},
    /* a route that needs a token: the preflight itself never does */
    {"OPTIONS",
     "/api/v1/things",
     CORS_WEB,
     204,
     {"\r\nAccess-Control-Allow-Methods: POST\r\n"},
     {"Content-Type:"}},
    /* another origin: 204 with Allow, no CORS header (the browser refuses) */
    {"OPTIONS",
     "/api/v1/things/9",
     "https://evil.example.com",
     204,
     {"\r\nAllow: GET, DELETE, OPTIONS\r\n", "\r\nVary: Origin\r\n"},
     {"Access-Control-"}},
    /* no path of that shape: 404, no CORS grant for a refused origin, readable for ours */
    {"OPTIONS", "/api/v1/nothing", "https://evil.example.com", 404, {""}, {"Access-Control-"}},
    {"OPTIONS", "/api/v1/nothing", CORS_WEB, 404, {CORS_ACAO_WEB}, {"Allow:"}},
    /* any other unknown method stays 405 */
    {"TRACE", "/api/v1/things/9", CORS_WEB, 405, {"\r\nAllow: GET, DELETE\r\n"}, {"OPTIONS"}},
    /* actual requests: the origin echoed, credentials, exposed headers */
    {"GET",
     "/api/v1/things/9",
     "https://b.example.com",
     200,
     {"\r\nAccess-Control-Allow-Origin: https://b.example.com\r\n",
      "\r\nAccess-Control-Allow-Credentials: true\r\n",
      "\r\nAccess-Control-Expose-Headers: X-Request-Id"},
     {"Access-Control-Allow-Methods", ": *"}},
    /* an error the page must be able to read (401 without a token) */
    {"DELETE", "/api/v1/things/9", CORS_WEB, 401, {CORS_ACAO_WEB}, {": *"}},
    /* no Origin (same-origin pages, the mini program): nothing but Vary */
    {"GET", "/api/v1/things/9", NULL, 200, {"\r\nVary: Origin\r\n"}, {"Access-Control-"}},
};

START_TEST(cors_router_answers)
{
	ck_assert_int_eq(cors_load(CORS_WEB ",https://b.example.com"), 0);
	for (size_t i = 0; i < sizeof(cors_cases) / sizeof(cors_cases[0]); i++) {
		const struct cors_case *c = &cors_cases[i];
		int st;
		char *out = cors_call(c->method, c->path, c->origin, &st);

		ck_assert_msg(st == c->status, "case %zu: status %d", i, st);
		for (size_t k = 0; k < 7 && c->has[k] != NULL; k++)
			ck_assert_msg(strstr(out, c->has[k]) != NULL, "case %zu lacks %s:\n%s", i,
			              c->has[k], out);
		for (size_t k = 0; k < 3 && c->lacks[k] != NULL; k++)
			ck_assert_msg(strstr(out, c->lacks[k]) == NULL, "case %zu has %s:\n%s", i,
			              c->lacks[k], out);
	}
}
END_TEST

START_TEST(cors_none_configured)
{
	int st;
	char *out;

	/* none configured: no CORS header at all, and OPTIONS still answers */
	ck_assert_int_eq(cors_load(NULL), 0);
	out = cors_call("GET", "/api/v1/things/9", CORS_WEB, &st);
	ck_assert_ptr_null(strstr(out, "Access-Control-"));
	ck_assert_ptr_null(strstr(out, "Vary:"));
	out = cors_call("OPTIONS", "/api/v1/things/9", CORS_WEB, &st);
	ck_assert_int_eq(st, 204);
	ck_assert_ptr_null(strstr(out, "Access-Control-"));
}
END_TEST

START_TEST(response_accel_redirect)
{
	struct request req = {.arena = &cors_arena, .request_id = "r1"};
	struct reply rep = {.raw_type = "image/png", .sendfile = "/srv/media/ab/cd/abcd.png"};
	size_t len;
	int st;
	char *out;

	unit_env_baseline();
	setenv("MEDIA_DIR", "/srv/media/", 1);
	setenv("MEDIA_SENDFILE", "x-accel-redirect", 1);
	ck_assert_int_eq(config_load(CONFIG_NEED_ALL, cors_err, sizeof(cors_err)), 0);
	out = response_render(&cors_arena, &req, &rep, E_OK, &len, &st);
	ck_assert_int_eq(st, 200);
	ck_assert_ptr_nonnull(
	    strstr(out, "\r\nX-Accel-Redirect: " CONFIG_ACCEL_MEDIA_PREFIX "ab/cd/abcd.png\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Type: image/png\r\n"));
	ck_assert_ptr_null(strstr(out, "X-Sendfile"));
	ck_assert_ptr_null(strstr(out, "/srv/media"));
	/* outside MEDIA_DIR (or a prefix of its name only), or a name with '..': 500 */
	rep.sendfile = "/srv/media2/ab.png";
	out = response_render(&cors_arena, &req, &rep, E_OK, &len, &st);
	ck_assert_int_eq(st, 500);
	ck_assert_ptr_null(strstr(out, "X-Accel-Redirect"));
	rep.sendfile = "/srv/media/../etc/passwd";
	out = response_render(&cors_arena, &req, &rep, E_OK, &len, &st);
	ck_assert_int_eq(st, 500);
	unsetenv("MEDIA_DIR");
	unsetenv("MEDIA_SENDFILE");
}
END_TEST

Suite *cors_suite(void)
{
	Suite *s = suite_create("cors");
	TCase *tc = tcase_create("cors");

	tcase_add_checked_fixture(tc, cors_setup, cors_teardown);
	tcase_add_test(tc, cors_config_none_by_default);
	tcase_add_test(tc, cors_config_list);
	tcase_add_test(tc, cors_config_refused);
	tcase_add_test(tc, cors_config_too_many);
	tcase_add_test(tc, config_media_sendfile);
	tcase_add_test(tc, cors_router_answers);
	tcase_add_test(tc, cors_none_configured);
	tcase_add_test(tc, response_accel_redirect);
	suite_add_tcase(s, tc);
	return s;
}
