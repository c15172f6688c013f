/*
 * test_response — the bytes a reply is rendered to: status line, headers, envelope.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/response.h"
#include "tests/unit/suites.h"

static struct arena rsp_arena;
static struct request rsp_req;
static struct reply rsp_rep;
static char *rsp_out;
static size_t rsp_len;
static int rsp_status;
static const char *rsp_body; /* after the blank line */

static void rsp_setup(void)
{
	arena_init(&rsp_arena, 4096);
	memset(&rsp_req, 0, sizeof(rsp_req));
	memset(&rsp_rep, 0, sizeof(rsp_rep));
	rsp_req.arena = &rsp_arena;
	rsp_req.request_id = "req-123";
	rsp_out = NULL;
	rsp_body = NULL;
}

static void rsp_teardown(void)
{
	json_object_put(rsp_rep.data);
	arena_fini(&rsp_arena);
}

static void rsp_render(enum api_err err)
{
	const char *end;

	rsp_out = response_render(&rsp_arena, &rsp_req, &rsp_rep, err, &rsp_len, &rsp_status);
	ck_assert_ptr_nonnull(rsp_out);
	ck_assert_uint_eq(strlen(rsp_out), rsp_len);
	end = strstr(rsp_out, "\r\n\r\n");
	ck_assert_msg(end != NULL, "no end of headers in: %s", rsp_out);
	rsp_body = end + 4;
}

/* The value of header name (case-sensitive, as we write them) in the head, or NULL. */
static const char *rsp_header(const char *name)
{
	static char value[2048];
	size_t n = strlen(name);
	const char *p = rsp_out;

	while (p < rsp_body - 2) {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > n + 1 && strncmp(p, name, n) == 0 && p[n] == ':' &&
		    p[n + 1] == ' ') {
			snprintf(value, sizeof(value), "%.*s", (int)(eol - p - (long)n - 2),
			         p + n + 2);
			return value;
		}
		p = eol + 2;
	}
	return NULL;
}

static void rsp_check_length(void)
{
	const char *cl = rsp_header("Content-Length");
	char want[32];

	ck_assert_ptr_nonnull(cl);
	snprintf(want, sizeof(want), "%zu", strlen(rsp_body));
	ck_assert_str_eq(cl, want);
}

START_TEST(response_success_envelope)
{
	rsp_rep.data = json_object_new_object();
	json_object_object_add(rsp_rep.data, "url", json_object_new_string("http://h/a/b"));
	json_object_object_add(rsp_rep.data, "名", json_object_new_string("值"));
	rsp_render(E_OK);
	ck_assert_int_eq(rsp_status, 200);
	ck_assert(strncmp(rsp_out, "Status: 200 OK\r\n", 16) == 0);
	ck_assert_str_eq(rsp_header("Content-Type"), "application/json; charset=utf-8");
	ck_assert_str_eq(rsp_header("X-Request-Id"), "req-123");
	ck_assert_str_eq(rsp_header("Cache-Control"), "no-store");
	ck_assert_str_eq(rsp_body,
	                 "{\"success\":true,\"data\":{\"url\":\"http://h/a/b\",\"名\":\"值\"}}");
	rsp_check_length();
	ck_assert_ptr_null(rsp_header("Allow"));
	ck_assert_ptr_null(rsp_header("Location"));
}
END_TEST

START_TEST(response_null_data_and_status)
{
	rsp_rep.status = 201;
	rsp_render(E_OK);
	ck_assert_int_eq(rsp_status, 201);
	ck_assert(strncmp(rsp_out, "Status: 201 Created\r\n", 21) == 0);
	ck_assert_str_eq(rsp_body, "{\"success\":true,\"data\":null}");
	rsp_check_length();
}
END_TEST

START_TEST(response_204_no_body)
{
	rsp_rep.status = 204;
	rsp_rep.data = json_object_new_object();
	rsp_render(E_OK);
	ck_assert_int_eq(rsp_status, 204);
	ck_assert_str_eq(rsp_body, "");
	ck_assert_ptr_null(rsp_header("Content-Type"));
	ck_assert_ptr_nonnull(rsp_header("X-Request-Id"));
}
END_TEST

