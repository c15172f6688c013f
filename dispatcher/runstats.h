/*
 * runstats — what aiphoto-dispatch did, as a node_exporter textfile (DISPATCH_METRICS_FILE).
 *
 * During a run the dispatcher notes claims and each item's outcome per provider model with
 * the item's time from claim to outcome; at the end of the run runstats_write() adds them to
 * the totals already in the file (counters survive across runs: the dispatcher is started
 * again and again by cron or scripts/dispatch-loop) and replaces the file atomically (a
 * temporary file in the same directory, fsync, rename), so node_exporter's textfile
 * collector or GET /metrics never reads half a file.  Series:
 *   aiphoto_dispatch_runs_total, aiphoto_dispatch_claims_total,
 *   aiphoto_dispatch_outcomes_total{model,outcome} (succeeded, retried, failed, fenced),
 *   aiphoto_dispatch_refunds_total{model},
 *   aiphoto_dispatch_item_duration_seconds{model} (histogram, 0.1 s … 600 s),
 *   aiphoto_dispatch_last_run_timestamp_seconds, aiphoto_dispatch_last_run_duration_seconds.
 * Model names come from the ai_models table (an operator's list, not user input).
 */
#ifndef AIPHOTO_DISPATCH_RUNSTATS_H
#define AIPHOTO_DISPATCH_RUNSTATS_H

#include <stddef.h>

void runstats_claims(size_t n);
/* One item's outcome ("succeeded", "retried", "failed" (refunded), "fenced") under model
 * (NULL: "-") after seconds. */
void runstats_outcome(const char *model, const char *outcome, double seconds);
/* Adds this run to the file at path (NULL: nothing) and replaces it; 0, or -1 (logged). */
int runstats_write(const char *path, double run_seconds);

#endif
