/* wxapi — see wxapi.h. */
#include "lib/wechat/wxapi.h"

#include <json-c/json.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/httpc.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/redis.h"

#define WXAPI_TIMEOUT_MS 5000
#define WXAPI_LOCK_TTL 10 /* seconds a refresher may hold the lock */
#define WXAPI_WAIT_MS 3000 /* how long the others wait for its result */
#define WXAPI_MARGIN 300 /* seconds a cached credential is dropped before WeChat expires it */

/* A parsed answer: the JSON object (owned) and its errcode (0 when absent). */
struct wxapi_answer {
	json_object *json;
	long errcode;
	const char *errmsg;
};

static void wxapi_answer_free(struct wxapi_answer *ans)
{
	json_object_put(ans->json);
	ans->json = NULL;
}

static long wxapi_long(json_object *o, const char *key)
{
	json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return 0;
	return (long)json_object_get_int64(v);
}

/* Performs one call and parses the JSON answer.  E_OK means WeChat answered with JSON;
 * ans->errcode tells whether it accepted the call.  A timeout is E_TIMEOUT when
 * keep_timeout, else E_UPSTREAM_ERROR like any other failure to get an answer. */
static enum api_err wxapi_call_ex(struct arena *a, const char *method, const char *url,
                                  const char *body, bool keep_timeout, struct wxapi_answer *ans)
{
	static const char *const json_headers[] = {"Content-Type: application/json",
	                                           "Accept: application/json", NULL};
	struct httpc_request req = {.method = method,
	                            .url = url,
	                            .headers = json_headers,
	                            .body = body,
	                            .body_len = body ? strlen(body) : 0,
	                            .timeout_ms = WXAPI_TIMEOUT_MS};
	struct httpc_response res;
	enum api_err err;

	memset(ans, 0, sizeof(*ans));
	if ((err = httpc_do(a, &req, &res)) != E_OK)
		return err == E_TIMEOUT && !keep_timeout ? E_UPSTREAM_ERROR : err;
	if (res.status != 200) {
		log_warn("wechat %s answered HTTP %ld", method, res.status);
		return E_UPSTREAM_ERROR;
	}
	ans->json = json_tokener_parse(res.body);
	if (ans->json == NULL || !json_object_is_type(ans->json, json_type_object)) {
		wxapi_answer_free(ans);
		log_warn("wechat answered something that is not a JSON object");
		return E_UPSTREAM_ERROR;
	}
	ans->errcode = wxapi_long(ans->json, "errcode");
	ans->errmsg = jsonx_dup_str(a, ans->json, "errmsg");
	return E_OK;
}

static enum api_err wxapi_call(struct arena *a, const char *method, const char *url,
                               const char *body, struct wxapi_answer *ans)
{
	return wxapi_call_ex(a, method, url, body, false, ans);
}

static enum api_err wxapi_fail(const struct wxapi_answer *ans, const char *what)
{
	log_warn("wechat %s refused: errcode %ld %s", what, ans->errcode,
	         ans->errmsg ? ans->errmsg : "");
	return E_UPSTREAM_ERROR;
}

