/* orders — see orders.h. */
#include "model/orders.h"

#include <string.h>

#include "lib/db.h"
#include "lib/log.h"
#include "model/sql.h"
#include "model/viewsql.h"

enum orders_stmt {
	OR_OPEN_LOCK,
	OR_CREATE,
	OR_PREPAY,
	OR_GET,
	OR_LIST,
	OR_PENDING,
	OR_SETTLE,
	OR_CLOSE,
	OR_TOUCH,
	OR_CLAIM_QUERY,
	OR_GET_PREPAY,
	OR_ADMIN_LIST,
	OR__MAX
};

#define ORDERS_COLS                                                                   \
	"id, user_id, amount_fen, credits, out_trade_no, status, " SQL_TIME(          \
	    "paid_at") ", " SQL_TIME("created_at") ", appid, mchid, transaction_id, " \
	                                           "EXTRACT(EPOCH FROM now() - "      \
	                                           "created_at)::bigint"

static const char *const orders_sql[OR__MAX] = {
    /* $1 user: serialises one user's order creations until their transaction ends, so the
     * count in OR_CREATE (a later statement, a later snapshot) sees every committed order */
    [OR_OPEN_LOCK] = "SELECT pg_advisory_xact_lock(hashtext('aiphoto-orders:' || $1))",
    /* $10 = how many created (unpaid) orders the user may have open: no row when at it */
    [OR_CREATE] = "INSERT INTO orders (user_id, package_id, description, amount_fen, credits, "
                  "out_trade_no, appid, mchid, payer_openid) "
                  "SELECT $1::bigint, $2::bigint, $3::text, $4::bigint, $5::bigint, $6::text, "
                  "$7::text, $8::text, $9::text "
                  "WHERE (SELECT count(*) FROM orders WHERE user_id = $1::bigint "
                  "AND status = 'created') < $10::bigint RETURNING id",
    [OR_PREPAY] = "UPDATE orders SET prepay_id = $2 WHERE out_trade_no = $1",
    [OR_GET] = "SELECT " ORDERS_COLS " FROM orders WHERE out_trade_no = $1 "
               "AND ($2::bigint IS NULL OR user_id = $2)",
    [OR_LIST] = "SELECT " ORDERS_COLS " FROM orders WHERE user_id = $1 "
                "AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    /* least recently queried first (never queried before all), then oldest: each run moves
     * the orders it handled to the back, so a pile of unpaid orders cannot starve one */
    [OR_PENDING] = "SELECT " ORDERS_COLS " FROM orders WHERE status = 'created' "
                   "AND created_at <= now() - make_interval(secs => $1) "
                   "ORDER BY last_queried_at NULLS FIRST, created_at, id LIMIT $2",
    /* $1 out_trade_no, $2 transaction_id, $3 amount, $4 payer openid */
    [OR_SETTLE] =
        "WITH o AS (UPDATE orders SET status = 'paid', transaction_id = $2, trade_state = "
        "'SUCCESS', "
        "paid_at = now(), payer_openid = COALESCE($4, payer_openid) "
        "WHERE out_trade_no = $1 AND status = 'created' AND amount_fen = $3::bigint "
        "RETURNING user_id, credits, out_trade_no), "
        "u AS (UPDATE users SET credits = users.credits + o.credits FROM o "
        "WHERE users.id = o.user_id RETURNING users.id, users.credits AS balance, o.credits AS "
        "delta, o.out_trade_no) "
        "INSERT INTO credit_ledger (user_id, delta, balance_after, kind, reference, memo, "
        "idempotency_key) SELECT u.id, u.delta, u.balance, 'recharge', u.out_trade_no, '充值', "
        "'order:' || u.out_trade_no FROM u RETURNING user_id",
    [OR_CLOSE] = "UPDATE orders SET status = 'closed', closed_at = now() "
                 "WHERE out_trade_no = $1 AND status = 'created'",
    [OR_TOUCH] = "UPDATE orders SET last_queried_at = now() WHERE out_trade_no = $1",
    /* the right to ask WeChat Pay about a created order: at most once per $2 seconds */
    [OR_CLAIM_QUERY] = "UPDATE orders SET last_queried_at = now() WHERE out_trade_no = $1 "
                       "AND status = 'created' AND (last_queried_at IS NULL OR "
                       "last_queried_at <= now() - make_interval(secs => $2)) RETURNING id",
    [OR_GET_PREPAY] = "SELECT id, amount_fen, credits, out_trade_no, description, payer_openid, "
                      "prepay_id, appid FROM orders WHERE id = $1 AND user_id = $2",
    /* $1 before id, $2 status, $3 user, $4 limit */
    [OR_ADMIN_LIST] = "SELECT o.id, " SQL_ORDER_JSON "::text FROM orders o "
                      "WHERE o.id < COALESCE($1::bigint, 9223372036854775807) "
                      "AND ($2::text IS NULL OR o.status = $2) "
                      "AND ($3::bigint IS NULL OR o.user_id = $3) ORDER BY o.id DESC LIMIT $4",
};

