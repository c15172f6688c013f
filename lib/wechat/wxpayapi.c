/* wxpayapi — see wxpayapi.h. */
#include "lib/wechat/wxpayapi.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/httpc.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/wechat/wxpay.h"

static EVP_PKEY *wxpayapi_merchant, *wxpayapi_platform, *wxpayapi_cert_key;
static char *wxpayapi_cert_serial; /* upper-hex serial of WXPAY_PLATFORM_CERT_FILE */

/* Loads the keys once; false (logged) when payments are not configured. */
static bool wxpayapi_ready(void)
{
	const struct config *c = config_get();

	if (c->wxpay_mchid == NULL || c->wxpay_serial == NULL ||
	    c->wxpay_private_key_file == NULL || c->wxpay_apiv3_key == NULL ||
	    c->wxpay_public_key_file == NULL || c->wxpay_public_key_id == NULL ||
	    (c->wechat_appid == NULL && c->wechat_mp_appid == NULL)) {
		log_error("WeChat Pay is not configured (WXPAY_* and WECHAT_APPID or "
		          "WECHAT_MP_APPID)");
		return false;
	}
	if (wxpayapi_merchant == NULL &&
	    (wxpayapi_merchant = wxpay_load_private(c->wxpay_private_key_file)) == NULL)
		log_error("cannot load WXPAY_PRIVATE_KEY_FILE");
	if (wxpayapi_platform == NULL &&
	    (wxpayapi_platform = wxpay_load_public(c->wxpay_public_key_file)) == NULL)
		log_error("cannot load WXPAY_PUBLIC_KEY_FILE");
	if (c->wxpay_platform_cert_file != NULL && wxpayapi_cert_key == NULL) {
		wxpayapi_cert_key = wxpay_load_public(c->wxpay_platform_cert_file);
		wxpayapi_cert_serial = wxpay_cert_serial(c->wxpay_platform_cert_file);
		if (wxpayapi_cert_key == NULL || wxpayapi_cert_serial == NULL)
			log_error("cannot load WXPAY_PLATFORM_CERT_FILE");
	}
	return wxpayapi_merchant != NULL && wxpayapi_platform != NULL;
}

/* The platform key named by a Wechatpay-Serial: the WeChat Pay public key by its
 * PUB_KEY_ID, or the platform certificate by its serial (either hex case); else NULL. */
static EVP_PKEY *wxpayapi_key_for(const char *serial)
{
	const struct config *c = config_get();

	if (serial == NULL)
		return NULL;
	if (c->wxpay_public_key_id != NULL && strcmp(serial, c->wxpay_public_key_id) == 0)
		return wxpayapi_platform;
	if (wxpayapi_cert_serial != NULL && strcasecmp(serial, wxpayapi_cert_serial) == 0)
		return wxpayapi_cert_key;
	return NULL;
}

/* A Wechatpay-Timestamp within WXPAYAPI_MAX_SKEW of now (notifies and answers alike). */
static bool wxpayapi_fresh(const char *timestamp, time_t now)
{
	long ts;

	return config_parse_long(timestamp, 0, 99999999999L, &ts) == 0 &&
	       (ts > (long)now ? ts - (long)now : (long)now - ts) < WXPAYAPI_MAX_SKEW;
}

static const char *wxpayapi_header(const struct httpc_response *res, const char *name)
{
	for (int i = 0; i < 8; i++)
		if (res->header_names[i] != NULL && strcmp(res->header_names[i], name) == 0)
			return res->header_values[i];
	return NULL;
}

/*
 * One signed call; path_query starts with /v3/.  *status gets the HTTP status, *json the
 * parsed answer (NULL for an empty one; the caller puts it).  An answer whose signature does
 * not verify is refused.
 */