/* Sleeps ms milliseconds. */
static void wxapi_nap(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/*
 * The cached credential at key, or a fresh one from fetch() stored with its expiry.  Only
 * the holder of the lock fetches; the others poll the cache for up to WXAPI_WAIT_MS.
 */
static enum api_err wxapi_cached(struct arena *a, const char *key, const char *lock,
                                 enum api_err (*fetch)(struct arena *, const char **, long *),
                                 const char **out)
{
	enum api_err err;
	char *v = NULL;
	bool mine = false;
	long ttl = 0;
	const char *fresh = NULL;

	if ((err = redis_get(a, key, &v)) != E_OK)
		return err;
	if (v != NULL) {
		*out = v;
		return E_OK;
	}
	if ((err = redis_set_nx_ex(lock, "1", WXAPI_LOCK_TTL, &mine)) != E_OK)
		return err;
	if (!mine) {
		for (long waited = 0; waited < WXAPI_WAIT_MS; waited += 25) {
			wxapi_nap(25);
			if ((err = redis_get(a, key, &v)) != E_OK)
				return err;
			if (v != NULL) {
				*out = v;
				return E_OK;
			}
		}
		log_warn("gave up waiting for %s to be refreshed by another process", key);
		return E_UPSTREAM_ERROR;
	}
	/* a refresher may have finished between our miss and our lock: look once more */
	if ((err = redis_get(a, key, &v)) != E_OK || v != NULL) {
		redis_del(lock);
		if (v != NULL)
			*out = v;
		return err;
	}
	err = fetch(a, &fresh, &ttl);
	if (err == E_OK)
		err = redis_set_ex(key, fresh,
		                   ttl > WXAPI_MARGIN * 2 ? ttl - WXAPI_MARGIN : ttl / 2 + 1);
	redis_del(lock);
	if (err == E_OK)
		*out = fresh;
	return err;
}

static const char *wxapi_base(void)
{
	return config_get()->wechat_api_base;
}

/* The app whose access_token a call takes: the Official Account (WECHAT_APPID) or the mini
 * program (WECHAT_MP_APPID, which owns the cloud environment). */
enum wxapi_app { WXAPI_OA, WXAPI_MP };

/* The app's appid and secret (NULL when not configured). */
static void wxapi_creds(enum wxapi_app app, const char **appid, const char **secret)
{
	const struct config *c = config_get();

	*appid = app == WXAPI_MP ? c->wechat_mp_appid : c->wechat_appid;
	*secret = app == WXAPI_MP ? c->wechat_mp_secret : c->wechat_secret;
}

static enum api_err wxapi_fetch_token(struct arena *a, enum wxapi_app app, const char **token,
                                      long *ttl)
{
	json_object *req;
	struct wxapi_answer ans;
	const char *appid, *secret;
	enum api_err err;

	wxapi_creds(app, &appid, &secret);
	if (appid == NULL || secret == NULL) {
		log_error("%s are not configured", app == WXAPI_MP
		                                       ? "WECHAT_MP_APPID / WECHAT_MP_SECRET"
		                                       : "WECHAT_APPID / WECHAT_SECRET");
		return E_UPSTREAM_ERROR;
	}
	req = json_object_new_object();
	json_object_object_add(req, "grant_type", json_object_new_string("client_credential"));
	json_object_object_add(req, "appid", json_object_new_string(appid));
	json_object_object_add(req, "secret", json_object_new_string(secret));
	json_object_object_add(req, "force_refresh", json_object_new_boolean(0));
	err = wxapi_call(a, "POST", arena_printf(a, "%s/cgi-bin/stable_token", wxapi_base()),
	                 jsonx_text(a, req), &ans);
	json_object_put(req);
	if (err != E_OK)
		return err;
	*token = jsonx_dup_str(a, ans.json, "access_token");
	*ttl = wxapi_long(ans.json, "expires_in");
	if (ans.errcode != 0 || *token == NULL || **token == '\0' || *ttl <= 0)
		err = wxapi_fail(&ans, "stable_token");
	wxapi_answer_free(&ans);
	return err;
}

static enum api_err wxapi_fetch_token_oa(struct arena *a, const char **token, long *ttl)
{
	return wxapi_fetch_token(a, WXAPI_OA, token, ttl);
}

static enum api_err wxapi_fetch_token_mp(struct arena *a, const char **token, long *ttl)
{
	return wxapi_fetch_token(a, WXAPI_MP, token, ttl);
}

/* The Redis key of the app's token: "wx:<what>:<appid>" (what: token, lock:token). */
static const char *wxapi_token_key(struct arena *a, enum wxapi_app app, const char *what)
{
	const char *appid, *secret;

	wxapi_creds(app, &appid, &secret);
	return arena_printf(a, "wx:%s:%s", what, appid ? appid : "-");
}

static enum api_err wxapi_app_token(struct arena *a, enum wxapi_app app, const char **token)
{
	return wxapi_cached(a, wxapi_token_key(a, app, "token"),
	                    wxapi_token_key(a, app, "lock:token"),
	                    app == WXAPI_MP ? wxapi_fetch_token_mp : wxapi_fetch_token_oa, token);
}

enum api_err wxapi_access_token(struct arena *a, const char **token)
{
	return wxapi_app_token(a, WXAPI_OA, token);
}

static bool wxapi_token_rejected(long errcode)
{
	return errcode == 40001 || errcode == 40014 || errcode == 42001;
}

/*
 * A call that takes ?access_token=: path_query is everything after the base ("/cgi-bin/x?a=b"
 * or "/cgi-bin/x"), with the app's token.  A rejected token is expired (compare-and-delete) and
 * the call retried once.  keep_timeout: as wxapi_call_ex.
 */
static enum api_err wxapi_app_call(struct arena *a, enum wxapi_app app, bool keep_timeout,
                                   const char *method, const char *path_query, const char *body,
                                   struct wxapi_answer *ans)
{
	enum api_err err;

	for (int attempt = 0; attempt < 2; attempt++) {
		const char *token;
		bool gone;
		if ((err = wxapi_app_token(a, app, &token)) != E_OK)
			return err;
		err = wxapi_call_ex(a, method,
		                    arena_printf(a, "%s%s%caccess_token=%s", wxapi_base(),
		                                 path_query, strchr(path_query, '?') ? '&' : '?',
		                                 httpc_escape(a, token)),
		                    body, keep_timeout, ans);
		if (err != E_OK || !wxapi_token_rejected(ans->errcode))
			return err;
		log_warn("wechat rejected the access token (errcode %ld): refreshing once",
		         ans->errcode);
		wxapi_answer_free(ans);
		if ((err = redis_del_if_equal(wxapi_token_key(a, app, "token"), token, &gone)) !=
		    E_OK)
			return err;
	}
	return E_UPSTREAM_ERROR;
}

/* The same with the Official Account's token. */
static enum api_err wxapi_token_call(struct arena *a, const char *method, const char *path_query,
                                     const char *body, struct wxapi_answer *ans)
{
	return wxapi_app_call(a, WXAPI_OA, false, method, path_query, body, ans);
}

static enum api_err wxapi_fetch_ticket(struct arena *a, const char **ticket, long *ttl)
{
	struct wxapi_answer ans;
	enum api_err err =
	    wxapi_token_call(a, "GET", "/cgi-bin/ticket/getticket?type=jsapi", NULL, &ans);

	if (err != E_OK)
		return err;
	*ticket = jsonx_dup_str(a, ans.json, "ticket");
	*ttl = wxapi_long(ans.json, "expires_in");
	if (ans.errcode != 0 || *ticket == NULL || *ttl <= 0)
		err = wxapi_fail(&ans, "getticket");
	wxapi_answer_free(&ans);
	return err;
}

enum api_err wxapi_jsapi_ticket(struct arena *a, const char **ticket)
{
	const char *appid = config_get()->wechat_appid ? config_get()->wechat_appid : "-";
	return wxapi_cached(a, arena_printf(a, "wx:jsapi:%s", appid),
	                    arena_printf(a, "wx:lock:jsapi:%s", appid), wxapi_fetch_ticket, ticket);
}

/* errcodes WeChat uses for a bad, used or expired code */
static bool wxapi_code_rejected(long errcode)
{
	return errcode == 40029 || errcode == 40163 || errcode == 40030 || errcode == 41008;
}

/* A call that exchanges a user's code: a code WeChat rejects is E_UNAUTHORIZED, any other
 * errcode E_UPSTREAM_ERROR; on E_OK the caller reads ans and frees it. */
static enum api_err wxapi_code_call(struct arena *a, const char *url, const char *what,
                                    struct wxapi_answer *ans)
{
	enum api_err err = wxapi_call(a, "GET", url, NULL, ans);

	if (err != E_OK)
		return err;
	if (ans->errcode == 0)
		return E_OK;
	err = wxapi_code_rejected(ans->errcode) ? E_UNAUTHORIZED : wxapi_fail(ans, what);
	wxapi_answer_free(ans);
	return err;
}

enum api_err wxapi_oauth_exchange(struct arena *a, const char *code, struct wxapi_oauth *out)
{
	const struct config *c = config_get();
	struct wxapi_answer ans;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	if (c->wechat_appid == NULL || c->wechat_secret == NULL)
		return E_UPSTREAM_ERROR;
	err =
	    wxapi_code_call(a,
	                    arena_printf(a,
	                                 "%s/sns/oauth2/access_token?appid=%s&secret=%s&code=%s"
	                                 "&grant_type=authorization_code",
	                                 wxapi_base(), httpc_escape(a, c->wechat_appid),
	                                 httpc_escape(a, c->wechat_secret), httpc_escape(a, code)),
	                    "oauth2/access_token", &ans);
	if (err != E_OK)
		return err;
	out->openid = jsonx_dup_str(a, ans.json, "openid");
	out->unionid = jsonx_dup_str(a, ans.json, "unionid");
	out->scope = jsonx_dup_str(a, ans.json, "scope");
	out->access_token = jsonx_dup_str(a, ans.json, "access_token");
	if (out->openid == NULL || *out->openid == '\0')
		err = wxapi_fail(&ans, "oauth2/access_token (no openid)");
	wxapi_answer_free(&ans);
	return err;
}

enum api_err wxapi_oauth_userinfo(struct arena *a, const struct wxapi_oauth *o,
                                  struct wxapi_userinfo *out)
{
	struct wxapi_answer ans;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	if (o->access_token == NULL)
		return E_UPSTREAM_ERROR;
	err = wxapi_call(a, "GET",
	                 arena_printf(a, "%s/sns/userinfo?access_token=%s&openid=%s&lang=zh_CN",
	                              wxapi_base(), httpc_escape(a, o->access_token),
	                              httpc_escape(a, o->openid)),
	                 NULL, &ans);
	if (err != E_OK)
		return err;
	if (ans.errcode != 0)
		err = wxapi_fail(&ans, "sns/userinfo");
	else {
		out->nickname = jsonx_dup_str(a, ans.json, "nickname");
		out->headimgurl = jsonx_dup_str(a, ans.json, "headimgurl");
		out->unionid = jsonx_dup_str(a, ans.json, "unionid");
	}
	wxapi_answer_free(&ans);
	return err;
}

enum api_err wxapi_jscode2session(struct arena *a, const char *code, struct wxapi_session *out)
{
	const struct config *c = config_get();
	struct wxapi_answer ans;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	if (c->wechat_mp_appid == NULL || c->wechat_mp_secret == NULL) {
		log_error("WECHAT_MP_APPID / WECHAT_MP_SECRET are not configured");
		return E_UPSTREAM_ERROR;
	}
	err = wxapi_code_call(a,
	                      arena_printf(a,
	                                   "%s/sns/jscode2session?appid=%s&secret=%s&js_code=%s"
	                                   "&grant_type=authorization_code",
	                                   wxapi_base(), httpc_escape(a, c->wechat_mp_appid),
	                                   httpc_escape(a, c->wechat_mp_secret),
	                                   httpc_escape(a, code)),
	                      "jscode2session", &ans);
	if (err != E_OK)
		return err;
	out->openid = jsonx_dup_str(a, ans.json, "openid");
	out->unionid = jsonx_dup_str(a, ans.json, "unionid");
	if (out->openid == NULL || *out->openid == '\0')
		err = wxapi_fail(&ans, "jscode2session (no openid)");
	wxapi_answer_free(&ans);
	return err;
}

enum api_err wxapi_qrcode_create(struct arena *a, const char *scene_str, long expire_seconds,
                                 struct wxapi_qrcode *out)
{
	json_object *req = json_object_new_object(), *info = json_object_new_object(),
	            *scene = json_object_new_object();
	struct wxapi_answer ans;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	json_object_object_add(scene, "scene_str", json_object_new_string(scene_str));
	json_object_object_add(info, "scene", scene);
	json_object_object_add(req, "expire_seconds", json_object_new_int64(expire_seconds));
	json_object_object_add(req, "action_name", json_object_new_string("QR_STR_SCENE"));
	json_object_object_add(req, "action_info", info);
	err = wxapi_token_call(a, "POST", "/cgi-bin/qrcode/create", jsonx_text(a, req), &ans);
	json_object_put(req);
	if (err != E_OK)
		return err;
	out->ticket = jsonx_dup_str(a, ans.json, "ticket");
	out->url = jsonx_dup_str(a, ans.json, "url");
	out->expire_seconds = wxapi_long(ans.json, "expire_seconds");
	if (ans.errcode != 0 || out->ticket == NULL)
		err = wxapi_fail(&ans, "qrcode/create");
	wxapi_answer_free(&ans);
	return err;
}

/* Sends req (owned, put here) with app's token to path; *errcode gets WeChat's errcode when
 * it answered (E_OK), 0 otherwise. */
static enum api_err wxapi_send(struct arena *a, enum wxapi_app app, const char *path,
                               json_object *req, const char *what, long *errcode)
{
	struct wxapi_answer ans;
	enum api_err err = wxapi_app_call(a, app, false, "POST", path, jsonx_text(a, req), &ans);

	json_object_put(req);
	*errcode = 0;
	if (err != E_OK)
		return err;
	*errcode = ans.errcode;
	if (ans.errcode != 0)
		(void)wxapi_fail(&ans, what);
	wxapi_answer_free(&ans);
	return E_OK;
}

/* The body of a template or subscribe message: touser, template_id, page under page_key
 * (when set), data, and the optional fields that are set. */
static json_object *wxapi_message_body(const struct wxapi_message *m, const char *page_key)
{
	const struct {
		const char *key, *value;
	} fields[] = {{"touser", m->touser},
	              {"template_id", m->template_id},
	              {page_key, m->page && *m->page ? m->page : NULL},
	              {"miniprogram_state", m->miniprogram_state},
	              {"lang", m->lang}};
	json_object *req = json_object_new_object();

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].value != NULL)
			json_object_object_add(req, fields[i].key,
			                       json_object_new_string(fields[i].value));
	json_object_object_add(req, "data", jsonx_parse_or_empty(m->data_json));
	return req;
}

