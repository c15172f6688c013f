/* config — see config.h. */
#include "lib/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/image.h"
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

const char *config_channel_appid(const struct config *c, enum token_channel ch)
{
	switch (ch) {
	case TOKEN_CHANNEL_MP:
		return c->wechat_mp_appid;
	case TOKEN_CHANNEL_OA:
	case TOKEN_CHANNEL_WEB:
		return c->wechat_appid;
	default:
		return NULL;
	}
}

const char *config_msg_mode_name(enum config_msg_mode m)
{
	static const char *const names[] = {[CONFIG_MSG_PLAIN] = "plain",
	                                    [CONFIG_MSG_COMPAT] = "compat",
	                                    [CONFIG_MSG_SAFE] = "safe"};
	return (unsigned)m <= CONFIG_MSG_SAFE ? names[m] : "?";
}

/* ------------------------------------------------------------------ the table */

struct config_var;

/* One load: the struct being filled, what the binary needs, where the message goes. */
struct config_load_ctx {
	struct config *c;
	unsigned need;
	char *err;
	size_t errlen;
};

/*
 * A row: the variable, its default (NULL: unset), the parser that checks the value (NULL
 * when unset and without default) and stores it at offset, the range of numbers, the
 * binaries that need it (CONFIG_NEED_*; 0: optional) and what is expected, for messages.
 */
struct config_var {
	const char *name;
	const char *dflt;
	int (*parse)(const struct config_var *v, const char *s, struct config_load_ctx *x);
	long min, max;
	size_t offset;
	unsigned need;
	const char *what;
};

