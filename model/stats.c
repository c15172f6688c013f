/* stats — see stats.h. */
#include "model/stats.h"

#include <stdlib.h>
#include <string.h>

#include "lib/db.h"

enum stats_stmt {
	STATS_SCRAPE,
	STATS_SCHEMA,
	STATS_USERS,
	STATS_ORDERS_TODAY,
	STATS_BY_DAY,
	STATS_CREDITS,
	STATS_TASKS,
	STATS_QUEUE,
	STATS_PROVIDERS,
	STATS__MAX
};

/* Midnight of the business day $1 (and of the 29th day before it), as timestamptz. */
#define STATS_TODAY "($1::date::timestamp AT TIME ZONE 'Asia/Shanghai')"
#define STATS_SINCE "(($1::date - 29)::timestamp AT TIME ZONE 'Asia/Shanghai')"
#define STATS_DAY(col) "(" col " AT TIME ZONE 'Asia/Shanghai')::date"

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
        "count(*) FILTER (WHERE status = 'refunded'), "
        "count(*) FILTER (WHERE status = 'partially_refunded') FROM orders",
    [STATS_SCHEMA] = "SELECT COALESCE(max(version), 0) FROM schema_migrations",
    [STATS_USERS] = "SELECT jsonb_build_object('total', (SELECT count(*) FROM users), "
                    "'new_today', (SELECT count(*) FROM users WHERE created_at >= " STATS_TODAY
                    "), 'dau', (SELECT count(DISTINCT user_id) FROM events "
                    "WHERE created_at >= " STATS_TODAY " AND user_id IS NOT NULL))::text",
    /* refunds: those WeChat Pay confirmed today (success) */
    [STATS_ORDERS_TODAY] = "SELECT jsonb_build_object('orders', count(*), 'revenue_fen', "
                           "COALESCE(sum(amount_fen), 0), 'refunds', (SELECT count(*) FROM "
                           "order_refunds WHERE status = 'success' AND succeeded_at >= " STATS_TODAY
                           "), 'refunded_fen', (SELECT COALESCE(sum(amount_fen), 0) FROM "
                           "order_refunds WHERE status = 'success' AND succeeded_at >= " STATS_TODAY
                           "))::text FROM orders WHERE paid_at >= " STATS_TODAY,
    [STATS_BY_DAY] =
        "WITH d AS (SELECT generate_series($1::date - 29, $1::date, interval '1 day')::date "
        "AS day), "
        "o AS (SELECT " STATS_DAY(
            "paid_at") " AS day, count(*) AS n, sum(amount_fen) AS fen "
                       "FROM orders WHERE paid_at >= " STATS_SINCE " GROUP BY 1), "
                       "t AS (SELECT " STATS_DAY(
                           "created_at") " AS day, count(*) AS n FROM tasks "
                                         "WHERE created_at >= " STATS_SINCE " GROUP BY 1), "
                                         "u AS (SELECT " STATS_DAY(
                                             "created_at") " AS day, count(*) AS n FROM users "
                                                           "WHERE created_at >= " STATS_SINCE
                                                           " GROUP BY 1) "
                                                           "SELECT "
                                                           "jsonb_agg(jsonb_build_object('day', "
                                                           "d.day, 'orders', COALESCE(o.n, 0), "
                                                           "'revenue_fen', COALESCE(o.fen, 0), "
                                                           "'tasks', COALESCE(t.n, 0), "
                                                           "'new_users', COALESCE(u.n, 0)) ORDER "
                                                           "BY d.day)::text "
                                                           "FROM d LEFT JOIN o USING (day) LEFT "
                                                           "JOIN t USING (day) LEFT JOIN u USING "
                                                           "(day)",
    [STATS_CREDITS] =
        "WITH k AS (SELECT kind, sum(delta) FILTER (WHERE delta > 0) AS plus, "
        "sum(-delta) FILTER (WHERE delta < 0) AS minus, sum(delta) AS net FROM credit_ledger "
        "WHERE created_at >= " STATS_TODAY " GROUP BY kind) "
        "SELECT jsonb_build_object("
        "'issued', COALESCE((SELECT sum(plus) FROM k WHERE kind NOT IN ('refund', "
        "'refund_order')), 0), "
        "'spent', COALESCE((SELECT sum(minus) FROM k WHERE kind = 'consume'), 0), "
        "'refunded', COALESCE((SELECT sum(plus) FROM k WHERE kind = 'refund'), 0), "
        "'taken_back', COALESCE((SELECT sum(minus) FROM k WHERE kind <> 'consume'), 0), "
        "'by_kind', COALESCE((SELECT jsonb_object_agg(kind, net) FROM k), '{}'))::text",
    [STATS_TASKS] = "SELECT jsonb_build_object('created_today', COALESCE((SELECT "
                    "jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM tasks "
                    "WHERE created_at >= " STATS_TODAY " GROUP BY status) s), '{}'), "
                    "'open', jsonb_build_object("
                    "'queued', (SELECT count(*) FROM tasks WHERE status = 'queued'), "
                    "'running', (SELECT count(*) FROM tasks WHERE status = 'running')))::text",
    /* the partial indexes of the claim and of the leases hold exactly these rows */
    [STATS_QUEUE] = "SELECT jsonb_build_object("
                    "'depth', (SELECT count(*) FROM works WHERE status = 'queued'), "
                    "'due', (SELECT count(*) FROM works WHERE status = 'queued' "
                    "AND run_after <= now()), "
                    "'running', (SELECT count(*) FROM works WHERE status = 'running'), "
                    "'oldest_queued_seconds', (SELECT floor(extract(epoch FROM now() - "
                    "min(created_at)))::bigint FROM works WHERE status = 'queued'))::text",
    [STATS_PROVIDERS] =
        "SELECT COALESCE(jsonb_agg(jsonb_build_object('ai_model_id', s.ai_model_id, "
        "'name', m.name, 'succeeded', s.ok, 'failed', s.ko, "
        "'success_rate', round(s.ok::numeric / (s.ok + s.ko), 4), 'p95_ms', s.p95) "
        "ORDER BY s.ai_model_id NULLS LAST), '[]')::text FROM (SELECT ai_model_id, "
        "count(*) FILTER (WHERE status = 'succeeded') AS ok, "
        "count(*) FILTER (WHERE status = 'failed') AS ko, "
        "round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - "
        "COALESCE(started_at, created_at)) * 1000) FILTER (WHERE status = 'succeeded'))::bigint "
        "AS p95 FROM works WHERE finished_at >= now() - interval '24 hours' "
        "AND status IN ('succeeded', 'failed') GROUP BY ai_model_id) s "
        "LEFT JOIN ai_models m ON m.id = s.ai_model_id",
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
	s->orders_partially_refunded = db_i64(res, 0, 9);
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

