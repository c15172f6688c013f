/* system — see system.h. */
#include "model/system.h"

#include "lib/db.h"

enum system_stmt { SYSTEM_PING, SYSTEM_CONFIG_GET, SYSTEM__MAX };

static const char *const system_sql[SYSTEM__MAX] = {
    [SYSTEM_PING] = "SELECT 1",
    [SYSTEM_CONFIG_GET] = "SELECT value::text FROM system_config WHERE key = $1",
};

static struct db_stmts system_stmts = DB_STMTS("system", system_sql);

enum api_err system_ping(long fresh_ms)
{
	PGresult *res;
	enum api_err err;

	if (fresh_ms > 0 && db_recently_ok(fresh_ms))
		return E_OK;
	err = db_exec(&system_stmts, SYSTEM_PING, 0, NULL, &res);
	PQclear(res);
	return err == E_OK ? E_OK : E_UNAVAILABLE;
}

enum api_err system_config_get(struct arena *a, const char *key, char **json)
{
	const char *params[1] = {key};
	PGresult *res;
	enum api_err err = db_exec(&system_stmts, SYSTEM_CONFIG_GET, 1, params, &res);

	*json = NULL;
	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1)
		*json = db_str(a, res, 0, 0);
	PQclear(res);
	return E_OK;
}
