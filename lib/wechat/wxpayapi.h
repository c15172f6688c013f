/*
 * wxpayapi — the WeChat Pay v3 (JSAPI, direct merchant) calls and the payment notify.
 *
 * Requests are signed with the merchant key (WXPAY_PRIVATE_KEY_FILE, serial WXPAY_SERIAL)
 * and carry Accept, Content-Type and User-Agent; every answer and every notify must be
 * signed by a platform key chosen by its Wechatpay-Serial: the WeChat Pay public key
 * (WXPAY_PUBLIC_KEY_FILE, id WXPAY_PUBLIC_KEY_ID) or, in platform-certificate mode, the
 * certificate WXPAY_PLATFORM_CERT_FILE by its serial; anything else is refused.  Keys are
 * loaded once per process.  One merchant (WXPAY_MCHID) is bound to both apps: an order is
 * placed, and its payment parameters signed, with the appid of the app the payer uses (the
 * Official Account's WECHAT_APPID or the mini program's WECHAT_MP_APPID), the caller's choice.
 * Errors: WeChat Pay unreachable, refusing or answering unsigned → E_UPSTREAM_ERROR; no answer
 * in time → E_TIMEOUT (it may have taken the call); not configured → E_UNAVAILABLE.
 */
#ifndef AIPHOTO_WXPAYAPI_H
#define AIPHOTO_WXPAYAPI_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/arena.h"
#include "lib/errors.h"

/* What WeChat Pay says about a transaction (a query answer or a notify's resource): strings in
 * the arena, NULL when absent; amount_total -1 when absent.  The protocol's own words: mapping
 * them onto an order is the caller's business (service/reconcile). */
struct wxpayapi_txn {
	const char *out_trade_no, *transaction_id, *trade_state, *currency, *mchid, *appid;
	const char *payer_openid;
	int64_t amount_total;
};

/* What WeChat Pay says about a refund (the answer of the refund call or its query, or a refund
 * notify's resource): strings in the arena, NULL when absent; amounts -1 when absent.  status
 * is SUCCESS | CLOSED | PROCESSING | ABNORMAL (the answers' "status", the notify's
 * "refund_status"); mchid is only in a notify. */
struct wxpayapi_refund {
	const char *out_refund_no, *refund_id, *out_trade_no, *transaction_id, *status, *mchid;
	const char *currency;
	int64_t amount_refund, amount_total;
	/* wxpayapi_refund's E_BAD_REQUEST: WeChat Pay's error code and message (NULL: none) */
	const char *fail_code, *fail_message;
};

#define WXPAYAPI_MAX_SKEW 300 /* seconds a notify's or an answer's timestamp may be off */

/* Creates a JSAPI order of app appid for payer_openid (a user of that app: Pay refuses
 * another app's openid); *prepay_id on success. */
enum api_err wxpayapi_jsapi(struct arena *a, const char *appid, const char *out_trade_no,
                            const char *description, int64_t amount_fen, const char *payer_openid,
                            const char **prepay_id);
/* Queries an order by out_trade_no; E_NOT_FOUND when WeChat Pay does not know it. */
enum api_err wxpayapi_query(struct arena *a, const char *out_trade_no, struct wxpayapi_txn *out);
/* Closes an unpaid order at WeChat Pay. */
enum api_err wxpayapi_close(struct arena *a, const char *out_trade_no);
/*
 * Asks WeChat Pay to refund refund_fen of the paid order out_trade_no (whose amount is
 * total_fen) as refund out_refund_no, with reason (shown to the payer) and
 * WXPAY_REFUND_NOTIFY_URL: POST /v3/refund/domestic/refunds.  The same out_refund_no again is
 * the same refund at WeChat Pay (it answers its state), so a call that failed or timed out is
 * repeated with it.  *out is WeChat Pay's answer (status PROCESSING, usually).  A definitive
 * refusal (a 4xx but 429 FREQUENCY_LIMITED: INVALID_REQUEST, PARAM_ERROR, NO_AUTH,
 * RESOURCE_NOT_EXISTS, …) → E_BAD_REQUEST with out->fail_code and out->fail_message; any other
 * status but 200 → E_UPSTREAM_ERROR (worth a retry); both logged with WeChat Pay's code.
 */
enum api_err wxpayapi_refund(struct arena *a, const char *out_trade_no, const char *out_refund_no,
                             const char *reason, int64_t refund_fen, int64_t total_fen,
                             struct wxpayapi_refund *out);
/* Queries a refund: GET /v3/refund/domestic/refunds/{out_refund_no}; E_NOT_FOUND when WeChat
 * Pay does not know it (the refund call never reached it). */
enum api_err wxpayapi_refund_query(struct arena *a, const char *out_refund_no,
                                   struct wxpayapi_refund *out);

/*
 * The parameters of getBrandWCPayRequest (Official Account pages) or wx.requestPayment (the
 * mini program) for prepay_id of an order of app appid (new object): {"appId","timeStamp",
 * "nonceStr","package","signType":"RSA","paySign"}, paySign = the merchant key's SHA256withRSA
 * over "appId\ntimeStamp\nnonceStr\npackage\n".  wx.requestPayment takes no appId (it is the
 * mini program's own) but it is signed all the same.
 */
enum api_err wxpayapi_pay_params(struct arena *a, const char *appid, const char *prepay_id,
                                 json_object **out);

/*
 * Verifies and opens a notify: the four Wechatpay-* headers present, the serial ours, the
 * timestamp within WXPAYAPI_MAX_SKEW of now, not a SIGNTEST probe, the signature valid over
 * the raw body, then AES-256-GCM with the APIv3 key.  *why names the first failure.
 * E_FORBIDDEN for a signature problem, E_BAD_REQUEST for a body problem.
 */
enum api_err wxpayapi_notify(struct arena *a, const char *timestamp, const char *nonce,
                             const char *signature, const char *serial, const char *body,
                             size_t body_len, time_t now, struct wxpayapi_txn *out,
                             const char **why);
/* The same checks for a refund notify (REFUND.SUCCESS / ABNORMAL / CLOSED); the resource is a
 * refund. */
enum api_err wxpayapi_refund_notify(struct arena *a, const char *timestamp, const char *nonce,
                                    const char *signature, const char *serial, const char *body,
                                    size_t body_len, time_t now, struct wxpayapi_refund *out,
                                    const char **why);

#endif
