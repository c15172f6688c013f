"""Self-tests of the WeChat simulator (tests/sim/).

The first part checks the simulator's message crypto (tests/sim/wxcrypto.py) against published
vectors of the WeChat SDKs, with no stack needed. The second part talks to the running
simulator (AIPHOTO_SIM_URL, exported by `scripts/stack env` when the stack runs it): tokens,
OAuth and mini-program codes, the authorize redirect, and pushes, which go to a small callback
server inside this test that checks signatures and decrypts with its own code.
"""

import base64
import hashlib
import http.server
import os
import pathlib
import struct
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.dont_write_bytecode = True
sys.path.insert(0, str(REPO / "tests" / "sim"))
import devcreds  # noqa: E402
import wxcrypto  # noqa: E402

# The credentials the stack must export: the file both read (scripts/dev-credentials.env).
DEV = {name: devcreds.DEV[name] for name in (
    "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_MP_APPID",
    "WECHAT_MP_SECRET")}
TIMEOUT = 10

# --------------------------------------------------------------------------- vectors
# wechatpy tests/test_crypto.py (receive id wx49f0ab532d5d035a, token 123456)
WP_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
WP_ID = "wx49f0ab532d5d035a"
WP_TS, WP_NONCE = "1411525903", "461056294"
WP_ENCRYPTED = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCr"
    "sTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+"
    "BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7v"
    "XUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShy"
    "qio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=")
WP_REPLY = (b"<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
            b"<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
            b"<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
            b"<CreateTime>1411525903</CreateTime>\n</xml>")
WP_REPLY_ENCRYPTED = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqG"
    "sL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZ"
    "SjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UP"
    "PJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2"
    "XeFYFMNMpatF9XiKzHo3")
# easywechat tests/Kernel/EncryptorTest.php and WxJava WxCryptUtilTest: the official sample
# parameters (whose EncodingAESKey the local stack also uses).
OFFICIAL_APPID = "wxb11529c136998cb6"
OFFICIAL_ENCRYPTED = (
    "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcg"
    "rkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXF"
    "K0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpz"
    "N4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+W"
    "BvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvau"
    "NulCh+++yz+CQzBIuikA==")


def test_signature_vectors():
    assert wxcrypto.sha1_sorted("test", "1410685589", "test") == \
        "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    assert wxcrypto.sha1_sorted("789", "456", "123") == "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
    assert wxcrypto.sha1_sorted("123456", WP_TS, WP_NONCE, WP_ENCRYPTED) == \
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    assert wxcrypto.sha1_sorted("pamtest", "1458300676", "260774613", OFFICIAL_ENCRYPTED) == \
        "4f3ad57b6989f09f4eb392acce4f9e93942ed890"


def test_encrypt_matches_the_wechatpy_vector():
    key = wxcrypto.aes_key(WP_KEY)
    enc = wxcrypto.encrypt(key, WP_REPLY, WP_ID, random16=b"1234567890123456")
    assert enc == WP_REPLY_ENCRYPTED
    assert wxcrypto.sha1_sorted("123456", WP_TS, WP_NONCE, enc) == \
        "407518b7649e86ef23978113f92d27afa9296533"
    assert wxcrypto.decrypt(key, enc) == (WP_REPLY, WP_ID)


def test_encrypt_matches_the_official_sample_vector():
    key = wxcrypto.aes_key(DEV["WECHAT_AES_KEY"])
    enc = wxcrypto.encrypt(key, "我是中文abcd123", OFFICIAL_APPID, random16="aaaabbbbccccdddd")
    assert enc == ("jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGM"
                   "hkP72vVOfg==")


