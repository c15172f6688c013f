/* idempotency — see idempotency.h. */
#include "model/idempotency.h"

#include <string.h>

#include "lib/db.h"

enum idem_stmt { IDEM_CLAIM, IDEM_GET, IDEM_STORE, IDEM__MAX };

static const char *const idem_sql[IDEM__MAX] = {
    [IDEM_CLAIM] = "INSERT INTO idempotency_keys (user_id, key, route, request_hash) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
    [IDEM_GET] = "SELECT request_hash, route, response_status, response_body FROM idempotency_keys "
                 "WHERE user_id = $1 AND key = $2",
    [IDEM_STORE] = "UPDATE idempotency_keys SET response_status = $3, response_body = $4, "
                   "completed_at = now() WHERE user_id = $1 AND key = $2",
};

static struct db_stmts idem_stmts = DB_STMTS("idempotency", idem_sql);

enum api_err idempotency_begin(struct arena *a, int64_t user_id, const char *key, const char *route,
                               const char *request_hash, int *status, const char **body)
{
	const char *uid = db_param_i64(a, user_id);
	const char *claim[4] = {uid, key, route, request_hash};
	const char *get[2] = {uid, key};
	PGresult *res;
	enum api_err err;

	*status = 0;
	*body = NULL;
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = db_exec(&idem_stmts, IDEM_CLAIM, 4, claim, &res)) != E_OK)
		goto fail;
	if (PQntuples(res) == 1) {
		PQclear(res);
		return E_OK; /* ours: the transaction stays open */
	}
	PQclear(res);
	if ((err = db_exec(&idem_stmts, IDEM_GET, 2, get, &res)) != E_OK)
		goto fail;
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), request_hash) != 0 ||
	    strcmp(PQgetvalue(res, 0, 1), route) != 0 || PQgetisnull(res, 0, 2)) {
		err = E_IDEMPOTENCY_MISMATCH;
	} else {
		*status = (int)db_i64(res, 0, 2);
		*body = db_str(a, res, 0, 3);
		err = E_ALREADY_DONE;
	}
	PQclear(res);
fail:
	db_rollback();
	return err;
}

enum api_err idempotency_commit(struct arena *a, int64_t user_id, const char *key, int status,
                                const char *body)
{
	const char *p[4] = {db_param_i64(a, user_id), key, db_param_i64(a, status), body};
	PGresult *res;
	enum api_err err = db_exec(&idem_stmts, IDEM_STORE, 4, p, &res);

	PQclear(res);
	if (err == E_OK)
		err = db_commit();
	if (err != E_OK)
		db_rollback();
	return err;
}

void idempotency_abort(void)
{
	db_rollback();
}