/* Writes "NAME: message" and returns -1. */
static int config_fail(const struct config_var *v, struct config_load_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_fail(const struct config_var *v, struct config_load_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(x->err, x->errlen, "%s: ", v->name);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < x->errlen)
		vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void *config_field(const struct config_var *v, struct config_load_ctx *x)
{
	return (char *)x->c + v->offset;
}

static int config_set_str(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	*(const char **)config_field(v, x) = s;
	return 0;
}

/* A whole decimal number in [min, max], stored as long. */
static int config_set_long(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	long n;

	if (config_parse_long(s, v->min, v->max, &n) < 0)
		return config_fail(v, x, "must be %s between %ld and %ld", v->what, v->min, v->max);
	*(long *)config_field(v, x) = n;
	return 0;
}

/* The same, stored as long long. */
static int config_set_llong(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	long n;

	if (config_parse_long(s, v->min, v->max, &n) < 0)
		return config_fail(v, x, "must be %s between %ld and %ld", v->what, v->min, v->max);
	*(long long *)config_field(v, x) = n;
	return 0;
}

static int config_set_url(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (s != NULL && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		return config_fail(v, x, "must be an http:// or https:// URL");
	return config_set_str(v, s, x);
}

static int config_set_path(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (s != NULL && s[0] != '/')
		return config_fail(v, x, "must be an absolute path");
	return config_set_str(v, s, x);
}

/* A switch: "1" or "0". */
static int config_set_bool(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (strcmp(s, "1") != 0 && strcmp(s, "0") != 0)
		return config_fail(v, x, "%s", v->what);
	*(bool *)config_field(v, x) = s[0] == '1';
	return 0;
}

/* A key of exactly min bytes, or unset. */
static int config_set_key(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (s != NULL && strlen(s) != (size_t)v->min)
		return config_fail(v, x, "%s", v->what);
	return config_set_str(v, s, x);
}

/* MEDIA_URL_KEY: optional; when set, at least v->min bytes (an HMAC key worth the name). */
static int config_set_min_key(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (s != NULL && strlen(s) < (size_t)v->min)
		return config_fail(v, x, "%s", v->what);
	return config_set_str(v, s, x);
}

/* An appid as a token can name it (token_appid_valid), or unset. */
static int config_set_appid(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (s != NULL && !token_appid_valid(s))
		return config_fail(v, x, "%s", v->what);
	return config_set_str(v, s, x);
}

/* WECHAT_MP_APPID: an appid, not the Official Account's (WECHAT_APPID, an earlier row): the
 * two are different apps, and an order or a token says which one it is for by its appid. */
static int config_set_mp_appid(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (s != NULL && x->c->wechat_appid != NULL && strcmp(s, x->c->wechat_appid) == 0)
		return config_fail(
		    v, x, "must differ from WECHAT_APPID (the mini program is another app)");
	return config_set_appid(v, s, x);
}

static int config_set_redis(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	struct redis_url ru;

	if (s != NULL && redis_url_parse(s, &ru) < 0)
		return config_fail(v, x,
		                   "must be unix:///absolute/path.sock[?db=0-15] or "
		                   "redis://[:password@]host[:port 1-65535][/db 0-15]");
	return config_set_str(v, s, x);
}

/* JWT_SECRET: at least min bytes when the binary signs or checks tokens. */
static int config_set_secret(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	x->c->jwt_secret_len = s ? strlen(s) : 0;
	if ((x->need & v->need) && x->c->jwt_secret_len < (size_t)v->min)
		return config_fail(v, x, "too short (%s)", v->what);
	return config_set_str(v, s, x);
}

static int config_set_env(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (strcmp(s, "development") != 0 && strcmp(s, "production") != 0)
		return config_fail(v, x, "must be development or production");
	*(bool *)config_field(v, x) = strcmp(s, "development") == 0;
	return 0;
}

static int config_set_level(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	int lvl = log_level_parse(s);

	if (lvl < 0)
		return config_fail(v, x, "must be debug, info, warn or error");
	*(int *)config_field(v, x) = lvl;
	return 0;
}

/* WECHAT_CLOUD_ENV: a cloud environment id, 1-64 letters, digits, '-' or '_'; the storage
 * belongs to the mini program, so WECHAT_MP_APPID and WECHAT_MP_SECRET (earlier rows) too. */
static int config_set_cloud_env(const struct config_var *v, const char *s,
                                struct config_load_ctx *x)
{
	size_t n = s != NULL ? strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                 "0123456789-_")
	                     : 0;

	if (s != NULL && (n == 0 || n > 64 || s[n] != '\0'))
		return config_fail(v, x, "%s", v->what);
	if (s != NULL && (x->c->wechat_mp_appid == NULL || x->c->wechat_mp_secret == NULL))
		return config_fail(v, x,
		                   "needs WECHAT_MP_APPID and WECHAT_MP_SECRET (cloud storage "
		                   "belongs to the mini program)");
	return config_set_str(v, s, x);
}

/* WECHAT_MSG_MODE: default safe when WECHAT_AES_KEY (an earlier row) is set, else plain. */
static int config_set_msg_mode(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	const char *key = x->c->wechat_aes_key;
	int m;

	if (s == NULL)
		s = config_msg_mode_name(key != NULL ? CONFIG_MSG_SAFE : CONFIG_MSG_PLAIN);
	for (m = 0; m <= CONFIG_MSG_SAFE; m++)
		if (strcmp(s, config_msg_mode_name((enum config_msg_mode)m)) == 0)
			break;
	if (m > CONFIG_MSG_SAFE)
		return config_fail(v, x, "must be safe, compat or plain");
	if (m != CONFIG_MSG_PLAIN && key == NULL)
		return config_fail(v, x, "%s mode needs WECHAT_AES_KEY", s);
	*(enum config_msg_mode *)config_field(v, x) = (enum config_msg_mode)m;
	return 0;
}

/* WECHAT_MP_TOKEN: the mini program's message-push token; the callback tells the two apps
 * apart by the token that verifies a push, so it must differ from WECHAT_TOKEN (an earlier
 * row). */
static int config_set_mp_token(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	if (s != NULL && x->c->wechat_token != NULL && strcmp(s, x->c->wechat_token) == 0)
		return config_fail(v, x,
		                   "must differ from WECHAT_TOKEN (the callback tells the Official "
		                   "Account and the mini program apart by their tokens)");
	return config_set_str(v, s, x);
}

/* WXPAY_NOTIFY_URL: default PUBLIC_BASE_URL (an earlier row)/api/v1/payment/notify. */
static int config_set_notify(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	static char notify[512];

	if (s == NULL) {
		snprintf(notify, sizeof(notify), "%s/api/v1/payment/notify", x->c->public_base_url);
		s = notify;
	}
	return config_set_str(v, s, x);
}

/* WXPAY_REFUND_NOTIFY_URL: default PUBLIC_BASE_URL/api/v1/payment/refund-notify. */
static int config_set_refund_notify(const struct config_var *v, const char *s,
                                    struct config_load_ctx *x)
{
	static char notify[512];

	if (s == NULL) {
		snprintf(notify, sizeof(notify), "%s/api/v1/payment/refund-notify",
		         x->c->public_base_url);
		s = notify;
	}
	return config_set_str(v, s, x);
}

/* S3_ENDPOINT: "http(s)://host[:port]" with nothing after the authority (the bucket goes
 * into the host or the path, S3_PATH_STYLE). */
static int config_set_s3_endpoint(const struct config_var *v, const char *s,
                                  struct config_load_ctx *x)
{
	const char *host;

	if (s == NULL)
		return config_set_str(v, s, x);
	host = strncmp(s, "https://", 8) == 0  ? s + 8
	       : strncmp(s, "http://", 7) == 0 ? s + 7
	                                       : NULL;
	if (host == NULL || host[0] == '\0' ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
	        strlen(host))
		return config_fail(v, x, "%s", v->what);
	return config_set_str(v, s, x);
}

/* S3_BUCKET: 3-63 lowercase letters, digits, '-' and '.', starting and ending with a letter
 * or digit (the rule of S3, COS — "name-appid" — and OSS alike: the name goes into a host
 * name in virtual-host style). */
static int config_set_s3_bucket(const struct config_var *v, const char *s,
                                struct config_load_ctx *x)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz0123456789-.";
	size_t n = s ? strlen(s) : 0;

	if (s != NULL && (n < 3 || n > 63 || strspn(s, ok) != n || s[0] == '-' || s[0] == '.' ||
	                  s[n - 1] == '-' || s[n - 1] == '.'))
		return config_fail(v, x, "%s", v->what);
	return config_set_str(v, s, x);
}

