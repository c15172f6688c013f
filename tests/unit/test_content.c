/*
 * test_content — the pieces of text service/content sends to msg_sec_check: every string of
 * a JSON value in order, joined with newlines, cut on character boundaries.
 */
#include <check.h>
#include <json-c/json.h>
#include <string.h>

#include "lib/jsonx.h"
#include "service/content.h"
#include "tests/unit/suites.h"

START_TEST(content_pieces_collects_every_string)
{
	struct arena a;
	json_object *v = json_tokener_parse("{\"style\":\"胶片\",\"n\":3,\"empty\":\"\",\"extra\":{"
	                                    "\"note\":[\"一\",true,\"二\"]}}");
	const char **out;
	size_t n;

	arena_init(&a, 1024);
	content_pieces(&a, v, CONTENT_MAX_CHARS, &out, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(out[0], "胶片\n一\n二");
	json_object_put(v);
	/* a bare string, nothing, a value without text */
	v = json_object_new_string("小明");
	content_pieces(&a, v, CONTENT_MAX_CHARS, &out, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(out[0], "小明");
	json_object_put(v);
	content_pieces(&a, NULL, CONTENT_MAX_CHARS, &out, &n);
	ck_assert_uint_eq(n, 0);
	v = json_tokener_parse("{\"a\":1,\"b\":[false,null]}");
	content_pieces(&a, v, CONTENT_MAX_CHARS, &out, &n);
	ck_assert_uint_eq(n, 0);
	json_object_put(v);
	arena_fini(&a);
}
END_TEST

START_TEST(content_pieces_cut_on_characters)
{
	struct arena a;
	json_object *v = json_object_new_string("一二三四五六七ab");
	const char **out;
	size_t n;

	arena_init(&a, 1024);
	content_pieces(&a, v, 3, &out, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out[0], "一二三");
	ck_assert_str_eq(out[1], "四五六");
	ck_assert_str_eq(out[2], "七ab");
	json_object_put(v);
	/* 2500 characters make one piece, 2501 two */
	{
		char *big = arena_alloc(&a, 2501 * 3 + 1);
		for (int i = 0; i < 2501; i++)
			memcpy(big + i * 3, "字", 3);
		big[2501 * 3] = '\0';
		v = json_object_new_string(big);
		content_pieces(&a, v, CONTENT_MAX_CHARS, &out, &n);
		ck_assert_uint_eq(n, 2);
		ck_assert_uint_eq(jsonx_utf8_len(out[0]), 2500);
		ck_assert_str_eq(out[1], "字");
		json_object_put(v);
	}
	arena_fini(&a);
}
END_TEST

Suite *content_suite(void)
{
	Suite *s = suite_create("content");
	TCase *tc = tcase_create("pieces");

	tcase_add_test(tc, content_pieces_collects_every_string);
	tcase_add_test(tc, content_pieces_cut_on_characters);
	suite_add_tcase(s, tc);
	return s;
}
