/*
 * test_prompt — {{name}} placeholders: lookup order, value types, what is not a
 * placeholder, one-pass replacement and the output cap.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "lib/prompt.h"
#include "tests/unit/suites.h"

static struct arena pr_arena;
static json_object *pr_vars[3];

static void pr_setup(void)
{
	arena_init(&pr_arena, 1024);
	pr_vars[0] = json_tokener_parse("{\"style\":\"复古\",\"n\":3,\"f\":1.5,\"yes\":true,"
	                                "\"no\":false,\"nul\":null,\"obj\":{\"k\":1},"
	                                "\"arr\":[1],\"loop\":\"{{style}}\"}");
	pr_vars[1] = json_tokener_parse("{\"style\":\"ignored\",\"nul\":\"from-second\","
	                                "\"obj\":\"flat\",\"aspect\":\"3:4\"}");
	pr_vars[2] = json_tokener_parse("{\"scene\":\"海边\",\"aspect\":\"1:1\"}");
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(pr_vars[i]);
}

static void pr_teardown(void)
{
	for (int i = 0; i < 3; i++)
		json_object_put(pr_vars[i]);
	arena_fini(&pr_arena);
}

static const char *pr(const char *tmpl)
{
	return prompt_render(&pr_arena, tmpl, pr_vars, 3);
}

START_TEST(prompt_plain_text)
{
	ck_assert_str_eq(pr(""), "");
	ck_assert_str_eq(prompt_render(&pr_arena, NULL, pr_vars, 3), "");
	ck_assert_str_eq(pr("no placeholders here"), "no placeholders here");
	ck_assert_str_eq(prompt_render(&pr_arena, "{{style}}", NULL, 0), "");
}
END_TEST

START_TEST(prompt_priority_order)
{
	ck_assert_str_eq(pr("{{style}} photo at {{scene}}, {{aspect}}"), "复古 photo at 海边, 3:4");
	/* a key whose value is not a scalar in an earlier object falls through */
	ck_assert_str_eq(pr("[{{nul}}] [{{obj}}] [{{arr}}]"), "[from-second] [flat] []");
}
END_TEST

START_TEST(prompt_value_types)
{
	ck_assert_str_eq(pr("{{n}}|{{f}}|{{yes}}|{{no}}"), "3|1.5|true|false");
}
END_TEST

START_TEST(prompt_unknown_is_empty)
{
	ck_assert_str_eq(pr("a{{missing}}b"), "ab");
	ck_assert_str_eq(pr("{{Style}}"), ""); /* names are case-sensitive */
}
END_TEST

START_TEST(prompt_spaces_inside)
{
	ck_assert_str_eq(pr("{{ style }}"), "复古");
	ck_assert_str_eq(pr("{{\tstyle  }}"), "复古");
	ck_assert_str_eq(pr("{{ sty le }}"), "{{ sty le }}");
}
END_TEST

START_TEST(prompt_not_placeholders)
{
	ck_assert_str_eq(pr("{{}}"), "{{}}");
	ck_assert_str_eq(pr("{{ }}"), "{{ }}");
	ck_assert_str_eq(pr("{{style"), "{{style");
	ck_assert_str_eq(pr("{{style}"), "{{style}");
	ck_assert_str_eq(pr("{style}"), "{style}");
	ck_assert_str_eq(pr("{{a-b}}"), "{{a-b}}");
	ck_assert_str_eq(pr("{{风格}}"), "{{风格}}");
	ck_assert_str_eq(pr("}}{{"), "}}{{");
	ck_assert_str_eq(pr("{{{style}}}"), "{复古}");
	ck_assert_str_eq(pr("{{{{style}}"), "{{复古");
}
END_TEST

START_TEST(prompt_name_length)
{
	char tmpl[64], name[40];

	memset(name, 'x', 32);
	name[32] = '\0';
	json_object_object_add(pr_vars[0], name, json_object_new_string("ok"));
	snprintf(tmpl, sizeof(tmpl), "{{%s}}", name);
	ck_assert_str_eq(pr(tmpl), "ok");
	memset(name, 'y', 33);
	name[33] = '\0';
	json_object_object_add(pr_vars[0], name, json_object_new_string("too long"));
	snprintf(tmpl, sizeof(tmpl), "{{%s}}", name);
	ck_assert_str_eq(pr(tmpl), tmpl);
}
END_TEST

START_TEST(prompt_one_pass)
{
	ck_assert_str_eq(pr("{{loop}}"), "{{style}}");
	ck_assert_str_eq(pr("{{loop}}{{style}}"), "{{style}}复古");
}
END_TEST

START_TEST(prompt_cap)
{
	char big[PROMPT_MAX_BYTES + 100];
	const char *out;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	out = pr(big);
	ck_assert_uint_eq(strlen(out), PROMPT_MAX_BYTES);

	/* a value that overflows is cut at a character boundary: 3-byte characters */
	memset(big, 'a', PROMPT_MAX_BYTES - 4);
	memcpy(big + PROMPT_MAX_BYTES - 4, "{{style}}{{style}}", 19);
	out = pr(big);
	ck_assert_uint_eq(strlen(out), PROMPT_MAX_BYTES - 4 + 3);
	ck_assert_str_eq(out + PROMPT_MAX_BYTES - 4, "复");

	/* many expansions of a long value stay bounded */
	{
		char value[1001];
		memset(value, 'v', 1000);
		value[1000] = '\0';
		json_object_object_add(pr_vars[0], "long", json_object_new_string(value));
		out = pr("{{long}}{{long}}{{long}}{{long}}{{long}}{{long}}");
		ck_assert_uint_eq(strlen(out), PROMPT_MAX_BYTES);
	}
}
END_TEST

START_TEST(prompt_scene_vars)
{
	json_object *params = json_tokener_parse("{\"style\":\"胶片\"}");
	const char *out;

	out = prompt_render_scene(&pr_arena, "{{style}}/{{aspect}}/{{scene}}/{{category}}", params,
	                          "{\"style\":\"默认\",\"aspect\":\"3:4\",\"scene\":\"x\"}", "海边",
	                          "旅拍");
	/* the scene's own parameters come before its name: a "scene" key there wins */
	ck_assert_str_eq(out, "胶片/3:4/x/旅拍");
	out = prompt_render_scene(&pr_arena, "{{style}}|{{scene}}", NULL, "not json", "海边", NULL);
	ck_assert_str_eq(out, "|海边");
	out = prompt_render_scene(&pr_arena, "{{style}}|{{scene}}", NULL, NULL, NULL, NULL);
	ck_assert_str_eq(out, "|");
	json_object_put(params);
}
END_TEST

Suite *prompt_suite(void)
{
	Suite *s = suite_create("prompt");
	TCase *tc = tcase_create("render");

	tcase_add_checked_fixture(tc, pr_setup, pr_teardown);
	tcase_add_test(tc, prompt_plain_text);
	tcase_add_test(tc, prompt_priority_order);
	tcase_add_test(tc, prompt_value_types);
	tcase_add_test(tc, prompt_unknown_is_empty);
	tcase_add_test(tc, prompt_spaces_inside);
	tcase_add_test(tc, prompt_not_placeholders);
	tcase_add_test(tc, prompt_name_length);
	tcase_add_test(tc, prompt_one_pass);
	tcase_add_test(tc, prompt_cap);
	tcase_add_test(tc, prompt_scene_vars);
	suite_add_tcase(s, tc);
	return s;
}
