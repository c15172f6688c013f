/* refunds — see refunds.h. */
#include "model/refunds.h"

#include <string.h>

#include "lib/db.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "model/ledger.h"

enum refunds_stmt {
	RF_LOCK_ORDER,
	RF_RESERVED,
	RF_BALANCE,
	RF_INSERT,
	RF_GET,
	RF_GET_BY_NO,
	RF_JSON,
	RF_AUDIT_JSON,
	RF_LIST,
	RF_SUCCEED,
	RF_CLOSE,
	RF_ABNORMAL,
	RF_REFUND_ID,
	RF_PENDING,
	RF_AUDIT,
	RF__MAX
};

/* A refund as the admin API shows it: r an order_refunds row, o its order. */
#define REFUNDS_JSON                                                     \
	"jsonb_build_object('out_refund_no', r.out_refund_no, "          \
	"'out_trade_no', o.out_trade_no, 'amount_fen', r.amount_fen, "   \
	"'credits', r.credits, 'status', r.status, 'reason', r.reason, " \
	"'if_spent', r.if_spent, 'admin_id', r.admin_id, "               \
	"'created_at', aiphoto_time(r.created_at), "                     \
	"'succeeded_at', aiphoto_time(r.succeeded_at), "                 \
	"'fail_code', r.fail_code, 'fail_message', r.fail_message)"

#define REFUNDS_COLS                                                                            \
	"r.id, r.order_id, r.user_id, r.amount_fen, o.amount_fen, r.credits, r.out_refund_no, " \
	"o.out_trade_no, r.status, r.reason, o.mchid, "                                         \
	"EXTRACT(EPOCH FROM now() - r.created_at)::bigint"

