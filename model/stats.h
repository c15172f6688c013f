/*
 * stats — what GET /metrics and GET /health/ready read from the database at scrape time,
 * each in one statement: the queued and running works and the oldest due queued one (the
 * partial indexes works_claim_idx and works_lease_idx: proportional to the queue, not the
 * table), queued and running tasks (tasks_status_idx), orders by status (an index-only
 * scan of orders_status_created_idx: proportional to all orders, small at this service's
 * scale; a scrape every 15 s costs one such scan), and the schema version.
 */
#ifndef AIPHOTO_MODEL_STATS_H
#define AIPHOTO_MODEL_STATS_H

#include "lib/errors.h"

struct stats_scrape {
	long long works_queued, works_running; /* the dispatcher's queue */
	double
	    oldest_queued_s; /* age of the oldest queued work whose run_after has come; 0: none */
	long long tasks_queued, tasks_running;
	long long orders_created, orders_paid, orders_closed, orders_refunded;
};

/* Fills *s; E_UNAVAILABLE (or the database's error) leaves it zeroed. */
enum api_err stats_scrape(struct stats_scrape *s);
/* The highest applied migration version (0: none), E_UNAVAILABLE when the database is down. */
enum api_err stats_schema_version(long *version);

#endif
