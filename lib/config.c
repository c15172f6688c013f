/* config — see config.h. */
#include "lib/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/redis.h"

static struct config config_current;

const struct config *config_get(void)
{
	return &config_current;
}

int config_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static const char *config_env(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return (v != NULL && *v != '\0') ? v : dflt;
}

static bool config_is_http_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

const char *config_msg_mode_name(enum config_msg_mode m)
{
	static const char *const names[] = {[CONFIG_MSG_PLAIN] = "plain",
	                                    [CONFIG_MSG_COMPAT] = "compat",
	                                    [CONFIG_MSG_SAFE] = "safe"};
	return (unsigned)m <= CONFIG_MSG_SAFE ? names[m] : "?";
}

int config_load(unsigned need, char *err, size_t errlen)
{
	struct config *c = &config_current;
	const char *s;
	const char *bases[4];
	struct redis_url ru;
	long v;
	int lvl;

	memset(c, 0, sizeof(*c));
	err[0] = '\0';

	c->database_url = config_env("DATABASE_URL", NULL);
	if ((need & CONFIG_NEED_DB) && c->database_url == NULL)
		goto missing_db;

	c->redis_url = config_env("REDIS_URL", NULL);
	if ((need & CONFIG_NEED_REDIS) && c->redis_url == NULL) {
		snprintf(err, errlen,
		         "REDIS_URL: missing (unix:///path/redis.sock or redis://host:port/db)");
		return -1;
	}
	if (c->redis_url != NULL && redis_url_parse(c->redis_url, &ru) < 0) {
		snprintf(err, errlen,
		         "REDIS_URL: must be unix:///absolute/path.sock[?db=0-15] or "
		         "redis://[:password@]host[:port 1-65535][/db 0-15]");
		return -1;
	}

	c->jwt_secret = config_env("JWT_SECRET", NULL);
	c->jwt_secret_len = c->jwt_secret ? strlen(c->jwt_secret) : 0;
	if ((need & CONFIG_NEED_JWT) && c->jwt_secret_len < 32) {
		snprintf(err, errlen,
		         "JWT_SECRET: %s (at least 32 bytes of random text are required)",
		         c->jwt_secret ? "too short" : "missing");
		return -1;
	}
	c->jwt_issuer = config_env("JWT_ISSUER", "aiphoto");
	s = config_env("JWT_TTL", "604800");
	if (config_parse_long(s, 60, 90L * 86400, &v) < 0) {
		snprintf(err, errlen, "JWT_TTL: must be seconds between 60 and 7776000");
		return -1;
	}
	c->jwt_ttl = v;

	c->public_base_url = config_env("PUBLIC_BASE_URL", "http://127.0.0.1:8080");
	if (!config_is_http_url(c->public_base_url)) {
		snprintf(err, errlen, "PUBLIC_BASE_URL: must be an http:// or https:// URL");
		return -1;
	}
	c->media_dir = config_env("MEDIA_DIR", "/var/lib/aiphoto/media");
	if (c->media_dir[0] != '/') {
		snprintf(err, errlen, "MEDIA_DIR: must be an absolute path");
		return -1;
	}

	s = config_env("AIPHOTO_ENV", "production");
	if (strcmp(s, "development") == 0)
		c->development = true;
	else if (strcmp(s, "production") != 0) {
		snprintf(err, errlen, "AIPHOTO_ENV: must be development or production");
		return -1;
	}
	lvl = log_level_parse(config_env("LOG_LEVEL", "info"));
	if (lvl < 0) {
		snprintf(err, errlen, "LOG_LEVEL: must be debug, info, warn or error");
		return -1;
	}
	c->log_level = lvl;
	if (config_parse_long(config_env("DB_STATEMENT_TIMEOUT_MS", "5000"), 100, 600000, &v) < 0) {
		snprintf(err, errlen,
		         "DB_STATEMENT_TIMEOUT_MS: must be milliseconds between 100 and 600000");
		return -1;
	}
	c->db_statement_timeout_ms = v;
	/* at least one largest image (10 MiB), at most 1 TiB */
	if (config_parse_long(config_env("UPLOAD_QUOTA_BYTES", "1073741824"), 10485760,
	                      1099511627776L, &v) < 0) {
		snprintf(err, errlen,
		         "UPLOAD_QUOTA_BYTES: must be bytes between 10485760 (10 MiB) and "
		         "1099511627776 (1 TiB)");
		return -1;
	}
	c->upload_quota_bytes = v;
	if (config_parse_long(config_env("UPLOAD_QUOTA_FILES", "2000"), 1, 1000000, &v) < 0) {
		snprintf(err, errlen, "UPLOAD_QUOTA_FILES: must be a count between 1 and 1000000");
		return -1;
	}
	c->upload_quota_files = v;

	c->wechat_appid = config_env("WECHAT_APPID", NULL);
	c->wechat_secret = config_env("WECHAT_SECRET", NULL);
	c->wechat_token = config_env("WECHAT_TOKEN", NULL);
	c->wechat_aes_key = config_env("WECHAT_AES_KEY", NULL);
	if (c->wechat_aes_key != NULL && strlen(c->wechat_aes_key) != 43) {
		snprintf(err, errlen,
		         "WECHAT_AES_KEY: the EncodingAESKey has exactly 43 characters");
		return -1;
	}
	s = config_env("WECHAT_MSG_MODE", c->wechat_aes_key != NULL ? "safe" : "plain");
	for (v = 0; v <= CONFIG_MSG_SAFE; v++)
		if (strcmp(s, config_msg_mode_name((enum config_msg_mode)v)) == 0)
			break;
	if (v > CONFIG_MSG_SAFE) {
		snprintf(err, errlen, "WECHAT_MSG_MODE: must be safe, compat or plain");
		return -1;
	}
	c->wechat_msg_mode = (enum config_msg_mode)v;
	if (c->wechat_msg_mode != CONFIG_MSG_PLAIN && c->wechat_aes_key == NULL) {
		snprintf(err, errlen, "WECHAT_MSG_MODE: %s mode needs WECHAT_AES_KEY", s);
		return -1;
	}
	c->wechat_mp_appid = config_env("WECHAT_MP_APPID", NULL);
	c->wechat_mp_secret = config_env("WECHAT_MP_SECRET", NULL);
	c->wxpay_mchid = config_env("WXPAY_MCHID", NULL);
	c->wxpay_serial = config_env("WXPAY_SERIAL", NULL);
	c->wxpay_private_key_file = config_env("WXPAY_PRIVATE_KEY_FILE", NULL);
	c->wxpay_apiv3_key = config_env("WXPAY_APIV3_KEY", NULL);
	if (c->wxpay_apiv3_key != NULL && strlen(c->wxpay_apiv3_key) != 32) {
		snprintf(err, errlen, "WXPAY_APIV3_KEY: the APIv3 key has exactly 32 bytes");
		return -1;
	}
	c->wxpay_public_key_file = config_env("WXPAY_PUBLIC_KEY_FILE", NULL);
	c->wxpay_public_key_id = config_env("WXPAY_PUBLIC_KEY_ID", NULL);
	c->wxpay_notify_url = config_env("WXPAY_NOTIFY_URL", NULL);
	c->wxpay_platform_cert_file = config_env("WXPAY_PLATFORM_CERT_FILE", NULL);
	if (c->wxpay_notify_url == NULL) {
		static char notify[512];
		snprintf(notify, sizeof(notify), "%s/api/v1/payment/notify", c->public_base_url);
		c->wxpay_notify_url = notify;
	}
	c->wechat_api_base = config_env("WECHAT_API_BASE", "https://api.weixin.qq.com");
	c->wechat_open_base = config_env("WECHAT_OPEN_BASE", "https://open.weixin.qq.com");
	c->wxpay_api_base = config_env("WXPAY_API_BASE", "https://api.mch.weixin.qq.com");
	/* where QR code images are shown (showqrcode?ticket=) */
	c->wechat_mp_base = config_env("WECHAT_MP_BASE", "https://mp.weixin.qq.com");
	bases[0] = c->wechat_api_base;
	bases[1] = c->wechat_open_base;
	bases[2] = c->wxpay_api_base;
	bases[3] = c->wechat_mp_base;
	for (size_t i = 0; i < 4; i++) {
		if (!config_is_http_url(bases[i])) {
			static const char *const names[] = {"WECHAT_API_BASE", "WECHAT_OPEN_BASE",
			                                    "WXPAY_API_BASE", "WECHAT_MP_BASE"};
			snprintf(err, errlen, "%s: must be an http:// or https:// URL", names[i]);
			return -1;
		}
	}
	return 0;

missing_db:
	snprintf(err, errlen, "DATABASE_URL: missing (a libpq connection string or URI)");
	return -1;
}