static const char *const refunds_sql[RF__MAX] = {
    /* the order, locked to the end of the transaction: refunds of one order open one by one */
    [RF_LOCK_ORDER] = "SELECT id, user_id, amount_fen, credits, status, refunded_fen "
                      "FROM orders WHERE out_trade_no = $1 FOR UPDATE",
    /* a statement of its own after the lock, so its snapshot sees every refund committed by
     * whoever held the lock before: what the order's refunds take, unless closed */
    [RF_RESERVED] = "SELECT COALESCE(sum(amount_fen), 0)::bigint FROM order_refunds "
                    "WHERE order_id = $1 AND status <> 'closed'",
    [RF_BALANCE] = "SELECT credits FROM users WHERE id = $1 FOR UPDATE",
    /* $1 no, $2 order, $3 user, $4 amount, $5 due, $6 taken, $7 reason, $8 if_spent, $9 admin */
    [RF_INSERT] = "INSERT INTO order_refunds (out_refund_no, order_id, user_id, amount_fen, "
                  "credits_due, credits, reason, if_spent, admin_id) VALUES ($1, $2::bigint, "
                  "$3::bigint, $4::bigint, $5::bigint, $6::bigint, $7, $8, $9::bigint) "
                  "RETURNING id",
    [RF_GET] = "SELECT " REFUNDS_COLS " FROM order_refunds r JOIN orders o ON o.id = r.order_id "
               "WHERE r.id = $1",
    [RF_GET_BY_NO] = "SELECT " REFUNDS_COLS " FROM order_refunds r "
                     "JOIN orders o ON o.id = r.order_id WHERE r.out_refund_no = $1",
    [RF_JSON] = "SELECT " REFUNDS_JSON "::text FROM order_refunds r "
                "JOIN orders o ON o.id = r.order_id WHERE r.id = $1",
    /* the audit row's after: the refund, what it should have taken, and whose */
    [RF_AUDIT_JSON] = "SELECT (" REFUNDS_JSON " || jsonb_build_object('credits_due', "
                      "r.credits_due, 'user_id', r.user_id))::text FROM order_refunds r "
                      "JOIN orders o ON o.id = r.order_id WHERE r.id = $1",
    [RF_LIST] = "SELECT o.id, jsonb_build_object('items', (SELECT COALESCE(jsonb_agg(" REFUNDS_JSON
                " ORDER BY r.id), '[]'::jsonb) FROM order_refunds r WHERE r.order_id = o.id))"
                "::text FROM orders o WHERE o.out_trade_no = $1",
    /* $1 no, $2 WeChat's refund id.  The refund once, and its amount onto its order */
    [RF_SUCCEED] =
        "WITH r AS (UPDATE order_refunds SET status = 'success', succeeded_at = now(), "
        "refund_id = COALESCE($2, refund_id) WHERE out_refund_no = $1 "
        "AND status IN ('processing', 'abnormal') RETURNING order_id, amount_fen) "
        "UPDATE orders o SET refunded_fen = o.refunded_fen + r.amount_fen, refunded_at = now(), "
        "status = CASE WHEN o.refunded_fen + r.amount_fen >= o.amount_fen THEN 'refunded' "
        "ELSE 'partially_refunded' END FROM r WHERE o.id = r.order_id RETURNING o.status",
    /* $1 no, $2 WeChat's refund id, $3 $4 WeChat Pay's error code and message when it refused
     * to create the refund (else NULL).  The refund once, and the credits it took back */
    [RF_CLOSE] =
        "WITH r AS (UPDATE order_refunds SET status = 'closed', closed_at = now(), "
        "refund_id = COALESCE($2, refund_id), fail_code = $3::text, "
        "fail_message = $4::text WHERE out_refund_no = $1 "
        "AND status IN ('processing', 'abnormal') "
        "RETURNING user_id, credits, out_refund_no, order_id), "
        "u AS (UPDATE users SET credits = users.credits + r.credits, updated_at = now() FROM r "
        "WHERE users.id = r.user_id AND r.credits > 0 "
        "RETURNING users.id, users.credits AS balance, r.credits AS delta, r.out_refund_no, "
        "r.order_id), "
        "l AS (INSERT INTO credit_ledger (user_id, delta, balance_after, kind, reference, memo, "
        "idempotency_key) SELECT u.id, u.delta, u.balance, 'refund_order', "
        "'order:' || (SELECT out_trade_no FROM orders WHERE id = u.order_id), "
        "'退款关闭，积分退回', "
        "'refund_order:' || u.out_refund_no || ':closed' FROM u RETURNING 1) "
        "SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM l)",
    [RF_ABNORMAL] = "UPDATE order_refunds SET status = 'abnormal', "
                    "refund_id = COALESCE($2, refund_id) WHERE out_refund_no = $1 "
                    "AND status = 'processing' RETURNING id",
    [RF_REFUND_ID] = "UPDATE order_refunds SET refund_id = $2 WHERE out_refund_no = $1 "
                     "AND refund_id IS DISTINCT FROM $2 AND $2 IS NOT NULL RETURNING id",
    /* $1 older than (s), $2 limit: claimed and moved to the back of the queue together */
    [RF_PENDING] =
        "WITH p AS (SELECT id FROM order_refunds WHERE status IN ('processing', 'abnormal') "
        "AND created_at <= now() - make_interval(secs => $1) "
        "ORDER BY last_queried_at NULLS FIRST, id LIMIT $2 FOR UPDATE SKIP LOCKED), "
        "r AS (UPDATE order_refunds q SET last_queried_at = now() FROM p WHERE q.id = p.id "
        "RETURNING q.*) "
        "SELECT " REFUNDS_COLS " FROM r JOIN orders o ON o.id = r.order_id ORDER BY r.id",
    [RF_AUDIT] =
        "WITH l AS (SELECT r.out_refund_no, r.status, r.credits, "
        "COALESCE(sum(c.delta) FILTER (WHERE c.idempotency_key = 'refund_order:' || "
        "r.out_refund_no), 0) AS taken, "
        "COALESCE(sum(c.delta) FILTER (WHERE c.idempotency_key = 'refund_order:' || "
        "r.out_refund_no || ':closed'), 0) AS back FROM order_refunds r "
        "LEFT JOIN credit_ledger c ON c.idempotency_key IN ('refund_order:' || r.out_refund_no, "
        "'refund_order:' || r.out_refund_no || ':closed') GROUP BY r.id) "
        "SELECT format('refund %s (%s): %s credits, ledger %s taken, %s given back', "
        "out_refund_no, status, credits, -taken, back) FROM l WHERE taken <> -credits "
        "OR back <> CASE WHEN status = 'closed' THEN credits ELSE 0 END "
        "UNION ALL SELECT format('order %s: refunded_fen %s, successful refunds %s', "
        "o.out_trade_no, o.refunded_fen, COALESCE(s.total, 0)) FROM orders o "
        "LEFT JOIN (SELECT order_id, sum(amount_fen) AS total FROM order_refunds "
        "WHERE status = 'success' GROUP BY order_id) s ON s.order_id = o.id "
        "WHERE o.refunded_fen <> COALESCE(s.total, 0)",
};