static enum api_err wxpayapi_call(struct arena *a, const char *method, const char *path_query,
                                  const char *body, long *status, json_object **json)
{
	static const char *const want[] = {"Wechatpay-Timestamp", "Wechatpay-Nonce",
	                                   "Wechatpay-Signature", "Wechatpay-Serial", NULL};
	const struct config *c = config_get();
	const char *headers[5];
	struct httpc_request req = {0};
	struct httpc_response res;
	const char *ts, *nonce, *sig, *serial;
	char *auth;
	enum api_err err;

	*json = NULL;
	if (!wxpayapi_ready())
		return E_UNAVAILABLE;
	auth = wxpay_authorization(wxpayapi_merchant, c->wxpay_mchid, c->wxpay_serial, method,
	                           path_query, body ? body : "", NULL, (long)time(NULL));
	if (auth == NULL)
		return E_INTERNAL;
	headers[0] = arena_printf(a, "Authorization: %s", auth);
	free(auth);
	headers[1] = "Accept: application/json";
	headers[2] = "Content-Type: application/json";
	headers[3] = "Accept-Language: zh-CN";
	headers[4] = NULL;
	req.method = method;
	req.url = arena_printf(a, "%s%s", c->wxpay_api_base, path_query);
	req.headers = headers;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.timeout_ms = 10000;
	req.want = want;
	if ((err = httpc_do(a, &req, &res)) != E_OK)
		return err; /* E_TIMEOUT stays: Pay may have taken the call */
	*status = res.status;
	ts = wxpayapi_header(&res, "Wechatpay-Timestamp");
	nonce = wxpayapi_header(&res, "Wechatpay-Nonce");
	sig = wxpayapi_header(&res, "Wechatpay-Signature");
	serial = wxpayapi_header(&res, "Wechatpay-Serial");
	if (ts == NULL || nonce == NULL || sig == NULL || wxpayapi_key_for(serial) == NULL ||
	    !wxpay_verify(wxpayapi_key_for(serial), ts, nonce, res.body, res.len, sig)) {
		log_error("WeChat Pay answer to %s %s is not signed by the platform key: refused",
		          method, path_query);
		return E_UPSTREAM_ERROR;
	}
	/* a signed answer recorded earlier and played back is refused like an old notify */
	if (!wxpayapi_fresh(ts, time(NULL))) {
		log_error("WeChat Pay answer to %s %s is signed %s, too far from now: refused",
		          method, path_query, ts);
		return E_UPSTREAM_ERROR;
	}
	if (res.len > 0) {
		*json = json_tokener_parse(res.body);
		if (*json == NULL)
			return E_UPSTREAM_ERROR;
	}
	return E_OK;
}

