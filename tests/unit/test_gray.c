/*
 * test_gray — lib/gray: the adapter's hashCode against a table Node computed with the
 * adapter's own code (tests/unit/vectors/gray_hash.json, written and re-checked against Node
 * by tests/integration/test_gray.py), UTF-8 refusals, the openid bounds, the reading of
 * backend_config, the decision and the server_url rule.
 */
#include <check.h>
#include <json-c/json.h>
#include <string.h>

#include "lib/gray.h"
#include "tests/unit/suites.h"

#define GRAY_T_TABLE "tests/unit/vectors/gray_hash.json"

static uint32_t gray_t_hash(const char *s)
{
	uint32_t h = 0xDEADBEEF;

	ck_assert_msg(gray_hash(s, strlen(s), &h), "not hashed: %s", s);
	return h;
}

START_TEST(gray_hash_node_table)
{
	json_object *rows = json_object_from_file(GRAY_T_TABLE);
	size_t n, min_seen = 0, astral = 0;

	ck_assert_msg(rows != NULL, "cannot read %s (run from the repository root)", GRAY_T_TABLE);
	n = json_object_array_length(rows);
	ck_assert_uint_ge(n, 200);
	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(rows, i), *id, *hash;
		const char *s;

		ck_assert(json_object_object_get_ex(row, "openid", &id));
		ck_assert(json_object_object_get_ex(row, "hash", &hash));
		s = json_object_get_string(id);
		ck_assert_msg(gray_t_hash(s) == (uint32_t)json_object_get_int64(hash),
		              "row %zu (%s): %u, Node says %lld", i, s, gray_t_hash(s),
		              (long long)json_object_get_int64(hash));
		min_seen += json_object_get_int64(hash) == 2147483648LL;
		astral += strstr(s, "\xF0") != NULL;
	}
	ck_assert_uint_ge(min_seen, 1); /* Math.abs(-2^31) is 2^31 */
	ck_assert_uint_ge(astral, 1); /* characters outside the BMP */
	json_object_put(rows);
}
END_TEST

START_TEST(gray_hash_by_hand)
{
	ck_assert_uint_eq(gray_t_hash(""), 0);
	ck_assert_uint_eq(gray_t_hash("a"), 97);
	ck_assert_uint_eq(gray_t_hash("Aa"), gray_t_hash("BB"));
	ck_assert_uint_eq(gray_t_hash("polygenelubricants"), 2147483648u);
	/* é is one code unit, U+E9 */
	ck_assert_uint_eq(gray_t_hash("\xC3\xA9"), 0xE9);
	/* 😀 U+1F600 is the surrogates D83D DE00: 0xD83D * 31 + 0xDE00 */
	ck_assert_uint_eq(gray_t_hash("\xF0\x9F\x98\x80"), 0xD83Du * 31 + 0xDE00u);
	/* "aaaaaaa" overflows to the int32 -1236860927: Math.abs */
	ck_assert_uint_eq(gray_t_hash("aaaaaaa"), 1236860927u);
}
END_TEST

START_TEST(gray_hash_refuses_bad_utf8)
{
	static const char *const bad[] = {
	    "\xFF",
	    "o\xC0\xAF",
	    "\xED\xA0\x80" /* a surrogate */,
	    "\xE4\xB8" /* cut short */,
	    "\xF4\x90\x80\x80" /* above U+10FFFF */,
	    "\x80",
	};
	uint32_t h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!gray_hash(bad[i], strlen(bad[i]), &h), "accepted bad[%zu]", i);
}
END_TEST

START_TEST(gray_openid_bounds)
{
	char s[4 * 130 + 1];
	uint32_t h;

	ck_assert(!gray_openid("", &h));
	ck_assert(gray_openid("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", &h));
	memset(s, 'x', 128);
	s[128] = '\0';
	ck_assert(gray_openid(s, &h));
	s[128] = 'x';
	s[129] = '\0';
	ck_assert(!gray_openid(s, &h));
	/* 128 characters of three bytes each */
	for (int i = 0; i < 128; i++)
		memcpy(s + 3 * i, "\xE4\xB8\xAD", 3);
	s[384] = '\0';
	ck_assert(gray_openid(s, &h));
	memcpy(s + 384, "\xE4\xB8\xAD", 4);
	ck_assert(!gray_openid(s, &h));
	ck_assert(!gray_openid("o\xFF", &h));
}
END_TEST

START_TEST(gray_config_reading)
{
	struct arena a;
	struct gray_config c;

	arena_init(&a, 0);
	gray_config_parse(&a, NULL, &c); /* no row */
	ck_assert_str_eq(c.backend_type, "cloud");
	ck_assert(c.server_url == NULL && !c.gray_release && c.gray_percent == 0);
	gray_config_parse(&a, GRAY_DEFAULT_CONFIG, &c);
	ck_assert_str_eq(c.backend_type, "cloud");
	ck_assert(!c.gray_release && c.percent_integral);

	gray_config_parse(&a,
	                  "{\"backend_type\":\"server\",\"server_url\":\"https://a.example\","
	                  "\"gray_release\":true,\"gray_percent\":20}",
	                  &c);
	ck_assert_str_eq(c.backend_type, "server");
	ck_assert_str_eq(c.server_url, "https://a.example");
	ck_assert(c.gray_release && c.gray_percent == 20 && c.percent_integral);

	/* by hand: other types read as the adapter's JavaScript reads them */
	gray_config_parse(&a,
	                  "{\"backend_type\":\"auto\",\"server_url\":\"\",\"gray_release\":1,"
	                  "\"gray_percent\":5.5}",
	                  &c);
	ck_assert_str_eq(c.backend_type, "auto");
	ck_assert(c.server_url == NULL && c.gray_release);
	ck_assert(c.gray_percent == 5.5 && !c.percent_integral);
	gray_config_parse(&a, "{\"gray_release\":\"no\",\"gray_percent\":\"50\"}", &c);
	ck_assert(c.gray_release && c.gray_percent == 0); /* a non-empty string is truthy */
	gray_config_parse(&a, "{\"gray_release\":0,\"backend_type\":\"Server\"}", &c);
	ck_assert(!c.gray_release);
	ck_assert_str_eq(c.backend_type, "cloud");
	gray_config_parse(&a, "{\"gray_release\":[]}", &c);
	ck_assert(c.gray_release);
	gray_config_parse(&a, "[1,2]", &c);
	ck_assert_str_eq(c.backend_type, "cloud");
	gray_config_parse(&a, "not json", &c);
	ck_assert(!c.gray_release);
	arena_fini(&a);
}
END_TEST