static struct db_stmts refunds_stmts = DB_STMTS("refunds", refunds_sql);

/* One row of REFUNDS_COLS. */
static void refunds_row(struct arena *a, PGresult *res, int i, struct refund *r)
{
	r->id = db_i64(res, i, 0);
	r->order_id = db_i64(res, i, 1);
	r->user_id = db_i64(res, i, 2);
	r->amount_fen = db_i64(res, i, 3);
	r->order_amount_fen = db_i64(res, i, 4);
	r->credits = db_i64(res, i, 5);
	r->out_refund_no = db_str(a, res, i, 6);
	r->out_trade_no = db_str(a, res, i, 7);
	r->status = db_str(a, res, i, 8);
	r->reason = db_str(a, res, i, 9);
	r->mchid = db_str(a, res, i, 10);
	r->age_seconds = (long)db_i64(res, i, 11);
}

/* The one row of idx with one parameter (*res to PQclear); E_NOT_FOUND without a row. */
static enum api_err refunds_single(int idx, const char *param, PGresult **res)
{
	const char *p[1] = {param};
	enum api_err err = db_exec(&refunds_stmts, idx, 1, p, res);

	if (err == E_OK && PQntuples(*res) != 1) {
		PQclear(*res);
		err = E_NOT_FOUND;
	}
	return err;
}

/* One row, one column of text (idx with one parameter); E_NOT_FOUND without a row. */
static enum api_err refunds_text(struct arena *a, int idx, const char *param, char **out)
{
	PGresult *res;
	enum api_err err = refunds_single(idx, param, &res);

	if (err != E_OK)
		return err;
	*out = db_str(a, res, 0, PQnfields(res) - 1);
	PQclear(res);
	return E_OK;
}

/* floor(credits × part / total) without overflow (part ≤ total). */
static int64_t refunds_share(int64_t credits, int64_t part, int64_t total)
{
	__extension__ typedef __int128 wide;

	return total > 0 ? (int64_t)((wide)credits * part / total) : 0;
}

struct refunds_open_ctx {
	const struct audit_actor *who;
	const struct refund_new *n;
	struct refund_refusal *why;
	int64_t refund_id;
};

/* The order locked and checked: *order_id, *user_id, *due (the credits the refund stands for),
 * *amount (the refund's amount) and the audit row's before. */
