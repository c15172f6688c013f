/*
 * payment — WeChat Pay v3 JSAPI purchases of credit packages (API.md "Payment").
 *
 * POST /payment/create-order (user) {"package_id"} (+ optional Idempotency-Key: a repeat gets
 *      the same order — pay_params signed afresh for its prepay id —, another package under
 *      the same key, or the same key from the other app → 409; a repeat while the first is
 *      still waiting for WeChat Pay, or after it failed there, asks WeChat Pay for the same
 *      order again) → 200 {"out_trade_no","amount_fen","credits","pay_params":{…}}.  The order
 *      is for the app the token was issued for (req->channel): an "mp" token places a JSAPI
 *      order with WECHAT_MP_APPID and the user's mini-program openid, and pay_params are those
 *      of wx.requestPayment; an "oa" or "web" token (and a token from before channels) one with
 *      WECHAT_APPID and the Official Account openid, for getBrandWCPayRequest.  Unknown/inactive
 *      package → 404; no openid of that app → 400 naming it; that app not configured → 503;
 *      WeChat Pay refusing or failing → 502, not answering in time → 504 (the order stays
 *      created, without a prepay id: a repeat of the key completes it, the reconciliation
 *      closes it).  Limits (429 RATE_LIMITED with
 *      Retry-After): the rate class below (10 at once, then 10 a minute, per user), and at most
 *      PAYMENT_MAX_OPEN orders still created (unpaid) per user, counted with the insert.
 * POST /payment/notify (signed) → 204 after the settlement committed (also for a repeat);
 *      failures answer WeChat's {"code":"FAIL","message":…}: 401 signature/time/serial,
 *      400 body, 409 a transaction that does not match its order (logged, not credited),
 *      404 unknown order, 503/500 trouble on our side (WeChat delivers it again).
 * POST /payment/refund-notify (signed) → 204 after WeChat Pay's word on a refund
 *      (REFUND.SUCCESS / ABNORMAL / CLOSED, verified and decrypted like the payment notify) was
 *      applied (also for a repeat: applied once, model/refunds); failures as the notify's:
 *      401, 400, 409 a refund that does not match ours, 404 unknown refund, 503/500.
 * GET  /payment/orders/:out_trade_no (user) → {"out_trade_no","status","amount_fen",
 *      "credits","paid_at"}, status created | paid | closed | refunded (a partially refunded
 *      order is still "paid" to its payer: API.md); a created order older than 10 s is first queried at WeChat Pay
 *      (at most once per order every 10 s, however often it is polled) and settled through
 *      the same path as the notify; another user's order → 404.
 * GET  /payment/orders?limit=&cursor= (user) → paginated list of the above, newest first.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/wechat/wxpayapi.h"
#include "model/identities.h"
#include "model/orders.h"
#include "model/packages.h"
#include "service/reconcile.h"

#define PAYMENT_QUERY_AFTER 10 /* seconds before GET /payment/orders/:no asks WeChat Pay */
#define PAYMENT_QUERY_EVERY 10 /* and then at most once per order in this many seconds */
#define PAYMENT_MAX_OPEN 10 /* created (unpaid) orders a user may have at once */
#define PAYMENT_OPEN_RETRY 60 /* Retry-After when at that cap: seconds */
/* The 400 answers of a token whose app knows no openid of the user (no order is made). */
#define PAYMENT_NO_MP_OPENID                                          \
	"this account has no mini-program openid (WECHAT_MP_APPID): " \
	"sign in through the mini program (wx.login, POST /auth/mp/login)"
#define PAYMENT_NO_OA_OPENID "this account has no Official Account openid"

static json_object *payment_order_json(const struct order *o)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "out_trade_no", json_object_new_string(o->out_trade_no));
	json_object_object_add(j, "status",
	                       json_object_new_string(strcmp(o->status, "partially_refunded") == 0
	                                                  ? "paid"
	                                                  : o->status));
	json_object_object_add(j, "amount_fen", json_object_new_int64(o->amount_fen));
	json_object_object_add(j, "credits", json_object_new_int64(o->credits));
	json_object_object_add(j, "paid_at", jsonx_str_or_null(o->paid_at));
	return j;
}

