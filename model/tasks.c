/* tasks — see tasks.h. */
#include "model/tasks.h"

#include <string.h>

#include "lib/db.h"
#include "model/ledger.h"
#include "model/sql.h"
#include "model/viewsql.h"
#include "model/works.h"

enum tasks_stmt {
	TK_INSERT,
	TK_INSERT_WORKS,
	TK_GET,
	TK_LIST,
	TK_ITEMS,
	TK_CANCEL_WORKS,
	TK_CANCEL_TASK,
	TK_WORKS_ALL,
	TK_WORKS_TYPE,
	TK_WORKS_FAVORITE,
	TK_WORK_GET,
	TK_WORK_DELETE,
	TK_WORK_FAVORITE,
	TK_WORKS_DELETE,
	TK_NOTIFY,
	TK_ADMIN_LIST,
	TK_ADMIN_GET,
	TK_ADMIN_LOCK,
	TK_RETRY_WORKS,
	TK_RETRY_TASK,
	TK__MAX
};

#define TASKS_COLS                                                                           \
	"id, user_id, type, status, count, price, credits_charged, credits_refunded, done, " \
	"failed, canceled, scene_id, " SQL_TIME("created_at") ", " SQL_TIME("finished_at")

#define WORKS_COLS                                                                 \
	"id, task_id, type, status, image_url, thumb_url, scene_id, is_favorite, " \
	"error_code, " SQL_TIME("created_at")

/* A task as the admin API shows it (alias t): SQL_TASK_JSON and its items, each with its
 * error and whether its price went back. */
#define TASKS_ADMIN_JSON                                                                      \
	"(" SQL_TASK_JSON " || jsonb_build_object('items', COALESCE((SELECT jsonb_agg("       \
	"jsonb_build_object('id', w.id, 'status', w.status, 'attempt', w.attempt, "           \
	"'max_attempts', w.max_attempts, 'ai_model_id', w.ai_model_id, "                      \
	"'error_code', w.error_code, 'error', w.error, 'image_url', w.image_url, "            \
	"'refunded', w.refunded_at IS NOT NULL, 'finished_at', aiphoto_time(w.finished_at)) " \
	"ORDER BY w.id) FROM works w WHERE w.task_id = t.id), '[]')))::text"

/* In the cancel's SET (old column values; $3 = items canceled now): started means the task
 * was running, or an item ended or is running. */
#define TASKS_STARTED                                                             \
	"status = 'running' OR done + failed > 0 OR EXISTS (SELECT 1 FROM works " \
	"WHERE works.task_id = tasks.id AND works.status = 'running')"
#define TASKS_CANCEL_STATUS \
	SQL_TASK_STATUS("done", "failed", "canceled + $3::integer", "count", TASKS_STARTED)
#define TASKS_ENDED "done + failed + canceled + $3::integer >= count"

/* succeeded, not deleted works of the owner, older than the cursor, newest first */
#define WORKS_PAGE(filter)                                                                   \
	"SELECT " WORKS_COLS " FROM works WHERE user_id = $1 AND deleted_at IS NULL " filter \
	" AND status = 'succeeded' AND id < COALESCE($2::bigint, 9223372036854775807) "      \
	"ORDER BY id DESC LIMIT $3"

