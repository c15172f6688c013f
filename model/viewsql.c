/* viewsql — see viewsql.h. */
#include "model/viewsql.h"

enum api_err viewsql_page(struct arena *a, struct db_stmts *s, int idx, int np,
                          const char *const *p, int limit, struct view_page *out)
{
	PGresult *res;
	enum api_err err = db_exec(s, idx, np, p, &res);
	size_t n;

	*out = (struct view_page){0};
	if (err != E_OK)
		return err;
	n = (size_t)PQntuples(res);
	out->more = db_page_trim(&n, limit);
	out->rows = arena_alloc(a, sizeof(*out->rows) * (n ? n : 1));
	for (size_t i = 0; i < n; i++)
		out->rows[i] = db_str(a, res, (int)i, 1);
	out->n = n;
	out->last_id = n > 0 ? db_i64(res, (int)n - 1, 0) : 0;
	PQclear(res);
	return E_OK;
}

enum api_err viewsql_one(struct arena *a, struct db_stmts *s, int idx, int np, const char *const *p,
                         char **json)
{
	PGresult *res;
	enum api_err err = db_exec(s, idx, np, p, &res);

	*json = NULL;
	if (err != E_OK)
		return err;
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		*json = db_str(a, res, 0, 0);
	else
		err = E_NOT_FOUND;
	PQclear(res);
	return err;
}

enum api_err viewsql_all(struct arena *a, struct db_stmts *s, int idx, int np, const char *const *p,
                         const char ***rows, size_t *n)
{
	PGresult *res;
	enum api_err err = db_exec(s, idx, np, p, &res);

	*n = 0;
	if (err != E_OK)
		return err;
	*n = (size_t)PQntuples(res);
	*rows = arena_alloc(a, sizeof(**rows) * (*n ? *n : 1));
	for (size_t i = 0; i < *n; i++)
		(*rows)[i] = db_str(a, res, (int)i, 0);
	PQclear(res);
	return E_OK;
}

const char *viewsql_before(struct arena *a, const struct view_cursor *c)
{
	return c->before_id > 0 ? db_param_i64(a, c->before_id) : NULL;
}

const char *viewsql_limit(struct arena *a, const struct view_cursor *c)
{
	return db_param_i64(a, (int64_t)c->limit + 1);
}

/* audit_work of viewsql_audited. */
static enum api_err viewsql_change_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct viewsql_change *c = ctx;
	char *before = NULL;
	PGresult *res;
	enum api_err err;

	if (c->lock >= 0 && (err = viewsql_one(a, c->stmts, c->lock, 1, c->p, &before)) != E_OK)
		return err;
	if ((err = db_exec(c->stmts, c->change, c->np, c->p, &res)) != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	c->id = db_i64(res, 0, 0);
	c->json = db_str(a, res, 0, 1);
	PQclear(res);
	chg->target_type = c->target_type;
	chg->target_id = db_param_i64(a, c->id);
	chg->before = before;
	chg->after = c->removed ? NULL : c->json;
	return E_OK;
}

enum api_err viewsql_audited(struct arena *a, const struct audit_actor *who, const char *action,
                             struct viewsql_change *c)
{
	c->json = NULL;
	c->id = 0;
	return audit_run(a, who, action, viewsql_change_tx, c);
}
