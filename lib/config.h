/*
 * config — the configuration of every binary, read once from the environment (DESIGN §8).
 *
 * One table in config.c lists every variable of aiphoto-fcgi, aiphotoctl and
 * aiphoto-dispatch (DISPATCH_* included): its name, default, parser, range and place in
 * struct config.  config_load() walks the table in order, so each binary and
 * `aiphotoctl check-config` validate the same variables the same way; a missing or
 * malformed value is reported in err as "NAME: what is wrong" and the binary exits
 * non-zero.  An empty value counts as unset.  Strings point into the environment (or are
 * static) and live as long as the process.
 */
#ifndef AIPHOTO_CONFIG_H
#define AIPHOTO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/token.h"

/* How the Official Account callback may be delivered (WECHAT_MSG_MODE; default safe when
 * WECHAT_AES_KEY is set, else plain).  safe: only encrypted messages (encrypt_type=aes, a
 * valid msg_signature, an Encrypt element); compat: encrypted or plain; plain: plain (an
 * encrypted one is still decrypted when a key is configured). */
enum config_msg_mode { CONFIG_MSG_PLAIN, CONFIG_MSG_COMPAT, CONFIG_MSG_SAFE };

/* The mode's name as configured: "plain", "compat" or "safe". */
const char *config_msg_mode_name(enum config_msg_mode m);

/* MEDIA_BACKEND: the media store's backend (lib/media.h). */
enum config_media_backend { CONFIG_MEDIA_LOCAL, CONFIG_MEDIA_S3 };

