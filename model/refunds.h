/*
 * refunds — refunds of paid orders (order_refunds, migration 0016) and what they do to the
 * order and to the user's credits.
 *
 * A refund is opened in one transaction (refunds_open): the order locked, the amount checked
 * against what is not yet refunded or being refunded, the order's credits taken back through
 * the ledger (kind 'refund_order'), the refund row written 'processing', the admin's audit row
 * ('order.refund') and the Idempotency-Key.  WeChat Pay is asked afterwards, outside any
 * transaction (service/reconcile), and its word — the call's answer, a query, a refund notify
 * — is applied by refunds_apply, each outcome one guarded statement, so a repeated notify or a
 * notify racing the reconciliation changes the refund once:
 *   SUCCESS  refund success; orders.refunded_fen grows by its amount and the order becomes
 *            partially_refunded or refunded (all of its amount)
 *   CLOSED   refund closed; the credits it took go back (ledger 'refund_order', positive)
 *   ABNORMAL refund abnormal (credits stay taken: the money is still owed to the payer)
 *   PROCESSING nothing but WeChat's refund id
 */
#ifndef AIPHOTO_MODEL_REFUNDS_H
#define AIPHOTO_MODEL_REFUNDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "model/audit.h"
#include "model/idempotency.h"

/* What an operator asks for (POST /admin/orders/:no/refunds). */
struct refund_new {
	const char *out_trade_no;
	const char *out_refund_no; /* a fresh number, used only when the key is new */
	int64_t amount_fen; /* 0: all that is not yet refunded */
	const char *reason; /* 1-80 characters */
	bool take_remaining; /* credits already spent: take what is left (else refuse) */
};

/* Why refunds_open refused (filled with its error). */
struct refund_refusal {
	const char *order_status; /* E_CONFLICT, order not refundable: its status */
	int64_t remaining_fen; /* E_CONFLICT (nothing left) / E_BAD_REQUEST (amount above it) */
	int64_t balance, credits_due; /* E_INSUFFICIENT_CREDITS: the user has balance < due */
};

/* A refund as the service needs it to talk to WeChat Pay. */
struct refund {
	int64_t id, order_id, user_id, amount_fen, order_amount_fen, credits;
	const char *out_refund_no, *out_trade_no, *status, *reason, *mchid;
	long age_seconds; /* since created_at */
};

/* WeChat Pay's word on a refund (model's copy of lib/wechat's: strings NULL when absent,
 * amounts -1). */
struct refund_word {
	const char *out_refund_no, *refund_id, *out_trade_no, *status, *mchid, *currency;
	int64_t amount_refund, amount_total;
};

/*
 * Opens a refund once per key (k: an admin's key; the refund row's id is out->resource_id, on
 * a repeat the first one's, out->replayed; the outcome is left pending for
 * refunds_finish_key, after the WeChat Pay call).  Refusals (nothing written, the key stays
 * free): E_NOT_FOUND no order; E_CONFLICT the order is not paid (why->order_status) or has
 * nothing left to refund (why->remaining_fen 0); E_BAD_REQUEST amount_fen above
 * why->remaining_fen; E_INSUFFICIENT_CREDITS the user has fewer credits (why->balance) than the
 * refund takes back (why->credits_due) and take_remaining is false.  E_IDEMPOTENCY_MISMATCH.
 */
enum api_err refunds_open(struct arena *a, const struct audit_actor *who, const struct idem_key *k,
                          const struct refund_new *n, struct idem_outcome *out,
                          struct refund_refusal *why);
/* Stores the outcome of the key of refunds_open (E_OK: the refund exists, whatever WeChat Pay
 * said). */
enum api_err refunds_finish_key(struct arena *a, const struct idem_key *k);
/* The refund row id; E_NOT_FOUND. */
enum api_err refunds_get(struct arena *a, int64_t id, struct refund *out);
/* The refund as the admin API shows it (JSON text: docs/admin.md Refund); E_NOT_FOUND. */
enum api_err refunds_json(struct arena *a, int64_t id, char **json);
/* The refunds of an order, oldest first ({"items":[Refund]}); E_NOT_FOUND no such order. */
enum api_err refunds_list(struct arena *a, const char *out_trade_no, char **json);
/*
 * Applies WeChat Pay's word (w->status SUCCESS | CLOSED | ABNORMAL | PROCESSING) to the refund
 * w->out_refund_no after checking it against the refund: its order's number, the amounts
 * (refund and order total), CNY, and when given the merchant (our_mchid).  *changed tells
 * whether this call changed the refund's status (false for a repeat).  Unknown refund →
 * E_NOT_FOUND; a mismatch or an unknown status → E_CONFLICT (logged, nothing changed).
 */
enum api_err refunds_apply(struct arena *a, const struct refund_word *w, const char *our_mchid,
                           bool *changed);
/*
 * Closes refund out_refund_no that WeChat Pay refused to create and does not know (a query
 * answered 404): status closed with code and message (WeChat Pay's error) recorded, the
 * credits it took given back through the ledger by the statement of REFUND.CLOSED (guarded:
 * once), the audit row 'order.refund_refused' (who: the admin, or none for the dispatcher).
 * *changed false when the refund was already success or closed (nothing written).
 * E_NOT_FOUND unknown refund.
 */
enum api_err refunds_refuse(struct arena *a, const struct audit_actor *who,
                            const char *out_refund_no, const char *code, const char *message,
                            bool *changed);
/* Refunds still processing or abnormal after older_than seconds, least recently asked about
 * first (never first), at most limit; each is marked asked about now. */
enum api_err refunds_pending(struct arena *a, long older_than, int limit, struct refund **rows,
                             size_t *n);

/*
 * The refunds whose ledger does not match them (aiphotoctl audit), one line of text each in
 * *lines: a refund not closed must have taken exactly its credits back (ledger key
 * refund_order:<no>, -credits, none when 0), a closed one given them back too (key
 * refund_order:<no>:closed, +credits); an order's refunded_fen must be the sum of its
 * successful refunds.
 */
enum api_err refunds_audit(struct arena *a, char ***lines, size_t *n);

#endif
