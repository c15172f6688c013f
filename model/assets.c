/* assets — see assets.h. */
#include "model/assets.h"

#include <string.h>

#include "lib/db.h"
#include "model/sql.h"

enum assets_stmt {
	AS_LOCK,
	AS_USAGE,
	AS_INSERT,
	AS_GET,
	AS_OWNED,
	AS_KEYS,
	AS_CLOUD_LINK,
	AS_CLOUD_GET,
	AS_TRACE_LOCK,
	AS_CHECK_BEGIN,
	AS_CHECK_VERDICT,
	AS_CHECK_ERROR,
	AS__MAX
};

#define ASSETS_COLS                                          \
	"id, user_id, sha256, mime, storage_key, " SQL_TIME( \
	    "created_at") ", width, height, "                \
	                  "size_bytes, check_status"

static const char *const assets_sql[AS__MAX] = {
    /* one user's uploads at a time (two-key form: its own space, apart from other locks) */
    [AS_LOCK] = "SELECT pg_advisory_xact_lock(hashtext('aiphoto-uploads'), "
                "($1::bigint % 2147483647)::integer)",
    /* the asset the user already has with that hash, their usage and their quota */
    [AS_USAGE] = "SELECT (SELECT id FROM assets WHERE user_id = $1 AND sha256 = $2), "
                 "s.files, s.bytes, COALESCE(u.upload_quota_files, $3::bigint), "
                 "COALESCE(u.upload_quota_bytes, $4::bigint) FROM users u, "
                 "LATERAL (SELECT count(*) AS files, COALESCE(sum(size_bytes), 0) AS bytes "
                 "FROM assets WHERE user_id = u.id) s WHERE u.id = $1",
    /* inserts only while the quota holds (checked again here, whoever calls) */
    [AS_INSERT] = "INSERT INTO assets (user_id, sha256, mime, width, height, size_bytes, "
                  "storage_key) SELECT u.id, $2::text, $3::text, $4::integer, $5::integer, "
                  "$6::bigint, $7::text FROM users u, "
                  "LATERAL (SELECT count(*) AS files, COALESCE(sum(size_bytes), 0) AS bytes "
                  "FROM assets WHERE user_id = u.id) s WHERE u.id = $1::bigint "
                  "AND s.files + 1 <= COALESCE(u.upload_quota_files, $8::bigint) "
                  "AND s.bytes + $6::bigint <= COALESCE(u.upload_quota_bytes, $9::bigint) "
                  "ON CONFLICT (user_id, sha256) DO NOTHING RETURNING id",
    [AS_GET] = "SELECT " ASSETS_COLS " FROM assets WHERE user_id = $1 AND sha256 = $2",
    [AS_OWNED] = "SELECT count(*), count(*) FILTER (WHERE assets.check_status = 'risky'), "
                 "count(*) FILTER (WHERE assets.check_status = 'error') "
                 "FROM unnest($2::bigint[]) AS x(id) "
                 "JOIN assets ON assets.id = x.id AND assets.user_id = $1",
    [AS_KEYS] = "SELECT x.ord, assets.storage_key, assets.mime "
                "FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, ord) "
                "JOIN assets ON assets.id = x.id ORDER BY x.ord",
    /* $1 user, $2 sha256, $3 file id (migration 0010): the asset keeps the first id it was
     * registered under; the link names the asset the id stands for now */
    [AS_CLOUD_LINK] = "WITH a AS (UPDATE assets SET cloud_file_id = COALESCE(cloud_file_id, $3) "
                      "WHERE user_id = $1 AND sha256 = $2 RETURNING id) "
                      "INSERT INTO asset_cloud_files (user_id, file_id, asset_id) "
                      "SELECT $1, $3, id FROM a ON CONFLICT (user_id, file_id) "
                      "DO UPDATE SET asset_id = EXCLUDED.asset_id, created_at = now()",
    [AS_CLOUD_GET] = "SELECT " ASSETS_COLS " FROM assets WHERE id = (SELECT asset_id FROM "
                     "asset_cloud_files WHERE user_id = $1 AND file_id = $2)",
    /* one media check's verdict and its trace at a time (migration 0014) */
    [AS_TRACE_LOCK] = "SELECT pg_advisory_xact_lock(hashtext('aiphoto-media-check'), "
                      "hashtext($1))",
    /* $1 asset, $2 trace: pending, unless its verdict came first */
    [AS_CHECK_BEGIN] =
        "UPDATE assets SET check_trace_id = $2, check_status = COALESCE((SELECT "
        "COALESCE(m.suggest, 'error') FROM media_checks m WHERE m.trace_id = $2), 'pending'), "
        "check_label = (SELECT COALESCE(m.label, m.errcode::text) FROM media_checks m "
        "WHERE m.trace_id = $2), "
        "checked_at = (SELECT now() FROM media_checks m WHERE m.trace_id = $2) WHERE id = $1",
    /* $1 trace, $2 suggest (NULL: WeChat could not check), $3 label, $4 errcode: recorded
     * once; the pending asset of that trace takes it */
    [AS_CHECK_VERDICT] =
        "WITH m AS (INSERT INTO media_checks (trace_id, suggest, label, errcode) "
        "VALUES ($1::text, $2::text, $3::text, $4::bigint) ON CONFLICT (trace_id) DO NOTHING "
        "RETURNING trace_id), "
        "u AS (UPDATE assets SET check_status = COALESCE($2::text, 'error'), "
        "check_label = COALESCE($3::text, $4::bigint::text), checked_at = now() "
        "WHERE check_trace_id = $1::text "
        "AND check_status = 'pending' AND EXISTS (SELECT 1 FROM m) RETURNING id) "
        "SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM u)",
    /* $1 asset, $2 why */
    [AS_CHECK_ERROR] = "UPDATE assets SET check_status = 'error', check_label = $2, "
                       "checked_at = now() WHERE id = $1",
};