/* The payer's app as create-order names it in its answers: the mini program for an "mp"
 * token, else the Official Account (oa, web, and tokens from before channels). */
static bool payment_in_mp(const struct request *req)
{
	return req->channel == TOKEN_CHANNEL_MP;
}

/* The order for the package, once per key (model/orders: a short transaction, no WeChat Pay
 * call inside it), for the calling app (req->appid) and the user's openid there; *ord is the
 * order to answer, ord->prepay_id NULL while WeChat Pay has not given one for it. */
static enum api_err payment_open(struct request *req, struct reply *rep, int64_t package_id,
                                 struct order_prepay *ord)
{
	const struct config *c = config_get();
	struct idem_key k = handlers_idem_key(req);
	struct order_new o = {
	    .appid = req->appid, .mchid = c->wxpay_mchid, .max_open = PAYMENT_MAX_OPEN};
	struct idem_outcome out;
	struct package p;
	enum api_err err;

	if ((err = packages_get_active(req->arena, package_id, &p)) != E_OK) {
		if (err == E_NOT_FOUND)
			err = reply_error(rep, err, "package_id: no such package");
		goto out;
	}
	/* the calling app must be one configured here (the router made req->appid its appid) */
	if (config_channel_appid(c, req->channel) == NULL || c->wxpay_mchid == NULL) {
		err = reply_error(rep, E_UNAVAILABLE,
		                  payment_in_mp(req)
		                      ? "payments are not configured for the mini program "
		                        "(WECHAT_MP_APPID)"
		                      : "payments are not configured");
		goto out;
	}
	if ((err = identities_openid(req->arena, req->user_id, req->appid, &o.payer_openid)) !=
	    E_OK) {
		if (err == E_NOT_FOUND)
			err = reply_error(rep, E_BAD_REQUEST,
			                  payment_in_mp(req) ? PAYMENT_NO_MP_OPENID
			                                     : PAYMENT_NO_OA_OPENID);
		goto out;
	}
	if ((o.out_trade_no = handlers_pay_no(req->arena, "AP")) == NULL) {
		err = E_INTERNAL;
		goto out;
	}
	o.package_id = p.id;
	o.description = p.name;
	o.amount_fen = p.price_fen;
	o.credits = p.credits + p.bonus_credits;
	err = orders_open(req->arena, &k, &o, &out);
	if (err == E_RATE_LIMITED) {
		rep->retry_after = PAYMENT_OPEN_RETRY;
		err =
		    reply_error(rep, err, "orders: 未支付的订单已达 10 笔，请先完成支付或稍后再试");
	}
	if (err != E_OK)
		goto out;
	if (out.replayed) {
		if ((err = orders_get_prepay(req->arena, req->user_id, out.resource_id,
		                             c->wechat_appid, ord)) != E_OK)
			goto out;
		/* the key's order was placed for another app: its pay_params would not open here */
		if (ord->appid == NULL || strcmp(ord->appid, req->appid) != 0) {
			err = reply_error(
			    rep, E_IDEMPOTENCY_MISMATCH,
			    "Idempotency-Key: already used for an order in the other app");
			goto out;
		}
		if (out.pending)
			ord->prepay_id = NULL; /* the first request may have died: ask again */
		goto out;
	}
	*ord = (struct order_prepay){.id = out.resource_id,
	                             .amount_fen = o.amount_fen,
	                             .credits = o.credits,
	                             .out_trade_no = o.out_trade_no,
	                             .description = o.description,
	                             .appid = o.appid,
	                             .payer_openid = o.payer_openid};
out:
	return err;
}

static enum api_err payment_create(struct request *req, struct reply *rep)
{
	struct idem_key k = handlers_idem_key(req);
	struct order_prepay ord = {0};
	const char *why = NULL, *prepay = NULL;
	int64_t package_id = 0;
	json_object *params = NULL, *o;
	enum api_err err;