def test_decrypt_vectors():
    msg, rid = wxcrypto.decrypt(wxcrypto.aes_key(WP_KEY), WP_ENCRYPTED)
    assert rid == WP_ID
    fields = wxcrypto.xml_fields(msg)
    assert fields["Content"] == "test" and fields["FromUserName"] == "messense"
    msg, rid = wxcrypto.decrypt(wxcrypto.aes_key(DEV["WECHAT_AES_KEY"]), OFFICIAL_ENCRYPTED)
    assert rid == OFFICIAL_APPID
    fields = wxcrypto.xml_fields(msg)
    assert fields["Content"] == "hello" and fields["ToUserName"] == "asdasdasd"


def test_padding_adds_a_whole_block_when_aligned():
    key = wxcrypto.aes_key(DEV["WECHAT_AES_KEY"])
    appid = DEV["WECHAT_APPID"]
    msg = b"x" * (64 - 20 - len(appid))  # the frame is exactly two 32-byte blocks
    raw = base64.b64decode(wxcrypto.encrypt(key, msg, appid))
    assert len(raw) == 96
    assert wxcrypto.decrypt(key, base64.b64encode(raw).decode()) == (msg, appid)


def test_decrypt_rejects_garbage():
    key = wxcrypto.aes_key(DEV["WECHAT_AES_KEY"])
    for bad in ("", "not base64!", base64.b64encode(b"short").decode(),
                base64.b64encode(bytes(32)).decode()):
        with pytest.raises(ValueError):
            wxcrypto.decrypt(key, bad)
    with pytest.raises(ValueError):
        wxcrypto.aes_key("tooshort")
    with pytest.raises(ValueError):
        wxcrypto.xml_fields('<!DOCTYPE x [<!ENTITY a "b">]><xml><A>&a;</A></xml>')


# --------------------------------------------------------------------------- the running simulator


@pytest.fixture(scope="module")
def simc():
    url = os.environ.get("AIPHOTO_SIM_URL")
    if not url:
        pytest.skip("AIPHOTO_SIM_URL is not set: the stack does not run the simulator "
                    "(WECHAT_APPID is configured)")
    s = requests.Session()
    yield url.rstrip("/"), s
    s.close()


def call(simc, method, path, **kwargs):
    base, session = simc
    kwargs.setdefault("timeout", TIMEOUT)
    kwargs.setdefault("allow_redirects", False)
    return session.request(method, base + path, **kwargs)


def cfg(name):
    return os.environ.get(name) or DEV[name]


def stats(simc):
    r = call(simc, "GET", "/__sim/stats")
    assert r.status_code == 200, r.text
    return r.json()


def stable_token(simc, secret=None, force=False):
    r = call(simc, "POST", "/cgi-bin/stable_token",
             json={"grant_type": "client_credential", "appid": cfg("WECHAT_APPID"),
                   "secret": secret or cfg("WECHAT_SECRET"), "force_refresh": force})
    assert r.status_code == 200
    return r.json()


def test_stack_exports_the_documented_dev_credentials(simc):
    for name, value in DEV.items():
        assert os.environ.get(name) == value, name
    base = simc[0]
    assert os.environ.get("WECHAT_API_BASE") == base
    assert os.environ.get("WECHAT_OPEN_BASE") == base + "/open"


