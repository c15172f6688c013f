/*
 * wxapi — the WeChat server APIs the service calls (Official Account and mini program).
 *
 * access_token: fetched with POST /cgi-bin/stable_token, cached in Redis (wx:token:<appid>)
 * and shared by every worker and the dispatcher; one refresher at a time holds the lock
 * wx:lock:token:<appid> (SET NX), the others wait for its result.  A call answered with
 * 40001/40014/42001 expires the cached token only if it is still the one that failed
 * (compare-and-delete), fetches again and retries once.  The JS-SDK jsapi_ticket is cached
 * the same way (wx:jsapi:<appid>).  The mini program's token (for cloud storage) is kept the same
 * way under its own appid.  Base URLs come from config (WECHAT_API_BASE); WeChat
 * errcodes become errors: a code rejected by WeChat → E_UNAUTHORIZED, anything else from
 * WeChat → E_UPSTREAM_ERROR, Redis down → E_UNAVAILABLE.  Strings out are arena copies.
 */
#ifndef AIPHOTO_WXAPI_H
#define AIPHOTO_WXAPI_H

#include <stdbool.h>

#include "lib/arena.h"
#include "lib/errors.h"
#include "lib/wechat/wxcloud.h"

struct wxapi_oauth {
	const char *openid, *unionid, *scope, *access_token;
};

struct wxapi_userinfo {
	const char *nickname, *headimgurl, *unionid;
};

struct wxapi_session {
	const char *openid, *unionid;
};

struct wxapi_qrcode {
	const char *ticket, *url;
	long expire_seconds;
};

enum api_err wxapi_access_token(struct arena *a, const char **token);
enum api_err wxapi_jsapi_ticket(struct arena *a, const char **ticket);
/* OAuth2 code → openid (+ unionid, scope); a bad or used code → E_UNAUTHORIZED. */
enum api_err wxapi_oauth_exchange(struct arena *a, const char *code, struct wxapi_oauth *out);
enum api_err wxapi_oauth_userinfo(struct arena *a, const struct wxapi_oauth *o,
                                  struct wxapi_userinfo *out);
/* Mini program: js_code → openid (+ unionid); a bad or used code → E_UNAUTHORIZED. */
enum api_err wxapi_jscode2session(struct arena *a, const char *code, struct wxapi_session *out);
/* A temporary QR_STR_SCENE code. */
enum api_err wxapi_qrcode_create(struct arena *a, const char *scene_str, long expire_seconds,
                                 struct wxapi_qrcode *out);
/* Sends a template message; data_json is the "data" object's JSON text. */
enum api_err wxapi_template_send(struct arena *a, const char *touser, const char *template_id,
                                 const char *url, const char *data_json);
/*
 * Cloud storage: temporary download URLs of ids[0..n) (n ≤ WXCLOUD_BATCH) of cloud
 * environment env, valid max_age seconds, by POST /tcb/batchdownloadfile with the mini
 * program's access token (the storage belongs to the mini program: WECHAT_MP_APPID /
 * WECHAT_MP_SECRET, its token cached as the OA's is).  E_OK: out[i] says what became of each
 * file (wxcloud.h); an errcode other than 0, an answer that is not JSON or not HTTP 200 →
 * E_UPSTREAM_ERROR; no answer in time → E_TIMEOUT; Redis down → E_UNAVAILABLE.
 */
enum api_err wxapi_tcb_download_urls(struct arena *a, const char *env, const char *const *ids,
                                     size_t n, long max_age, struct wxcloud_link *out);

#endif
