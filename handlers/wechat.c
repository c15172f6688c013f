/*
 * wechat — the Official Account server callback (auth level "signed": every request is
 * verified here by WeChat's own signature).
 *
 * GET  /auth/wechat/verify?signature&timestamp&nonce&echostr → echostr as text/plain when
 *      the signature is right, else 403.
 * POST /auth/wechat/verify (text/xml ≤ 64 KiB; safe mode with encrypt_type=aes and
 *      msg_signature) → "success" or a passive reply (a text message gets a text reply,
 *      encrypted in safe mode).  Bad signature or msg_signature → 403; a body that is not an
 *      acceptable message (DOCTYPE, entities, malformed, wrong appid) → 400, nothing stored.
 *      Which deliveries are accepted is WECHAT_MSG_MODE (lib/config.h): in safe mode a
 *      message without encrypt_type=aes, a valid msg_signature and an Encrypt element → 403.
 *      Every callback (GET and POST): the timestamp must be within ±300 s of our clock (else
 *      403) and its (timestamp, nonce, signature) is remembered in Redis for the window with
 *      the SHA-256 of what it carried: the same triple with another body → 403 (a signature
 *      seen in a log cannot be replayed with a forged message), with the same body it is
 *      WeChat's retry and goes on to the per-message de-duplication; Redis down → 503 (the
 *      callback fails closed; WeChat retries).  MsgId, FromUserName, CreateTime and Event
 *      are bounded (400 for an oversized one).
 *      Each message is applied once (MsgId, or FromUserName+CreateTime+Event for events):
 *      subscribe creates the user and the binding, unsubscribe clears the flag, a scan of a
 *      login QR code (subscribe with qrscene_login_<scene>, or SCAN with login_<scene>)
 *      confirms that login.  Work is short: nothing slow runs inside the callback.
 *      The mini program's message push comes to the same URL, signed with its own token
 *      (WECHAT_MP_TOKEN, which must differ from WECHAT_TOKEN: the token that verifies names
 *      the app), as JSON (plain, or safe mode: {"Encrypt"} with msg_signature, opened with
 *      WECHAT_MP_AES_KEY for WECHAT_MP_APPID), with the same time and replay checks: a
 *      wxa_media_check verdict (trace_id, result.suggest pass|review|risky, result.label, or
 *      an errcode when WeChat could not check) is applied once to the upload of that trace
 *      (a repeated push changes nothing) → "success"; a verdict without a trace_id or a
 *      known suggest → 400; any other event → "success", ignored.  The GET check accepts
 *      either app's signature.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/redis.h"
#include "lib/wechat/wxcrypt.h"
#include "lib/wechat/wxsign.h"
#include "lib/wechat/wxxml.h"
#include "model/assets.h"
#include "model/identities.h"

#define WECHAT_MAX_BODY 65536
#define WECHAT_WINDOW 300 /* seconds a callback's timestamp may be off our clock */

static enum api_err wechat_text(struct reply *rep, const char *text)
{
	rep->raw_type = "text/plain; charset=utf-8";
	rep->raw = text;
	rep->raw_len = strlen(text);
	return reply_ok(rep, 200, NULL);
}

/* Which app's push a request is: the Official Account's and the mini program's have tokens
 * of their own (lib/config makes them differ), and the one that verifies the signature names
 * the app. */
enum wechat_app { WECHAT_APP_NONE, WECHAT_APP_OA, WECHAT_APP_MP };

static enum wechat_app wechat_signed_by(const struct request *req)
{
	const struct config *c = config_get();
	const char *ts = request_query(req, "timestamp"), *nonce = request_query(req, "nonce");
	const char *sig = request_query(req, "signature");

	if (c->wechat_token != NULL && wxsign_check(c->wechat_token, ts, nonce, sig))
		return WECHAT_APP_OA;
	if (c->wechat_mp_token != NULL && wxsign_check(c->wechat_mp_token, ts, nonce, sig))
		return WECHAT_APP_MP;
	return WECHAT_APP_NONE;
}

