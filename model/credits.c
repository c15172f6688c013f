/* credits — see credits.h. */
#include "model/credits.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "lib/db.h"
#include "lib/jsonx.h"
#include "model/ledger.h"
#include "model/sql.h"

enum credits_stmt {
	CR_CHECKIN,
	CR_INVITE_LOCK,
	CR_INVITER,
	CR_CYCLE,
	CR_SET_INVITER,
	CR_RECORDS,
	CR_AUDIT,
	CR_CONSUME,
	CR_CONSUME_STORED,
	CR_ADJUSTED,
	CR__MAX
};

/* A consumption key's stored row with the balance its debit left: hash, outcome, ledger id,
 * balance after. */
#define CREDITS_CONSUME_PREV                                                         \
	"SELECT k.request_hash, k.outcome, k.resource_id, l.balance_after "          \
	"FROM idempotency_keys k LEFT JOIN credit_ledger l ON l.id = k.resource_id " \
	"WHERE k.user_id = $1 AND k.key = $2"

static const char *const credits_sql[CR__MAX] = {
    /* $1 user, $2 day, $3 base, $4 bonus per day, $5 max bonus days.  One statement: the
     * check-in row (unique per user and day), the balance, the streak state, the ledger. */
    [CR_CHECKIN] =
        "WITH prev AS (SELECT last_checkin_day, checkin_streak FROM users WHERE id = $1), "
        "s AS (SELECT CASE WHEN p.last_checkin_day = $2::date - 1 THEN p.checkin_streak + 1 "
        "ELSE 1 END AS streak FROM prev p), "
        "ins AS (INSERT INTO checkins (user_id, day, streak, credits_awarded) "
        "SELECT $1, $2::date, s.streak, $3::bigint + $4::bigint * LEAST(s.streak - 1, $5::bigint) "
        "FROM s ON CONFLICT DO NOTHING RETURNING streak, credits_awarded), "
        "u AS (UPDATE users SET credits = credits + ins.credits_awarded, "
        "last_checkin_day = GREATEST(last_checkin_day, $2::date), "
        "checkin_streak = CASE WHEN last_checkin_day IS NULL OR last_checkin_day <= $2::date "
        "THEN ins.streak ELSE checkin_streak END "
        "FROM ins WHERE users.id = $1 RETURNING users.credits, ins.streak, ins.credits_awarded) "
        "INSERT INTO credit_ledger (user_id, delta, balance_after, kind, reference, memo, "
        "idempotency_key) SELECT $1, u.credits_awarded, u.credits, 'checkin', $2, '每日签到', "
        "'checkin:' || $1 || ':' || $2 FROM u "
        "RETURNING delta, balance_after, (SELECT streak FROM u)",
    /* Every invite decision (lookup, cycle check, write) runs under this one transaction-scoped
     * lock: two invites that would close a ring (A→B with B→A, or longer) cannot both see a
     * chain without the other, and no two invites wait on each other's rows. */
    [CR_INVITE_LOCK] = "SELECT pg_advisory_xact_lock(hashtext('aiphoto-invite'))",
    [CR_INVITER] = "SELECT id FROM users WHERE invite_code = upper($1) AND status = 'active'",
    /* is $2 (the invitee) among the inviters above $1 (the inviter)? */
    [CR_CYCLE] = "WITH RECURSIVE up(id, depth) AS (SELECT invited_by, 1 FROM users WHERE id = $1 "
                 "UNION ALL SELECT u.invited_by, up.depth + 1 FROM users u JOIN up ON u.id = up.id "
                 "WHERE up.depth < 1000) SELECT 1 FROM up WHERE id = $2 LIMIT 1",
    [CR_SET_INVITER] = "UPDATE users SET invited_by = $2, invited_at = now() "
                       "WHERE id = $1 AND invited_by IS NULL RETURNING id",
    [CR_RECORDS] = "SELECT id, delta, balance_after, kind, memo, " SQL_TIME(
        "created_at") " FROM credit_ledger WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2) "
                      "AND kind = ANY($3::text[]) ORDER BY id DESC LIMIT $4",
    [CR_AUDIT] = "SELECT u.id, u.credits, COALESCE(l.total, 0) FROM users u "
                 "LEFT JOIN (SELECT user_id, SUM(delta) AS total FROM credit_ledger "
                 "GROUP BY user_id) l ON l.user_id = u.id "
                 "WHERE u.credits <> COALESCE(l.total, 0) OR u.credits < 0 ORDER BY u.id",
    /* $1 user, $2 key, $3 route, $4 request hash, $5 amount, $6 reason.  One round trip: a
     * stored key answers its row (false, …); else the conditional debit, its ledger row and
     * the key with its outcome are written together (true, …).  A concurrent first use of
     * the key makes one of the two unique inserts (ledger key, key) fail, which undoes the
     * whole statement: the caller then reads the stored row (CR_CONSUME_STORED). */
    [CR_CONSUME] =
        "WITH prev AS (" CREDITS_CONSUME_PREV "), "
        "u AS (UPDATE users SET credits = credits - $5::bigint, updated_at = now() "
        "WHERE id = $1 AND credits >= $5::bigint AND NOT EXISTS (SELECT 1 FROM prev) "
        "RETURNING credits), "
        "l AS (INSERT INTO credit_ledger (user_id, delta, balance_after, kind, reference, memo, "
        "idempotency_key) SELECT $1, -$5::bigint, u.credits, 'consume', $2, $6, "
        "'consume:' || $1 || ':' || $2 FROM u RETURNING id, balance_after), "
        "k AS (INSERT INTO idempotency_keys (user_id, key, route, request_hash, outcome, "
        "resource_id, completed_at) SELECT $1, $2, $3, $4, CASE WHEN EXISTS (SELECT 1 FROM l) "
        "THEN 'OK' ELSE 'INSUFFICIENT_CREDITS' END, (SELECT id FROM l), now() "
        "WHERE NOT EXISTS (SELECT 1 FROM prev) RETURNING outcome, resource_id) "
        "SELECT true, $4, k.outcome, k.resource_id, (SELECT balance_after FROM l) FROM k "
        "UNION ALL SELECT false, p.* FROM prev p",
    [CR_CONSUME_STORED] = CREDITS_CONSUME_PREV,
    /* an admin adjustment's ledger row (a replay answers it) */
    [CR_ADJUSTED] = "SELECT id, user_id, delta, balance_after, memo, " SQL_TIME(
        "created_at") " FROM credit_ledger WHERE id = $1 AND kind = 'admin'",
};

