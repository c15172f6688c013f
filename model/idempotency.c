/* idempotency — see idempotency.h. */
#include "model/idempotency.h"

#include <string.h>

#include "lib/db.h"

enum idem_stmt { IDEM_CLAIM, IDEM_GET, IDEM_STORE, IDEM_FINISH, IDEM__MAX };

/*
 * The statements of one key table: a user's keys (idempotency_keys, owner user_id) or an
 * admin's (admin_idempotency_keys, owner admin_id).
 * IDEM_CLAIM  $1 owner, $2 key, $3 route, $4 hash.  One row: (true, …) when the key is now
 *             ours (the caller's transaction holds it), (false, hash, outcome, resource)
 *             when it was stored before; no row when a concurrent first use committed it
 *             while we waited on the insert.
 * IDEM_STORE  $3 outcome (NULL: pending), $4 resource.
 */
#define IDEM_SQL(table, owner)                                                              \
	{                                                                                   \
		[IDEM_CLAIM] =                                                              \
		    "WITH prev AS (SELECT request_hash, outcome, resource_id FROM " table   \
		    " WHERE " owner " = $1 AND key = $2), "                                 \
		    "ins AS (INSERT INTO " table " (" owner ", key, route, request_hash) "  \
		    "SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM prev) "          \
		    "ON CONFLICT DO NOTHING RETURNING 1) "                                  \
		    "SELECT true, NULL::text, NULL::text, NULL::bigint FROM ins "           \
		    "UNION ALL SELECT false, request_hash, outcome, resource_id FROM prev", \
		[IDEM_GET] = "SELECT request_hash, outcome, resource_id FROM " table        \
		             " WHERE " owner " = $1 AND key = $2",                          \
		[IDEM_STORE] =                                                              \
		    "UPDATE " table " SET outcome = $3::text, "                             \
		    "resource_id = $4::bigint, completed_at = CASE WHEN $3::text IS NULL "  \
		    "THEN NULL ELSE now() END WHERE " owner " = $1 AND key = $2",           \
		[IDEM_FINISH] = "UPDATE " table " SET outcome = $3, completed_at = now() "  \
		                "WHERE " owner " = $1 AND key = $2 AND outcome IS NULL",    \
	}

static const char *const idem_sql[IDEM__MAX] = IDEM_SQL("idempotency_keys", "user_id");
static const char *const idem_admin_sql[IDEM__MAX] = IDEM_SQL("admin_idempotency_keys", "admin_id");

static struct db_stmts idem_stmts = DB_STMTS("idempotency", idem_sql);
static struct db_stmts idem_admin_stmts = DB_STMTS("idempotency_admin", idem_admin_sql);

/* The key's table and its owner's id as a parameter. */
static struct db_stmts *idempotency_table(struct arena *a, const struct idem_key *k,
                                          const char **owner)
{
	*owner = db_param_i64(a, k->admin_id > 0 ? k->admin_id : k->user_id);
	return k->admin_id > 0 ? &idem_admin_stmts : &idem_stmts;
}

enum api_err idempotency_decode(const struct idem_key *k, const char *hash, const char *outcome,
                                int64_t resource_id, struct idem_outcome *out)
{
	memset(out, 0, sizeof(*out));
	if (hash == NULL || strcmp(hash, k->hash) != 0)
		return E_IDEMPOTENCY_MISMATCH;
	out->replayed = true;
	out->resource_id = resource_id;
	out->pending = outcome == NULL;
	out->err = outcome == NULL ? E_OK : api_err_parse(outcome);
	/* in flight with nothing made yet cannot be answered: the client retries later */
	return out->pending && resource_id == 0 ? E_CONFLICT : E_OK;
}

/* Decodes columns col.. (hash, outcome, resource) of row 0. */
static enum api_err idempotency_row(struct arena *a, const struct idem_key *k, const PGresult *r,
                                    int col, struct idem_outcome *out)
{
	int64_t rid = PQgetisnull(r, 0, col + 2) ? 0 : db_i64(r, 0, col + 2);
	return idempotency_decode(k, db_str(a, r, 0, col), db_str(a, r, 0, col + 1), rid, out);
}

enum api_err idempotency_stored(struct arena *a, const struct idem_key *k, struct idem_outcome *out)
{
	const char *p[2] = {NULL, k->key};
	struct db_stmts *t = idempotency_table(a, k, &p[0]);
	PGresult *res;
	enum api_err err = db_exec(t, IDEM_GET, 2, p, &res);

	memset(out, 0, sizeof(*out));
	if (err != E_OK)
		return err;
	err = PQntuples(res) == 1 ? idempotency_row(a, k, res, 0, out) : E_CONFLICT;
	PQclear(res);
	return err;
}

/* Inside the open transaction: *claimed, or *out from the stored row (E_OK / mismatch). */
static enum api_err idempotency_claim(struct arena *a, const struct idem_key *k, bool *claimed,
                                      struct idem_outcome *out)
{
	const char *p[4] = {NULL, k->key, k->route, k->hash};
	struct db_stmts *t = idempotency_table(a, k, &p[0]);
	PGresult *res;
	enum api_err err = db_exec(t, IDEM_CLAIM, 4, p, &res);

	*claimed = false;
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 0) {
		PQclear(res);
		db_rollback(); /* the concurrent first use has committed: read it */
		return idempotency_stored(a, k, out);
	}
	if (db_bool(res, 0, 0))
		*claimed = true;
	else
		err = idempotency_row(a, k, res, 1, out);
	PQclear(res);
	return err;
}

enum api_err idempotency_run(struct arena *a, const struct idem_key *k, bool pending,
                             idempotency_work *work, void *ctx, struct idem_outcome *out)
{
	bool keyed = k != NULL && k->key != NULL, claimed = !keyed;
	int64_t rid = 0;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	if ((err = db_begin()) != E_OK)
		return err;
	if (keyed && (err = idempotency_claim(a, k, &claimed, out)) != E_OK)
		goto out;
	if (!claimed)
		goto out; /* a replay: *out holds the stored outcome */
	if ((err = work(a, ctx, &rid)) != E_OK)
		goto out;
	if (keyed) {
		const char *p[4] = {NULL, k->key, pending ? NULL : api_err_code(E_OK),
		                    db_param_i64(a, rid)};
		struct db_stmts *t = idempotency_table(a, k, &p[0]);
		PGresult *res;
		if ((err = db_exec(t, IDEM_STORE, 4, p, &res)) != E_OK)
			goto out;
		PQclear(res);
	}
	if ((err = db_commit()) != E_OK)
		goto out;
	out->resource_id = rid;
	out->pending = keyed && pending;
	return E_OK;
out:
	db_rollback();
	return err;
}

enum api_err idempotency_finish(struct arena *a, const struct idem_key *k, enum api_err outcome)
{
	const char *p[3];
	PGresult *res;
	enum api_err err;

	if (k == NULL || k->key == NULL)
		return E_OK;
	p[1] = k->key;
	p[2] = api_err_code(outcome);
	if ((err = db_exec(idempotency_table(a, k, &p[0]), IDEM_FINISH, 3, p, &res)) != E_OK)
		return err;
	PQclear(res);
	return E_OK;
}
