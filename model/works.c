/* works — see works.h. */
#include "model/works.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/db.h"
#include "lib/log.h"
#include "model/ledger.h"
#include "model/sql.h"

enum works_stmt {
	WK_LOCK,
	WK_RESCUE,
	WK_CLAIM,
	WK_MODELS,
	WK_MODEL,
	WK_HEARTBEAT,
	WK_SET_JOB,
	WK_SUCCEED,
	WK_RETRY,
	WK_RELEASE,
	WK_FAIL,
	WK_TASK_FAILED,
	WK_LISTEN,
	WK_NEXT_DUE,
	WK_CLOUD_CLAIM,
	WK_CLOUD_FETCHED,
	WK_CLOUD_FAILED,
	WK__MAX
};

/* An AI model row as struct ai_model reads it (works_model_rows). */
#define WORKS_MODEL_COLS                                                                   \
	"id, name, provider, mode, kind, endpoint, api_key_env, model, priority, weight, " \
	"timeout_ms, poll_interval_ms, options::text"

/* The fence of every write after a claim: $1 id, $2 claimed attempt. */
#define WK_FENCE "id = $1 AND attempt = $2 AND status = 'running'"

/* A task's counters after one more item ended (t is the tasks row, d/f the increments). */
#define WK_TASK_END(d, f)                                                                      \
	"done = t.done + " d ", failed = t.failed + " f                                        \
	", status = " SQL_TASK_STATUS("t.done + " d, "t.failed + " f, "t.canceled", "t.count", \
	                              "true") ", finished_at = CASE WHEN t.done + " d          \
	                                      " + t.failed + " f " + t.canceled "              \
	                                      ">= t.count THEN now() ELSE t.finished_at END"

/* The statements that make an item due again (rescue, retry, release) notify WORKS_CHANNEL
 * per row they change (PostgreSQL delivers one per transaction) and count by RETURNING. */
