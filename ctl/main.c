/*
 * aiphotoctl — the operator's command.
 *
 *   aiphotoctl migrate [--dir DIR]            apply migrations/NNNN_name.sql in order
 *   aiphotoctl seed FILE                       run an SQL file in one transaction (demo data)
 *   aiphotoctl user add [--nickname N] [--credits N]   create a user; prints its id
 *   aiphotoctl token --user ID [--admin | --channel oa|mp|web] [--ttl S]
 *                                              print a signed token (a user token is for
 *                                              the channel's configured app; default oa;
 *                                              --admin: for the admin of that id, with
 *                                              their role and session)
 *   aiphotoctl admin add USERNAME [--role R]   create an admin (default viewer); the password
 *                                              is read from stdin
 *   aiphotoctl admin role|disable|enable|password USERNAME …, admin list
 *                                              change or list admins (ctl/admin.h); audited
 *   aiphotoctl audit                           users whose balance ≠ their ledger sum, or < 0
 *   aiphotoctl reconcile-orders [--older-than S] [--expire-after S] [--limit N]
 *                                              settle or close orders still unpaid after S s
 *                                              (N per run, least recently queried first)
 *   aiphotoctl reconcile-refunds [--older-than S] [--limit N]
 *                                              ask WeChat Pay again about refunds still
 *                                              processing after S s (default 60)
 *   aiphotoctl wechat template OPENID TEMPLATE_ID DATA_JSON [URL]
 *                                              send a template message (checks the OA setup)
 *   aiphotoctl wechat menu [--print]           create the Official Account's menu of the H5
 *                                              pages (ctl/menu.h); --print only shows it
 *   aiphotoctl cache invalidate                drop the cached scene lists (after editing scenes)
 *   aiphotoctl gray show | gray set OPTION…    the mini program's gray release (ctl/gray.h)
 *   aiphotoctl import users|works|scenes|orders FILE
 *                                              import a WeChat cloud database export (JSON lines)
 *   aiphotoctl export users|works|orders [--since TIME]
 *                                              write them back in that format (ctl/legacy.h)
 *   aiphotoctl backup [--dir DIR] [--keep N] [--with-media], backup --verify PATH
 *                                              pg_dump + media manifest, retention (ctl/backup.h)
 *   aiphotoctl restore PATH [--clean]          a backup into an empty database (ctl/backup.h)
 *   aiphotoctl routes                          the API's routes: method, path, auth, least role
 *   aiphotoctl check-config                    validate the environment (DESIGN §8)
 *   aiphotoctl metrics                         worker counters + dispatcher textfile (Prometheus)
 *
 * Reads the same environment as the worker.  Exit status: 0 success, 1 failure,
 * 2 usage or configuration error (import: 3 when some documents were not applied).
 */
#include <dirent.h>
#include <json-c/json.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/admin.h"
#include "ctl/backup.h"
#include "ctl/cache.h"
#include "fcgi/router.h"
#include "ctl/gray.h"
#include "ctl/legacy.h"
#include "ctl/media.h"
#include "ctl/menu.h"
#include "service/reconcile.h"
#include "lib/arena.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/db.h"
#include "lib/httpc.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/redis.h"
#include "lib/token.h"
#include "lib/wechat/wxapi.h"
#include "lib/wechat/wxpayapi.h"
#include "lib/xalloc.h"
#include "model/admins.h"
#include "model/credits.h"
#include "model/ledger.h"
#include "model/migrations.h"
#include "model/orders.h"
#include "model/refunds.h"
#include "model/users.h"

static struct arena ctl_arena;

/* check-config's report of WeChat Pay: the merchant, which app pays with which appid, and a
 * warning for each app that cannot pay (docs/payments.md §4).  Nothing at all when no
 * WXPAY_MCHID is set (payments are off). */
