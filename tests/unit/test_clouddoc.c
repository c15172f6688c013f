/*
 * test_clouddoc — WeChat cloud database documents: lines, dates, and the row each collection's
 * document becomes (or the field that refuses it).
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "lib/clouddoc.h"
#include "tests/unit/suites.h"

static struct arena cd_arena;

static void cd_setup(void)
{
	arena_init(&cd_arena, 1024);
}

static void cd_teardown(void)
{
	arena_fini(&cd_arena);
}

/* The row of a document given as JSON text, or NULL with *why. */
static json_object *cd_row_of(enum clouddoc_kind k, const char *text, const char **id,
                              const char **why)
{
	json_object *doc = json_tokener_parse(text), *row;

	ck_assert_msg(doc != NULL, "bad test JSON: %s", text);
	*why = NULL;
	row = clouddoc_row(&cd_arena, k, doc, id, why);
	json_object_put(doc);
	return row;
}

/* A refused document: its reason starts with field ("field: …"). */
static void cd_refused(enum clouddoc_kind k, const char *text, const char *field)
{
	const char *id, *why;
	json_object *row = cd_row_of(k, text, &id, &why);

	ck_assert_msg(row == NULL, "accepted: %s", text);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strncmp(why, field, strlen(field)) == 0 && why[strlen(field)] == ':',
	              "%s: why=%s", text, why);
}

static const char *cd_str(json_object *row, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(row, key, &v), "no %s", key);
	return v ? json_object_get_string(v) : NULL;
}

static int64_t cd_int(json_object *row, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(row, key, &v) && v != NULL, "no %s", key);
	return json_object_get_int64(v);
}

START_TEST(clouddoc_kinds)
{
	ck_assert_int_eq(clouddoc_kind_parse("users"), CLOUDDOC_USERS);
	ck_assert_int_eq(clouddoc_kind_parse("orders"), CLOUDDOC_ORDERS);
	ck_assert_int_eq(clouddoc_kind_parse("tasks"), CLOUDDOC__MAX);
	ck_assert_int_eq(clouddoc_kind_parse(NULL), CLOUDDOC__MAX);
	ck_assert_str_eq(clouddoc_kind_name(CLOUDDOC_SCENES), "scenes");
}
END_TEST

START_TEST(clouddoc_lines)
{
	const char *why = NULL;
	json_object *o = clouddoc_parse_line(&cd_arena, "  {\"_id\":\"a\"} ", 14, &why);

	ck_assert_ptr_nonnull(o);
	json_object_put(o);
	ck_assert_ptr_null(clouddoc_parse_line(&cd_arena, "[1]", 3, &why));
	ck_assert_str_eq(why, "document: must be a JSON object");
	ck_assert_ptr_null(clouddoc_parse_line(&cd_arena, "{\"a\":1} x", 9, &why));
	ck_assert_ptr_null(clouddoc_parse_line(&cd_arena, "{'a':1}", 7, &why));
	ck_assert_ptr_null(clouddoc_parse_line(&cd_arena, "{\"a\":\"\xff\"}", 8, &why));
	ck_assert_ptr_null(clouddoc_parse_line(&cd_arena, "{\"a\":", 5, &why));
	ck_assert(strncmp(why, "document: not JSON", 18) == 0);
	/* the _id of a line that does not parse, for the report */
	ck_assert_str_eq(clouddoc_guess_id(&cd_arena, "{\"x\":1, \"_id\" : \"ab12\" \"y\"", 26),
	                 "ab12");
	ck_assert_ptr_null(clouddoc_guess_id(&cd_arena, "{\"_id\": 12}", 11));
	ck_assert_ptr_null(clouddoc_guess_id(&cd_arena, "{\"_id\": \"unterminated", 21));
	/* a raw control byte ends the guess (found by fuzz_clouddoc: an empty _id) */
	ck_assert_ptr_null(clouddoc_guess_id(&cd_arena, "{\"_id\":\"\0_id\":\"x\"", 17));
}
END_TEST

