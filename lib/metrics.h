/*
 * metrics — the workers' request counters, in a shared-memory file, and their Prometheus
 * text rendering (exposition format 0.0.4).
 *
 * Prefork workers share nothing, so each keeps its counters in its own slot of one file
 * mapped MAP_SHARED (METRICS_FILE, under the run directory): the supervisor creates it
 * (metrics_create) with one slot per supervisor slot before the first fork, every worker
 * inherits the mapping and, once forked, takes its slot (metrics_attach).  A worker that
 * replaces a dead one takes the same slot and goes on counting from what is there: the
 * slot's generation is bumped and its pid replaced, the counts are never cleared, so the
 * dead worker's requests are not lost.  The file is truncated when the supervisor starts
 * (Prometheus sees the counter reset as a restart).  GET /metrics sums the slots
 * (metrics_render); `aiphotoctl metrics` maps the same file read-only (metrics_open).
 *
 * Layout: a header {magic, layout version, slot count, slot size} and fixed slots.  A slot
 * has one writer, its worker: counters are bumped with relaxed atomic load+store (no bus
 * lock, never torn), labelled entries are appended (text first, then the count published
 * with a release store) and never removed.  Readers load the count with acquire.
 *
 * Labels are bounded: a request is counted under its route pattern ("/tasks/:id"), or the
 * access log's route name for a cloud action ("cloud user.register"), or "(unmatched)" —
 * never a raw path; the method is one of ours or "OTHER".  Per slot at most
 * METRICS_MAX_ROUTES route entries (more go to "(other)") and METRICS_MAX_EVENTS events.
 * No call here does a system call on the request path, and none fails: without a mapping
 * (a unit test, an unwritable file and no memory) every note is a no-op.
 */
#ifndef AIPHOTO_METRICS_H
#define AIPHOTO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/errors.h"

#define METRICS_MAX_ROUTES 192
#define METRICS_MAX_EVENTS 96
#define METRICS_LABEL_MAX 72 /* bytes of a route or event label, NUL included */
/* the request latency histogram's upper bounds, in seconds: 1 ms … 10 s (+Inf implied) */
#define METRICS_BUCKETS 13
extern const double metrics_bucket_le[METRICS_BUCKETS];

/* Plain counters, one per slot each. */
enum metrics_counter {
	METRICS_DB_CONNECTS, /* PostgreSQL connections opened (the first included) */
	METRICS_DB_LOSSES, /* connections found dead */
	METRICS_REDIS_CONNECTS, /* Redis connections opened */
	METRICS_REDIS_ERRORS, /* Redis commands that failed (connection dropped) */
	METRICS__COUNTERS
};

/* Labelled event families (the label's meaning in parentheses). */
enum metrics_family {
	METRICS_RATE_LIMITED, /* requests refused by a rate-limit class (class) */
	METRICS_PAY_NOTIFY, /* WeChat Pay notifications by verdict (verdict) */
	METRICS_PAY_ORDER, /* payment orders created through the API (event) */
	METRICS_OA_CALLBACK, /* Official Account callbacks by verdict (verdict) */
	METRICS__FAMILIES
};

/* A growable text buffer for the renderers (xrealloc: never fails). */
struct metrics_buf {
	char *p;
	size_t len, cap;
};
void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Creates (truncates) the file at path with nslots zeroed slots and maps it; falls back to
 * an anonymous shared mapping (logged) when the file cannot be made, so that the pool still
 * counts.  path NULL: anonymous.  Returns 0, -1 when nothing could be mapped. */
int metrics_create(const char *path, int nslots);
/* In the worker, after fork: counts from now on go to slot (bumping its generation).  A slot
 * out of range leaves the worker uncounted. */
void metrics_attach(int slot);
/* Maps an existing file read-only (aiphotoctl); 0, or -1 with errno.  A worker never
 * attaches to such a mapping.  Either call replaces (unmaps) the mapping held before. */
int metrics_open(const char *path);
/* Unmaps whatever is mapped and detaches: every note is a no-op again. */
void metrics_close(void);

/* One answered request: method name as sent (NULL: "OTHER"), route label (NULL:
 * "(unmatched)"), HTTP status, the API error, latency in microseconds. */
void metrics_request(const char *method, const char *route, int status, enum api_err err,
                     long long us);
void metrics_count(enum metrics_counter c);
void metrics_event(enum metrics_family f, const char *label);

/* What the slots hold together, rendered as Prometheus text into b: requests, latency,
 * errors, the counters and events, and per slot the generation and the worker's pid (for
 * the caller's RSS).  Nothing when there is no mapping. */
void metrics_render(struct metrics_buf *b);
/* The pid in each slot, for RSS: fills pids[0..n) (0 = none) and returns the slot count. */
int metrics_slot_pids(int *pids, int n);

/* Whether addr is exactly one of the comma-separated addresses of list (spaces around an
 * entry ignored); false for a NULL or empty addr or list.  GET /metrics lets such a client
 * in without an admin token (METRICS_ALLOW). */
bool metrics_allowed(const char *list, const char *addr);

/* Appends a label value to b with \ " and newline escaped (exposition format). */
void metrics_label(struct metrics_buf *b, const char *v);

#endif
