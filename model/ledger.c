/* ledger — see ledger.h. */
#include "model/ledger.h"

#include "lib/db.h"

enum ledger_stmt { LEDGER_APPLY, LEDGER_USER_EXISTS, LEDGER__MAX };

static const char *const ledger_sql[LEDGER__MAX] = {
    /* $1 user, $2 delta, $3 kind, $4 reference, $5 memo, $6 idempotency key */
    [LEDGER_APPLY] =
        "WITH u AS (UPDATE users SET credits = credits + $2::bigint, updated_at = now() "
        "WHERE id = $1 AND credits + $2::bigint >= 0 RETURNING id, credits) "
        "INSERT INTO credit_ledger (user_id, delta, balance_after, kind, reference, memo, "
        "idempotency_key) SELECT id, $2::bigint, credits, $3, $4, COALESCE($5, ''), $6 FROM u "
        "RETURNING balance_after, id",
    [LEDGER_USER_EXISTS] = "SELECT 1 FROM users WHERE id = $1",
};

static struct db_stmts ledger_stmts = DB_STMTS("ledger", ledger_sql);

enum api_err ledger_apply(struct arena *a, int64_t user_id, int64_t delta, const char *kind,
                          const char *reference, const char *memo, const char *idempotency_key,
                          int64_t *balance)
{
	int64_t id;

	return ledger_apply_row(a, user_id, delta, kind, reference, memo, idempotency_key, balance,
	                        &id);
}

enum api_err ledger_apply_row(struct arena *a, int64_t user_id, int64_t delta, const char *kind,
                              const char *reference, const char *memo, const char *idempotency_key,
                              int64_t *balance, int64_t *ledger_id)
{
	const char *params[6] = {
	    db_param_i64(a, user_id), db_param_i64(a, delta), kind, reference, memo,
	    idempotency_key};
	PGresult *res;
	enum api_err err;

	if (delta == 0)
		return E_BAD_REQUEST;
	err = db_exec(&ledger_stmts, LEDGER_APPLY, 6, params, &res);
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		*balance = db_i64(res, 0, 0);
		*ledger_id = db_i64(res, 0, 1);
		PQclear(res);
		return E_OK;
	}
	PQclear(res);
	/* nothing updated: no such user, or a debit larger than the balance */
	err = db_exec(&ledger_stmts, LEDGER_USER_EXISTS, 1, params, &res);
	if (err != E_OK)
		return err;
	err = PQntuples(res) == 1 ? E_INSUFFICIENT_CREDITS : E_NOT_FOUND;
	PQclear(res);
	return err;
}