static struct db_stmts credits_stmts = DB_STMTS("credits", credits_sql);

enum api_err credits_checkin(struct arena *a, int64_t user_id, const char *day,
                             const struct checkin_rule *rule, struct checkin_result *out)
{
	const char *p[5] = {db_param_i64(a, user_id), day, db_param_i64(a, rule->base),
	                    db_param_i64(a, rule->streak_bonus),
	                    db_param_i64(a, rule->max_bonus_days)};
	PGresult *res;
	enum api_err err = db_exec(&credits_stmts, CR_CHECKIN, 5, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_ALREADY_DONE;
	}
	out->awarded = db_i64(res, 0, 0);
	out->credits = db_i64(res, 0, 1);
	out->streak = db_i64(res, 0, 2);
	PQclear(res);
	return E_OK;
}

/* Runs idx with params; *rows gets the count and *first column 0 of row 0. */
static enum api_err credits_run(int idx, int n, const char *const *p, int *rows, int64_t *first)
{
	PGresult *res;
	enum api_err err = db_exec(&credits_stmts, idx, n, p, &res);

	if (err != E_OK)
		return err;
	if (rows)
		*rows = PQntuples(res);
	if (first)
		*first = PQntuples(res) > 0 ? db_i64(res, 0, 0) : 0;
	PQclear(res);
	return E_OK;
}

