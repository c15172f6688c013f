/* Unit tests for lib/bizday.c: the Asia/Shanghai business day. */
#include <check.h>
#include <string.h>

#include "lib/bizday.h"
#include "tests/unit/suites.h"

START_TEST(bizday_boundaries)
{
	char d[11];

	/* 2026-11-21T15:59:59Z is 23:59:59 in Shanghai; one second later it is the 22nd */
	bizday_format(1795276799, d);
	ck_assert_str_eq(d, "2026-11-21");
	bizday_format(1795276800, d);
	ck_assert_str_eq(d, "2026-11-22");
	/* midnight UTC is already 08:00 in Shanghai, same day */
	bizday_format(1795305600, d);
	ck_assert_str_eq(d, "2026-11-22");
	/* a leap day and a year end: Shanghai midnight is 16:00 UTC the day before */
	bizday_format(1709222400 - 1, d);
	ck_assert_str_eq(d, "2024-02-29");
	bizday_format(1709222400, d);
	ck_assert_str_eq(d, "2024-03-01");
	bizday_format(1735660800 - 1, d);
	ck_assert_str_eq(d, "2024-12-31");
	bizday_format(1735660800, d);
	ck_assert_str_eq(d, "2025-01-01");
	ck_assert_uint_eq(strlen(d), 10);
}
END_TEST

Suite *bizday_suite(void)
{
	Suite *s = suite_create("bizday");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, bizday_boundaries);
	suite_add_tcase(s, tc);
	return s;
}