START_TEST(response_error_default_message)
{
	json_object *env, *v;

	rsp_render(E_NOT_FOUND);
	ck_assert_int_eq(rsp_status, 404);
	ck_assert(strncmp(rsp_out, "Status: 404 Not Found\r\n", 23) == 0);
	rsp_check_length();
	env = json_tokener_parse(rsp_body);
	ck_assert_ptr_nonnull(env);
	ck_assert(json_object_object_get_ex(env, "success", &v) && !json_object_get_boolean(v));
	ck_assert(json_object_object_get_ex(env, "code", &v));
	ck_assert_str_eq(json_object_get_string(v), "NOT_FOUND");
	ck_assert(json_object_object_get_ex(env, "message", &v));
	ck_assert_str_eq(json_object_get_string(v), api_err_message(E_NOT_FOUND));
	ck_assert(!json_object_object_get_ex(env, "data", &v));
	json_object_put(env);
}
END_TEST

START_TEST(response_error_detail)
{
	rsp_rep.status = 201; /* ignored on failure */
	rsp_rep.message = "name: must be a string of 1-64 characters";
	rsp_render(E_BAD_REQUEST);
	ck_assert_int_eq(rsp_status, 400);
	ck_assert_str_eq(rsp_body,
	                 "{\"success\":false,\"code\":\"BAD_REQUEST\",\"message\":\"name: "
	                 "must be a string of 1-64 characters\"}");
	rsp_check_length();
}
END_TEST

START_TEST(response_error_with_data)
{
	rsp_rep.data = json_object_new_object();
	json_object_object_add(rsp_rep.data, "need", json_object_new_int(5));
	rsp_render(E_INSUFFICIENT_CREDITS);
	ck_assert_int_eq(rsp_status, 402);
	ck_assert_ptr_nonnull(strstr(rsp_body, "\"data\":{\"need\":5}"));
	ck_assert_ptr_nonnull(strstr(rsp_body, "\"code\":\"INSUFFICIENT_CREDITS\""));
	rsp_check_length();
}
END_TEST

START_TEST(response_allow_retry_after)
{
	rsp_rep.allow = "GET, POST";
	rsp_render(E_METHOD_NOT_ALLOWED);
	ck_assert_int_eq(rsp_status, 405);
	ck_assert_str_eq(rsp_header("Allow"), "GET, POST");
	ck_assert_ptr_null(rsp_header("Retry-After"));
	rsp_rep.allow = NULL;
	rsp_rep.retry_after = 17;
	rsp_render(E_RATE_LIMITED);
	ck_assert_int_eq(rsp_status, 429);
	ck_assert_str_eq(rsp_header("Retry-After"), "17");
	ck_assert_ptr_null(rsp_header("Allow"));
}
END_TEST

START_TEST(response_location)
{
	rsp_rep.status = 302;
	rsp_rep.location = "https://example.com/cb?a=1&b=/x";
	rsp_render(E_OK);
	ck_assert_int_eq(rsp_status, 302);
	ck_assert_str_eq(rsp_header("Location"), "https://example.com/cb?a=1&b=/x");
	ck_assert_str_eq(rsp_body, "");
}
END_TEST

START_TEST(response_location_crlf_dropped)
{
	static const char *const evil[] = {"https://e/\r\nSet-Cookie: a=b", "https://e/\nX: y",
	                                   "https://e/\r"};

	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		rsp_rep.status = 302;
		rsp_rep.location = evil[i];
		rsp_render(E_OK);
		ck_assert_ptr_null(rsp_header("Location"));
		ck_assert_ptr_null(rsp_header("Set-Cookie"));
		ck_assert_ptr_null(rsp_header("X"));
	}
}
END_TEST

/* However long a Location is, the header block must still end with its blank line. */
START_TEST(response_long_location_terminated)
{
	char loc[1200];

	for (size_t n = 900; n < sizeof(loc) - 1; n++) {
		memset(loc, 'a', n);
		memcpy(loc, "https://", 8);
		loc[n] = '\0';
		rsp_rep.status = 302;
		rsp_rep.location = loc;
		rsp_out =
		    response_render(&rsp_arena, &rsp_req, &rsp_rep, E_OK, &rsp_len, &rsp_status);
		ck_assert_msg(strstr(rsp_out, "\r\n\r\n") != NULL,
		              "Location of %zu bytes: header block not terminated", n);
	}
}
END_TEST

