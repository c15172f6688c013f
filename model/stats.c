/* stats — see stats.h. */
#include "model/stats.h"

#include <stdlib.h>
#include <string.h>

#include "lib/db.h"

enum stats_stmt { STATS_SCRAPE, STATS_SCHEMA, STATS__MAX };

static const char *const stats_sql[STATS__MAX] = {
    /* one row: the counts in the order of struct stats_scrape */
    [STATS_SCRAPE] =
        "SELECT (SELECT count(*) FROM works WHERE status = 'queued'), "
        "(SELECT count(*) FROM works WHERE status = 'running'), "
        "(SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(run_after)), 0)::float8 "
        " FROM works WHERE status = 'queued' AND run_after <= now()), "
        "(SELECT count(*) FROM tasks WHERE status = 'queued'), "
        "(SELECT count(*) FROM tasks WHERE status = 'running'), "
        "count(*) FILTER (WHERE status = 'created'), count(*) FILTER (WHERE status = 'paid'), "
        "count(*) FILTER (WHERE status = 'closed'), "
        "count(*) FILTER (WHERE status = 'refunded') FROM orders",
    [STATS_SCHEMA] = "SELECT COALESCE(max(version), 0) FROM schema_migrations",
};

static struct db_stmts stats_stmts = DB_STMTS("stats", stats_sql);

enum api_err stats_scrape(struct stats_scrape *s)
{
	PGresult *res;
	enum api_err err;

	memset(s, 0, sizeof(*s));
	err = db_exec(&stats_stmts, STATS_SCRAPE, 0, NULL, &res);
	if (err != E_OK)
		goto out;
	s->works_queued = db_i64(res, 0, 0);
	s->works_running = db_i64(res, 0, 1);
	s->oldest_queued_s = strtod(PQgetvalue(res, 0, 2), NULL);
	s->tasks_queued = db_i64(res, 0, 3);
	s->tasks_running = db_i64(res, 0, 4);
	s->orders_created = db_i64(res, 0, 5);
	s->orders_paid = db_i64(res, 0, 6);
	s->orders_closed = db_i64(res, 0, 7);
	s->orders_refunded = db_i64(res, 0, 8);
out:
	PQclear(res);
	return err;
}

enum api_err stats_schema_version(long *version)
{
	PGresult *res;
	enum api_err err = db_exec(&stats_stmts, STATS_SCHEMA, 0, NULL, &res);

	*version = 0;
	if (err == E_OK)
		*version = (long)db_i64(res, 0, 0);
	PQclear(res);
	return err;
}
