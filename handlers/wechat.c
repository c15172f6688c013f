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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/handlers.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/wechat/wxcrypt.h"
#include "lib/wechat/wxsign.h"
#include "lib/wechat/wxxml.h"
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

static bool wechat_signed(const struct request *req)
{
	const char *token = config_get()->wechat_token;
	return token != NULL &&
	       wxsign_check(token, request_query(req, "timestamp"), request_query(req, "nonce"),
	                    request_query(req, "signature"));
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

	if (!wechat_signed(req))
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

static enum api_err wechat_verify_post(struct request *req, struct reply *rep)
{
	const struct config *c = config_get();
	const char *enc_type = request_query(req, "encrypt_type");
	bool safe = enc_type != NULL && strcmp(enc_type, "aes") == 0;
	struct wxxml_msg outer, msg;
	unsigned char key[32];
	char *plain = NULL, *appid = NULL;
	size_t plain_len = 0;
	const char *type, *from, *event, *event_key, *msg_id, *ctime, *msg_key, *reply_xml = NULL;
	struct identity_login in = {
	    .app_kind = "oa", .appid = c->wechat_appid, .subscribe = IDENTITY_SUB_KEEP};
	bool unsubscribe = false, apply_login = false, duplicate = false;
	int64_t user_id = 0;
	enum api_err err = E_BAD_REQUEST;
	const char *bad = NULL;

	if (c->wechat_msg_mode == CONFIG_MSG_SAFE && !safe)
		return reply_error(
		    rep, E_FORBIDDEN,
		    "safe mode: only encrypted messages (encrypt_type=aes) are accepted");
	if ((err = wechat_guard(req, rep, req->body ? req->body : "", req->body_len)) != E_OK)
		return err;
	err = E_BAD_REQUEST;
	if (req->body_len == 0)
		return reply_error(rep, E_BAD_REQUEST, "body: an XML message is required");
	if (safe) {
		const char *encrypt;
		if (wxxml_parse(req->arena, req->body, req->body_len, &outer) < 0)
			return reply_error(rep, E_BAD_REQUEST,
			                   arena_printf(req->arena, "body: %s", outer.error));
		encrypt = wxxml_get(&outer, "Encrypt");
		if (encrypt == NULL && c->wechat_msg_mode == CONFIG_MSG_SAFE)
			return reply_error(rep, E_FORBIDDEN, "safe mode: no Encrypt element");
		if (request_query(req, "msg_signature") == NULL &&
		    c->wechat_msg_mode == CONFIG_MSG_SAFE)
			return reply_error(rep, E_FORBIDDEN, "safe mode: msg_signature required");
		if (encrypt == NULL || c->wechat_aes_key == NULL ||
		    wxcrypt_key(c->wechat_aes_key, key) < 0)
			return reply_error(rep, E_BAD_REQUEST,
			                   "body: no Encrypt element or no AES key");
		if (!wxsign_msg_check(c->wechat_token, request_query(req, "timestamp"),
		                      request_query(req, "nonce"), encrypt,
		                      request_query(req, "msg_signature")))
			return reply_error(rep, E_FORBIDDEN, "msg_signature mismatch");
		if (wxcrypt_decrypt(key, encrypt, &plain, &plain_len, &appid) < 0 ||
		    appid == NULL || c->wechat_appid == NULL ||
		    strcmp(appid, c->wechat_appid) != 0) {
			err =
			    reply_error(rep, E_BAD_REQUEST, "body: cannot decrypt for this appid");
			goto out;
		}
		if (wxxml_parse(req->arena, plain, plain_len, &msg) < 0) {
			err = reply_error(rep, E_BAD_REQUEST,
			                  arena_printf(req->arena, "body: %s", msg.error));
			goto out;
		}
	} else if (wxxml_parse(req->arena, req->body, req->body_len, &msg) < 0) {
		return reply_error(rep, E_BAD_REQUEST,
		                   arena_printf(req->arena, "body: %s", msg.error));
	}
	/* bounded so that the de-duplication key always fits its column (WeChat's own values
	 * are far shorter: a 64-bit MsgId, a 28-character openid) */
	type = wechat_field(&msg, "MsgType", 32, &bad);
	from = wechat_field(&msg, "FromUserName", 64, &bad);
	ctime = wechat_field(&msg, "CreateTime", 12, &bad);
	event = wechat_field(&msg, "Event", 64, &bad);
	event_key = wechat_field(&msg, "EventKey", 128, &bad);
	msg_id = wechat_field(&msg, "MsgId", 32, &bad);
	if (msg_id == NULL) /* TEMPLATESENDJOBFINISH and a few other events spell it MsgID */
		msg_id = wechat_field(&msg, "MsgID", 32, &bad);
	if (bad != NULL) {
		err = reply_error(rep, E_BAD_REQUEST,
		                  arena_printf(req->arena, "body: %s is too long", bad));
		goto out;
	}
	if (type == NULL || from == NULL || *from == '\0' || ctime == NULL) {
		err = reply_error(rep, E_BAD_REQUEST,
		                  "body: MsgType, FromUserName and CreateTime are required");
		goto out;
	}
	/* WeChat retries a delivery up to three times: the same MsgId, or for events the same
	 * sender and CreateTime */
	msg_key = msg_id
	              ? arena_printf(req->arena, "msg:%s", msg_id)
	              : arena_printf(req->arena, "evt:%s:%s:%s", from, ctime, event ? event : type);
	in.openid = from;
	if (strcmp(type, "event") == 0 && event != NULL) {
		if (strcmp(event, "subscribe") == 0 || strcmp(event, "SCAN") == 0) {
			in.subscribe = IDENTITY_SUB_ON;
			apply_login = true;
		} else if (strcmp(event, "unsubscribe") == 0) {
			unsubscribe = true;
		}
	}
	err = identities_oa_message(req->arena, msg_key, type,
	                            apply_login || unsubscribe ? &in : NULL, unsubscribe, &user_id,
	                            &duplicate);
	if (err != E_OK)
		goto out; /* not acknowledged: WeChat delivers it again */
	if (duplicate) {
		log_info("duplicate delivery %s ignored", msg_key);
		err = wechat_text(rep, "success");
		goto out;
	}
	if (apply_login && user_id > 0 && event_key != NULL) {
		const char *scene = NULL;
		if (strncmp(event_key, "qrscene_login_", 14) == 0)
			scene = event_key + 14;
		else if (strncmp(event_key, "login_", 6) == 0)
			scene = event_key + 6;
		if (scene != NULL && *scene != '\0')
			wechat_confirm_login(req->arena, scene, user_id);
	}
	if (strcmp(type, "text") == 0)
		reply_xml = wxxml_text_reply(
		    req->arena, from, wxxml_get(&msg, "ToUserName"), (long)time(NULL),
		    wechat_answer_text(req->arena, wxxml_get(&msg, "Content")));
	if (reply_xml == NULL) {
		err = wechat_text(rep, "success");
	} else if (!safe) {
		rep->raw_type = "application/xml; charset=utf-8";
		rep->raw = reply_xml;
		rep->raw_len = strlen(reply_xml);
		err = reply_ok(rep, 200, NULL);
	} else {
		char nonce[17], ts[24], sig[41];
		char *enc =
		    wxcrypt_encrypt(key, c->wechat_appid, reply_xml, strlen(reply_xml), NULL);
		if (enc == NULL || crypto_random_hex(8, nonce) < 0) {
			free(enc);
			err = E_INTERNAL;
			goto out;
		}
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		wxsign_msg_signature(c->wechat_token, ts, nonce, enc, sig);
		rep->raw = wxxml_encrypted_reply(req->arena, enc, sig, ts, nonce);
		free(enc);
		rep->raw_type = "application/xml; charset=utf-8";
		rep->raw_len = strlen(rep->raw);
		err = reply_ok(rep, 200, NULL);
	}
out:
	free(plain);
	free(appid);
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