START_TEST(clouddoc_dates)
{
	int64_t ms = 0;
	char buf[32];

	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01T04:00:00.123Z", &ms), 0);
	ck_assert_int_eq(ms, 1714536000123LL);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01T12:00:00+08:00", &ms), 0);
	ck_assert_int_eq(ms, 1714536000000LL);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01T12:00:00.5+0800", &ms), 0);
	ck_assert_int_eq(ms, 1714536000500LL);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01 04:00", &ms), 0);
	ck_assert_int_eq(ms, 1714536000000LL);
	ck_assert_int_eq(clouddoc_iso_ms("2025-10-12", &ms), 0);
	ck_assert_int_eq(ms, 1760227200000LL);
	ck_assert_int_eq(clouddoc_iso_ms("2024-02-29T00:00:00Z", &ms), 0);
	ck_assert_int_eq(clouddoc_iso_ms("2023-02-29T00:00:00Z", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-13-01", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01T24:00:00Z", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01T04:00:00+08", &ms), 0);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01T04:00:00+8", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01T04:00:00.Z", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-05-01junk", &ms), -1);
	/* cut short after a separator (found by fuzz_clouddoc: read past the end) */
	ck_assert_int_eq(clouddoc_iso_ms("2024-02-29T16:59:", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-02-29T16:59:0", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-02-29T16:59:00+", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("2024-02-29T16:59:00+08:", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("1899-12-31", &ms), -1);
	ck_assert_int_eq(clouddoc_iso_ms("", &ms), -1);
	clouddoc_format_ms(1714536000123LL, buf);
	ck_assert_str_eq(buf, "2024-05-01T04:00:00.123Z");
	clouddoc_format_ms(-1, buf);
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(clouddoc_users)
{
	const char *id, *why;
	json_object *row =
	    cd_row_of(CLOUDDOC_USERS,
	              "{\"_id\":\"u1\",\"_openid\":\"oA\",\"openid\":\"oA\","
	              "\"nickname\":\"张三\",\"credits\":120.0,\"invite_code\":\"ab12cd\","
	              "\"created_at\":{\"$date\":1714536000123},"
	              "\"updated_at\":{\"$date\":\"2024-05-01T12:00:00+08:00\"},"
	              "\"vip\":{\"level\":2}}",
	              &id, &why);
	json_object *doc;

	ck_assert_msg(row != NULL, "%s", why);
	ck_assert_str_eq(id, "u1");
	ck_assert_str_eq(cd_str(row, "lid"), "u1");
	ck_assert_str_eq(cd_str(row, "openid"), "oA");
	ck_assert_str_eq(cd_str(row, "nickname"), "张三");
	ck_assert_ptr_null(cd_str(row, "avatar_url"));
	ck_assert_str_eq(cd_str(row, "invite"), "AB12CD");
	ck_assert_int_eq(cd_int(row, "credits"), 120);
	ck_assert_str_eq(cd_str(row, "created"), "2024-05-01T04:00:00.123Z");
	ck_assert_str_eq(cd_str(row, "updated"), "2024-05-01T04:00:00.000Z");
	/* the document is kept whole, but for its _id */
	ck_assert(json_object_object_get_ex(row, "doc", &doc));
	ck_assert(!json_object_object_get_ex(doc, "_id", NULL));
	ck_assert(json_object_object_get_ex(doc, "vip", NULL));
	json_object_put(row);

	/* openid alone, or _openid alone; an invite code that does not fit is dropped */
	row = cd_row_of(CLOUDDOC_USERS,
	                "{\"_id\":\"u2\",\"openid\":\"oB\",\"invite_code\":\"a-b\"}", &id, &why);
	ck_assert_msg(row != NULL, "%s", why);
	ck_assert_str_eq(cd_str(row, "openid"), "oB");
	ck_assert_ptr_null(cd_str(row, "invite"));
	ck_assert_int_eq(cd_int(row, "credits"), 0);
	ck_assert_ptr_null(cd_str(row, "created"));
	json_object_put(row);

	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"_openid\":\"oA\",\"openid\":\"oB\"}",
	           "openid");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\"}", "openid");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"openid\":\"o\",\"credits\":-1}", "credits");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"openid\":\"o\",\"credits\":1.5}", "credits");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"openid\":\"o\",\"credits\":\"5\"}",
	           "credits");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"openid\":\"o\",\"invite_code\":7}",
	           "invite_code");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"openid\":\"o\",\"created_at\":12}",
	           "created_at");
	cd_refused(CLOUDDOC_USERS,
	           "{\"_id\":\"u3\",\"openid\":\"o\",\"created_at\":{\"$date\":\"x\"}}",
	           "created_at");
	cd_refused(CLOUDDOC_USERS,
	           "{\"_id\":\"u3\",\"openid\":\"o\",\"nickname\":"
	           "\"12345678901234567890123456789012345678901234567890123456789012345\"}",
	           "nickname");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"openid\":\"o\",\"aiphoto_handover\":{}}",
	           "aiphoto_handover");
	cd_refused(CLOUDDOC_USERS, "{\"openid\":\"o\"}", "_id");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":3,\"openid\":\"o\"}", "_id");
	cd_refused(CLOUDDOC_USERS, "{\"_id\":\"u3\",\"openid\":\"o\",\"x\":[\"a\\u0000b\"]}",
	           "document");
	/* a usable _id is reported even when another field is wrong */
	ck_assert_ptr_null(cd_row_of(CLOUDDOC_USERS, "{\"_id\":\"u4\"}", &id, &why));
	ck_assert_str_eq(id, "u4");
}
END_TEST