static struct db_stmts orders_stmts = DB_STMTS("orders", orders_sql);

static void orders_row(struct arena *a, PGresult *res, int i, struct order *o)
{
	o->id = db_i64(res, i, 0);
	o->user_id = db_i64(res, i, 1);
	o->amount_fen = db_i64(res, i, 2);
	o->credits = db_i64(res, i, 3);
	o->out_trade_no = db_str(a, res, i, 4);
	o->status = db_str(a, res, i, 5);
	o->paid_at = db_str(a, res, i, 6);
	o->created_at = db_str(a, res, i, 7);
	o->appid = db_str(a, res, i, 8);
	o->mchid = db_str(a, res, i, 9);
	o->transaction_id = db_str(a, res, i, 10);
	o->age_seconds = (long)db_i64(res, i, 11);
}

static enum api_err orders_rows(struct arena *a, int idx, int n, const char *const *p,
                                struct order **rows, size_t *count)
{
	PGresult *res;
	enum api_err err = db_exec(&orders_stmts, idx, n, p, &res);
	int got;

	*count = 0;
	if (err != E_OK)
		return err;
	got = PQntuples(res);
	*rows = arena_alloc(a, sizeof(**rows) * (size_t)(got ? got : 1));
	for (int i = 0; i < got; i++)
		orders_row(a, res, i, &(*rows)[i]);
	*count = (size_t)got;
	PQclear(res);
	return E_OK;
}

static enum api_err orders_simple(int idx, int n, const char *const *p, int *affected)
{
	PGresult *res;
	enum api_err err = db_exec(&orders_stmts, idx, n, p, &res);

	if (err != E_OK)
		return err;
	if (affected != NULL)
		*affected = PQntuples(res); /* rows RETURNING gave back */
	PQclear(res);
	return E_OK;
}

struct orders_open_ctx {
	int64_t user_id;
	const struct order_new *o;
};

/* idempotency_work: the per-user lock, then the order unless the user is at max_open. */
static enum api_err orders_insert(struct arena *a, void *ctx, int64_t *order_id)
{
	const struct orders_open_ctx *c = ctx;
	const struct order_new *o = c->o;
	const char *p[10] = {db_param_i64(a, c->user_id),
	                     db_param_i64(a, o->package_id),
	                     o->description,
	                     db_param_i64(a, o->amount_fen),
	                     db_param_i64(a, o->credits),
	                     o->out_trade_no,
	                     o->appid,
	                     o->mchid,
	                     o->payer_openid,
	                     db_param_i64(a, o->max_open)};
	PGresult *res;
	enum api_err err;

	if ((err = orders_simple(OR_OPEN_LOCK, 1, p, NULL)) != E_OK ||
	    (err = db_exec(&orders_stmts, OR_CREATE, 10, p, &res)) != E_OK)
		return err;
	if (PQntuples(res) == 1)
		*order_id = db_i64(res, 0, 0);
	else
		err = E_RATE_LIMITED;
	PQclear(res);
	return err;
}

