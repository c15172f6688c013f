/* Unit tests for lib/role.c: names, order, and the roles the route tables declare. */
#include <check.h>
#include <string.h>

#include "fcgi/router.h"
#include "lib/role.h"
#include "tests/unit/suites.h"

START_TEST(role_names_round_trip)
{
	for (int r = ROLE_VIEWER; r < ROLE__MAX; r++)
		ck_assert_int_eq(role_parse(role_name((enum role)r)), r);
	ck_assert_str_eq(role_name(ROLE_NONE), "");
	ck_assert_str_eq(role_name(ROLE__MAX), "");
	ck_assert_str_eq(role_name((enum role) - 1), "");
	ck_assert_int_eq(role_parse(NULL), ROLE_NONE);
	ck_assert_int_eq(role_parse(""), ROLE_NONE);
	ck_assert_int_eq(role_parse("Owner"), ROLE_NONE);
	ck_assert_int_eq(role_parse("owner "), ROLE_NONE);
	ck_assert_int_eq(role_parse("admin"), ROLE_NONE);
}
END_TEST

START_TEST(role_order)
{
	/* viewer < support < operator < owner */
	ck_assert(role_allows(ROLE_OWNER, ROLE_VIEWER));
	ck_assert(role_allows(ROLE_OPERATOR, ROLE_SUPPORT));
	ck_assert(role_allows(ROLE_SUPPORT, ROLE_SUPPORT));
	ck_assert(!role_allows(ROLE_SUPPORT, ROLE_OPERATOR));
	ck_assert(!role_allows(ROLE_VIEWER, ROLE_SUPPORT));
	ck_assert(!role_allows(ROLE_OPERATOR, ROLE_OWNER));
	/* a route naming no role is owner-only; no role is never enough */
	ck_assert(role_allows(ROLE_OWNER, ROLE_NONE));
	ck_assert(!role_allows(ROLE_OPERATOR, ROLE_NONE));
	ck_assert(!role_allows(ROLE_NONE, ROLE_VIEWER));
	ck_assert(!role_allows(ROLE__MAX, ROLE_VIEWER));
}
END_TEST

/* Every route of the service's tables: an admin route names its least role, and no other
 * route names one (it would mean nothing there). */
START_TEST(role_every_admin_route_names_one)
{
	size_t admin_routes = 0;

	for (size_t t = 0; t < router_ntables; t++)
		for (size_t i = 0; i < router_tables[t]->n; i++) {
			const struct route *r = &router_tables[t]->routes[i];
			if (r->auth == AUTH_ADMIN) {
				admin_routes++;
				ck_assert_msg(r->role > ROLE_NONE && r->role < ROLE__MAX,
				              "%s %s names no role", http_method_name(r->method),
				              r->pattern);
			} else {
				ck_assert_msg(r->role == ROLE_NONE,
				              "%s %s: a role on a non-admin route",
				              http_method_name(r->method), r->pattern);
			}
			/* the admin API lives under /admin (the console and lighttpd rely on it) */
			if (r->auth == AUTH_ADMIN)
				ck_assert_msg(strncmp(r->pattern, "/admin/", 7) == 0, "%s",
				              r->pattern);
		}
	ck_assert_uint_gt(admin_routes, 0);
}
END_TEST

/* No two routes of the service answer the same method and path (the second would never run). */
START_TEST(role_routes_are_unique)
{
	for (size_t t = 0; t < router_ntables; t++)
		for (size_t i = 0; i < router_tables[t]->n; i++) {
			const struct route *r = &router_tables[t]->routes[i];
			for (size_t u = t; u < router_ntables; u++)
				for (size_t j = u == t ? i + 1 : 0; j < router_tables[u]->n; j++) {
					const struct route *o = &router_tables[u]->routes[j];
					ck_assert_msg(
					    r->method != o->method || r->prefix != o->prefix ||
					        strcmp(r->pattern, o->pattern) != 0,
					    "%s %s twice", http_method_name(r->method), r->pattern);
				}
		}
}
END_TEST

Suite *role_suite(void)
{
	Suite *s = suite_create("role");
	TCase *tc = tcase_create("role");

	tcase_add_test(tc, role_names_round_trip);
	tcase_add_test(tc, role_order);
	tcase_add_test(tc, role_every_admin_route_names_one);
	tcase_add_test(tc, role_routes_are_unique);
	suite_add_tcase(s, tc);
	return s;
}
