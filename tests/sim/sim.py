#!/usr/bin/python3
"""The WeChat simulator of the local stack.

Speaks the parts of the WeChat server API the product uses (stable_token, OAuth2 web
authorization, userinfo, jscode2session, parametric QR codes, the JS-SDK ticket, template
messages) with WeChat's field names and errcodes, and pushes Official Account messages and
events to the product's callback, signed and (in safe mode) encrypted as WeChat does. A
control API under /__sim/ lets tests arrange and inspect its state. See README.md here.

    /usr/bin/python3 tests/sim/sim.py [--port N] [--host 127.0.0.1]

Configuration comes from the environment (WECHAT_APPID, WECHAT_SECRET, WECHAT_TOKEN,
WECHAT_AES_KEY, WECHAT_MP_APPID, WECHAT_MP_SECRET, PUBLIC_BASE_URL or SIM_CALLBACK_URL,
SIM_PORT); unset values fall back to the documented development credentials.

Routes live in a table (Sim.router). Another module extends it: any tests/sim/ext_*.py (and
any module named in SIM_EXTENSIONS, comma separated) that defines register(sim) is imported
at start-up and may call sim.route(), sim.on_reset() and sim.add_stats().
"""

import argparse
import base64
import datetime
import html
import http.client
import http.server
import importlib
import ipaddress
import json
import os
import pathlib
import re
import secrets
import signal
import string
import struct
import sys
import threading
import time
import urllib.parse
import zlib

HERE = pathlib.Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the checkout
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import devcreds  # noqa: E402  (needs the path above)
import wxcrypto  # noqa: E402

# The development credentials of the local stack (scripts/dev-credentials.env, README.md).
DEV = {name: devcreds.DEV[name] for name in (
    "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_MP_APPID",
    "WECHAT_MP_SECRET")}
OA_ORIGINAL_ID = "gh_sim000000001"
CALLBACK_PATH = "/api/v1/auth/wechat/verify"
TOKEN_TTL = 7200
CODE_TTL = 300  # an unused OAuth / mini-program code expires after 5 minutes
MAX_BODY = 1 << 20
PUSH_TIMEOUT = float(os.environ.get("SIM_PUSH_TIMEOUT", "10"))
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"

# --------------------------------------------------------------------------- logging

_log_lock = threading.Lock()


def log(level, msg, **fields):
    rec = {"ts": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
           "level": level, "component": "sim", "msg": msg}
    rec.update(fields)
    line = json.dumps(rec, ensure_ascii=False, default=str)
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------- helpers


