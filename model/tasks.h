/*
 * tasks — the user's side of AI generation: tasks (a batch of `count` images of one type)
 * and their works (one image each), as the API shows them.  The dispatcher's side (claim,
 * lease, completion) is model/works.
 *
 * Creation is one transaction (model/idempotency, with the client's key when sent): the key,
 * the task row, its debit (ledger kind 'consume', key "task:<id>") and its works are
 * committed together or not at all.  Cancellation is one transaction of its own.
 * Every lookup is scoped to its owner: another user's id answers E_NOT_FOUND.
 */
#ifndef AIPHOTO_MODEL_TASKS_H
#define AIPHOTO_MODEL_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/audit.h"
#include "model/idempotency.h"
#include "model/view.h"

#define TASKS_MAX_ASSETS 10
#define TASKS_MAX_COUNT 50
#define TASKS_MAX_BATCH 100

struct task {
	int64_t id, user_id, price, credits_charged, credits_refunded;
	int64_t scene_id; /* 0 = none */
	int count, done, failed, canceled;
	const char *type, *status, *created_at, *finished_at; /* finished_at NULL while open */
};

struct work {
	int64_t id, task_id, scene_id; /* 0 = none */
	const char *type, *status, *image_url, *thumb_url, *error_code, *created_at; /* NULL-able */
	bool is_favorite;
};

/* What POST /tasks/<type> asks for, validated by the handler. */
struct task_new {
	const char *type; /* "photography" | "fitting" */
	int64_t scene_id; /* 0 = none */
	const int64_t *asset_ids; /* photography inputs */
	size_t nassets;
	int64_t person_asset_id, garment_asset_id; /* fitting inputs (0 = none) */
	int count;
	int64_t price; /* credits per image */
	const char *params; /* JSON object text */
	const char *prompt, *negative_prompt; /* rendered, frozen */
	const char *channel; /* the app it came from: "oa" | "mp" | "web"; NULL counts as "oa" */
};

/*
 * Creates the task for k->user_id once per key: inserts it (status queued, credits_charged
 * = count × price), debits the total (skipped when 0) and inserts the count works, with the
 * key's claim and outcome, in one transaction.  E_OK with out->resource_id the task (also
 * for a repeat: out->replayed); a short balance is E_INSUFFICIENT_CREDITS and leaves nothing,
 * not even the key (a retry may succeed); E_IDEMPOTENCY_MISMATCH.
 */
enum api_err tasks_create(struct arena *a, const struct idem_key *k, const struct task_new *t,
                          struct idem_outcome *out);

enum api_err tasks_get(struct arena *a, int64_t user_id, int64_t id, struct task *out);
/* The task's works in id order (the caller owns the task). */
enum api_err tasks_items(struct arena *a, int64_t task_id, struct work **rows, size_t *n);
/* Newest first; status NULL = any; ids below before_id (0 = from the newest). */
enum api_err tasks_list(struct arena *a, int64_t user_id, const char *status, int64_t before_id,
                        int limit, struct task **rows, size_t *n, bool *more);

/*
 * One transaction: cancels the task's queued works that hold no provider job, refunds those
 * not refunded before (an item queued again by an admin after its refunded failure is free)
 * once (ledger kind
 * 'refund', key "refund:cancel:<task>:<lowest canceled work id>"), updates the counters and
 * the status.  *canceled = how many; an ended task changes nothing (E_OK, 0).
 */
enum api_err tasks_cancel(struct arena *a, int64_t user_id, int64_t id, int *canceled);

enum tasks_tab { TASKS_TAB_ALL, TASKS_TAB_PHOTOGRAPHY, TASKS_TAB_FITTING, TASKS_TAB_FAVORITE };

/* The user's succeeded, not deleted works of a tab, newest first. */
enum api_err tasks_works_list(struct arena *a, int64_t user_id, enum tasks_tab tab,
                              int64_t before_id, int limit, struct work **rows, size_t *n,
                              bool *more);
/* One work (any status, not deleted). */
enum api_err tasks_work_get(struct arena *a, int64_t user_id, int64_t id, struct work *out);
/* Soft delete; E_NOT_FOUND when missing, foreign or already deleted. */
enum api_err tasks_work_delete(struct arena *a, int64_t user_id, int64_t id);
/* favorite: 1 / 0 sets, -1 toggles; *out gets the work after the change. */
enum api_err tasks_work_favorite(struct arena *a, int64_t user_id, int64_t id, int favorite,
                                 struct work *out);
/* Soft-deletes those of the ids that are the user's and not deleted yet. */
enum api_err tasks_works_delete(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                                int64_t *deleted);

/* ------------------------------------------------------------------ the admin API */

/* Which tasks GET /admin/tasks lists (NULL / 0: any). */
struct tasks_filter {
	const char *status, *type;
	int64_t user_id;
	int64_t model_id; /* an item ran on that AI model */
};

/* Every user's tasks, newest first: SQL_TASK_JSON and "items" [{"id","status","attempt",
 * "max_attempts","ai_model_id","error_code","error","image_url","refunded","finished_at"}]. */
enum api_err tasks_admin_list(struct arena *a, const struct tasks_filter *f,
                              const struct view_cursor *c, struct view_page *out);
/* One task as listed, with "prompt","negative_prompt","params","asset_ids","person_asset_id",
 * "garment_asset_id","notified_at".  E_NOT_FOUND. */
enum api_err tasks_admin_get(struct arena *a, int64_t id, char **json);
/*
 * Queues the task's failed items again (task.retry, audited, one transaction): each gets three
 * more attempts and no provider job, the task is open again (failed counter down; its end was
 * notified once and is not again).  Nothing is charged: the items' prices went back when they failed, so they
 * are free now, and an item that fails again is not refunded again (works_fail).  *requeued
 * how many; *json the task as listed.  E_CONFLICT when no item may be retried (none failed,
 * or each used 100 attempts); E_NOT_FOUND.
 */
enum api_err tasks_admin_retry(struct arena *a, const struct audit_actor *who, int64_t id,
                               int *requeued, char **json);
/* tasks_cancel for any user's task (task.cancel, audited when it cancels something); *json
 * the task as listed.  E_NOT_FOUND. */
enum api_err tasks_admin_cancel(struct arena *a, const struct audit_actor *who, int64_t id,
                                int *canceled, char **json);

#endif
