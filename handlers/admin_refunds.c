/*
 * admin_refunds — an operator refunds a paid order through WeChat Pay v3 (docs/payments.md
 * "Refunds", docs/admin.md).
 *
 * POST /admin/orders/:out_trade_no/refunds (operator) + Idempotency-Key (required)
 *      {"amount_fen": 1..what is not yet refunded (optional: all of it), "reason": 1-80
 *      characters (WeChat Pay shows it to the payer), "if_spent": "refuse" (default) |
 *      "take_remaining"} → 200 {"refund": Refund}.  The refund is opened first (model/refunds:
 *      the order's share of credits taken back through the ledger, kind refund_order, the row
 *      'processing', the audit row 'order.refund', in one transaction), then WeChat Pay is
 *      asked, outside any transaction, with the refund's own out_refund_no; its answer
 *      (PROCESSING, usually) is applied.  The order becomes partially_refunded / refunded only
 *      when WeChat Pay confirms (the refund notify, a query).  Refusals, nothing written:
 *      404 unknown order; 409 CONFLICT an order not paid, or with nothing left to refund
 *      (naming its status); 400 amount_fen above what is left (naming it); 409 CONFLICT the
 *      user has already spent credits of the order and if_spent is "refuse" (naming how many
 *      are left of how many); 503 payments not configured.  WeChat Pay refusing or failing
 *      → 502, not answering in time → 504: the refund stays processing (credits taken), the
 *      dispatcher's reconciliation asks again with the same out_refund_no, and so does a
 *      repeat of the key.  WeChat Pay refusing outright (a 4xx but 429) → the refund is
 *      queried: found, its status applies; unknown to WeChat Pay (404), it never happened:
 *      it is closed with WeChat Pay's code and message (fail_code, fail_message), the credits
 *      go back, and the answer is 409 CONFLICT carrying WeChat Pay's message (a repeat of the
 *      key then shows the closed refund).  The same key and
 *      body again → the same refund (asked again at WeChat Pay if its first answer never
 *      came); the same key with another body or order → 409 IDEMPOTENCY_MISMATCH.
 * GET  /admin/orders/:out_trade_no/refunds (viewer) → 200 {"items":[Refund]}, oldest first;
 *      404 unknown order.
 * Refund = {"out_refund_no","out_trade_no","amount_fen","credits" (taken back),"status":
 *      "processing"|"success"|"abnormal"|"closed","reason","if_spent","admin_id","created_at",
 *      "succeeded_at","fail_code","fail_message" (WeChat Pay's refusal of a closed refund, else
 *      null)}.
 */
#include <inttypes.h>
#include <string.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "lib/metrics.h"
#include "model/refunds.h"
#include "service/reconcile.h"

#define REFUNDS_MAX_FEN 100000000000LL /* above any order */

/* The answer of a refusal of refunds_open, naming what refused it. */
static enum api_err refunds_refused(struct request *req, struct reply *rep, enum api_err err,
                                    const struct refund_refusal *why)
{
	switch (err) {
	case E_NOT_FOUND:
		return reply_error(rep, err, "out_trade_no: no such order (订单不存在)");
	case E_BAD_REQUEST:
		return reply_error(rep, err,
		                   arena_printf(req->arena,
		                                "amount_fen: at most %" PRId64
		                                " (what is not yet refunded; 最多可退 %" PRId64
		                                " 分)",
		                                why->remaining_fen, why->remaining_fen));
	case E_CONFLICT:
		if (why->order_status != NULL &&
		    (strcmp(why->order_status, "paid") == 0 ||
		     strcmp(why->order_status, "partially_refunded") == 0))
			return reply_error(
			    rep, err, "order: nothing left to refund (已全额退款或退款处理中)");
		return reply_error(
		    rep, err,
		    arena_printf(req->arena,
		                 "order: it is %s, only a paid order can be refunded "
		                 "(订单未支付或已退款)",
		                 why->order_status ? why->order_status : "-"));
	case E_INSUFFICIENT_CREDITS:
		return reply_error(
		    rep, E_CONFLICT,
		    arena_printf(
		        req->arena,
		        "if_spent: the user has already spent credits of this order: %" PRId64
		        " credits are left of the %" PRId64
		        " this refund takes back; send \"if_spent\": \"take_remaining\" to "
		        "refund and take back only those (用户剩余 %" PRId64
		        " 积分，需扣回 %" PRId64 ")",
		        why->balance, why->credits_due, why->balance, why->credits_due));
	default:
		return err;
	}
}

/* The WeChat Pay failure answer: the refund is recorded and will be asked again. */
static enum api_err refunds_upstream(struct request *req, struct reply *rep, enum api_err err,
                                     const char *out_refund_no)
{
	return reply_error(
	    rep, err,
	    arena_printf(req->arena,
	                 "WeChat Pay did not take refund %s yet: it stays processing (the credits "
	                 "are taken back) and is asked again by the reconciliation; repeat the "
	                 "request with the same Idempotency-Key to try now (微信支付暂未受理退款)",
	                 out_refund_no));
}