def test_stable_token_is_shared_counted_and_rotated(simc):
    assert call(simc, "POST", "/__sim/reset").status_code == 200
    assert stable_token(simc, secret="wrong") == {"errcode": 40125, "errmsg": "invalid appsecret"}
    first = stable_token(simc)
    assert set(first) == {"access_token", "expires_in"} and first["expires_in"] == 7200
    assert stable_token(simc)["access_token"] == first["access_token"]
    st = stats(simc)
    assert st["stable_token_calls"] == 3
    assert st["current_token"] == first["access_token"]
    for key in ("jsapi_ticket_calls", "qrcode_create_calls", "template_sends"):
        assert st[key] == 0, key

    old = first["access_token"]
    r = call(simc, "GET", "/cgi-bin/ticket/getticket", params={"access_token": old, "type": "jsapi"})
    ticket = r.json()
    assert ticket["errcode"] == 0 and ticket["errmsg"] == "ok" and ticket["expires_in"] == 7200
    assert ticket["ticket"]

    r = call(simc, "POST", "/__sim/token/rotate")
    assert r.status_code == 200
    new = stats(simc)["current_token"]
    assert new != old
    r = call(simc, "GET", "/cgi-bin/ticket/getticket", params={"access_token": old, "type": "jsapi"})
    assert r.status_code == 200
    assert r.json() == {"errcode": 40001,
                        "errmsg": "invalid credential, access_token is invalid or not latest"}
    assert stable_token(simc)["access_token"] == new
    r = call(simc, "GET", "/cgi-bin/ticket/getticket", params={"access_token": new, "type": "jsapi"})
    assert r.json()["ticket"] == ticket["ticket"]
    forced = stable_token(simc, force=True)["access_token"]
    assert forced != new and stats(simc)["current_token"] == forced
    st = stats(simc)
    assert st["stable_token_calls"] == 5 and st["jsapi_ticket_calls"] == 3

    call(simc, "POST", "/__sim/reset")
    st = stats(simc)
    assert st["stable_token_calls"] == 0 and st["current_token"] == forced


def test_template_send_is_recorded(simc):
    call(simc, "POST", "/__sim/reset")
    token = stable_token(simc)["access_token"]
    msg = {"touser": "oTemplateUser0000000000000001", "template_id": "tpl-1",
           "url": "http://127.0.0.1/x", "data": {"first": {"value": "完成"}}}
    r = call(simc, "POST", "/cgi-bin/message/template/send", params={"access_token": token},
             json=msg)
    body = r.json()
    assert body["errcode"] == 0 and body["errmsg"] == "ok" and isinstance(body["msgid"], int)
    r = call(simc, "POST", "/cgi-bin/message/template/send",
             params={"access_token": "stale"}, json=msg)
    assert r.json()["errcode"] == 40001
    sent = call(simc, "GET", "/__sim/templates").json()
    assert len(sent) == 1 and sent[0]["data"] == msg["data"] and sent[0]["msgid"] == body["msgid"]
    assert stats(simc)["template_sends"] == 1


def test_oauth_codes_are_single_use(simc):
    r = call(simc, "POST", "/__sim/oauth/code",
             json={"unionid": "uSimUnion01", "nickname": "小明", "scope": "snsapi_userinfo"})
    assert r.status_code == 200
    code, openid = r.json()["code"], r.json()["openid"]
    assert openid.startswith("o") and len(openid) == 28
    params = {"appid": cfg("WECHAT_APPID"), "secret": cfg("WECHAT_SECRET"), "code": code,
              "grant_type": "authorization_code"}
    tok = call(simc, "GET", "/sns/oauth2/access_token", params=params).json()
    assert tok["openid"] == openid and tok["scope"] == "snsapi_userinfo"
    assert tok["unionid"] == "uSimUnion01" and tok["expires_in"] == 7200
    assert tok["access_token"] and tok["refresh_token"]
    again = call(simc, "GET", "/sns/oauth2/access_token", params=params).json()
    assert again == {"errcode": 40163, "errmsg": "code been used"}
    unknown = call(simc, "GET", "/sns/oauth2/access_token", params=dict(params, code="nope")).json()
    assert unknown == {"errcode": 40029, "errmsg": "invalid code"}

    info = call(simc, "GET", "/sns/userinfo", params={"access_token": tok["access_token"],
                                                     "openid": openid, "lang": "zh_CN"}).json()
    assert info["openid"] == openid and info["nickname"] == "小明"
    assert info["unionid"] == "uSimUnion01" and info["privilege"] == []
    assert {"sex", "province", "city", "country", "headimgurl"} <= set(info)
    bad = call(simc, "GET", "/sns/userinfo", params={"access_token": "x", "openid": openid}).json()
    assert bad["errcode"] == 40001

    # A snsapi_base code gives an openid, no userinfo.
    code = call(simc, "POST", "/__sim/oauth/code", json={"openid": "oBaseOnly",
                                                          "scope": "snsapi_base"}).json()["code"]
    tok = call(simc, "GET", "/sns/oauth2/access_token", params=dict(params, code=code)).json()
    assert tok["openid"] == "oBaseOnly" and tok["scope"] == "snsapi_base" and "unionid" not in tok
    info = call(simc, "GET", "/sns/userinfo", params={"access_token": tok["access_token"],
                                                     "openid": "oBaseOnly"}).json()
    assert info["errcode"] == 48001