enum api_err stats_dashboard(struct arena *a, const char *today, struct stats_dashboard *out)
{
	const char *p[1] = {today};
	const char **parts[STATS__MAX] = {
	    [STATS_USERS] = &out->users,         [STATS_ORDERS_TODAY] = &out->orders_today,
	    [STATS_BY_DAY] = &out->by_day,       [STATS_CREDITS] = &out->credits_today,
	    [STATS_TASKS] = &out->tasks,         [STATS_QUEUE] = &out->queue,
	    [STATS_PROVIDERS] = &out->providers,
	};
	/* statements that take no day ignore the parameter: they are sent none */
	static const int nparams[STATS__MAX] = {
	    [STATS_USERS] = 1, [STATS_ORDERS_TODAY] = 1, [STATS_BY_DAY] = 1,    [STATS_CREDITS] = 1,
	    [STATS_TASKS] = 1, [STATS_QUEUE] = 0,        [STATS_PROVIDERS] = 0,
	};

	for (int i = STATS_USERS; i < STATS__MAX; i++) {
		PGresult *res;
		enum api_err err = db_exec(&stats_stmts, i, nparams[i], p, &res);

		if (err != E_OK)
			return err;
		*parts[i] = PQntuples(res) == 1 ? db_str(a, res, 0, 0) : NULL;
		PQclear(res);
	}
	return E_OK;
}
