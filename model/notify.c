/* notify — see notify.h. */
#include "model/notify.h"

#include <string.h>

#include "lib/db.h"
#include "lib/log.h"
#include "model/sql.h"

enum notify_stmt {
	NT_CANDIDATES,
	NT_RESERVE,
	NT_INSERT,
	NT_MARK,
	NT_CLAIM,
	NT_SENT,
	NT_RETRY,
	NT_REFUSED,
	NT_EXPIRE,
	NT_NEXT_DUE,
	NT_SUB_ACCEPT,
	NT_SUB_REJECT,
	NT_SUB_LIST,
	NT__MAX
};

/* The fence of every write after a claim: $1 id, $2 claimed attempt. */
#define NT_FENCE "id = $1 AND attempt = $2 AND status = 'sending'"

static const char *const notify_sql[NT__MAX] = {
    /* $1 limit, $2 the mini program's appid (NULL: no mp binding counts) */
    [NT_CANDIDATES] = "SELECT t.id, t.user_id, t.channel, "
                      "(SELECT i.openid FROM wechat_identities i WHERE i.user_id = t.user_id "
                      "AND i.app_kind = 'oa' AND i.subscribed ORDER BY i.id LIMIT 1), "
                      "(SELECT i.openid FROM wechat_identities i WHERE i.user_id = t.user_id "
                      "AND i.app_kind = 'mp' AND i.appid = $2 ORDER BY i.id LIMIT 1) "
                      "FROM tasks t WHERE t.finished_at IS NOT NULL AND t.notified_at IS NULL "
                      "AND t.status IN ('completed', 'partial', 'failed') ORDER BY t.id LIMIT $1 "
                      "FOR UPDATE OF t SKIP LOCKED",
    /* $1 user, $2 template: one accepted subscription taken, if any is left */
    [NT_RESERVE] = "UPDATE user_subscriptions SET remaining = remaining - 1 "
                   "WHERE user_id = $1 AND template_id = $2 AND remaining > 0",
    /* $1 task, $2 user, $3 channel, $4 touser, $5 template, $6 status, $7 error */
    [NT_INSERT] = "INSERT INTO notify_outbox (task_id, user_id, channel, touser, template_id, "
                  "status, error) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                  "ON CONFLICT (task_id, channel) DO NOTHING",
    [NT_MARK] = "UPDATE tasks SET notified_at = now() WHERE id = $1 AND notified_at IS NULL",
    /* $1 limit, $2 lease seconds */
    [NT_CLAIM] = "WITH c AS (SELECT id FROM notify_outbox WHERE status = 'pending' "
                 "AND run_after <= now() ORDER BY run_after, id LIMIT $1 FOR UPDATE SKIP LOCKED), "
                 "u AS (UPDATE notify_outbox o SET status = 'sending', attempt = o.attempt + 1, "
                 "lease_until = now() + make_interval(secs => $2) FROM c WHERE o.id = c.id "
                 "AND o.status = 'pending' "
                 "RETURNING o.id, o.task_id, o.channel, o.touser, o.template_id, o.attempt) "
                 "SELECT u.id, u.task_id, u.channel, u.touser, u.template_id, u.attempt, t.type, "
                 "t.status, t.count, t.done, t.failed, t.credits_refunded, " SQL_TIME(
                     "t.finished_at") " FROM u JOIN tasks t ON t.id = u.task_id ORDER BY u.id",
    [NT_SENT] = "UPDATE notify_outbox SET status = 'sent', sent_at = now(), lease_until = NULL, "
                "errcode = 0, error = NULL WHERE " NT_FENCE,
    /* $3 delay ms, $4 errcode, $5 error */
    [NT_RETRY] = "UPDATE notify_outbox SET status = 'pending', lease_until = NULL, "
                 "run_after = now() + make_interval(secs => $3::double precision / 1000), "
                 "errcode = $4, error = $5 WHERE " NT_FENCE,
    /* $3 errcode, $4 error; the reserved subscription: 43101 → none left, else given back */
    [NT_REFUSED] =
        "WITH o AS (UPDATE notify_outbox SET status = 'failed', lease_until = NULL, "
        "errcode = $3, error = $4 WHERE " NT_FENCE " RETURNING user_id, template_id, channel), "
        "s AS (UPDATE user_subscriptions s SET remaining = CASE WHEN $3::bigint = 43101 "
        "THEN 0 ELSE LEAST(s.remaining + 1, 100) END, last_result = CASE WHEN "
        "$3::bigint = 43101 THEN 'refused' ELSE s.last_result END FROM o "
        "WHERE o.channel = 'mp' AND s.user_id = o.user_id AND s.template_id = o.template_id "
        "RETURNING 1) SELECT 1 FROM o",
    [NT_EXPIRE] = "UPDATE notify_outbox SET status = 'unknown', lease_until = NULL, "
                  "error = 'the lease expired during the send: not sent again' "
                  "WHERE id IN (SELECT id FROM notify_outbox WHERE status = 'sending' "
                  "AND lease_until < now() ORDER BY lease_until LIMIT 1000 "
                  "FOR UPDATE SKIP LOCKED) AND status = 'sending' AND lease_until < now()",
    [NT_NEXT_DUE] = "SELECT COALESCE(GREATEST(0, CEIL(EXTRACT(EPOCH FROM min(run_after) - "
                    "now()) * 1000)), -1)::bigint FROM notify_outbox WHERE status = 'pending'",
    /* $1 user, $2 JSON array of distinct template ids */
    [NT_SUB_ACCEPT] =
        "INSERT INTO user_subscriptions (user_id, template_id, remaining, accepted, "
        "last_result) SELECT $1, x, 1, 1, 'accept' FROM jsonb_array_elements_text($2::jsonb) x "
        "ON CONFLICT (user_id, template_id) DO UPDATE SET "
        "remaining = LEAST(user_subscriptions.remaining + 1, 100), "
        "accepted = user_subscriptions.accepted + 1, last_result = 'accept'",
    [NT_SUB_REJECT] =
        "INSERT INTO user_subscriptions (user_id, template_id, rejected, last_result) "
        "SELECT $1, x, 1, 'reject' FROM jsonb_array_elements_text($2::jsonb) x "
        "ON CONFLICT (user_id, template_id) DO UPDATE SET "
        "rejected = user_subscriptions.rejected + 1, last_result = 'reject'",
    /* $1 user, $2 and $3 the JSON arrays */
    [NT_SUB_LIST] = "SELECT template_id, remaining FROM user_subscriptions WHERE user_id = $1 "
                    "AND (template_id IN (SELECT jsonb_array_elements_text($2::jsonb)) "
                    "OR template_id IN (SELECT jsonb_array_elements_text($3::jsonb))) "
                    "ORDER BY template_id",
};

