/* Unit tests for lib/password.c (scrypt admin password hashes) and lib/httpc.c's escaping. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/httpc.h"
#include "lib/password.h"
#include "tests/unit/suites.h"

START_TEST(password_round_trip)
{
	char *h = password_hash("correct horse battery");
	char *h2 = password_hash("correct horse battery");

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(h2);
	ck_assert(strncmp(h, "scrypt$15$8$1$", 14) == 0);
	/* a fresh salt each time */
	ck_assert_str_ne(h, h2);
	ck_assert(password_verify("correct horse battery", h));
	ck_assert(password_verify("correct horse battery", h2));
	ck_assert(!password_verify("correct horse batterY", h));
	ck_assert(!password_verify("", h));
	free(h);
	free(h2);
}
END_TEST

START_TEST(password_malformed_stored_forms)
{
	static const char *const bad[] = {
	    "",
	    "scrypt",
	    "bcrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$40$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$15$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
	    "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$x",
	    "scrypt$x$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "scrypt$15$8$1$!!!!AAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!password_verify("x", bad[i]), "accepted %s", bad[i]);
	ck_assert(!password_verify(NULL, bad[2]));
	ck_assert(!password_verify("x", NULL));
}
END_TEST

START_TEST(httpc_escape_cases)
{
	struct arena a;

	arena_init(&a, 0);
	ck_assert_str_eq(httpc_escape(&a, "abcXYZ019-_.~"), "abcXYZ019-_.~");
	ck_assert_str_eq(httpc_escape(&a, "http://h/p?q=1&r=a b"),
	                 "http%3A%2F%2Fh%2Fp%3Fq%3D1%26r%3Da%20b");
	ck_assert_str_eq(httpc_escape(&a, "中"), "%E4%B8%AD");
	ck_assert_str_eq(httpc_escape(&a, ""), "");
	arena_fini(&a);
}
END_TEST

Suite *password_suite(void)
{
	Suite *s = suite_create("password");
	TCase *tc = tcase_create("scrypt");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, password_round_trip);
	tcase_add_test(tc, password_malformed_stored_forms);
	tcase_add_test(tc, httpc_escape_cases);
	suite_add_tcase(s, tc);
	return s;
}
