/*
 * test_jsonx — typed getters over request JSON and the small reply builders.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "lib/jsonx.h"
#include "tests/unit/suites.h"

static struct arena jx_arena;
static json_object *jx_obj;
static const char *jx_why;

static void jx_setup(void)
{
	arena_init(&jx_arena, 1024);
	jx_obj = json_tokener_parse(
	    "{\"name\":\"张三\",\"empty\":\"\",\"nul\":null,\"n\":42,\"neg\":-3,\"f\":1.5,"
	    "\"s\":\"12\",\"b\":true,\"o\":{\"k\":1},\"a\":[1],\"big\":9223372036854775807,"
	    "\"huge\":18446744073709551615,\"zh\":\"一二三四五六七八九十\",\"z\":\"a\\u0000b\"}");
	ck_assert_ptr_nonnull(jx_obj);
	jx_why = NULL;
}

static void jx_teardown(void)
{
	json_object_put(jx_obj);
	arena_fini(&jx_arena);
}

/* The failure message names the field: "key: …". */
static void jx_why_names(const char *key)
{
	size_t n = strlen(key);

	ck_assert_ptr_nonnull(jx_why);
	ck_assert_msg(strncmp(jx_why, key, n) == 0 && jx_why[n] == ':', "why=%s", jx_why);
	jx_why = NULL;
}

START_TEST(jsonx_string_cases)
{
	const char *out = "untouched";

	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "name", true, 1, 2, &out, &jx_why), E_OK);
	ck_assert_str_eq(out, "张三");
	/* 2 code points (6 bytes): 3 is too many for max 1 */
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "name", true, 1, 1, &out, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("name");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "zh", true, 10, 10, &out, &jx_why), E_OK);
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "zh", true, 1, 9, &out, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("zh");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "empty", true, 1, 5, &out, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("empty");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "empty", true, 0, 5, &out, &jx_why), E_OK);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "n", true, 0, 5, &out, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("n");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "z", true, 0, 5, &out, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("z");
}
END_TEST

START_TEST(jsonx_absent_and_null)
{
	const char *out = "untouched";
	int64_t i = 5;
	bool b = true;
	json_object *o = NULL;

	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "missing", false, 1, 5, &out, &jx_why),
	                 E_OK);
	ck_assert_str_eq(out, "untouched");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "nul", false, 1, 5, &out, &jx_why), E_OK);
	ck_assert_str_eq(out, "untouched");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "missing", true, 1, 5, &out, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("missing");
	ck_assert_int_eq(jsonx_string(&jx_arena, jx_obj, "nul", true, 1, 5, &out, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("nul");
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "nul", false, 0, 9, &i, &jx_why), E_OK);
	ck_assert_int_eq(i, 5);
	ck_assert_int_eq(jsonx_bool(&jx_arena, jx_obj, "missing", false, &b, &jx_why), E_OK);
	ck_assert(b);
	ck_assert_int_eq(jsonx_object(&jx_arena, jx_obj, "nul", true, &o, &jx_why), E_BAD_REQUEST);
	jx_why_names("nul");
	/* not an object at all: every field is absent */
	ck_assert_int_eq(jsonx_int(&jx_arena, NULL, "n", true, 0, 9, &i, &jx_why), E_BAD_REQUEST);
	jx_why_names("n");
}
END_TEST

START_TEST(jsonx_int_cases)
{
	int64_t v = 0;

	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "n", true, 0, 100, &v, &jx_why), E_OK);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "n", true, 43, 100, &v, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("n");
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "n", true, 0, 41, &v, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("n");
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "neg", true, -3, -3, &v, &jx_why), E_OK);
	ck_assert_int_eq(v, -3);
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "f", true, 0, 100, &v, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("f");
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "s", true, 0, 100, &v, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("s");
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "b", true, 0, 100, &v, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("b");
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "big", true, 0, INT64_MAX, &v, &jx_why),
	                 E_OK);
	ck_assert_int_eq(v, INT64_MAX);
	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "big", true, 0, 1000, &v, &jx_why),
	                 E_BAD_REQUEST);
	jx_why_names("big");
}
END_TEST

/* A value above INT64_MAX must not be clamped into range and accepted. */
START_TEST(jsonx_int_no_clamp)
{
	int64_t v = 0;

	ck_assert_int_eq(jsonx_int(&jx_arena, jx_obj, "huge", true, 0, INT64_MAX, &v, &jx_why),
	                 E_BAD_REQUEST);
}
END_TEST