static struct db_stmts assets_stmts = DB_STMTS("assets", assets_sql);

/* One asset by (user, key) with statement st (AS_GET, AS_CLOUD_GET); E_NOT_FOUND when none. */
static enum api_err assets_get_one(struct arena *a, enum assets_stmt st, int64_t user_id,
                                   const char *key, struct asset *out)
{
	const char *p[2] = {db_param_i64(a, user_id), key};
	PGresult *res;
	enum api_err err = db_exec(&assets_stmts, st, 2, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		err = E_NOT_FOUND;
		goto out;
	}
	out->id = db_i64(res, 0, 0);
	out->user_id = db_i64(res, 0, 1);
	out->sha256 = db_str(a, res, 0, 2);
	out->mime = db_str(a, res, 0, 3);
	out->storage_key = db_str(a, res, 0, 4);
	out->created_at = db_str(a, res, 0, 5);
	out->width = db_i64(res, 0, 6);
	out->height = db_i64(res, 0, 7);
	out->size_bytes = db_i64(res, 0, 8);
	out->check_status = db_str(a, res, 0, 9);
out:
	PQclear(res);
	return err;
}

enum api_err assets_get_by_sha(struct arena *a, int64_t user_id, const char *sha256,
                               struct asset *out)
{
	return assets_get_one(a, AS_GET, user_id, sha256, out);
}

enum api_err assets_get_by_cloud(struct arena *a, int64_t user_id, const char *file_id,
                                 struct asset *out)
{
	return assets_get_one(a, AS_CLOUD_GET, user_id, file_id, out);
}

/* Runs one statement of the table; *rows gets the row count, *res the result when wanted
 * (else it is cleared here). */
static enum api_err assets_run(enum assets_stmt st, int n, const char *const *p, int *rows,
                               PGresult **res)
{
	PGresult *r;
	enum api_err err = db_exec(&assets_stmts, st, n, p, &r);

	if (err != E_OK)
		return err;
	*rows = PQntuples(r);
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return E_OK;
}

/* Inside the transaction: lock, usage and quota, the store, the conditional insert. */
static enum api_err assets_put_tx(struct arena *a, const struct asset_new *in,
                                  struct assets_usage *use, bool *created)
{
	const char *uid = db_param_i64(a, in->user_id);
	const char *files = db_param_i64(a, in->default_max_files);
	const char *bytes = db_param_i64(a, in->default_max_bytes);
	const char *lock[1] = {uid};
	const char *q[4] = {uid, in->sha256, files, bytes};
	const char *ins[9] = {uid,
	                      in->sha256,
	                      in->mime,
	                      db_param_i64(a, in->width),
	                      db_param_i64(a, in->height),
	                      db_param_i64(a, in->size_bytes),
	                      in->storage_key,
	                      files,
	                      bytes};
	PGresult *res = NULL;
	bool have;
	int rows = 0;
	enum api_err err;

