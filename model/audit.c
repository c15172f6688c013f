/* audit — see audit.h. */
#include "model/audit.h"

#include "model/viewsql.h"

enum audit_stmt { AUDIT_INSERT, AUDIT_LIST, AUDIT__MAX };

static const char *const audit_sql[AUDIT__MAX] = {
    /* $1 admin (NULL: aiphotoctl), $2 action, $3 target type, $4 target id, $5 before,
     * $6 after, $7 request id, $8 address */
    [AUDIT_INSERT] = "INSERT INTO admin_audit (admin_id, actor, action, target_type, target_id, "
                     "before, after, request_id, address) SELECT $1::bigint, "
                     "COALESCE((SELECT username FROM admins WHERE id = $1::bigint), 'aiphotoctl'), "
                     "$2, $3, $4, $5::jsonb, $6::jsonb, $7, $8",
    /* $1 before id, $2 admin, $3 action, $4 target type, $5 target id, $6 limit */
    [AUDIT_LIST] = "SELECT id, jsonb_build_object('id', id, 'admin_id', admin_id, "
                   "'actor', actor, 'action', action, 'target_type', target_type, "
                   "'target_id', target_id, 'before', before, 'after', after, "
                   "'request_id', request_id, 'address', address, "
                   "'created_at', aiphoto_time(created_at))::text FROM admin_audit "
                   "WHERE id < COALESCE($1::bigint, 9223372036854775807) "
                   "AND ($2::bigint IS NULL OR admin_id = $2) "
                   "AND ($3::text IS NULL OR action = $3) "
                   "AND ($4::text IS NULL OR target_type = $4) "
                   "AND ($5::text IS NULL OR target_id = $5) ORDER BY id DESC LIMIT $6",
};

static struct db_stmts audit_stmts = DB_STMTS("audit", audit_sql);

/* Inside the transaction: the audit row of chg. */
static enum api_err audit_insert(struct arena *a, const struct audit_actor *who, const char *action,
                                 const struct audit_change *chg)
{
	const char *p[8] = {who->admin_id > 0 ? db_param_i64(a, who->admin_id) : NULL,
	                    action,
	                    chg->target_type,
	                    chg->target_id,
	                    chg->before,
	                    chg->after,
	                    who->request_id,
	                    who->address};
	PGresult *res;
	enum api_err err = db_exec(&audit_stmts, AUDIT_INSERT, 8, p, &res);

	PQclear(res);
	return err;
}

enum api_err audit_run(struct arena *a, const struct audit_actor *who, const char *action,
                       audit_work *work, void *ctx)
{
	struct audit_change chg = {0};
	bool own = !db_in_transaction();
	enum api_err err;

	if (own && (err = db_begin()) != E_OK)
		return err;
	if ((err = work(a, ctx, &chg)) != E_OK)
		goto out;
	if (!chg.unchanged && (chg.target_type == NULL || chg.target_type[0] == '\0')) {
		err = E_INTERNAL; /* a change must say what it changed */
		goto out;
	}
	if (!chg.unchanged && (err = audit_insert(a, who, action, &chg)) != E_OK)
		goto out;
	if (own)
		err = db_commit();
out:
	if (own && err != E_OK)
		db_rollback();
	return err;
}

enum api_err audit_list(struct arena *a, const struct audit_filter *f, const struct view_cursor *c,
                        struct view_page *out)
{
	const char *p[6] = {viewsql_before(a, c),
	                    f->admin_id > 0 ? db_param_i64(a, f->admin_id) : NULL,
	                    f->action,
	                    f->target_type,
	                    f->target_id,
	                    viewsql_limit(a, c)};

	return viewsql_page(a, &audit_stmts, AUDIT_LIST, 6, p, c->limit, out);
}