static struct db_stmts notify_stmts = DB_STMTS("notify", notify_sql);

/* A fenced write: 0 rows → E_CONFLICT (the claim was lost). */
static enum api_err notify_fenced(int idx, int n, const char *const *p)
{
	int rows = 0;
	enum api_err err = db_run(&notify_stmts, idx, n, p, &rows);

	if (err == E_OK && rows == 0)
		err = E_CONFLICT;
	return err;
}

/* A task to route, as NT_CANDIDATES read it. */
struct notify_task {
	int64_t id, user_id;
	const char *channel, *oa_openid, *mp_openid;
};

/* Writes the pending row of task t for channel ch (to touser, with template). */
static enum api_err notify_write(struct arena *a, const struct notify_task *t, const char *ch,
                                 const char *touser, const char *template_id, const char *status,
                                 const char *error)
{
	const char *p[7] = {db_param_i64(a, t->id),
	                    db_param_i64(a, t->user_id),
	                    ch,
	                    touser,
	                    template_id,
	                    status,
	                    error};
	return db_run(&notify_stmts, NT_INSERT, 7, p, NULL);
}

/* Tries the mini program for t: *done when its row was written. */
static enum api_err notify_try_mp(struct arena *a, const struct notify_task *t,
                                  const struct notify_targets *to, const char **why, bool *done)
{
	const char *p[2] = {db_param_i64(a, t->user_id), to->mp_template_id};
	int rows = 0;
	enum api_err err;

	*done = false;
	if (to->mp_template_id == NULL || *to->mp_template_id == '\0') {
		*why = "notify.mp.template_id is not set";
		return E_OK;
	}
	if (t->mp_openid == NULL) {
		*why = "no mini-program binding";
		return E_OK;
	}
	if ((err = db_run(&notify_stmts, NT_RESERVE, 2, p, &rows)) != E_OK)
		return err;
	if (rows == 0) {
		*why = "no accepted subscription left";
		return E_OK;
	}
	*done = true;
	return notify_write(a, t, "mp", t->mp_openid, to->mp_template_id, "pending", NULL);
}