def test_jscode2session(simc):
    r = call(simc, "POST", "/__sim/mp/code", json={"openid": "oMiniProgramUser", "unionid": "uMP1"})
    code = r.json()["code"]
    assert r.json()["openid"] == "oMiniProgramUser"
    params = {"appid": cfg("WECHAT_MP_APPID"), "secret": cfg("WECHAT_MP_SECRET"),
              "js_code": code, "grant_type": "authorization_code"}
    oa = call(simc, "GET", "/sns/jscode2session",
              params=dict(params, appid=cfg("WECHAT_APPID"))).json()
    assert oa["errcode"] == 40013
    sess = call(simc, "GET", "/sns/jscode2session", params=params).json()
    assert sess["openid"] == "oMiniProgramUser" and sess["unionid"] == "uMP1"
    assert len(base64.b64decode(sess["session_key"])) == 16
    assert call(simc, "GET", "/sns/jscode2session", params=params).json() == \
        {"errcode": 40163, "errmsg": "code been used"}
    assert call(simc, "GET", "/sns/jscode2session", params=dict(params, js_code="zz")).json() == \
        {"errcode": 40029, "errmsg": "invalid code"}
    # Codes of the two kinds are not interchangeable.
    oa_code = call(simc, "POST", "/__sim/oauth/code", json={}).json()["code"]
    assert call(simc, "GET", "/sns/jscode2session",
                params=dict(params, js_code=oa_code)).json()["errcode"] == 40029


def test_authorize_redirects_with_a_fresh_code(simc):
    redirect = "http://127.0.0.1:8080/wechat/member.html?from=menu"
    q = {"appid": cfg("WECHAT_APPID"), "redirect_uri": redirect, "response_type": "code",
         "scope": "snsapi_base", "state": "st-42", "sim_openid": "oAuthorizeTest"}
    r = call(simc, "GET", "/open/connect/oauth2/authorize?" + urllib.parse.urlencode(q) +
             "#wechat_redirect")
    assert r.status_code == 302, r.text
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert loc._replace(query="").geturl() == "http://127.0.0.1:8080/wechat/member.html"
    got = urllib.parse.parse_qs(loc.query)
    assert got["from"] == ["menu"] and got["state"] == ["st-42"] and len(got["code"]) == 1
    tok = call(simc, "GET", "/sns/oauth2/access_token",
               params={"appid": cfg("WECHAT_APPID"), "secret": cfg("WECHAT_SECRET"),
                       "code": got["code"][0], "grant_type": "authorization_code"}).json()
    assert tok["openid"] == "oAuthorizeTest" and tok["scope"] == "snsapi_base"

    # Without sim_openid every authorization is a new generated user.
    q.pop("sim_openid")
    codes = set()
    for _ in range(2):
        r = call(simc, "GET", "/open/connect/oauth2/authorize", params=q)
        assert r.status_code == 302
        codes.add(urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
                  ["code"][0])
    assert len(codes) == 2

    assert call(simc, "GET", "/open/connect/oauth2/authorize",
                params=dict(q, appid="wx0000000000000000")).status_code == 400
    assert call(simc, "GET", "/open/connect/oauth2/authorize",
                params=dict(q, scope="snsapi_login")).status_code == 400


# --------------------------------------------------------------------------- pushes


def _aes_cbc_open(encoding_aes_key, b64):
    """An independent decryption of a safe-mode Encrypt value: (msg, appid)."""
    key = base64.b64decode(encoding_aes_key + "=")
    d = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = d.update(base64.b64decode(b64)) + d.finalize()
    plain = plain[:-plain[-1]]
    n = struct.unpack(">I", plain[16:20])[0]
    return plain[20:20 + n], plain[20 + n:].decode()