static const char *const works_sql[WK__MAX] = {
    [WK_LOCK] = "SELECT pg_try_advisory_lock(hashtext('aiphoto-dispatch-maintenance'))",
    /* Compare-and-set: the row must still be running with an expired lease when the
     * UPDATE takes its lock, so an item completed meanwhile is left alone. */
    [WK_RESCUE] =
        "UPDATE works w SET status = 'queued', lease_until = NULL, locked_by = NULL, "
        "run_after = now(), error_code = 'lease_expired' "
        "WHERE w.id IN (SELECT id FROM works WHERE status = 'running' "
        "AND lease_until < now() ORDER BY lease_until LIMIT 1000 "
        "FOR UPDATE SKIP LOCKED) "
        "AND w.status = 'running' AND w.lease_until < now() RETURNING w.id, " WORKS_NOTIFY,
    /* $1 limit, $2 lease seconds, $3 owner */
    [WK_CLAIM] =
        "WITH c AS (SELECT id FROM works WHERE status = 'queued' AND run_after <= now() "
        "ORDER BY priority, id LIMIT $1 FOR UPDATE SKIP LOCKED), "
        "u AS (UPDATE works w SET status = 'running', attempt = w.attempt + 1, "
        "lease_until = now() + make_interval(secs => $2), locked_by = $3, "
        "started_at = COALESCE(w.started_at, now()) FROM c WHERE w.id = c.id "
        "RETURNING w.id, w.task_id, w.user_id, w.type, w.attempt, w.max_attempts, "
        "w.ai_model_id, w.provider_job_id, w.error_code, w.provider_job_at), "
        /* the tasks become running; locked in id order, so concurrent claims cannot
         * deadlock, and re-checked after the wait (a task another claim just marked is
         * skipped) */
        "r AS (UPDATE tasks SET status = 'running' WHERE id IN (SELECT id FROM tasks "
        "WHERE id IN (SELECT task_id FROM u) AND status = 'queued' ORDER BY id FOR UPDATE)) "
        "SELECT u.id, u.task_id, u.user_id, u.type, u.attempt, u.max_attempts, "
        "COALESCE(u.ai_model_id, 0), u.provider_job_id, u.error_code, t.prompt, "
        "t.negative_prompt, t.params::text, "
        "COALESCE(EXTRACT(EPOCH FROM now() - u.provider_job_at), 0)::bigint, "
        "(SELECT COALESCE(json_agg(json_build_object('key', a.storage_key, 'mime', a.mime) "
        "ORDER BY x.ord), '[]'::json) FROM unnest(CASE WHEN t.type = 'fitting' "
        "THEN ARRAY[t.person_asset_id, t.garment_asset_id] ELSE t.asset_ids END) "
        "WITH ORDINALITY x(aid, ord) JOIN assets a ON a.id = x.aid)::text "
        "FROM u JOIN tasks t ON t.id = u.task_id ORDER BY u.id",
    [WK_MODELS] = "SELECT " WORKS_MODEL_COLS " FROM ai_models WHERE active "
                  "ORDER BY kind, priority, id",
    [WK_MODEL] = "SELECT " WORKS_MODEL_COLS " FROM ai_models WHERE id = $1",
    [WK_HEARTBEAT] = "UPDATE works SET lease_until = now() + make_interval(secs => $3) "
                     "WHERE " WK_FENCE,
    [WK_SET_JOB] = "UPDATE works SET ai_model_id = $3, provider_job_id = $4, "
                   "provider_job_at = now() WHERE " WK_FENCE,
    /* $3 model, $4 image url, $5 provider url, $6 thumbnail url (NULL: the image's) */
    [WK_SUCCEED] =
        "WITH w AS (UPDATE works SET status = 'succeeded', ai_model_id = $3, "
        "image_url = $4, thumb_url = COALESCE($6::text, $4), provider_result_url = $5, "
        "lease_until = NULL, error_code = NULL, error = NULL, finished_at = now() "
        "WHERE " WK_FENCE " RETURNING task_id) "
        "UPDATE tasks t SET " WK_TASK_END("1", "0") " FROM w WHERE t.id = w.task_id "
                                                    "RETURNING t.finished_at IS NOT NULL",
    /* $3 delay ms, $4 model, $5 job id, $6 code, $7 message */
    [WK_RETRY] = "UPDATE works SET status = 'queued', lease_until = NULL, locked_by = NULL, "
                 "run_after = now() + make_interval(secs => $3::double precision / 1000), "
                 "ai_model_id = $4, provider_job_id = $5, error_code = $6, error = $7, "
                 "provider_job_at = CASE WHEN $5::text IS NULL THEN NULL ELSE provider_job_at END "
                 "WHERE " WK_FENCE " RETURNING id, " WORKS_NOTIFY,
    [WK_RELEASE] = "UPDATE works SET status = 'queued', attempt = attempt - 1, "
                   "lease_until = NULL, locked_by = NULL, "
                   "run_after = now() + make_interval(secs => $3::double precision / 1000) "
                   "WHERE " WK_FENCE " RETURNING id, " WORKS_NOTIFY,
    /* $3 model, $4 code, $5 message.  The price goes back once per item: an item an admin
     * retried (POST /admin/tasks/:id/retry) was refunded when it failed before and keeps its
     * refunded_at, so failing again it refunds 0 */
    [WK_FAIL] = "WITH o AS (SELECT id, refunded_at FROM works WHERE " WK_FENCE " FOR UPDATE) "
                "UPDATE works w SET status = 'failed', ai_model_id = COALESCE($3, w.ai_model_id), "
                "error_code = $4, error = $5, lease_until = NULL, finished_at = now(), "
                "refunded_at = COALESCE(o.refunded_at, now()) FROM o WHERE w.id = o.id "
                "RETURNING w.task_id, w.user_id, CASE WHEN o.refunded_at IS NULL "
                "THEN (SELECT price FROM tasks WHERE id = w.task_id) ELSE 0 END",
    /* $1 task, $2 refunded credits */
    [WK_TASK_FAILED] = "UPDATE tasks t SET " WK_TASK_END(
        "0", "1") ", credits_refunded = t.credits_refunded + $2 WHERE t.id = $1 "
                  "RETURNING t.finished_at IS NOT NULL",
    [WK_LISTEN] = "LISTEN " WORKS_CHANNEL,
    [WK_NEXT_DUE] = "SELECT COALESCE(GREATEST(0, CEIL(EXTRACT(EPOCH FROM min(run_after) - now()) "
                    "* 1000)), -1)::bigint FROM works WHERE status = 'queued'",
    /* cloud:// images of imported works (migration 0010): $1 limit, $2 lease seconds; the
     * predicate is the one of works_cloud_fetch_idx */
    [WK_CLOUD_CLAIM] =
        "WITH c AS (SELECT id FROM works WHERE deleted_at IS NULL "
        "AND (image_url LIKE 'cloud://%' OR thumb_url LIKE 'cloud://%') "
        "AND (cloud_fetch_after IS NULL OR cloud_fetch_after <= now()) "
        "ORDER BY cloud_fetch_after NULLS FIRST, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
        "UPDATE works w SET cloud_fetch_after = now() + make_interval(secs => $2), "
        "cloud_fetch_attempts = w.cloud_fetch_attempts + 1 FROM c WHERE w.id = c.id "
        "RETURNING w.id, w.image_url, w.thumb_url, w.cloud_fetch_attempts",
    /* compare-and-set: $2 (the file id) is replaced by $3 (our URL) where it still stands */
    [WK_CLOUD_FETCHED] =
        "UPDATE works SET image_url = CASE WHEN image_url = $2 THEN $3 ELSE image_url END, "
        "thumb_url = CASE WHEN thumb_url = $2 THEN COALESCE($4::text, $3) ELSE thumb_url END, "
        "cloud_fetch_error = NULL, updated_at = now() "
        "WHERE id = $1 AND (image_url = $2 OR thumb_url = $2)",
    [WK_CLOUD_FAILED] = "UPDATE works SET cloud_fetch_after = now() + make_interval(secs => $2), "
                        "cloud_fetch_error = $3 WHERE id = $1",
};

