/*
 * works — the dispatcher's side of the works table (DESIGN §5): claim, lease, fencing,
 * completion, retry, final failure with its refund and rescue of expired leases (the notice
 * of an ended task is model/notify's).
 *
 * Fencing: every write after a claim names the claimed (id, attempt) and requires
 * status = 'running'; a write that changes no row means the item was rescued or canceled
 * meanwhile and answers E_CONFLICT: the caller drops its result.
 */
#ifndef AIPHOTO_MODEL_WORKS_H
#define AIPHOTO_MODEL_WORKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* One claimed item with what its provider call needs (strings in the arena). */
struct work_claim {
	int64_t id, task_id, user_id;
	int attempt, max_attempts;
	const char *type; /* photography | fitting */
	int64_t ai_model_id; /* model of the previous attempt or of the stored job; 0 = none */
	const char *provider_job_id; /* async job to poll instead of submitting; NULL = none */
	long job_age_s; /* seconds since that job was submitted (0 = none) */
	const char *last_error; /* error_code of the previous attempt; NULL = none */
	const char *prompt, *negative_prompt;
	const char *params; /* the task's params, JSON text */
	const char *inputs; /* [{"key","mime"}…] of the input assets, in order, JSON text */
};

/* An AI model row (strings in the arena). */
struct ai_model {
	int64_t id;
	const char *name, *provider, *mode, *kind, *endpoint, *api_key_env, *model;
	int priority, weight;
	long timeout_ms, poll_interval_ms;
	const char *options; /* JSON text */
};

/*
 * The channel that wakes dispatcher runs: every statement that makes an item due
 * (task creation in model/tasks.c, retry, release, rescue) notifies it in its own
 * transaction, so a listening run claims the item as soon as it is committed.
 */
#define WORKS_CHANNEL "aiphoto_tasks"
#define WORKS_NOTIFY "pg_notify('" WORKS_CHANNEL "', '')"

/* LISTENs on WORKS_CHANNEL on the connection (again after a reconnect: idempotent). */
enum api_err works_listen(void);

/* *ms gets the milliseconds until the earliest queued item is due (0 when one is due now),
 * or -1 when nothing is queued. */
enum api_err works_next_due(long *ms);

/* Session advisory lock for the maintenance section; *got tells whether this run holds it. */
enum api_err works_maintenance_lock(bool *got);

/* Puts running items whose lease expired back in the queue (compare-and-set on status and
 * lease); *n gets how many. */
enum api_err works_rescue(struct arena *a, size_t *n);

/* Claims up to limit due items (SKIP LOCKED), leasing them for lease_s seconds to owner,
 * and marks their tasks running. */
enum api_err works_claim(struct arena *a, int limit, long lease_s, const char *owner,
                         struct work_claim **out, size_t *n);

/* Every active model, by kind, priority, id. */
enum api_err works_models(struct arena *a, struct ai_model **out, size_t *n);
/* One model, active or not (the admin API's test call); E_NOT_FOUND. */
enum api_err works_model(struct arena *a, int64_t id, struct ai_model *out);

/* Extends the lease of a claimed item. */
enum api_err works_heartbeat(struct arena *a, int64_t id, int attempt, long lease_s);

/* Stores the provider's job id (and model) before the first poll. */
enum api_err works_set_job(struct arena *a, int64_t id, int attempt, int64_t model_id,
                           const char *job_id);

/* Marks the item succeeded with its image and thumbnail (thumb_url NULL: the image itself)
 * and bumps its task (ending it with the last item).  *task_ended tells whether the task
 * ended now. */
enum api_err works_succeed(struct arena *a, int64_t id, int attempt, int64_t model_id,
                           const char *image_url, const char *thumb_url, const char *provider_url,
                           bool *task_ended);

/* Puts the item back in the queue after delay_ms (a retry), remembering the model that
 * failed and the error; job_id keeps (or, NULL, forgets) the provider job. */
enum api_err works_retry(struct arena *a, int64_t id, int attempt, long delay_ms, int64_t model_id,
                         const char *job_id, const char *code, const char *message);

/* Gives a claimed item back without counting the attempt (the run's time is up while an
 * async job is still running); it is due again after delay_ms. */
enum api_err works_release(struct arena *a, int64_t id, int attempt, long delay_ms);

/* Final failure: marks the item failed, refunds its price to the user (ledger key
 * refund:work:<id>) unless it was refunded before (an item an admin retried after its first
 * failure: refunded_at set), and bumps its task, in one transaction.  *task_ended as above. */
enum api_err works_fail(struct arena *a, int64_t id, int attempt, int64_t model_id,
                        const char *code, const char *message, bool *task_ended);

/*
 * Imported works' cloud:// images (docs/cloud-files.md): a work whose image_url or thumb_url
 * is a cloud storage file id, until aiphoto-dispatch has fetched it into the media store.
 */
struct work_cloud {
	int64_t id;
	const char *image_url, *thumb_url; /* as stored: either may be a cloud:// file id */
	int attempts; /* fetches claimed so far, this one included */
};

/* Claims up to limit works (not deleted) with a cloud:// image whose cloud_fetch_after has
 * come, SKIP LOCKED, and leases them for lease_s seconds (cloud_fetch_after = now + lease):
 * concurrent runs claim different works, and a run that dies leaves its works to the next
 * run after the lease. */
enum api_err works_cloud_claim(struct arena *a, int limit, long lease_s, struct work_cloud **out,
                               size_t *n);

/* Replaces file_id by url in the work's image_url, and by thumb_url (NULL: url) in its
 * thumb_url, wherever it still stands (compare-and-set: a URL changed meanwhile is left
 * alone); *changed tells whether it stood. */
enum api_err works_cloud_fetched(struct arena *a, int64_t id, const char *file_id, const char *url,
                                 const char *thumb_url, bool *changed);

/* A failed fetch: the work is not claimed again for delay_s seconds; error says why. */
enum api_err works_cloud_failed(struct arena *a, int64_t id, long delay_s, const char *error);

#endif