struct config {
	const char *database_url;
	const char *redis_url;
	const char *jwt_secret;
	size_t jwt_secret_len;
	const char *jwt_issuer;
	long jwt_ttl; /* seconds */
	long admin_token_hours; /* lifetime of an admin token (ADMIN_TOKEN_HOURS) */
	long admin_support_credit_limit; /* largest |delta| a support admin may give or take */
	const char *public_base_url;
	const char *media_dir;
	long media_keep_original; /* MEDIA_KEEP_ORIGINAL: 1 stores the sent bytes too */
	const char *media_url_key; /* MEDIA_URL_KEY: HMAC key of signed media URLs, NULL: none */
	const char *media_url_base; /* MEDIA_URL_BASE: base of signed URLs, NULL: PUBLIC_BASE_URL */
	long media_url_ttl_s; /* MEDIA_URL_TTL_SECONDS: lifetime of the URLs given to providers */
	/* where media are stored (docs/storage.md): MEDIA_BACKEND local (MEDIA_DIR) or s3 (an
	 * S3-compatible bucket: Tencent COS, Alibaba OSS, AWS S3, MinIO); the S3_* rows are
	 * checked whenever set (aiphotoctl media migrate uses them with MEDIA_BACKEND=local too)
	 * and required with MEDIA_BACKEND=s3 */
	enum config_media_backend media_backend;
	const char *s3_endpoint; /* S3_ENDPOINT: scheme://host[:port], no path */
	const char *s3_bucket, *s3_region, *s3_access_key_id;
	const char *s3_secret_access_key; /* never logged */
	bool s3_path_style; /* S3_PATH_STYLE=1: endpoint/bucket/key, else bucket.host/key */
	const char *media_cdn_base; /* MEDIA_CDN_BASE: public URL base of objects, NULL: none */
	bool development; /* AIPHOTO_ENV=development: loopback upstreams allowed */
	int log_level; /* enum log_level */
	const char *log_file; /* LOG_FILE: the workers' and dispatcher's log, NULL = stderr */
	long db_statement_timeout_ms;
	/* per-user upload quota (POST /uploads): bytes and files of all the user's assets
	 * together; a user row may override both (users.upload_quota_bytes / _files) */
	long long upload_quota_bytes;
	long upload_quota_files;
	/* WeChat and WeChat Pay: optional until the features that need them are configured */
	const char *wechat_appid, *wechat_secret, *wechat_token, *wechat_aes_key;
	enum config_msg_mode wechat_msg_mode; /* WECHAT_MSG_MODE: which callbacks are accepted */
	const char *wechat_mp_appid, *wechat_mp_secret;
	/* the mini program's message push (content-check verdicts): its token (must differ from
	 * WECHAT_TOKEN) and, for safe mode, its EncodingAESKey; docs/wechat.md */
	const char *wechat_mp_token, *wechat_mp_aes_key;
	const char *wxpay_mchid, *wxpay_serial, *wxpay_private_key_file, *wxpay_apiv3_key;
	const char *wxpay_public_key_file, *wxpay_public_key_id;
	const char *wxpay_notify_url; /* default PUBLIC_BASE_URL/api/v1/payment/notify */
	/* default PUBLIC_BASE_URL/api/v1/payment/refund-notify */
	const char *wxpay_refund_notify_url;
	const char *wxpay_platform_cert_file; /* optional: platform-certificate mode */
	const char *wechat_api_base, *wechat_open_base, *wechat_mp_base, *wxpay_api_base;
	/* WeChat cloud storage (docs/cloud-files.md): the mini program's cloud environment whose
	 * files may be registered and fetched (WECHAT_CLOUD_ENV, NULL: none), and where the
	 * cloud:// images of imported works are shown until fetched (CLOUD_STORAGE_URL_PREFIX,
	 * NULL: the storage's own tcb.qcloud.la domain) */
	const char *wechat_cloud_env, *cloud_storage_url_prefix;
	/* metrics (docs/operations.md): the workers' shared counters file, the client addresses
	 * GET /metrics answers without an admin token (comma-separated, exact), and the
	 * dispatcher's node_exporter textfile (NULL: none written) */
	const char *metrics_file, *metrics_allow, *dispatch_metrics_file;
	bool metrics_enabled; /* METRICS_ENABLED=0: the workers count nothing (bench/run's "off") */
	/* aiphoto-dispatch (docs/dispatcher.md) */
	long dispatch_concurrency; /* provider calls at once */
	long dispatch_budget_s; /* seconds a run claims work and waits for tasks */
	long dispatch_lease_s; /* lease of a claimed item */
	long dispatch_retry_base_ms; /* first retry delay, doubled per attempt */
	long dispatch_max_wait_s; /* how long an async job may stay pending from its submit */
	long dispatch_reconcile_after_s; /* age of an unpaid order before it is queried */
	long dispatch_max_result_bytes; /* largest result image */
	long dispatch_max_input_bytes; /* the input images of one item together */
	long dispatch_cloud_fetch_batch; /* cloud:// work images fetched per run (0: none) */
};

/* What a binary needs: the worker and most ctl commands need everything; `token` and
 * `check-config` need JWT; `migrate` only the database. */
enum config_need {
	CONFIG_NEED_DB = 1,
	CONFIG_NEED_REDIS = 2,
	CONFIG_NEED_JWT = 4,
	CONFIG_NEED_ALL = 7
};

/* Validates every variable of the table; the ones of need must be set.  Returns 0 on
 * success, -1 with "NAME: what is wrong" in err (the first bad variable in table order). */
int config_load(unsigned need, char *err, size_t errlen);
const struct config *config_get(void);

/*
 * The app whose users a channel's tokens speak for: the mini program (WECHAT_MP_APPID) for
 * TOKEN_CHANNEL_MP; the Official Account (WECHAT_APPID) for OA and WEB (the web login scans the
 * Official Account's QR code, so its user is known by the OA openid).  NULL when that app is
 * not configured, and for TOKEN_CHANNEL_NONE.
 */
const char *config_channel_appid(const struct config *c, enum token_channel ch);

/* Parses a whole decimal integer in [min,max]; 0 on success, -1 otherwise. */
int config_parse_long(const char *s, long min, long max, long *out);

#endif
