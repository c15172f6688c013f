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

static enum api_err wechat_verify_get(struct request *req, struct reply *rep)
{
	const char *echostr = request_query(req, "echostr");

	if (!wechat_signed(req) || echostr == NULL)
		return reply_error(rep, E_FORBIDDEN, "signature mismatch");
	return wechat_text(rep, echostr);
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

	if (!wechat_signed(req))
		return reply_error(rep, E_FORBIDDEN, "signature mismatch");
	if (req->body_len == 0)
		return reply_error(rep, E_BAD_REQUEST, "body: an XML message is required");
	if (safe) {
		const char *encrypt;
		if (wxxml_parse(req->arena, req->body, req->body_len, &outer) < 0)
			return reply_error(rep, E_BAD_REQUEST,
			                   arena_printf(req->arena, "body: %s", outer.error));
		encrypt = wxxml_get(&outer, "Encrypt");
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
	type = wxxml_get(&msg, "MsgType");
	from = wxxml_get(&msg, "FromUserName");
	ctime = wxxml_get(&msg, "CreateTime");
	event = wxxml_get(&msg, "Event");
	event_key = wxxml_get(&msg, "EventKey");
	msg_id = wxxml_get(&msg, "MsgId");
	if (msg_id == NULL) /* TEMPLATESENDJOBFINISH and a few other events spell it MsgID */
		msg_id = wxxml_get(&msg, "MsgID");
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