/* One attempt at an invite: its own transaction, serialised with every other invite. */
static enum api_err credits_invite_tx(struct arena *a, int64_t invitee, const char *code,
                                      int64_t invitee_bonus, int64_t inviter_bonus,
                                      int64_t *credits, const char **why)
{
	const char *pc[1] = {code};
	const char *sid = db_param_i64(a, invitee);
	int64_t inviter = 0, other = 0;
	enum api_err err;
	int rows = 0;

	*why = NULL;
	if ((err = db_begin()) != E_OK)
		return err;
	if ((err = credits_run(CR_INVITE_LOCK, 0, NULL, NULL, NULL)) != E_OK)
		goto fail;
	/* from here on, each statement sees every invite committed before the lock was ours */
	if ((err = credits_run(CR_INVITER, 1, pc, &rows, &inviter)) != E_OK)
		goto fail;
	if (rows == 0) {
		err = E_NOT_FOUND;
		*why = "invite_code: no user has this code";
		goto fail;
	}
	if (inviter == invitee) {
		err = E_BAD_REQUEST;
		*why = "invite_code: one's own code cannot be used";
		goto fail;
	}
	{
		const char *pcy[2] = {db_param_i64(a, inviter), sid};
		if ((err = credits_run(CR_CYCLE, 2, pcy, &rows, NULL)) != E_OK)
			goto fail;
		if (rows > 0) {
			err = E_BAD_REQUEST;
			*why = "invite_code: this user was invited by you";
			goto fail;
		}
	}
	{
		const char *ps[2] = {sid, db_param_i64(a, inviter)};
		if ((err = credits_run(CR_SET_INVITER, 2, ps, &rows, NULL)) != E_OK)
			goto fail;
		if (rows == 0) {
			err = E_ALREADY_DONE;
			*why = "invite_code: an invite code was already used";
			goto fail;
		}
	}
	if (invitee_bonus > 0 &&
	    (err = ledger_apply(a, invitee, invitee_bonus, "invite", code, "填写邀请码奖励",
	                        arena_printf(a, "invite:%lld", (long long)invitee), credits)) !=
	        E_OK)
		goto fail;
	if (inviter_bonus > 0 &&
	    (err = ledger_apply(a, inviter, inviter_bonus, "invite", sid, "邀请好友奖励",
	                        arena_printf(a, "invite-reward:%lld", (long long)invitee),
	                        &other)) != E_OK)
		goto fail;
	if ((err = db_commit()) != E_OK)
		goto fail;
	return E_OK;
fail:
	db_rollback();
	return err;
}

/* A deadlock or serialization failure (not expected under the invite lock, but cheap to
 * absorb) is retried, so it never reaches the user as a 409. */
static bool credits_retryable(void)
{
	const char *st = db_last_sqlstate();
	return strcmp(st, "40P01") == 0 || strcmp(st, "40001") == 0;
}

enum api_err credits_invite(struct arena *a, int64_t invitee, const char *code,
                            int64_t invitee_bonus, int64_t inviter_bonus, int64_t *credits,
                            const char **why)
{
	enum api_err err;

	for (int tries = 1;; tries++) {
		err =
		    credits_invite_tx(a, invitee, code, invitee_bonus, inviter_bonus, credits, why);
		if (err != E_CONFLICT || !credits_retryable() || tries == 3)
			break;
	}
	return err;
}

/* Decodes a consumption row (fresh, hash, outcome, ledger id, balance) at col. */
static enum api_err credits_consume_row(const struct idem_key *k, const PGresult *r, int col,
                                        struct idem_outcome *out, int64_t *credits)
{
	enum api_err err;

