/* admins — see admins.h. */
#include "model/admins.h"

#include "lib/db.h"

enum admins_stmt { ADMINS_GET, ADMINS_FAILED, ADMINS_OK, ADMINS_CREATE, ADMINS__MAX };

#define ADMINS_LOCKED_FOR \
	"GREATEST(0, CEIL(EXTRACT(EPOCH FROM (COALESCE(locked_until, now()) - now()))))::bigint"

static const char *const admins_sql[ADMINS__MAX] = {
    [ADMINS_GET] =
        "SELECT id, password_hash, disabled, " ADMINS_LOCKED_FOR " FROM admins WHERE username = $1",
    /* a lock that has run out starts a new count */
    [ADMINS_FAILED] =
        "UPDATE admins SET "
        "failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= now() "
        "THEN 1 ELSE failed_logins + 1 END, "
        "locked_until = CASE "
        "WHEN locked_until IS NOT NULL AND locked_until <= now() THEN NULL "
        "WHEN failed_logins + 1 >= $2 THEN now() + make_interval(secs => $3) "
        "ELSE locked_until END "
        "WHERE id = $1 RETURNING " ADMINS_LOCKED_FOR,
    [ADMINS_OK] = "UPDATE admins SET failed_logins = 0, locked_until = NULL, last_login_at = now() "
                  "WHERE id = $1",
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
	out->locked_for = (long)db_i64(res, 0, 3);
	PQclear(res);
	return E_OK;
}

enum api_err admins_login_failed(struct arena *a, int64_t id, long *locked_for)
{
	const char *params[3] = {db_param_i64(a, id), db_param_i64(a, ADMINS_MAX_FAILURES),
	                         db_param_i64(a, ADMINS_LOCK_SECONDS)};
	PGresult *res;
	enum api_err err = db_exec(&admins_stmts, ADMINS_FAILED, 3, params, &res);

	*locked_for = 0;
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1)
		*locked_for = (long)db_i64(res, 0, 0);
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
