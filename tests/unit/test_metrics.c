/*
 * test_metrics — lib/metrics: the slots of the shared mapping summed at render, a replaced
 * worker's counts kept, bounded labels (never a raw path, "(other)" past the route table),
 * the text format (cumulative buckets, +Inf = _count, escaped labels), a file mapped again
 * read-only (aiphotoctl metrics), and the METRICS_ALLOW list.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/metrics.h"
#include "tests/unit/suites.h"

static char *metrics_t_render(void)
{
	struct metrics_buf b = {0};

	metrics_render(&b);
	metrics_printf(&b, "%s", ""); /* NUL-terminated even when empty */
	return b.p;
}

/* The value of the sample line that starts with series (name and labels, exactly). */
static double metrics_t_value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

/* Renders and checks the 2xx GET count of route and the generation of slot. */
static void metrics_t_check(const char *route, double requests, int slot, double generation)
{
	char series[160], *t = metrics_t_render();

	snprintf(series, sizeof(series),
	         "aiphoto_http_requests_total{method=\"GET\",route=\"%s\",code=\"2xx\"}", route);
	ck_assert_double_eq(metrics_t_value(t, series), requests);
	snprintf(series, sizeof(series), "aiphoto_worker_generation{slot=\"%d\"}", slot);
	ck_assert_double_eq(metrics_t_value(t, series), generation);
	free(t);
}

START_TEST(metrics_slots_summed)
{
	char *t;

	ck_assert_int_eq(metrics_create(NULL, 3), 0);
	metrics_attach(0);
	metrics_request("GET", "/tasks/:id", 200, E_OK, 800); /* ≤ 1 ms */
	metrics_request("GET", "/tasks/:id", 404, E_NOT_FOUND, 30000); /* ≤ 50 ms */
	metrics_attach(2);
	metrics_request("GET", "/tasks/:id", 200, E_OK, 20000000); /* past 10 s: +Inf only */
	metrics_request("POST", "/tasks", 503, E_UNAVAILABLE, 4000);
	metrics_count(METRICS_DB_CONNECTS);
	metrics_event(METRICS_RATE_LIMITED, "upload");
	metrics_attach(0);
	metrics_event(METRICS_RATE_LIMITED, "upload");
	metrics_event(METRICS_PAY_NOTIFY, "bad_signature");
	t = metrics_t_render();
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_requests_total{method=\"GET\","
	                                       "route=\"/tasks/:id\",code=\"2xx\"}"),
	                    2);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_requests_total{method=\"GET\","
	                                       "route=\"/tasks/:id\",code=\"4xx\"}"),
	                    1);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_requests_total{method=\"POST\","
	                                       "route=\"/tasks\",code=\"5xx\"}"),
	                    1);
	/* cumulative buckets, +Inf and _count agree */
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_request_duration_seconds_bucket{"
	                                       "method=\"GET\",route=\"/tasks/:id\",le=\"0.001\"}"),
	                    1);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_request_duration_seconds_bucket{"
	                                       "method=\"GET\",route=\"/tasks/:id\",le=\"0.05\"}"),
	                    2);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_request_duration_seconds_bucket{"
	                                       "method=\"GET\",route=\"/tasks/:id\",le=\"10\"}"),
	                    2);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_request_duration_seconds_bucket{"
	                                       "method=\"GET\",route=\"/tasks/:id\",le=\"+Inf\"}"),
	                    3);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_request_duration_seconds_count{"
	                                       "method=\"GET\",route=\"/tasks/:id\"}"),
	                    3);
	ck_assert_double_eq_tol(metrics_t_value(t, "aiphoto_http_request_duration_seconds_sum{"
	                                           "method=\"GET\",route=\"/tasks/:id\"}"),
	                        20.0308, 1e-6);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_api_errors_total{code=\"NOT_FOUND\"}"), 1);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_api_errors_total{code=\"UNAVAILABLE\"}"),
	                    1);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_db_connects_total"), 1);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_rate_limited_total{class=\"upload\"}"), 2);
	ck_assert_ptr_eq(strstr(strstr(t, "aiphoto_rate_limited_total{class=\"upload\"}") + 1,
	                        "aiphoto_rate_limited_total{class=\"upload\"}"),
	                 NULL); /* one line per label, summed over the slots */
	ck_assert_double_eq(
	    metrics_t_value(t, "aiphoto_payment_notify_total{verdict=\"bad_signature\"}"), 1);
	ck_assert_ptr_nonnull(
	    strstr(t, "# TYPE aiphoto_http_request_duration_seconds histogram\n"));
	free(t);
}
END_TEST