	err = idempotency_decode(k, PQgetvalue(r, 0, col),
	                         PQgetisnull(r, 0, col + 1) ? NULL : PQgetvalue(r, 0, col + 1),
	                         PQgetisnull(r, 0, col + 2) ? 0 : db_i64(r, 0, col + 2), out);
	*credits = PQgetisnull(r, 0, col + 3) ? 0 : db_i64(r, 0, col + 3);
	return err;
}

enum api_err credits_consume(struct arena *a, const struct idem_key *k, int64_t amount,
                             const char *reason, struct idem_outcome *out, int64_t *credits)
{
	const char *p[6] = {
	    db_param_i64(a, k->user_id), k->key, k->route, k->hash, db_param_i64(a, amount),
	    reason ? reason : ""};
	PGresult *res = NULL;
	enum api_err err;
	bool fresh;

	*credits = 0;
	memset(out, 0, sizeof(*out));
	err = db_exec(&credits_stmts, CR_CONSUME, 6, p, &res);
	if (err == E_CONFLICT && strcmp(db_last_sqlstate(), "23505") == 0) {
		/* lost the race for the key: the winner has committed, its row is visible now */
		if ((err = db_exec(&credits_stmts, CR_CONSUME_STORED, 2, p, &res)) != E_OK)
			return err;
		err =
		    PQntuples(res) == 1 ? credits_consume_row(k, res, 0, out, credits) : E_CONFLICT;
		goto out;
	}
	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		err = E_INTERNAL;
		goto out;
	}
	fresh = db_bool(res, 0, 0);
	err = credits_consume_row(k, res, 1, out, credits);
	out->replayed = !fresh;
out:
	PQclear(res);
	return err;
}

enum api_err credits_records(struct arena *a, int64_t user_id, enum credits_filter f,
                             int64_t before_id, int limit, struct ledger_row **rows, size_t *n,
                             bool *more)
{
	static const char *const kinds[] = {
	    [CREDITS_ALL] = "{recharge,consume,refund,checkin,invite,admin,migration,refund_order}",
	    [CREDITS_RECHARGE] = "{recharge}",
	    [CREDITS_CONSUME] = "{consume,refund}",
	};
	const char *p[4] = {db_param_i64(a, user_id),
	                    before_id > 0 ? db_param_i64(a, before_id) : NULL, kinds[f],
	                    db_param_i64(a, limit + 1)};
	PGresult *res;
	enum api_err err = db_exec(&credits_stmts, CR_RECORDS, 4, p, &res);

	*n = 0;
	*more = false;
	if (err != E_OK)
		return err;
	*n = (size_t)PQntuples(res);
	*more = db_page_trim(n, limit);
	*rows = arena_alloc(a, sizeof(**rows) * (*n ? *n : 1));
	for (int i = 0; i < (int)*n; i++) {
		struct ledger_row *r = &(*rows)[i];
		r->id = db_i64(res, i, 0);
		r->delta = db_i64(res, i, 1);
		r->balance_after = db_i64(res, i, 2);
		r->kind = db_str(a, res, i, 3);
		r->memo = db_str(a, res, i, 4);
		r->created_at = db_str(a, res, i, 5);
	}
	PQclear(res);
	return E_OK;
}

enum api_err credits_audit(struct arena *a, struct audit_row **rows, size_t *n)
{
	PGresult *res;
	enum api_err err = db_exec(&credits_stmts, CR_AUDIT, 0, NULL, &res);
	int got;

	*n = 0;
	if (err != E_OK)
		return err;
	got = PQntuples(res);
	*rows = arena_alloc(a, sizeof(**rows) * (size_t)(got ? got : 1));
	for (int i = 0; i < got; i++) {
		(*rows)[i].user_id = db_i64(res, i, 0);
		(*rows)[i].credits = db_i64(res, i, 1);
		(*rows)[i].ledger_sum = db_i64(res, i, 2);
	}
	*n = (size_t)got;
	PQclear(res);
	return E_OK;
}

