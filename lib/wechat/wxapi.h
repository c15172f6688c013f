/*
 * wxapi — the WeChat server APIs the service calls (Official Account and mini program).
 *
 * access_token: one per app — the Official Account (WECHAT_APPID) for OAuth, QR codes, the
 * JS-SDK and template messages, the mini program (WECHAT_MP_APPID) for cloud storage,
 * subscribe messages and the content-security checks — fetched with POST
 * /cgi-bin/stable_token, cached in Redis (wx:token:<appid>) and shared by every worker and the
 * dispatcher; one refresher at a time holds the lock
 * wx:lock:token:<appid> (SET NX), the others wait for its result.  A call answered with
 * 40001/40014/42001 expires the cached token only if it is still the one that failed
 * (compare-and-delete), fetches again and retries once.  The JS-SDK jsapi_ticket is cached
 * the same way (wx:jsapi:<appid>).  Base URLs come from config (WECHAT_API_BASE); WeChat
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

/* A template message (OA: page is its url; miniprogram_state and lang stay NULL) or a
 * subscribe message (mini program: page is a page of the mini program; miniprogram_state and
 * lang may be NULL: WeChat's defaults). */
struct wxapi_message {
	const char *touser, *template_id, *page, *data_json;
	const char *miniprogram_state, *lang;
};

/* A content-security answer (msg_sec_check v2): result.suggest ("pass" | "review" |
 * "risky"), result.label (WeChat's number, as text) and trace_id (arena copies, NULL when
 * absent); errcode WeChat's. */
struct wxapi_verdict {
	const char *suggest, *label, *trace_id;
	long errcode;
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
/*
 * Sends a template message (OA token) or a subscribe message (mini-program token, POST
 * /cgi-bin/message/subscribe/send).  E_OK when WeChat answered: *errcode is its errcode (0:
 * accepted); otherwise the transport's error (E_UPSTREAM_ERROR: no answer, an HTTP status
 * other than 200, not JSON, a token still rejected after one refresh; E_UNAVAILABLE: Redis)
 * with *errcode 0.  The caller decides what an errcode means (lib/wechat/wxnotice).
 */
enum api_err wxapi_template_send(struct arena *a, const struct wxapi_message *m, long *errcode);
enum api_err wxapi_subscribe_send(struct arena *a, const struct wxapi_message *m, long *errcode);

/*
 * Content security v2 (mini-program token): POST /wxa/msg_sec_check {"content","version":2,
 * "scene","openid"}.  E_OK with out->suggest set when WeChat judged the text; any errcode or
 * an answer without result.suggest is E_UPSTREAM_ERROR (out->errcode tells which).
 * scene: 1 profile, 2 comment, 3 forum, 4 social log.
 */
enum api_err wxapi_msg_sec_check(struct arena *a, const char *openid, int scene,
                                 const char *content, struct wxapi_verdict *out);
/* POST /wxa/media_check_async {"media_url","media_type":2,"version":2,"scene","openid"} →
 * *trace_id (the verdict comes later as the mini program's wxa_media_check push);
 * E_UPSTREAM_ERROR for any errcode. */
enum api_err wxapi_media_check_async(struct arena *a, const char *openid, int scene,
                                     const char *media_url, const char **trace_id);
/* Replaces the Official Account's custom menu (POST /cgi-bin/menu/create with menu_json);
 * any errcode but 0 is E_UPSTREAM_ERROR. */
enum api_err wxapi_menu_create(struct arena *a, const char *menu_json);
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
