/* admins — see admins.h. */
#include "model/admins.h"

#include "lib/db.h"

enum admins_stmt { ADMINS_GET, ADMINS_OK, ADMINS_CREATE, ADMINS__MAX };

/* The lockout lives in Redis per (username, address) (handlers/admin.c); the columns
 * failed_logins and locked_until of migration 0001 are no longer written. */
static const char *const admins_sql[ADMINS__MAX] = {
    [ADMINS_GET] = "SELECT id, password_hash, disabled FROM admins WHERE username = $1",
    [ADMINS_OK] = "UPDATE admins SET last_login_at = now() WHERE id = $1",
    [ADMINS_CREATE] = "INSERT INTO admins (username, password_hash) VALUES ($1, $2) RETURNING id",
};

static struct db_stmts admins_stmts = DB_STMTS("admins", admins_sql);

enum api_err admins_get(struct arena *a, const char *username, struct admin *out)
{
	const char *params[1] = {username};
	PGresult *res;
	enum api_err err = db_exec(&admins_stmts, ADMINS_GET, 1, params, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	out->id = db_i64(res, 0, 0);
	out->password_hash = db_str(a, res, 0, 1);
	out->disabled = db_bool(res, 0, 2);
	PQclear(res);
	return E_OK;
}

enum api_err admins_login_ok(struct arena *a, int64_t id)
{
	const char *params[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&admins_stmts, ADMINS_OK, 1, params, &res);

	PQclear(res);
	return err;
}

enum api_err admins_create(struct arena *a, const char *username, const char *password_hash,
                           int64_t *id)
{
	const char *params[2] = {username, password_hash};
	PGresult *res;
	enum api_err err = db_exec(&admins_stmts, ADMINS_CREATE, 2, params, &res);

	(void)a;
	if (err != E_OK)
		return err;
	*id = db_i64(res, 0, 0);
	PQclear(res);
	return E_OK;
}