/* True when s is 1..max characters of [0-9A-Za-z]. */
static bool wechat_token_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++)
		if (n >= max || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z') ||
		                  (s[n] >= 'A' && s[n] <= 'Z')))
			return false;
	return n > 0;
}

/*
 * The checks every callback passes before anything else: a valid signature, a timestamp
 * within WECHAT_WINDOW of now, and a (timestamp, nonce, signature) triple not seen before
 * with other content (what is the SHA-256 of what the delivery carries).
 */
static enum api_err wechat_guard(struct request *req, struct reply *rep, const void *what,
                                 size_t what_len)
{
	const char *ts = request_query(req, "timestamp"), *nonce = request_query(req, "nonce");
	const char *sig = request_query(req, "signature"), *key;
	char digest[65], *seen = NULL;
	long t;
	bool fresh = false;
	enum api_err err;

	if (wechat_signed_by(req) == WECHAT_APP_NONE)
		return reply_error(rep, E_FORBIDDEN, "signature mismatch");
	if (config_parse_long(ts, 0, 99999999999L, &t) < 0 ||
	    labs((long)time(NULL) - t) > WECHAT_WINDOW)
		return reply_error(rep, E_FORBIDDEN, "timestamp: more than 300 s off");
	if (!wechat_token_ok(nonce, 64))
		return reply_error(rep, E_FORBIDDEN, "nonce: 1-64 letters or digits");
	crypto_sha256_hex(what, what_len, digest);
	key = arena_printf(req->arena, "wxcb:%s:%s:%s", ts, nonce, sig);
	err = redis_set_nx_ex(key, digest, 2 * WECHAT_WINDOW + 60, &fresh);
	if (err == E_OK && !fresh)
		err = redis_get(req->arena, key, &seen);
	if (err != E_OK) {
		log_warn("OA callback refused: the replay memory (Redis) is unavailable");
		return reply_error(rep, E_UNAVAILABLE, "callback replay check unavailable");
	}
	if (!fresh && (seen == NULL || strcmp(seen, digest) != 0)) {
		log_warn("OA callback refused: a signature replayed with other content");
		return reply_error(rep, E_FORBIDDEN, "signature already used");
	}
	return E_OK;
}

static enum api_err wechat_verify_get(struct request *req, struct reply *rep)
{
	const char *echostr = request_query(req, "echostr");
	enum api_err err;

	if (echostr == NULL)
		return reply_error(rep, E_FORBIDDEN, "echostr: required");
	if ((err = wechat_guard(req, rep, echostr, strlen(echostr))) != E_OK)
		return err;
	return wechat_text(rep, echostr);
}

/* A field of the message within its bound, or NULL with *bad set when it is too long. */
static const char *wechat_field(const struct wxxml_msg *m, const char *name, size_t max,
                                const char **bad)
{
	const char *v = wxxml_get(m, name);

	if (v != NULL && strlen(v) > max && *bad == NULL)
		*bad = name;
	return v;
}

/* Marks the login of scene confirmed for user_id, if it is still waiting. */
static void wechat_confirm_login(struct arena *a, const char *scene, int64_t user_id)
{
	bool done = false;
	const char *key = arena_printf(a, "qrlogin:%s", scene);

	if (redis_swap_if_equal(key, "pending",
	                        arena_printf(a, "confirmed:%lld", (long long)user_id),
	                        &done) != E_OK)
		log_warn("QR login %s could not be confirmed: Redis unavailable", scene);
	else if (!done)
		log_info("QR login %s scanned, but it is no longer waiting", scene);
}

/* The body of a passive reply to a text message. */
static const char *wechat_answer_text(struct arena *a, const char *content)
{
	(void)content;
	return arena_strdup(a, "您好，欢迎使用 AI 写真！点击菜单「会员中心」登录，即可上传照片、"
	                       "生成写真与试衣。");
}

/* A delivery opened by wechat_open: the message (decrypted in safe mode), its bounded fields,
 * and what the reply needs. */
