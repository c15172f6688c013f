/*
 * test_wxnotice — the task-ended template message's data object: every field, each outcome
 * label, both kinds of work, a missing end time.
 */
#include <check.h>
#include <stdio.h>
#include <json-c/json.h>
#include <string.h>

#include "lib/wechat/wxnotice.h"
#include "tests/unit/suites.h"

/* The "value" of field name in the data JSON text (copied to out). */
static void wn_value(const char *text, const char *name, char *out, size_t outlen)
{
	json_object *root = json_tokener_parse(text), *f, *v;

	ck_assert_ptr_nonnull(root);
	ck_assert_msg(json_object_object_get_ex(root, name, &f), "no field %s in %s", name, text);
	ck_assert_msg(json_object_object_get_ex(f, "value", &v), "no %s.value", name);
	ck_assert_int_eq(json_object_object_length(f), 1);
	snprintf(out, outlen, "%s", json_object_get_string(v));
	json_object_put(root);
}

START_TEST(wxnotice_fields)
{
	struct arena a;
	char v[128];
	const struct wxnotice_task t = {.task_id = 9007199254740991LL,
	                                .type = "photography",
	                                .status = "partial",
	                                .done = 3,
	                                .count = 4,
	                                .finished_at = "2026-12-01 10:00:00+08"};
	const char *text;
	json_object *root;

	arena_init(&a, 1024);
	text = wxnotice_task_data(&a, &t);
	root = json_tokener_parse(text);
	ck_assert_int_eq(json_object_object_length(root), 5);
	json_object_put(root);
	wn_value(text, "thing1", v, sizeof(v));
	ck_assert_str_eq(v, "AI写真");
	wn_value(text, "phrase2", v, sizeof(v));
	ck_assert_str_eq(v, "部分完成");
	wn_value(text, "number3", v, sizeof(v));
	ck_assert_str_eq(v, "3/4");
	wn_value(text, "time4", v, sizeof(v));
	ck_assert_str_eq(v, "2026-12-01 10:00:00+08");
	wn_value(text, "character_string5", v, sizeof(v));
	ck_assert_str_eq(v, "9007199254740991");
	ck_assert_ptr_null(strstr(text, "\\/")); /* slashes unescaped */
	arena_fini(&a);
}
END_TEST

START_TEST(wxnotice_outcomes_and_kinds)
{
	static const struct {
		const char *type, *status, *thing, *phrase;
	} cases[] = {
	    {"fitting", "completed", "AI试衣", "已完成"},
	    {"photography", "failed", "AI写真", "失败"},
	    {"fitting", "canceled", "AI试衣", "失败"},
	    {NULL, NULL, "AI写真", "失败"},
	};
	struct arena a;
	char v[64];

	arena_init(&a, 1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wxnotice_task t = {
		    .task_id = 1, .type = cases[i].type, .status = cases[i].status};
		const char *text = wxnotice_task_data(&a, &t);

		wn_value(text, "thing1", v, sizeof(v));
		ck_assert_str_eq(v, cases[i].thing);
		wn_value(text, "phrase2", v, sizeof(v));
		ck_assert_str_eq(v, cases[i].phrase);
		wn_value(text, "time4", v, sizeof(v));
		ck_assert_str_eq(v, ""); /* no end time */
		wn_value(text, "number3", v, sizeof(v));
		ck_assert_str_eq(v, "0/0");
	}
	arena_fini(&a);
}
END_TEST

Suite *wxnotice_suite(void)
{
	Suite *s = suite_create("wxnotice");
	TCase *tc = tcase_create("task");

	tcase_add_test(tc, wxnotice_fields);
	tcase_add_test(tc, wxnotice_outcomes_and_kinds);
	suite_add_tcase(s, tc);
	return s;
}