enum api_err orders_open(struct arena *a, const struct idem_key *k, const struct order_new *o,
                         struct idem_outcome *out)
{
	struct orders_open_ctx c = {.user_id = k->user_id, .o = o};
	return idempotency_run(a, k, true, orders_insert, &c, out);
}

/* An order's appid: the stored one, or default_appid (the Official Account's) for an order
 * stored without one. */
static const char *orders_appid(const char *stored, const char *default_appid)
{
	return stored != NULL && *stored != '\0' ? stored : default_appid;
}

enum api_err orders_get_prepay(struct arena *a, int64_t user_id, int64_t id,
                               const char *default_appid, struct order_prepay *out)
{
	const char *p[2] = {db_param_i64(a, id), db_param_i64(a, user_id)};
	PGresult *res;
	enum api_err err = db_exec(&orders_stmts, OR_GET_PREPAY, 2, p, &res);

	if (err != E_OK)
		return err;
	if (PQntuples(res) == 1) {
		out->id = db_i64(res, 0, 0);
		out->amount_fen = db_i64(res, 0, 1);
		out->credits = db_i64(res, 0, 2);
		out->out_trade_no = db_str(a, res, 0, 3);
		out->description = db_str(a, res, 0, 4);
		out->payer_openid = db_str(a, res, 0, 5);
		out->prepay_id = db_str(a, res, 0, 6);
		out->appid = orders_appid(db_str(a, res, 0, 7), default_appid);
	} else {
		err = E_NOT_FOUND;
	}
	PQclear(res);
	return err;
}

enum api_err orders_prepared(struct arena *a, const struct idem_key *k, const char *out_trade_no,
                             const char *prepay_id)
{
	const char *p[2] = {out_trade_no, prepay_id};
	enum api_err err = orders_simple(OR_PREPAY, 2, p, NULL);

	/* two statements, no transaction: a crash between them leaves the key pending, and a
	 * repeat asks WeChat Pay for the same order again */
	return err == E_OK ? idempotency_finish(a, k, E_OK) : err;
}

enum api_err orders_get(struct arena *a, int64_t user_id, const char *out_trade_no,
                        struct order *out)
{
	const char *p[2] = {out_trade_no, user_id > 0 ? db_param_i64(a, user_id) : NULL};
	struct order *rows;
	size_t n;
	enum api_err err = orders_rows(a, OR_GET, 2, p, &rows, &n);

	if (err != E_OK)
		return err;
	if (n != 1)
		return E_NOT_FOUND;
	*out = rows[0];
	return E_OK;
}

enum api_err orders_list(struct arena *a, int64_t user_id, int64_t before_id, int limit,
                         struct order **rows, size_t *n, bool *more)
{
	const char *p[3] = {db_param_i64(a, user_id),
	                    before_id > 0 ? db_param_i64(a, before_id) : NULL,
	                    db_param_i64(a, limit + 1)};
	enum api_err err = orders_rows(a, OR_LIST, 3, p, rows, n);

	*more = err == E_OK && db_page_trim(n, limit);
	return err;
}

enum api_err orders_pending(struct arena *a, long older_than, int limit, struct order **rows,
                            size_t *n)
{
	const char *p[2] = {db_param_i64(a, older_than), db_param_i64(a, limit)};
	return orders_rows(a, OR_PENDING, 2, p, rows, n);
}

enum api_err orders_close(struct arena *a, const char *out_trade_no)
{
	const char *p[1] = {out_trade_no};
	(void)a;
	return orders_simple(OR_CLOSE, 1, p, NULL);
}

static bool orders_eq(const char *x, const char *y)
{
	return x != NULL && y != NULL && strcmp(x, y) == 0;
}