struct wechat_delivery {
	bool safe; /* encrypt_type=aes: the reply is encrypted too */
	unsigned char key[32]; /* the AES key, when safe */
	struct wxxml_msg msg;
	const char *type, *from, *ctime, *event, *event_key, *msg_id; /* type, from, ctime set */
};

/* Checks msg_signature and decrypts a safe-mode body (the Encrypt element of the outer XML)
 * into d->key and d->msg.  Sets the reply and returns its error on any failure: 403 for what
 * safe mode requires or a msg_signature mismatch, 400 for a body that does not decrypt or
 * parse for our appid. */
static enum api_err wechat_open_safe(struct request *req, struct reply *rep,
                                     struct wechat_delivery *d)
{
	const struct config *c = config_get();
	struct wxxml_msg outer;
	const char *encrypt;
	char *plain = NULL, *appid = NULL;
	size_t plain_len = 0;
	enum api_err err = E_BAD_REQUEST;

	if (wxxml_parse(req->arena, req->body, req->body_len, &outer) < 0) {
		err = reply_error(rep, E_BAD_REQUEST,
		                  arena_printf(req->arena, "body: %s", outer.error));
		goto out;
	}
	encrypt = wxxml_get(&outer, "Encrypt");
	if (encrypt == NULL && c->wechat_msg_mode == CONFIG_MSG_SAFE) {
		err = reply_error(rep, E_FORBIDDEN, "safe mode: no Encrypt element");
		goto out;
	}
	if (request_query(req, "msg_signature") == NULL && c->wechat_msg_mode == CONFIG_MSG_SAFE) {
		err = reply_error(rep, E_FORBIDDEN, "safe mode: msg_signature required");
		goto out;
	}
	if (encrypt == NULL || c->wechat_aes_key == NULL ||
	    wxcrypt_key(c->wechat_aes_key, d->key) < 0) {
		err = reply_error(rep, E_BAD_REQUEST, "body: no Encrypt element or no AES key");
		goto out;
	}
	if (!wxsign_msg_check(c->wechat_token, request_query(req, "timestamp"),
	                      request_query(req, "nonce"), encrypt,
	                      request_query(req, "msg_signature"))) {
		err = reply_error(rep, E_FORBIDDEN, "msg_signature mismatch");
		goto out;
	}
	if (wxcrypt_decrypt(d->key, encrypt, &plain, &plain_len, &appid) < 0 || appid == NULL ||
	    c->wechat_appid == NULL || strcmp(appid, c->wechat_appid) != 0) {
		err = reply_error(rep, E_BAD_REQUEST, "body: cannot decrypt for this appid");
		goto out;
	}
	if (wxxml_parse(req->arena, plain, plain_len, &d->msg) < 0) {
		err = reply_error(rep, E_BAD_REQUEST,
		                  arena_printf(req->arena, "body: %s", d->msg.error));
		goto out;
	}
	err = E_OK;
out:
	free(plain);
	free(appid);
	return err;
}

/*
 * Opens a POST delivery: the mode WECHAT_MSG_MODE accepts, wechat_guard (signature, time,
 * replay), then the message (wechat_open_safe in safe mode) and its bounded fields into *d.
 * Sets the reply and returns its error on any failure (403, 400, 503: see the file comment).
 */
static enum api_err wechat_open(struct request *req, struct reply *rep, struct wechat_delivery *d)
{
	const char *enc_type = request_query(req, "encrypt_type"), *bad = NULL;
	enum api_err err;