static json_object *wxpayapi_obj(json_object *o, const char *key)
{
	json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* A transaction object (query answer or decrypted notify resource). */
static void wxpayapi_txn(struct arena *a, json_object *t, struct wxpayapi_txn *out)
{
	json_object *amount = wxpayapi_obj(t, "amount"), *payer = wxpayapi_obj(t, "payer"), *v;

	memset(out, 0, sizeof(*out));
	out->out_trade_no = jsonx_dup_str(a, t, "out_trade_no");
	out->transaction_id = jsonx_dup_str(a, t, "transaction_id");
	out->trade_state = jsonx_dup_str(a, t, "trade_state");
	out->mchid = jsonx_dup_str(a, t, "mchid");
	out->appid = jsonx_dup_str(a, t, "appid");
	out->payer_openid = jsonx_dup_str(a, payer, "openid");
	out->currency = jsonx_dup_str(a, amount, "currency");
	out->amount_total = -1;
	if (amount != NULL && json_object_object_get_ex(amount, "total", &v) &&
	    json_object_is_type(v, json_type_int))
		out->amount_total = json_object_get_int64(v);
}

enum api_err wxpayapi_jsapi(struct arena *a, const char *appid, const char *out_trade_no,
                            const char *description, int64_t amount_fen, const char *payer_openid,
                            const char **prepay_id)
{
	const struct config *c = config_get();
	json_object *req = json_object_new_object(), *amount = json_object_new_object(),
	            *payer = json_object_new_object(), *ans = NULL;
	long status = 0;
	enum api_err err;

	json_object_object_add(req, "appid", json_object_new_string(appid));
	json_object_object_add(req, "mchid",
	                       json_object_new_string(c->wxpay_mchid ? c->wxpay_mchid : ""));
	json_object_object_add(req, "description", json_object_new_string(description));
	json_object_object_add(req, "out_trade_no", json_object_new_string(out_trade_no));
	json_object_object_add(req, "notify_url", json_object_new_string(c->wxpay_notify_url));
	json_object_object_add(amount, "total", json_object_new_int64(amount_fen));
	json_object_object_add(amount, "currency", json_object_new_string("CNY"));
	json_object_object_add(req, "amount", amount);
	json_object_object_add(payer, "openid", json_object_new_string(payer_openid));
	json_object_object_add(req, "payer", payer);
	err = wxpayapi_call(a, "POST", "/v3/pay/transactions/jsapi", jsonx_text(a, req), &status,
	                    &ans);
	json_object_put(req);
	if (err == E_OK) {
		*prepay_id = jsonx_dup_str(a, ans, "prepay_id");
		if (status != 200 || *prepay_id == NULL) {
			log_error("WeChat Pay refused order %s of app %s: HTTP %ld %s",
			          out_trade_no, appid, status, ans ? jsonx_text(a, ans) : "");
			err = E_UPSTREAM_ERROR;
		}
	}
	json_object_put(ans);
	return err;
}

/* A GET of a resource: *ans the answer of a 200 (the caller puts it); 404 → E_NOT_FOUND,
 * another status or no body → E_UPSTREAM_ERROR. */
static enum api_err wxpayapi_get(struct arena *a, const char *path_query, json_object **ans)
{
	long status = 0;
	enum api_err err = wxpayapi_call(a, "GET", path_query, NULL, &status, ans);

	if (err == E_OK && status == 404)
		err = E_NOT_FOUND;
	else if (err == E_OK && (status != 200 || *ans == NULL))
		err = E_UPSTREAM_ERROR;
	return err;
}

enum api_err wxpayapi_query(struct arena *a, const char *out_trade_no, struct wxpayapi_txn *out)
{
	const struct config *c = config_get();
	json_object *ans = NULL;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	err = wxpayapi_get(a,
	                   arena_printf(a, "/v3/pay/transactions/out-trade-no/%s?mchid=%s",
	                                httpc_escape(a, out_trade_no),
	                                httpc_escape(a, c->wxpay_mchid ? c->wxpay_mchid : "")),
	                   &ans);
	if (err == E_OK)
		wxpayapi_txn(a, ans, out);
	json_object_put(ans);
	return err;
}

enum api_err wxpayapi_close(struct arena *a, const char *out_trade_no)
{
	const struct config *c = config_get();
	json_object *req = json_object_new_object(), *ans = NULL;
	long status = 0;
	enum api_err err;

	json_object_object_add(req, "mchid",
	                       json_object_new_string(c->wxpay_mchid ? c->wxpay_mchid : ""));
	err = wxpayapi_call(a, "POST",
	                    arena_printf(a, "/v3/pay/transactions/out-trade-no/%s/close",
	                                 httpc_escape(a, out_trade_no)),
	                    jsonx_text(a, req), &status, &ans);
	json_object_put(req);
	json_object_put(ans);
	if (err == E_OK && status != 204 && status != 200)
		err = E_UPSTREAM_ERROR;
	return err;
}

static int64_t wxpayapi_i64(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return -1;
}

/* A refund object (an answer of the refund API, or a refund notify's resource, whose state is
 * "refund_status"). */
static void wxpayapi_refund_obj(struct arena *a, json_object *r, struct wxpayapi_refund *out)
{
	json_object *amount = wxpayapi_obj(r, "amount");

	memset(out, 0, sizeof(*out));
	out->out_refund_no = jsonx_dup_str(a, r, "out_refund_no");
	out->refund_id = jsonx_dup_str(a, r, "refund_id");
	out->out_trade_no = jsonx_dup_str(a, r, "out_trade_no");
	out->transaction_id = jsonx_dup_str(a, r, "transaction_id");
	out->status = jsonx_dup_str(a, r, "status");
	if (out->status == NULL)
		out->status = jsonx_dup_str(a, r, "refund_status");
	out->mchid = jsonx_dup_str(a, r, "mchid");
	out->currency = jsonx_dup_str(a, amount, "currency");
	out->amount_refund = wxpayapi_i64(amount, "refund");
	out->amount_total = wxpayapi_i64(amount, "total");
}

enum api_err wxpayapi_refund(struct arena *a, const char *out_trade_no, const char *out_refund_no,
                             const char *reason, int64_t refund_fen, int64_t total_fen,
                             struct wxpayapi_refund *out)
{
	const struct config *c = config_get();
	json_object *req = json_object_new_object(), *amount = json_object_new_object(),
	            *ans = NULL;
	long status = 0;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	json_object_object_add(req, "out_trade_no", json_object_new_string(out_trade_no));
	json_object_object_add(req, "out_refund_no", json_object_new_string(out_refund_no));
	json_object_object_add(req, "reason", json_object_new_string(reason));
	if (c->wxpay_refund_notify_url != NULL)
		json_object_object_add(req, "notify_url",
		                       json_object_new_string(c->wxpay_refund_notify_url));
	json_object_object_add(amount, "refund", json_object_new_int64(refund_fen));
	json_object_object_add(amount, "total", json_object_new_int64(total_fen));
	json_object_object_add(amount, "currency", json_object_new_string("CNY"));
	json_object_object_add(req, "amount", amount);
	err = wxpayapi_call(a, "POST", "/v3/refund/domestic/refunds", jsonx_text(a, req), &status,
	                    &ans);
	json_object_put(req);
	if (err == E_OK) {
		wxpayapi_refund_obj(a, ans, out);
		if (status != 200 || out->status == NULL) {
			log_error("WeChat Pay refused refund %s of order %s: HTTP %ld %s",
			          out_refund_no, out_trade_no, status,
			          ans ? jsonx_text(a, ans) : "");
			err = E_UPSTREAM_ERROR;
		}
		/* a definitive refusal: 4xx but 429 (FREQUENCY_LIMITED, worth a retry) */
		if (status >= 400 && status < 500 && status != 429) {
			out->fail_code = jsonx_dup_str(a, ans, "code");
			out->fail_message = jsonx_dup_str(a, ans, "message");
			if (out->fail_code == NULL)
				out->fail_code = arena_printf(a, "HTTP_%ld", status);
			err = E_BAD_REQUEST;
		}
	}
	json_object_put(ans);
	return err;
}

enum api_err wxpayapi_refund_query(struct arena *a, const char *out_refund_no,
                                   struct wxpayapi_refund *out)
{
	json_object *ans = NULL;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	err = wxpayapi_get(
	    a, arena_printf(a, "/v3/refund/domestic/refunds/%s", httpc_escape(a, out_refund_no)),
	    &ans);
	if (err == E_OK)
		wxpayapi_refund_obj(a, ans, out);
	json_object_put(ans);
	return err;
}

enum api_err wxpayapi_pay_params(struct arena *a, const char *appid, const char *prepay_id,
                                 json_object **out)
{
	char nonce[33], ts[24];
	const char *package = arena_printf(a, "prepay_id=%s", prepay_id);
	char *sig;
	json_object *o;

	if (!wxpayapi_ready())
		return E_UNAVAILABLE;
	if (crypto_random_hex(16, nonce) < 0)
		return E_INTERNAL;
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	sig = wxpay_pay_sign(wxpayapi_merchant, appid, ts, nonce, package);
	if (sig == NULL)
		return E_INTERNAL;
	o = json_object_new_object();
	json_object_object_add(o, "appId", json_object_new_string(appid));
	json_object_object_add(o, "timeStamp", json_object_new_string(ts));
	json_object_object_add(o, "nonceStr", json_object_new_string(nonce));
	json_object_object_add(o, "package", json_object_new_string(package));
	json_object_object_add(o, "signType", json_object_new_string("RSA"));
	json_object_object_add(o, "paySign", json_object_new_string(sig));
	free(sig);
	*out = o;
	return E_OK;
}

/*
 * The checks of every notify, then the decrypted resource: *plain_obj a JSON object (the caller
 * puts it).  See wxpayapi_notify.
 */
static enum api_err wxpayapi_open(struct arena *a, const char *timestamp, const char *nonce,
                                  const char *signature, const char *serial, const char *body,
                                  size_t body_len, time_t now, json_object **plain_obj,
                                  const char **why)
{
	const struct config *c = config_get();
	json_object *n = NULL, *res, *t = NULL;
	const char *alg, *ct, *rnonce, *ad;
	char *plain = NULL;
	size_t plen = 0;
	enum api_err err = E_FORBIDDEN;

	*plain_obj = NULL;
	*why = "";
	if (!wxpayapi_ready()) {
		*why = "payments are not configured";
		return E_UNAVAILABLE;
	}
	if (timestamp == NULL || nonce == NULL || signature == NULL || serial == NULL) {
		*why = "Wechatpay-Timestamp/Nonce/Signature/Serial headers are required";
		return E_FORBIDDEN;
	}
	if (wxpayapi_key_for(serial) == NULL) {
		*why = "unknown Wechatpay-Serial";
		return E_FORBIDDEN;
	}
	if (!wxpayapi_fresh(timestamp, now)) {
		*why = "timestamp too far from now";
		return E_FORBIDDEN;
	}
	if (strncmp(signature, "WECHATPAY/SIGNTEST/", 19) == 0) {
		*why = "signature probe";
		return E_FORBIDDEN;
	}
	if (!wxpay_verify(wxpayapi_key_for(serial), timestamp, nonce, body, body_len, signature)) {
		*why = "signature does not verify";
		return E_FORBIDDEN;
	}
	err = E_BAD_REQUEST;
	n = json_tokener_parse(body);
	res = wxpayapi_obj(n, "resource");
	alg = jsonx_dup_str(a, res, "algorithm");
	ct = jsonx_dup_str(a, res, "ciphertext");
	rnonce = jsonx_dup_str(a, res, "nonce");
	ad = jsonx_dup_str(a, res, "associated_data");
	if (res == NULL || alg == NULL || strcmp(alg, "AEAD_AES_256_GCM") != 0 || ct == NULL ||
	    rnonce == NULL) {
		*why = "no AEAD_AES_256_GCM resource";
		goto out;
	}
	if (wxpay_aead_decrypt((const unsigned char *)c->wxpay_apiv3_key, rnonce, ad ? ad : "", ct,
	                       &plain, &plen) < 0) {
		*why = "resource does not decrypt";
		goto out;
	}
	t = json_tokener_parse(plain);
	if (t == NULL || !json_object_is_type(t, json_type_object)) {
		json_object_put(t);
		*why = "resource is not a JSON object";
		goto out;
	}
	*plain_obj = t;
	err = E_OK;
out:
	json_object_put(n);
	free(plain);
	return err;
}

enum api_err wxpayapi_notify(struct arena *a, const char *timestamp, const char *nonce,
                             const char *signature, const char *serial, const char *body,
                             size_t body_len, time_t now, struct wxpayapi_txn *out,
                             const char **why)
{
	json_object *t;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	err = wxpayapi_open(a, timestamp, nonce, signature, serial, body, body_len, now, &t, why);
	if (err == E_OK)
		wxpayapi_txn(a, t, out);
	json_object_put(t);
	return err;
}

enum api_err wxpayapi_refund_notify(struct arena *a, const char *timestamp, const char *nonce,
                                    const char *signature, const char *serial, const char *body,
                                    size_t body_len, time_t now, struct wxpayapi_refund *out,
                                    const char **why)
{
	json_object *t;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	err = wxpayapi_open(a, timestamp, nonce, signature, serial, body, body_len, now, &t, why);
	if (err == E_OK) {
		wxpayapi_refund_obj(a, t, out);
		if (out->out_refund_no == NULL || out->status == NULL) {
			*why = "resource is not a refund";
			err = E_BAD_REQUEST;
		}
	}
	json_object_put(t);
	return err;
}
