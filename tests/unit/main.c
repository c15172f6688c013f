/*
 * main — runs every unit suite; the exit status is the number of failed tests (capped).
 */
#include <check.h>
#include <stdlib.h>

#include "lib/log.h"
#include "tests/unit/suites.h"

int main(void)
{
	SRunner *sr;
	int failed;

	log_init("unit-tests", LOG_ERROR);
	sr = srunner_create(arena_suite());
	srunner_add_suite(sr, bizday_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, errors_suite());
	srunner_add_suite(sr, jsonx_suite());
	srunner_add_suite(sr, password_suite());
	srunner_add_suite(sr, query_suite());
	srunner_add_suite(sr, response_suite());
	srunner_add_suite(sr, router_suite());
	srunner_add_suite(sr, token_suite());
	srunner_add_suite(sr, wxcrypt_suite());
	srunner_add_suite(sr, wxpay_suite());
	srunner_add_suite(sr, wxsign_suite());
	srunner_add_suite(sr, wxxml_suite());
	srunner_add_suite(sr, image_suite());
	srunner_add_suite(sr, multipart_suite());
	srunner_add_suite(sr, prompt_suite());
	srunner_add_suite(sr, superv_suite());
	srunner_add_suite(sr, netpolicy_suite());
	srunner_add_suite(sr, wxnotice_suite());
	srunner_add_suite(sr, content_suite());
	srunner_add_suite(sr, provider_suite());
	srunner_add_suite(sr, gray_suite());
	srunner_add_suite(sr, wxcloud_suite());
	srunner_add_suite(sr, metrics_suite());
	srunner_add_suite(sr, media_suite());
	srunner_add_suite(sr, role_suite());
	srunner_add_suite(sr, fields_suite());
	srunner_add_suite(sr, clouddoc_suite());
	srunner_add_suite(sr, log_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