/* S3_REGION: 1-64 lowercase letters, digits and '-' (ap-shanghai, oss-cn-hangzhou, us-east-1). */
static int config_set_s3_region(const struct config_var *v, const char *s,
                                struct config_load_ctx *x)
{
	size_t n = s ? strlen(s) : 0;

	if (s != NULL && (n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != n))
		return config_fail(v, x, "%s", v->what);
	return config_set_str(v, s, x);
}

/* S3 credentials: printable ASCII without ':' (libcurl joins them as "id:secret"). */
static int config_set_s3_cred(const struct config_var *v, const char *s, struct config_load_ctx *x)
{
	for (const char *p = s; p != NULL && *p != '\0'; p++)
		if (*p <= ' ' || *p > '~' || *p == ':')
			return config_fail(v, x, "%s", v->what);
	return config_set_str(v, s, x);
}

/* MEDIA_BACKEND: local (default) or s3, which needs every S3_* row above. */
static int config_set_media_backend(const struct config_var *v, const char *s,
                                    struct config_load_ctx *x)
{
	const struct config *c = x->c;

	if (strcmp(s, "local") == 0) {
		*(enum config_media_backend *)config_field(v, x) = CONFIG_MEDIA_LOCAL;
		return 0;
	}
	if (strcmp(s, "s3") != 0)
		return config_fail(v, x, "must be local or s3");
	if (c->s3_endpoint == NULL || c->s3_bucket == NULL || c->s3_region == NULL ||
	    c->s3_access_key_id == NULL || c->s3_secret_access_key == NULL)
		return config_fail(
		    v, x,
		    "s3 needs S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID and "
		    "S3_SECRET_ACCESS_KEY");
	*(enum config_media_backend *)config_field(v, x) = CONFIG_MEDIA_S3;
	return 0;
}

