/* reconcile — see reconcile.h. */
#include "service/reconcile.h"

#include <stdbool.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
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