def _sha1_sorted(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class Receiver(http.server.ThreadingHTTPServer):
    """A stand-in for the product's callback: checks what WeChat would send."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.seen = []
        self.reply_text = None  # passive reply content for text messages
        self.break_reply_signature = False


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        srv = self.server
        parts = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = cfg("WECHAT_TOKEN")
        rec = {"path": parts.path, "query": q, "content_type": self.headers.get("Content-Type"),
               "body": body}
        rec["signature_ok"] = q.get("signature") == _sha1_sorted(token, q.get("timestamp", ""),
                                                                 q.get("nonce", ""))
        xml_text = body
        if q.get("encrypt_type") == "aes":
            env = {c.tag: c.text for c in ET.fromstring(body)}
            rec["envelope"] = env
            rec["msg_signature_ok"] = q.get("msg_signature") == _sha1_sorted(
                token, q["timestamp"], q["nonce"], env["Encrypt"])
            xml_text, rec["appid"] = _aes_cbc_open(cfg("WECHAT_AES_KEY"), env["Encrypt"])
        rec["xml"] = xml_text.decode()
        rec["fields"] = {c.tag: c.text for c in ET.fromstring(xml_text)}
        srv.seen.append(rec)
        if not rec["signature_ok"]:
            return self._answer(403, b"bad signature")
        answer = b"success"
        if srv.reply_text is not None and rec["fields"].get("MsgType") == "text":
            f = rec["fields"]
            reply = ("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]>"
                     "</FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                     "<Content><![CDATA[%s]]></Content></xml>" %
                     (f["FromUserName"], f["ToUserName"], f["CreateTime"], srv.reply_text))
            answer = reply.encode()
            if q.get("encrypt_type") == "aes":
                enc = wxcrypto.encrypt(wxcrypto.aes_key(cfg("WECHAT_AES_KEY")), answer,
                                       cfg("WECHAT_APPID"))
                ts, nonce = "1700000000", "123456789"
                sig = _sha1_sorted(token, ts, nonce, enc)
                if srv.break_reply_signature:
                    sig = "0" * 40
                answer = wxcrypto.reply_envelope(enc, sig, ts, nonce).encode()
            srv.last_reply = reply
        self._answer(200, answer)

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def receiver():
    srv = Receiver()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/api/v1/auth/wechat/verify"
    yield srv
    srv.shutdown()
    srv.server_close()


def push(simc, body):
    r = call(simc, "POST", "/__sim/oa/push", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_plain_push_is_signed_like_wechat(simc, receiver):
    out = push(simc, {"event": {"MsgType": "event", "Event": "subscribe", "EventKey": ""},
                     "from": "oPlainPush", "url": receiver.url})
    assert out["status"] == 200 and out["body"] == "success" and out["reply"] == "success"
    assert out["reply_signature_ok"] is None
    rec = receiver.seen[-1]
    assert rec["signature_ok"] and rec["content_type"] == "text/xml"
    assert rec["query"]["openid"] == "oPlainPush" and "encrypt_type" not in rec["query"]
    f = rec["fields"]
    assert f["ToUserName"] == "gh_sim000000001" and f["FromUserName"] == "oPlainPush"
    assert f["MsgType"] == "event" and f["Event"] == "subscribe" and f["CreateTime"].isdigit()

    out = push(simc, {"event": {"MsgType": "event", "Event": "unsubscribe"}, "from": "oPlainPush",
                     "signature": "bad", "url": receiver.url})
    assert out["status"] == 403 and not receiver.seen[-1]["signature_ok"]


def test_safe_mode_push_round_trips(simc, receiver):
    receiver.reply_text = "收到: hello"
    out = push(simc, {"event": {"MsgType": "text", "Content": "hello 你好", "MsgId": 7001},
                     "from": "oSafeModeUser", "mode": "safe", "create_time": 1700000123,
                     "url": receiver.url})
    rec = receiver.seen[-1]
    assert rec["signature_ok"] and rec["msg_signature_ok"]
    assert rec["query"]["encrypt_type"] == "aes" and rec["query"]["openid"] == "oSafeModeUser"
    assert set(rec["envelope"]) == {"ToUserName", "Encrypt"}
    assert rec["envelope"]["ToUserName"] == "gh_sim000000001"
    assert rec["appid"] == cfg("WECHAT_APPID")
    assert rec["fields"]["Content"] == "hello 你好" and rec["fields"]["MsgId"] == "7001"
    assert rec["fields"]["CreateTime"] == "1700000123" and rec["xml"] == out["sent_xml"]
    assert out["status"] == 200 and out["reply_signature_ok"] is True
    assert out["reply"] == receiver.last_reply
    # The same push again is the same message (duplicate delivery).
    again = push(simc, {"event": {"MsgType": "text", "Content": "hello 你好", "MsgId": 7001},
                       "from": "oSafeModeUser", "mode": "safe", "create_time": 1700000123,
                       "url": receiver.url})
    assert receiver.seen[-1]["xml"] == rec["xml"] and again["sent_xml"] == out["sent_xml"]

    receiver.break_reply_signature = True
    out = push(simc, {"event": {"MsgType": "text", "Content": "x"}, "from": "oSafeModeUser",
                     "mode": "safe", "url": receiver.url})
    assert out["reply_signature_ok"] is False

    # "success" stays as it is in safe mode too.
    receiver.reply_text = None
    out = push(simc, {"event": {"MsgType": "event", "Event": "subscribe"}, "from": "oSafeModeUser",
                     "mode": "safe", "url": receiver.url})
    assert out["reply"] == "success" and out["reply_signature_ok"] is None


def test_qr_scan_pushes_subscribe_or_scan(simc, receiver):
    call(simc, "POST", "/__sim/reset")
    token = stable_token(simc)["access_token"]
    r = call(simc, "POST", "/cgi-bin/qrcode/create", params={"access_token": token},
             json={"expire_seconds": 300, "action_name": "QR_STR_SCENE",
                   "action_info": {"scene": {"scene_str": "login_simtest"}}})
    qr = r.json()
    assert qr["expire_seconds"] == 300 and qr["ticket"] and qr["url"]
    listed = call(simc, "GET", "/__sim/qrcodes").json()
    assert [(q["ticket"], q["scene_str"], q["expire_seconds"]) for q in listed] == \
        [(qr["ticket"], "login_simtest", 300)]
    assert stats(simc)["qrcode_create_calls"] == 1

    r = call(simc, "POST", "/__sim/qr/scan", json={"ticket": qr["ticket"], "openid": "oScanner",
                                                   "subscribed": False, "url": receiver.url})
    assert r.status_code == 200, r.text
    f = receiver.seen[-1]["fields"]
    assert (f["Event"], f["EventKey"], f["Ticket"], f["FromUserName"]) == \
        ("subscribe", "qrscene_login_simtest", qr["ticket"], "oScanner")
    r = call(simc, "POST", "/__sim/qr/scan", json={"scene_str": "login_simtest",
                                                   "openid": "oScanner", "subscribed": True,
                                                   "url": receiver.url})
    assert r.status_code == 200, r.text
    f = receiver.seen[-1]["fields"]
    assert (f["Event"], f["EventKey"], f["Ticket"]) == ("SCAN", "login_simtest", qr["ticket"])
    assert "encrypt_type" not in receiver.seen[-1]["query"]


def test_push_targets_loopback_only(simc):
    r = call(simc, "POST", "/__sim/oa/push",
             json={"event": {"MsgType": "event", "Event": "subscribe"}, "from": "o1",
                   "url": "http://192.0.2.1/api/v1/auth/wechat/verify"})
    assert r.status_code == 400