static enum api_err refunds_post(struct request *req, struct reply *rep)
{
	struct audit_actor who = handlers_actor(req);
	struct idem_key k = handlers_idem_key(req);
	struct refund_new n = {.out_trade_no = req->captures[0]};
	struct refund_refusal why;
	struct idem_outcome out;
	const char *bad = NULL, *if_spent = "refuse", *refused = NULL;
	struct refund r;
	char *json;
	json_object *o;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &bad)) != E_OK ||
	    (err = jsonx_int(req->arena, req->json, "amount_fen", false, 1, REFUNDS_MAX_FEN,
	                     &n.amount_fen, &bad)) != E_OK ||
	    (err = jsonx_string(req->arena, req->json, "reason", true, 1, 80, &n.reason, &bad)) !=
	        E_OK ||
	    (err = jsonx_string(req->arena, req->json, "if_spent", false, 1, 16, &if_spent,
	                        &bad)) != E_OK)
		return reply_error(rep, err, bad);
	if (strcmp(if_spent, "refuse") != 0 && strcmp(if_spent, "take_remaining") != 0)
		return reply_error(rep, E_BAD_REQUEST, "if_spent: refuse or take_remaining");
	n.take_remaining = strcmp(if_spent, "take_remaining") == 0;
	/* nothing is taken back for a refund that could not be sent */
	if (config_get()->wxpay_mchid == NULL)
		return reply_error(rep, E_UNAVAILABLE, "payments are not configured (WXPAY_MCHID)");
	if ((n.out_refund_no = handlers_pay_no(req->arena, "RF")) == NULL)
		return E_INTERNAL;
	if ((err = refunds_open(req->arena, &who, &k, &n, &out, &why)) != E_OK)
		return refunds_refused(req, rep, err, &why);
	if ((err = refunds_get(req->arena, out.resource_id, &r)) != E_OK)
		return err == E_NOT_FOUND ? E_INTERNAL : err;
	if (!out.replayed)
		metrics_event(METRICS_PAY_ORDER, "refund_requested");
	if (!out.replayed || out.pending) {
		/* outside any transaction: a repeat (or the reconciliation) asks with the same
		 * out_refund_no, which WeChat Pay answers as the same refund */
		if ((err = reconcile_refund_send(req->arena, &who, &r, out.replayed, &refused)) ==
		    E_BAD_REQUEST) {
			/* refused outright and unknown to WeChat Pay: closed, credits back */
			if ((err = refunds_finish_key(req->arena, &k)) != E_OK)
				return err;
			return reply_error(
			    rep, E_CONFLICT,
			    arena_printf(
			        req->arena,
			        "WeChat Pay refused refund %s: %s; the refund is closed and "
			        "the credits are given back "
			        "(微信支付拒绝退款，退款已关闭，积分已退回)",
			        r.out_refund_no, refused));
		}
		if (err != E_OK && err != E_CONFLICT)
			return err == E_UPSTREAM_ERROR || err == E_TIMEOUT || err == E_UNAVAILABLE
			           ? refunds_upstream(req, rep, err, r.out_refund_no)
			           : err;
		/* a mismatching answer is logged loudly and left to the reconciliation */
		if ((err = refunds_finish_key(req->arena, &k)) != E_OK)
			return err;
	}
	if ((err = refunds_json(req->arena, r.id, &json)) != E_OK)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "refund", jsonx_parse_or_empty(json));
	return reply_ok(rep, 200, o);
}

static enum api_err refunds_get_list(struct request *req, struct reply *rep)
{
	char *json;
	enum api_err err = refunds_list(req->arena, req->captures[0], &json);

	if (err == E_NOT_FOUND)
		return reply_error(rep, err, "out_trade_no: no such order (订单不存在)");
	if (err != E_OK)
		return err;
	return reply_ok(rep, 200, jsonx_parse_or_empty(json));
}

static const struct route admin_refunds_list[] = {
    {.method = HTTP_POST,
     .pattern = "/admin/orders/:no/refunds",
     .auth = AUTH_ADMIN,
     .role = ROLE_OPERATOR,
     .body = BODY_JSON,
     .max_body = 2048,
     .handler = refunds_post,
     .idempotency = IDEMPOTENCY_REQUIRED},
    {.method = HTTP_GET,
     .pattern = "/admin/orders/:no/refunds",
     .auth = AUTH_ADMIN,
     .role = ROLE_VIEWER,
     .handler = refunds_get_list},
};

ROUTE_TABLE(admin_refunds_routes, admin_refunds_list);
