/* assets — see assets.h. */
#include "model/assets.h"

#include <string.h>

#include "lib/db.h"
#include "model/sql.h"

enum assets_stmt { AS_INSERT, AS_GET, AS_OWNED, AS_KEYS, AS__MAX };

#define ASSETS_COLS                                                                           \
	"id, user_id, sha256, mime, storage_key, " SQL_TIME("created_at") ", width, height, " \
	                                                                  "size_bytes"

static const char *const assets_sql[AS__MAX] = {
    [AS_INSERT] = "INSERT INTO assets (user_id, sha256, mime, width, height, size_bytes, "
                  "storage_key) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                  "ON CONFLICT (user_id, sha256) DO NOTHING RETURNING id",
    [AS_GET] = "SELECT " ASSETS_COLS " FROM assets WHERE user_id = $1 AND sha256 = $2",
    [AS_OWNED] = "SELECT count(*) FROM unnest($2::bigint[]) AS x(id) "
                 "JOIN assets ON assets.id = x.id AND assets.user_id = $1",
    [AS_KEYS] = "SELECT x.ord, assets.storage_key, assets.mime "
                "FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, ord) "
                "JOIN assets ON assets.id = x.id ORDER BY x.ord",
};

static struct db_stmts assets_stmts = DB_STMTS("assets", assets_sql);

enum api_err assets_get_by_sha(struct arena *a, int64_t user_id, const char *sha256,
                               struct asset *out)
{
	const char *p[2] = {db_param_i64(a, user_id), sha256};
	PGresult *res;
	enum api_err err = db_exec(&assets_stmts, AS_GET, 2, p, &res);

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
out:
	PQclear(res);
	return err;
}

enum api_err assets_put(struct arena *a, int64_t user_id, const char *sha256, const char *mime,
                        uint32_t width, uint32_t height, int64_t size_bytes,
                        const char *storage_key, struct asset *out, bool *created)
{
	const char *p[7] = {db_param_i64(a, user_id),
	                    sha256,
	                    mime,
	                    db_param_i64(a, width),
	                    db_param_i64(a, height),
	                    db_param_i64(a, size_bytes),
	                    storage_key};
	PGresult *res;
	enum api_err err = db_exec(&assets_stmts, AS_INSERT, 7, p, &res);

	*created = false;
	if (err != E_OK)
		return err;
	*created = PQntuples(res) == 1;
	PQclear(res);
	/* a separate statement: it sees a row a concurrent upload committed meanwhile */
	return assets_get_by_sha(a, user_id, sha256, out);
}

enum api_err assets_owned(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                          size_t *count)
{
	const char *p[2] = {db_param_i64(a, user_id), db_param_i64_array(a, ids, n)};
	PGresult *res;
	enum api_err err;

	*count = 0;
	if (n == 0)
		return E_OK;
	if ((err = db_exec(&assets_stmts, AS_OWNED, 2, p, &res)) != E_OK)
		return err;
	if (PQntuples(res) == 1)
		*count = (size_t)db_i64(res, 0, 0);
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