	if ((err = assets_run(AS_LOCK, 1, lock, &rows, NULL)) != E_OK ||
	    (err = assets_run(AS_USAGE, 4, q, &rows, &res)) != E_OK)
		return err;
	if (rows != 1) {
		err = E_NOT_FOUND; /* no such user */
		goto out;
	}
	have = !PQgetisnull(res, 0, 0);
	use->files = db_i64(res, 0, 1);
	use->bytes = db_i64(res, 0, 2);
	use->max_files = db_i64(res, 0, 3);
	use->max_bytes = db_i64(res, 0, 4);
	if (!have &&
	    (use->files + 1 > use->max_files || use->bytes + in->size_bytes > use->max_bytes)) {
		err = E_PAYLOAD_TOO_LARGE;
		goto out;
	}
	/* the bytes are written only now: a refused upload leaves no file behind */
	if ((err = in->store(in->store_ctx)) != E_OK)
		goto out;
	if (!have) {
		if ((err = assets_run(AS_INSERT, 9, ins, &rows, NULL)) != E_OK)
			goto out;
		*created = rows == 1;
		if (!*created) {
			err =
			    E_PAYLOAD_TOO_LARGE; /* only a writer that skipped the lock gets here */
			goto out;
		}
	}
	if (in->cloud_file_id != NULL) {
		const char *link[3] = {uid, in->sha256, in->cloud_file_id};
		err = assets_run(AS_CLOUD_LINK, 3, link, &rows, NULL);
	}
out:
	PQclear(res);
	return err;
}

enum api_err assets_put(struct arena *a, const struct asset_new *in, struct asset *out,
                        bool *created, struct assets_usage *use)
{
	enum api_err err;

	*created = false;
	memset(use, 0, sizeof(*use));
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = assets_put_tx(a, in, use, created)) != E_OK || (err = db_commit()) != E_OK) {
		db_rollback();
		*created = false;
		return err;
	}
	return assets_get_by_sha(a, in->user_id, in->sha256, out);
}

enum api_err assets_owned(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                          struct assets_owned *out)
{
	const char *p[2] = {db_param_i64(a, user_id), db_param_i64_array(a, ids, n)};
	PGresult *res;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return E_OK;
	if ((err = db_exec(&assets_stmts, AS_OWNED, 2, p, &res)) != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		out->count = (size_t)db_i64(res, 0, 0);
		out->risky = (size_t)db_i64(res, 0, 1);
		out->unchecked = (size_t)db_i64(res, 0, 2);
	}
	PQclear(res);
	return E_OK;
}

enum api_err assets_keys(struct arena *a, const int64_t *ids, size_t n, const char **keys,
                         const char **mimes)
{
	const char *p[1] = {db_param_i64_array(a, ids, n)};
	PGresult *res;
	enum api_err err;
	int rows;

	if (n == 0)
		return E_OK;
	if ((err = db_exec(&assets_stmts, AS_KEYS, 1, p, &res)) != E_OK)
		return err;
	rows = PQntuples(res);
	if ((size_t)rows != n) {
		err = E_NOT_FOUND;
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		int64_t ord = db_i64(res, i, 0);

		if (ord < 1 || (size_t)ord > n) {
			err = E_INTERNAL;
			goto out;
		}
		keys[ord - 1] = db_str(a, res, i, 1);
		mimes[ord - 1] = db_str(a, res, i, 2);
	}
out:
	PQclear(res);
	return err;
}

/* Runs statement st under the advisory lock of trace, in a transaction of its own. */
static enum api_err assets_traced(struct arena *a, const char *trace, enum assets_stmt st, int n,
                                  const char *const *p, PGresult **res)
{
	const char *lp[1] = {trace};
	enum api_err err;

	(void)a;
	*res = NULL;
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = db_run(&assets_stmts, AS_TRACE_LOCK, 1, lp, NULL)) != E_OK ||
	    (err = db_exec(&assets_stmts, st, n, p, res)) != E_OK || (err = db_commit()) != E_OK) {
		PQclear(*res);
		*res = NULL;
		db_rollback();
	}
	return err;
}

enum api_err assets_check_begin(struct arena *a, int64_t asset_id, const char *trace_id)
{
	const char *p[2] = {db_param_i64(a, asset_id), trace_id};
	PGresult *res;
	enum api_err err = assets_traced(a, trace_id, AS_CHECK_BEGIN, 2, p, &res);

	PQclear(res);
	return err;
}

enum api_err assets_check_verdict(struct arena *a, const char *trace_id, const char *suggest,
                                  const char *label, long errcode, bool *fresh, int *applied)
{
	const char *p[4] = {trace_id, suggest, label, db_param_i64(a, errcode)};
	PGresult *res;
	enum api_err err = assets_traced(a, trace_id, AS_CHECK_VERDICT, 4, p, &res);

	*fresh = false;
	*applied = 0;
	if (err == E_OK && PQntuples(res) == 1) {
		*fresh = db_i64(res, 0, 0) > 0;
		*applied = (int)db_i64(res, 0, 1);
	}
	PQclear(res);
	return err;
}

enum api_err assets_check_error(struct arena *a, int64_t asset_id, const char *why)
{
	const char *p[2] = {db_param_i64(a, asset_id), why};
	return db_run(&assets_stmts, AS_CHECK_ERROR, 2, p, NULL);
}