static const char *const tasks_sql[TK__MAX] = {
    [TK_INSERT] = "INSERT INTO tasks (user_id, type, count, price, credits_charged, scene_id, "
                  "asset_ids, person_asset_id, garment_asset_id, params, prompt, "
                  "negative_prompt, channel) VALUES ($1, $2, $3::integer, $4::bigint, "
                  "$3::integer * $4::bigint, $5, $6::bigint[], $7, $8, $9::jsonb, $10, $11, "
                  "COALESCE($12, 'oa')) "
                  "RETURNING id",
    [TK_INSERT_WORKS] = "INSERT INTO works (task_id, user_id, type, scene_id, max_attempts) "
                        "SELECT t.id, t.user_id, t.type, t.scene_id, 3 "
                        "FROM tasks t CROSS JOIN generate_series(1, t.count) "
                        "WHERE t.id = $1",
    [TK_GET] = "SELECT " TASKS_COLS " FROM tasks WHERE id = $1 AND user_id = $2",
    [TK_LIST] = "SELECT " TASKS_COLS " FROM tasks WHERE user_id = $1 "
                "AND ($2::text IS NULL OR status = $2) "
                "AND id < COALESCE($3::bigint, 9223372036854775807) "
                "ORDER BY id DESC LIMIT $4",
    [TK_ITEMS] = "SELECT " WORKS_COLS " FROM works WHERE task_id = $1 AND deleted_at IS NULL "
                 "ORDER BY id",
    /* queued items only: a claimed (running) one is the dispatcher's, and a queued one that
     * holds a provider job (released at the end of a dispatcher run) is already paid for at
     * the provider and will be polled */
    [TK_CANCEL_WORKS] =
        "WITH c AS (SELECT id, refunded_at IS NULL AS owed FROM works WHERE task_id = $1 "
        "AND user_id = $2 AND status = 'queued' AND provider_job_id IS NULL FOR UPDATE), "
        "w AS (UPDATE works SET status = 'canceled', finished_at = now(), "
        "refunded_at = COALESCE(works.refunded_at, now()) FROM c WHERE works.id = c.id "
        "AND works.status = 'queued' RETURNING works.id, c.owed) "
        "SELECT count(*), min(w.id), (SELECT price FROM tasks WHERE id = $1 AND user_id = $2), "
        "count(*) FILTER (WHERE w.owed) FROM w",
    /* $3 canceled now, $4 credits refunded now */
    [TK_CANCEL_TASK] = "UPDATE tasks SET canceled = canceled + $3::integer, "
                       "credits_refunded = credits_refunded + $4::bigint, "
                       "status = " TASKS_CANCEL_STATUS ", finished_at = CASE WHEN " TASKS_ENDED
                       " THEN COALESCE(finished_at, now()) ELSE finished_at END "
                       "WHERE id = $1 AND user_id = $2",
    [TK_WORKS_ALL] = WORKS_PAGE(""),
    [TK_WORKS_TYPE] = WORKS_PAGE("AND type = $4"),
    [TK_WORKS_FAVORITE] = WORKS_PAGE("AND is_favorite"),
    [TK_WORK_GET] = "SELECT " WORKS_COLS " FROM works WHERE id = $1 AND user_id = $2 "
                    "AND deleted_at IS NULL",
    [TK_WORK_DELETE] = "UPDATE works SET deleted_at = now() WHERE id = $1 AND user_id = $2 "
                       "AND deleted_at IS NULL RETURNING id",
    [TK_WORK_FAVORITE] = "UPDATE works SET is_favorite = COALESCE($3::boolean, NOT is_favorite) "
                         "WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL "
                         "RETURNING " WORKS_COLS,
    [TK_WORKS_DELETE] = "WITH d AS (UPDATE works SET deleted_at = now() WHERE user_id = $1 "
                        "AND id = ANY($2::bigint[]) AND deleted_at IS NULL RETURNING 1) "
                        "SELECT count(*) FROM d",
    /* wakes the listening dispatcher runs when the creating transaction commits */
    [TK_NOTIFY] = "SELECT " WORKS_NOTIFY,
    /* $1 before id, $2 status, $3 type, $4 user, $5 a model an item ran on, $6 limit */
    [TK_ADMIN_LIST] = "SELECT t.id, " TASKS_ADMIN_JSON " FROM tasks t "
                      "WHERE t.id < COALESCE($1::bigint, 9223372036854775807) "
                      "AND ($2::text IS NULL OR t.status = $2) "
                      "AND ($3::text IS NULL OR t.type = $3) "
                      "AND ($4::bigint IS NULL OR t.user_id = $4) "
                      "AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM works w "
                      "WHERE w.task_id = t.id AND w.ai_model_id = $5)) "
                      "ORDER BY t.id DESC LIMIT $6",
    [TK_ADMIN_GET] = "SELECT (" TASKS_ADMIN_JSON "::jsonb || jsonb_build_object('prompt', "
                     "t.prompt, 'negative_prompt', t.negative_prompt, 'params', t.params, "
                     "'asset_ids', t.asset_ids, 'person_asset_id', t.person_asset_id, "
                     "'garment_asset_id', t.garment_asset_id, "
                     "'notified_at', aiphoto_time(t.notified_at)))::text "
                     "FROM tasks t WHERE t.id = $1",
    [TK_ADMIN_LOCK] = "SELECT " TASKS_ADMIN_JSON ", t.user_id FROM tasks t WHERE t.id = $1 "
                      "FOR UPDATE",
    /* The failed items queued again at once, with three more attempts (the attempt number
     * only grows, so a late write of an earlier claim stays fenced out) and no provider
     * job; refunded_at stays: the item is free now, and never refunded twice (WK_FAIL) */
    [TK_RETRY_WORKS] = "WITH w AS (UPDATE works SET status = 'queued', run_after = now(), "
                       "lease_until = NULL, locked_by = NULL, "
                       "max_attempts = LEAST(attempt + 3, 100), error_code = NULL, "
                       "error = NULL, finished_at = NULL, provider_job_id = NULL, "
                       "provider_job_at = NULL WHERE task_id = $1 AND status = 'failed' "
                       "AND deleted_at IS NULL AND attempt < 100 RETURNING id) "
                       "SELECT count(*) FROM w",
    /* $2 items queued again: the task is open again (its end was notified once already: one
     * notice per task, migration 0014, so the next end sends none) */
    [TK_RETRY_TASK] =
        "UPDATE tasks t SET failed = t.failed - $2::integer, status = " SQL_TASK_STATUS(
            "t.done", "t.failed - $2::integer", "t.canceled", "t.count",
            "t.done + t.failed - $2::integer > 0") ", finished_at = NULL "
                                                   "WHERE t.id = $1 RETURNING " TASKS_ADMIN_JSON,
};

