/* backup — see backup.h. */
#include "model/backup.h"

#include "lib/db.h"

enum backup_stmt { BACKUP_RELATIONS, BACKUP_LEVEL, BACKUP__MAX };

static const char *const backup_sql[BACKUP__MAX] = {
    [BACKUP_RELATIONS] =
        "SELECT count(*), to_regclass('schema_migrations') IS NOT NULL FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'",
    [BACKUP_LEVEL] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
};

/* Two tables: the level's statement cannot be prepared before schema_migrations exists. */
static struct db_stmts backup_stmts = {.name = "backup", .sql = backup_sql, .n = 1};
static struct db_stmts backup_level_stmts = {
    .name = "backup_level", .sql = backup_sql + BACKUP_LEVEL, .n = 1};

enum api_err backup_db_state(int64_t *relations, long *level)
{
	PGresult *res;
	enum api_err err = db_exec(&backup_stmts, BACKUP_RELATIONS, 0, NULL, &res);
	bool has_migrations;

	*relations = 0;
	*level = -1;
	if (err != E_OK)
		return err;
	*relations = db_i64(res, 0, 0);
	has_migrations = db_bool(res, 0, 1);
	PQclear(res);
	if (!has_migrations)
		return E_OK;
	if ((err = db_exec(&backup_level_stmts, 0, 0, NULL, &res)) != E_OK)
		return err;
	*level = (long)db_i64(res, 0, 0);
	PQclear(res);
	return E_OK;
}
