/* Unit tests for lib/fields.c and lib/sysconfig.c: the checks of admin bodies and of the
 * system_config documents. */
#include <check.h>
#include <json-c/json.h>
#include <string.h>

#include "lib/fields.h"
#include "lib/sysconfig.h"
#include "tests/unit/suites.h"

static struct arena fd_arena;

static void fd_setup(void)
{
	arena_init(&fd_arena, 4096);
}

static void fd_teardown(void)
{
	arena_fini(&fd_arena);
}

static const char *const fd_kinds[] = {"photography", "fitting", NULL};

static const struct field fd_fields[] = {
    {.name = "name", .kind = FIELD_TEXT, .min = 1, .max = 4, .required = true},
    {.name = "type", .kind = FIELD_TEXT, .min = 1, .max = 16, .choices = fd_kinds},
    {.name = "env",
     .kind = FIELD_TEXT,
     .min = 1,
     .max = 128,
     .check = fields_env_name,
     .what = "an environment variable name"},
    {.name = "n", .kind = FIELD_INT, .min = -2, .max = 2},
    {.name = "x", .kind = FIELD_NUMBER, .min = 0, .max = 1},
    {.name = "on", .kind = FIELD_BOOL},
    {.name = "opts", .kind = FIELD_OBJECT, .max = 16},
    {.name = "list", .kind = FIELD_TEXTS, .max = 2, .item_max = 3},
    {.name = "scene", .kind = FIELD_INT, .min = 1, .max = 99, .nullable = true},
};

/* fields_check of text; the error's message when it fails (NULL when it passes), and the
 * clean document's text in *clean_text. */
static const char *fd_check(const char *text, bool whole, bool strict, const char **clean_text)
{
	json_object *body = json_tokener_parse(text), *clean = NULL;
	const char *why = NULL;
	enum api_err err =
	    fields_check(&fd_arena, body, fd_fields, sizeof(fd_fields) / sizeof(fd_fields[0]),
	                 whole, strict, &clean, &why);

	ck_assert_ptr_nonnull(body);
	if (clean_text != NULL)
		*clean_text = clean ? arena_strdup(&fd_arena, json_object_to_json_string_ext(
		                                                  clean, JSON_C_TO_STRING_PLAIN))
		                    : NULL;
	json_object_put(body);
	json_object_put(clean);
	if (err == E_OK) {
		ck_assert_ptr_null(why);
		return NULL;
	}
	ck_assert_int_eq(err, E_BAD_REQUEST);
	ck_assert_ptr_nonnull(why);
	return why;
}

START_TEST(fields_accepts_and_copies)
{
	const char *clean;

	ck_assert_ptr_null(fd_check("{\"name\":\"ab\",\"type\":\"fitting\",\"env\":\"KEY_1\","
	                            "\"n\":-2,\"x\":0.5,\"on\":false,\"opts\":{\"a\":1},"
	                            "\"list\":[\"x\",\"yz\"],\"scene\":null,\"extra\":1}",
	                            true, false, &clean));
	/* the clean copy: the fields given, the unknown one gone, null kept where it is a value */
	ck_assert_str_eq(clean, "{\"name\":\"ab\",\"type\":\"fitting\",\"env\":\"KEY_1\",\"n\":-2,"
	                        "\"x\":0.5,\"on\":false,\"opts\":{\"a\":1},\"list\":[\"x\",\"yz\"],"
	                        "\"scene\":null}");
	/* an update gives any subset; null of a field that is not nullable counts as absent */
	ck_assert_ptr_null(fd_check("{\"n\":1,\"type\":null}", false, false, &clean));
	ck_assert_str_eq(clean, "{\"n\":1}");
	ck_assert_ptr_null(fd_check("{}", false, true, &clean));
	ck_assert_str_eq(clean, "{}");
	/* x: an integer is a number too */
	ck_assert_ptr_null(fd_check("{\"name\":\"a\",\"x\":1}", true, true, NULL));
}
END_TEST

