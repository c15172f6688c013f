/* system — see system.h. */
#include "model/system.h"

#include "lib/db.h"

enum system_stmt { SYSTEM_PING, SYSTEM__MAX };

static const char *const system_sql[SYSTEM__MAX] = {
    [SYSTEM_PING] = "SELECT 1",
};

static struct db_stmts system_stmts = DB_STMTS("system", system_sql);

enum api_err system_ping(void)
{
	PGresult *res;
	enum api_err err = db_exec(&system_stmts, SYSTEM_PING, 0, NULL, &res);

	PQclear(res);
	return err == E_OK ? E_OK : E_UNAVAILABLE;
}