START_TEST(jsonx_bool_object_cases)
{
	bool b = false;
	json_object *o = NULL;

	ck_assert_int_eq(jsonx_bool(&jx_arena, jx_obj, "b", true, &b, &jx_why), E_OK);
	ck_assert(b);
	ck_assert_int_eq(jsonx_bool(&jx_arena, jx_obj, "n", true, &b, &jx_why), E_BAD_REQUEST);
	jx_why_names("n");
	ck_assert_int_eq(jsonx_bool(&jx_arena, jx_obj, "s", true, &b, &jx_why), E_BAD_REQUEST);
	jx_why_names("s");
	ck_assert_int_eq(jsonx_object(&jx_arena, jx_obj, "o", true, &o, &jx_why), E_OK);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_is_type(o, json_type_object));
	ck_assert_int_eq(jsonx_object(&jx_arena, jx_obj, "a", true, &o, &jx_why), E_BAD_REQUEST);
	jx_why_names("a");
	ck_assert_int_eq(jsonx_require_object(&jx_arena, jx_obj, &jx_why), E_OK);
	ck_assert_int_eq(jsonx_require_object(&jx_arena, NULL, &jx_why), E_BAD_REQUEST);
	jx_why_names("body");
	ck_assert_int_eq(jsonx_object(&jx_arena, jx_obj, "o", true, &o, &jx_why), E_OK);
	ck_assert_int_eq(
	    jsonx_require_object(&jx_arena, json_object_object_get(jx_obj, "a"), &jx_why),
	    E_BAD_REQUEST);
	jx_why_names("body");
}
END_TEST

START_TEST(jsonx_utf8_length)
{
	ck_assert_uint_eq(jsonx_utf8_len(""), 0);
	ck_assert_uint_eq(jsonx_utf8_len("abc"), 3);
	ck_assert_uint_eq(jsonx_utf8_len("中文"), 2);
	ck_assert_uint_eq(jsonx_utf8_len("a中b文c"), 5);
	ck_assert_uint_eq(jsonx_utf8_len("\xf0\x9f\x98\x80"), 1); /* one emoji, 4 bytes */
	ck_assert_uint_eq(jsonx_utf8_len("é"), 1);
}
END_TEST

START_TEST(jsonx_utf8_decoding)
{
	uint32_t cp = 0;

	ck_assert_uint_eq(jsonx_utf8_decode("A", 1, &cp), 1);
	ck_assert_uint_eq(cp, 'A');
	ck_assert_uint_eq(jsonx_utf8_decode("\xC3\xA9", 2, &cp), 2);
	ck_assert_uint_eq(cp, 0xE9);
	ck_assert_uint_eq(jsonx_utf8_decode("\xE4\xB8\xAD", 3, &cp), 3);
	ck_assert_uint_eq(cp, 0x4E2D);
	ck_assert_uint_eq(jsonx_utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
	ck_assert_uint_eq(cp, 0x1F600);
	ck_assert_uint_eq(jsonx_utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
	ck_assert_uint_eq(cp, 0x10FFFF);
	/* refused: nothing, overlong, surrogate, above U+10FFFF, cut short, lone continuation */
	ck_assert_uint_eq(jsonx_utf8_decode("", 0, &cp), 0);
	ck_assert_uint_eq(jsonx_utf8_decode("\xC0\xAF", 2, &cp), 0);
	ck_assert_uint_eq(jsonx_utf8_decode("\xE0\x80\xAF", 3, &cp), 0);
	ck_assert_uint_eq(jsonx_utf8_decode("\xED\xA0\x80", 3, &cp), 0);
	ck_assert_uint_eq(jsonx_utf8_decode("\xF4\x90\x80\x80", 4, &cp), 0);
	ck_assert_uint_eq(jsonx_utf8_decode("\xE4\xB8\xAD", 2, &cp), 0);
	ck_assert_uint_eq(jsonx_utf8_decode("\x80", 1, &cp), 0);
}
END_TEST

START_TEST(jsonx_builders)
{
	json_object *o = jsonx_str_or_null("a/b");
	json_object *p;

	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(jsonx_text(&jx_arena, o), "\"a/b\"");
	json_object_put(o);
	ck_assert_ptr_null(jsonx_str_or_null(NULL));
	p = jsonx_parse_or_empty("{\"u\":\"http://x/y\"}");
	ck_assert_str_eq(jsonx_text(&jx_arena, p), "{\"u\":\"http://x/y\"}");
	json_object_put(p);
	p = jsonx_parse_or_empty("not json");
	ck_assert_str_eq(jsonx_text(&jx_arena, p), "{}");
	json_object_put(p);
	p = jsonx_parse_or_empty(NULL);
	ck_assert(json_object_is_type(p, json_type_object));
	json_object_put(p);
}
END_TEST

Suite *jsonx_suite(void)
{
	Suite *s = suite_create("jsonx");
	TCase *tc = tcase_create("getters");

	tcase_add_checked_fixture(tc, jx_setup, jx_teardown);
	tcase_add_test(tc, jsonx_string_cases);
	tcase_add_test(tc, jsonx_absent_and_null);
	tcase_add_test(tc, jsonx_int_cases);
	tcase_add_test(tc, jsonx_int_no_clamp);
	tcase_add_test(tc, jsonx_bool_object_cases);
	tcase_add_test(tc, jsonx_utf8_length);
	tcase_add_test(tc, jsonx_utf8_decoding);
	tcase_add_test(tc, jsonx_builders);
	suite_add_tcase(s, tc);
	return s;
}