START_TEST(fields_refuses_naming_the_field)
{
	static const struct {
		const char *body, *field;
		bool whole, strict;
	} bad[] = {
	    {"{}", "name", true, false},
	    {"{\"name\":null}", "name", true, false},
	    {"{\"name\":\"\"}", "name", false, false},
	    {"{\"name\":\"abcde\"}", "name", false, false},
	    {"{\"name\":5}", "name", false, false},
	    {"{\"type\":\"video\"}", "type", false, false},
	    {"{\"env\":\"lower\"}", "env", false, false},
	    {"{\"env\":\"1ABC\"}", "env", false, false},
	    {"{\"env\":\"A-B\"}", "env", false, false},
	    {"{\"n\":3}", "n", false, false},
	    {"{\"n\":1.5}", "n", false, false},
	    {"{\"n\":\"1\"}", "n", false, false},
	    {"{\"x\":1.01}", "x", false, false},
	    {"{\"x\":\"0.5\"}", "x", false, false},
	    {"{\"on\":1}", "on", false, false},
	    {"{\"opts\":[]}", "opts", false, false},
	    {"{\"opts\":{\"long\":\"0123456789\"}}", "opts", false, false},
	    {"{\"list\":\"x\"}", "list", false, false},
	    {"{\"list\":[\"a\",\"b\",\"c\"]}", "list", false, false},
	    {"{\"list\":[\"abcd\"]}", "list[0]", false, false},
	    {"{\"list\":[\"a\",\"\"]}", "list[1]", false, false},
	    {"{\"list\":[1]}", "list[0]", false, false},
	    {"{\"scene\":0}", "scene", false, false},
	    {"{\"other\":1}", "other", false, true},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = fd_check(bad[i].body, bad[i].whole, bad[i].strict, NULL);
		ck_assert_msg(why != NULL, "%s passed", bad[i].body);
		ck_assert_msg(strncmp(why, bad[i].field, strlen(bad[i].field)) == 0 &&
		                  why[strlen(bad[i].field)] == ':',
		              "%s: %s", bad[i].body, why);
	}
	ck_assert_ptr_nonnull(fd_check("[]", false, false, NULL));
}
END_TEST

START_TEST(fields_rules)
{
	ck_assert(fields_url("https://api.example.com/v1"));
	ck_assert(fields_url("http://127.0.0.1:18090/openai/v1"));
	ck_assert(!fields_url("ftp://example.com"));
	ck_assert(!fields_url("https://"));
	ck_assert(!fields_url("https:///path"));
	ck_assert(!fields_url("https://a b"));
	ck_assert(!fields_url("https://a\"b"));
	ck_assert(!fields_url("javascript:alert(1)"));
	ck_assert(fields_env_name("AIPHOTO_SIM_KEY"));
	ck_assert(fields_env_name("_X"));
	ck_assert(!fields_env_name(""));
	ck_assert(!fields_env_name("9KEY"));
	ck_assert(!fields_env_name("key"));
	ck_assert(!fields_env_name("sk-0123456789abcdef"));
	ck_assert(fields_not_blank(" a "));
	ck_assert(!fields_not_blank("   "));
	ck_assert(!fields_not_blank(""));
}
END_TEST

/* sysconfig_check of a document for key: NULL when it passes, else the message. */
static const char *fd_config(const char *key, const char *text, bool development)
{
	const struct sysconfig_key *k = sysconfig_find(key);
	json_object *doc = json_tokener_parse(text), *clean = NULL;
	const char *why = NULL;
	enum api_err err;

	ck_assert_ptr_nonnull(k);
	err = sysconfig_check(&fd_arena, k, doc, development, &clean, &why);
	json_object_put(doc);
	json_object_put(clean);
	ck_assert(err == E_OK ? why == NULL : err == E_BAD_REQUEST && why != NULL);
	return why;
}