static void ctl_check_config_pay(const struct config *c)
{
	static const char *const names[] = {"WXPAY_SERIAL", "WXPAY_PRIVATE_KEY_FILE",
	                                    "WXPAY_APIV3_KEY", "WXPAY_PUBLIC_KEY_FILE",
	                                    "WXPAY_PUBLIC_KEY_ID"};
	const char *const values[] = {c->wxpay_serial, c->wxpay_private_key_file,
	                              c->wxpay_apiv3_key, c->wxpay_public_key_file,
	                              c->wxpay_public_key_id};

	if (c->wxpay_mchid == NULL) {
		printf("WeChat Pay: off (WXPAY_MCHID is not set)\n");
		return;
	}
	printf(
	    "WeChat Pay: merchant %s, bound to both apps (商户平台 → 产品中心 → AppID账号管理)\n",
	    c->wxpay_mchid);
	printf("  Official Account pages (getBrandWCPayRequest): appid %s\n",
	       c->wechat_appid ? c->wechat_appid : "none");
	printf("  mini program (wx.requestPayment): appid %s\n",
	       c->wechat_mp_appid ? c->wechat_mp_appid : "none");
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (values[i] == NULL)
			printf("warning: %s is not set: create-order and the notify answer 503\n",
			       names[i]);
	if (c->wechat_appid == NULL)
		printf("warning: WECHAT_APPID is not set: Official Account pages cannot pay\n");
	if (c->wechat_mp_appid == NULL)
		printf("warning: WECHAT_MP_APPID is not set: mini-program users cannot pay "
		       "(create-order with a mini-program token answers 503)\n");
	else if (c->wechat_mp_secret == NULL)
		printf("warning: WECHAT_MP_SECRET is not set: the mini program cannot sign in, so "
		       "its users cannot pay\n");
}

/* check-config's report: what the callback will accept, said plainly. */
/* Where media go (docs/storage.md); never the secret. */
static void ctl_check_config_media(const struct config *c)
{
	if (c->media_backend == CONFIG_MEDIA_LOCAL) {
		printf("Media store: local, MEDIA_DIR=%s, served by lighttpd under /media/\n",
		       c->media_dir);
		return;
	}
	printf("Media store: s3, bucket %s at %s (%s style, region %s, key id %s)\n", c->s3_bucket,
	       c->s3_endpoint, c->s3_path_style ? "path" : "virtual-host", c->s3_region,
	       c->s3_access_key_id);
	if (c->media_cdn_base != NULL)
		printf("Media public URLs: %s/<key>\n", c->media_cdn_base);
	else
		printf(
		    "warning: MEDIA_CDN_BASE is not set: public media URLs are the bucket's own, "
		    "which must allow public reads\n");
	if (strncmp(c->s3_endpoint, "https://", 8) != 0 && !c->development)
		printf("warning: S3_ENDPOINT is not https://: refused in production\n");
}

static void ctl_check_config_report(const struct config *c)
{
	static const char *const meaning[] = {
	    [CONFIG_MSG_SAFE] = "only encrypted messages (encrypt_type=aes, msg_signature, "
	                        "Encrypt) are accepted; plain ones are refused with 403",
	    [CONFIG_MSG_COMPAT] = "encrypted and plain messages are accepted; the plain "
	                          "signature does not cover the body: prefer safe",
	    [CONFIG_MSG_PLAIN] = "plain messages are accepted; their signature does not cover "
	                         "the body: set WECHAT_AES_KEY and use safe mode in production",
	};

	printf("Official Account callback: WECHAT_MSG_MODE=%s: %s\n",
	       config_msg_mode_name(c->wechat_msg_mode), meaning[c->wechat_msg_mode]);
	if (c->wechat_msg_mode != CONFIG_MSG_SAFE && !c->development)
		printf("warning: WECHAT_MSG_MODE is not safe in production\n");
	if (c->wechat_mp_token == NULL)
		printf("Mini-program push: WECHAT_MP_TOKEN is not set: its pushes (the verdicts of "
		       "image content checks) are refused with 403\n");
	else
		printf("Mini-program push: accepted at the same callback URL (JSON), %s\n",
		       c->wechat_mp_aes_key ? "plain or safe mode (WECHAT_MP_AES_KEY)"
		                            : "plain mode only (no WECHAT_MP_AES_KEY)");
	ctl_check_config_pay(c);
	ctl_check_config_media(c);
	printf("configuration ok\n");
}

static int ctl_usage(void);

static int ctl_config(unsigned need)
{
	char err[256];

	if (config_load(need, err, sizeof(err)) < 0) {
		fprintf(stderr, "aiphotoctl: configuration error: %s\n", err);
		return -1;
	}
	log_init("aiphotoctl", LOG_WARN);
	if (need & CONFIG_NEED_DB)
		db_init(config_get()->database_url, 600000, "aiphotoctl");
	return 0;
}