/* Tries the Official Account for t: *done when its row was written. */
static enum api_err notify_try_oa(struct arena *a, const struct notify_task *t,
                                  const struct notify_targets *to, const char **why, bool *done)
{
	*done = false;
	if (to->oa_template_id == NULL || *to->oa_template_id == '\0') {
		*why = "notify.task_template_id is not set";
		return E_OK;
	}
	if (t->oa_openid == NULL) {
		*why = "no subscribed Official Account binding";
		return E_OK;
	}
	*done = true;
	return notify_write(a, t, "oa", t->oa_openid, to->oa_template_id, "pending", NULL);
}

/* Routes one task (see notify_enqueue) and marks it notified. */
static enum api_err notify_route(struct arena *a, const struct notify_task *t,
                                 const struct notify_targets *to, struct notify_enqueued *done)
{
	bool mp_first = strcmp(t->channel, "mp") == 0, sent = false;
	const char *why_first = NULL, *why_other = NULL, *p[1] = {db_param_i64(a, t->id)};
	enum api_err err;

	err = mp_first ? notify_try_mp(a, t, to, &why_first, &sent)
	               : notify_try_oa(a, t, to, &why_first, &sent);
	if (err == E_OK && !sent)
		err = mp_first ? notify_try_oa(a, t, to, &why_other, &sent)
		               : notify_try_mp(a, t, to, &why_other, &sent);
	if (err != E_OK)
		return err;
	if (sent) {
		/* which app took it: the first one unless it gave a reason */
		if ((why_first == NULL) == mp_first)
			done->mp++;
		else
			done->oa++;
	} else {
		done->skipped++;
		err = notify_write(a, t, mp_first ? "mp" : "oa", NULL, NULL, "skipped",
		                   arena_printf(a, "%s; %s", why_first, why_other));
		log_info("task %lld: no notice (%s; %s)", (long long)t->id, why_first, why_other);
	}
	if (err == E_OK)
		err = db_run(&notify_stmts, NT_MARK, 1, p, NULL);
	return err;
}

enum api_err notify_enqueue(struct arena *a, int limit, const struct notify_targets *to,
                            struct notify_enqueued *done)
{
	const char *p[2] = {db_param_i64(a, limit), to->mp_appid};
	PGresult *res = NULL;
	struct notify_task *tasks = NULL;
	size_t n = 0;
	enum api_err err;

	memset(done, 0, sizeof(*done));
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = db_exec(&notify_stmts, NT_CANDIDATES, 2, p, &res)) != E_OK)
		goto out;
	n = (size_t)PQntuples(res);
	tasks = arena_zalloc(a, (n + 1) * sizeof(*tasks));
	for (size_t i = 0; i < n; i++) {
		tasks[i].id = db_i64(res, (int)i, 0);
		tasks[i].user_id = db_i64(res, (int)i, 1);
		tasks[i].channel = db_str(a, res, (int)i, 2);
		tasks[i].oa_openid = db_str(a, res, (int)i, 3);
		tasks[i].mp_openid = db_str(a, res, (int)i, 4);
	}
	for (size_t i = 0; i < n && err == E_OK; i++)
		err = notify_route(a, &tasks[i], to, done);
	if (err == E_OK)
		err = db_commit();
out:
	PQclear(res);
	if (err != E_OK) {
		db_rollback();
		memset(done, 0, sizeof(*done));
	}
	return err;
}

