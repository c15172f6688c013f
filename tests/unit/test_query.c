/*
 * test_query — percent-decoding, query string parsing and request_query lookups.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "fcgi/query.h"
#include "tests/unit/suites.h"

static struct arena query_arena;

static void query_setup(void)
{
	arena_init(&query_arena, 1024);
}

static void query_teardown(void)
{
	arena_fini(&query_arena);
}

static char *query_dec(const char *s, bool plus)
{
	return query_decode(&query_arena, s, strlen(s), plus);
}

START_TEST(query_decode_escapes)
{
	ck_assert_str_eq(query_dec("%41", false), "A");
	ck_assert_str_eq(query_dec("a%41b", false), "aAb");
	ck_assert_str_eq(query_dec("%e4%B8%ad", false), "\xe4\xb8\xad");
	ck_assert_str_eq(query_dec("%2F%2f", false), "//");
	ck_assert_str_eq(query_dec("plain", false), "plain");
	ck_assert_str_eq(query_dec("", false), "");
}
END_TEST

START_TEST(query_decode_invalid_kept)
{
	ck_assert_str_eq(query_dec("%4", false), "%4");
	ck_assert_str_eq(query_dec("ab%", false), "ab%");
	ck_assert_str_eq(query_dec("%zz", false), "%zz");
	ck_assert_str_eq(query_dec("%4g1", false), "%4g1");
	ck_assert_str_eq(query_dec("%%41", false), "%A");
	/* only the first n bytes count: the escape is cut short */
	ck_assert_str_eq(query_decode(&query_arena, "%41", 2, false), "%4");
}
END_TEST

START_TEST(query_decode_plus)
{
	ck_assert_str_eq(query_dec("a+b", true), "a b");
	ck_assert_str_eq(query_dec("a+b", false), "a+b");
	ck_assert_str_eq(query_dec("%2B", true), "+");
	ck_assert_str_eq(query_dec("%20", false), " ");
}
END_TEST

START_TEST(query_decode_nul)
{
	ck_assert_ptr_null(query_dec("%00", false));
	ck_assert_ptr_null(query_dec("a%00b", true));
	/* a raw NUL within the n bytes is refused as well */
	ck_assert_ptr_null(query_decode(&query_arena, "a\0b", 3, false));
	/* %0 followed by the end is not an escape */
	ck_assert_str_eq(query_dec("%0", false), "%0");
}
END_TEST

START_TEST(query_decode_length_bound)
{
	static const char *const inputs[] = {"%41%42%43", "+++", "%zz%", "abc", "%e4%b8%ad"};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		char *d = query_dec(inputs[i], true);
		ck_assert_ptr_nonnull(d);
		ck_assert_uint_le(strlen(d), strlen(inputs[i]));
	}
}
END_TEST

START_TEST(query_parse_basic)
{
	struct query_param *p;
	size_t n = query_parse(&query_arena, "a=1&b=&c", &p);

	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(p[0].name, "a");
	ck_assert_str_eq(p[0].value, "1");
	ck_assert_str_eq(p[1].name, "b");
	ck_assert_str_eq(p[1].value, "");
	ck_assert_str_eq(p[2].name, "c");
	ck_assert_str_eq(p[2].value, "");
}
END_TEST

START_TEST(query_parse_empty_names)
{
	struct query_param *p;
	size_t n;

	ck_assert_uint_eq(query_parse(&query_arena, "", &p), 0);
	ck_assert_uint_eq(query_parse(&query_arena, NULL, &p), 0);
	ck_assert_uint_eq(query_parse(&query_arena, "&&&", &p), 0);
	ck_assert_uint_eq(query_parse(&query_arena, "=x&=", &p), 0);
	n = query_parse(&query_arena, "&&a=1&&=2&b=2&", &p);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(p[0].name, "a");
	ck_assert_str_eq(p[1].name, "b");
	ck_assert_str_eq(p[1].value, "2");
}
END_TEST

START_TEST(query_parse_decodes)
{
	struct query_param *p;
	size_t n = query_parse(&query_arena, "na%6De=h%C3%A9llo+w&x%3D=a%26b&q=1=2", &p);

	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(p[0].name, "name");
	ck_assert_str_eq(p[0].value, "h\xc3\xa9llo w");
	ck_assert_str_eq(p[1].name, "x=");
	ck_assert_str_eq(p[1].value, "a&b");
	ck_assert_str_eq(p[2].name, "q");
	ck_assert_str_eq(p[2].value, "1=2");
}
END_TEST

START_TEST(query_parse_nul_pair_dropped)
{
	struct query_param *p;
	size_t n = query_parse(&query_arena, "a=%00&b%00=1&c=3", &p);

	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(p[0].name, "c");
	ck_assert_str_eq(p[0].value, "3");
}
END_TEST

START_TEST(query_parse_capped)
{
	char qs[2048];
	size_t len = 0;
	struct query_param *p;
	size_t n;

	for (int i = 0; i < QUERY_MAX_PARAMS + 20; i++) {
		int k = snprintf(qs + len, sizeof(qs) - len, "%sk%d=%d", i ? "&" : "", i, i);
		ck_assert_int_gt(k, 0);
		len += (size_t)k;
	}
	n = query_parse(&query_arena, qs, &p);
	ck_assert_uint_eq(n, QUERY_MAX_PARAMS);
	ck_assert_str_eq(p[0].name, "k0");
	ck_assert_str_eq(p[QUERY_MAX_PARAMS - 1].name, "k63");
	ck_assert_str_eq(p[QUERY_MAX_PARAMS - 1].value, "63");
}
END_TEST

START_TEST(query_request_lookup)
{
	struct request req;

	memset(&req, 0, sizeof(req));
	req.arena = &query_arena;
	req.nparams =
	    query_parse(&query_arena, "category=%E4%BA%BA&limit=5&empty&limit=9", &req.params);
	ck_assert_str_eq(request_query(&req, "category"), "\xe4\xba\xba");
	ck_assert_str_eq(request_query(&req, "limit"), "5"); /* first one wins */
	ck_assert_str_eq(request_query(&req, "empty"), "");
	ck_assert_ptr_null(request_query(&req, "missing"));
	ck_assert_ptr_null(request_query(&req, "Limit"));
}
END_TEST

START_TEST(query_request_lookup_none)
{
	struct request req;

	memset(&req, 0, sizeof(req));
	ck_assert_ptr_null(request_query(&req, "a"));
}
END_TEST

Suite *query_suite(void)
{
	Suite *s = suite_create("query");
	TCase *tc = tcase_create("decode");

	tcase_add_checked_fixture(tc, query_setup, query_teardown);
	tcase_add_test(tc, query_decode_escapes);
	tcase_add_test(tc, query_decode_invalid_kept);
	tcase_add_test(tc, query_decode_plus);
	tcase_add_test(tc, query_decode_nul);
	tcase_add_test(tc, query_decode_length_bound);
	suite_add_tcase(s, tc);
	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, query_setup, query_teardown);
	tcase_add_test(tc, query_parse_basic);
	tcase_add_test(tc, query_parse_empty_names);
	tcase_add_test(tc, query_parse_decodes);
	tcase_add_test(tc, query_parse_nul_pair_dropped);
	tcase_add_test(tc, query_parse_capped);
	tcase_add_test(tc, query_request_lookup);
	tcase_add_test(tc, query_request_lookup_none);
	suite_add_tcase(s, tc);
	return s;
}
