/*
 * test_config — environment validation (each error names its variable), the integer
 * parser, and the Redis URL parser.
 */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/redis.h"
#include "tests/unit/suites.h"

static char cfg_err[512];

/* Loads with need; on failure checks the message starts with "NAME:". */
static int cfg_load_expect(unsigned need, const char *name)
{
	int rc;

	memset(cfg_err, 'x', sizeof(cfg_err) - 1);
	cfg_err[sizeof(cfg_err) - 1] = '\0';
	rc = config_load(need, cfg_err, sizeof(cfg_err));
	if (name == NULL) {
		ck_assert_msg(rc == 0, "expected success, got: %s", cfg_err);
		ck_assert_str_eq(cfg_err, "");
	} else {
		size_t n = strlen(name);
		ck_assert_msg(rc == -1, "expected a %s error", name);
		ck_assert_msg(strncmp(cfg_err, name, n) == 0 && cfg_err[n] == ':',
		              "message does not name %s: %s", name, cfg_err);
	}
	return rc;
}

START_TEST(config_defaults)
{
	const struct config *c;

	unit_env_baseline();
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	c = config_get();
	ck_assert_str_eq(c->redis_url, "unix:///tmp/x.sock");
	ck_assert_str_eq(c->jwt_secret, UNIT_JWT_SECRET);
	ck_assert_uint_eq(c->jwt_secret_len, 40);
	ck_assert_str_eq(c->jwt_issuer, "aiphoto");
	ck_assert_int_eq(c->jwt_ttl, 7L * 86400);
	ck_assert_str_eq(c->public_base_url, "http://127.0.0.1:8080");
	ck_assert(!c->development);
	ck_assert_int_eq(c->db_statement_timeout_ms, 5000);
	ck_assert_int_eq(c->upload_quota_bytes, 1073741824LL);
	ck_assert_int_eq(c->upload_quota_files, 2000);
	ck_assert_ptr_null(c->wechat_appid);
	ck_assert_str_eq(c->wxpay_api_base, "https://api.mch.weixin.qq.com");
}
END_TEST

