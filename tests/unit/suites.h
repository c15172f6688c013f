/*
 * suites — the unit test suites, one per module file, run together by main.c.
 */
#ifndef AIPHOTO_TEST_SUITES_H
#define AIPHOTO_TEST_SUITES_H

#include <check.h>
#include <stdlib.h>

/* The 40-byte secret every suite signs its tokens with. */
#define UNIT_JWT_SECRET "unit-test-secret-0123456789-abcdefghijkl"

Suite *arena_suite(void);
Suite *log_suite(void);
Suite *bizday_suite(void);
Suite *config_suite(void);
Suite *errors_suite(void);
Suite *jsonx_suite(void);
Suite *password_suite(void);
Suite *query_suite(void);
Suite *response_suite(void);
Suite *router_suite(void);
Suite *token_suite(void);
Suite *wxcrypt_suite(void);
Suite *wxpay_suite(void);
Suite *wxsign_suite(void);
Suite *wxxml_suite(void);
Suite *image_suite(void);
Suite *multipart_suite(void);
Suite *prompt_suite(void);
Suite *superv_suite(void);
Suite *netpolicy_suite(void);
Suite *wxnotice_suite(void);
Suite *content_suite(void);
Suite *provider_suite(void);
Suite *gray_suite(void);
Suite *wxcloud_suite(void);
Suite *metrics_suite(void);
Suite *media_suite(void);
Suite *role_suite(void);
Suite *fields_suite(void);
Suite *clouddoc_suite(void);

/* A known-good environment: the three required variables set, every optional one unset. */
static inline void unit_env_baseline(void)
{
	static const char *const optional[] = {
	    "PUBLIC_BASE_URL",
	    "MEDIA_DIR",
	    "AIPHOTO_ENV",
	    "LOG_LEVEL",
	    "DB_STATEMENT_TIMEOUT_MS",
	    "UPLOAD_QUOTA_BYTES",
	    "UPLOAD_QUOTA_FILES",
	    "JWT_ISSUER",
	    "JWT_TTL",
	    "ADMIN_TOKEN_HOURS",
	    "ADMIN_SUPPORT_CREDIT_LIMIT",
	    "WECHAT_APPID",
	    "WECHAT_SECRET",
	    "WECHAT_TOKEN",
	    "WECHAT_AES_KEY",
	    "WECHAT_MP_APPID",
	    "WECHAT_MP_SECRET",
	    "WECHAT_MP_TOKEN",
	    "WECHAT_MP_AES_KEY",
	    "WXPAY_MCHID",
	    "WXPAY_SERIAL",
	    "WXPAY_PRIVATE_KEY_FILE",
	    "WXPAY_APIV3_KEY",
	    "WXPAY_PUBLIC_KEY_FILE",
	    "WXPAY_PUBLIC_KEY_ID",
	    "WECHAT_API_BASE",
	    "WECHAT_OPEN_BASE",
	    "WXPAY_API_BASE",
	    "WECHAT_MP_BASE",
	    "WECHAT_MSG_MODE",
	    "WXPAY_NOTIFY_URL",
	    "WXPAY_REFUND_NOTIFY_URL",
	    "WXPAY_PLATFORM_CERT_FILE",
	    "DISPATCH_CONCURRENCY",
	    "DISPATCH_BUDGET_SECONDS",
	    "DISPATCH_LEASE_SECONDS",
	    "DISPATCH_RETRY_BASE_MS",
	    "DISPATCH_MAX_WAIT_SECONDS",
	    "DISPATCH_RECONCILE_AFTER_SECONDS",
	    "DISPATCH_MAX_RESULT_BYTES",
	    "DISPATCH_MAX_INPUT_BYTES",
	    "DISPATCH_CLOUD_FETCH_BATCH",
	    "WECHAT_CLOUD_ENV",
	    "CLOUD_STORAGE_URL_PREFIX",
	    "METRICS_FILE",
	    "METRICS_ALLOW",
	    "METRICS_ENABLED",
	    "DISPATCH_METRICS_FILE",
	    "MEDIA_KEEP_ORIGINAL",
	    "MEDIA_URL_KEY",
	    "MEDIA_URL_BASE",
	    "MEDIA_URL_TTL_SECONDS",
	    "MEDIA_BACKEND",
	    "MEDIA_CDN_BASE",
	    "S3_ENDPOINT",
	    "S3_BUCKET",
	    "S3_REGION",
	    "S3_ACCESS_KEY_ID",
	    "S3_SECRET_ACCESS_KEY",
	    "S3_PATH_STYLE",
	};

	setenv("DATABASE_URL", "postgresql:///aiphoto_unit?host=/nonexistent", 1);
	setenv("REDIS_URL", "unix:///tmp/x.sock", 1);
	setenv("JWT_SECRET", UNIT_JWT_SECRET, 1);
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		unsetenv(optional[i]);
}

#endif