enum api_err notify_claim(struct arena *a, int limit, long lease_s, struct notify_item **out,
                          size_t *n)
{
	const char *p[2] = {db_param_i64(a, limit), db_param_i64(a, lease_s)};
	PGresult *res = NULL;
	enum api_err err;

	*out = NULL;
	*n = 0;
	if ((err = db_exec(&notify_stmts, NT_CLAIM, 2, p, &res)) != E_OK)
		return err;
	*n = (size_t)PQntuples(res);
	*out = arena_zalloc(a, (*n + 1) * sizeof(**out));
	for (int i = 0; i < (int)*n; i++) {
		struct notify_item *it = &(*out)[i];

		it->id = db_i64(res, i, 0);
		it->task_id = db_i64(res, i, 1);
		it->channel = db_str(a, res, i, 2);
		it->touser = db_str(a, res, i, 3);
		it->template_id = db_str(a, res, i, 4);
		it->attempt = (int)db_i64(res, i, 5);
		it->type = db_str(a, res, i, 6);
		it->status = db_str(a, res, i, 7);
		it->count = (int)db_i64(res, i, 8);
		it->done = (int)db_i64(res, i, 9);
		it->failed = (int)db_i64(res, i, 10);
		it->credits_refunded = db_i64(res, i, 11);
		it->finished_at = db_str(a, res, i, 12);
	}
	PQclear(res);
	return E_OK;
}

enum api_err notify_sent(struct arena *a, const struct notify_item *it)
{
	const char *p[2] = {db_param_i64(a, it->id), db_param_i64(a, it->attempt)};
	return notify_fenced(NT_SENT, 2, p);
}

enum api_err notify_retry(struct arena *a, const struct notify_item *it, long delay_ms,
                          long errcode, const char *error)
{
	const char *p[5] = {db_param_i64(a, it->id), db_param_i64(a, it->attempt),
	                    db_param_i64(a, delay_ms), db_param_i64(a, errcode), error};
	return notify_fenced(NT_RETRY, 5, p);
}

enum api_err notify_refused(struct arena *a, const struct notify_item *it, long errcode,
                            const char *error)
{
	const char *p[4] = {db_param_i64(a, it->id), db_param_i64(a, it->attempt),
	                    db_param_i64(a, errcode), error};
	return notify_fenced(NT_REFUSED, 4, p);
}

enum api_err notify_expire(size_t *n)
{
	int rows = 0;
	enum api_err err = db_run(&notify_stmts, NT_EXPIRE, 0, NULL, &rows);

	*n = err == E_OK ? (size_t)rows : 0;
	return err;
}

enum api_err notify_next_due(long *ms)
{
	PGresult *res = NULL;
	enum api_err err = db_exec(&notify_stmts, NT_NEXT_DUE, 0, NULL, &res);

	*ms = -1;
	if (err == E_OK && PQntuples(res) == 1)
		*ms = (long)db_i64(res, 0, 0);
	PQclear(res);
	return err;
}

enum api_err notify_subscriptions_record(struct arena *a, int64_t user_id,
                                         const char *accepted_json, const char *rejected_json,
                                         struct notify_subscription **out, size_t *n)
{
	const char *uid = db_param_i64(a, user_id);
	const char *acc[2] = {uid, accepted_json}, *rej[2] = {uid, rejected_json};
	const char *list[3] = {uid, accepted_json, rejected_json};
	PGresult *res = NULL;
	enum api_err err;

	*out = NULL;
	*n = 0;
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = db_run(&notify_stmts, NT_SUB_ACCEPT, 2, acc, NULL)) != E_OK ||
	    (err = db_run(&notify_stmts, NT_SUB_REJECT, 2, rej, NULL)) != E_OK ||
	    (err = db_exec(&notify_stmts, NT_SUB_LIST, 3, list, &res)) != E_OK)
		goto out;
	*n = (size_t)PQntuples(res);
	*out = arena_zalloc(a, (*n + 1) * sizeof(**out));
	for (int i = 0; i < (int)*n; i++) {
		(*out)[i].template_id = db_str(a, res, i, 0);
		(*out)[i].remaining = (int)db_i64(res, i, 1);
	}
	err = db_commit();
out:
	PQclear(res);
	if (err != E_OK) {
		db_rollback();
		*n = 0;
	}
	return err;
}