#define CFG(f) offsetof(struct config, f)
#define CFG_STR(name, f)                                          \
	{                                                         \
		name, NULL, config_set_str, 0, 0, CFG(f), 0, NULL \
	}
#define CFG_URL(name, dflt, f)                                    \
	{                                                         \
		name, dflt, config_set_url, 0, 0, CFG(f), 0, NULL \
	}
#define CFG_LONG(name, dflt, min, max, f, what)                        \
	{                                                              \
		name, dflt, config_set_long, min, max, CFG(f), 0, what \
	}

#define CONFIG_APPID_WHAT "must be an appid: 1-32 characters of 0-9, A-Z, a-z, _ and -"

/* Every variable, in the order it is checked (a row may read the rows above it). */
static const struct config_var config_vars[] = {
    {"DATABASE_URL", NULL, config_set_str, 0, 0, CFG(database_url), CONFIG_NEED_DB,
     "a libpq connection string or URI"},
    {"REDIS_URL", NULL, config_set_redis, 0, 0, CFG(redis_url), CONFIG_NEED_REDIS,
     "unix:///path/redis.sock or redis://host:port/db"},
    {"JWT_SECRET", NULL, config_set_secret, 32, 0, CFG(jwt_secret), CONFIG_NEED_JWT,
     "at least 32 bytes of random text are required"},
    {"JWT_ISSUER", "aiphoto", config_set_str, 0, 0, CFG(jwt_issuer), 0, NULL},
    CFG_LONG("JWT_TTL", "604800", 60, 90L * 86400, jwt_ttl, "seconds"),
    CFG_LONG("ADMIN_TOKEN_HOURS", "8", 1, 168, admin_token_hours, "hours"),
    CFG_LONG("ADMIN_SUPPORT_CREDIT_LIMIT", "500", 0, 100000000, admin_support_credit_limit,
             "credits"),
    CFG_URL("PUBLIC_BASE_URL", "http://127.0.0.1:8080", public_base_url),
    {"MEDIA_DIR", "/var/lib/aiphoto/media", config_set_path, 0, 0, CFG(media_dir), 0, NULL},
    /* media (DESIGN §12): keep the bytes a client sent besides the normalised file (0/1);
     * the key of signed media URLs (unset: GET /media/:sha256 answers 503 and providers get
     * data URLs); the base of those URLs (default PUBLIC_BASE_URL) and their lifetime */
    CFG_LONG("MEDIA_KEEP_ORIGINAL", "0", 0, 1, media_keep_original, "0 or 1"),
    {"MEDIA_URL_KEY", NULL, config_set_min_key, 32, 0, CFG(media_url_key), 0,
     "at least 32 bytes of random text are required"},
    CFG_URL("MEDIA_URL_BASE", NULL, media_url_base),
    CFG_LONG("MEDIA_URL_TTL_SECONDS", "3600", 60, 7L * 86400, media_url_ttl_s, "seconds"),
    /* the media backend and its S3-compatible object storage (docs/storage.md) */
    {"S3_ENDPOINT", NULL, config_set_s3_endpoint, 0, 0, CFG(s3_endpoint), 0,
     "must be http(s)://host[:port] without a path (the bucket is S3_BUCKET)"},
    {"S3_BUCKET", NULL, config_set_s3_bucket, 0, 0, CFG(s3_bucket), 0,
     "must be a bucket name: 3-63 of a-z, 0-9, '-' and '.', starting and ending with a "
     "letter or digit"},
    {"S3_REGION", NULL, config_set_s3_region, 0, 0, CFG(s3_region), 0,
     "must be a region name: at most 64 of a-z, 0-9 and '-'"},
    {"S3_ACCESS_KEY_ID", NULL, config_set_s3_cred, 0, 0, CFG(s3_access_key_id), 0,
     "must be printable ASCII without spaces or ':'"},
    {"S3_SECRET_ACCESS_KEY", NULL, config_set_s3_cred, 0, 0, CFG(s3_secret_access_key), 0,
     "must be printable ASCII without spaces or ':'"},
    {"S3_PATH_STYLE", "0", config_set_bool, 0, 0, CFG(s3_path_style), 0, "0 or 1"},
    CFG_URL("MEDIA_CDN_BASE", NULL, media_cdn_base),
    {"MEDIA_BACKEND", "local", config_set_media_backend, 0, 0, CFG(media_backend), 0, NULL},
    {"AIPHOTO_ENV", "production", config_set_env, 0, 0, CFG(development), 0, NULL},
    {"LOG_LEVEL", "info", config_set_level, 0, 0, CFG(log_level), 0, NULL},
    /* the log file of the workers and the dispatcher (unset: stderr, the journal); they open
     * it again on SIGHUP, after logrotate renamed it (ops/logrotate/aiphoto) */
    {"LOG_FILE", NULL, config_set_path, 0, 0, CFG(log_file), 0, NULL},
    CFG_LONG("DB_STATEMENT_TIMEOUT_MS", "5000", 100, 600000, db_statement_timeout_ms,
             "milliseconds"),
    /* at least one largest image (10 MiB), at most 1 TiB */
    {"UPLOAD_QUOTA_BYTES", "1073741824", config_set_llong, 10485760, 1099511627776L,
     CFG(upload_quota_bytes), 0, "bytes"},
    CFG_LONG("UPLOAD_QUOTA_FILES", "2000", 1, 1000000, upload_quota_files, "a count"),
    {"WECHAT_APPID", NULL, config_set_appid, 0, 0, CFG(wechat_appid), 0, CONFIG_APPID_WHAT},
    CFG_STR("WECHAT_SECRET", wechat_secret),
    CFG_STR("WECHAT_TOKEN", wechat_token),
    {"WECHAT_AES_KEY", NULL, config_set_key, 43, 43, CFG(wechat_aes_key), 0,
     "the EncodingAESKey has exactly 43 characters"},
    {"WECHAT_MSG_MODE", NULL, config_set_msg_mode, 0, 0, CFG(wechat_msg_mode), 0, NULL},
    {"WECHAT_MP_APPID", NULL, config_set_mp_appid, 0, 0, CFG(wechat_mp_appid), 0,
     CONFIG_APPID_WHAT},
    CFG_STR("WECHAT_MP_SECRET", wechat_mp_secret),
    {"WECHAT_MP_TOKEN", NULL, config_set_mp_token, 0, 0, CFG(wechat_mp_token), 0, NULL},
    {"WECHAT_MP_AES_KEY", NULL, config_set_key, 43, 43, CFG(wechat_mp_aes_key), 0,
     "the mini program's EncodingAESKey has exactly 43 characters"},
    CFG_STR("WXPAY_MCHID", wxpay_mchid),
    CFG_STR("WXPAY_SERIAL", wxpay_serial),
    CFG_STR("WXPAY_PRIVATE_KEY_FILE", wxpay_private_key_file),
    {"WXPAY_APIV3_KEY", NULL, config_set_key, 32, 32, CFG(wxpay_apiv3_key), 0,
     "the APIv3 key has exactly 32 bytes"},
    CFG_STR("WXPAY_PUBLIC_KEY_FILE", wxpay_public_key_file),
    CFG_STR("WXPAY_PUBLIC_KEY_ID", wxpay_public_key_id),
    {"WXPAY_NOTIFY_URL", NULL, config_set_notify, 0, 0, CFG(wxpay_notify_url), 0, NULL},
    {"WXPAY_REFUND_NOTIFY_URL", NULL, config_set_refund_notify, 0, 0, CFG(wxpay_refund_notify_url),
     0, NULL},
    CFG_STR("WXPAY_PLATFORM_CERT_FILE", wxpay_platform_cert_file),
    CFG_URL("WECHAT_API_BASE", "https://api.weixin.qq.com", wechat_api_base),
    CFG_URL("WECHAT_OPEN_BASE", "https://open.weixin.qq.com", wechat_open_base),
    CFG_URL("WXPAY_API_BASE", "https://api.mch.weixin.qq.com", wxpay_api_base),
    /* where QR code images are shown (showqrcode?ticket=) */
    CFG_URL("WECHAT_MP_BASE", "https://mp.weixin.qq.com", wechat_mp_base),
    {"WECHAT_CLOUD_ENV", NULL, config_set_cloud_env, 0, 0, CFG(wechat_cloud_env), 0,
     "must be a cloud environment id (1-64 letters, digits, '-' or '_')"},
    CFG_URL("CLOUD_STORAGE_URL_PREFIX", NULL, cloud_storage_url_prefix),
    {"METRICS_FILE", "/run/aiphoto/metrics", config_set_path, 0, 0, CFG(metrics_file), 0, NULL},
    {"METRICS_ENABLED", "1", config_set_bool, 0, 0, CFG(metrics_enabled), 0, "0 or 1"},
    {"METRICS_ALLOW", "127.0.0.1,::1", config_set_str, 0, 0, CFG(metrics_allow), 0, NULL},
    {"DISPATCH_METRICS_FILE", NULL, config_set_path, 0, 0, CFG(dispatch_metrics_file), 0, NULL},
    CFG_LONG("DISPATCH_CONCURRENCY", "8", 1, 256, dispatch_concurrency, "a count"),
    CFG_LONG("DISPATCH_BUDGET_SECONDS", "50", 1, 3600, dispatch_budget_s, "seconds"),
    CFG_LONG("DISPATCH_LEASE_SECONDS", "120", 2, 86400, dispatch_lease_s, "seconds"),
    CFG_LONG("DISPATCH_RETRY_BASE_MS", "5000", 10, 3600000, dispatch_retry_base_ms, "milliseconds"),
    CFG_LONG("DISPATCH_MAX_WAIT_SECONDS", "600", 1, 86400, dispatch_max_wait_s, "seconds"),
    CFG_LONG("DISPATCH_RECONCILE_AFTER_SECONDS", "300", 0, 86400, dispatch_reconcile_after_s,
             "seconds"),
    CFG_LONG("DISPATCH_MAX_RESULT_BYTES", "10485760", 1024, IMAGE_MAX_BYTES,
             dispatch_max_result_bytes, "bytes"),
    CFG_LONG("DISPATCH_MAX_INPUT_BYTES", "33554432", 1024, 100L * 1024 * 1024,
             dispatch_max_input_bytes, "bytes"),
    CFG_LONG("DISPATCH_CLOUD_FETCH_BATCH", "50", 0, 500, dispatch_cloud_fetch_batch, "a count"),
};

int config_load(unsigned need, char *err, size_t errlen)
{
	struct config_load_ctx x = {
	    .c = &config_current, .need = need, .err = err, .errlen = errlen};

	memset(x.c, 0, sizeof(*x.c));
	err[0] = '\0';
	for (size_t i = 0; i < sizeof(config_vars) / sizeof(config_vars[0]); i++) {
		const struct config_var *v = &config_vars[i];
		const char *s = getenv(v->name);

		if (s == NULL || s[0] == '\0')
			s = v->dflt;
		if (s == NULL && (need & v->need))
			return config_fail(v, &x, "missing (%s)", v->what);
		if (v->parse(v, s, &x) < 0)
			return -1;
	}
	return 0;
}