static struct db_stmts tasks_stmts = DB_STMTS("tasks", tasks_sql);

/* A positive id as a parameter, NULL for 0. */
static const char *tasks_id_param(struct arena *a, int64_t id)
{
	return id > 0 ? db_param_i64(a, id) : NULL;
}

static int64_t tasks_i64_or0(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : db_i64(r, row, col);
}

static void tasks_row(struct arena *a, const PGresult *r, int i, struct task *t)
{
	t->id = db_i64(r, i, 0);
	t->user_id = db_i64(r, i, 1);
	t->type = db_str(a, r, i, 2);
	t->status = db_str(a, r, i, 3);
	t->count = (int)db_i64(r, i, 4);
	t->price = db_i64(r, i, 5);
	t->credits_charged = db_i64(r, i, 6);
	t->credits_refunded = db_i64(r, i, 7);
	t->done = (int)db_i64(r, i, 8);
	t->failed = (int)db_i64(r, i, 9);
	t->canceled = (int)db_i64(r, i, 10);
	t->scene_id = tasks_i64_or0(r, i, 11);
	t->created_at = db_str(a, r, i, 12);
	t->finished_at = db_str(a, r, i, 13);
}

static void tasks_work_row(struct arena *a, const PGresult *r, int i, struct work *w)
{
	w->id = db_i64(r, i, 0);
	w->task_id = tasks_i64_or0(r, i, 1);
	w->type = db_str(a, r, i, 2);
	w->status = db_str(a, r, i, 3);
	w->image_url = db_str(a, r, i, 4);
	w->thumb_url = db_str(a, r, i, 5);
	w->scene_id = tasks_i64_or0(r, i, 6);
	w->is_favorite = db_bool(r, i, 7);
	w->error_code = db_str(a, r, i, 8);
	w->created_at = db_str(a, r, i, 9);
}

/* Runs a statement answering works rows. */
static enum api_err tasks_work_rows(struct arena *a, int idx, int n, const char *const *p,
                                    struct work **rows, size_t *count)
{
	PGresult *res;
	enum api_err err = db_exec(&tasks_stmts, idx, n, p, &res);
	int got;

	*count = 0;
	if (err != E_OK)
		return err;
	got = PQntuples(res);
	*rows = arena_alloc(a, sizeof(**rows) * (size_t)(got ? got : 1));
	for (int i = 0; i < got; i++)
		tasks_work_row(a, res, i, &(*rows)[i]);
	*count = (size_t)got;
	PQclear(res);
	return E_OK;
}

/* Runs a statement whose first row's first column is an integer (0 when no row). */
static enum api_err tasks_scalar(int idx, int n, const char *const *p, int64_t *out)
{
	PGresult *res;
	enum api_err err = db_exec(&tasks_stmts, idx, n, p, &res);

