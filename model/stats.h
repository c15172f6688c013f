/*
 * stats — what GET /metrics and GET /health/ready read from the database at scrape time,
 * each in one cheap statement: counts of the active (non-terminal) works and tasks and the
 * oldest queued work (the partial indexes on status serve them), orders by status, and the
 * schema version.
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