/* Works that are accepted, and what their rows say. */
static const struct {
	const char *doc;
	const char *status, *error_code, *image_url; /* NULL: null in the row */
	int64_t self, scene_self; /* 0: absent */
	bool fav;
} cd_works_ok[] = {
    {"{\"_id\":\"w1\",\"user_openid\":\"oA\",\"type\":\"fitting\",\"status\":\"completed\","
     "\"images\":[\"cloud://env.1/a.jpg\",\"https://x/b.jpg\"],\"parameters\":{\"s\":1},"
     "\"scene_id\":\"sc1\",\"is_favorite\":true}",
     "succeeded", NULL, "cloud://env.1/a.jpg", 0, 0, true},
    /* an unfinished cloud work is kept as canceled; server ids name our rows */
    {"{\"_id\":\"aiphoto-w42\",\"_openid\":\"oA\",\"type\":\"photography\","
     "\"status\":\"processing\",\"scene_id\":\"aiphoto-s7\"}",
     "canceled", "cloud_unfinished", NULL, 42, 7, false},
    {"{\"_id\":\"w3\",\"_openid\":\"oA\",\"user_openid\":\"oA\",\"type\":\"photography\","
     "\"status\":\"failed\",\"images\":null}",
     "failed", "cloud_failed", NULL, 0, 0, false},
};

/* An optional integer of a row: 0 when absent. */
static int64_t cd_opt_int(json_object *row, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(row, key, &v) ? json_object_get_int64(v) : 0;
}

START_TEST(clouddoc_works)
{
	const char *id, *why;

	for (size_t i = 0; i < sizeof(cd_works_ok) / sizeof(cd_works_ok[0]); i++) {
		json_object *row = cd_row_of(CLOUDDOC_WORKS, cd_works_ok[i].doc, &id, &why);
		const char *ec, *url;

		ck_assert_msg(row != NULL, "%zu: %s", i, why);
		ec = cd_str(row, "error_code");
		url = cd_str(row, "image_url");
		ck_assert_str_eq(cd_str(row, "openid"), "oA");
		ck_assert_str_eq(cd_str(row, "status"), cd_works_ok[i].status);
		ck_assert_msg(ec == cd_works_ok[i].error_code ||
		                  (ec && cd_works_ok[i].error_code &&
		                   strcmp(ec, cd_works_ok[i].error_code) == 0),
		              "%zu: error_code %s", i, ec);
		ck_assert_msg(url == cd_works_ok[i].image_url ||
		                  (url && cd_works_ok[i].image_url &&
		                   strcmp(url, cd_works_ok[i].image_url) == 0),
		              "%zu: image_url %s", i, url);
		ck_assert_int_eq(cd_opt_int(row, "self"), cd_works_ok[i].self);
		ck_assert_int_eq(cd_opt_int(row, "scene_self"), cd_works_ok[i].scene_self);
		ck_assert_int_eq(cd_int(row, "fav"), cd_works_ok[i].fav);
		json_object_put(row);
	}

	cd_refused(CLOUDDOC_WORKS, "{\"_id\":\"w\",\"type\":\"fitting\",\"status\":\"failed\"}",
	           "user_openid");
	cd_refused(CLOUDDOC_WORKS,
	           "{\"_id\":\"w\",\"user_openid\":\"o\",\"type\":\"video\",\"status\":\"failed\"}",
	           "type");
	cd_refused(CLOUDDOC_WORKS,
	           "{\"_id\":\"w\",\"user_openid\":\"o\",\"type\":\"fitting\",\"status\":\"done\"}",
	           "status");
	cd_refused(CLOUDDOC_WORKS,
	           "{\"_id\":\"w\",\"user_openid\":\"o\",\"type\":\"fitting\","
	           "\"status\":\"completed\",\"images\":[]}",
	           "images");
	cd_refused(CLOUDDOC_WORKS,
	           "{\"_id\":\"w\",\"user_openid\":\"o\",\"type\":\"fitting\","
	           "\"status\":\"failed\",\"images\":\"x\"}",
	           "images");
	cd_refused(CLOUDDOC_WORKS,
	           "{\"_id\":\"w\",\"user_openid\":\"o\",\"type\":\"fitting\","
	           "\"status\":\"failed\",\"images\":[1]}",
	           "images[0]");
	cd_refused(CLOUDDOC_WORKS,
	           "{\"_id\":\"w\",\"user_openid\":\"o\",\"type\":\"fitting\","
	           "\"status\":\"failed\",\"parameters\":[]}",
	           "parameters");
	cd_refused(CLOUDDOC_WORKS,
	           "{\"_id\":\"w\",\"user_openid\":\"o\",\"type\":\"fitting\","
	           "\"status\":\"failed\",\"is_favorite\":1}",
	           "is_favorite");
}
END_TEST