enum api_err wxapi_template_send(struct arena *a, const struct wxapi_message *m, long *errcode)
{
	return wxapi_send(a, WXAPI_OA, "/cgi-bin/message/template/send",
	                  wxapi_message_body(m, "url"), "message/template/send", errcode);
}

enum api_err wxapi_subscribe_send(struct arena *a, const struct wxapi_message *m, long *errcode)
{
	return wxapi_send(a, WXAPI_MP, "/cgi-bin/message/subscribe/send",
	                  wxapi_message_body(m, "page"), "message/subscribe/send", errcode);
}

/* The "result" object's suggest and label of a content-security answer (arena copies). */
static void wxapi_sec_result(struct arena *a, json_object *o, struct wxapi_verdict *out)
{
	json_object *r, *v;

	if (o == NULL || !json_object_object_get_ex(o, "result", &r) ||
	    !json_object_is_type(r, json_type_object))
		return;
	out->suggest = jsonx_dup_str(a, r, "suggest");
	/* WeChat documents label as a string but sends a number */
	if (json_object_object_get_ex(r, "label", &v))
		out->label = arena_strdup(a, json_object_get_string(v));
}

enum api_err wxapi_msg_sec_check(struct arena *a, const char *openid, int scene,
                                 const char *content, struct wxapi_verdict *out)
{
	json_object *req = json_object_new_object();
	struct wxapi_answer ans;
	enum api_err err;

	memset(out, 0, sizeof(*out));
	json_object_object_add(req, "content", json_object_new_string(content));
	json_object_object_add(req, "version", json_object_new_int(2));
	json_object_object_add(req, "scene", json_object_new_int(scene));
	json_object_object_add(req, "openid", json_object_new_string(openid));
	err = wxapi_app_call(a, WXAPI_MP, false, "POST", "/wxa/msg_sec_check", jsonx_text(a, req),
	                     &ans);
	json_object_put(req);
	if (err != E_OK)
		return err;
	out->errcode = ans.errcode;
	out->trace_id = jsonx_dup_str(a, ans.json, "trace_id");
	wxapi_sec_result(a, ans.json, out);
	if (ans.errcode != 0 || out->suggest == NULL)
		err = wxapi_fail(&ans, "msg_sec_check");
	wxapi_answer_free(&ans);
	return err;
}