	*out = 0;
	if (err != E_OK)
		return err;
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		*out = db_i64(res, 0, 0);
	PQclear(res);
	return E_OK;
}

struct tasks_insert_ctx {
	int64_t user_id;
	const struct task_new *t;
};

/* idempotency_work: the task, its debit and its works, inside the open transaction. */
static enum api_err tasks_insert(struct arena *a, void *ctx, int64_t *task_id)
{
	const struct tasks_insert_ctx *c = ctx;
	const struct task_new *t = c->t;
	const char *p[12] = {db_param_i64(a, c->user_id),
	                     t->type,
	                     db_param_i64(a, t->count),
	                     db_param_i64(a, t->price),
	                     tasks_id_param(a, t->scene_id),
	                     db_param_i64_array(a, t->asset_ids, t->nassets),
	                     tasks_id_param(a, t->person_asset_id),
	                     tasks_id_param(a, t->garment_asset_id),
	                     t->params ? t->params : "{}",
	                     t->prompt ? t->prompt : "",
	                     t->negative_prompt ? t->negative_prompt : "",
	                     t->channel};
	int64_t total = (int64_t)t->count * t->price, id = 0, balance;
	const char *w[1];
	PGresult *res;
	enum api_err err;

	*task_id = 0;
	if ((err = tasks_scalar(TK_INSERT, 12, p, &id)) != E_OK)
		return err;
	if (total > 0) {
		const char *ref = arena_printf(a, "task:%lld", (long long)id);
		err = ledger_apply(a, c->user_id, -total, "consume", ref,
		                   arena_printf(a, "%s ×%d", t->type, t->count), ref, &balance);
		if (err != E_OK)
			return err;
	}
	w[0] = db_param_i64(a, id);
	if ((err = db_exec(&tasks_stmts, TK_INSERT_WORKS, 1, w, &res)) != E_OK)
		return err;
	PQclear(res);
	if ((err = db_exec(&tasks_stmts, TK_NOTIFY, 0, NULL, &res)) != E_OK)
		return err;
	PQclear(res);
	*task_id = id;
	return E_OK;
}

enum api_err tasks_create(struct arena *a, const struct idem_key *k, const struct task_new *t,
                          struct idem_outcome *out)
{
	struct tasks_insert_ctx c = {.user_id = k->user_id, .t = t};
	return idempotency_run(a, k, false, tasks_insert, &c, out);
}

enum api_err tasks_get(struct arena *a, int64_t user_id, int64_t id, struct task *out)
{
	const char *p[2] = {db_param_i64(a, id), db_param_i64(a, user_id)};
	PGresult *res;
	enum api_err err = db_exec(&tasks_stmts, TK_GET, 2, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1)
		tasks_row(a, res, 0, out);
	else
		err = E_NOT_FOUND;
	PQclear(res);
	return err;
}

enum api_err tasks_items(struct arena *a, int64_t task_id, struct work **rows, size_t *n)
{
	const char *p[1] = {db_param_i64(a, task_id)};
	return tasks_work_rows(a, TK_ITEMS, 1, p, rows, n);
}

enum api_err tasks_list(struct arena *a, int64_t user_id, const char *status, int64_t before_id,
                        int limit, struct task **rows, size_t *n, bool *more)
{
	const char *p[4] = {db_param_i64(a, user_id), status, tasks_id_param(a, before_id),
	                    db_param_i64(a, limit + 1)};
	PGresult *res;
	enum api_err err = db_exec(&tasks_stmts, TK_LIST, 4, p, &res);

	*n = 0;
	*more = false;
	if (err != E_OK)
		return err;
	*n = (size_t)PQntuples(res);
	*more = db_page_trim(n, limit);
	*rows = arena_alloc(a, sizeof(**rows) * (*n ? *n : 1));
	for (size_t i = 0; i < *n; i++)
		tasks_row(a, res, (int)i, &(*rows)[i]);
	PQclear(res);
	return E_OK;
}

/* The cancel inside the open transaction (works first, then the task: the order the
 * dispatcher's completion uses); the price of items not refunded before goes back once. */
static enum api_err tasks_cancel_tx(struct arena *a, int64_t user_id, int64_t id, int *canceled)
{
	const char *p[4] = {db_param_i64(a, id), db_param_i64(a, user_id), NULL, NULL};
	int64_t n = 0, lowest = 0, price = 0, owed = 0, refund, balance;
	PGresult *res;
	enum api_err err;