static struct db_stmts works_stmts = DB_STMTS("works", works_sql);

/* Runs a statement; *rows (optional) gets the affected or returned row count. */
static enum api_err works_run(int idx, int n, const char *const *p, int *rows)
{
	return db_run(&works_stmts, idx, n, p, rows);
}

/* A fenced write with rows counted: 0 rows → E_CONFLICT (the claim was lost). */
static enum api_err works_fenced(int idx, int n, const char *const *p)
{
	int rows = 0;
	enum api_err err = works_run(idx, n, p, &rows);

	if (err == E_OK && rows == 0)
		err = E_CONFLICT;
	return err;
}

enum api_err works_maintenance_lock(bool *got)
{
	PGresult *res = NULL;
	enum api_err err = db_exec(&works_stmts, WK_LOCK, 0, NULL, &res);

	*got = err == E_OK && PQntuples(res) == 1 && db_bool(res, 0, 0);
	PQclear(res);
	return err;
}

enum api_err works_listen(void)
{
	return works_run(WK_LISTEN, 0, NULL, NULL);
}

enum api_err works_next_due(long *ms)
{
	PGresult *res = NULL;
	enum api_err err = db_exec(&works_stmts, WK_NEXT_DUE, 0, NULL, &res);

	*ms = -1;
	if (err == E_OK && PQntuples(res) == 1)
		*ms = (long)db_i64(res, 0, 0);
	PQclear(res);
	return err;
}

enum api_err works_rescue(struct arena *a, size_t *n)
{
	int rows = 0;
	enum api_err err;

	(void)a;
	err = works_run(WK_RESCUE, 0, NULL, &rows);
	*n = err == E_OK ? (size_t)rows : 0;
	return err;
}

enum api_err works_claim(struct arena *a, int limit, long lease_s, const char *owner,
                         struct work_claim **out, size_t *n)
{
	const char *p[3] = {db_param_i64(a, limit), db_param_i64(a, lease_s), owner};
	PGresult *res = NULL;
	enum api_err err;
	size_t rows;