	memset(d, 0, sizeof(*d));
	d->safe = enc_type != NULL && strcmp(enc_type, "aes") == 0;
	if (config_get()->wechat_msg_mode == CONFIG_MSG_SAFE && !d->safe) {
		err = reply_error(
		    rep, E_FORBIDDEN,
		    "safe mode: only encrypted messages (encrypt_type=aes) are accepted");
		goto out;
	}
	if ((err = wechat_guard(req, rep, req->body ? req->body : "", req->body_len)) != E_OK)
		goto out;
	if (req->body_len == 0) {
		err = reply_error(rep, E_BAD_REQUEST, "body: an XML message is required");
		goto out;
	}
	if (d->safe)
		err = wechat_open_safe(req, rep, d);
	else if (wxxml_parse(req->arena, req->body, req->body_len, &d->msg) < 0)
		err = reply_error(rep, E_BAD_REQUEST,
		                  arena_printf(req->arena, "body: %s", d->msg.error));
	if (err != E_OK)
		goto out;
	/* bounded so that the de-duplication key always fits its column (WeChat's own values
	 * are far shorter: a 64-bit MsgId, a 28-character openid) */
	d->type = wechat_field(&d->msg, "MsgType", 32, &bad);
	d->from = wechat_field(&d->msg, "FromUserName", 64, &bad);
	d->ctime = wechat_field(&d->msg, "CreateTime", 12, &bad);
	d->event = wechat_field(&d->msg, "Event", 64, &bad);
	d->event_key = wechat_field(&d->msg, "EventKey", 128, &bad);
	d->msg_id = wechat_field(&d->msg, "MsgId", 32, &bad);
	if (d->msg_id == NULL) /* TEMPLATESENDJOBFINISH and a few other events spell it MsgID */
		d->msg_id = wechat_field(&d->msg, "MsgID", 32, &bad);
	if (bad != NULL)
		err = reply_error(rep, E_BAD_REQUEST,
		                  arena_printf(req->arena, "body: %s is too long", bad));
	else if (d->type == NULL || d->from == NULL || *d->from == '\0' || d->ctime == NULL)
		err = reply_error(rep, E_BAD_REQUEST,
		                  "body: MsgType, FromUserName and CreateTime are required");
out:
	return err;
}

/*
 * Applies an opened delivery once (identities_oa_message records it): subscribe creates the
 * user and the binding, unsubscribe clears the flag, a login QR scene is confirmed.
 * *duplicate when the delivery was applied before (then nothing changes).  Errors are the
 * model's: not acknowledged, WeChat delivers it again.
 */
static enum api_err wechat_apply(struct request *req, const struct wechat_delivery *d,
                                 bool *duplicate)
{
	struct identity_login in = {.app_kind = "oa",
	                            .appid = config_get()->wechat_appid,
	                            .openid = d->from,
	                            .subscribe = IDENTITY_SUB_KEEP};
	bool unsubscribe = false, apply_login = false;
	int64_t user_id = 0;
	const char *msg_key, *scene = NULL;
	enum api_err err;

	/* WeChat retries a delivery up to three times: the same MsgId, or for events the same
	 * sender and CreateTime */
	msg_key = d->msg_id ? arena_printf(req->arena, "msg:%s", d->msg_id)
	                    : arena_printf(req->arena, "evt:%s:%s:%s", d->from, d->ctime,
	                                   d->event ? d->event : d->type);
	if (strcmp(d->type, "event") == 0 && d->event != NULL) {
		if (strcmp(d->event, "subscribe") == 0 || strcmp(d->event, "SCAN") == 0) {
			in.subscribe = IDENTITY_SUB_ON;
			apply_login = true;
		} else if (strcmp(d->event, "unsubscribe") == 0) {
			unsubscribe = true;
		}
	}
	err = identities_oa_message(req->arena, msg_key, d->type,
	                            apply_login || unsubscribe ? &in : NULL, unsubscribe, &user_id,
	                            duplicate);
	if (err != E_OK)
		goto out;
	if (*duplicate) {
		log_info("duplicate delivery %s ignored", msg_key);
		goto out;
	}
	if (apply_login && user_id > 0 && d->event_key != NULL) {
		if (strncmp(d->event_key, "qrscene_login_", 14) == 0)
			scene = d->event_key + 14;
		else if (strncmp(d->event_key, "login_", 6) == 0)
			scene = d->event_key + 6;
		if (scene != NULL && *scene != '\0')
			wechat_confirm_login(req->arena, scene, user_id);
	}
out:
	return err;
}

/* Answers an applied delivery: a passive text reply to a text message (encrypted in safe
 * mode), "success" to anything else.  E_INTERNAL when the reply cannot be encrypted. */
