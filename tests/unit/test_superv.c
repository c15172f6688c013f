/*
 * test_superv — the supervisor's restart delays (superv_backoff_ms), the shared pool state
 * (lib/pool), and the one way the supervisor gives up: workers refusing their configuration.
 */
#include <check.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcgi/superv.h"
#include "lib/pool.h"
#include "tests/unit/suites.h"

START_TEST(superv_backoff_first_deaths_restart_at_once)
{
	ck_assert_int_eq(superv_backoff_ms(0), 0); /* lived past SUPERV_STABLE_MS */
	ck_assert_int_eq(superv_backoff_ms(1), 0); /* the first quick death */
	ck_assert_int_eq(superv_backoff_ms(2), SUPERV_BACKOFF_FIRST_MS);
}
END_TEST

START_TEST(superv_backoff_doubles_then_caps)
{
	static const struct {
		unsigned quick;
		long ms;
	} cases[] = {
	    {2, 100},    {3, 200},
	    {4, 400},    {5, 800},
	    {6, 1600},   {7, 3200},
	    {8, 5000},   {9, 5000},
	    {40, 5000},  {1000, 5000},
	    {64, 5000},  {65, 5000},
	    {200, 5000}, {4294967295u, 5000},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(superv_backoff_ms(cases[i].quick) == cases[i].ms,
		              "quick %u: %ld ms, want %ld", cases[i].quick,
		              superv_backoff_ms(cases[i].quick), cases[i].ms);
}
END_TEST

START_TEST(superv_backoff_never_decreases)
{
	for (unsigned q = 1; q < 100; q++)
		ck_assert_int_le(superv_backoff_ms(q), superv_backoff_ms(q + 1));
	ck_assert_int_le(superv_backoff_ms(100), SUPERV_BACKOFF_MAX_MS);
}
END_TEST

START_TEST(pool_records_deaths_and_restarts)
{
	struct pool_view v;

	ck_assert_int_eq(pool_create(4), 0);
	ck_assert(pool_read(&v));
	ck_assert_int_eq(v.configured, 4);
	ck_assert_int_eq(v.alive, 0);
	ck_assert_int_eq(v.last_death, 0);
	pool_set_alive(3);
	pool_note_death(2, 4242, SIGKILL); /* a wait status: killed by SIGKILL */
	pool_note_restart();
	ck_assert(pool_read(&v));
	ck_assert_int_eq(v.alive, 3);
	ck_assert_int_eq(v.restarts, 1);
	ck_assert_int_eq(v.last_slot, 2);
	ck_assert_int_eq(v.last_pid, 4242);
	ck_assert_int_eq(v.last_exit, -1);
	ck_assert_int_eq(v.last_signal, SIGKILL);
	ck_assert_int_gt(v.last_death, 0);
	pool_note_death(0, 77, 2 << 8); /* exited with status 2 */
	ck_assert(pool_read(&v));
	/* the last death: a refusal, or the other slot's worker stopped by the supervisor */
	ck_assert(v.last_exit == 2 || v.last_signal == SIGUSR1);
	ck_assert_int_eq(v.last_signal, 0);
}
END_TEST

static int superv_test_refuse(void)
{
	return 2;
}

/* Every worker exits at once with status 2: the supervisor stops after SUPERV_CONFIG_LIMIT
 * of them in one slot (about 0.7 s of back-off) and returns 2 for systemd. */
START_TEST(superv_gives_up_on_refused_configuration)
{
	struct pool_view v;

	ck_assert_int_eq(superv_run(2, superv_test_refuse), 2);
	ck_assert(pool_read(&v));
	ck_assert_int_eq(v.configured, 2);
	ck_assert_int_eq(v.alive, 0);
	ck_assert_int_ge(v.restarts, SUPERV_CONFIG_LIMIT - 1);
	/* the last death: a refusal, or the other slot's worker stopped by the supervisor */
	ck_assert(v.last_exit == 2 || v.last_signal == SIGUSR1);
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1); /* every worker reaped */
}
END_TEST

Suite *superv_suite(void)
{
	Suite *s = suite_create("superv");
	TCase *tc = tcase_create("backoff");
	TCase *tp = tcase_create("pool");

	tcase_add_test(tc, superv_backoff_first_deaths_restart_at_once);
	tcase_add_test(tc, superv_backoff_doubles_then_caps);
	tcase_add_test(tc, superv_backoff_never_decreases);
	suite_add_tcase(s, tc);
	tcase_add_test(tp, pool_records_deaths_and_restarts);
	tcase_add_test(tp, superv_gives_up_on_refused_configuration);
	tcase_set_timeout(tp, 20);
	suite_add_tcase(s, tp);
	return s;
}
