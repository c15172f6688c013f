/*
 * stats — the figures read from the database at once, each an indexed read:
 *   - what GET /metrics and GET /health/ready read at scrape time, each in one statement:
 *     the queued and running works and the oldest due queued one (the partial indexes
 *     works_claim_idx and works_lease_idx: proportional to the queue, not the table), queued
 *     and running tasks (tasks_status_idx), orders by status (an index-only scan of
 *     orders_status_created_idx: proportional to all orders, small at this service's scale; a
 *     scrape every 15 s costs one such scan), and the schema version;
 *   - the admin dashboard (GET /admin/stats): "today" is the business day (lib/bizday,
 *     Asia/Shanghai) the caller names; each part a JSON text built by PostgreSQL
 *     (model/view.h), read through migration 0015's indexes on orders.paid_at,
 *     tasks.created_at and works.finished_at and the BRIN indexes of the ledger and events.
 */
#ifndef AIPHOTO_MODEL_STATS_H
#define AIPHOTO_MODEL_STATS_H

#include "lib/arena.h"
#include "lib/errors.h"

struct stats_scrape {
	long long works_queued, works_running; /* the dispatcher's queue */
	double
	    oldest_queued_s; /* age of the oldest queued work whose run_after has come; 0: none */
	long long tasks_queued, tasks_running;
	long long orders_created, orders_paid, orders_closed, orders_refunded;
	long long orders_partially_refunded;
};

/* Fills *s; E_UNAVAILABLE (or the database's error) leaves it zeroed. */
enum api_err stats_scrape(struct stats_scrape *s);
/* The highest applied migration version (0: none), E_UNAVAILABLE when the database is down. */
enum api_err stats_schema_version(long *version);

/* ------------------------------------------------------------------ the admin dashboard */

struct stats_dashboard {
	/* {"total","new_today","dau"}: dau = users with a client event today */
	const char *users;
	/* {"orders","revenue_fen"} paid today (refunded ones included: they were paid) */
	const char *orders_today;
	/* [{"day","orders","revenue_fen","tasks","new_users"}] for the 30 days up to today */
	const char *by_day;
	/* {"issued","spent","refunded","taken_back","by_kind":{kind: sum of deltas}} today */
	const char *credits_today;
	/* {"created_today":{status: n}, "open":{"queued","running"}} of tasks */
	const char *tasks;
	/* {"depth" (queued items), "due" (of which due now), "running",
	 *  "oldest_queued_seconds" (null when none)} of work items */
	const char *queue;
	/* [{"ai_model_id","name","succeeded","failed","success_rate","p95_ms"}] of the items that
	 * ended in the last 24 h, by the model of their last attempt; p95_ms from the first claim
	 * to the result of the succeeded ones */
	const char *providers;
};

/* Every figure for the business day today ("YYYY-MM-DD"). */
enum api_err stats_dashboard(struct arena *a, const char *today, struct stats_dashboard *out);

#endif