static enum api_err wechat_reply(struct request *req, struct reply *rep,
                                 const struct wechat_delivery *d)
{
	const struct config *c = config_get();
	const char *reply_xml = NULL;
	char nonce[17], ts[24], sig[41], *enc = NULL;
	enum api_err err = E_INTERNAL;

	if (strcmp(d->type, "text") == 0)
		reply_xml = wxxml_text_reply(
		    req->arena, d->from, wxxml_get(&d->msg, "ToUserName"), (long)time(NULL),
		    wechat_answer_text(req->arena, wxxml_get(&d->msg, "Content")));
	if (reply_xml == NULL) {
		err = wechat_text(rep, "success");
		goto out;
	}
	if (d->safe) {
		enc = wxcrypt_encrypt(d->key, c->wechat_appid, reply_xml, strlen(reply_xml), NULL);
		if (enc == NULL || crypto_random_hex(8, nonce) < 0)
			goto out;
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		wxsign_msg_signature(c->wechat_token, ts, nonce, enc, sig);
		reply_xml = wxxml_encrypted_reply(req->arena, enc, sig, ts, nonce);
	}
	rep->raw_type = "application/xml; charset=utf-8";
	rep->raw = reply_xml;
	rep->raw_len = strlen(reply_xml);
	err = reply_ok(rep, 200, NULL);
out:
	free(enc);
	return err;
}

/* The body of a mini-program push as a JSON object (NULL and the reply set when it is not
 * one); in safe mode its Encrypt is checked with msg_signature and opened for our appid. */
static json_object *wechat_mp_open(struct request *req, struct reply *rep, enum api_err *err)
{
	const struct config *c = config_get();
	const char *enc_type = request_query(req, "encrypt_type"), *encrypt;
	json_object *outer = json_tokener_parse(req->body ? req->body : ""), *msg = NULL;
	unsigned char key[32];
	char *plain = NULL, *appid = NULL;
	size_t plain_len = 0;

	*err = reply_error(rep, E_BAD_REQUEST, "body: a JSON object is required");
	if (outer == NULL || !json_object_is_type(outer, json_type_object))
		goto out;
	if (enc_type == NULL || strcmp(enc_type, "aes") != 0) {
		msg = json_object_get(outer);
		goto out;
	}
	encrypt = jsonx_dup_str(req->arena, outer, "Encrypt");
	if (encrypt == NULL || c->wechat_mp_aes_key == NULL ||
	    wxcrypt_key(c->wechat_mp_aes_key, key) < 0) {
		*err = reply_error(rep, E_BAD_REQUEST, "body: no Encrypt, or no WECHAT_MP_AES_KEY");
		goto out;
	}
	if (!wxsign_msg_check(c->wechat_mp_token, request_query(req, "timestamp"),
	                      request_query(req, "nonce"), encrypt,
	                      request_query(req, "msg_signature"))) {
		*err = reply_error(rep, E_FORBIDDEN, "msg_signature mismatch");
		goto out;
	}
	if (wxcrypt_decrypt(key, encrypt, &plain, &plain_len, &appid) < 0 || appid == NULL ||
	    c->wechat_mp_appid == NULL || strcmp(appid, c->wechat_mp_appid) != 0) {
		*err = reply_error(rep, E_BAD_REQUEST, "body: cannot decrypt for this appid");
		goto out;
	}
	msg = json_tokener_parse(arena_printf(req->arena, "%.*s", (int)plain_len, plain));
	if (msg != NULL && !json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		msg = NULL;
	}
out:
	if (msg != NULL)
		*err = E_OK;
	json_object_put(outer);
	free(plain);
	free(appid);
	return msg;
}

/* Applies a wxa_media_check verdict once (model/assets: recorded per trace id). */
static enum api_err wechat_media_verdict(struct request *req, struct reply *rep, json_object *msg)
{
	const char *trace = jsonx_dup_str(req->arena, msg, "trace_id"), *suggest = NULL;
	const char *label = NULL;
	json_object *result = NULL, *v;
	long errcode = 0;
	bool fresh = false;
	int applied = 0;
	enum api_err err;

