"""The mini program's server API in the simulator (loaded by sim.py as an extension):
subscribe messages, and the content-security checks with their asynchronous verdict push.

- POST /cgi-bin/message/subscribe/send?access_token= (the mini program's token):
  {"touser","template_id","page"?,"data","miniprogram_state"?,"lang"?} checked as WeChat does
  (40003 no touser, 40037 no template_id, 47003 a data value over its type's limit or empty,
  41030 a page that is not a relative path, 47001 not JSON; miniprogram_state developer |
  trial | formal, lang zh_CN | en_US | zh_HK | zh_TW) → {"errcode":0,"errmsg":"ok","msgid"}.
- POST /wxa/msg_sec_check (v2: {"content","version":2,"scene":1-4,"openid"}) →
  {"errcode":0,"errmsg":"ok","result":{"suggest","label"},"detail":[…],"trace_id"}: risky when
  the content holds a risky word, review for a review word, else pass (label 100).
- POST /wxa/media_check_async (v2: {"media_url","media_type":2,"version":2,"scene","openid"}) →
  {"errcode":0,"errmsg":"ok","trace_id"}; then, after push_delay_ms, the simulator downloads
  media_url (as WeChat must be able to) and pushes the verdict to the callback as the mini
  program's message push: JSON, signed with WECHAT_MP_TOKEN (safe mode: encrypted with
  WECHAT_MP_AES_KEY), Event wxa_media_check with trace_id, result.suggest and result.label
  (errcode -1008 when the download failed).

Any of the three calls can be told its next answers (a FIFO per call) through the control API
under /__sim/mp/ (README.md): a WeChat errcode, an HTTP status, a hang of some seconds (past
the caller's timeout; the call is not carried out), or the connection closed with no answer
at all (libcurl sends a request again once when a kept-alive connection closes that way).
"""

import http.client
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import devcreds
import wxcrypto

APIS = ("subscribe", "msg_sec_check", "media_check_async")
MINIPROGRAM_STATES = ("developer", "trial", "formal")
LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")
MP_ORIGINAL_ID = "gh_simmp0000001"
LIMITS = {"thing": 20, "number": 32, "letter": 32, "symbol": 5, "character_string": 32,
          "phrase": 5, "phone_number": 17, "car_number": 8, "name": 20}
LABELS = {"pass": 100, "review": 21000, "risky": 20006}
MAX_RECORDS = 500


def value_ok(key, value):
    """Whether value fits the limit of data key `key` (the key without its digits)."""
    if not isinstance(value, str) or value == "":
        return False
    kind = key.rstrip("0123456789")
    if kind == "number":
        return len(value) <= 32 and all(c.isdigit() or c == "." for c in value)
    if kind == "character_string":
        return len(value) <= 32 and all(" " < c < "\x7f" for c in value)
    if kind == "phrase":
        return len(value) <= 5 and all(ord(c) > 0x7f for c in value)
    if kind == "name":
        return len(value) <= (20 if value.isascii() else 10)
    limit = LIMITS.get(kind)
    return limit is None or len(value) <= limit


