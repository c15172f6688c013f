/*
 * config — the service's configuration, read once from the environment (DESIGN §8).
 *
 * config_load() validates every variable and fills the process-wide struct config; a
 * missing or malformed value is reported in err as "NAME: what is wrong" and the binary
 * exits non-zero.  Strings point into the environment and live as long as the process.
 */
#ifndef AIPHOTO_CONFIG_H
#define AIPHOTO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* How the Official Account callback may be delivered (WECHAT_MSG_MODE; default safe when
 * WECHAT_AES_KEY is set, else plain).  safe: only encrypted messages (encrypt_type=aes, a
 * valid msg_signature, an Encrypt element); compat: encrypted or plain; plain: plain (an
 * encrypted one is still decrypted when a key is configured). */
enum config_msg_mode { CONFIG_MSG_PLAIN, CONFIG_MSG_COMPAT, CONFIG_MSG_SAFE };

/* The mode's name as configured: "plain", "compat" or "safe". */
const char *config_msg_mode_name(enum config_msg_mode m);

struct config {
	const char *database_url;
	const char *redis_url;
	const char *jwt_secret;
	size_t jwt_secret_len;
	const char *jwt_issuer;
	long jwt_ttl; /* seconds */
	const char *public_base_url;
	const char *media_dir;
	bool development; /* AIPHOTO_ENV=development: loopback upstreams allowed */
	int log_level; /* enum log_level */
	long db_statement_timeout_ms;
	/* per-user upload quota (POST /uploads): bytes and files of all the user's assets
	 * together; a user row may override both (users.upload_quota_bytes / _files) */
	long long upload_quota_bytes;
	long upload_quota_files;
	/* WeChat and WeChat Pay: optional until the features that need them are configured */
	const char *wechat_appid, *wechat_secret, *wechat_token, *wechat_aes_key;
	enum config_msg_mode wechat_msg_mode; /* WECHAT_MSG_MODE: which callbacks are accepted */
	const char *wechat_mp_appid, *wechat_mp_secret;
	const char *wxpay_mchid, *wxpay_serial, *wxpay_private_key_file, *wxpay_apiv3_key;
	const char *wxpay_public_key_file, *wxpay_public_key_id;
	const char *wxpay_notify_url; /* default PUBLIC_BASE_URL/api/v1/payment/notify */
	const char *wxpay_platform_cert_file; /* optional: platform-certificate mode */
	const char *wechat_api_base, *wechat_open_base, *wechat_mp_base, *wxpay_api_base;
};

/* What a binary needs: the worker and most ctl commands need everything; `token` and
 * `check-config` need JWT; `migrate` only the database. */
enum config_need {
	CONFIG_NEED_DB = 1,
	CONFIG_NEED_REDIS = 2,
	CONFIG_NEED_JWT = 4,
	CONFIG_NEED_ALL = 7
};

/* Returns 0 on success, -1 with a message in err. */
int config_load(unsigned need, char *err, size_t errlen);
const struct config *config_get(void);

/* Parses a whole decimal integer in [min,max]; 0 on success, -1 otherwise. */
int config_parse_long(const char *s, long min, long max, long *out);

#endif
