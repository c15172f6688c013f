/*
 * reconcile — orders still unpaid some time after creation are queried at WeChat Pay and
 * settled through the same guarded path as the notify (reconcile_apply); those
 * unpaid after expire_s are closed there and here.  Used by aiphoto-dispatch (each run, under
 * its maintenance lock) and by `aiphotoctl reconcile-orders`.
 */
#ifndef AIPHOTO_SERVICE_RECONCILE_H
#define AIPHOTO_SERVICE_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "lib/wechat/wxpayapi.h"
#include "model/refunds.h"

struct reconcile_stats {
	size_t checked, settled, closed, waiting, failed;
};

/* Applies WeChat Pay's word on a transaction (a query answer or a notify) to its order: the
 * protocol's transaction is mapped onto the model's and settled by orders_apply (model/orders.h
 * says what each outcome means) against our merchant (WXPAY_MCHID) and the order's own appid
 * (WECHAT_APPID for an order stored without one), the one guarded path for the notify, the
 * order poll and the reconciliation. */
enum api_err reconcile_apply(struct arena *a, const struct wxpayapi_txn *t, bool *credited);

/* Orders one run handles unless told otherwise (aiphotoctl reconcile-orders --limit). */
#define RECONCILE_BATCH 500

/* Handles up to limit orders created at least older_s seconds ago, the least recently
 * queried first (never queried before all, then the oldest), and marks each as queried: a
 * run's orders go to the back of the next run's queue, so every unpaid order is reached
 * within ceil(pending / limit) runs however many an attacker leaves open.  One log line per
 * change.  Redis must be initialised (the Pay client needs nothing else from it, but the
 * caller's configuration is shared).  Returns 0 when every order was handled, -1 otherwise. */
int reconcile_orders(struct arena *a, long older_s, long expire_s, int limit,
                     struct reconcile_stats *st);

/*
 * Refunds (model/refunds.h).  WeChat Pay is always asked outside any transaction, with the
 * refund's own out_refund_no, so asking again is safe: WeChat Pay treats the same number as the
 * same refund.
 */

/* Applies WeChat Pay's word on a refund (the refund call's answer, a query, a refund notify)
 * through refunds_apply against our merchant; *changed when the refund's status moved.  Counts
 * aiphoto_payment_orders_total{event="refunded"|"refund_closed"|"refund_abnormal"}. */
enum api_err reconcile_refund_apply(struct arena *a, const struct wxpayapi_refund *t,
                                    bool *changed);
/* Sends refund r to WeChat Pay and applies the answer.  ask_first: query it first and send it
 * only when WeChat Pay does not know it (a retry: an earlier call may have reached it).
 * E_UPSTREAM_ERROR / E_TIMEOUT / E_UNAVAILABLE: WeChat Pay did not answer; nothing changed
 * here and the refund stays processing for the next try.  An answer about another refund, or
 * one that does not match this one (model/refunds.h refunds_apply) → E_CONFLICT, logged.
 * WeChat Pay refusing to create it outright (a 4xx but 429): the refund is queried; when it
 * exists its status is applied as above, when WeChat Pay does not know it (404) it never
 * happened: it is closed with WeChat Pay's code and message and its credits go back
 * (model/refunds.h refunds_refuse, audited as who) → E_BAD_REQUEST with *refused "CODE
 * message" (else *refused NULL). */
enum api_err reconcile_refund_send(struct arena *a, const struct audit_actor *who,
                                   const struct refund *r, bool ask_first, const char **refused);

struct reconcile_refund_stats {
	size_t checked, succeeded, closed, abnormal, waiting, failed;
};

/* Refunds still processing (or abnormal) older_s seconds after they were opened: at most limit,
 * the least recently asked first, each asked about (and sent again when WeChat Pay does not
 * know it).  Returns 0 when every one was handled, -1 otherwise. */
int reconcile_refunds(struct arena *a, long older_s, int limit, struct reconcile_refund_stats *st);

#endif