	if (json_object_object_get_ex(msg, "errcode", &v))
		errcode = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(msg, "result", &result)) {
		suggest = jsonx_dup_str(req->arena, result, "suggest");
		if (json_object_object_get_ex(result, "label", &v))
			label = arena_strdup(req->arena, json_object_get_string(v));
	}
	if (trace == NULL || *trace == '\0' || strlen(trace) > 128)
		return reply_error(rep, E_BAD_REQUEST, "body: trace_id: 1-128 characters");
	if (errcode != 0)
		suggest =
		    NULL; /* WeChat could not check it (e.g. -1008: the URL did not download) */
	else if (suggest == NULL ||
	         (strcmp(suggest, "pass") != 0 && strcmp(suggest, "review") != 0 &&
	          strcmp(suggest, "risky") != 0))
		return reply_error(rep, E_BAD_REQUEST,
		                   "body: result.suggest: pass, review or risky");
	if (label != NULL && strlen(label) > 64)
		label = NULL;
	if ((err = assets_check_verdict(req->arena, trace, suggest, label, errcode, &fresh,
	                                &applied)) != E_OK)
		return err; /* not acknowledged: WeChat pushes it again */
	log_info("media check %s: %s (errcode %ld)%s", trace, suggest ? suggest : "not checked",
	         errcode,
	         !fresh    ? ": a repeated push, ignored"
	         : applied ? ""
	                   : ": kept until the upload records its trace");
	return wechat_text(rep, "success");
}

/*
 * The mini program's message push (configured in its console with this URL, WECHAT_MP_TOKEN,
 * data format JSON, plain or safe mode with WECHAT_MP_AES_KEY): wechat_guard (signature,
 * time, replay), then the JSON message; wxa_media_check verdicts are applied once, anything
 * else is acknowledged and ignored.
 */
static enum api_err wechat_mp_post(struct request *req, struct reply *rep)
{
	json_object *msg;
	const char *event;
	enum api_err err;

	if ((err = wechat_guard(req, rep, req->body ? req->body : "", req->body_len)) != E_OK)
		return err;
	if ((msg = wechat_mp_open(req, rep, &err)) == NULL)
		return err;
	event = jsonx_dup_str(req->arena, msg, "Event");
	if (event != NULL && strcmp(event, "wxa_media_check") == 0)
		err = wechat_media_verdict(req, rep, msg);
	else {
		log_info("mini-program push %s ignored", event ? event : "(no Event)");
		err = wechat_text(rep, "success");
	}
	json_object_put(msg);
	return err;
}

/* POST /auth/wechat/verify: open, apply once, reply (the file comment has the contract). */
static enum api_err wechat_verify_post(struct request *req, struct reply *rep)
{
	struct wechat_delivery d;
	bool duplicate = false;
	enum api_err err;

	if (wechat_signed_by(req) == WECHAT_APP_MP)
		return wechat_mp_post(req, rep);
	if ((err = wechat_open(req, rep, &d)) == E_OK &&
	    (err = wechat_apply(req, &d, &duplicate)) == E_OK)
		err = duplicate ? wechat_text(rep, "success") : wechat_reply(req, rep, &d);
	metrics_event(METRICS_OA_CALLBACK, err == E_OK ? (duplicate ? "duplicate" : "accepted")
	                                   : err == E_FORBIDDEN   ? "refused"
	                                   : err == E_BAD_REQUEST ? "malformed"
	                                                          : "error");
	return err;
}

static const struct route wechat_list[] = {
    {.method = HTTP_GET,
     .pattern = "/auth/wechat/verify",
     .auth = AUTH_SIGNED,
     .handler = wechat_verify_get},
    {.method = HTTP_POST,
     .pattern = "/auth/wechat/verify",
     .auth = AUTH_SIGNED,
     .body = BODY_RAW,
     .max_body = WECHAT_MAX_BODY,
     .handler = wechat_verify_post},
};

ROUTE_TABLE(wechat_routes, wechat_list);