def rand(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_openid():
    return "o" + rand(URLSAFE, 27)


def is_loopback_host(host):
    host = (host or "").strip("[]").lower()
    return host in ("localhost", "::1") or re.fullmatch(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}", host)


def is_private_ipv4(host):
    """10/8, 172.16/12 or 192.168/16: never routed on the Internet."""
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return any(addr in ipaddress.IPv4Network(n)
               for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def tiny_png(rgb=(0x2a, 0x9d, 0x8f), size=8):
    """A small solid-colour PNG (avatars and QR images of the simulator)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    row = b"\x00" + bytes(rgb) * size
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b""))


class HttpError(Exception):
    """Raised by handlers: answered as {"error": message} with the given HTTP status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    def __init__(self, method, path, raw_query, headers, body, sim):
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.headers = headers
        self.body = body
        self.sim = sim
        self.params = {}
        self.connection = None  # the client's socket (a handler may watch for a disconnect)
        self.query = {k: v[0] for k, v in
                      urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()}

    def json(self, default=None):
        """The body parsed as a JSON object; an empty body gives default (or {})."""
        if not self.body.strip():
            return {} if default is None else default
        try:
            obj = json.loads(self.body)
        except ValueError as err:
            raise HttpError(400, f"body is not JSON: {err}") from None
        if not isinstance(obj, dict):
            raise HttpError(400, "body must be a JSON object")
        return obj


class Response:
    """An answer. With stream (an iterable of bytes, length bytes in all) the body is written
    chunk by chunk instead of body; with drop the connection is closed without any answer."""

    def __init__(self, status=200, body=b"", content_type="application/json; charset=utf-8",
                 headers=None, stream=None, length=None, drop=False):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.content_type = content_type
        self.headers = list(headers or [])
        self.stream = stream
        self.length = length
        self.drop = drop


def json_response(obj, status=200):
    return Response(status, json.dumps(obj, ensure_ascii=False))


def wx_error(code, msg):
    """WeChat answers errors with HTTP 200 and an errcode."""
    return json_response({"errcode": code, "errmsg": msg})


def html_page(status, title, text):
    body = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
            f"</body></html>")
    return Response(status, body, "text/html; charset=utf-8")


# --------------------------------------------------------------------------- routing


class Router:
    """Exact paths in a dict, and paths with {name} segments (one segment) or a last {name*}
    (the rest of the path, slashes included) as regular expressions."""

    def __init__(self):
        self.exact = {}
        self.patterns = []

    def add(self, method, path, fn):
        method = method.upper()
        if "{" in path:
            rx = re.escape(path)
            rx = re.sub(r"\\\{(\w+)\\\*\\\}$", r"(?P<\1>.+)", rx)
            rx = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", rx) + "$")
            self.patterns.append((method, rx, fn))
        else:
            self.exact[(method, path)] = fn

    def match(self, method, path):
        """(handler, params) or (None, allowed methods of that path)."""
        fn = self.exact.get((method, path))
        if fn:
            return fn, {}
        allowed = {m for (m, p) in self.exact if p == path}
        for m, rx, fn in self.patterns:
            found = rx.match(path)
            if found:
                if m == method:
                    return fn, found.groupdict()
                allowed.add(m)
        return None, sorted(allowed)


# --------------------------------------------------------------------------- state


class Config:
    def __init__(self, port, env=None):
        env = os.environ if env is None else env

        def get(name):
            return env.get(name) or DEV[name]

        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.appid = get("WECHAT_APPID")
        self.secret = get("WECHAT_SECRET")
        self.token = get("WECHAT_TOKEN")
        self.encoding_aes_key = get("WECHAT_AES_KEY")
        self.aes_key = wxcrypto.aes_key(self.encoding_aes_key)  # ValueError when malformed
        self.mp_appid = get("WECHAT_MP_APPID")
        self.mp_secret = get("WECHAT_MP_SECRET")
        self.original_id = OA_ORIGINAL_ID
        public = (env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.callback_url = env.get("SIM_CALLBACK_URL") or public + CALLBACK_PATH
        # The "web authorization domain" of the OA: redirect_uri must be on this host.
        self.oauth_domain = (env.get("SIM_OAUTH_DOMAIN") or
                             urllib.parse.urlsplit(public).hostname or "127.0.0.1")
        check_callback_url(self.callback_url)


def check_callback_url(url):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not is_loopback_host(parts.hostname):
        raise ValueError(f"callback URL must be http:// on a loopback address, got {url!r}")
    return parts


class Sim:
    """All state, behind one lock. Handlers receive a Request and return a Response."""

    COUNTERS = ("stable_token_calls", "jsapi_ticket_calls", "qrcode_create_calls",
                "template_sends", "rejected_token_calls", "oauth_exchanges", "userinfo_calls",
                "jscode2session_calls", "pushes", "menu_creates")

    def __init__(self, config):
        self.cfg = config
        self.lock = threading.RLock()
        self.router = Router()
        self._reset_hooks = []
        self._stats_hooks = []
        self._body_limits = []  # (path prefix, largest request body) set by extensions
        # Every credential handed to the product (access tokens, tickets, OAuth tokens,
        # session keys): GET /__sim/issued lists them, so that the suite can check that none
        # reached a log. Survives /__sim/reset.
        self.issued = set()
        # Survive /__sim/reset: the access tokens (one per app) and the JS-SDK ticket.
        self.tokens = {config.appid: self._new_token(), config.mp_appid: self._new_token()}
        # openid -> the appid it belongs to, as WeChat knows every openid's app: filled by the
        # login codes, the OA pushes and /__sim/openids; it survives /__sim/reset (the product
        # keeps its users too). WeChat Pay refuses an order whose payer is another app's.
        self.openid_apps = {}
        self.jsapi_ticket = self.issue(rand(URLSAFE, 86))
        self.sns_tokens = {}  # OAuth user access token -> identity
        self._msgid = 1000000000 + secrets.randbelow(10 ** 8)
        self.counters = {}
        self.codes = {}
        self.templates = []
        self.template_latency_ms = 0
        self.qrcodes = []
        self.menu = None  # the Official Account's menu, as the last accepted menu/create set it
        self._clear()

    def issue(self, secret):
        """Records a credential handed to the product (GET /__sim/issued); returns it."""
        self.issued.add(secret)
        return secret

    def _new_token(self):
        return self.issue("SIM_" + rand(URLSAFE, 132))

    def _clear(self):
        self.counters = dict.fromkeys(self.COUNTERS, 0)
        self.codes = {}
        self.templates = []
        self.template_latency_ms = 0
        self.qrcodes = []
        self.menu = None

    # -- extension points

    def route(self, method, path):
        """Decorator: @sim.route("POST", "/v3/pay/transactions/jsapi") def h(req): ..."""
        def deco(fn):
            self.router.add(method, path, fn)
            return fn
        return deco

    def on_reset(self, fn):
        """fn() runs (under the lock) on POST /__sim/reset."""
        self._reset_hooks.append(fn)
        return fn

    def add_stats(self, fn):
        """fn() -> dict merged into GET /__sim/stats."""
        self._stats_hooks.append(fn)
        return fn

    def allow_body(self, prefix, limit):
        """Requests under the path prefix may carry bodies of up to limit bytes."""
        self._body_limits.append((prefix, limit))

    def body_limit(self, path):
        return max([n for p, n in self._body_limits if path.startswith(p)], default=MAX_BODY)

    # -- shared operations

    def count(self, name, n=1):
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def reset(self):
        with self.lock:
            self._clear()
            for fn in self._reset_hooks:
                fn()

    def stats(self):
        with self.lock:
            out = dict(self.counters)
            out["current_token"] = self.tokens[self.cfg.appid]
            out["current_mp_token"] = self.tokens[self.cfg.mp_appid]
            out["jsapi_ticket"] = self.jsapi_ticket
            for fn in self._stats_hooks:
                out.update(fn())
            return out

    def rotate(self):
        with self.lock:
            for appid in self.tokens:
                self.tokens[appid] = self._new_token()
            return self.tokens[self.cfg.appid]

    def token_valid(self, token):
        with self.lock:
            return bool(token) and token in self.tokens.values()

    def know_openid(self, openid, appid):
        """Records that openid is a user of the app appid."""
        with self.lock:
            self.openid_apps[openid] = appid

    def app_of(self, openid):
        """The appid openid belongs to, or None for an openid WeChat never issued."""
        with self.lock:
            return self.openid_apps.get(openid)

    def issue_code(self, kind, openid=None, unionid=None, nickname=None, scope=None):
        code = rand(ALNUM, 32)
        ident = {"kind": kind, "openid": openid or new_openid(), "unionid": unionid or None,
                 "nickname": nickname, "scope": scope, "created": time.monotonic(),
                 "used": False}
        with self.lock:
            self.codes[code] = ident
        self.know_openid(ident["openid"], self.cfg.appid if kind == "oa" else self.cfg.mp_appid)
        return code, ident

    def use_code(self, kind, code):
        """(identity, None) or (None, wx_error response) for a single-use code."""
        with self.lock:
            ident = self.codes.get(code or "")
            if not ident or ident["kind"] != kind or \
                    time.monotonic() - ident["created"] > CODE_TTL:
                return None, wx_error(40029, "invalid code")
            if ident["used"]:
                return None, wx_error(40163, "code been used")
            ident["used"] = True
            return dict(ident), None

    def next_msgid(self):
        with self.lock:
            self._msgid += 1
            return self._msgid


def menu_problem(body):
    """WeChat's checks of a custom menu (menu/create): (errcode, errmsg), or None when valid.
    1–3 buttons, each with 1–5 sub_buttons or a type of its own; names of at most 16 bytes
    (a sub-button's 60); a view button's url an http(s) address of at most 1024 bytes; a
    click button's key at most 128 bytes."""
    buttons = body.get("button") if isinstance(body, dict) else None
    if not isinstance(buttons, list) or not buttons:
        return 40017, "invalid button type"
    if len(buttons) > 3:
        return 40018, "invalid button name size"

    def check(b, top):
        if not isinstance(b, dict):
            return 40017, "invalid button type"
        name = b.get("name")
        if not isinstance(name, str) or not name or len(name.encode()) > (16 if top else 60):
            return 40018, "invalid button name size"
        subs = b.get("sub_button")
        if top and subs:
            if not isinstance(subs, list) or len(subs) > 5:
                return 40023, "invalid sub button size"
            for sub in subs:
                bad = check(sub, False)
                if bad:
                    return bad
            return None
        kind = b.get("type")
        if kind == "view":
            url = b.get("url")
            if not isinstance(url, str) or not re.match(r"https?://", url) or len(url.encode()) > 1024:
                return 40055, "invalid button url domain"
        elif kind == "click":
            key = b.get("key")
            if not isinstance(key, str) or not key or len(key.encode()) > 128:
                return 40019, "invalid button key size"
        else:
            return 40017, "invalid button type"
        return None

    for b in buttons:
        bad = check(b, True)
        if bad:
            return bad
    return None


def require_token(req):
    """None when ?access_token= is the current token, else the WeChat error response."""
    token = req.query.get("access_token")
    if not token:
        req.sim.count("rejected_token_calls")
        return wx_error(41001, "access_token missing")
    if not req.sim.token_valid(token):
        req.sim.count("rejected_token_calls")
        return wx_error(40001, "invalid credential, access_token is invalid or not latest")
    return None


def wx_json_body(req):
    """The JSON body of a WeChat API call, or None (answered 47001 by the caller)."""
    try:
        obj = json.loads(req.body or b"null")
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


# --------------------------------------------------------------------------- WeChat API


def register_wechat(sim):
    cfg = sim.cfg

    @sim.route("POST", "/cgi-bin/stable_token")
    def stable_token(req):
        sim.count("stable_token_calls")
        body = wx_json_body(req)
        if body is None:
            return wx_error(47001, "data format error")
        if body.get("grant_type") != "client_credential":
            return wx_error(40002, "invalid grant_type")
        creds = {cfg.appid: cfg.secret, cfg.mp_appid: cfg.mp_secret}
        appid, secret = body.get("appid"), body.get("secret")
        if appid not in creds or secret != creds[appid]:
            return wx_error(40125, "invalid appsecret")
        with sim.lock:
            if body.get("force_refresh") is True:
                sim.tokens[appid] = sim._new_token()
            token = sim.tokens[appid]
        return json_response({"access_token": token, "expires_in": TOKEN_TTL})

    @sim.route("GET", "/sns/oauth2/access_token")
    def sns_access_token(req):
        sim.count("oauth_exchanges")
        q = req.query
        if q.get("appid") != cfg.appid:
            return wx_error(40013, "invalid appid")
        if q.get("secret") != cfg.secret:
            return wx_error(40125, "invalid appsecret")
        if q.get("grant_type") != "authorization_code":
            return wx_error(40002, "invalid grant_type")
        if not q.get("code"):
            return wx_error(41008, "missing code")
        ident, err = sim.use_code("oa", q["code"])
        if err:
            return err
        access, refresh = sim.issue(rand(URLSAFE, 110)), sim.issue(rand(URLSAFE, 110))
        with sim.lock:
            sim.sns_tokens[access] = dict(ident, expires=time.monotonic() + TOKEN_TTL)
        out = {"access_token": access, "expires_in": TOKEN_TTL, "refresh_token": refresh,
               "openid": ident["openid"], "scope": ident["scope"]}
        if ident["unionid"]:
            out["unionid"] = ident["unionid"]
        return json_response(out)

    @sim.route("GET", "/sns/userinfo")
    def sns_userinfo(req):
        sim.count("userinfo_calls")
        q = req.query
        with sim.lock:
            ident = sim.sns_tokens.get(q.get("access_token") or "")
        if not ident or time.monotonic() > ident["expires"]:
            return wx_error(40001, "invalid credential, access_token is invalid or not latest")
        if q.get("openid") != ident["openid"]:
            return wx_error(40003, "invalid openid")
        if ident["scope"] != "snsapi_userinfo":
            return wx_error(48001, "api unauthorized")
        openid = ident["openid"]
        out = {"openid": openid, "nickname": ident["nickname"] or "SimUser-" + openid[-6:],
               "sex": 0, "province": "", "city": "", "country": "",
               "headimgurl": f"{cfg.base_url}/__sim/avatar/{openid}.png", "privilege": []}
        if ident["unionid"]:
            out["unionid"] = ident["unionid"]
        return json_response(out)

    @sim.route("GET", "/sns/jscode2session")
    def jscode2session(req):
        sim.count("jscode2session_calls")
        q = req.query
        if q.get("appid") != cfg.mp_appid:
            return wx_error(40013, "invalid appid")
        if q.get("secret") != cfg.mp_secret:
            return wx_error(40125, "invalid appsecret")
        if q.get("grant_type") != "authorization_code":
            return wx_error(40002, "invalid grant_type")
        if not q.get("js_code"):
            return wx_error(41008, "missing code")
        ident, err = sim.use_code("mp", q["js_code"])
        if err:
            return err
        out = {"openid": ident["openid"],
               "session_key": sim.issue(base64.b64encode(secrets.token_bytes(16)).decode("ascii"))}
        if ident["unionid"]:
            out["unionid"] = ident["unionid"]
        return json_response(out)

    @sim.route("POST", "/cgi-bin/qrcode/create")
    def qrcode_create(req):
        sim.count("qrcode_create_calls")
        err = require_token(req)
        if err:
            return err
        body = wx_json_body(req)
        if body is None:
            return wx_error(47001, "data format error")
        action = body.get("action_name")
        scene = (body.get("action_info") or {}).get("scene") or {}
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            return wx_error(40097, "invalid args: action_name")
        if action.endswith("STR_SCENE"):
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                return wx_error(40097, "invalid args: scene_str must be 1..64 characters")
        else:
            value = scene.get("scene_id")
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                return wx_error(40097, "invalid args: scene_id")
        temporary = "LIMIT" not in action
        expire = body.get("expire_seconds", 60)
        if temporary and (not isinstance(expire, int) or isinstance(expire, bool) or expire <= 0):
            return wx_error(40097, "invalid args: expire_seconds")
        expire = min(expire, 2592000) if temporary else None
        ticket = "gQ" + base64.b64encode(secrets.token_bytes(72)).decode("ascii")
        url = "http://weixin.qq.com/q/" + rand(URLSAFE, 22)
        rec = {"ticket": ticket, "action_name": action, "expire_seconds": expire, "url": url,
               "scene_str" if action.endswith("STR_SCENE") else "scene_id": value,
               "created_at": int(time.time())}
        with sim.lock:
            sim.qrcodes.append(rec)
        out = {"ticket": ticket, "url": url}
        if temporary:
            out = {"ticket": ticket, "expire_seconds": expire, "url": url}
        return json_response(out)

    @sim.route("GET", "/cgi-bin/showqrcode")
    def showqrcode(req):
        with sim.lock:
            known = any(r["ticket"] == req.query.get("ticket") for r in sim.qrcodes)
        if not known:
            raise HttpError(404, "unknown ticket")
        return Response(200, tiny_png((0, 0, 0)), "image/png")

    @sim.route("GET", "/cgi-bin/ticket/getticket")
    def getticket(req):
        sim.count("jsapi_ticket_calls")
        err = require_token(req)
        if err:
            return err
        if req.query.get("type") != "jsapi":
            return wx_error(40097, "invalid args: type")
        with sim.lock:
            ticket = sim.jsapi_ticket
        return json_response({"errcode": 0, "errmsg": "ok", "ticket": ticket,
                              "expires_in": TOKEN_TTL})

    @sim.route("POST", "/cgi-bin/message/template/send")
    def template_send(req):
        err = require_token(req)
        if err:
            return err
        body = wx_json_body(req)
        if body is None:
            return wx_error(47001, "data format error")
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return wx_error(40003, "invalid openid")
        if not isinstance(body.get("template_id"), str) or not body["template_id"]:
            return wx_error(40037, "invalid template_id")
        if not isinstance(body.get("data"), dict):
            return wx_error(47001, "data format error")
        with sim.lock:
            latency = sim.template_latency_ms
        time.sleep(latency / 1000.0)  # a slow WeChat; other requests are answered meanwhile
        msgid = sim.next_msgid()
        with sim.lock:
            sim.templates.append(dict(body, msgid=msgid, received_at=int(time.time())))
            sim.counters["template_sends"] += 1
        return json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    @sim.route("POST", "/cgi-bin/menu/create")
    def menu_create(req):
        body = wx_json_body(req)
        problem = (47001, "data format error") if body is None else menu_problem(body)
        err = require_token(req) or (wx_error(*problem) if problem else None)
        if err:
            return err
        with sim.lock:
            sim.menu = body
            sim.counters["menu_creates"] += 1
        return json_response({"errcode": 0, "errmsg": "ok"})

    @sim.route("GET", "/open/connect/oauth2/authorize")
    def authorize(req):
        q = req.query
        if q.get("appid") != cfg.appid:
            return html_page(400, "invalid appid", "errcode 10016: the appid is not an OA of "
                             "this simulator")
        redirect = q.get("redirect_uri") or ""
        parts = urllib.parse.urlsplit(redirect)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return html_page(400, "invalid redirect_uri", "errcode 10003: redirect_uri is not "
                             "an absolute http(s) URL")
        if cfg.oauth_domain != "*" and parts.hostname != cfg.oauth_domain:
            return html_page(400, "redirect_uri domain mismatch",
                             f"errcode 10003: redirect_uri host {parts.hostname} is not the "
                             f"authorized domain {cfg.oauth_domain}")
        if q.get("response_type") != "code":
            return html_page(400, "invalid response_type", "errcode 10004: response_type "
                             "must be code")
        scope = q.get("scope")
        if scope not in ("snsapi_base", "snsapi_userinfo"):
            return html_page(400, "invalid scope", "errcode 10005: scope must be snsapi_base "
                             "or snsapi_userinfo")
        code, _ = sim.issue_code("oa", q.get("sim_openid"), q.get("sim_unionid"),
                                 q.get("sim_nickname"), scope)
        extra = urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
        query = parts.query + "&" + extra if parts.query else extra
        location = urllib.parse.urlunsplit(parts._replace(query=query))
        return Response(302, html.escape(location), "text/html; charset=utf-8",
                        [("Location", location)])


# --------------------------------------------------------------------------- pushes


TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def xml_value(value):
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "".join(xml_element(k, v) for k, v in value.items())
    if isinstance(value, list):
        return "".join(xml_element("item", v) for v in value)
    if value is None:
        return ""
    return wxcrypto.cdata(value)


def xml_element(tag, value):
    if not TAG.match(str(tag)):
        raise HttpError(400, f"not an XML element name: {tag!r}")
    return f"<{tag}>{xml_value(value)}</{tag}>"


def build_message(sim, fields, from_user, create_time=None):
    """The XML WeChat posts: ToUserName, FromUserName, CreateTime, then the fields."""
    if not isinstance(fields, dict):
        raise HttpError(400, '"event" must be an object of XML fields')
    fields = dict(fields)
    to_user = fields.pop("ToUserName", sim.cfg.original_id)
    from_user = fields.pop("FromUserName", from_user)
    ctime = fields.pop("CreateTime", create_time)
    if not from_user:
        raise HttpError(400, '"from" (the openid) is required')
    if ctime is None:
        ctime = int(time.time())
    if not isinstance(ctime, int) or isinstance(ctime, bool):
        raise HttpError(400, "create_time must be an integer")
    head = [("ToUserName", to_user), ("FromUserName", from_user), ("CreateTime", ctime)]
    sim.know_openid(from_user, sim.cfg.appid)  # whoever messages the OA is one of its users
    return "<xml>" + "".join(xml_element(k, v) for k, v in head + list(fields.items())) + \
        "</xml>", from_user


def _wrong(sig):
    return wxcrypto.sha1_sorted("not-the-token", sig)


def push(sim, xml_text, openid, mode="plain", signature="good", url=None):
    """POST one message to the product as WeChat does; returns the control API's answer."""
    cfg = sim.cfg
    if mode not in ("plain", "safe"):
        raise HttpError(400, 'mode must be "plain" or "safe"')
    if signature not in ("good", "bad", "missing"):
        raise HttpError(400, 'signature must be "good", "bad" or "missing"')
    try:
        target = check_callback_url(url or cfg.callback_url)
    except ValueError as err:
        raise HttpError(400, str(err)) from None
    ts = str(int(time.time()))
    nonce = str(1000000000 + secrets.randbelow(9000000000))
    sig = wxcrypto.sha1_sorted(cfg.token, ts, nonce)
    query = [("signature", sig if signature == "good" else _wrong(sig)),
             ("timestamp", ts), ("nonce", nonce), ("openid", openid or "")]
    if mode == "safe":
        enc = wxcrypto.encrypt(cfg.aes_key, xml_text, cfg.appid)
        msig = wxcrypto.sha1_sorted(cfg.token, ts, nonce, enc)
        query += [("encrypt_type", "aes"),
                  ("msg_signature", msig if signature == "good" else _wrong(msig))]
        body = wxcrypto.push_envelope(cfg.original_id, enc)
    else:
        body = xml_text
    if signature == "missing":
        query = [(k, v) for k, v in query if k not in ("signature", "msg_signature")]
    path = (target.path or "/") + "?" + \
        ("&".join(x for x in (target.query, urllib.parse.urlencode(query)) if x))
    sim.count("pushes")
    started = time.monotonic()
    conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=PUSH_TIMEOUT)
    try:
        conn.request("POST", path, body=body.encode("utf-8"),
                     headers={"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0",
                              "Accept": "*/*", "Pragma": "no-cache"})
        resp = conn.getresponse()
        status, raw = resp.status, resp.read()
    except (OSError, http.client.HTTPException) as err:
        log("warn", "push failed", url=target.geturl(), error=str(err))
        raise HttpError(502, f"push to {target.geturl()} failed: {err}") from None
    finally:
        conn.close()
    elapsed = int((time.monotonic() - started) * 1000)
    text = raw.decode("utf-8", errors="replace")
    out = {"status": status, "body": text, "reply": text, "reply_signature_ok": None,
           "sent_xml": xml_text, "elapsed_ms": elapsed}
    if mode == "safe" and status == 200 and text.strip() not in ("", "success"):
        out.update(open_reply(cfg, text))
    log("info", "push", mode=mode, signature=signature, status=status, ms=elapsed)
    return out


def open_reply(cfg, text):
    """Check and decrypt an encrypted passive reply: reply, reply_signature_ok[, reply_error]."""
    try:
        env = wxcrypto.xml_fields(text)
    except ValueError as err:
        return {"reply": None, "reply_signature_ok": False, "reply_error": str(err)}
    missing = [k for k in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce") if not env.get(k)]
    if missing:
        return {"reply": None, "reply_signature_ok": False,
                "reply_error": "reply envelope lacks " + ", ".join(missing)}
    expect = wxcrypto.sha1_sorted(cfg.token, env["TimeStamp"], env["Nonce"], env["Encrypt"])
    out = {"reply_signature_ok": expect == env["MsgSignature"]}
    try:
        msg, appid = wxcrypto.decrypt(cfg.aes_key, env["Encrypt"])
    except ValueError as err:
        out.update(reply=None, reply_error=f"cannot decrypt the reply: {err}")
        return out
    if appid != cfg.appid:
        out.update(reply=None, reply_error=f"reply is for appid {appid!r}")
        return out
    out["reply"] = msg.decode("utf-8", errors="replace")
    if not out["reply_signature_ok"]:
        out["reply_error"] = "MsgSignature of the reply does not match"
    return out


# --------------------------------------------------------------------------- control API


def register_control(sim):
    cfg = sim.cfg

    @sim.route("POST", "/__sim/reset")
    def reset(req):
        sim.reset()
        return json_response({"ok": True})

    @sim.route("GET", "/__sim/stats")
    def stats(req):
        return json_response(sim.stats())

    @sim.route("GET", "/__sim/issued")
    def issued(req):
        with sim.lock:
            return json_response({"secrets": sorted(sim.issued)})

    @sim.route("POST", "/__sim/token/rotate")
    def rotate(req):
        return json_response({"current_token": sim.rotate()})

    def code_request(req, kind):
        body = req.json()
        for k in ("openid", "unionid", "nickname", "scope"):
            if body.get(k) is not None and not isinstance(body[k], str):
                raise HttpError(400, f'"{k}" must be a string')
        scope = body.get("scope") or "snsapi_userinfo"
        if kind == "oa" and scope not in ("snsapi_base", "snsapi_userinfo"):
            raise HttpError(400, 'scope must be "snsapi_base" or "snsapi_userinfo"')
        code, ident = sim.issue_code(kind, body.get("openid"), body.get("unionid"),
                                     body.get("nickname"), scope if kind == "oa" else None)
        return json_response({"code": code, "openid": ident["openid"]})

    @sim.route("POST", "/__sim/oauth/code")
    def oauth_code(req):
        return code_request(req, "oa")

    @sim.route("POST", "/__sim/mp/code")
    def mp_code(req):
        return code_request(req, "mp")

    @sim.route("POST", "/__sim/openids")
    def openids(req):
        """Makes an openid one of an app's users without a login (a user the product knows
        from elsewhere, e.g. rows a test wrote itself)."""
        body = req.json()
        openid, app = body.get("openid"), body.get("app")
        if not isinstance(openid, str) or not openid:
            raise HttpError(400, '"openid" is required')
        if app not in ("oa", "mp"):
            raise HttpError(400, '"app" must be "oa" or "mp"')
        appid = cfg.appid if app == "oa" else cfg.mp_appid
        sim.know_openid(openid, appid)
        return json_response({"openid": openid, "appid": appid})

    @sim.route("GET", "/__sim/templates")
    def templates(req):
        with sim.lock:
            return json_response(list(sim.templates))

    @sim.route("GET", "/__sim/menu")
    def menu(req):
        with sim.lock:
            return json_response(sim.menu)

    @sim.route("POST", "/__sim/templates/config")
    def templates_config(req):
        ms = req.json().get("latency_ms")
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= 10000:
            raise HttpError(400, '"latency_ms" must be an integer of 0..10000')
        with sim.lock:
            sim.template_latency_ms = ms
        return json_response({"latency_ms": ms})

    @sim.route("GET", "/__sim/qrcodes")
    def qrcodes(req):
        with sim.lock:
            return json_response(list(sim.qrcodes))

    @sim.route("POST", "/__sim/oa/push")
    def oa_push(req):
        body = req.json()
        fields = body.get("event", body.get("message"))
        if ("xml" in body) == (fields is not None):
            raise HttpError(400, 'give exactly one of "xml" and "event"')
        if "xml" in body:
            xml_text = body["xml"]
            if not isinstance(xml_text, str):
                raise HttpError(400, '"xml" must be a string')
            openid = body.get("from")
            if not openid:
                try:
                    openid = wxcrypto.xml_fields(xml_text).get("FromUserName", "")
                except ValueError:
                    openid = ""
        else:
            xml_text, openid = build_message(sim, fields, body.get("from"),
                                             body.get("create_time"))
        return json_response(push(sim, xml_text, openid, body.get("mode", "plain"),
                                  body.get("signature", "good"), body.get("url")))

    @sim.route("POST", "/__sim/qr/scan")
    def qr_scan(req):
        body = req.json()
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            raise HttpError(400, '"openid" is required')
        scene, ticket = body.get("scene_str"), body.get("ticket")
        with sim.lock:
            if ticket:
                rec = next((r for r in sim.qrcodes if r["ticket"] == ticket), None)
                if rec is None:
                    raise HttpError(404, "unknown ticket")
                scene = str(rec.get("scene_str", rec.get("scene_id")))
            elif scene:
                rec = next((r for r in reversed(sim.qrcodes)
                            if r.get("scene_str") == scene), None)
                # A scene the product never asked for still scans, with an unknown ticket.
                ticket = rec["ticket"] if rec else \
                    "gQ" + base64.b64encode(secrets.token_bytes(72)).decode("ascii")
            else:
                raise HttpError(400, 'give "scene_str" or "ticket"')
        if body.get("subscribed"):
            fields = {"MsgType": "event", "Event": "SCAN", "EventKey": scene, "Ticket": ticket}
        else:
            fields = {"MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_" + scene,
                      "Ticket": ticket}
        xml_text, openid = build_message(sim, fields, openid, body.get("create_time"))
        return json_response(push(sim, xml_text, openid, body.get("mode", "plain"),
                                  body.get("signature", "good"), body.get("url")))

    @sim.route("POST", "/__sim/oa/verify")
    def oa_verify(req):
        """The GET with echostr that WeChat sends when the server URL is configured."""
        body = req.json()
        kind = body.get("signature", "good")
        try:
            target = check_callback_url(body.get("url") or cfg.callback_url)
        except ValueError as err:
            raise HttpError(400, str(err)) from None
        ts, nonce = str(int(time.time())), str(1000000000 + secrets.randbelow(9000000000))
        echostr = body.get("echostr") or str(secrets.randbelow(10 ** 19))
        sig = wxcrypto.sha1_sorted(cfg.token, ts, nonce)
        query = urllib.parse.urlencode({"signature": sig if kind == "good" else _wrong(sig),
                                        "timestamp": ts, "nonce": nonce, "echostr": echostr})
        conn = http.client.HTTPConnection(target.hostname, target.port or 80,
                                          timeout=PUSH_TIMEOUT)
        try:
            conn.request("GET", (target.path or "/") + "?" + query)
            resp = conn.getresponse()
            status, raw = resp.status, resp.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as err:
            raise HttpError(502, f"verify GET to {target.geturl()} failed: {err}") from None
        finally:
            conn.close()
        return json_response({"status": status, "body": raw, "echostr": echostr,
                              "echo_ok": status == 200 and raw == echostr})

    @sim.route("GET", "/__sim/avatar/{name}")
    def avatar(req):
        return Response(200, tiny_png(), "image/png")


# --------------------------------------------------------------------------- extensions


def load_extensions(sim):
    names = sorted(p.stem for p in HERE.glob("ext_*.py"))
    names += [n.strip() for n in os.environ.get("SIM_EXTENSIONS", "").split(",") if n.strip()]
    loaded = []
    for name in dict.fromkeys(names):
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if callable(register):
            register(sim)
            loaded.append(name)
    return loaded


# --------------------------------------------------------------------------- HTTP server


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aiphoto-sim/1"

    def version_string(self):
        return self.server_version

    def _dispatch(self):
        started = time.monotonic()
        sim = self.server.sim
        parts = urllib.parse.urlsplit(self.path)
        resp = None
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raise HttpError(411, "send a Content-Length")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise HttpError(400, "bad Content-Length") from None
            if length < 0 or length > sim.body_limit(parts.path):
                raise HttpError(413, "body too large")
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, parts.path, parts.query, self.headers, body, sim)
            req.connection = self.connection
            fn, extra = sim.router.match(self.command, parts.path)
            if fn is None:
                if extra:
                    resp = json_response({"error": "method not allowed"}, 405)
                    resp.headers.append(("Allow", ", ".join(extra)))
                else:
                    resp = json_response({"error": f"no such path: {parts.path}"}, 404)
            else:
                req.params = extra
                resp = fn(req)
        except HttpError as err:
            resp = json_response({"error": err.message}, err.status)
        except Exception as err:  # a simulator bug: say so, keep serving
            log("error", "handler failed", path=parts.path, error=repr(err))
            resp = json_response({"error": f"simulator error: {err!r}"}, 500)
        if resp.drop:  # no answer at all: the client sees the connection close
            self.close_connection = True
            log("info", "request", method=self.command, path=parts.path, status=None,
                ms=round((time.monotonic() - started) * 1000, 1))
            return
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            length = len(resp.body) if resp.stream is None else resp.length
            self.send_header("Content-Length", str(length))
            for k, v in resp.headers:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                if resp.stream is None:
                    self.wfile.write(resp.body)
                else:
                    for chunk in resp.stream:
                        self.wfile.write(chunk)
        except OSError:
            self.close_connection = True
        log("info", "request", method=self.command, path=parts.path, status=resp.status,
            ms=round((time.monotonic() - started) * 1000, 1))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def log_message(self, fmt, *args):  # the access log is the JSON line of _dispatch
        pass

    def log_error(self, fmt, *args):
        log("warn", "http", detail=fmt % args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # many clients connecting at once (the AI dispatcher's parallel calls)


def main(argv=None):
    ap = argparse.ArgumentParser(description="WeChat simulator of the aiphoto local stack")
    ap.add_argument("--port", type=int, default=int(os.environ.get("SIM_PORT") or 0))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--private-link", action="store_true",
                    help="allow --host to be a private (RFC 1918) address: the address of a veth "
                         "link that only this machine's network namespaces reach (scripts/hosts)")
    args = ap.parse_args(argv)
    if not 0 < args.port < 65536:
        ap.error("give --port or SIM_PORT")
    if not is_loopback_host(args.host) and not (args.private_link and is_private_ipv4(args.host)):
        ap.error("the simulator listens on loopback addresses only "
                 "(or, with --private-link, a private IPv4 address)")
    try:
        sim = Sim(Config(args.port))
    except ValueError as err:
        log("error", "bad configuration", error=str(err))
        return 2
    register_wechat(sim)
    register_control(sim)
    extensions = load_extensions(sim)
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as err:
        log("error", "cannot listen", host=args.host, port=args.port, error=str(err))
        return 1
    server.sim = sim

    def stop(signum, _frame):
        log("info", "stopping", signal=signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("info", "listening", url=f"http://{args.host}:{args.port}", appid=sim.cfg.appid,
        mp_appid=sim.cfg.mp_appid, callback=sim.cfg.callback_url, extensions=extensions)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    log("info", "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
