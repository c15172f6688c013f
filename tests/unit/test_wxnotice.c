/*
 * test_wxnotice — the task-ended template message's data object: every field, each outcome
 * label, both kinds of work, a missing end time; the subscribe message's rendering and
 * WeChat's per-type value limits; what a send's answer means for the outbox.
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

/* UTF-8 characters in s. */
static size_t wn_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

START_TEST(wxnotice_fit_limits)
{
	static const struct {
		const char *key, *in, *out;
	} cases[] = {
	    /* thing: 20 characters, cut with an ellipsis */
	    {"thing1", "AI写真", "AI写真"},
	    {"thing2", "一二三四五六七八九十一二三四五六七八九十",
	     "一二三四五六七八九十一二三四五六七八九十"},
	    {"thing2", "一二三四五六七八九十一二三四五六七八九十X",
	     "一二三四五六七八九十一二三四五六七八九…"},
	    {"thing12", "", "-"},
	    /* number: digits and a decimal point, 32 at most */
	    {"number3", "3/4", "34"},
	    {"number3", "12.5", "12.5"},
	    {"number3", "abc", "0"},
	    {"number3", "123456789012345678901234567890123456", "12345678901234567890123456789012"},
	    /* letter, symbol */
	    {"letter4", "ab1c-D", "abcD"},
	    {"symbol5", "!@#$%^&", "!@#$%"},
	    /* character_string: printable ASCII without spaces, 32 at most */
	    {"character_string5", "task 42", "task42"},
	    {"character_string5", "任务42", "42"},
	    {"character_string5", "9007199254740991900719925474099112",
	     "90071992547409919007199254740991"},
	    /* phrase: at most 5 characters, no ASCII */
	    {"phrase2", "部分完成", "部分完成"},
	    {"phrase2", "已完成 ok", "已完成"},
	    {"phrase2", "一二三四五六", "一二三四五"},
	    {"phrase2", "done", "-"},
	    /* name: 10 characters, 20 when all ASCII */
	    {"name1", "ABCDEFGHIJKLMNOPQRSTU", "ABCDEFGHIJKLMNOPQRS…"},
	    {"name1", "张三李四王五赵六钱七孙八", "张三李四王五赵六钱…"},
	    {"phone_number1", "+86-0766-66888866-123", "+86-0766-66888866"},
	    {"car_number1", "粤A8Z888挂X", "粤A8Z888挂"},
	    /* unchanged */
	    {"time4", "2026-12-01 10:00", "2026-12-01 10:00"},
	    {"date4", "2026年12月1日", "2026年12月1日"},
	    {"amount1", "¥12.50", "¥12.50"},
	    {"unknown7", "anything at all, however long it is",
	     "anything at all, however long it is"},
	};
	struct arena a;

	arena_init(&a, 1024);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = wxnotice_fit(&a, cases[i].key, cases[i].in);
		ck_assert_msg(strcmp(got, cases[i].out) == 0, "%s(%s) = %s, expected %s",
		              cases[i].key, cases[i].in, got, cases[i].out);
	}
	ck_assert_uint_le(
	    wn_chars(wxnotice_fit(&a, "thing1", "一二三四五六七八九十一二三四五六七八九十一")), 20);
	ck_assert_str_eq(wxnotice_fit(&a, "thing1", NULL), "-");
	arena_fini(&a);
}
END_TEST

START_TEST(wxnotice_render_placeholders)
{
	const struct wxnotice_task t = {.task_id = 42,
	                                .type = "fitting",
	                                .status = "partial",
	                                .done = 3,
	                                .count = 5,
	                                .failed = 2,
	                                .credits_refunded = 30,
	                                .finished_at = "2026-12-01T10:05:09+08:00"};
	struct arena a;

	arena_init(&a, 1024);
	ck_assert_str_eq(wxnotice_render(&a, "pages/works/works?task_id={task_id}", &t),
	                 "pages/works/works?task_id=42");
	ck_assert_str_eq(
	    wxnotice_render(&a, "{kind}{outcome} {done}/{count} -{failed} +{refunded}", &t),
	    "AI试衣部分完成 3/5 -2 +30");
	ck_assert_str_eq(wxnotice_render(&a, "{finished_at}", &t), "2026-12-01 10:05");
	/* unknown names, stray braces and text around stay */
	ck_assert_str_eq(wxnotice_render(&a, "{x}{{task_id}}{", &t), "{x}{42}{");
	ck_assert_str_eq(wxnotice_render(&a, NULL, &t), "");
	arena_fini(&a);
}
END_TEST