	*out = NULL;
	*n = 0;
	if ((err = db_exec(&works_stmts, WK_CLAIM, 3, p, &res)) != E_OK)
		return err;
	rows = (size_t)PQntuples(res);
	if (rows == 0)
		goto out;
	*out = arena_zalloc(a, rows * sizeof(**out));
	for (size_t i = 0; i < rows; i++) {
		struct work_claim *w = &(*out)[i];
		int c = (int)i;

		w->id = db_i64(res, c, 0);
		w->task_id = db_i64(res, c, 1);
		w->user_id = db_i64(res, c, 2);
		w->type = db_str(a, res, c, 3);
		w->attempt = (int)db_i64(res, c, 4);
		w->max_attempts = (int)db_i64(res, c, 5);
		w->ai_model_id = db_i64(res, c, 6);
		w->provider_job_id = db_str(a, res, c, 7);
		w->last_error = db_str(a, res, c, 8);
		w->prompt = db_str(a, res, c, 9);
		w->negative_prompt = db_str(a, res, c, 10);
		w->params = db_str(a, res, c, 11);
		w->job_age_s = (long)db_i64(res, c, 12);
		w->inputs = db_str(a, res, c, 13);
	}
	*n = rows;
out:
	PQclear(res);
	return E_OK;
}

/* Runs a statement answering WORKS_MODEL_COLS rows into *out (*n of them, one zeroed
 * entry more). */
static enum api_err works_model_rows(struct arena *a, int idx, int np, const char *const *p,
                                     struct ai_model **out, size_t *n)
{
	PGresult *res = NULL;
	enum api_err err;

	*out = NULL;
	*n = 0;
	if ((err = db_exec(&works_stmts, idx, np, p, &res)) != E_OK)
		return err;
	*n = (size_t)PQntuples(res);
	*out = arena_zalloc(a, (*n + 1) * sizeof(**out));
	for (int i = 0; i < (int)*n; i++) {
		struct ai_model *m = &(*out)[i];

		m->id = db_i64(res, i, 0);
		m->name = db_str(a, res, i, 1);
		m->provider = db_str(a, res, i, 2);
		m->mode = db_str(a, res, i, 3);
		m->kind = db_str(a, res, i, 4);
		m->endpoint = db_str(a, res, i, 5);
		m->api_key_env = db_str(a, res, i, 6);
		m->model = db_str(a, res, i, 7);
		m->priority = (int)db_i64(res, i, 8);
		m->weight = (int)db_i64(res, i, 9);
		m->timeout_ms = (long)db_i64(res, i, 10);
		m->poll_interval_ms = (long)db_i64(res, i, 11);
		m->options = db_str(a, res, i, 12);
	}
	PQclear(res);
	return E_OK;
}

enum api_err works_models(struct arena *a, struct ai_model **out, size_t *n)
{
	return works_model_rows(a, WK_MODELS, 0, NULL, out, n);
}

enum api_err works_model(struct arena *a, int64_t id, struct ai_model *out)
{
	const char *p[1] = {db_param_i64(a, id)};
	struct ai_model *rows;
	size_t n;
	enum api_err err = works_model_rows(a, WK_MODEL, 1, p, &rows, &n);

	if (err == E_OK && n != 1)
		err = E_NOT_FOUND;
	if (err == E_OK)
		*out = rows[0];
	return err;
}

enum api_err works_heartbeat(struct arena *a, int64_t id, int attempt, long lease_s)
{
	const char *p[3] = {db_param_i64(a, id), db_param_i64(a, attempt),
	                    db_param_i64(a, lease_s)};
	return works_fenced(WK_HEARTBEAT, 3, p);
}

enum api_err works_set_job(struct arena *a, int64_t id, int attempt, int64_t model_id,
                           const char *job_id)
{
	const char *p[4] = {db_param_i64(a, id), db_param_i64(a, attempt),
	                    db_param_i64(a, model_id), job_id};
	return works_fenced(WK_SET_JOB, 4, p);
}

/* Runs a fenced statement that returns one boolean row (the task ended). */
static enum api_err works_ending(int idx, int n, const char *const *p, bool *task_ended)
{
	PGresult *res = NULL;
	enum api_err err = db_exec(&works_stmts, idx, n, p, &res);

	*task_ended = false;
	if (err == E_OK) {
		if (PQntuples(res) == 1)
			*task_ended = db_bool(res, 0, 0);
		else
			err = E_CONFLICT;
	}
	PQclear(res);
	return err;
}

enum api_err works_succeed(struct arena *a, int64_t id, int attempt, int64_t model_id,
                           const char *image_url, const char *thumb_url, const char *provider_url,
                           bool *task_ended)
{
	const char *p[6] = {db_param_i64(a, id),
	                    db_param_i64(a, attempt),
	                    model_id > 0 ? db_param_i64(a, model_id) : NULL,
	                    image_url,
	                    provider_url,
	                    thumb_url};
	return works_ending(WK_SUCCEED, 6, p, task_ended);
}

