/*
 * orders — WeChat Pay orders (created → paid | closed; paid → partially_refunded → refunded,
 * model/refunds) and their settlement.
 *
 * An order is for one app: orders.appid is the appid it was placed with at WeChat Pay, the
 * Official Account's (H5 pages) or the mini program's, whose openid pays it (migration 0013).
 * An order stored without one (none written by the service; a row made by hand) is the
 * Official Account's: the callers pass that appid as default_appid.
 *
 * Settlement is one guarded statement: the order moves created → paid only when its amount
 * matches, the transaction id is unique, and the credits are added with their ledger row
 * (key "order:<out_trade_no>") in the same statement, so a duplicate notify, a notify racing
 * the reconciliation, or a replay can credit the user at most once.
 */
#ifndef AIPHOTO_MODEL_ORDERS_H
#define AIPHOTO_MODEL_ORDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/idempotency.h"
#include "model/view.h"

struct order {
	int64_t id, user_id, amount_fen, credits;
	const char *out_trade_no, *status, *paid_at, *created_at, *appid, *mchid, *transaction_id;
	long age_seconds; /* since created_at */
};

/* What WeChat Pay says about a transaction (a notify's resource or a query answer). */
struct order_txn {
	const char *out_trade_no, *transaction_id, *trade_state, *currency, *mchid, *appid;
	const char *payer_openid;
	int64_t amount_total;
};

/* What POST /payment/create-order makes. */
struct order_new {
	int64_t package_id, amount_fen, credits;
	const char *description, *out_trade_no, *appid, *mchid, *payer_openid;
	int max_open; /* created (unpaid) orders the user may have at once */
};

/* An order as create-order answers it (prepay_id NULL until WeChat Pay gave one). */
struct order_prepay {
	int64_t id, amount_fen, credits;
	const char *out_trade_no, *description, *appid, *payer_openid, *prepay_id;
};

/*
 * Creates a created order for k->user_id once per key, in one short transaction with the
 * key's claim: out->resource_id is the order (on a repeat the first one's, out->replayed).
 * The key's outcome is not stored yet (out->pending) — the WeChat Pay call happens outside
 * any transaction, then orders_prepared stores the prepay id and the outcome.  A repeat that
 * finds the key still pending (the first request in flight, or dead before WeChat Pay
 * answered) gets the same order with out->pending, and may ask WeChat Pay for it again (the
 * same out_trade_no and parameters).  At max_open created orders: E_RATE_LIMITED and nothing
 * is written (the count and the insert run under a lock per user held to the end of the
 * transaction, so concurrent creations cannot exceed it).  E_IDEMPOTENCY_MISMATCH.
 */
enum api_err orders_open(struct arena *a, const struct idem_key *k, const struct order_new *o,
                         struct idem_outcome *out);
/* The caller's order id as create-order answers it (out->appid default_appid when stored
 * without one); E_NOT_FOUND when not theirs. */
enum api_err orders_get_prepay(struct arena *a, int64_t user_id, int64_t id,
                               const char *default_appid, struct order_prepay *out);
/* Stores the prepay id of a created order, then the outcome of its key (k->key NULL: none). */
enum api_err orders_prepared(struct arena *a, const struct idem_key *k, const char *out_trade_no,
                             const char *prepay_id);
/* user_id 0 = any owner.  E_NOT_FOUND when missing or not that user's. */
enum api_err orders_get(struct arena *a, int64_t user_id, const char *out_trade_no,
                        struct order *out);
enum api_err orders_list(struct arena *a, int64_t user_id, int64_t before_id, int limit,
                         struct order **rows, size_t *n, bool *more);
/* Orders still created after older_than seconds, at most limit: those never queried at
 * WeChat Pay first, then the least recently queried, then the oldest. */
enum api_err orders_pending(struct arena *a, long older_than, int limit, struct order **rows,
                            size_t *n);

/*
 * Applies WeChat Pay's word on a transaction to its order, after checking it against the
 * order: mchid (ours and the order's), appid (the order's own: one merchant serves both apps,
 * and a payment made in the other app is not this order's; default_appid for an order stored
 * without one), currency CNY, amount.  SUCCESS settles (E_OK, *credited tells whether this
 * call added the credits; an already-paid order with the same transaction id is E_OK with
 * *credited false); CLOSED/REVOKED/PAYERROR closes a created order; NOTPAY/USERPAYING change
 * nothing.  Mismatches → E_CONFLICT (logged loudly, nothing changed); unknown order →
 * E_NOT_FOUND.
 */
enum api_err orders_apply(struct arena *a, const struct order_txn *t, const char *our_mchid,
                          const char *default_appid, bool *credited);
/* Records that WeChat Pay was asked about the order now. */
enum api_err orders_touch_queried(struct arena *a, const char *out_trade_no);
/* Claims the right to ask WeChat Pay about a created order now: *claimed only when it was not
 * queried in the last every_s seconds (by anyone: a poll, the reconciliation); the claim is
 * recorded as the query time.  Concurrent callers: one wins. */
enum api_err orders_claim_query(struct arena *a, const char *out_trade_no, long every_s,
                                bool *claimed);
/* Closes a created order (expired and never paid). */
enum api_err orders_close(struct arena *a, const char *out_trade_no);

/* Every user's orders, newest first (GET /admin/orders): status and user_id (0) NULL / 0 for
 * any; each row as model/sql.h SQL_ORDER_JSON, trade_state WeChat Pay's last word on it. */
enum api_err orders_admin_list(struct arena *a, const char *status, int64_t user_id,
                               const struct view_cursor *c, struct view_page *out);

#endif