START_TEST(wxnotice_subscribe_mapping)
{
	const struct wxnotice_task t = {.task_id = 7,
	                                .type = "photography",
	                                .status = "completed",
	                                .done = 2,
	                                .count = 2,
	                                .finished_at = "2026-12-01T10:05:09+08:00"};
	struct arena a;
	char v[128];
	const char *text;

	arena_init(&a, 1024);
	text = wxnotice_subscribe_data(
	    &a,
	    "{\"thing1\":\"{kind}已生成{done}张，共{count}张，点击查看你的作品吧\",\"phrase2\":"
	    "\"{outcome}\",\"character_string3\":\"{task_id}\",\"time4\":\"{finished_at}\"}",
	    &t);
	ck_assert_ptr_nonnull(text);
	wn_value(text, "thing1", v, sizeof(v));
	ck_assert_uint_eq(wn_chars(v), 20);
	ck_assert_str_eq(v, "AI写真已生成2张，共2张，点击查看你…");
	wn_value(text, "phrase2", v, sizeof(v));
	ck_assert_str_eq(v, "已完成");
	wn_value(text, "character_string3", v, sizeof(v));
	ck_assert_str_eq(v, "7");
	wn_value(text, "time4", v, sizeof(v));
	ck_assert_str_eq(v, "2026-12-01 10:05");
	ck_assert_ptr_null(wxnotice_subscribe_data(&a, NULL, &t));
	ck_assert_ptr_null(wxnotice_subscribe_data(&a, "{}", &t));
	ck_assert_ptr_null(wxnotice_subscribe_data(&a, "[\"thing1\"]", &t));
	ck_assert_ptr_null(wxnotice_subscribe_data(&a, "{\"thing1\":1}", &t));
	arena_fini(&a);
}
END_TEST

START_TEST(wxnotice_classify_answers)
{
	ck_assert_int_eq(wxnotice_classify(E_OK, 0), WXNOTICE_SENT);
	ck_assert_int_eq(wxnotice_classify(E_UPSTREAM_ERROR, 0), WXNOTICE_RETRY); /* 5xx, timeout */
	ck_assert_int_eq(wxnotice_classify(E_UNAVAILABLE, 0), WXNOTICE_RETRY); /* Redis */
	ck_assert_int_eq(wxnotice_classify(E_OK, -1), WXNOTICE_RETRY);
	ck_assert_int_eq(wxnotice_classify(E_OK, 45009), WXNOTICE_RETRY);
	ck_assert_int_eq(wxnotice_classify(E_OK, 43101), WXNOTICE_REFUSED);
	ck_assert_int_eq(wxnotice_classify(E_OK, 40037), WXNOTICE_REFUSED);
	ck_assert_int_eq(wxnotice_classify(E_OK, 47003), WXNOTICE_REFUSED);
	ck_assert_int_eq(wxnotice_classify(E_OK, 41030), WXNOTICE_REFUSED);
}
END_TEST

Suite *wxnotice_suite(void)
{
	Suite *s = suite_create("wxnotice");
	TCase *tc = tcase_create("task");

	tcase_add_test(tc, wxnotice_fields);
	tcase_add_test(tc, wxnotice_outcomes_and_kinds);
	tcase_add_test(tc, wxnotice_fit_limits);
	tcase_add_test(tc, wxnotice_render_placeholders);
	tcase_add_test(tc, wxnotice_subscribe_mapping);
	tcase_add_test(tc, wxnotice_classify_answers);
	suite_add_tcase(s, tc);
	return s;
}