static enum api_err refunds_check(struct arena *a, struct refunds_open_ctx *c, int64_t *order_id,
                                  int64_t *user_id, int64_t *amount, int64_t *due,
                                  const char **before)
{
	const struct refund_new *n = c->n;
	const char *p[1] = {n->out_trade_no};
	int64_t total, credits, refunded, reserved, remaining;
	const char *status;
	PGresult *res;
	enum api_err err = db_exec(&refunds_stmts, RF_LOCK_ORDER, 1, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return E_NOT_FOUND;
	}
	*order_id = db_i64(res, 0, 0);
	*user_id = db_i64(res, 0, 1);
	total = db_i64(res, 0, 2);
	credits = db_i64(res, 0, 3);
	status = db_str(a, res, 0, 4);
	refunded = db_i64(res, 0, 5);
	PQclear(res);
	if (strcmp(status, "paid") != 0 && strcmp(status, "partially_refunded") != 0) {
		c->why->order_status = status;
		return E_CONFLICT;
	}
	p[0] = db_param_i64(a, *order_id);
	if ((err = db_exec(&refunds_stmts, RF_RESERVED, 1, p, &res)) != E_OK)
		return err;
	reserved = db_i64(res, 0, 0);
	PQclear(res);
	remaining = total - reserved;
	c->why->remaining_fen = remaining > 0 ? remaining : 0;
	if (remaining <= 0) {
		c->why->order_status = status;
		return E_CONFLICT;
	}
	*amount = n->amount_fen > 0 ? n->amount_fen : remaining;
	if (*amount > remaining)
		return E_BAD_REQUEST;
	/* the shares of all the order's refunds add up to its credits, whatever the split */
	*due = refunds_share(credits, reserved + *amount, total) -
	       refunds_share(credits, reserved, total);
	*before = arena_printf(a,
	                       "{\"status\":\"%s\",\"amount_fen\":%lld,\"credits\":%lld,"
	                       "\"refunded_fen\":%lld,\"refunding_fen\":%lld}",
	                       status, (long long)total, (long long)credits, (long long)refunded,
	                       (long long)(reserved - refunded));
	return E_OK;
}

/* audit_work: the checks, the credits taken back, the refund row. */
static enum api_err refunds_change(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct refunds_open_ctx *c = ctx;
	const struct refund_new *n = c->n;
	int64_t order_id, user_id, amount, due, balance, taken, after, ledger_id;
	const char *before = NULL, *p[9];
	PGresult *res;
	char *json;
	enum api_err err;

	if ((err = refunds_check(a, c, &order_id, &user_id, &amount, &due, &before)) != E_OK)
		return err;
	p[0] = db_param_i64(a, user_id);
	if ((err = db_exec(&refunds_stmts, RF_BALANCE, 1, p, &res)) != E_OK)
		return err;
	balance = PQntuples(res) == 1 ? db_i64(res, 0, 0) : 0;
	PQclear(res);
	taken = balance < due ? balance : due;
	if (taken < due && !n->take_remaining) {
		c->why->balance = balance;
		c->why->credits_due = due;
		return E_INSUFFICIENT_CREDITS;
	}
	if (taken > 0 &&
	    (err = ledger_apply_row(
	         a, user_id, -taken, "refund_order", arena_printf(a, "order:%s", n->out_trade_no),
	         "订单退款，积分扣回", arena_printf(a, "refund_order:%s", n->out_refund_no), &after,
	         &ledger_id)) != E_OK)
		return err;
	p[0] = n->out_refund_no;
	p[1] = db_param_i64(a, order_id);
	p[2] = db_param_i64(a, user_id);
	p[3] = db_param_i64(a, amount);
	p[4] = db_param_i64(a, due);
	p[5] = db_param_i64(a, taken);
	p[6] = n->reason;
	p[7] = n->take_remaining ? "take_remaining" : "refuse";
	p[8] = c->who->admin_id > 0 ? db_param_i64(a, c->who->admin_id) : NULL;
	if ((err = db_exec(&refunds_stmts, RF_INSERT, 9, p, &res)) != E_OK)
		return err;
	c->refund_id = db_i64(res, 0, 0);
	PQclear(res);
	if ((err = refunds_text(a, RF_AUDIT_JSON, db_param_i64(a, c->refund_id), &json)) != E_OK)
		return err == E_NOT_FOUND ? E_INTERNAL : err;
	chg->target_type = "order";
	chg->target_id = n->out_trade_no;
	chg->before = before;
	chg->after = json;
	log_info("refund %s of order %s opened: %lld fen, %lld of %lld credits taken back",
	         n->out_refund_no, n->out_trade_no, (long long)amount, (long long)taken,
	         (long long)due);
	return E_OK;
}

/* idempotency_work: the audited change inside the key's transaction. */
static enum api_err refunds_work(struct arena *a, void *ctx, int64_t *resource_id)
{
	struct refunds_open_ctx *c = ctx;
	enum api_err err = audit_run(a, c->who, "order.refund", refunds_change, c);

