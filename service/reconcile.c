/* reconcile — see reconcile.h. */
#include "service/reconcile.h"

#include <stdbool.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/wechat/wxpayapi.h"
#include "model/orders.h"

enum api_err reconcile_apply(struct arena *a, const struct wxpayapi_txn *t, bool *credited)
{
	const struct config *c = config_get();
	const struct order_txn o = {
	    .out_trade_no = t->out_trade_no,
	    .transaction_id = t->transaction_id,
	    .trade_state = t->trade_state,
	    .currency = t->currency,
	    .mchid = t->mchid,
	    .appid = t->appid,
	    .payer_openid = t->payer_openid,
	    .amount_total = t->amount_total,
	};

	return orders_apply(a, &o, c->wxpay_mchid, c->wechat_appid, credited);
}

int reconcile_orders(struct arena *a, long older_s, long expire_s, int limit,
                     struct reconcile_stats *st)
{
	struct order *rows;
	size_t n;

	memset(st, 0, sizeof(*st));
	if (orders_pending(a, older_s, limit, &rows, &n) != E_OK) {
		log_error("reconcile: cannot read the pending orders");
		st->failed = 1;
		return -1;
	}
	st->checked = n;
	for (size_t i = 0; i < n; i++) {
		struct wxpayapi_txn t;
		bool credited = false;
		enum api_err err;

		/* moves it to the back of the next run's queue, even when the query fails */
		(void)orders_touch_queried(a, rows[i].out_trade_no);
		err = wxpayapi_query(a, rows[i].out_trade_no, &t);
		if (err == E_OK)
			err = reconcile_apply(a, &t, &credited);
		if (err == E_OK && credited) {
			st->settled++;
			log_info("reconcile: order %s paid, settled", rows[i].out_trade_no);
		} else if ((err == E_OK || err == E_NOT_FOUND) && rows[i].age_seconds >= expire_s) {
			if (err == E_OK)
				(void)wxpayapi_close(a, rows[i].out_trade_no);
			if (orders_close(a, rows[i].out_trade_no) == E_OK) {
				st->closed++;
				log_info("reconcile: order %s expired, closed",
				         rows[i].out_trade_no);
			}
		} else if (err == E_OK || err == E_NOT_FOUND) {
			st->waiting++;
		} else {
			st->failed++;
			log_warn("reconcile: order %s: %s", rows[i].out_trade_no,
			         api_err_code(err));
		}
	}
	return st->failed == 0 ? 0 : -1;
}

enum api_err reconcile_refund_apply(struct arena *a, const struct wxpayapi_refund *t, bool *changed)
{
	const struct refund_word w = {
	    .out_refund_no = t->out_refund_no,
	    .refund_id = t->refund_id,
	    .out_trade_no = t->out_trade_no,
	    .status = t->status,
	    .mchid = t->mchid,
	    .currency = t->currency,
	    .amount_refund = t->amount_refund,
	    .amount_total = t->amount_total,
	};
	enum api_err err = refunds_apply(a, &w, config_get()->wxpay_mchid, changed);

	if (err == E_OK && *changed)
		metrics_event(METRICS_PAY_ORDER, strcmp(t->status, "SUCCESS") == 0 ? "refunded"
		                                 : strcmp(t->status, "CLOSED") == 0
		                                     ? "refund_closed"
		                                     : "refund_abnormal");
	return err;
}

/* Refund r that WeChat Pay refused to create (t: the refusal) and does not know: closed with
 * the refusal, its credits given back (refunds_refuse); *refused says why.  E_BAD_REQUEST. */
static enum api_err reconcile_refund_refused(struct arena *a, const struct audit_actor *who,
                                             const struct refund *r,
                                             const struct wxpayapi_refund *t, const char **refused)
{
	const char *code = t->fail_code ? t->fail_code : "-";
	const char *msg = t->fail_message ? t->fail_message : "";
	bool changed = false;
	enum api_err err = refunds_refuse(a, who, r->out_refund_no, code, msg, &changed);

	if (err != E_OK)
		return err;
	if (changed)
		metrics_event(METRICS_PAY_ORDER, "refund_closed");
	*refused = arena_printf(a, "%s %s", code, msg);
	return E_BAD_REQUEST;
}

enum api_err reconcile_refund_send(struct arena *a, const struct audit_actor *who,
                                   const struct refund *r, bool ask_first, const char **refused)
{
	struct wxpayapi_refund t, q;
	bool changed = false;
	enum api_err err = E_NOT_FOUND;

	*refused = NULL;
	if (ask_first)
		err = wxpayapi_refund_query(a, r->out_refund_no, &t);
	if (err == E_NOT_FOUND) {
		err = wxpayapi_refund(a, r->out_trade_no, r->out_refund_no, r->reason,
		                      r->amount_fen, r->order_amount_fen, &t);
		if (err == E_BAD_REQUEST) {
			/* refused outright: did an earlier call create it after all? */
			err = wxpayapi_refund_query(a, r->out_refund_no, &q);
			if (err == E_NOT_FOUND)
				return reconcile_refund_refused(a, who, r, &t, refused);
			t = q;
		}
	}
	if (err != E_OK)
		return err;
	/* the answer to a request for this number: it cannot speak of another refund */
	if (t.out_refund_no != NULL && strcmp(t.out_refund_no, r->out_refund_no) != 0) {
		log_error("REFUND MISMATCH %s: WeChat Pay answered about refund %s",
		          r->out_refund_no, t.out_refund_no);
		return E_CONFLICT;
	}
	t.out_refund_no = r->out_refund_no;
	return reconcile_refund_apply(a, &t, &changed);
}

int reconcile_refunds(struct arena *a, long older_s, int limit, struct reconcile_refund_stats *st)
{
	struct refund *rows;
	size_t n;

	memset(st, 0, sizeof(*st));
	if (refunds_pending(a, older_s, limit, &rows, &n) != E_OK) {
		log_error("reconcile: cannot read the pending refunds");
		st->failed = 1;
		return -1;
	}
	st->checked = n;
	for (size_t i = 0; i < n; i++) {
		const struct audit_actor nobody = {0};
		const char *refused;
		struct refund now;
		enum api_err err = reconcile_refund_send(a, &nobody, &rows[i], true, &refused);

		if (err == E_BAD_REQUEST) /* refused by WeChat Pay, now closed: settled */
			err = E_OK;
		if (err != E_OK || refunds_get(a, rows[i].id, &now) != E_OK) {
			st->failed++;
			log_warn("reconcile: refund %s: %s", rows[i].out_refund_no,
			         api_err_code(err));
		} else if (strcmp(now.status, "success") == 0) {
			st->succeeded++;
		} else if (strcmp(now.status, "closed") == 0) {
			st->closed++;
		} else if (strcmp(now.status, "abnormal") == 0) {
			st->abnormal++;
		} else {
			st->waiting++;
		}
	}
	return st->failed == 0 ? 0 : -1;
}