enum api_err works_retry(struct arena *a, int64_t id, int attempt, long delay_ms, int64_t model_id,
                         const char *job_id, const char *code, const char *message)
{
	const char *p[7] = {db_param_i64(a, id),
	                    db_param_i64(a, attempt),
	                    db_param_i64(a, delay_ms),
	                    model_id > 0 ? db_param_i64(a, model_id) : NULL,
	                    job_id,
	                    code,
	                    message};
	return works_fenced(WK_RETRY, 7, p);
}

enum api_err works_release(struct arena *a, int64_t id, int attempt, long delay_ms)
{
	const char *p[3] = {db_param_i64(a, id), db_param_i64(a, attempt),
	                    db_param_i64(a, delay_ms)};
	return works_fenced(WK_RELEASE, 3, p);
}

enum api_err works_fail(struct arena *a, int64_t id, int attempt, int64_t model_id,
                        const char *code, const char *message, bool *task_ended)
{
	const char *p[5] = {db_param_i64(a, id), db_param_i64(a, attempt),
	                    model_id > 0 ? db_param_i64(a, model_id) : NULL, code, message};
	PGresult *res = NULL;
	enum api_err err;
	int64_t task_id, user_id, price;
	int64_t balance = 0;

	*task_ended = false;
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = db_exec(&works_stmts, WK_FAIL, 5, p, &res)) != E_OK)
		goto out;
	if (PQntuples(res) != 1) {
		err = E_CONFLICT; /* fenced out: rescued or canceled meanwhile */
		goto out;
	}
	task_id = db_i64(res, 0, 0);
	user_id = db_i64(res, 0, 1);
	price = db_i64(res, 0, 2);
	PQclear(res);
	res = NULL;
	if (price > 0) {
		err = ledger_apply(a, user_id, price, "refund",
		                   arena_printf(a, "work:%lld", (long long)id), "生成失败退还",
		                   arena_printf(a, "refund:work:%lld", (long long)id), &balance);
		if (err != E_OK)
			goto out;
	}
	{
		const char *tp[2] = {db_param_i64(a, task_id), db_param_i64(a, price)};
		if ((err = works_ending(WK_TASK_FAILED, 2, tp, task_ended)) != E_OK)
			goto out;
	}
	err = db_commit();
out:
	PQclear(res);
	if (err != E_OK)
		db_rollback();
	return err;
}

enum api_err works_cloud_claim(struct arena *a, int limit, long lease_s, struct work_cloud **out,
                               size_t *n)
{
	const char *p[2] = {db_param_i64(a, limit), db_param_i64(a, lease_s)};
	PGresult *res = NULL;
	enum api_err err;

	*out = NULL;
	*n = 0;
	if ((err = db_exec(&works_stmts, WK_CLOUD_CLAIM, 2, p, &res)) != E_OK)
		return err;
	*n = (size_t)PQntuples(res);
	*out = arena_zalloc(a, (*n + 1) * sizeof(**out));
	for (int i = 0; i < (int)*n; i++) {
		(*out)[i].id = db_i64(res, i, 0);
		(*out)[i].image_url = db_str(a, res, i, 1);
		(*out)[i].thumb_url = db_str(a, res, i, 2);
		(*out)[i].attempts = (int)db_i64(res, i, 3);
	}
	PQclear(res);
	return E_OK;
}

enum api_err works_cloud_fetched(struct arena *a, int64_t id, const char *file_id, const char *url,
                                 const char *thumb_url, bool *changed)
{
	const char *p[4] = {db_param_i64(a, id), file_id, url, thumb_url};
	int rows = 0;
	enum api_err err = works_run(WK_CLOUD_FETCHED, 4, p, &rows);

	*changed = err == E_OK && rows > 0;
	return err;
}

enum api_err works_cloud_failed(struct arena *a, int64_t id, long delay_s, const char *error)
{
	const char *p[3] = {db_param_i64(a, id), db_param_i64(a, delay_s), error};

	return works_run(WK_CLOUD_FAILED, 3, p, NULL);
}