	*resource_id = err == E_OK ? c->refund_id : 0;
	return err;
}

enum api_err refunds_open(struct arena *a, const struct audit_actor *who, const struct idem_key *k,
                          const struct refund_new *n, struct idem_outcome *out,
                          struct refund_refusal *why)
{
	struct refunds_open_ctx c = {.who = who, .n = n, .why = why};

	memset(why, 0, sizeof(*why));
	return idempotency_run(a, k, true, refunds_work, &c, out);
}

enum api_err refunds_finish_key(struct arena *a, const struct idem_key *k)
{
	return idempotency_finish(a, k, E_OK);
}

static enum api_err refunds_one(struct arena *a, int idx, const char *param, struct refund *out)
{
	PGresult *res;
	enum api_err err = refunds_single(idx, param, &res);

	if (err != E_OK)
		return err;
	refunds_row(a, res, 0, out);
	PQclear(res);
	return E_OK;
}

enum api_err refunds_get(struct arena *a, int64_t id, struct refund *out)
{
	return refunds_one(a, RF_GET, db_param_i64(a, id), out);
}

enum api_err refunds_json(struct arena *a, int64_t id, char **json)
{
	return refunds_text(a, RF_JSON, db_param_i64(a, id), json);
}

enum api_err refunds_list(struct arena *a, const char *out_trade_no, char **json)
{
	return refunds_text(a, RF_LIST, out_trade_no, json);
}

static bool refunds_eq(const char *x, const char *y)
{
	return x != NULL && y != NULL && strcmp(x, y) == 0;
}

/* A statement of the apply family ($1 no, $2 refund id; RF_CLOSE also $3 $4 the refusal):
 * *rows its first column's count or rows. */
static enum api_err refunds_update(int idx, const char *const *p, int64_t *rows)
{
	PGresult *res;
	enum api_err err = db_exec(&refunds_stmts, idx, idx == RF_CLOSE ? 4 : 2, p, &res);

	if (err != E_OK)
		return err;
	*rows = idx == RF_CLOSE ? db_i64(res, 0, 0) : PQntuples(res);
	PQclear(res);
	return E_OK;
}

enum api_err refunds_apply(struct arena *a, const struct refund_word *w, const char *our_mchid,
                           bool *changed)
{
	const char *p[4] = {w->out_refund_no, w->refund_id, NULL, NULL};
	struct refund r;
	int64_t rows = 0;
	enum api_err err;
	int idx;

	*changed = false;
	if (w->out_refund_no == NULL)
		return E_NOT_FOUND;
	if ((err = refunds_one(a, RF_GET_BY_NO, w->out_refund_no, &r)) != E_OK)
		return err;
	if ((w->out_trade_no != NULL && !refunds_eq(w->out_trade_no, r.out_trade_no)) ||
	    (w->mchid != NULL &&
	     (!refunds_eq(w->mchid, our_mchid) || !refunds_eq(w->mchid, r.mchid))) ||
	    w->amount_refund != r.amount_fen || w->amount_total != r.order_amount_fen ||
	    (w->currency != NULL && !refunds_eq(w->currency, "CNY"))) {
		log_error(
		    "REFUND MISMATCH %s: WeChat Pay says order %s, %lld of %lld, mchid %s; ours "
		    "is order %s, %lld of %lld, mchid %s",
		    r.out_refund_no, w->out_trade_no ? w->out_trade_no : "-",
		    (long long)w->amount_refund, (long long)w->amount_total,
		    w->mchid ? w->mchid : "-", r.out_trade_no, (long long)r.amount_fen,
		    (long long)r.order_amount_fen, r.mchid ? r.mchid : "-");
		return E_CONFLICT;
	}
	if (refunds_eq(w->status, "SUCCESS"))
		idx = RF_SUCCEED;
	else if (refunds_eq(w->status, "CLOSED"))
		idx = RF_CLOSE;
	else if (refunds_eq(w->status, "ABNORMAL"))
		idx = RF_ABNORMAL;
	else if (refunds_eq(w->status, "PROCESSING"))
		return refunds_update(RF_REFUND_ID, p, &rows);
	else {
		log_error("refund %s: unknown status %s", r.out_refund_no,
		          w->status ? w->status : "(none)");
		return E_CONFLICT;
	}
	if ((err = refunds_update(idx, p, &rows)) != E_OK)
		return err;
	*changed = rows > 0;
	if (*changed)
		log_info("refund %s of order %s: %s (%lld fen, %lld credits)", r.out_refund_no,
		         r.out_trade_no, w->status, (long long)r.amount_fen, (long long)r.credits);
	return E_OK;
}