enum api_err wxapi_media_check_async(struct arena *a, const char *openid, int scene,
                                     const char *media_url, const char **trace_id)
{
	json_object *req = json_object_new_object();
	struct wxapi_answer ans;
	enum api_err err;

	*trace_id = NULL;
	json_object_object_add(req, "media_url", json_object_new_string(media_url));
	json_object_object_add(req, "media_type", json_object_new_int(2));
	json_object_object_add(req, "version", json_object_new_int(2));
	json_object_object_add(req, "scene", json_object_new_int(scene));
	json_object_object_add(req, "openid", json_object_new_string(openid));
	err = wxapi_app_call(a, WXAPI_MP, false, "POST", "/wxa/media_check_async",
	                     jsonx_text(a, req), &ans);
	json_object_put(req);
	if (err != E_OK)
		return err;
	*trace_id = jsonx_dup_str(a, ans.json, "trace_id");
	if (ans.errcode != 0 || *trace_id == NULL || **trace_id == '\0') {
		*trace_id = NULL;
		err = wxapi_fail(&ans, "media_check_async");
	}
	wxapi_answer_free(&ans);
	return err;
}

enum api_err wxapi_menu_create(struct arena *a, const char *menu_json)
{
	struct wxapi_answer ans;
	enum api_err err = wxapi_token_call(a, "POST", "/cgi-bin/menu/create", menu_json, &ans);

	if (err != E_OK)
		return err;
	if (ans.errcode != 0)
		err = wxapi_fail(&ans, "menu/create");
	wxapi_answer_free(&ans);
	return err;
}

enum api_err wxapi_tcb_download_urls(struct arena *a, const char *env, const char *const *ids,
                                     size_t n, long max_age, struct wxcloud_link *out)
{
	struct wxapi_answer ans;
	enum api_err err;

	if (n == 0)
		return E_OK;
	if (n > WXCLOUD_BATCH)
		return E_INTERNAL;
	err = wxapi_app_call(a, WXAPI_MP, true, "POST", "/tcb/batchdownloadfile",
	                     wxcloud_download_body(a, env, ids, n, max_age), &ans);
	if (err != E_OK)
		return err;
	if (ans.errcode != 0)
		err = wxapi_fail(&ans, "tcb/batchdownloadfile");
	else if ((err = wxcloud_download_parse(a, ans.json, ids, n, out)) != E_OK)
		log_warn("wechat tcb/batchdownloadfile answered without a file_list");
	wxapi_answer_free(&ans);
	return err;
}
