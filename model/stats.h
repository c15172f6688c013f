/*
 * stats — the figures of GET /admin/stats, each one indexed read (migration 0015's indexes on
 * orders.paid_at, tasks.created_at and works.finished_at; the BRIN indexes of the ledger and
 * the events).  "Today" is the business day (lib/bizday, Asia/Shanghai) the caller names.
 * Each part is a JSON text built by PostgreSQL (model/view.h).
 */
#ifndef AIPHOTO_MODEL_STATS_H
#define AIPHOTO_MODEL_STATS_H

#include "lib/arena.h"
#include "lib/errors.h"

struct stats {
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
enum api_err stats_read(struct arena *a, const char *today, struct stats *out);

#endif