	if ((err = jsonx_require_object(req->arena, req->json, &why)) != E_OK ||
	    (err = jsonx_int(req->arena, req->json, "package_id", true, 1, INT64_MAX - 1,
	                     &package_id, &why)) != E_OK) {
		err = reply_error(rep, err, why);
		goto out;
	}
	if ((err = payment_open(req, rep, package_id, &ord)) != E_OK)
		goto out;
	prepay = ord.prepay_id;
	/* outside any transaction: WeChat Pay answers the same out_trade_no again when asked */
	if (prepay == NULL &&
	    ((err = wxpayapi_jsapi(req->arena, ord.appid, ord.out_trade_no, ord.description,
	                           ord.amount_fen, ord.payer_openid, &prepay)) != E_OK ||
	     (err = orders_prepared(req->arena, &k, ord.out_trade_no, prepay)) != E_OK))
		goto out;
	if ((err = wxpayapi_pay_params(req->arena, ord.appid, prepay, &params)) != E_OK)
		goto out;
	o = json_object_new_object();
	json_object_object_add(o, "out_trade_no", json_object_new_string(ord.out_trade_no));
	json_object_object_add(o, "amount_fen", json_object_new_int64(ord.amount_fen));
	json_object_object_add(o, "credits", json_object_new_int64(ord.credits));
	json_object_object_add(o, "pay_params", params);
	metrics_event(METRICS_PAY_ORDER, "prepared");
	err = reply_ok(rep, 200, o);
out:
	return err;
}

/* WeChat's failure body with an HTTP status of our choice. */
static enum api_err payment_fail(struct request *req, struct reply *rep, int status,
                                 const char *message)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "code", json_object_new_string("FAIL"));
	json_object_object_add(o, "message", json_object_new_string(message));
	rep->raw = jsonx_text(req->arena, o);
	json_object_put(o);
	rep->raw_len = strlen(rep->raw);
	rep->raw_type = "application/json; charset=utf-8";
	return reply_ok(rep, status, NULL);
}

/* The answer to a verified notify once applied: 204, or WeChat's failure body (404 unknown,
 * 409 mismatch, 503 database down, 500) so that WeChat delivers it again. */
static enum api_err payment_applied(struct request *req, struct reply *rep, enum api_err err,
                                    const char *unknown, const char *mismatch)
{
	switch (err) {
	case E_OK:
		return reply_ok(rep, 204, NULL);
	case E_NOT_FOUND:
		return payment_fail(req, rep, 404, unknown);
	case E_CONFLICT:
		return payment_fail(req, rep, 409, mismatch);
	case E_UNAVAILABLE:
		return payment_fail(req, rep, 503, "database unavailable");
	default:
		return payment_fail(req, rep, 500, "internal error");
	}
}

/* The HTTP status of a notify refused before it was applied: 401 signature/time/serial,
 * 400 body, 503 not configured. */
static int payment_notify_status(enum api_err err)
{
	return err == E_FORBIDDEN ? 401 : err == E_BAD_REQUEST ? 400 : 503;
}

static enum api_err payment_notify(struct request *req, struct reply *rep)
{
	struct wxpayapi_txn t;
	const char *why = NULL;
	bool credited = false;
	enum api_err err;

	err = wxpayapi_notify(req->arena, request_env(req, "HTTP_WECHATPAY_TIMESTAMP"),
	                      request_env(req, "HTTP_WECHATPAY_NONCE"),
	                      request_env(req, "HTTP_WECHATPAY_SIGNATURE"),
	                      request_env(req, "HTTP_WECHATPAY_SERIAL"), req->body ? req->body : "",
	                      req->body_len, time(NULL), &t, &why);
	if (err != E_OK) {
		log_warn("payment notify refused: %s", why);
		metrics_event(METRICS_PAY_NOTIFY, err == E_FORBIDDEN     ? "bad_signature"
		                                  : err == E_BAD_REQUEST ? "malformed"
		                                                         : "unavailable");
		return payment_fail(req, rep, payment_notify_status(err), why);
	}
	err = reconcile_apply(req->arena, &t, &credited);
	metrics_event(METRICS_PAY_NOTIFY, err == E_OK          ? (credited ? "paid" : "verified")
	                                  : err == E_NOT_FOUND ? "unknown_order"
	                                  : err == E_CONFLICT  ? "mismatch"
	                                                       : "error");
	return payment_applied(req, rep, err, "unknown order",
	                       "transaction does not match the order");
}

static enum api_err payment_refund_notify(struct request *req, struct reply *rep)
{
	struct wxpayapi_refund t;
	const char *why = NULL;
	bool changed = false;
	enum api_err err;