enum api_err orders_apply(struct arena *a, const struct order_txn *t, const char *our_mchid,
                          const char *default_appid, bool *credited)
{
	struct order o;
	const char *appid;
	enum api_err err;
	int rows = 0;

	*credited = false;
	if (t->out_trade_no == NULL)
		return E_NOT_FOUND;
	if ((err = orders_get(a, 0, t->out_trade_no, &o)) != E_OK)
		return err;
	appid = orders_appid(o.appid, default_appid);
	if (!orders_eq(t->mchid, our_mchid) || !orders_eq(t->mchid, o.mchid) ||
	    !orders_eq(t->appid, appid)) {
		log_error("PAYMENT MISMATCH order %s: mchid/appid %s/%s, the order's are %s/%s",
		          o.out_trade_no, t->mchid ? t->mchid : "-", t->appid ? t->appid : "-",
		          o.mchid ? o.mchid : "-", appid ? appid : "-");
		return E_CONFLICT;
	}
	if (t->trade_state == NULL)
		return E_CONFLICT;
	if (strcmp(t->trade_state, "SUCCESS") == 0) {
		const char *p[4];
		if (t->amount_total != o.amount_fen || !orders_eq(t->currency, "CNY") ||
		    t->transaction_id == NULL || *t->transaction_id == '\0') {
			log_error("PAYMENT MISMATCH order %s: paid %lld %s, order is %lld CNY: not "
			          "credited",
			          o.out_trade_no, (long long)t->amount_total,
			          t->currency ? t->currency : "-", (long long)o.amount_fen);
			return E_CONFLICT;
		}
		if (strcmp(o.status, "paid") == 0 || strcmp(o.status, "partially_refunded") == 0 ||
		    strcmp(o.status, "refunded") == 0) {
			if (orders_eq(o.transaction_id, t->transaction_id))
				return E_OK; /* settled before: a repeat */
			log_error("PAYMENT CONFLICT order %s: paid as %s, now reported as %s",
			          o.out_trade_no, o.transaction_id ? o.transaction_id : "-",
			          t->transaction_id);
			return E_CONFLICT;
		}
		if (strcmp(o.status, "closed") == 0) {
			log_error("PAYMENT AFTER CLOSE order %s (%s): refund it by hand",
			          o.out_trade_no, t->transaction_id);
			return E_CONFLICT;
		}
		p[0] = o.out_trade_no;
		p[1] = t->transaction_id;
		p[2] = db_param_i64(a, t->amount_total);
		p[3] = t->payer_openid;
		if ((err = orders_simple(OR_SETTLE, 4, p, &rows)) != E_OK)
			return err == E_CONFLICT ? E_OK : err; /* a racing settle took it */
		*credited = rows > 0;
		if (rows == 0) {
			/* someone settled it between our read and our write: same transaction? */
			if ((err = orders_get(a, 0, t->out_trade_no, &o)) != E_OK)
				return err;
			return orders_eq(o.transaction_id, t->transaction_id) ? E_OK : E_CONFLICT;
		}
		log_info("order %s paid (%s): %lld credits to user %lld", o.out_trade_no,
		         t->transaction_id, (long long)o.credits, (long long)o.user_id);
		return E_OK;
	}
	if (strcmp(t->trade_state, "CLOSED") == 0 || strcmp(t->trade_state, "REVOKED") == 0 ||
	    strcmp(t->trade_state, "PAYERROR") == 0)
		return orders_close(a, o.out_trade_no);
	return E_OK; /* NOTPAY, USERPAYING: nothing to do yet */
}

enum api_err orders_touch_queried(struct arena *a, const char *out_trade_no)
{
	const char *p[1] = {out_trade_no};
	(void)a;
	return orders_simple(OR_TOUCH, 1, p, NULL);
}

enum api_err orders_claim_query(struct arena *a, const char *out_trade_no, long every_s,
                                bool *claimed)
{
	const char *p[2] = {out_trade_no, db_param_i64(a, every_s)};
	int rows = 0;
	enum api_err err = orders_simple(OR_CLAIM_QUERY, 2, p, &rows);

	*claimed = err == E_OK && rows > 0;
	return err;
}

enum api_err orders_admin_list(struct arena *a, const char *status, int64_t user_id,
                               const struct view_cursor *c, struct view_page *out)
{
	const char *p[4] = {viewsql_before(a, c), status,
	                    user_id > 0 ? db_param_i64(a, user_id) : NULL, viewsql_limit(a, c)};

	return viewsql_page(a, &orders_stmts, OR_ADMIN_LIST, 4, p, c->limit, out);
}