START_TEST(clouddoc_scenes_and_orders)
{
	const char *id, *why;
	json_object *row =
	    cd_row_of(CLOUDDOC_SCENES, "{\"_id\":\"s1\",\"name\":\"户外花园\"}", &id, &why);

	ck_assert_msg(row != NULL, "%s", why);
	ck_assert_str_eq(cd_str(row, "name"), "户外花园");
	ck_assert_str_eq(cd_str(row, "category"), "");
	ck_assert_int_eq(cd_int(row, "active"), 1);
	ck_assert_str_eq(cd_str(row, "parameters"), "{ }");
	json_object_put(row);
	cd_refused(CLOUDDOC_SCENES, "{\"_id\":\"s1\",\"name\":\"  \"}", "name");
	cd_refused(CLOUDDOC_SCENES, "{\"_id\":\"s1\",\"name\":\"n\",\"is_active\":\"yes\"}",
	           "is_active");

	row = cd_row_of(CLOUDDOC_ORDERS,
	                "{\"_id\":\"o1\",\"user_openid\":\"oA\",\"amount\":9.9,\"credits\":100,"
	                "\"status\":\"paid\",\"type\":\"recharge\"}",
	                &id, &why);
	ck_assert_msg(row != NULL, "%s", why);
	ck_assert_int_eq(cd_int(row, "amount_fen"), 990);
	ck_assert_int_eq(cd_int(row, "credits"), 100);
	json_object_put(row);
	row = cd_row_of(CLOUDDOC_ORDERS,
	                "{\"_id\":\"aiphoto-oABC123\",\"_openid\":\"oA\",\"amount\":19.900}", &id,
	                &why);
	ck_assert_msg(row != NULL, "%s", why);
	ck_assert_int_eq(cd_int(row, "amount_fen"), 1990);
	ck_assert_str_eq(cd_str(row, "self"), "ABC123");
	json_object_put(row);
	cd_refused(CLOUDDOC_ORDERS, "{\"_id\":\"o\",\"user_openid\":\"o\",\"amount\":9.999}",
	           "amount");
	cd_refused(CLOUDDOC_ORDERS, "{\"_id\":\"o\",\"user_openid\":\"o\",\"amount\":-1}",
	           "amount");
	cd_refused(CLOUDDOC_ORDERS, "{\"_id\":\"o\",\"user_openid\":\"o\",\"amount\":1e3}",
	           "amount");
	cd_refused(CLOUDDOC_ORDERS, "{\"_id\":\"o\",\"user_openid\":\"o\",\"amount\":\"9\"}",
	           "amount");
}
END_TEST

Suite *clouddoc_suite(void)
{
	Suite *s = suite_create("clouddoc");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, cd_setup, cd_teardown);
	tcase_add_test(tc, clouddoc_kinds);
	tcase_add_test(tc, clouddoc_lines);
	tcase_add_test(tc, clouddoc_dates);
	tcase_add_test(tc, clouddoc_users);
	tcase_add_test(tc, clouddoc_works);
	tcase_add_test(tc, clouddoc_scenes_and_orders);
	suite_add_tcase(s, tc);
	return s;
}