START_TEST(response_raw_body)
{
	rsp_rep.raw = "<xml>ok</xml>";
	rsp_rep.raw_len = 13;
	rsp_rep.raw_type = "application/xml";
	rsp_render(E_OK);
	ck_assert_str_eq(rsp_header("Content-Type"), "application/xml");
	ck_assert_str_eq(rsp_body, "<xml>ok</xml>");
	rsp_check_length();
	rsp_rep.raw = "success";
	rsp_rep.raw_len = 7;
	rsp_rep.raw_type = NULL;
	rsp_render(E_OK);
	ck_assert_str_eq(rsp_header("Content-Type"), "text/plain; charset=utf-8");
	ck_assert_str_eq(rsp_body, "success");
}
END_TEST

START_TEST(response_request_id_always)
{
	rsp_req.request_id = NULL;
	rsp_render(E_INTERNAL);
	ck_assert_int_eq(rsp_status, 500);
	ck_assert_ptr_nonnull(rsp_header("X-Request-Id"));
	rsp_render((enum api_err)999);
	ck_assert_int_eq(rsp_status, 500);
	ck_assert_ptr_nonnull(strstr(rsp_body, "\"code\":\"INTERNAL\""));
}
END_TEST

START_TEST(response_every_error_renders)
{
	for (int e = 1; e < E__MAX; e++) {
		json_object *env;
		rsp_render((enum api_err)e);
		ck_assert_int_eq(rsp_status, api_err_status((enum api_err)e));
		ck_assert_msg(strstr(rsp_out, " Unknown\r\n") == NULL, "no reason phrase for %d",
		              rsp_status);
		env = json_tokener_parse(rsp_body);
		ck_assert_ptr_nonnull(env);
		json_object_put(env);
		rsp_check_length();
	}
}
END_TEST

START_TEST(response_request_id_rules)
{
	char id[80];

	ck_assert(response_request_id_ok("abc-DEF_123.x"));
	ck_assert(!response_request_id_ok(""));
	ck_assert(!response_request_id_ok(NULL));
	memset(id, 'a', 64);
	id[64] = '\0';
	ck_assert(response_request_id_ok(id));
	id[64] = 'a';
	id[65] = '\0';
	ck_assert(!response_request_id_ok(id));
	ck_assert(!response_request_id_ok("a b"));
	ck_assert(!response_request_id_ok("a\r\nX: y"));
	ck_assert(!response_request_id_ok("a\tb"));
	ck_assert(!response_request_id_ok("\x7f"));
	ck_assert(!response_request_id_ok("é"));
	ck_assert(!response_request_id_ok("a/b"));
	ck_assert(!response_request_id_ok("\"x\""));
}
END_TEST

Suite *response_suite(void)
{
	Suite *s = suite_create("response");
	TCase *tc = tcase_create("render");

	tcase_add_checked_fixture(tc, rsp_setup, rsp_teardown);
	tcase_add_test(tc, response_success_envelope);
	tcase_add_test(tc, response_null_data_and_status);
	tcase_add_test(tc, response_204_no_body);
	tcase_add_test(tc, response_error_default_message);
	tcase_add_test(tc, response_error_detail);
	tcase_add_test(tc, response_error_with_data);
	tcase_add_test(tc, response_allow_retry_after);
	tcase_add_test(tc, response_location);
	tcase_add_test(tc, response_location_crlf_dropped);
	tcase_add_test(tc, response_long_location_terminated);
	tcase_add_test(tc, response_raw_body);
	tcase_add_test(tc, response_request_id_always);
	tcase_add_test(tc, response_every_error_renders);
	suite_add_tcase(s, tc);
	tc = tcase_create("request_id");
	tcase_add_test(tc, response_request_id_rules);
	suite_add_tcase(s, tc);
	return s;
}