	err = wxpayapi_refund_notify(
	    req->arena, request_env(req, "HTTP_WECHATPAY_TIMESTAMP"),
	    request_env(req, "HTTP_WECHATPAY_NONCE"), request_env(req, "HTTP_WECHATPAY_SIGNATURE"),
	    request_env(req, "HTTP_WECHATPAY_SERIAL"), req->body ? req->body : "", req->body_len,
	    time(NULL), &t, &why);
	if (err != E_OK) {
		log_warn("refund notify refused: %s", why);
		metrics_event(METRICS_PAY_NOTIFY, "refund_refused");
		return payment_fail(req, rep, payment_notify_status(err), why);
	}
	err = reconcile_refund_apply(req->arena, &t, &changed);
	metrics_event(METRICS_PAY_NOTIFY, err == E_OK          ? "refund_verified"
	                                  : err == E_NOT_FOUND ? "refund_unknown"
	                                  : err == E_CONFLICT  ? "refund_mismatch"
	                                                       : "refund_error");
	return payment_applied(req, rep, err, "unknown refund", "refund does not match ours");
}

static enum api_err payment_order_get(struct request *req, struct reply *rep)
{
	const char *no = req->captures[0];
	struct order o;
	enum api_err err;

	if ((err = orders_get(req->arena, req->user_id, no, &o)) != E_OK)
		return err;
	if (strcmp(o.status, "created") == 0 && o.age_seconds > PAYMENT_QUERY_AFTER) {
		struct wxpayapi_txn t;
		bool credited, claimed = false;
		/* the notify may be late or lost: ask (at most once per order and
		 * PAYMENT_QUERY_EVERY seconds, however often it is polled), and settle through
		 * the same guarded path */
		if (orders_claim_query(req->arena, no, PAYMENT_QUERY_EVERY, &claimed) == E_OK &&
		    claimed && wxpayapi_query(req->arena, no, &t) == E_OK &&
		    reconcile_apply(req->arena, &t, &credited) == E_OK &&
		    (err = orders_get(req->arena, req->user_id, no, &o)) != E_OK)
			return err;
	}
	return reply_ok(rep, 200, payment_order_json(&o));
}

static enum api_err payment_orders_list(struct request *req, struct reply *rep)
{
	long limit, before;
	struct order *rows;
	size_t n;
	bool more;
	enum api_err err;
	json_object *items;

	if ((err = handlers_page_params(req, rep, &limit, &before)) != E_OK ||
	    (err = orders_list(req->arena, req->user_id, before, (int)limit, &rows, &n, &more)) !=
	        E_OK)
		return err;
	items = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(items, payment_order_json(&rows[i]));
	return reply_ok(rep, 200,
	                handlers_page(req, items, more && n > 0, n > 0 ? rows[n - 1].id : 0));
}

/* Per user: 10 at once, then one every 6 s (a replayed Idempotency-Key counts too). */
static const struct rate_limit payment_create_limit = {
    .name = "create-order", .per_minute = 10, .burst = 10};

static const struct route payment_list[] = {
    {.method = HTTP_POST,
     .pattern = "/payment/create-order",
     .auth = AUTH_USER,
     .body = BODY_JSON,
     .max_body = 1024,
     .handler = payment_create,
     .limit = &payment_create_limit,
     .idempotency = IDEMPOTENCY_OPTIONAL},
    {.method = HTTP_POST,
     .pattern = "/payment/notify",
     .auth = AUTH_SIGNED,
     .body = BODY_RAW,
     .max_body = 65536,
     .handler = payment_notify},
    {.method = HTTP_POST,
     .pattern = "/payment/refund-notify",
     .auth = AUTH_SIGNED,
     .body = BODY_RAW,
     .max_body = 65536,
     .handler = payment_refund_notify},
    {.method = HTTP_GET,
     .pattern = "/payment/orders/:no",
     .auth = AUTH_USER,
     .handler = payment_order_get},
    {.method = HTTP_GET,
     .pattern = "/payment/orders",
     .auth = AUTH_USER,
     .handler = payment_orders_list},
};

ROUTE_TABLE(payment_routes, payment_list);