class MpSim:
    def __init__(self, sim, core):
        self.sim = sim
        self.core = core
        env = os.environ
        self.token = env.get("WECHAT_MP_TOKEN") or devcreds.DEV["WECHAT_MP_TOKEN"]
        self.aes_key = wxcrypto.aes_key(env.get("WECHAT_MP_AES_KEY") or
                                        devcreds.DEV["WECHAT_MP_AES_KEY"])
        self.reset()

    def reset(self):
        with self.sim.lock:
            self.next = {api: [] for api in APIS}
            self.config = {"push_delay_ms": 300, "auto_push": True, "media_verdict": "pass",
                           "risky_words": ["违禁词", "risky-word"],
                           "review_words": ["review-word"], "latency_ms": 0}
            self.sent = []
            self.texts = []
            self.media = {}
            self.counts = dict.fromkeys(("subscribe_calls", "subscribe_sends", "sec_checks",
                                         "media_checks", "media_pushes"), 0)

    def stats(self):
        with self.sim.lock:
            return dict(self.counts)

    def count(self, name):
        with self.sim.lock:
            self.counts[name] += 1

    # -- answers

    def scripted(self, api):
        """The next scripted answer of api as a Response, or None to answer normally."""
        with self.sim.lock:
            queue = self.next[api]
            rule = queue.pop(0) if queue else None
            latency = self.config["latency_ms"]
        if latency:
            time.sleep(latency / 1000)
        if rule is None:
            return None
        if rule.get("drop"):
            return self.core.Response(drop=True)
        if "hang" in rule:  # no answer in time, and the call is not carried out
            time.sleep(float(rule["hang"]))
            return self.core.Response(504, b"<html>gateway timeout</html>", "text/html")
        if "http" in rule:
            return self.core.Response(int(rule["http"]), b"<html>upstream error</html>",
                                      "text/html")
        return self.core.wx_error(int(rule["errcode"]), rule.get("errmsg") or "simulated")

    def check_token(self, req):
        token = req.query.get("access_token")
        with self.sim.lock:
            mine = self.sim.tokens[self.sim.cfg.mp_appid]
        if not token:
            return self.core.wx_error(41001, "access_token missing")
        if token == mine:
            return None
        if self.sim.token_valid(token):  # the Official Account's: not this app's API
            return self.core.wx_error(48001, "api unauthorized")
        return self.core.wx_error(40001, "invalid credential, access_token is invalid or not latest")

    # -- subscribe/send

    def subscribe_send(self, req):
        self.count("subscribe_calls")
        err = self.check_token(req) or self.scripted("subscribe")
        if err:
            return err
        body = self.core.wx_json_body(req)
        if body is None:
            return self.core.wx_error(47001, "data format error")
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return self.core.wx_error(40003, "invalid openid")
        if not isinstance(body.get("template_id"), str) or not body["template_id"]:
            return self.core.wx_error(40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return self.core.wx_error(47003, "argument invalid! data invalid")
        for key, field in data.items():
            if not isinstance(field, dict) or not value_ok(key, field.get("value")):
                return self.core.wx_error(47003, f"argument invalid! data.{key}.value invalid")
        page = body.get("page")
        if page is not None and (not isinstance(page, str) or page.startswith("/") or
                                 "://" in page):
            return self.core.wx_error(41030, "invalid page")
        if body.get("miniprogram_state", "formal") not in MINIPROGRAM_STATES:
            return self.core.wx_error(47003, "argument invalid! miniprogram_state invalid")
        if body.get("lang", "zh_CN") not in LANGS:
            return self.core.wx_error(47003, "argument invalid! lang invalid")
        msgid = self.sim.next_msgid()
        with self.sim.lock:
            self.sent.append(dict(body, msgid=msgid, received_at=int(time.time())))
            del self.sent[:-MAX_RECORDS]
            self.counts["subscribe_sends"] += 1
        return self.core.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    # -- content security

    def sec_body(self, req, fields):
        """The v2 body with fields checked, or (None, error response)."""
        body = self.core.wx_json_body(req)
        if body is None:
            return None, self.core.wx_error(47001, "data format error")
        if body.get("version") != 2:
            return None, self.core.wx_error(47001, "data format error: version must be 2")
        if body.get("scene") not in (1, 2, 3, 4):
            return None, self.core.wx_error(40003, "invalid scene")
        if not isinstance(body.get("openid"), str) or not body["openid"]:
            return None, self.core.wx_error(40003, "invalid openid")
        for f in fields:
            if not isinstance(body.get(f), str) or not body[f]:
                return None, self.core.wx_error(47001, f"data format error: {f}")
        return body, None

    @staticmethod
    def verdict(suggest):
        return {"suggest": suggest, "label": LABELS[suggest]}

    def msg_sec_check(self, req):
        self.count("sec_checks")
        err = self.check_token(req) or self.scripted("msg_sec_check")
        if err:
            return err
        body, err = self.sec_body(req, ("content",))
        if err:
            return err
        content = body["content"]
        if len(content) > 2500:
            return self.core.wx_error(87014, "content too long")
        with self.sim.lock:
            cfg = dict(self.config)
        suggest = "pass"
        if any(w in content for w in cfg["risky_words"]):
            suggest = "risky"
        elif any(w in content for w in cfg["review_words"]):
            suggest = "review"
        trace = self.trace_id()
        with self.sim.lock:
            self.texts.append({"content": content, "scene": body["scene"],
                               "openid": body["openid"], "suggest": suggest, "trace_id": trace})
            del self.texts[:-MAX_RECORDS]
        result = self.verdict(suggest)
        return self.core.json_response({
            "errcode": 0, "errmsg": "ok", "result": result, "trace_id": trace,
            "detail": [dict(result, strategy="content_model", errcode=0, prob=90)]})

    @staticmethod
    def trace_id():
        return "-".join(secrets.token_hex(4) for _ in range(3))

    def media_check_async(self, req):
        self.count("media_checks")
        err = self.check_token(req) or self.scripted("media_check_async")
        if err:
            return err
        body, err = self.sec_body(req, ("media_url",))
        if err:
            return err
        if body.get("media_type") not in (1, 2):
            return self.core.wx_error(47001, "data format error: media_type")
        trace = self.trace_id()
        with self.sim.lock:
            cfg = dict(self.config)
            self.media[trace] = {"trace_id": trace, "media_url": body["media_url"],
                                 "openid": body["openid"], "scene": body["scene"],
                                 "suggest": cfg["media_verdict"], "fetch_status": None,
                                 "pushes": []}
        if cfg["auto_push"]:
            threading.Thread(target=self.check_later, args=(trace, cfg["push_delay_ms"]),
                             daemon=True).start()
        return self.core.json_response({"errcode": 0, "errmsg": "ok", "trace_id": trace})

    def fetch(self, url):
        """WeChat downloads the media: the HTTP status (0 when it cannot be reached)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not self.core.is_loopback_host(parts.hostname):
            return 0
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except (OSError, ValueError):
            return 0

    def check_later(self, trace, delay_ms):
        time.sleep(delay_ms / 1000)
        try:
            self.push(trace)
        except self.core.HttpError as err:
            self.core.log("warn", "media check push failed", trace_id=trace, error=err.message)

    def push(self, trace, suggest=None, mode="plain", signature="good"):
        """Downloads the media (once) and pushes the verdict of trace; the push's answer."""
        with self.sim.lock:
            check = self.media.get(trace)
        if check is None:
            raise self.core.HttpError(400, f"no media check {trace!r}")
        if check["fetch_status"] is None:
            status = self.fetch(check["media_url"])
            with self.sim.lock:
                check["fetch_status"] = status
        with self.sim.lock:
            if suggest is not None:
                check["suggest"] = suggest
            msg = {"ToUserName": MP_ORIGINAL_ID, "FromUserName": check["openid"],
                   "CreateTime": int(time.time()), "MsgType": "event",
                   "Event": "wxa_media_check", "appid": self.sim.cfg.mp_appid,
                   "trace_id": trace, "version": 2}
            if check["fetch_status"] == 200:
                result = self.verdict(check["suggest"])
                msg.update(errcode=0, errmsg="ok", result=result,
                           detail=[dict(result, strategy="content_model", errcode=0, prob=90)])
            else:
                msg.update(errcode=-1008, errmsg="下载错误,请检查媒体链接是否有效", detail=[])
        out = self.deliver(json.dumps(msg, ensure_ascii=False), mode, signature)
        with self.sim.lock:
            check["pushes"].append({"status": out["status"], "body": out["body"]})
            self.counts["media_pushes"] += 1
        return out

    def deliver(self, text, mode, signature):
        """POSTs one mini-program push (JSON) to the callback as WeChat does."""
        if mode not in ("plain", "safe") or signature not in ("good", "bad"):
            raise self.core.HttpError(400, 'mode plain|safe, signature good|bad')
        target = self.core.check_callback_url(self.sim.cfg.callback_url)
        ts = str(int(time.time()))
        nonce = str(1000000000 + secrets.randbelow(9000000000))
        token = self.token if signature == "good" else "not-the-token"
        query = [("signature", wxcrypto.sha1_sorted(token, ts, nonce)), ("timestamp", ts),
                 ("nonce", nonce)]
        body = text
        if mode == "safe":
            enc = wxcrypto.encrypt(self.aes_key, text, self.sim.cfg.mp_appid)
            query += [("encrypt_type", "aes"),
                      ("msg_signature", wxcrypto.sha1_sorted(token, ts, nonce, enc))]
            body = json.dumps({"ToUserName": MP_ORIGINAL_ID, "Encrypt": enc})
        path = (target.path or "/") + "?" + urllib.parse.urlencode(query)
        conn = http.client.HTTPConnection(target.hostname, target.port or 80,
                                          timeout=self.core.PUSH_TIMEOUT)
        try:
            conn.request("POST", path, body=body.encode("utf-8"),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
        except (OSError, http.client.HTTPException) as err:
            raise self.core.HttpError(502, f"push to {target.geturl()} failed: {err}") from None
        finally:
            conn.close()
        self.core.log("info", "mp push", mode=mode, status=status)
        return {"status": status, "body": raw.decode("utf-8", errors="replace"), "sent": text}

    # -- control

    def set_next(self, req):
        body = req.json({})
        api = body.get("api")
        answers = body.get("answers")
        if api not in APIS or not isinstance(answers, list):
            raise self.core.HttpError(400, f'"api" one of {APIS}, "answers" a list')
        for a in answers:
            if not isinstance(a, dict) or not (a.get("drop") is True or
                                               isinstance(a.get("http"), int) or
                                               isinstance(a.get("errcode"), int) or
                                               isinstance(a.get("hang"), (int, float))):
                raise self.core.HttpError(400, 'each answer: {"errcode":N}, {"http":N}, '
                                               '{"hang":seconds} or {"drop":true}')
        with self.sim.lock:
            self.next[api].extend(answers)
            left = len(self.next[api])
        return self.core.json_response({"api": api, "queued": left})

    def set_config(self, req):
        body = req.json({})
        with self.sim.lock:
            for key, value in body.items():
                if key not in self.config:
                    raise self.core.HttpError(400, f"unknown setting {key!r}")
                if key == "media_verdict" and value not in LABELS:
                    raise self.core.HttpError(400, "media_verdict: pass, review or risky")
                self.config[key] = value
            return self.core.json_response(dict(self.config))

    def records(self, _req):
        with self.sim.lock:
            return self.core.json_response({"subscribe": list(self.sent), "text": list(self.texts),
                                            "media": list(self.media.values())})

    def push_again(self, req):
        body = req.json({})
        return self.core.json_response(self.push(body.get("trace_id"), body.get("suggest"),
                                                 body.get("mode", "plain"),
                                                 body.get("signature", "good")))


ROUTES = (
    ("POST", "/cgi-bin/message/subscribe/send", "subscribe_send"),
    ("POST", "/wxa/msg_sec_check", "msg_sec_check"),
    ("POST", "/wxa/media_check_async", "media_check_async"),
    ("POST", "/__sim/mp/next", "set_next"),
    ("POST", "/__sim/mp/config", "set_config"),
    ("GET", "/__sim/mp/records", "records"),
    ("POST", "/__sim/mp/push", "push_again"),
)


def register(sim):
    core = sys.modules[type(sim).__module__]
    mp = MpSim(sim, core)
    sim.on_reset(mp.reset)
    sim.add_stats(mp.stats)
    for method, path, name in ROUTES:
        sim.route(method, path)(getattr(mp, name))