START_TEST(config_overrides)
{
	const struct config *c;

	unit_env_baseline();
	setenv("AIPHOTO_ENV", "development", 1);
	setenv("JWT_TTL", "60", 1);
	setenv("JWT_ISSUER", "iss-x", 1);
	setenv("LOG_LEVEL", "debug", 1);
	setenv("WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", 1);
	setenv("WXPAY_API_BASE", "http://127.0.0.1:9000", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	c = config_get();
	ck_assert(c->development);
	ck_assert_int_eq(c->jwt_ttl, 60);
	ck_assert_str_eq(c->jwt_issuer, "iss-x");
	ck_assert_int_eq(c->log_level, 0);
	ck_assert_str_eq(c->wxpay_api_base, "http://127.0.0.1:9000");
}
END_TEST

START_TEST(config_missing_required)
{
	unit_env_baseline();
	unsetenv("DATABASE_URL");
	cfg_load_expect(CONFIG_NEED_ALL, "DATABASE_URL");
	cfg_load_expect(CONFIG_NEED_REDIS | CONFIG_NEED_JWT, NULL);
	setenv("DATABASE_URL", "", 1); /* empty counts as missing */
	cfg_load_expect(CONFIG_NEED_DB, "DATABASE_URL");

	unit_env_baseline();
	unsetenv("REDIS_URL");
	cfg_load_expect(CONFIG_NEED_ALL, "REDIS_URL");
	cfg_load_expect(CONFIG_NEED_DB | CONFIG_NEED_JWT, NULL);

	unit_env_baseline();
	unsetenv("JWT_SECRET");
	cfg_load_expect(CONFIG_NEED_ALL, "JWT_SECRET");
	cfg_load_expect(CONFIG_NEED_DB | CONFIG_NEED_REDIS, NULL);
	cfg_load_expect(CONFIG_NEED_DB, NULL);
}
END_TEST

START_TEST(config_short_secret)
{
	unit_env_baseline();
	setenv("JWT_SECRET", "0123456789012345678901234567890", 1); /* 31 bytes */
	cfg_load_expect(CONFIG_NEED_ALL, "JWT_SECRET");
	cfg_load_expect(CONFIG_NEED_JWT, "JWT_SECRET");
	cfg_load_expect(CONFIG_NEED_DB, NULL);
	setenv("JWT_SECRET", "01234567890123456789012345678901", 1); /* 32 bytes */
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_uint_eq(config_get()->jwt_secret_len, 32);
}
END_TEST

START_TEST(config_redis_scheme)
{
	unit_env_baseline();
	setenv("REDIS_URL", "http://127.0.0.1:6379", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "REDIS_URL");
	setenv("REDIS_URL", "/tmp/redis.sock", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "REDIS_URL");
	setenv("REDIS_URL", "redis://127.0.0.1:6379/0", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
}
END_TEST

/* redis.h: redis_init() "remembers the URL (already validated by config)" and the worker
 * ignores its result, so config must refuse every URL redis_url_parse refuses. */
START_TEST(config_redis_url_fully_validated)
{
	static const char *const bad[] = {"redis://127.0.0.1:99999", "redis://",
	                                  "unix://relative.sock", "redis://h/99",
	                                  "unix:///tmp/r.sock?db=x"};

	unit_env_baseline();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("REDIS_URL", bad[i], 1);
		cfg_load_expect(CONFIG_NEED_ALL, "REDIS_URL");
	}
}
END_TEST

START_TEST(config_bad_ttl)
{
	static const char *const bad[] = {"abc", "59", "7776001", "-1", "60s", " 60", "1e5"};

	unit_env_baseline();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("JWT_TTL", bad[i], 1);
		cfg_load_expect(CONFIG_NEED_ALL, "JWT_TTL");
	}
	setenv("JWT_TTL", "7776000", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
}
END_TEST

START_TEST(config_bad_env_and_level)
{
	unit_env_baseline();
	setenv("AIPHOTO_ENV", "staging", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "AIPHOTO_ENV");
	setenv("AIPHOTO_ENV", "Production", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "AIPHOTO_ENV");
	unit_env_baseline();
	setenv("LOG_LEVEL", "verbose", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "LOG_LEVEL");
	setenv("LOG_LEVEL", "warn", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	unit_env_baseline();
	setenv("DB_STATEMENT_TIMEOUT_MS", "99", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "DB_STATEMENT_TIMEOUT_MS");
}
END_TEST

START_TEST(config_msg_mode)
{
	unit_env_baseline();
	unsetenv("WECHAT_AES_KEY");
	unsetenv("WECHAT_MSG_MODE");
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(config_get()->wechat_msg_mode, CONFIG_MSG_PLAIN);
	/* with a key the default is safe */
	setenv("WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(config_get()->wechat_msg_mode, CONFIG_MSG_SAFE);
	ck_assert_str_eq(config_msg_mode_name(config_get()->wechat_msg_mode), "safe");
	setenv("WECHAT_MSG_MODE", "compat", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(config_get()->wechat_msg_mode, CONFIG_MSG_COMPAT);
	setenv("WECHAT_MSG_MODE", "plain", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(config_get()->wechat_msg_mode, CONFIG_MSG_PLAIN);
	setenv("WECHAT_MSG_MODE", "Safe", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_MSG_MODE");
	/* safe and compat need the key */
	unsetenv("WECHAT_AES_KEY");
	setenv("WECHAT_MSG_MODE", "safe", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_MSG_MODE");
	setenv("WECHAT_MSG_MODE", "compat", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_MSG_MODE");
	unsetenv("WECHAT_MSG_MODE");
}
END_TEST

START_TEST(config_upload_quota)
{
	static const char *const bad_bytes[] = {"10485759", "1099511627777", "0",           "-1",
	                                        "1GiB",     "1e9",           " 1073741824", ""};
	static const char *const bad_files[] = {"0", "1000001", "-5", "many", "20 "};
	const struct config *c;

	for (size_t i = 0; i < sizeof(bad_bytes) / sizeof(bad_bytes[0]); i++) {
		unit_env_baseline();
		setenv("UPLOAD_QUOTA_BYTES", bad_bytes[i], 1);
		/* an empty value means unset: the default applies */
		cfg_load_expect(CONFIG_NEED_ALL, bad_bytes[i][0] ? "UPLOAD_QUOTA_BYTES" : NULL);
	}
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		unit_env_baseline();
		setenv("UPLOAD_QUOTA_FILES", bad_files[i], 1);
		cfg_load_expect(CONFIG_NEED_ALL, "UPLOAD_QUOTA_FILES");
	}
	/* both ends of each range */
	for (size_t i = 0; i < 2; i++) {
		static const char *const ends[2][2] = {{"10485760", "1"},
		                                       {"1099511627776", "1000000"}};
		static const long long want[2][2] = {{10485760LL, 1}, {1099511627776LL, 1000000}};

		unit_env_baseline();
		setenv("UPLOAD_QUOTA_BYTES", ends[i][0], 1);
		setenv("UPLOAD_QUOTA_FILES", ends[i][1], 1);
		cfg_load_expect(CONFIG_NEED_ALL, NULL);
		c = config_get();
		ck_assert_int_eq(c->upload_quota_bytes, want[i][0]);
		ck_assert_int_eq(c->upload_quota_files, want[i][1]);
	}
	unit_env_baseline();
}
END_TEST

/* WECHAT_APPID and WECHAT_MP_APPID: appids a token can name, two different apps; the channel
 * to app mapping. */
START_TEST(config_appids)
{
	static const char *const bad[] = {"wx 1", "wx/1", "wx\"1",
	                                  "wx0123456789abcdef0123456789abcdef0"};
	const struct config *c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unit_env_baseline();
		setenv("WECHAT_APPID", bad[i], 1);
		cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_APPID");
		unit_env_baseline();
		setenv("WECHAT_MP_APPID", bad[i], 1);
		cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_MP_APPID");
	}
	unit_env_baseline();
	setenv("WECHAT_APPID", "wxd678efh567hg6787", 1);
	setenv("WECHAT_MP_APPID", "wxd678efh567hg6787", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_MP_APPID");
	setenv("WECHAT_MP_APPID", "wx_sim-mp_0123456789abcdef012345", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	c = config_get();
	ck_assert_str_eq(config_channel_appid(c, TOKEN_CHANNEL_OA), "wxd678efh567hg6787");
	ck_assert_str_eq(config_channel_appid(c, TOKEN_CHANNEL_WEB), "wxd678efh567hg6787");
	ck_assert_str_eq(config_channel_appid(c, TOKEN_CHANNEL_MP),
	                 "wx_sim-mp_0123456789abcdef012345");
	ck_assert_ptr_null(config_channel_appid(c, TOKEN_CHANNEL_NONE));
	unit_env_baseline();
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_ptr_null(config_channel_appid(config_get(), TOKEN_CHANNEL_OA));
	ck_assert_ptr_null(config_channel_appid(config_get(), TOKEN_CHANNEL_MP));
}
END_TEST

START_TEST(config_bad_urls_and_paths)
{
	unit_env_baseline();
	setenv("PUBLIC_BASE_URL", "ftp://example", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "PUBLIC_BASE_URL");
	unit_env_baseline();
	setenv("MEDIA_DIR", "relative/media", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "MEDIA_DIR");
	unit_env_baseline();
	setenv("WXPAY_API_BASE", "api.mch.weixin.qq.com", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WXPAY_API_BASE");
	unit_env_baseline();
	setenv("WECHAT_API_BASE", "not a url", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_API_BASE");
	unit_env_baseline();
	setenv("WECHAT_OPEN_BASE", "//open", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_OPEN_BASE");
}
END_TEST

START_TEST(config_cloud_storage)
{
	const struct config *c;
	char env[80];
	const char *const bad[] = {env, "prod.1a2b", "cloud://prod", "prod 1"};

	unit_env_baseline();
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	c = config_get();
	ck_assert_ptr_null(c->wechat_cloud_env);
	ck_assert_ptr_null(c->cloud_storage_url_prefix);
	setenv("WECHAT_CLOUD_ENV", "prod-1a2b_X", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_CLOUD_ENV");
	ck_assert_msg(strstr(cfg_err, "WECHAT_MP_APPID") != NULL, "%s", cfg_err);
	setenv("WECHAT_MP_APPID", "wxmp", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_CLOUD_ENV");
	setenv("WECHAT_MP_SECRET", "secret", 1);
	setenv("CLOUD_STORAGE_URL_PREFIX", "https://cdn.example.com/cloud", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_str_eq(c->wechat_cloud_env, "prod-1a2b_X");
	ck_assert_str_eq(c->cloud_storage_url_prefix, "https://cdn.example.com/cloud");
	memset(env, 'e', 64);
	env[64] = '\0';
	setenv("WECHAT_CLOUD_ENV", env, 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	env[64] = 'e'; /* 65 characters */
	env[65] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("WECHAT_CLOUD_ENV", bad[i], 1);
		cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_CLOUD_ENV");
	}
	unit_env_baseline();
	setenv("CLOUD_STORAGE_URL_PREFIX", "cdn.example.com", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "CLOUD_STORAGE_URL_PREFIX");
	unit_env_baseline();
}
END_TEST

START_TEST(config_wechat_keys)
{
	unit_env_baseline();
	setenv("WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", 1); /* 42 */
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_AES_KEY");
	setenv("WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH", 1); /* 44 */
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_AES_KEY");
	unit_env_baseline();
	setenv("WXPAY_APIV3_KEY", "short", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WXPAY_APIV3_KEY");
	/* the mini program's push: a key of 43, a token other than the OA's */
	unit_env_baseline();
	setenv("WECHAT_MP_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", 1); /* 42 */
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_MP_AES_KEY");
	unit_env_baseline();
	setenv("WECHAT_TOKEN", "same-token", 1);
	setenv("WECHAT_MP_TOKEN", "same-token", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "WECHAT_MP_TOKEN");
	setenv("WECHAT_MP_TOKEN", "another-token", 1);
	setenv("WECHAT_MP_AES_KEY", "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_str_eq(config_get()->wechat_mp_token, "another-token");
	unit_env_baseline();
}
END_TEST

/* The dispatcher's variables: defaults, both ends of each range, and a message naming the
 * variable for a value just outside, a non-number and a unit suffix. */
static const struct {
	const char *name;
	long dflt, min, max;
	size_t offset;
} cfg_dispatch[] = {
    {"DISPATCH_CONCURRENCY", 8, 1, 256, offsetof(struct config, dispatch_concurrency)},
    {"DISPATCH_BUDGET_SECONDS", 50, 1, 3600, offsetof(struct config, dispatch_budget_s)},
    {"DISPATCH_LEASE_SECONDS", 120, 2, 86400, offsetof(struct config, dispatch_lease_s)},
    {"DISPATCH_RETRY_BASE_MS", 5000, 10, 3600000, offsetof(struct config, dispatch_retry_base_ms)},
    {"DISPATCH_MAX_WAIT_SECONDS", 600, 1, 86400, offsetof(struct config, dispatch_max_wait_s)},
    {"DISPATCH_RECONCILE_AFTER_SECONDS", 300, 0, 86400,
     offsetof(struct config, dispatch_reconcile_after_s)},
    {"DISPATCH_MAX_RESULT_BYTES", 10485760, 1024, 10485760,
     offsetof(struct config, dispatch_max_result_bytes)},
    {"DISPATCH_MAX_INPUT_BYTES", 33554432, 1024, 104857600,
     offsetof(struct config, dispatch_max_input_bytes)},
    {"DISPATCH_CLOUD_FETCH_BATCH", 50, 0, 500, offsetof(struct config, dispatch_cloud_fetch_batch)},
};

static long cfg_dispatch_value(size_t i)
{
	return *(const long *)(const void *)((const char *)config_get() + cfg_dispatch[i].offset);
}

START_TEST(config_dispatch)
{
	const char *name = cfg_dispatch[_i].name;
	char buf[32];

	unit_env_baseline();
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(cfg_dispatch_value((size_t)_i), cfg_dispatch[_i].dflt);
	/* the dispatcher's own need: database and Redis, no JWT */
	unsetenv("JWT_SECRET");
	cfg_load_expect(CONFIG_NEED_DB | CONFIG_NEED_REDIS, NULL);
	unit_env_baseline();
	snprintf(buf, sizeof(buf), "%ld", cfg_dispatch[_i].min);
	setenv(name, buf, 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(cfg_dispatch_value((size_t)_i), cfg_dispatch[_i].min);
	snprintf(buf, sizeof(buf), "%ld", cfg_dispatch[_i].max);
	setenv(name, buf, 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(cfg_dispatch_value((size_t)_i), cfg_dispatch[_i].max);
	snprintf(buf, sizeof(buf), "%ld", cfg_dispatch[_i].min - 1);
	setenv(name, buf, 1);
	cfg_load_expect(CONFIG_NEED_DB | CONFIG_NEED_REDIS, name);
	snprintf(buf, sizeof(buf), "%ld", cfg_dispatch[_i].max + 1);
	setenv(name, buf, 1);
	cfg_load_expect(CONFIG_NEED_DB | CONFIG_NEED_REDIS, name);
	ck_assert_msg(strstr(cfg_err, "between") != NULL, "no range in: %s", cfg_err);
	setenv(name, "eight", 1);
	cfg_load_expect(CONFIG_NEED_DB, name);
	setenv(name, "50s", 1);
	cfg_load_expect(CONFIG_NEED_DB, name);
	setenv(name, "", 1); /* empty: the default */
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_int_eq(cfg_dispatch_value((size_t)_i), cfg_dispatch[_i].dflt);
	unit_env_baseline();
}
END_TEST

/* Whatever the binary needs, every variable is checked: check-config (NEED_ALL) and the
 * fcgi worker refuse a bad DISPATCH_* value as the dispatcher does. */
START_TEST(config_every_binary_checks_everything)
{
	static const unsigned needs[] = {CONFIG_NEED_ALL, CONFIG_NEED_DB, CONFIG_NEED_JWT, 0};

	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		unit_env_baseline();
		setenv("DISPATCH_CONCURRENCY", "0", 1);
		cfg_load_expect(needs[i], "DISPATCH_CONCURRENCY");
		unit_env_baseline();
		setenv("WECHAT_AES_KEY", "short", 1);
		cfg_load_expect(needs[i], "WECHAT_AES_KEY");
	}
	unit_env_baseline();
}
END_TEST

START_TEST(config_notify_url_default)
{
	unit_env_baseline();
	setenv("PUBLIC_BASE_URL", "https://photo.example.com", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_str_eq(config_get()->wxpay_notify_url,
	                 "https://photo.example.com/api/v1/payment/notify");
	ck_assert_str_eq(config_get()->wxpay_refund_notify_url,
	                 "https://photo.example.com/api/v1/payment/refund-notify");
	setenv("WXPAY_NOTIFY_URL", "https://n.example.com/x", 1);
	setenv("WXPAY_REFUND_NOTIFY_URL", "https://n.example.com/r", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	ck_assert_str_eq(config_get()->wxpay_notify_url, "https://n.example.com/x");
	ck_assert_str_eq(config_get()->wxpay_refund_notify_url, "https://n.example.com/r");
	unit_env_baseline();
}
END_TEST

START_TEST(config_parse_long_cases)
{
	long v = 77;

	ck_assert_int_eq(config_parse_long("0", 0, 10, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(config_parse_long("10", 0, 10, &v), 0);
	ck_assert_int_eq(v, 10);
	ck_assert_int_eq(config_parse_long("-5", -5, 5, &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(config_parse_long("9223372036854775807", 0, 9223372036854775807L, &v), 0);
	v = 77;
	ck_assert_int_eq(config_parse_long("11", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("-6", -5, 5, &v), -1);
	ck_assert_int_eq(config_parse_long("", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long(NULL, 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long(" 1", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("1 ", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("+1", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("0x5", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("1.0", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("-", -5, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("9223372036854775808", 0, 9223372036854775807L, &v), -1);
	ck_assert_int_eq(config_parse_long("99999999999999999999", 0, 10, &v), -1);
	ck_assert_int_eq(v, 77); /* untouched on failure */
}
END_TEST

/* "a whole decimal integer": strtol's leading whitespace must not slip through. */
START_TEST(config_parse_long_whitespace)
{
	long v = 77;

	ck_assert_int_eq(config_parse_long("\t5", 0, 10, &v), -1);
	ck_assert_int_eq(config_parse_long("\n5", 0, 10, &v), -1);
	ck_assert_int_eq(v, 77);
}
END_TEST

START_TEST(config_redis_url_parse_ok)
{
	struct redis_url u;

	ck_assert_int_eq(redis_url_parse("unix:///var/run/redis.sock", &u), 0);
	ck_assert_str_eq(u.path, "/var/run/redis.sock");
	ck_assert_int_eq(u.db, 0);
	ck_assert_int_eq(redis_url_parse("unix:///tmp/r.sock?db=3", &u), 0);
	ck_assert_str_eq(u.path, "/tmp/r.sock");
	ck_assert_int_eq(u.db, 3);
	ck_assert_int_eq(redis_url_parse("redis://h", &u), 0);
	ck_assert_str_eq(u.path, "");
	ck_assert_str_eq(u.host, "h");
	ck_assert_int_eq(u.port, 6379);
	ck_assert_int_eq(u.db, 0);
	ck_assert_str_eq(u.password, "");
	ck_assert_int_eq(redis_url_parse("redis://h:6380/2", &u), 0);
	ck_assert_str_eq(u.host, "h");
	ck_assert_int_eq(u.port, 6380);
	ck_assert_int_eq(u.db, 2);
	ck_assert_int_eq(redis_url_parse("redis://:pw@h:1/0", &u), 0);
	ck_assert_str_eq(u.password, "pw");
	ck_assert_str_eq(u.host, "h");
	ck_assert_int_eq(u.port, 1);
	ck_assert_int_eq(u.db, 0);
	ck_assert_int_eq(redis_url_parse("redis://127.0.0.1/15", &u), 0);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_int_eq(u.db, 15);
	ck_assert_int_eq(redis_url_parse("redis://h/", &u), 0);
	ck_assert_int_eq(u.db, 0);
}
END_TEST

static const char *const cfg_bad_redis[] = {
    "redis://h:0",
    "redis://h:65536",
    "redis://h:abc",
    "redis://h:/1",
    "redis://h:-1",
    "redis://",
    "redis://:6379",
    "redis://:pw@",
    "redis:///0",
    "redis://h/16",
    "redis://h/x",
    "unix://",
    "unix://tmp.sock",
    "unix:///s?db=16",
    "unix:///s?x=1",
    "http://h:6379",
    "",
};

START_TEST(config_redis_url_parse_bad)
{
	struct redis_url u;

	ck_assert_msg(redis_url_parse(cfg_bad_redis[_i], &u) == -1, "accepted %s",
	              cfg_bad_redis[_i]);
}
END_TEST

/* The S3 variables of a working s3 backend (COS, virtual-host style). */
static void cfg_s3_env(void)
{
	unit_env_baseline();
	setenv("MEDIA_BACKEND", "s3", 1);
	setenv("S3_ENDPOINT", "https://cos.ap-shanghai.myqcloud.com", 1);
	setenv("S3_BUCKET", "photos-1250000000", 1);
	setenv("S3_REGION", "ap-shanghai", 1);
	setenv("S3_ACCESS_KEY_ID", "AKIDexample", 1);
	setenv("S3_SECRET_ACCESS_KEY", "secret/example+key", 1);
}

START_TEST(config_media_backend)
{
	static const char *const required[] = {"S3_ENDPOINT", "S3_BUCKET", "S3_REGION",
	                                       "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"};
	static const struct {
		const char *name, *value;
	} bad[] = {
	    {"MEDIA_BACKEND", "cos"},
	    {"MEDIA_BACKEND", "S3"},
	    {"S3_ENDPOINT", "cos.ap-shanghai.myqcloud.com"},
	    {"S3_ENDPOINT", "ftp://cos.ap-shanghai.myqcloud.com"},
	    {"S3_ENDPOINT", "https://cos.ap-shanghai.myqcloud.com/bucket"},
	    {"S3_ENDPOINT", "https://"},
	    {"S3_BUCKET", "ab"},
	    {"S3_BUCKET", "Photos"},
	    {"S3_BUCKET", "-photos"},
	    {"S3_BUCKET", "photos."},
	    {"S3_BUCKET", "photos_1"},
	    {"S3_BUCKET", "a234567890123456789012345678901234567890123456789012345678901234"},
	    {"S3_REGION", "AP-Shanghai"},
	    {"S3_REGION", "ap shanghai"},
	    {"S3_ACCESS_KEY_ID", "AKID:x"},
	    {"S3_SECRET_ACCESS_KEY", "with space"},
	    {"S3_SECRET_ACCESS_KEY", "colon:inside"},
	    {"S3_PATH_STYLE", "yes"},
	    {"MEDIA_CDN_BASE", "img.example.com"},
	};
	const struct config *c;

	/* the default: local, no S3 needed */
	unit_env_baseline();
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	c = config_get();
	ck_assert_int_eq(c->media_backend, CONFIG_MEDIA_LOCAL);
	ck_assert_ptr_null(c->s3_endpoint);
	ck_assert(!c->s3_path_style);
	ck_assert_ptr_null(c->media_cdn_base);
	/* s3 with everything */
	cfg_s3_env();
	setenv("S3_PATH_STYLE", "1", 1);
	setenv("MEDIA_CDN_BASE", "https://img.example.com", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	c = config_get();
	ck_assert_int_eq(c->media_backend, CONFIG_MEDIA_S3);
	ck_assert_str_eq(c->s3_endpoint, "https://cos.ap-shanghai.myqcloud.com");
	ck_assert_str_eq(c->s3_bucket, "photos-1250000000");
	ck_assert_str_eq(c->s3_region, "ap-shanghai");
	ck_assert_str_eq(c->s3_access_key_id, "AKIDexample");
	ck_assert_str_eq(c->s3_secret_access_key, "secret/example+key");
	ck_assert(c->s3_path_style);
	ck_assert_str_eq(c->media_cdn_base, "https://img.example.com");
	/* a loopback endpoint with a port (s3rver, MinIO) */
	cfg_s3_env();
	setenv("S3_ENDPOINT", "http://127.0.0.1:18809", 1);
	cfg_load_expect(CONFIG_NEED_ALL, NULL);
	/* s3 without any one of the five: MEDIA_BACKEND names what is missing */
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		cfg_s3_env();
		unsetenv(required[i]);
		cfg_load_expect(CONFIG_NEED_ALL, "MEDIA_BACKEND");
		ck_assert_ptr_nonnull(strstr(cfg_err, required[i]));
	}
	/* each malformed value is named, with s3 or without (migrate uses them with local) */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg_s3_env();
		setenv(bad[i].name, bad[i].value, 1);
		cfg_load_expect(CONFIG_NEED_ALL, bad[i].name);
		/* the secret never appears in a message */
		ck_assert_ptr_null(strstr(cfg_err, "secret/example+key"));
	}
	unit_env_baseline();
	setenv("S3_BUCKET", "Bad_Bucket", 1);
	cfg_load_expect(CONFIG_NEED_ALL, "S3_BUCKET");
	unit_env_baseline();
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, config_defaults);
	tcase_add_test(tc, config_overrides);
	tcase_add_test(tc, config_upload_quota);
	tcase_add_test(tc, config_missing_required);
	tcase_add_test(tc, config_short_secret);
	tcase_add_test(tc, config_redis_scheme);
	tcase_add_test(tc, config_redis_url_fully_validated);
	tcase_add_test(tc, config_bad_ttl);
	tcase_add_test(tc, config_bad_env_and_level);
	tcase_add_test(tc, config_bad_urls_and_paths);
	tcase_add_test(tc, config_appids);
	tcase_add_test(tc, config_wechat_keys);
	tcase_add_test(tc, config_cloud_storage);
	tcase_add_loop_test(tc, config_dispatch, 0,
	                    (int)(sizeof(cfg_dispatch) / sizeof(cfg_dispatch[0])));
	tcase_add_test(tc, config_every_binary_checks_everything);
	tcase_add_test(tc, config_notify_url_default);
	suite_add_tcase(s, tc);
	tc = tcase_create("parse");
	tcase_add_test(tc, config_msg_mode);
	tcase_add_test(tc, config_parse_long_cases);
	tcase_add_test(tc, config_parse_long_whitespace);
	tcase_add_test(tc, config_redis_url_parse_ok);
	tcase_add_test(tc, config_media_backend);
	tcase_add_loop_test(tc, config_redis_url_parse_bad, 0,
	                    (int)(sizeof(cfg_bad_redis) / sizeof(cfg_bad_redis[0])));
	suite_add_tcase(s, tc);
	return s;
}