struct refunds_refuse_ctx {
	const char *out_refund_no, *code, *message;
	bool changed;
};

/* audit_work: the refund closed with WeChat Pay's refusal, its credits given back (RF_CLOSE,
 * the REFUND.CLOSED statement: once). */
static enum api_err refunds_refuse_change(struct arena *a, void *ctx, struct audit_change *chg)
{
	struct refunds_refuse_ctx *c = ctx;
	const char *p[4] = {c->out_refund_no, NULL, c->code, c->message};
	struct refund r;
	int64_t rows = 0;
	char *json;
	enum api_err err;

	if ((err = refunds_one(a, RF_GET_BY_NO, c->out_refund_no, &r)) != E_OK)
		return err;
	if ((err = refunds_update(RF_CLOSE, p, &rows)) != E_OK)
		return err;
	c->changed = rows > 0;
	if (!c->changed) {
		chg->unchanged = true; /* already settled: no audit row */
		return E_OK;
	}
	if ((err = refunds_text(a, RF_AUDIT_JSON, db_param_i64(a, r.id), &json)) != E_OK)
		return err == E_NOT_FOUND ? E_INTERNAL : err;
	chg->target_type = "order";
	chg->target_id = r.out_trade_no;
	chg->before = arena_printf(a, "{\"out_refund_no\":\"%s\",\"status\":\"%s\"}",
	                           r.out_refund_no, r.status);
	chg->after = json;
	log_warn("refund %s of order %s refused by WeChat Pay (%s %s): closed, %lld credits back",
	         r.out_refund_no, r.out_trade_no, c->code, c->message, (long long)r.credits);
	return E_OK;
}

enum api_err refunds_refuse(struct arena *a, const struct audit_actor *who,
                            const char *out_refund_no, const char *code, const char *message,
                            bool *changed)
{
	struct refunds_refuse_ctx c = {
	    .out_refund_no = out_refund_no, .code = code, .message = message};
	enum api_err err = audit_run(a, who, "order.refund_refused", refunds_refuse_change, &c);

	*changed = err == E_OK && c.changed;
	return err;
}

enum api_err refunds_pending(struct arena *a, long older_than, int limit, struct refund **rows,
                             size_t *n)
{
	const char *p[2] = {db_param_i64(a, older_than), db_param_i64(a, limit)};
	PGresult *res;
	enum api_err err = db_exec(&refunds_stmts, RF_PENDING, 2, p, &res);
	int got;

	*n = 0;
	if (err != E_OK)
		return err;
	got = PQntuples(res);
	*rows = arena_alloc(a, sizeof(**rows) * (size_t)(got ? got : 1));
	for (int i = 0; i < got; i++)
		refunds_row(a, res, i, &(*rows)[i]);
	*n = (size_t)got;
	PQclear(res);
	return E_OK;
}

enum api_err refunds_audit(struct arena *a, char ***lines, size_t *n)
{
	PGresult *res;
	enum api_err err = db_exec(&refunds_stmts, RF_AUDIT, 0, NULL, &res);
	int got;

	*n = 0;
	if (err != E_OK)
		return err;
	got = PQntuples(res);
	*lines = arena_alloc(a, sizeof(**lines) * (size_t)(got ? got : 1));
	for (int i = 0; i < got; i++)
		(*lines)[i] = db_str(a, res, i, 0);
	*n = (size_t)got;
	PQclear(res);
	return E_OK;
}