/* Reads a whole file into a malloc'd NUL-terminated buffer with CRLF folded to LF. */
static char *ctl_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, j = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (!(buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n'))
			buf[j++] = buf[i];
	buf[j] = '\0';
	*len = j;
	return buf;
}

/* Opens a transaction and runs the SQL script in it (left open for the caller to commit).
 * On failure err always says why: the server's message, or that no transaction began. */
static enum api_err ctl_begin_script(const char *text, char *err, size_t errlen)
{
	enum api_err e = db_begin();

	if (e != E_OK)
		snprintf(err, errlen, "cannot begin a transaction (%s)", api_err_code(e));
	else
		e = db_exec_script(text, err, errlen);
	return e;
}

struct ctl_migration {
	long version;
	char name[256];
};

static int ctl_migration_cmp(const void *a, const void *b)
{
	const struct ctl_migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

/* NNNN_[a-z0-9_]+.sql → version, or -1 for any other name. */
static long ctl_migration_version(const char *name)
{
	size_t n = strlen(name), i;
	long v = 0;

	if (n < 10 || strcmp(name + n - 4, ".sql") != 0)
		return -1;
	for (i = 0; i < 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	if (name[4] != '_')
		return -1;
	for (i = 5; i < n - 4; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return -1;
	return v;
}

/* The migration files of dir (NNNN_name.sql) into files, sorted by version.  0, or 1 after
 * saying why: dir unreadable, more than max files, two files with one version. */
static int ctl_migration_files(const char *dir, struct ctl_migration *files, size_t max, size_t *n)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 1;

	*n = 0;
	if (d == NULL) {
		fprintf(stderr, "aiphotoctl migrate: cannot open %s: %s\n", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		long v = ctl_migration_version(de->d_name);
		if (v < 0)
			continue;
		if (*n == max) {
			fprintf(stderr, "aiphotoctl migrate: too many migration files\n");
			goto out;
		}
		files[*n].version = v;
		snprintf(files[*n].name, sizeof(files[*n].name), "%s", de->d_name);
		(*n)++;
	}
	qsort(files, *n, sizeof(files[0]), ctl_migration_cmp);
	for (size_t i = 1; i < *n; i++) {
		if (files[i].version == files[i - 1].version) {
			fprintf(stderr,
			        "aiphotoctl migrate: two files with version %04ld: %s, %s\n",
			        files[i].version, files[i - 1].name, files[i].name);
			goto out;
		}
	}
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	return rc;
}

/* The text of dir/f (malloc'd, CRLF folded) and its SHA-256 in sum; NULL after saying so. */
static char *ctl_migration_read(const char *dir, const struct ctl_migration *f, size_t *len,
                                char sum[65])
{
	char path[1024];
	char *text;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	text = ctl_read_file(path, len);
	if (text == NULL)
		fprintf(stderr, "aiphotoctl migrate: cannot read %s\n", path);
	else
		crypto_sha256_hex(text, *len, sum);
	return text;
}

/* The file of version v among files, or NULL. */
static const struct ctl_migration *ctl_migration_find(const struct ctl_migration *files,
                                                      size_t nfiles, long v)
{
	for (size_t i = 0; i < nfiles; i++)
		if (files[i].version == v)
			return &files[i];
	return NULL;
}

/* 0 when every applied migration still has its file, unchanged; else 1 after saying which. */
static int ctl_migration_check(const char *dir, const struct ctl_migration *files, size_t nfiles,
                               const struct migration_row *applied, size_t napplied)
{
	for (size_t a = 0; a < napplied; a++) {
		const struct ctl_migration *f =
		    ctl_migration_find(files, nfiles, applied[a].version);
		char sum[65];
		size_t len;
		char *text;

		if (f == NULL) {
			fprintf(
			    stderr,
			    "aiphotoctl migrate: applied migration %04ld (%s) has no file in %s\n",
			    applied[a].version, applied[a].name, dir);
			return 1;
		}
		if ((text = ctl_migration_read(dir, f, &len, sum)) == NULL)
			return 1;
		free(text);
		if (strcmp(sum, applied[a].checksum) != 0) {
			fprintf(
			    stderr,
			    "aiphotoctl migrate: %s was edited after it was applied (checksum %s, "
			    "recorded %s); add a new migration instead\n",
			    f->name, sum, applied[a].checksum);
			return 1;
		}
	}
	return 0;
}

/* Applies one migration in its own transaction with its schema_migrations row.  0, or 1
 * after rolling back and saying why. */
static int ctl_migration_apply(const char *dir, const struct ctl_migration *f)
{
	char sum[65], err[1024];
	struct timespec t0, t1;
	size_t len;
	char *text = ctl_migration_read(dir, f, &len, sum);
	int rc = 1;

	if (text == NULL)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (ctl_begin_script(text, err, sizeof(err)) != E_OK) {
		fprintf(stderr, "aiphotoctl migrate: %s failed, rolled back: %s\n", f->name, err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (migrations_record(&ctl_arena, f->version, f->name, sum,
	                      (t1.tv_sec - t0.tv_sec) * 1000 +
	                          (t1.tv_nsec - t0.tv_nsec) / 1000000) != E_OK ||
	    db_commit() != E_OK) {
		fprintf(stderr, "aiphotoctl migrate: %s: could not record it, rolled back\n",
		        f->name);
		goto out;
	}
	printf("applied %s\n", f->name);
	rc = 0;
out:
	if (rc != 0)
		db_rollback();
	free(text);
	return rc;
}

/*
 * Applies pending migrations in version order, each in its own transaction with its
 * schema_migrations row; refuses to run when an applied file is missing or was edited.
 * Exit status: 0 done (or nothing to do), 1 refused or failed.
 */
static int ctl_migrate(int argc, char **argv)
{
	const char *dir = "migrations";
	struct ctl_migration files[512];
	struct migration_row *applied = NULL;
	size_t nfiles = 0, napplied = 0, done = 0;
	bool locked = false;
	int rc = 1;

	if (argc == 2 && strcmp(argv[0], "--dir") == 0)
		dir = argv[1];
	else if (argc != 0)
		return ctl_usage();
	if (ctl_migration_files(dir, files, ARRAY_LEN(files), &nfiles) != 0)
		goto out;
	if (migrations_setup() != E_OK) {
		fprintf(
		    stderr,
		    "aiphotoctl migrate: cannot reach the database or create schema_migrations\n");
		goto out;
	}
	locked = true;
	if (migrations_applied(&ctl_arena, &applied, &napplied) != E_OK) {
		fprintf(stderr, "aiphotoctl migrate: cannot read schema_migrations\n");
		goto out;
	}
	if (ctl_migration_check(dir, files, nfiles, applied, napplied) != 0)
		goto out;
	for (size_t i = 0; i < nfiles; i++) {
		bool is_applied = false;

		for (size_t a = 0; a < napplied; a++)
			if (applied[a].version == files[i].version)
				is_applied = true;
		if (is_applied)
			continue;
		if (ctl_migration_apply(dir, &files[i]) != 0)
			goto out;
		done++;
	}
	if (done == 0)
		printf("schema up to date (%zu migrations)\n", napplied);
	rc = 0;
out:
	if (locked)
		migrations_unlock();
	return rc;
}

/* argc is 1 (the command table). */
static int ctl_seed(int argc, char **argv)
{
	const char *path = argv[0];
	char err[1024];
	size_t len;
	char *text = ctl_read_file(path, &len);
	enum api_err e;

	(void)argc;
	if (text == NULL) {
		fprintf(stderr, "aiphotoctl seed: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	if ((e = ctl_begin_script(text, err, sizeof(err))) == E_OK && (e = db_commit()) != E_OK)
		snprintf(err, sizeof(err), "the commit failed (%s)", api_err_code(e));
	if (e != E_OK) {
		fprintf(stderr, "aiphotoctl seed: %s failed, rolled back: %s\n", path, err);
		db_rollback();
		free(text);
		return 1;
	}
	free(text);
	printf("seeded %s\n", path);
	ctl_cache_after_change("aiphotoctl seed");
	return 0;
}

static int ctl_user_add(int argc, char **argv)
{
	const char *nickname = "";
	long credits = 0;
	int64_t id = 0, balance = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--nickname") == 0 && i + 1 < argc)
			nickname = argv[++i];
		else if (strcmp(argv[i], "--credits") == 0 && i + 1 < argc) {
			if (config_parse_long(argv[++i], 0, 100000000, &credits) < 0) {
				fprintf(stderr,
				        "aiphotoctl user add: --credits must be 0..100000000\n");
				return 2;
			}
		} else
			return ctl_usage();
	}
	if (db_begin() != E_OK || users_create(&ctl_arena, nickname, &id) != E_OK)
		goto fail;
	if (credits > 0) {
		const char *key = arena_printf(&ctl_arena, "admin:ctl-grant:%lld", (long long)id);
		if (ledger_apply(&ctl_arena, id, credits, "admin", "aiphotoctl", "initial credits",
		                 key, &balance) != E_OK)
			goto fail;
	}
	if (db_commit() != E_OK)
		goto fail;
	printf("%lld\n", (long long)id);
	return 0;
fail:
	db_rollback();
	fprintf(stderr, "aiphotoctl user add: failed (is the database up and migrated?)\n");
	return 1;
}

/* `aiphotoctl admin …` (ctl/admin.h). */
static int ctl_admin_cmd(int argc, char **argv)
{
	return ctl_admin(&ctl_arena, argc, argv);
}

/* Sends one template message through the shared access token (Redis) and WeChat's API. */
static int ctl_wechat_template(int argc, char **argv)
{
	const char *openid = argv[0], *template_id = argv[1], *data = argv[2];
	const char *url = argc == 4 ? argv[3] : NULL;
	json_object *parsed = json_tokener_parse(data);
	const struct wxapi_message m = {
	    .touser = openid, .template_id = template_id, .page = url, .data_json = data};
	long errcode = 0;
	enum api_err err;

	if (parsed == NULL || !json_object_is_type(parsed, json_type_object)) {
		json_object_put(parsed);
		fprintf(stderr, "aiphotoctl wechat template: DATA_JSON must be a JSON object\n");
		return 2;
	}
	json_object_put(parsed);
	if (redis_init(config_get()->redis_url) < 0) {
		fprintf(stderr, "aiphotoctl wechat template: REDIS_URL cannot be used\n");
		return 2;
	}
	err = wxapi_template_send(&ctl_arena, &m, &errcode);
	redis_fini();
	httpc_fini();
	if (err != E_OK || errcode != 0) {
		if (err != E_OK)
			fprintf(stderr, "aiphotoctl wechat template: failed (%s)\n",
			        api_err_code(err));
		else
			fprintf(stderr, "aiphotoctl wechat template: refused (errcode %ld)\n",
			        errcode);
		return 1;
	}
	printf("sent\n");
	return 0;
}

/* Exit 0 when every balance equals its ledger sum and none is negative, and every refund its
 * refund_order rows (model/refunds.h refunds_audit); else a report. */
static int ctl_audit(int argc, char **argv)
{
	struct audit_row *rows;
	char **refunds;
	size_t n, nr;

	(void)argc;
	(void)argv;
	if (credits_audit(&ctl_arena, &rows, &n) != E_OK ||
	    refunds_audit(&ctl_arena, &refunds, &nr) != E_OK) {
		fprintf(stderr, "aiphotoctl audit: cannot read the database\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		printf("user %lld: balance %lld, ledger sum %lld%s\n", (long long)rows[i].user_id,
		       (long long)rows[i].credits, (long long)rows[i].ledger_sum,
		       rows[i].credits < 0 ? " (negative)" : "");
	for (size_t i = 0; i < nr; i++)
		printf("%s\n", refunds[i]);
	if (n + nr == 0)
		printf("audit: every balance equals its ledger\n");
	return n + nr == 0 ? 0 : 1;
}

/*
 * Orders still `created` after older_than seconds are queried at WeChat Pay and settled
 * through the same guarded path as the notify; those unpaid after expire_after seconds are
 * closed there and here.  Exit 0 when every order was handled.
 */
/* The options of the reconcile commands: --older-than, --expire-after (when expire is not
 * NULL), --limit; -1 (after the usage) for anything else. */
static int ctl_reconcile_args(int argc, char **argv, long *older, long *expire, long *limit)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc) {
			if (config_parse_long(argv[++i], 0, 86400 * 30, older) < 0)
				return ctl_usage();
		} else if (expire != NULL && strcmp(argv[i], "--expire-after") == 0 &&
		           i + 1 < argc) {
			if (config_parse_long(argv[++i], 60, 86400 * 30, expire) < 0)
				return ctl_usage();
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (config_parse_long(argv[++i], 1, 100000, limit) < 0)
				return ctl_usage();
		} else {
			return ctl_usage();
		}
	}
	return 0;
}

static int ctl_reconcile(int argc, char **argv)
{
	const struct config *c = config_get();
	long older = 300, expire = 7200, limit = RECONCILE_BATCH;
	struct reconcile_stats st;
	int rc;

	if ((rc = ctl_reconcile_args(argc, argv, &older, &expire, &limit)) != 0)
		return rc;
	if (redis_init(c->redis_url) < 0)
		return 2;
	rc = reconcile_orders(&ctl_arena, older, expire, (int)limit, &st);
	printf("reconcile: %zu checked, %zu settled, %zu closed, %zu still waiting, %zu failed\n",
	       st.checked, st.settled, st.closed, st.waiting, st.failed);
	redis_fini();
	httpc_fini();
	return rc == 0 ? 0 : 1;
}

/* aiphotoctl reconcile-refunds: refunds WeChat Pay has not confirmed yet, asked about again
 * (service/reconcile.h reconcile_refunds). */
static int ctl_reconcile_refunds(int argc, char **argv)
{
	const struct config *c = config_get();
	long older = 60, limit = RECONCILE_BATCH;
	struct reconcile_refund_stats st;
	int rc;

	if ((rc = ctl_reconcile_args(argc, argv, &older, NULL, &limit)) != 0)
		return rc;
	if (redis_init(c->redis_url) < 0)
		return 2;
	rc = reconcile_refunds(&ctl_arena, older, (int)limit, &st);
	printf("reconcile refunds: %zu checked, %zu succeeded, %zu closed, %zu abnormal, %zu still "
	       "processing, %zu failed\n",
	       st.checked, st.succeeded, st.closed, st.abnormal, st.waiting, st.failed);
	redis_fini();
	httpc_fini();
	return rc == 0 ? 0 : 1;
}

/* The role of the active admin id (ROLE_NONE after saying why) and its session version: an
 * admin token carries both. */
static enum role ctl_token_role(long id, long *session)
{
	const struct config *cfg = config_get();
	struct admin ad;

	if (cfg->database_url == NULL) {
		fprintf(stderr,
		        "aiphotoctl token --admin: DATABASE_URL is needed (the admin's role)\n");
		return ROLE_NONE;
	}
	db_init(cfg->database_url, 600000, "aiphotoctl");
	if (admins_get_id(&ctl_arena, id, &ad) != E_OK || ad.disabled) {
		fprintf(stderr, "aiphotoctl token --admin: no active admin has id %ld\n", id);
		return ROLE_NONE;
	}
	*session = ad.session_version;
	return ad.role;
}

static int ctl_token(int argc, char **argv)
{
	const struct config *cfg = config_get();
	long user = 0, ttl = 0, session = 0;
	bool admin = false;
	enum role role = ROLE_NONE;
	enum token_channel channel = TOKEN_CHANNEL_NONE;
	char *tok;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
			if (config_parse_long(argv[++i], 1, 9007199254740991L, &user) < 0) {
				fprintf(stderr, "aiphotoctl token: --user must be a positive id\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
			if (config_parse_long(argv[++i], 1, 90L * 86400, &ttl) < 0) {
				fprintf(stderr,
				        "aiphotoctl token: --ttl must be 1..7776000 seconds\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--admin") == 0) {
			admin = true;
		} else if (strcmp(argv[i], "--channel") == 0 && i + 1 < argc) {
			if ((channel = token_channel_parse(argv[++i])) == TOKEN_CHANNEL_NONE) {
				fprintf(stderr,
				        "aiphotoctl token: --channel must be oa, mp or web\n");
				return 2;
			}
		} else
			return ctl_usage();
	}
	if (user == 0 || (admin && channel != TOKEN_CHANNEL_NONE))
		return ctl_usage();
	if (admin && (role = ctl_token_role(user, &session)) == ROLE_NONE)
		return 1;
	if (ttl == 0)
		ttl = admin ? cfg->admin_token_hours * 3600 : cfg->jwt_ttl;
	if (!admin && channel == TOKEN_CHANNEL_NONE)
		channel = TOKEN_CHANNEL_OA;
	/* the app's appid when it is configured; without it the token names none, and the
	 * service takes the channel's configured app */
	tok = admin
	          ? token_issue_admin(cfg->jwt_secret, cfg->jwt_secret_len, cfg->jwt_issuer, user,
	                              role, session, ttl, time(NULL))
	          : token_issue_user(cfg->jwt_secret, cfg->jwt_secret_len, cfg->jwt_issuer, user,
	                             channel, config_channel_appid(cfg, channel), ttl, time(NULL));
	if (tok == NULL) {
		fprintf(stderr, "aiphotoctl token: could not sign a token\n");
		return 1;
	}
	printf("%s\n", tok);
	free(tok);
	return 0;
}

/* One line per route of the service, tab-separated: method, path (with its prefix), auth level
 * and, for admin routes, the least role they take. */
static int ctl_routes(int argc, char **argv)
{
	static const char *const auth[] = {[AUTH_PUBLIC] = "public",
	                                   [AUTH_OPTIONAL] = "optional",
	                                   [AUTH_USER] = "user",
	                                   [AUTH_ADMIN] = "admin",
	                                   [AUTH_SIGNED] = "signed"};

	(void)argc;
	(void)argv;
	for (size_t t = 0; t < router_ntables; t++)
		for (size_t i = 0; i < router_tables[t]->n; i++) {
			const struct route *r = &router_tables[t]->routes[i];
			printf("%s\t%s%s\t%s\t%s\n", http_method_name(r->method),
			       r->prefix == ROUTE_CLOUD ? ROUTER_CLOUD_PREFIX : ROUTER_PREFIX,
			       r->pattern, auth[r->auth],
			       r->auth == AUTH_ADMIN ? role_name(r->role ? r->role : ROLE_OWNER)
			                             : "-");
		}
	return 0;
}

/* check-config: loads the whole configuration itself (a refusal is exit status 1, not 2). */
static int ctl_check_config(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (ctl_config(CONFIG_NEED_ALL) < 0)
		return 1;
	ctl_check_config_report(config_get());
	return 0;
}

/*
 * The commands.  A command is argv[1], then sub (when set) as argv[2]; run gets the words
 * after them, which must number min_args..max_args (-1: any, run checks them).  need is
 * what ctl_config loads first (exit status 2 when refused); 0 = run loads it itself.
 * usage is the command's line in ctl_usage, in this order.
 */
struct ctl_command {
	const char *name, *sub;
	int min_args, max_args;
	unsigned need;
	int (*run)(int argc, char **argv);
	const char *usage;
};

/*
 * metrics: what GET /metrics says of the workers' shared counters (METRICS_FILE, mapped
 * read-only: works while the API is down, not needing a token) followed by the dispatcher's
 * textfile (DISPATCH_METRICS_FILE), in the Prometheus text format.  1 when neither exists.
 */
static int ctl_metrics(int argc, char **argv)
{
	const struct config *cfg;
	struct metrics_buf b = {0};
	char err[256], buf[8192];
	size_t n;
	bool any = false;
	FILE *f;

	(void)argc;
	(void)argv;
	if (config_load(0, err, sizeof(err)) < 0) {
		fprintf(stderr, "aiphotoctl: configuration error: %s\n", err);
		return 2;
	}
	cfg = config_get();
	if (metrics_open(cfg->metrics_file) == 0) {
		metrics_render(&b);
		fwrite(b.p, 1, b.len, stdout);
		free(b.p);
		any = true;
	} else {
		fprintf(stderr, "aiphotoctl: %s: %s (are the workers running?)\n",
		        cfg->metrics_file, strerror(errno));
	}
	if (cfg->dispatch_metrics_file != NULL &&
	    (f = fopen(cfg->dispatch_metrics_file, "re")) != NULL) {
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, stdout);
		fclose(f);
		any = true;
	}
	return any ? 0 : 1;
}

static const struct ctl_command ctl_commands[] = {
    {.name = "migrate",
     .max_args = 2,
     .need = CONFIG_NEED_DB,
     .run = ctl_migrate,
     .usage = "migrate [--dir DIR]"},
    {.name = "seed",
     .min_args = 1,
     .max_args = 1,
     .need = CONFIG_NEED_DB,
     .run = ctl_seed,
     .usage = "seed FILE"},
    {.name = "user",
     .sub = "add",
     .max_args = -1,
     .need = CONFIG_NEED_DB,
     .run = ctl_user_add,
     .usage = "user add [--nickname NAME] [--credits N]"},
    {.name = "token",
     .max_args = -1,
     .need = CONFIG_NEED_JWT,
     .run = ctl_token,
     .usage = "token --user ID [--admin | --channel oa|mp|web] [--ttl SECONDS]"},
    {.name = "admin",
     .min_args = 1,
     .max_args = -1,
     .need = CONFIG_NEED_DB,
     .run = ctl_admin_cmd,
     .usage = "admin add USERNAME [--role ROLE] | role USERNAME ROLE | disable USERNAME\n"
              "                                   | enable USERNAME | password USERNAME | list\n"
              "                                   (add, password: the password on standard "
              "input)"},
    {.name = "audit", .need = CONFIG_NEED_DB, .run = ctl_audit, .usage = "audit"},
    {.name = "reconcile-orders",
     .max_args = -1,
     .need = CONFIG_NEED_ALL,
     .run = ctl_reconcile,
     .usage = "reconcile-orders [--older-than SECONDS] [--expire-after SECONDS]\n"
              "                                   [--limit N]"},
    {.name = "reconcile-refunds",
     .max_args = -1,
     .need = CONFIG_NEED_ALL,
     .run = ctl_reconcile_refunds,
     .usage = "reconcile-refunds [--older-than SECONDS] [--limit N]"},
    {.name = "wechat",
     .sub = "template",
     .min_args = 3,
     .max_args = 4,
     .need = CONFIG_NEED_ALL,
     .run = ctl_wechat_template,
     .usage = "wechat template OPENID TEMPLATE_ID DATA_JSON [URL]"},
    {.name = "wechat",
     .sub = "menu",
     .max_args = 1,
     .need = CONFIG_NEED_ALL,
     .run = ctl_wechat_menu,
     .usage = "wechat menu [--print]"},
    {.name = "cache",
     .max_args = -1,
     .need = CONFIG_NEED_REDIS,
     .run = ctl_cache,
     .usage = "cache invalidate"},
    {.name = "gray",
     .max_args = -1,
     .need = CONFIG_NEED_DB,
     .run = ctl_gray,
     .usage = "gray show | gray set [--backend cloud|server] [--percent 0-100] ...\n"
              "                                   (aiphotoctl gray set: all the options)"},
    {.name = "import",
     .min_args = 2,
     .max_args = 2,
     .need = CONFIG_NEED_DB,
     .run = ctl_legacy_import,
     .usage = "import users|works|scenes|orders FILE"},
    {.name = "export",
     .min_args = 1,
     .max_args = 3,
     .need = CONFIG_NEED_DB,
     .run = ctl_legacy_export,
     .usage = "export users|works|orders [--since TIME]"},
    {.name = "media",
     .min_args = 1,
     .max_args = 4,
     .need = CONFIG_NEED_DB,
     .run = ctl_media,
     .usage = "media thumbs   (the missing thumbnails of every stored image)\n"
              "                                   | media migrate --to s3 [--dry-run]   (copy "
              "MEDIA_DIR to the S3 bucket)"},
    {.name = "backup",
     .max_args = -1,
     .need = CONFIG_NEED_DB,
     .run = ctl_backup,
     .usage = "backup [--dir DIR] [--keep N] [--with-media] | backup --verify PATH"},
    {.name = "restore",
     .min_args = 1,
     .max_args = 2,
     .need = CONFIG_NEED_DB,
     .run = ctl_restore,
     .usage = "restore PATH [--clean]   (into an empty database; docs/backup.md)"},
    {.name = "routes", .run = ctl_routes, .usage = "routes"},
    {.name = "metrics", .run = ctl_metrics, .usage = "metrics"},
    {.name = "check-config", .run = ctl_check_config, .usage = "check-config"},
};

static int ctl_usage(void)
{
	for (size_t i = 0; i < ARRAY_LEN(ctl_commands); i++)
		fprintf(stderr, "%s aiphotoctl %s\n", i == 0 ? "usage:" : "      ",
		        ctl_commands[i].usage);
	return 2;
}

/* The command argv names with an acceptable number of words, or NULL; *skip = the words
 * its name takes (1, or 2 with a sub). */
static const struct ctl_command *ctl_command_find(int argc, char **argv, int *skip)
{
	for (size_t i = 0; i < ARRAY_LEN(ctl_commands); i++) {
		const struct ctl_command *cmd = &ctl_commands[i];
		int args;

		if (strcmp(argv[1], cmd->name) != 0)
			continue;
		/* one name may have several subcommands (wechat template, wechat menu) */
		if (cmd->sub != NULL && (argc < 3 || strcmp(argv[2], cmd->sub) != 0))
			continue;
		*skip = cmd->sub ? 2 : 1;
		args = argc - 1 - *skip;
		if (args < cmd->min_args || (cmd->max_args >= 0 && args > cmd->max_args))
			return NULL;
		return cmd;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const struct ctl_command *cmd;
	int rc, skip = 0;

	if (argc < 2 || (cmd = ctl_command_find(argc, argv, &skip)) == NULL)
		return ctl_usage();
	arena_init(&ctl_arena, 0);
	if (cmd->need != 0 && ctl_config(cmd->need) < 0)
		rc = 2;
	else
		rc = cmd->run(argc - 1 - skip, argv + 1 + skip);
	db_fini();
	arena_fini(&ctl_arena);
	return rc;
}
