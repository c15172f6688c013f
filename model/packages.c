/* packages — see packages.h. */
#include "model/packages.h"

#include "lib/db.h"

enum packages_stmt { PACKAGES_LIST_ACTIVE, PACKAGES_GET_ACTIVE, PACKAGES__MAX };

static const char *const packages_sql[PACKAGES__MAX] = {
    [PACKAGES_LIST_ACTIVE] = "SELECT id, name, price_fen, credits, bonus_credits FROM packages "
                             "WHERE active ORDER BY sort_order, id",
    [PACKAGES_GET_ACTIVE] = "SELECT id, name, price_fen, credits, bonus_credits FROM packages "
                            "WHERE id = $1 AND active",
};

static struct db_stmts packages_stmts = DB_STMTS("packages", packages_sql);

enum api_err packages_list_active(struct arena *a, struct package **out, size_t *n)
{
	PGresult *res;
	enum api_err err = db_exec(&packages_stmts, PACKAGES_LIST_ACTIVE, 0, NULL, &res);
	int rows;

	*out = NULL;
	*n = 0;
	if (err != E_OK)
		return err;
	rows = PQntuples(res);
	*out = arena_alloc(a, sizeof(**out) * (size_t)(rows ? rows : 1));
	for (int i = 0; i < rows; i++) {
		struct package *p = &(*out)[i];
		p->id = db_i64(res, i, 0);
		p->name = db_str(a, res, i, 1);
		p->price_fen = db_i64(res, i, 2);
		p->credits = db_i64(res, i, 3);
		p->bonus_credits = db_i64(res, i, 4);
	}
	*n = (size_t)rows;
	PQclear(res);
	return E_OK;
}

enum api_err packages_get_active(struct arena *a, int64_t id, struct package *out)
{
	const char *params[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&packages_stmts, PACKAGES_GET_ACTIVE, 1, params, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	out->id = db_i64(res, 0, 0);
	out->name = db_str(a, res, 0, 1);
	out->price_fen = db_i64(res, 0, 2);
	out->credits = db_i64(res, 0, 3);
	out->bonus_credits = db_i64(res, 0, 4);
	PQclear(res);
	return E_OK;
}
