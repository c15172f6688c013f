/*
 * test_errors — the API_ERRORS table (statuses and codes of API.md) and the SQLSTATE map.
 */
#include <check.h>
#include <string.h>

#include "lib/db.h"
#include "lib/errors.h"
#include "tests/unit/suites.h"

START_TEST(errors_every_value_has_a_status)
{
	for (int e = 0; e < E__MAX; e++) {
		int st = api_err_status((enum api_err)e);
		ck_assert_msg(st >= 200 && st <= 599, "value %d has status %d", e, st);
		ck_assert_ptr_nonnull(api_err_message((enum api_err)e));
		ck_assert_uint_gt(strlen(api_err_message((enum api_err)e)), 0);
	}
	ck_assert_int_eq(api_err_status(E_OK), 200);
}
END_TEST

START_TEST(errors_codes_unique)
{
	for (int a = 0; a < E__MAX; a++) {
		const char *ca = api_err_code((enum api_err)a);
		ck_assert_ptr_nonnull(ca);
		ck_assert_uint_gt(strlen(ca), 0);
		for (int b = a + 1; b < E__MAX; b++)
			ck_assert_msg(strcmp(ca, api_err_code((enum api_err)b)) != 0,
			              "values %d and %d share code %s", a, b, ca);
	}
}
END_TEST

/* Only the 409 family may share a status (CONFLICT, IDEMPOTENCY_MISMATCH, ALREADY_DONE). */
START_TEST(errors_statuses_unique_but_409)
{
	for (int a = 0; a < E__MAX; a++)
		for (int b = a + 1; b < E__MAX; b++) {
			int sa = api_err_status((enum api_err)a),
			    sb = api_err_status((enum api_err)b);
			ck_assert_msg(sa != sb || sa == 409, "values %d and %d share status %d", a,
			              b, sa);
		}
}
END_TEST

static const struct {
	enum api_err err;
	int status;
	const char *code;
} errors_api_md[] = {
    {E_BAD_REQUEST, 400, "BAD_REQUEST"},
    {E_UNAUTHORIZED, 401, "UNAUTHORIZED"},
    {E_FORBIDDEN, 403, "FORBIDDEN"},
    {E_NOT_FOUND, 404, "NOT_FOUND"},
    {E_METHOD_NOT_ALLOWED, 405, "METHOD_NOT_ALLOWED"},
    {E_CONFLICT, 409, "CONFLICT"},
    {E_IDEMPOTENCY_MISMATCH, 409, "IDEMPOTENCY_MISMATCH"},
    {E_INSUFFICIENT_CREDITS, 402, "INSUFFICIENT_CREDITS"},
    {E_ALREADY_DONE, 409, "ALREADY_DONE"},
    {E_PAYLOAD_TOO_LARGE, 413, "PAYLOAD_TOO_LARGE"},
    {E_UNSUPPORTED_MEDIA_TYPE, 415, "UNSUPPORTED_MEDIA_TYPE"},
    {E_CONTENT_RISKY, 422, "CONTENT_RISKY"},
    {E_RATE_LIMITED, 429, "RATE_LIMITED"},
    {E_UPSTREAM_ERROR, 502, "UPSTREAM_ERROR"},
    {E_UNAVAILABLE, 503, "UNAVAILABLE"},
    {E_INTERNAL, 500, "INTERNAL"},
};

START_TEST(errors_api_md_table)
{
	ck_assert_int_eq(api_err_status(errors_api_md[_i].err), errors_api_md[_i].status);
	ck_assert_str_eq(api_err_code(errors_api_md[_i].err), errors_api_md[_i].code);
}
END_TEST

START_TEST(errors_out_of_range)
{
	ck_assert_int_eq(api_err_status(E__MAX), 500);
	ck_assert_str_eq(api_err_code(E__MAX), "INTERNAL");
	ck_assert_str_eq(api_err_message(E__MAX), api_err_message(E_INTERNAL));
	ck_assert_int_eq(api_err_status((enum api_err)1000), 500);
	ck_assert_str_eq(api_err_code((enum api_err) - 1), "INTERNAL");
}
END_TEST

static const struct {
	const char *sqlstate;
	enum api_err err;
} errors_sqlstates[] = {
    {"23505", E_CONFLICT},    {"23503", E_NOT_FOUND},   {"57014", E_TIMEOUT},
    {"22P05", E_BAD_REQUEST}, {"22021", E_BAD_REQUEST}, {"08006", E_UNAVAILABLE},
    {"08001", E_UNAVAILABLE}, {"57P01", E_UNAVAILABLE}, {"57P03", E_UNAVAILABLE},
    {"53300", E_UNAVAILABLE}, {"40001", E_CONFLICT},    {"40P01", E_CONFLICT},
    {"42P01", E_INTERNAL},    {"23502", E_INTERNAL},    {"", E_INTERNAL},
    {"123", E_INTERNAL},      {"235050", E_INTERNAL},
};

START_TEST(errors_sqlstate_map)
{
	ck_assert_int_eq(db_sqlstate_err(errors_sqlstates[_i].sqlstate), errors_sqlstates[_i].err);
}
END_TEST

START_TEST(errors_sqlstate_null)
{
	ck_assert_int_eq(db_sqlstate_err(NULL), E_INTERNAL);
}
END_TEST

Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, errors_every_value_has_a_status);
	tcase_add_test(tc, errors_codes_unique);
	tcase_add_test(tc, errors_statuses_unique_but_409);
	tcase_add_loop_test(tc, errors_api_md_table, 0,
	                    (int)(sizeof(errors_api_md) / sizeof(errors_api_md[0])));
	tcase_add_test(tc, errors_out_of_range);
	suite_add_tcase(s, tc);
	tc = tcase_create("sqlstate");
	tcase_add_loop_test(tc, errors_sqlstate_map, 0,
	                    (int)(sizeof(errors_sqlstates) / sizeof(errors_sqlstates[0])));
	tcase_add_test(tc, errors_sqlstate_null);
	suite_add_tcase(s, tc);
	return s;
}