	*canceled = 0;
	if ((err = db_exec(&tasks_stmts, TK_CANCEL_WORKS, 2, p, &res)) != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		n = db_i64(res, 0, 0);
		lowest = tasks_i64_or0(res, 0, 1);
		price = tasks_i64_or0(res, 0, 2);
		owed = db_i64(res, 0, 3);
	}
	PQclear(res);
	if (n == 0)
		return E_OK; /* nothing queued: the task is unchanged */
	refund = owed * price;
	if (refund > 0 &&
	    (err = ledger_apply(
	         a, user_id, refund, "refund", arena_printf(a, "task:%lld", (long long)id),
	         arena_printf(a, "cancel ×%lld", (long long)owed),
	         arena_printf(a, "refund:cancel:%lld:%lld", (long long)id, (long long)lowest),
	         &balance)) != E_OK)
		return err;
	p[2] = db_param_i64(a, n);
	p[3] = db_param_i64(a, refund);
	if ((err = db_exec(&tasks_stmts, TK_CANCEL_TASK, 4, p, &res)) != E_OK)
		return err;
	PQclear(res);
	*canceled = (int)n;
	return E_OK;
}

enum api_err tasks_cancel(struct arena *a, int64_t user_id, int64_t id, int *canceled)
{
	struct task t;
	enum api_err err;

	*canceled = 0;
	if ((err = tasks_get(a, user_id, id, &t)) != E_OK)
		return err; /* missing or another user's */
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = tasks_cancel_tx(a, user_id, id, canceled)) == E_OK &&
	    (err = db_commit()) == E_OK)
		return E_OK;
	*canceled = 0;
	db_rollback();
	return err;
}

enum api_err tasks_works_list(struct arena *a, int64_t user_id, enum tasks_tab tab,
                              int64_t before_id, int limit, struct work **rows, size_t *n,
                              bool *more)
{
	const char *p[4] = {db_param_i64(a, user_id), tasks_id_param(a, before_id),
	                    db_param_i64(a, limit + 1), NULL};
	int idx = TK_WORKS_ALL, np = 3;
	enum api_err err;

	if (tab == TASKS_TAB_PHOTOGRAPHY || tab == TASKS_TAB_FITTING) {
		idx = TK_WORKS_TYPE;
		p[3] = tab == TASKS_TAB_PHOTOGRAPHY ? "photography" : "fitting";
		np = 4;
	} else if (tab == TASKS_TAB_FAVORITE) {
		idx = TK_WORKS_FAVORITE;
	}
	*more = false;
	if ((err = tasks_work_rows(a, idx, np, p, rows, n)) != E_OK)
		return err;
	*more = db_page_trim(n, limit);
	return E_OK;
}

enum api_err tasks_work_get(struct arena *a, int64_t user_id, int64_t id, struct work *out)
{
	const char *p[2] = {db_param_i64(a, id), db_param_i64(a, user_id)};
	struct work *rows;
	size_t n;
	enum api_err err = tasks_work_rows(a, TK_WORK_GET, 2, p, &rows, &n);

	if (err != E_OK)
		return err;
	if (n != 1)
		return E_NOT_FOUND;
	*out = rows[0];
	return E_OK;
}

enum api_err tasks_work_delete(struct arena *a, int64_t user_id, int64_t id)
{
	const char *p[2] = {db_param_i64(a, id), db_param_i64(a, user_id)};
	int64_t got = 0;
	enum api_err err = tasks_scalar(TK_WORK_DELETE, 2, p, &got);

	if (err != E_OK)
		return err;
	return got > 0 ? E_OK : E_NOT_FOUND;
}

enum api_err tasks_work_favorite(struct arena *a, int64_t user_id, int64_t id, int favorite,
                                 struct work *out)
{
	const char *p[3] = {db_param_i64(a, id), db_param_i64(a, user_id),
	                    favorite < 0 ? NULL : (favorite ? "true" : "false")};
	struct work *rows;
	size_t n;
	enum api_err err = tasks_work_rows(a, TK_WORK_FAVORITE, 3, p, &rows, &n);

	if (err != E_OK)
		return err;
	if (n != 1)
		return E_NOT_FOUND;
	*out = rows[0];
	return E_OK;
}