START_TEST(gray_decision)
{
	struct gray_config off_cloud = {.backend_type = "cloud"};
	struct gray_config off_server = {.backend_type = "server", .gray_percent = 0};
	struct gray_config off_auto = {.backend_type = "auto", .gray_percent = 100};
	struct gray_config on = {.backend_type = "cloud", .gray_release = true, .gray_percent = 20};
	struct gray_config on_server = {
	    .backend_type = "server", .gray_release = true, .gray_percent = 20};
	struct gray_subject in = {.hash = 119}, out = {.hash = 120}, white = {.hash = 150},
	                    black = {.hash = 105}, both = {.hash = 150};

	white.white = true;
	black.black = true;
	both.white = both.black = true;
	/* gray release off: backend_type alone, lists and hash ignored */
	ck_assert_int_eq(gray_decide(&off_cloud, &white), GRAY_CLOUD);
	ck_assert_int_eq(gray_decide(&off_server, &black), GRAY_SERVER);
	ck_assert_int_eq(gray_decide(&off_auto, &in), GRAY_CLOUD);
	/* on: black, then white, then hash % 100 < percent */
	ck_assert_int_eq(gray_decide(&on, &in), GRAY_SERVER); /* 19 < 20 */
	ck_assert_int_eq(gray_decide(&on, &out), GRAY_CLOUD); /* 20 */
	ck_assert_int_eq(gray_decide(&on, &white), GRAY_SERVER);
	ck_assert_int_eq(gray_decide(&on, &black), GRAY_CLOUD);
	ck_assert_int_eq(gray_decide(&on, &both), GRAY_CLOUD);
	ck_assert_int_eq(gray_decide(&on_server, &out), GRAY_CLOUD);
	/* no openid: backend_type */
	ck_assert_int_eq(gray_decide(&on, NULL), GRAY_CLOUD);
	ck_assert_int_eq(gray_decide(&on_server, NULL), GRAY_SERVER);
	/* the ends, and 2^31 (bucket 48) */
	on.gray_percent = 0;
	ck_assert_int_eq(gray_decide(&on, &in), GRAY_CLOUD);
	on.gray_percent = 100;
	out.hash = 2147483648u;
	ck_assert_int_eq(gray_decide(&on, &out), GRAY_SERVER);
	on.gray_percent = 48;
	ck_assert_int_eq(gray_decide(&on, &out), GRAY_CLOUD);
	on.gray_percent = 48.5;
	ck_assert_int_eq(gray_decide(&on, &out), GRAY_SERVER);
	ck_assert_str_eq(gray_backend_name(GRAY_SERVER), "server");
	ck_assert_str_eq(gray_backend_name(GRAY_CLOUD), "cloud");
}
END_TEST

START_TEST(gray_server_url)
{
	char longer[GRAY_URL_MAX + 2];

	ck_assert(gray_url_ok("https://api.example.com", false));
	ck_assert(gray_url_ok("https://api.example.com:8443/base", false));
	ck_assert(!gray_url_ok("http://api.example.com", false));
	ck_assert(gray_url_ok("http://127.0.0.1:8080", true));
	ck_assert(!gray_url_ok("https://api.example.com/", false));
	ck_assert(!gray_url_ok("https://", false));
	ck_assert(!gray_url_ok("https:///path", false));
	ck_assert(!gray_url_ok("ftp://api.example.com", true));
	ck_assert(!gray_url_ok("https://a b", false));
	ck_assert(!gray_url_ok("https://a\"b", false));
	ck_assert(!gray_url_ok("https://\xE4\xB8\xAD", false));
	memset(longer, 'a', sizeof(longer) - 1);
	memcpy(longer, "https://", 8);
	longer[sizeof(longer) - 1] = '\0';
	ck_assert(!gray_url_ok(longer, false));
	longer[GRAY_URL_MAX] = '\0';
	ck_assert(gray_url_ok(longer, false));
}
END_TEST

Suite *gray_suite(void)
{
	Suite *s = suite_create("gray");
	TCase *tc = tcase_create("gray");

	tcase_add_test(tc, gray_hash_node_table);
	tcase_add_test(tc, gray_hash_by_hand);
	tcase_add_test(tc, gray_hash_refuses_bad_utf8);
	tcase_add_test(tc, gray_openid_bounds);
	tcase_add_test(tc, gray_config_reading);
	tcase_add_test(tc, gray_decision);
	tcase_add_test(tc, gray_server_url);
	suite_add_tcase(s, tc);
	return s;
}