START_TEST(metrics_replaced_worker_kept)
{

	ck_assert_int_eq(metrics_create(NULL, 1), 0);
	metrics_attach(0);
	for (int i = 0; i < 5; i++)
		metrics_request("GET", "/health", 200, E_OK, 100);
	metrics_attach(0); /* the next worker of the slot (the supervisor restarted it) */
	metrics_request("GET", "/health", 200, E_OK, 100);
	metrics_t_check("/health", 6, 0, 2);
}
END_TEST

START_TEST(metrics_labels_bounded)
{
	char route[32], *t;

	ck_assert_int_eq(metrics_create(NULL, 1), 0);
	metrics_attach(0);
	metrics_request(NULL, NULL, 404, E_NOT_FOUND, 10);
	metrics_request("BREW-COFFEE", "/x", 405, E_METHOD_NOT_ALLOWED, 10);
	metrics_request("GET", "cloud say \"hi\"\\\n", 200, E_OK, 10);
	for (int i = 0; i < METRICS_MAX_ROUTES + 20; i++) {
		snprintf(route, sizeof(route), "/r%d", i);
		metrics_request("GET", route, 200, E_OK, 10);
	}
	t = metrics_t_render();
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_requests_total{method=\"OTHER\","
	                                       "route=\"(unmatched)\",code=\"4xx\"}"),
	                    1);
	ck_assert_double_eq(metrics_t_value(t, "aiphoto_http_requests_total{method=\"OTHER\","
	                                       "route=\"/x\",code=\"4xx\"}"),
	                    1);
	ck_assert_ptr_nonnull(strstr(t, "route=\"cloud say \\\"hi\\\"\\\\\\n\""));
	/* the table is full: the rest share one series */
	ck_assert_double_gt(metrics_t_value(t, "aiphoto_http_requests_total{method=\"OTHER\","
	                                       "route=\"(other)\",code=\"2xx\"}"),
	                    10);
	ck_assert_ptr_null(strstr(t, "route=\"/r200\""));
	free(t);
}
END_TEST

START_TEST(metrics_file_reopened)
{
	char path[] = "/tmp/aiphoto-metrics-unit-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(metrics_create(path, 2), 0);
	metrics_attach(1);
	metrics_request("GET", "/scenes", 200, E_OK, 10);
	ck_assert_int_eq(metrics_open(path), 0); /* as aiphotoctl metrics maps it */
	metrics_t_check("/scenes", 1, 1, 1);
	metrics_attach(0); /* a read-only mapping is never written */
	metrics_request("GET", "/scenes", 200, E_OK, 10);
	metrics_t_check("/scenes", 1, 1, 1);
	unlink(path);
	ck_assert_int_eq(metrics_open("/nonexistent/metrics"), -1);
	metrics_close();
}
END_TEST

START_TEST(metrics_no_mapping_is_quiet)
{
	char *t;

	metrics_close(); /* whatever an earlier test mapped (CK_FORK=no runs them in one process) */
	metrics_attach(0);
	metrics_request("GET", "/health", 200, E_OK, 1);
	metrics_count(METRICS_DB_LOSSES);
	metrics_event(METRICS_OA_CALLBACK, "accepted");
	t = metrics_t_render();
	ck_assert_str_eq(t, "");
	free(t);
}
END_TEST

START_TEST(metrics_allow_list)
{
	ck_assert(metrics_allowed("127.0.0.1,::1", "127.0.0.1"));
	ck_assert(metrics_allowed("127.0.0.1,::1", "::1"));
	ck_assert(metrics_allowed(" 10.0.0.5 , 127.0.0.1", "10.0.0.5"));
	ck_assert(!metrics_allowed("127.0.0.1,::1", "127.0.0.10"));
	ck_assert(!metrics_allowed("127.0.0.1,::1", "27.0.0.1"));
	ck_assert(!metrics_allowed("127.0.0.1", "203.0.113.7"));
	ck_assert(!metrics_allowed("", "127.0.0.1"));
	ck_assert(!metrics_allowed("127.0.0.1", ""));
	ck_assert(!metrics_allowed("127.0.0.1", NULL));
	ck_assert(!metrics_allowed(NULL, "127.0.0.1"));
}
END_TEST

Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, metrics_slots_summed);
	tcase_add_test(tc, metrics_replaced_worker_kept);
	tcase_add_test(tc, metrics_labels_bounded);
	tcase_add_test(tc, metrics_file_reopened);
	tcase_add_test(tc, metrics_no_mapping_is_quiet);
	tcase_add_test(tc, metrics_allow_list);
	suite_add_tcase(s, tc);
	return s;
}