START_TEST(sysconfig_documents)
{
	static const struct {
		const char *key, *doc, *field; /* field NULL: valid */
	} cases[] = {
	    {"pricing", "{\"photography\":10,\"fitting\":15}", NULL},
	    {"pricing", "{\"photography\":10}", "fitting"},
	    {"pricing", "{\"photography\":-1,\"fitting\":15}", "photography"},
	    {"pricing", "{\"photography\":10,\"fitting\":15,\"video\":3}", "video"},
	    {"checkin", "{\"base_credits\":5,\"streak_bonus\":1,\"max_bonus_days\":6}", NULL},
	    {"checkin", "{\"base_credits\":5,\"streak_bonus\":1,\"max_bonus_days\":400}",
	     "max_bonus_days"},
	    {"invite", "{\"invitee_bonus\":10,\"inviter_bonus\":20}", NULL},
	    {"invite", "{\"invitee_bonus\":\"10\",\"inviter_bonus\":20}", "invitee_bonus"},
	    {"notify", "{\"task_template_id\":\"\"}", NULL},
	    {"notify", "{\"task_template_id\":\"t1\",\"task_page_url\":\"https://x.cn/m.html\"}",
	     NULL},
	    {"notify", "{\"task_template_id\":\"t1\",\"task_page_url\":\"member.html\"}",
	     "task_page_url"},
	    {"notify",
	     "{\"mp\":{\"template_id\":\"m1\",\"page\":\"pages/works/works?task_id={task_id}\","
	     "\"miniprogram_state\":\"formal\",\"lang\":\"zh_CN\",\"data\":{\"thing1\":\"{kind}\"}}"
	     "}",
	     NULL},
	    {"notify", "{\"mp\":{\"miniprogram_state\":\"beta\"}}", "mp.miniprogram_state"},
	    {"notify", "{\"mp\":{\"template\":\"m1\"}}", "mp.template"},
	    {"notify", "{\"mp\":{\"data\":[]}}", "mp.data"},
	    {"notify", "{\"mp\":\"m1\"}", "mp"},
	    {"content_check", "{\"enabled\":true,\"on_error\":\"closed\"}", NULL},
	    {"content_check", "{\"text\":true}", "enabled"},
	    {"content_check", "{\"enabled\":true,\"on_error\":\"ignore\"}", "on_error"},
	    {"backend_config",
	     "{\"backend_type\":\"server\",\"gray_release\":true,\"gray_percent\":12.5,"
	     "\"white_list\":[\"o1\"],\"black_list\":[],\"server_url\":\"https://x.cn\"}",
	     NULL},
	    {"backend_config",
	     "{\"backend_type\":\"mars\",\"gray_release\":true,\"gray_percent\":1,"
	     "\"white_list\":[],\"black_list\":[]}",
	     "backend_type"},
	    {"backend_config",
	     "{\"backend_type\":\"cloud\",\"gray_release\":true,\"gray_percent\":101,"
	     "\"white_list\":[],\"black_list\":[]}",
	     "gray_percent"},
	    {"backend_config",
	     "{\"backend_type\":\"cloud\",\"gray_release\":true,\"gray_percent\":1,"
	     "\"white_list\":[],\"black_list\":[],\"server_url\":\"https://x.cn/\"}",
	     "server_url"},
	    {"backend_config",
	     "{\"backend_type\":\"cloud\",\"gray_release\":true,\"gray_percent\":1,"
	     "\"white_list\":[],\"black_list\":[],\"server_url\":\"http://x.cn\"}",
	     "server_url"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = fd_config(cases[i].key, cases[i].doc, false);
		if (cases[i].field == NULL)
			ck_assert_msg(why == NULL, "%s %s: %s", cases[i].key, cases[i].doc, why);
		else
			ck_assert_msg(why != NULL &&
			                  strncmp(why, cases[i].field, strlen(cases[i].field)) == 0,
			              "%s %s: %s", cases[i].key, cases[i].doc,
			              why ? why : "passed");
	}
	/* http:// is for development stacks only */
	ck_assert_ptr_null(fd_config("backend_config",
	                             "{\"backend_type\":\"cloud\",\"gray_release\":false,"
	                             "\"gray_percent\":0,\"white_list\":[],\"black_list\":[],"
	                             "\"server_url\":\"http://127.0.0.1:8080\"}",
	                             true));
	ck_assert_ptr_null(sysconfig_find("jwt_secret"));
	ck_assert_ptr_null(sysconfig_find(NULL));
	ck_assert_uint_eq(sysconfig_nkeys, 6);
}
END_TEST

Suite *fields_suite(void)
{
	Suite *s = suite_create("fields");
	TCase *tc = tcase_create("fields");

	tcase_add_checked_fixture(tc, fd_setup, fd_teardown);
	tcase_add_test(tc, fields_accepts_and_copies);
	tcase_add_test(tc, fields_refuses_naming_the_field);
	tcase_add_test(tc, fields_rules);
	tcase_add_test(tc, sysconfig_documents);
	suite_add_tcase(s, tc);
	return s;
}