enum api_err tasks_works_delete(struct arena *a, int64_t user_id, const int64_t *ids, size_t n,
                                int64_t *deleted)
{
	const char *p[2] = {db_param_i64(a, user_id), db_param_i64_array(a, ids, n)};
	return tasks_scalar(TK_WORKS_DELETE, 2, p, deleted);
}

/* ------------------------------------------------------------------ the admin API */

enum api_err tasks_admin_list(struct arena *a, const struct tasks_filter *f,
                              const struct view_cursor *c, struct view_page *out)
{
	const char *p[6] = {viewsql_before(a, c),
	                    f->status,
	                    f->type,
	                    tasks_id_param(a, f->user_id),
	                    tasks_id_param(a, f->model_id),
	                    viewsql_limit(a, c)};

	return viewsql_page(a, &tasks_stmts, TK_ADMIN_LIST, 6, p, c->limit, out);
}

enum api_err tasks_admin_get(struct arena *a, int64_t id, char **json)
{
	const char *p[1] = {db_param_i64(a, id)};
	return viewsql_one(a, &tasks_stmts, TK_ADMIN_GET, 1, p, json);
}

/* What an admin's retry or cancel needs inside its transaction, and what it did. */
struct tasks_admin_ctx {
	int64_t id;
	bool retry; /* else a cancel */
	int n; /* items queued again, or canceled */
	char *json; /* the task after */
};

/* Locks the task: its view (before) and its owner. */
static enum api_err tasks_admin_lock(struct arena *a, int64_t id, struct audit_change *chg,
                                     int64_t *user_id)
{
	const char *p[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&tasks_stmts, TK_ADMIN_LOCK, 1, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	chg->target_type = "task";
	chg->target_id = p[0];
	chg->before = db_str(a, res, 0, 0);
	*user_id = db_i64(res, 0, 1);
	PQclear(res);
	return E_OK;
}

/* Queues the task's failed items again: E_CONFLICT when it has none that may be retried. */
static enum api_err tasks_retry_tx(struct arena *a, struct tasks_admin_ctx *c)
{
	const char *p[2] = {db_param_i64(a, c->id), NULL};
	int64_t n = 0;
	enum api_err err;

	if ((err = tasks_scalar(TK_RETRY_WORKS, 1, p, &n)) != E_OK)
		return err;
	if (n == 0)
		return E_CONFLICT;
	/* wakes the listening dispatcher runs at the commit, as a new task does */
	if ((err = tasks_scalar(TK_NOTIFY, 0, NULL, &(int64_t){0})) != E_OK)
		return err;
	p[1] = db_param_i64(a, n);
	c->n = (int)n;
	return viewsql_one(a, &tasks_stmts, TK_RETRY_TASK, 2, p, &c->json);
}

/* audit_work of a retry or a cancel. */
static enum api_err tasks_admin_tx(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct tasks_admin_ctx *c = ctx;
	int64_t user_id = 0;
	enum api_err err;

	if ((err = tasks_admin_lock(a, c->id, chg, &user_id)) != E_OK)
		return err;
	if (c->retry)
		err = tasks_retry_tx(a, c);
	else if ((err = tasks_cancel_tx(a, user_id, c->id, &c->n)) == E_OK)
		err = tasks_admin_get(a, c->id, &c->json);
	if (err != E_OK)
		return err;
	chg->unchanged = c->n == 0;
	chg->after = c->json;
	return E_OK;
}

enum api_err tasks_admin_retry(struct arena *a, const struct audit_actor *who, int64_t id,
                               int *requeued, char **json)
{
	struct tasks_admin_ctx c = {.id = id, .retry = true};
	enum api_err err = audit_run(a, who, "task.retry", tasks_admin_tx, &c);

	*requeued = err == E_OK ? c.n : 0;
	*json = err == E_OK ? c.json : NULL;
	return err;
}

enum api_err tasks_admin_cancel(struct arena *a, const struct audit_actor *who, int64_t id,
                                int *canceled, char **json)
{
	struct tasks_admin_ctx c = {.id = id};
	enum api_err err = audit_run(a, who, "task.cancel", tasks_admin_tx, &c);

	*canceled = err == E_OK ? c.n : 0;
	*json = err == E_OK ? c.json : NULL;
	return err;
}