/* What an admin adjustment needs inside its transaction, and what it made. */
struct credits_admin_ctx {
	const struct audit_actor *who;
	int64_t user_id, delta;
	const char *memo, *key;
	struct credits_adjusted *res;
};

/* {"credits": balance} and, after the change, what made it. */
static const char *credits_snapshot(struct arena *a, int64_t balance,
                                    const struct credits_adjusted *r)
{
	json_object *o = json_object_new_object();
	const char *text;

	json_object_object_add(o, "credits", json_object_new_int64(balance));
	if (r != NULL) {
		json_object_object_add(o, "delta", json_object_new_int64(r->delta));
		json_object_object_add(o, "ledger_id", json_object_new_int64(r->ledger_id));
		json_object_object_add(o, "memo", json_object_new_string(r->memo));
	}
	text = jsonx_text(a, o);
	json_object_put(o);
	return text;
}

/* audit_work: the ledger change and what the audit row says of it. */
static enum api_err credits_admin_change(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct credits_admin_ctx *c = ctx;
	struct credits_adjusted *r = c->res;
	enum api_err err;

	r->user_id = c->user_id;
	r->delta = c->delta;
	r->memo = c->memo;
	err = ledger_apply_row(a, c->user_id, c->delta, "admin",
	                       arena_printf(a, "admin:%lld", (long long)c->who->admin_id), c->memo,
	                       c->key, &r->balance_after, &r->ledger_id);
	if (err != E_OK)
		return err;
	chg->target_type = "user";
	chg->target_id = db_param_i64(a, c->user_id);
	chg->before = credits_snapshot(a, r->balance_after - c->delta, NULL);
	chg->after = credits_snapshot(a, r->balance_after, r);
	return E_OK;
}

/* idempotency_work: the audited change inside the key's transaction. */
static enum api_err credits_admin_work(struct arena *a, void *ctx, int64_t *resource_id)
{
	struct credits_admin_ctx *c = ctx;
	enum api_err err = audit_run(a, c->who, "user.credits", credits_admin_change, c);

	*resource_id = err == E_OK ? c->res->ledger_id : 0;
	return err;
}

/* The ledger row of an earlier adjustment (a replay). */
static enum api_err credits_adjusted_get(struct arena *a, int64_t id, struct credits_adjusted *r)
{
	const char *p[1] = {db_param_i64(a, id)};
	PGresult *res;
	enum api_err err = db_exec(&credits_stmts, CR_ADJUSTED, 1, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		r->ledger_id = db_i64(res, 0, 0);
		r->user_id = db_i64(res, 0, 1);
		r->delta = db_i64(res, 0, 2);
		r->balance_after = db_i64(res, 0, 3);
		r->memo = db_str(a, res, 0, 4);
		r->created_at = db_str(a, res, 0, 5);
	} else {
		err = E_INTERNAL; /* a stored outcome names a row that is gone: never expected */
	}
	PQclear(res);
	return err;
}

enum api_err credits_admin_adjust(struct arena *a, const struct audit_actor *who,
                                  const struct idem_key *k, int64_t user_id, int64_t delta,
                                  const char *memo, struct idem_outcome *out,
                                  struct credits_adjusted *res)
{
	struct credits_admin_ctx c = {
	    .who = who,
	    .user_id = user_id,
	    .delta = delta,
	    .memo = memo ? memo : "",
	    .key = arena_printf(a, "admin:%lld:%s", (long long)k->admin_id, k->key),
	    .res = res};
	enum api_err err;

	memset(res, 0, sizeof(*res));
	if (k->admin_id <= 0 || k->key == NULL || delta == 0)
		return E_BAD_REQUEST;
	if ((err = idempotency_run(a, k, false, credits_admin_work, &c, out)) != E_OK)
		return err;
	/* fresh or replayed, the answer is the ledger row as it stands */
	return credits_adjusted_get(a, out->resource_id, res);
}
