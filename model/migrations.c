/* migrations — see migrations.h. */
#include "model/migrations.h"

#include "lib/db.h"

/* Prepared before schema_migrations exists, so kept apart from the table's queries. */
enum migrations_setup_stmt { MIGSETUP_LOCK, MIGSETUP_UNLOCK, MIGSETUP_CREATE, MIGSETUP__MAX };

static const char *const migrations_setup_sql[MIGSETUP__MAX] = {
    [MIGSETUP_LOCK] = "SELECT pg_advisory_lock(727274001)",
    [MIGSETUP_UNLOCK] = "SELECT pg_advisory_unlock(727274001)",
    [MIGSETUP_CREATE] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version integer PRIMARY KEY, name text NOT NULL, "
                        "checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'), "
                        "applied_at timestamptz NOT NULL DEFAULT now(), "
                        "duration_ms integer NOT NULL DEFAULT 0)",
};

enum migrations_stmt { MIG_APPLIED, MIG_RECORD, MIG__MAX };

static const char *const migrations_sql[MIG__MAX] = {
    [MIG_APPLIED] = "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
    [MIG_RECORD] = "INSERT INTO schema_migrations (version, name, checksum, duration_ms) "
                   "VALUES ($1, $2, $3, $4)",
};

static struct db_stmts migrations_setup_stmts = DB_STMTS("migsetup", migrations_setup_sql);
static struct db_stmts migrations_stmts = DB_STMTS("migrations", migrations_sql);

enum api_err migrations_setup(void)
{
	PGresult *res;
	enum api_err err = db_exec(&migrations_setup_stmts, MIGSETUP_LOCK, 0, NULL, &res);

	PQclear(res);
	if (err != E_OK)
		return err;
	err = db_exec(&migrations_setup_stmts, MIGSETUP_CREATE, 0, NULL, &res);
	PQclear(res);
	return err;
}

void migrations_unlock(void)
{
	PGresult *res;
	(void)db_exec(&migrations_setup_stmts, MIGSETUP_UNLOCK, 0, NULL, &res);
	PQclear(res);
}

enum api_err migrations_applied(struct arena *a, struct migration_row **out, size_t *n)
{
	PGresult *res;
	enum api_err err = db_exec(&migrations_stmts, MIG_APPLIED, 0, NULL, &res);
	int rows;

	*out = NULL;
	*n = 0;
	if (err != E_OK)
		return err;
	rows = PQntuples(res);
	*out = arena_alloc(a, sizeof(**out) * (size_t)(rows ? rows : 1));
	for (int i = 0; i < rows; i++) {
		(*out)[i].version = (long)db_i64(res, i, 0);
		(*out)[i].name = db_str(a, res, i, 1);
		(*out)[i].checksum = db_str(a, res, i, 2);
	}
	*n = (size_t)rows;
	PQclear(res);
	return E_OK;
}

enum api_err migrations_record(struct arena *a, long version, const char *name,
                               const char *checksum, long duration_ms)
{
	const char *params[4] = {db_param_i64(a, version), name, checksum,
	                         db_param_i64(a, duration_ms)};
	PGresult *res;
	enum api_err err = db_exec(&migrations_stmts, MIG_RECORD, 4, params, &res);

	PQclear(res);
	return err;
}
