"""WeChat identity over HTTP, driven through the WeChat simulator.

Official Account callback (URL check, signed pushes in plain and safe mode, duplicate
deliveries, subscribe state, passive replies, hostile XML), QR-code login, OAuth for H5
pages, mini-program login and unionid linking, JS-SDK signatures, the shared access
token (one fetch for many workers, recovery after rotation) and PATCH /user/me.

Signatures are recomputed here from the shared secrets, so a service that merely echoes
or trusts what it is given cannot pass.  State is arranged through the simulator's
control API and checked with psql and redis-cli.  Every openid is random per test.
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import pathlib
import struct
import subprocess
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from requests.adapters import HTTPAdapter
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

USER_KEYS = {"id", "nickname", "avatar_url", "credits", "invite_code", "created_at", "subscribed"}
LOGIN_KEYS = {"token", "expires_in", "user"}
OA_ORIGINAL_ID = "gh_sim000000001"
SANE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


# --------------------------------------------------------------------------- helpers


class SourceAddress(HTTPAdapter):
    """Connections from another loopback address: another client, as lighttpd sees it."""

    def __init__(self, addr):
        self.addr = addr
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.addr, 0)
        super().init_poolmanager(*args, **kwargs)


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run through scripts/test-integration", pytrace=False)
    return value


def new_openid(prefix="oIT"):
    """A random 28-character openid."""
    return (prefix + uuid.uuid4().hex + uuid.uuid4().hex)[:28]


def sha1_hex(text):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def oa_signature(token, timestamp, nonce):
    return sha1_hex("".join(sorted([token, timestamp, nonce])))


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def identity_rows(psql, openid):
    """[(user_id, app_kind, appid, unionid, subscribed)] for one openid."""
    return [(int(r[0]), r[1], r[2], r[3], r[4] == "t") for r in psql(
        "SELECT user_id, app_kind, appid, unionid, subscribed FROM wechat_identities "
        f"WHERE openid = '{openid}' ORDER BY id")]


def count(psql, sql):
    (n,), = psql(sql)
    return int(n)


def check_login(data):
    """Shape of {"token","expires_in","user"} and the token's claims; returns the user."""
    assert set(data) == LOGIN_KEYS, data
    assert isinstance(data["token"], str) and data["token"].count(".") == 2, data
    assert isinstance(data["expires_in"], int) and data["expires_in"] > 0, data
    user = data["user"]
    assert set(user) == USER_KEYS, user
    claims = jwt_claims(data["token"])
    assert claims.get("aud") == "user", claims
    assert claims.get("sub") == str(user["id"]), (claims, user)
    assert abs((claims["exp"] - claims["iat"]) - data["expires_in"]) <= 1, (claims, data)
    return user


def text_push_fields(content="hello"):
    return {"MsgType": "text", "Content": content,
            "MsgId": str(uuid.uuid4().int % (10 ** 18) + 10 ** 17)}


def subscribe(sim, openid, create_time=None):
    ans = sim.push(openid, event={"MsgType": "event", "Event": "subscribe", "EventKey": ""},
                   create_time=create_time)
    assert ans["status"] == 200, ans
    return ans


# --------------------------------------------------------------------------- OA URL verification


def verify_params(signature=None, timestamp=None, nonce="1000000000000", echostr=None):
    token = env("WECHAT_TOKEN")
    timestamp = timestamp or str(int(time.time()))
    assert timestamp.startswith("1") and timestamp[1] > "0"  # so the nonce sorts first
    if signature is None:
        signature = oa_signature(token, timestamp, nonce)
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce,
            "echostr": echostr or str(uuid.uuid4().int % (10 ** 19))}


def test_verify_good_signature_echoes_echostr(client, request_id_of):
    # The nonce is numerically larger than the timestamp but sorts before it as a string.
    params = verify_params()
    resp = client.get("/auth/wechat/verify", params=params)
    assert resp.status_code == 200, resp.text[:300]
    request_id_of(resp)
    assert resp.headers.get("Content-Type", "").split(";")[0].strip() == "text/plain", \
        resp.headers.get("Content-Type")
    assert resp.text == params["echostr"]


def test_verify_uses_the_configured_token(client):
    """A signature made with any other token is refused: the service does not just echo."""
    ts, nonce = str(int(time.time())), "83712"
    params = verify_params(signature=oa_signature("not-the-token", ts, nonce),
                           timestamp=ts, nonce=nonce)
    resp = client.get("/auth/wechat/verify", params=params)
    assert resp.status_code == 403, resp.text[:300]
    assert params["echostr"] not in resp.text


@pytest.mark.parametrize("case", [
    "wrong_signature", "truncated", "extended", "tampered_timestamp", "tampered_nonce",
    "missing_signature", "missing_timestamp", "missing_nonce", "empty_signature",
    "concatenated_unsorted", "numeric_order",
])
def test_verify_bad_requests_are_forbidden(client, request_id_of, case):
    params = verify_params()
    token = env("WECHAT_TOKEN")
    if case == "wrong_signature":
        params["signature"] = "0" * 40
    elif case == "truncated":
        params["signature"] = params["signature"][:-1]
    elif case == "extended":
        params["signature"] = params["signature"] + "0"
    elif case == "tampered_timestamp":
        params["timestamp"] = str(int(params["timestamp"]) + 1)
    elif case == "tampered_nonce":
        params["nonce"] = params["nonce"] + "1"
    elif case.startswith("missing_"):
        del params[case[len("missing_"):]]
    elif case == "empty_signature":
        params["signature"] = ""
    elif case == "concatenated_unsorted":
        params["signature"] = sha1_hex(token + params["timestamp"] + params["nonce"])
    elif case == "numeric_order":  # timestamp < nonce as numbers, not as strings
        params["signature"] = sha1_hex(params["timestamp"] + params["nonce"] + token)
    resp = client.get("/auth/wechat/verify", params=params)
    assert resp.status_code == 403, f"{case}: {resp.status_code} {resp.text[:300]}"
    request_id_of(resp)
    assert params["echostr"] not in resp.text


# --------------------------------------------------------------------------- OA pushes


def test_subscribe_creates_one_user_even_when_delivered_three_times(client, expect_ok, psql,
                                                                   sim, token_for):
    openid = new_openid()
    users_before = count(psql, "SELECT count(*) FROM users")
    msgs_before = count(psql, "SELECT count(*) FROM wechat_messages")
    created = int(time.time()) - 5
    for _ in range(3):
        subscribe(sim, openid, create_time=created)
    rows = identity_rows(psql, openid)
    assert len(rows) == 1, rows
    uid, kind, appid, _unionid, subscribed = rows[0]
    assert (kind, appid, subscribed) == ("oa", env("WECHAT_APPID"), True), rows
    assert count(psql, "SELECT count(*) FROM users") == users_before + 1
    # Recorded once at most (the duplicate check may live in Redis instead).
    assert count(psql, "SELECT count(*) FROM wechat_messages") - msgs_before in (0, 1)
    me = expect_ok(client.get("/user/me", token=token_for(uid)))
    assert me["id"] == uid and me["subscribed"] is True, me


def test_subscribe_delivered_three_times_concurrently(psql, sim):
    """Duplicates arriving at once (on different workers) still make one user; a few
    openids in a row give the race several chances to show."""
    users_before = count(psql, "SELECT count(*) FROM users")
    openids = [new_openid() for _ in range(4)]
    created = int(time.time()) - 3

    def deliver(openid):
        own = type(sim)(sim.base)  # a session per thread
        try:
            return own.push(openid, create_time=created,
                            event={"MsgType": "event", "Event": "subscribe", "EventKey": ""})
        finally:
            own.session.close()

    for openid in openids:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(deliver, [openid] * 3))
        assert [a["status"] for a in answers] == [200, 200, 200], answers
        rows = identity_rows(psql, openid)
        assert len(rows) == 1 and rows[0][4] is True, rows
    assert count(psql, "SELECT count(*) FROM users") == users_before + len(openids)


def test_unsubscribe_and_resubscribe(client, expect_ok, psql, sim, token_for):
    openid = new_openid()
    now = int(time.time())
    subscribe(sim, openid, create_time=now - 30)
    (uid, *_), = identity_rows(psql, openid)
    tok = token_for(uid)
    assert expect_ok(client.get("/user/me", token=tok))["subscribed"] is True

    ans = sim.push(openid, event={"MsgType": "event", "Event": "unsubscribe", "EventKey": ""},
                   create_time=now - 20)
    assert ans["status"] == 200, ans
    rows = identity_rows(psql, openid)
    assert rows == [(uid, "oa", env("WECHAT_APPID"), rows[0][3], False)], rows
    assert count(psql, f"SELECT count(*) FROM users WHERE id = {uid}") == 1
    assert expect_ok(client.get("/user/me", token=tok))["subscribed"] is False

    subscribe(sim, openid, create_time=now - 10)
    rows = identity_rows(psql, openid)
    assert len(rows) == 1 and rows[0][0] == uid and rows[0][4] is True, rows
    me = expect_ok(client.get("/user/me", token=tok))
    assert me["id"] == uid and me["subscribed"] is True, me


@pytest.mark.parametrize("mode", ["plain", "safe"])
@pytest.mark.parametrize("signature", ["bad", "missing"])
def test_push_with_bad_signature_is_forbidden_and_stores_nothing(psql, sim, mode, signature):
    openid = new_openid()
    msgs_before = count(psql, "SELECT count(*) FROM wechat_messages")
    users_before = count(psql, "SELECT count(*) FROM users")
    ans = sim.push(openid, event={"MsgType": "event", "Event": "subscribe", "EventKey": ""},
                   mode=mode, signature=signature)
    assert ans["status"] == 403, ans
    assert identity_rows(psql, openid) == []
    assert count(psql, "SELECT count(*) FROM wechat_messages") == msgs_before
    assert count(psql, "SELECT count(*) FROM users") == users_before
    # A text message with a bad signature gets no passive reply either.
    ans = sim.push(openid, event=text_push_fields(), mode=mode, signature=signature)
    assert ans["status"] == 403 and "<xml>" not in ans["body"], ans


def test_safe_mode_subscribe_is_decrypted_and_stored(psql, sim):
    openid = new_openid()
    ans = sim.push(openid, event={"MsgType": "event", "Event": "subscribe", "EventKey": ""},
                   mode="safe")
    assert ans["status"] == 200, ans
    rows = identity_rows(psql, openid)
    assert len(rows) == 1 and rows[0][1:3] == ("oa", env("WECHAT_APPID")) and rows[0][4], rows


def parse_reply(text):
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        pytest.fail(f"reply is not XML ({e}): {text[:300]!r}")
    assert root.tag == "xml", text
    return {child.tag: (child.text or "") for child in root}


def test_safe_mode_text_message_gets_an_encrypted_passive_reply(sim):
    openid = new_openid()
    ans = sim.push(openid, event=text_push_fields("你好"), mode="safe")
    assert ans["status"] == 200, ans
    assert ans["reply_signature_ok"] is True, ans
    # On the wire the reply is the encrypted envelope, not the plain message.
    wire = parse_reply(ans["body"])
    assert {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"} <= set(wire), ans["body"]
    assert openid not in ans["body"]
    reply = parse_reply(ans["reply"])
    assert reply.get("MsgType") == "text", reply
    assert reply.get("ToUserName") == openid, reply
    assert reply.get("FromUserName") == OA_ORIGINAL_ID, reply
    assert reply.get("Content"), reply
    assert reply.get("CreateTime", "").isdigit(), reply


def test_plain_mode_text_message_gets_a_plain_passive_reply(sim):
    openid = new_openid()
    ans = sim.push(openid, event=text_push_fields("hello"))
    assert ans["status"] == 200, ans
    assert ans["reply_signature_ok"] is None, ans
    reply = parse_reply(ans["body"])
    assert "Encrypt" not in reply, reply
    assert reply.get("MsgType") == "text", reply
    assert reply.get("ToUserName") == openid, reply
    assert reply.get("FromUserName") == OA_ORIGINAL_ID, reply
    assert reply.get("Content"), reply


# Safe mode by hand: the frame is built here (not by the simulator), so one part at a time
# can be broken while the rest stays valid.


def aes_key():
    return base64.b64decode(env("WECHAT_AES_KEY") + "=")


def wx_encrypt(plaintext, appid=None, pad=None, length=None, frame=None):
    """Base64(AES-256-CBC(random16 | len | msg | appid | PKCS#7 to 32)); pad and length
    override the padding byte value and the length field, frame the whole plaintext frame
    (for broken frames)."""
    key = aes_key()
    if frame is None:
        msg = plaintext.encode("utf-8")
        frame = os.urandom(16) + struct.pack(">I", len(msg) if length is None else length) + \
            msg + (appid or env("WECHAT_APPID")).encode("ascii")
        n = 32 - len(frame) % 32
        frame += bytes([n if pad is None else pad]) * n
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(frame) + enc.finalize()).decode("ascii")


def wx_decrypt(text):
    key = aes_key()
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    frame = dec.update(base64.b64decode(text)) + dec.finalize()
    n = frame[-1]
    assert 1 <= n <= 32 and frame[-n:] == bytes([n]) * n, f"bad padding {n}"
    frame = frame[:-n]
    (length,) = struct.unpack(">I", frame[16:20])
    return frame[20:20 + length].decode("utf-8"), frame[20 + length:].decode("ascii")


def post_safe(client, plain_xml, appid=None, pad=None, msg_signature=None, length=None,
              frame=None, encrypted=None):
    """POST a safe-mode push built here; returns the response."""
    token = env("WECHAT_TOKEN")
    ts, nonce = str(int(time.time())), str(uuid.uuid4().int % 10 ** 10)
    if encrypted is None:
        encrypted = wx_encrypt(plain_xml, appid, pad, length, frame)
    openid = re.search(r"<FromUserName><!\[CDATA\[(.*?)\]\]>", plain_xml).group(1)
    query = {"signature": oa_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce,
             "openid": openid, "encrypt_type": "aes",
             "msg_signature": msg_signature or sha1_hex("".join(sorted([token, ts, nonce,
                                                                         encrypted])))}
    body = (f"<xml><ToUserName><![CDATA[{OA_ORIGINAL_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    return client.post("/auth/wechat/verify", params=query, data=body.encode("utf-8"),
                       headers={"Content-Type": "text/xml"})


def text_xml(openid, content, msg_id, create_time):
    return (f"<xml><ToUserName><![CDATA[{OA_ORIGINAL_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def subscribe_xml(openid):
    return (f"<xml><ToUserName><![CDATA[{OA_ORIGINAL_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey></xml>")


@pytest.mark.parametrize("pad", [1, 16, 17, 32])
def test_safe_mode_by_hand_every_padding_length(client, request_id_of, pad):
    """Padding runs 1..32 (not 1..16); the reply is checked and decrypted here."""
    openid = new_openid()
    frame_fixed = 16 + 4 + len(env("WECHAT_APPID"))
    msg_id, now = uuid.uuid4().int % (10 ** 18) + 10 ** 17, int(time.time())
    base = text_xml(openid, "", msg_id, now)
    content = "p" * ((-(frame_fixed + len(base.encode()) + pad)) % 32)
    xml = text_xml(openid, content, msg_id, now)
    assert 32 - (frame_fixed + len(xml.encode())) % 32 == pad
    resp = post_safe(client, xml)
    assert resp.status_code == 200, resp.text[:300]
    request_id_of(resp)
    wire = parse_reply(resp.text)
    assert {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"} <= set(wire), resp.text
    expect = sha1_hex("".join(sorted([env("WECHAT_TOKEN"), wire["TimeStamp"], wire["Nonce"],
                                      wire["Encrypt"]])))
    assert wire["MsgSignature"] == expect
    reply, appid = wx_decrypt(wire["Encrypt"])
    assert appid == env("WECHAT_APPID")
    fields = parse_reply(reply)
    assert (fields.get("MsgType"), fields.get("ToUserName")) == ("text", openid), fields


def test_safe_mode_by_hand_subscribe_is_stored(client, psql):
    openid = new_openid()
    resp = post_safe(client, subscribe_xml(openid))
    assert resp.status_code == 200, resp.text[:300]
    assert len(identity_rows(psql, openid)) == 1


def test_safe_mode_wrong_msg_signature_is_forbidden(client, psql):
    """signature is right, the msg_signature over the ciphertext is not."""
    openid = new_openid()
    resp = post_safe(client, subscribe_xml(openid), msg_signature=sha1_hex("other"))
    assert resp.status_code == 403, resp.text[:300]
    assert identity_rows(psql, openid) == []


@pytest.mark.parametrize("case", ["other_appid", "no_appid", "pad_zero", "pad_33",
                                  "length_huge", "length_past_end", "short_frame",
                                  "not_base64", "not_block_multiple", "empty_encrypt"])
def test_safe_mode_broken_frames_are_refused(client, psql, case):
    openid = new_openid()
    xml = subscribe_xml(openid)
    if case == "other_appid":
        resp = post_safe(client, xml, appid="wxsomeoneelse00001")
    elif case == "no_appid":
        msg = xml.encode()
        frame = os.urandom(16) + struct.pack(">I", len(msg)) + msg
        frame += bytes([32 - len(frame) % 32]) * (32 - len(frame) % 32)
        resp = post_safe(client, xml, frame=frame)
    elif case in ("pad_zero", "pad_33"):
        resp = post_safe(client, xml, pad={"pad_zero": 0, "pad_33": 33}[case])
    elif case == "length_huge":
        resp = post_safe(client, xml, length=0xFFFFFFF0)
    elif case == "length_past_end":
        resp = post_safe(client, xml, length=len(xml.encode()) + len(env("WECHAT_APPID")) + 1)
    elif case == "short_frame":
        resp = post_safe(client, xml, frame=os.urandom(16) + b"\x00\x00" + bytes([14]) * 14)
    elif case == "not_base64":
        resp = post_safe(client, xml, encrypted="!!!!not*base64!!!!")
    elif case == "not_block_multiple":
        resp = post_safe(client, xml, encrypted=base64.b64encode(os.urandom(40)).decode())
    else:
        resp = post_safe(client, xml, encrypted="")
    assert 400 <= resp.status_code < 500, f"{case}: {resp.status_code} {resp.text[:300]}"
    assert identity_rows(psql, openid) == []


def test_passive_reply_is_well_formed_for_hostile_content(sim):
    """Whatever the service puts in its reply, markup in the user's text cannot break out."""
    openid = new_openid()
    content = "a]]><MsgType>news</MsgType><![CDATA[b & <c> \"d\" 你好"
    for mode in ("plain", "safe"):
        ans = sim.push(openid, event=text_push_fields(content), mode=mode)
        assert ans["status"] == 200, ans
        reply = parse_reply(ans["reply"])
        assert reply.get("MsgType") == "text", (mode, ans["reply"])
        assert reply.get("ToUserName") == openid, (mode, reply)
        root = ET.fromstring(ans["reply"])
        assert len(root.findall("MsgType")) == 1, ans["reply"]


def test_oversized_push_is_refused(psql, sim):
    openid = new_openid()
    fields = {"MsgType": "event", "Event": "subscribe", "EventKey": "k" * (70 * 1024)}
    ans = sim.push(openid, event=fields)
    assert ans["status"] == 413, {k: ans[k] for k in ("status", "body")}
    assert identity_rows(psql, openid) == []


def test_subscribe_from_another_qr_scene_still_subscribes(psql, sim):
    openid = new_openid()
    ans = sim.push(openid, event={"MsgType": "event", "Event": "subscribe",
                                  "EventKey": "qrscene_promo-poster-7", "Ticket": "gQnotours"})
    assert ans["status"] == 200, ans
    rows = identity_rows(psql, openid)
    assert len(rows) == 1 and rows[0][4] is True, rows


def test_scan_of_an_unknown_login_scene_is_harmless(psql, sim, unique):
    openid = new_openid()
    subscribe(sim, openid, create_time=int(time.time()) - 60)
    ans = sim.push(openid, event={"MsgType": "event", "Event": "SCAN",
                                  "EventKey": "login_nosuch" + unique, "Ticket": "gQnotours"})
    assert ans["status"] == 200 and ans["body"].strip() in ("success", ""), ans
    assert len(identity_rows(psql, openid)) == 1


MALFORMED = {
    "not_xml": "hello there",
    "empty": "",
    "truncated": "<xml><ToUserName><![CDATA[gh_sim000000001]]></ToUserName><FromUserName><![CDATA[{o}",
    "no_from": "<xml><ToUserName>gh_sim000000001</ToUserName><CreateTime>1</CreateTime>"
               "<MsgType>event</MsgType><Event>subscribe</Event></xml>",
    "no_msgtype": "<xml><ToUserName>gh_sim000000001</ToUserName><FromUserName>{o}</FromUserName>"
                  "<CreateTime>1</CreateTime></xml>",
    "huge_createtime": "<xml><ToUserName>gh_sim000000001</ToUserName><FromUserName>{o}"
                       "</FromUserName><CreateTime>999999999999999999999999</CreateTime>"
                       "<MsgType>event</MsgType><Event>some_event</Event></xml>",
    "deep_nesting": "<xml>" + "<a>" * 5000 + "</a>" * 5000 + "</xml>",
    "two_roots": "<xml></xml><xml></xml>",
    "bad_utf8_decl": '<?xml version="1.0" encoding="no-such-charset"?><xml></xml>',
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_push_is_answered_without_a_server_error(client, expect_ok, psql, sim, kind):
    openid = new_openid()
    ans = sim.push(openid, xml=MALFORMED[kind].replace("{o}", openid))
    assert ans["status"] in (200, 400), {k: ans[k] for k in ("status", "body")}
    if ans["status"] == 200:
        assert ans["body"].strip() in ("", "success"), ans
    assert identity_rows(psql, openid) == []
    assert expect_ok(client.get("/health"))["status"] == "ok"


HOSTILE = {
    "external_entity": (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        "<xml><ToUserName><![CDATA[{gh}]]></ToUserName><FromUserName><![CDATA[{o}]]></FromUserName>"
        "<CreateTime>{t}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content>&xxe;</Content><MsgId>{m}</MsgId></xml>"),
    "entity_expansion": (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\n'
        "<xml><ToUserName><![CDATA[{gh}]]></ToUserName><FromUserName><![CDATA[{o}]]></FromUserName>"
        "<CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe]]></Event><EventKey>&d;</EventKey><MsgId>{m}</MsgId></xml>"),
    "doctype_only": (
        "<!DOCTYPE xml>"
        "<xml><ToUserName><![CDATA[{gh}]]></ToUserName><FromUserName><![CDATA[{o}]]></FromUserName>"
        "<CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe]]></Event><EventKey></EventKey><MsgId>{m}</MsgId></xml>"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_doctype_payload_is_rejected_and_nothing_stored(psql, sim, kind):
    openid = new_openid()
    msg_id = str(uuid.uuid4().int % (10 ** 18) + 10 ** 17)
    xml = HOSTILE[kind].format(gh=OA_ORIGINAL_ID, o=openid, t=int(time.time()), m=msg_id)
    msgs_before = count(psql, "SELECT count(*) FROM wechat_messages")
    users_before = count(psql, "SELECT count(*) FROM users")
    ans = sim.push(openid, xml=xml)
    assert ans["status"] == 400, ans
    assert "root:" not in ans["body"]
    assert identity_rows(psql, openid) == []
    assert count(psql, "SELECT count(*) FROM wechat_messages") == msgs_before
    assert count(psql, f"SELECT count(*) FROM wechat_messages WHERE msg_key LIKE '%{msg_id}%' "
                       f"OR msg_key LIKE '%{openid}%'") == 0
    assert count(psql, "SELECT count(*) FROM users") == users_before


def test_control_same_shape_without_doctype_is_accepted(psql, sim):
    """Control for the hostile payloads: the same document without a DOCTYPE is stored."""
    openid = new_openid()
    xml = ("<xml><ToUserName><![CDATA[{gh}]]></ToUserName><FromUserName><![CDATA[{o}]]>"
           "</FromUserName><CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[subscribe]]></Event><EventKey></EventKey></xml>"
           ).format(gh=OA_ORIGINAL_ID, o=openid, t=int(time.time()))
    ans = sim.push(openid, xml=xml)
    assert ans["status"] == 200, ans
    assert len(identity_rows(psql, openid)) == 1


@pytest.mark.parametrize("event", ["some_future_event", "LOCATION", "TEMPLATESENDJOBFINISH"])
def test_other_events_answer_success(psql, sim, event):
    openid = new_openid()
    fields = {"MsgType": "event", "Event": event}
    if event == "TEMPLATESENDJOBFINISH":
        fields.update({"MsgID": "200163836", "Status": "success"})
    if event == "LOCATION":
        fields.update({"Latitude": "23.137466", "Longitude": "113.352425", "Precision": "119.385040"})
    ans = sim.push(openid, event=fields)
    assert ans["status"] == 200, ans
    assert ans["body"].strip() == "success", ans


# --------------------------------------------------------------------------- QR login


# scene -> the poll_secret its creator got (polls of a scene send it back)
QR_SECRETS = {}


def new_qr(client, expect_ok):
    data = expect_ok(client.post("/auth/wechat/qrcode"))
    assert set(data) == {"scene", "qrcode_url", "expires_in", "poll_secret"}, data
    assert isinstance(data["poll_secret"], str) and len(data["poll_secret"]) >= 32, data
    QR_SECRETS[data["scene"]] = data["poll_secret"]
    assert isinstance(data["scene"], str) and SANE_TOKEN.match(data["scene"]), data
    assert len("login_" + data["scene"]) <= 64, data  # WeChat's scene_str limit
    assert isinstance(data["qrcode_url"], str) and \
        re.match(r"^https?://", data["qrcode_url"]), data
    assert isinstance(data["expires_in"], int) and 0 < data["expires_in"] <= 300, data
    return data


def check_qr_confirmed(data):
    """{"status":"confirmed","token","user"} with a user token for that user; returns the user.
    An "expires_in" beside them, as in the other login answers, is accepted when it is right."""
    assert set(data) - {"expires_in"} == {"status", "token", "user"}, data
    assert data["status"] == "confirmed", data
    assert isinstance(data["token"], str) and data["token"].count(".") == 2, data
    assert set(data["user"]) == USER_KEYS, data
    claims = jwt_claims(data["token"])
    assert claims.get("aud") == "user" and claims.get("sub") == str(data["user"]["id"]), claims
    if "expires_in" in data:
        assert abs((claims["exp"] - claims["iat"]) - data["expires_in"]) <= 1, (claims, data)
    return data["user"]


def poll(client, expect_ok, scene):
    data = expect_ok(client.get(f"/auth/wechat/qrcode/{scene}",
                                headers={"X-QR-Secret": QR_SECRETS.get(scene, "")}))
    assert isinstance(data, dict) and "status" in data, data
    return data


def test_qr_login_subscribe_flow(client, expect_ok, psql, sim):
    qr = new_qr(client, expect_ok)
    scene = qr["scene"]
    assert poll(client, expect_ok, scene) == {"status": "pending"}
    tickets = [q for q in sim.qrcodes() if q.get("scene_str") == "login_" + scene]
    assert len(tickets) == 1, sim.qrcodes()
    assert tickets[0]["expire_seconds"] >= qr["expires_in"], tickets

    openid = new_openid()
    ans = sim.scan(openid, subscribed=False, scene_str="login_" + scene)
    assert ans["status"] == 200, ans

    data = poll(client, expect_ok, scene)
    assert data.get("status") == "confirmed", data
    user = check_qr_confirmed(data)
    rows = identity_rows(psql, openid)
    assert len(rows) == 1 and rows[0][0] == user["id"] and rows[0][4] is True, rows
    me = expect_ok(client.get("/user/me", token=data["token"]))
    assert me["id"] == user["id"] and me["subscribed"] is True, me
    # The token is handed out once.
    assert poll(client, expect_ok, scene) == {"status": "confirmed"}
    assert poll(client, expect_ok, scene) == {"status": "confirmed"}


def test_qr_login_scan_flow_for_an_existing_follower(client, expect_ok, psql, sim):
    openid = new_openid()
    subscribe(sim, openid, create_time=int(time.time()) - 60)  # not a duplicate of the scan
    (uid, *_), = identity_rows(psql, openid)
    scene = new_qr(client, expect_ok)["scene"]
    assert poll(client, expect_ok, scene) == {"status": "pending"}
    ans = sim.scan(openid, subscribed=True, scene_str="login_" + scene)
    assert ans["status"] == 200, ans
    data = poll(client, expect_ok, scene)
    assert check_qr_confirmed(data)["id"] == uid, data
    assert expect_ok(client.get("/user/me", token=data["token"]))["id"] == uid
    assert len(identity_rows(psql, openid)) == 1
    assert poll(client, expect_ok, scene) == {"status": "confirmed"}


def test_qr_login_scan_by_ticket(client, expect_ok, psql, sim):
    scene = new_qr(client, expect_ok)["scene"]
    (ticket,) = [q["ticket"] for q in sim.qrcodes() if q.get("scene_str") == "login_" + scene]
    openid = new_openid()
    assert sim.scan(openid, subscribed=False, ticket=ticket)["status"] == 200
    user = check_qr_confirmed(poll(client, expect_ok, scene))
    assert identity_rows(psql, openid)[0][0] == user["id"]


def test_qr_login_scan_of_one_scene_does_not_confirm_another(client, expect_ok, sim):
    a = new_qr(client, expect_ok)["scene"]
    b = new_qr(client, expect_ok)["scene"]
    assert a != b
    assert sim.scan(new_openid(), subscribed=False, scene_str="login_" + a)["status"] == 200
    assert poll(client, expect_ok, b) == {"status": "pending"}
    assert poll(client, expect_ok, a)["status"] == "confirmed"


def test_qr_login_first_scanner_keeps_the_login(client, expect_ok, psql, sim):
    scene = new_qr(client, expect_ok)["scene"]
    first, second = new_openid(), new_openid()
    assert sim.scan(first, subscribed=False, scene_str="login_" + scene)["status"] == 200
    assert sim.scan(second, subscribed=False, scene_str="login_" + scene)["status"] == 200
    user = check_qr_confirmed(poll(client, expect_ok, scene))
    assert user["id"] == identity_rows(psql, first)[0][0], "a later scan took over the login"
    assert sim.scan(second, subscribed=True, scene_str="login_" + scene)["status"] == 200
    assert poll(client, expect_ok, scene) == {"status": "confirmed"}


def test_qr_login_token_is_handed_out_once_to_concurrent_polls(client, expect_ok, sim):
    scene = new_qr(client, expect_ok)["scene"]
    assert sim.scan(new_openid(), subscribed=False, scene_str="login_" + scene)["status"] == 200
    url = client.url(f"/auth/wechat/qrcode/{scene}")

    def one(_):
        r = requests.get(url, timeout=30, headers={"X-QR-Secret": QR_SECRETS[scene]})
        assert r.status_code == 200, r.text[:300]
        return r.json()["data"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    with_token = [a for a in answers if "token" in a]
    assert len(with_token) == 1, answers
    check_qr_confirmed(with_token[0])
    assert all(a == {"status": "confirmed"} for a in answers if "token" not in a), answers


@pytest.mark.parametrize("scene", ["unknown", "deadbeefdeadbeefdeadbeef", "x" * 64])
def test_qr_login_unknown_scene_is_expired(client, expect_ok, scene, unique):
    assert poll(client, expect_ok, scene + unique) == {"status": "expired"}


def test_qr_login_expiry(client, expect_ok, redis_cli, sim):
    scene = new_qr(client, expect_ok)["scene"]
    assert poll(client, expect_ok, scene) == {"status": "pending"}
    ttl = int(redis_cli("TTL", f"qrlogin:{scene}"))
    assert 0 < ttl <= 300, ttl
    assert redis_cli("DEL", f"qrlogin:{scene}") == "1"  # the key existed
    assert poll(client, expect_ok, scene) == {"status": "expired"}
    # A scan arriving after expiry logs nobody in.
    assert sim.scan(new_openid(), subscribed=False, scene_str="login_" + scene)["status"] == 200
    assert poll(client, expect_ok, scene) == {"status": "expired"}


# --------------------------------------------------------------------------- OAuth (H5)


def authorize(client, redirect="/wechat/member.html", scope="snsapi_userinfo"):
    """GET /auth/wechat/authorize; checks the Location exactly; returns (location, state)."""
    resp = client.get("/auth/wechat/authorize", params={"redirect": redirect, "scope": scope})
    assert resp.status_code == 302, f"{resp.status_code}: {resp.text[:300]}"
    assert resp.headers.get("X-Request-Id"), "no X-Request-Id on the 302"
    location = resp.headers.get("Location", "")
    head, sep, fragment = location.partition("#")
    assert sep and fragment == "wechat_redirect", location
    base, _, query = head.partition("?")
    assert base == env("WECHAT_OPEN_BASE").rstrip("/") + "/connect/oauth2/authorize", location
    pairs = [p.split("=", 1) for p in query.split("&")]
    assert [k for k, _ in pairs] == ["appid", "redirect_uri", "response_type", "scope", "state"], \
        location
    raw = dict(pairs)
    assert raw["appid"] == env("WECHAT_APPID"), location
    assert "/" not in raw["redirect_uri"] and ":" not in raw["redirect_uri"], \
        f"redirect_uri is not url-encoded: {location}"
    public = env("PUBLIC_BASE_URL").rstrip("/")
    expected_redirect = public + redirect if redirect.startswith("/") else redirect
    assert urllib.parse.unquote(raw["redirect_uri"]) == expected_redirect, location
    assert raw["response_type"] == "code" and raw["scope"] == scope, location
    state = urllib.parse.unquote(raw["state"])
    assert SANE_TOKEN.match(state), location
    return location, state


def oauth(client, code, state):
    return client.post("/auth/wechat/oauth", json={"code": code, "state": state})


def test_authorize_redirect_and_full_oauth_round_trip(client, expect_ok, psql, redis_cli, sim):
    location, state = authorize(client)
    assert redis_cli("EXISTS", f"oauth:state:{state}") == "1"
    openid = new_openid()
    # The simulator's OAuth page plays WeChat: it redirects back with a code.
    page = location.split("#")[0] + "&" + urllib.parse.urlencode({"sim_openid": openid})
    resp = requests.get(page, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text[:300]
    back = urllib.parse.urlsplit(resp.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == \
        env("PUBLIC_BASE_URL").rstrip("/") + "/wechat/member.html", back
    q = dict(urllib.parse.parse_qsl(back.query))
    assert q.get("state") == state and q.get("code"), q

    user = check_login(expect_ok(oauth(client, q["code"], state)))
    rows = identity_rows(psql, openid)
    assert len(rows) == 1 and rows[0][0] == user["id"] and rows[0][1] == "oa", rows
    assert isinstance(user["nickname"], str) and user["nickname"], user
    # The state is single use and gone from Redis once used.
    assert redis_cli("EXISTS", f"oauth:state:{state}") == "0"


def test_authorize_keeps_the_page_query(client, expect_ok, sim):
    redirect = "/wechat/member.html?tab=credits&from=menu"
    location, state = authorize(client, redirect=redirect, scope="snsapi_base")
    page = location.split("#")[0] + "&" + urllib.parse.urlencode({"sim_openid": new_openid()})
    resp = requests.get(page, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text[:300]
    back = urllib.parse.urlsplit(resp.headers["Location"])
    q = urllib.parse.parse_qs(back.query)
    assert back.path == "/wechat/member.html", back
    assert q.get("tab") == ["credits"] and q.get("from") == ["menu"], q
    assert q.get("state") == [state], q
    check_login(expect_ok(oauth(client, q["code"][0], state)))


def test_oauth_userinfo_nickname_comes_from_wechat(client, expect_ok, psql, sim, unique):
    _, state = authorize(client)
    openid = new_openid()
    nickname = "微信用户" + unique
    code = sim.oauth_code(openid=openid, nickname=nickname, scope="snsapi_userinfo")
    assert code["openid"] == openid, code
    data = expect_ok(oauth(client, code["code"], state))
    user = check_login(data)
    assert user["nickname"] == nickname, user
    me = expect_ok(client.get("/user/me", token=data["token"]))
    assert me["id"] == user["id"] and me["nickname"] == nickname, me
    (uid, *_), = identity_rows(psql, openid)
    assert uid == user["id"]


def test_oauth_snsapi_base_logs_in(client, expect_ok, psql, sim):
    _, state = authorize(client, scope="snsapi_base")
    openid = new_openid()
    code = sim.oauth_code(openid=openid, scope="snsapi_base")
    user = check_login(expect_ok(oauth(client, code["code"], state)))
    assert identity_rows(psql, openid)[0][0] == user["id"]


def test_oauth_second_login_is_the_same_user(client, expect_ok, psql, sim):
    openid = new_openid()
    ids = []
    for _ in range(2):
        _, state = authorize(client)
        code = sim.oauth_code(openid=openid, scope="snsapi_userinfo")["code"]
        ids.append(check_login(expect_ok(oauth(client, code, state)))["id"])
    assert ids[0] == ids[1]
    assert len(identity_rows(psql, openid)) == 1


def test_oauth_used_code_is_unauthorized(client, expect_ok, expect_error, sim):
    _, state = authorize(client)
    code = sim.oauth_code(openid=new_openid(), scope="snsapi_userinfo")["code"]
    expect_ok(oauth(client, code, state))
    _, fresh = authorize(client)
    expect_error(oauth(client, code, fresh), 401, "UNAUTHORIZED")


def test_oauth_unknown_code_is_unauthorized(client, expect_error, sim, unique):
    _, state = authorize(client)
    expect_error(oauth(client, "nosuchcode" + unique, state), 401, "UNAUTHORIZED")


def test_oauth_unknown_state_is_bad_request(client, expect_error, psql, sim, unique):
    openid = new_openid()
    code = sim.oauth_code(openid=openid, scope="snsapi_userinfo")["code"]
    expect_error(oauth(client, code, "forged" + unique), 400, "BAD_REQUEST")
    assert identity_rows(psql, openid) == []


def test_oauth_reused_state_is_bad_request(client, expect_ok, expect_error, psql, sim):
    _, state = authorize(client)
    expect_ok(oauth(client, sim.oauth_code(openid=new_openid())["code"], state))
    openid = new_openid()
    code = sim.oauth_code(openid=openid)["code"]
    expect_error(oauth(client, code, state), 400, "BAD_REQUEST")
    assert identity_rows(psql, openid) == []


def test_oauth_state_is_single_use_under_concurrency(client, sim):
    _, state = authorize(client)
    codes = [sim.oauth_code(openid=new_openid())["code"] for _ in range(6)]
    url = client.url("/auth/wechat/oauth")

    def one(code):
        # the same browser (its binding cookie), six tabs at once
        r = requests.post(url, json={"code": code, "state": state}, timeout=30,
                          cookies=client.session.cookies)
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(one, codes))
    assert statuses == [200] + [400] * 5, statuses


@pytest.mark.parametrize("redirect", [
    "https://evil.example/",
    "http://evil.example/wechat/member.html",
    "//evil.example",
    "//evil.example/wechat/member.html",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "wechat/member.html",
    "/wechat/member.html\r\nSet-Cookie: x=1",
    "@evil.example/wechat/member.html",
    ".evil.example/",
])
def test_authorize_refuses_other_sites(client, expect_error, redirect):
    resp = client.get("/auth/wechat/authorize",
                      params={"redirect": redirect, "scope": "snsapi_base"})
    assert "Location" not in resp.headers, resp.headers.get("Location")
    if "\r" in redirect:
        # lighttpd refuses control characters in the URL before the service sees them.
        assert resp.status_code == 400, resp.text[:300]
        return
    expect_error(resp, 400, "BAD_REQUEST")


@pytest.mark.parametrize("scope", ["snsapi_login", "SNSAPI_BASE", "snsapi_base,snsapi_userinfo", "x" * 300])
def test_authorize_bad_scope(client, expect_error, scope):
    resp = client.get("/auth/wechat/authorize",
                      params={"redirect": "/wechat/member.html", "scope": scope})
    msg = expect_error(resp, 400, "BAD_REQUEST")
    assert "scope" in msg, msg


@pytest.mark.parametrize("body,field", [
    ({"state": "abcdefgh12"}, "code"),
    ({"code": "abcdefgh12"}, "state"),
    ({"code": 12345, "state": "abcdefgh12"}, "code"),
    ({"code": "abcdefgh12", "state": None}, "state"),
    ({"code": "", "state": "abcdefgh12"}, "code"),
])
def test_oauth_missing_fields(client, expect_error, body, field):
    msg = expect_error(client.post("/auth/wechat/oauth", json=body), 400, "BAD_REQUEST")
    assert field in msg, msg


def test_oauth_malformed_json(client, expect_error):
    expect_error(client.post("/auth/wechat/oauth", data="{not json",
                             headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")


# --------------------------------------------------------------------------- mini program


def mp_login(client, code):
    return client.post("/auth/mp/login", json={"code": code})


def test_mp_login(client, expect_ok, psql, sim):
    openid = new_openid("oMP")
    code = sim.mp_code(openid=openid)
    assert code["openid"] == openid, code
    data = expect_ok(mp_login(client, code["code"]))
    user = check_login(data)
    assert "session_key" not in str(data)
    rows = identity_rows(psql, openid)
    assert rows == [(user["id"], "mp", env("WECHAT_MP_APPID"), None, False)], rows
    me = expect_ok(client.get("/user/me", token=data["token"]))
    assert me["id"] == user["id"], me
    # A later login of the same openid is the same user.
    again = check_login(expect_ok(mp_login(client, sim.mp_code(openid=openid)["code"])))
    assert again["id"] == user["id"]
    assert len(identity_rows(psql, openid)) == 1


def test_mp_login_reused_code_is_unauthorized(client, expect_ok, expect_error, sim):
    code = sim.mp_code(openid=new_openid("oMP"))["code"]
    expect_ok(mp_login(client, code))
    expect_error(mp_login(client, code), 401, "UNAUTHORIZED")


def test_mp_login_unknown_code_is_unauthorized(client, expect_error, sim, unique):
    expect_error(mp_login(client, "nosuchcode" + unique), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 42}, {"code": None}, {"js_code": "x"}])
def test_mp_login_missing_code(client, expect_error, body):
    msg = expect_error(client.post("/auth/mp/login", json=body), 400, "BAD_REQUEST")
    assert "code" in msg, msg


@pytest.mark.parametrize("first", ["oa", "mp"])
def test_unionid_links_oa_and_mp(client, expect_ok, psql, sim, first):
    unionid = "uIT" + uuid.uuid4().hex
    oa_openid, mp_openid = new_openid("oOA"), new_openid("oMP")

    def via_oa():
        _, state = authorize(client)
        code = sim.oauth_code(openid=oa_openid, unionid=unionid, scope="snsapi_userinfo")
        return check_login(expect_ok(oauth(client, code["code"], state)))["id"]

    def via_mp():
        code = sim.mp_code(openid=mp_openid, unionid=unionid)
        return check_login(expect_ok(mp_login(client, code["code"])))["id"]

    users_before = count(psql, "SELECT count(*) FROM users")
    ids = [via_oa(), via_mp()] if first == "oa" else [via_mp(), via_oa()]
    assert ids[0] == ids[1], ids
    assert count(psql, "SELECT count(*) FROM users") == users_before + 1
    oa, mp = identity_rows(psql, oa_openid), identity_rows(psql, mp_openid)
    assert [(r[0], r[1], r[3]) for r in oa] == [(ids[0], "oa", unionid)], oa
    assert [(r[0], r[1], r[3]) for r in mp] == [(ids[0], "mp", unionid)], mp


def test_login_tokens_name_their_channel_and_app(client, expect_ok, psql, sim):
    """Each login's token says which app is calling: channel oa (H5 OAuth), mp (mini program)
    or web (the Official Account's QR code), with that app's appid."""
    _, state = authorize(client, scope="snsapi_base")
    oa = expect_ok(oauth(client, sim.oauth_code(openid=new_openid("oOA"))["code"], state))
    mp = expect_ok(mp_login(client, sim.mp_code(openid=new_openid("oMP"))["code"]))
    qr = new_qr(client, expect_ok)
    assert sim.scan(new_openid(), subscribed=False, scene_str="login_" + qr["scene"])["status"] \
        == 200
    web = poll(client, expect_ok, qr["scene"])
    check_qr_confirmed(web)
    for data, channel, appid in ((oa, "oa", env("WECHAT_APPID")),
                                 (mp, "mp", env("WECHAT_MP_APPID")),
                                 (web, "web", env("WECHAT_APPID"))):
        claims = jwt_claims(data["token"])
        assert (claims.get("channel"), claims.get("appid")) == (channel, appid), claims
        assert expect_ok(client.get("/user/me", token=data["token"]))["id"] == \
            data["user"]["id"]


def test_token_without_channel_still_works_and_another_apps_token_does_not(
        client, expect_ok, expect_error, make_user, jwt_forge):
    """Tokens issued before tokens named their channel keep working (as the Official
    Account's); a token naming an app this service does not serve is refused."""
    uid = make_user()
    old = jwt_forge.sign(jwt_forge.default_claims(uid))
    assert "channel" not in jwt_forge.claims_like(old)
    assert expect_ok(client.get("/user/me", token=old))["id"] == uid
    for channel, appid in (("mp", env("WECHAT_MP_APPID")), ("oa", env("WECHAT_APPID")),
                           ("web", env("WECHAT_APPID"))):
        tok = jwt_forge.sign(dict(jwt_forge.default_claims(uid), channel=channel, appid=appid))
        assert expect_ok(client.get("/user/me", token=tok))["id"] == uid
    for claims in ({"channel": "mp", "appid": "wxanothermp000001"},
                   {"channel": "oa", "appid": env("WECHAT_MP_APPID")},
                   {"channel": "tv"}, {"channel": "mp", "appid": "wx/../x"}):
        tok = jwt_forge.sign(dict(jwt_forge.default_claims(uid), **claims))
        expect_error(client.get("/user/me", token=tok), 401, "UNAUTHORIZED")


def test_concurrent_first_logins_make_one_user(client, psql, sim):
    """The same new person logging in on several devices at once: one user, one binding
    per app, all sharing the unionid."""
    unionid = "uIT" + uuid.uuid4().hex
    mp_openid, oa_openid = new_openid("oMP"), new_openid("oOA")
    users_before = count(psql, "SELECT count(*) FROM users")
    jobs = [("mp", sim.mp_code(openid=mp_openid, unionid=unionid)["code"], None)
            for _ in range(3)]
    for _ in range(3):
        _, state = authorize(client)
        jobs.append(("oa", sim.oauth_code(openid=oa_openid, unionid=unionid)["code"], state))

    def one(job):
        kind, code, state = job
        if kind == "mp":
            r = requests.post(client.url("/auth/mp/login"), json={"code": code}, timeout=30)
        else:
            r = requests.post(client.url("/auth/wechat/oauth"),
                              json={"code": code, "state": state}, timeout=30,
                              cookies=client.session.cookies)
        assert r.status_code == 200, r.text[:300]
        return r.json()["data"]["user"]["id"]

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        ids = set(pool.map(one, jobs))
    assert len(ids) == 1, ids
    assert count(psql, "SELECT count(*) FROM users") == users_before + 1
    assert len(identity_rows(psql, mp_openid)) == 1
    assert len(identity_rows(psql, oa_openid)) == 1


def test_oauth_user_who_later_subscribes_stays_one_user(client, expect_ok, psql, sim):
    openid = new_openid()
    _, state = authorize(client)
    data = expect_ok(oauth(client, sim.oauth_code(openid=openid)["code"], state))
    uid = check_login(data)["id"]
    assert data["user"]["subscribed"] is False
    users_before = count(psql, "SELECT count(*) FROM users")
    subscribe(sim, openid)
    assert identity_rows(psql, openid) == [(uid, "oa", env("WECHAT_APPID"), None, True)]
    assert count(psql, "SELECT count(*) FROM users") == users_before
    assert expect_ok(client.get("/user/me", token=data["token"]))["subscribed"] is True


def test_disabled_user_cannot_log_in(client, expect_ok, expect_error, psql, sim):
    openid = new_openid("oMP")
    uid = check_login(expect_ok(mp_login(client, sim.mp_code(openid=openid)["code"])))["id"]
    psql(f"UPDATE users SET status = 'disabled' WHERE id = {uid}")
    expect_error(mp_login(client, sim.mp_code(openid=openid)["code"]), 403, "FORBIDDEN")


def test_different_unionids_are_different_users(client, expect_ok, sim):
    a = sim.mp_code(openid=new_openid("oMP"), unionid="uIT" + uuid.uuid4().hex)
    b = sim.mp_code(openid=new_openid("oMP"), unionid="uIT" + uuid.uuid4().hex)
    ua = check_login(expect_ok(mp_login(client, a["code"])))["id"]
    ub = check_login(expect_ok(mp_login(client, b["code"])))["id"]
    assert ua != ub


# --------------------------------------------------------------------------- JS-SDK


def jssdk_signature(ticket, nonce, timestamp, url):
    page = url.split("#", 1)[0]
    return sha1_hex(f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={page}")


def test_jssdk_signature(client, expect_ok, redis_cli, sim):
    appid = env("WECHAT_APPID")
    redis_cli("DEL", f"wx:jsapi:{appid}")
    sim.reset()
    port = urllib.parse.urlsplit(env("PUBLIC_BASE_URL")).port
    urls = [f"http://127.0.0.1:{port}/wechat/member.html?x=1#frag",
            f"http://127.0.0.1:{port}/wechat/index.html?a=1&b=%E4%BD%A0#/route?q=2"]
    answers = []
    for url in urls:
        data = expect_ok(client.get("/auth/wechat/jssdk", params={"url": url}))
        assert set(data) == {"appId", "timestamp", "nonceStr", "signature"}, data
        assert data["appId"] == appid, data
        assert abs(int(data["timestamp"]) - time.time()) < 300, data
        assert isinstance(data["nonceStr"], str) and re.match(r"^[A-Za-z0-9_-]{8,64}$",
                                                              data["nonceStr"]), data
        assert re.match(r"^[0-9a-f]{40}$", data["signature"]), data
        answers.append((url, data))
    assert answers[0][1]["nonceStr"] != answers[1][1]["nonceStr"], "nonceStr is not fresh"
    # The ticket WeChat (the simulator) hands out with the current access token.
    resp = requests.get(sim.base + "/cgi-bin/ticket/getticket",
                        params={"access_token": sim.stats()["current_token"], "type": "jsapi"},
                        timeout=10)
    ticket = resp.json().get("ticket")
    assert ticket, resp.text
    for url, data in answers:
        assert data["signature"] == jssdk_signature(ticket, data["nonceStr"], data["timestamp"],
                                                    url), (url, data)
        # The fragment is not signed: signing the full URL would give another value.
        assert data["signature"] != sha1_hex(
            f"jsapi_ticket={ticket}&noncestr={data['nonceStr']}&timestamp={data['timestamp']}"
            f"&url={url}")
    # Fetched once (the call above is the test's own) and cached under the agreed key.
    assert sim.stats()["jsapi_ticket_calls"] == 2, sim.stats()
    assert redis_cli("GET", f"wx:jsapi:{appid}") == ticket


def test_jssdk_ticket_is_fetched_once_for_concurrent_pages(client, redis_cli, sim):
    appid = env("WECHAT_APPID")
    redis_cli("DEL", f"wx:jsapi:{appid}")
    sim.reset()
    port = urllib.parse.urlsplit(env("PUBLIC_BASE_URL")).port

    def one(i):
        url = f"http://127.0.0.1:{port}/wechat/member.html?n={i}"
        r = requests.get(client.url("/auth/wechat/jssdk"), params={"url": url}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        return url, r.json()["data"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    stats = sim.stats()
    assert stats["jsapi_ticket_calls"] == 1, stats
    ticket = redis_cli("GET", f"wx:jsapi:{appid}")
    for url, data in answers:
        assert data["signature"] == jssdk_signature(ticket, data["nonceStr"], data["timestamp"],
                                                    url), (url, data)


def test_jssdk_ticket_refetch_survives_a_rotated_token(client, expect_ok, redis_cli, sim):
    appid = env("WECHAT_APPID")
    expect_ok(client.post("/auth/wechat/qrcode"))  # an access token is cached
    redis_cli("DEL", f"wx:jsapi:{appid}")
    sim.rotate_token()
    sim.reset()
    url = "http://127.0.0.1/wechat/member.html"
    data = expect_ok(client.get("/auth/wechat/jssdk", params={"url": url}))
    stats = sim.stats()
    assert stats["jsapi_ticket_calls"] == 2 and stats["stable_token_calls"] == 1, stats
    ticket = redis_cli("GET", f"wx:jsapi:{appid}")
    assert data["signature"] == jssdk_signature(ticket, data["nonceStr"], data["timestamp"], url)


@pytest.mark.parametrize("params", [{}, {"url": ""}])
def test_jssdk_missing_url(client, expect_error, params):
    msg = expect_error(client.get("/auth/wechat/jssdk", params=params), 400, "BAD_REQUEST")
    assert "url" in msg, msg


# --------------------------------------------------------------------------- access token


def test_access_token_is_fetched_once_and_recovered_after_rotation(client, expect_ok,
                                                                   redis_cli, sim):
    appid = env("WECHAT_APPID")
    url = client.url("/auth/wechat/qrcode")

    def one(i):
        # from 32 loopback addresses: QR codes are limited per address
        s = requests.Session()
        s.mount("http://", SourceAddress(f"127.0.2.{i + 1}"))
        r = s.post(url, timeout=30)
        return r.status_code, r.text[:200]

    # A cold cache met by 32 requests at once: one fetch.  A few rounds, since a lost
    # race shows only now and then.
    for _ in range(4):
        redis_cli("DEL", f"wx:token:{appid}")
        sim.reset()
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            results = list(pool.map(one, range(32)))
        assert [s for s, _ in results] == [200] * 32, [r for r in results if r[0] != 200][:3]
        stats = sim.stats()
        assert stats["stable_token_calls"] == 1, stats
        assert stats["qrcode_create_calls"] == 32, stats
        assert redis_cli("GET", f"wx:token:{appid}") == stats["current_token"]

    old = stats["current_token"]
    sim.rotate_token()
    assert sim.stats()["current_token"] != old
    expect_ok(client.post("/auth/wechat/qrcode"))
    stats = sim.stats()
    assert stats["stable_token_calls"] == 2, stats
    assert stats["qrcode_create_calls"] == 34, stats  # the failed call and its retry
    assert redis_cli("GET", f"wx:token:{appid}") == stats["current_token"]
    # Later calls use the new cached token without another fetch.
    expect_ok(client.post("/auth/wechat/qrcode"))
    assert sim.stats()["stable_token_calls"] == 2

    # A rotation met by many requests at once: each retries once, one refetch in all.
    sim.rotate_token()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    assert [s for s, _ in results] == [200] * 16, [r for r in results if r[0] != 200][:3]
    stats = sim.stats()
    assert stats["stable_token_calls"] == 3, stats
    assert redis_cli("GET", f"wx:token:{appid}") == stats["current_token"]


# --------------------------------------------------------------------------- PATCH /user/me


def patch_me(client, token, body=None, **kwargs):
    if body is not None:
        kwargs["json"] = body
    return client.request("PATCH", "/user/me", token=token, **kwargs)


@pytest.fixture
def me_user(make_user, token_for, unique):
    uid = make_user(nickname="pm-" + unique, credits=30)
    return {"id": uid, "token": token_for(uid), "nickname": "pm-" + unique}


def test_patch_me_updates_nickname_and_avatar(client, expect_ok, psql, me_user, unique):
    body = {"nickname": "新名字" + unique, "avatar_url": f"https://example.invalid/a/{unique}.png",
            "credits": 999999, "id": 1, "invite_code": "HACKED00", "subscribed": True}
    data = expect_ok(patch_me(client, me_user["token"], body))
    assert set(data) == USER_KEYS, data
    assert data["id"] == me_user["id"], data
    assert data["nickname"] == body["nickname"] and data["avatar_url"] == body["avatar_url"], data
    assert data["credits"] == 30 and data["invite_code"] != "HACKED00", data
    assert data["subscribed"] is False, data
    (nick, avatar, credits), = psql(
        f"SELECT nickname, avatar_url, credits FROM users WHERE id = {me_user['id']}")
    assert (nick, avatar, int(credits)) == (body["nickname"], body["avatar_url"], 30)
    assert expect_ok(client.get("/user/me", token=me_user["token"])) == data


def test_patch_me_one_field_keeps_the_other(client, expect_ok, me_user):
    expect_ok(patch_me(client, me_user["token"], {"avatar_url": "http://example.invalid/x.jpg"}))
    data = expect_ok(patch_me(client, me_user["token"], {"nickname": "only-nick"}))
    assert (data["nickname"], data["avatar_url"]) == ("only-nick", "http://example.invalid/x.jpg")
    data = expect_ok(patch_me(client, me_user["token"], {}))
    assert (data["nickname"], data["avatar_url"]) == ("only-nick", "http://example.invalid/x.jpg")


def test_patch_me_nickname_length_counts_characters(client, expect_ok, expect_error, me_user):
    data = expect_ok(patch_me(client, me_user["token"], {"nickname": "字" * 64}))
    assert data["nickname"] == "字" * 64
    msg = expect_error(patch_me(client, me_user["token"], {"nickname": "字" * 65}),
                       400, "BAD_REQUEST")
    assert "nickname" in msg, msg


def test_patch_me_nickname_with_emoji(client, expect_ok, expect_error, psql, me_user):
    """Characters outside the BMP arrive as JSON surrogate pairs; each counts once."""
    nick = "\U0001F600" * 64
    data = expect_ok(patch_me(client, me_user["token"], {"nickname": nick}))  # \ud83d\ude00 escapes
    assert data["nickname"] == nick
    (stored,), = psql(f"SELECT nickname FROM users WHERE id = {me_user['id']}")
    assert stored == nick
    msg = expect_error(patch_me(client, me_user["token"], {"nickname": nick + "\U0001F600"}),
                       400, "BAD_REQUEST")
    assert "nickname" in msg, msg


@pytest.mark.parametrize("raw", [b'{"nickname":"\xff\xfe"}', b'{"nickname":"a\x00b"}',
                                 b'{"nickname":"a\\u0000b"}', b'{"nickname":"\xc0\xaf"}'])
def test_patch_me_bad_text_is_refused(client, expect_error, psql, me_user, raw):
    expect_error(patch_me(client, me_user["token"], data=raw,
                          headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")
    (nick,), = psql(f"SELECT nickname FROM users WHERE id = {me_user['id']}")
    assert nick == me_user["nickname"]


def test_patch_me_lone_surrogate_never_stores_broken_text(client, expect_ok, psql, me_user):
    """A lone surrogate escape is refused or replaced by U+FFFD; never a 500 or bad UTF-8."""
    resp = patch_me(client, me_user["token"], data=b'{"nickname":"x\\ud83dy"}',
                    headers={"Content-Type": "application/json"})
    (nick,), = psql(f"SELECT nickname FROM users WHERE id = {me_user['id']}")
    if resp.status_code == 400:
        assert nick == me_user["nickname"]
    else:
        assert expect_ok(resp)["nickname"] == "x\ufffdy" == nick


@pytest.mark.parametrize("value", ["x" * 65, "", 123, ["a"], {"a": 1}, True])
def test_patch_me_bad_nickname(client, expect_error, psql, me_user, value):
    msg = expect_error(patch_me(client, me_user["token"], {"nickname": value}), 400, "BAD_REQUEST")
    assert "nickname" in msg, msg
    (nick,), = psql(f"SELECT nickname FROM users WHERE id = {me_user['id']}")
    assert nick == me_user["nickname"]


@pytest.mark.parametrize("value", [
    "ftp://example.invalid/a.png", "javascript:alert(1)", "not a url", "/relative.png",
    "https://", "http://:80/", "https:///path", "http://example.invalid/" + "a" * 500, 5,
    "data:image/png;base64,AAAA", "https://exa mple.invalid/", "https://example.invalid/a\nb",
])
def test_patch_me_bad_avatar_url(client, expect_error, psql, me_user, value):
    body = {"nickname": "should-not-apply", "avatar_url": value}
    msg = expect_error(patch_me(client, me_user["token"], body), 400, "BAD_REQUEST")
    assert "avatar_url" in msg, msg
    (nick, avatar), = psql(f"SELECT nickname, avatar_url FROM users WHERE id = {me_user['id']}")
    assert (nick, avatar) == (me_user["nickname"], ""), "a rejected PATCH changed the row"


def test_patch_me_avatar_url_at_512(client, expect_ok, me_user):
    url = "https://example.invalid/" + "b" * (512 - len("https://example.invalid/"))
    assert len(url) == 512
    assert expect_ok(patch_me(client, me_user["token"], {"avatar_url": url}))["avatar_url"] == url


def test_patch_me_malformed_json(client, expect_error, me_user):
    expect_error(patch_me(client, me_user["token"], data="{\"nickname\":",
                          headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")
    expect_error(patch_me(client, me_user["token"], ["nickname"]), 400, "BAD_REQUEST")


def test_patch_me_needs_a_token(client, expect_error, psql, me_user):
    expect_error(client.request("PATCH", "/user/me", json={"nickname": "anon"}),
                 401, "UNAUTHORIZED")
    (nick,), = psql(f"SELECT nickname FROM users WHERE id = {me_user['id']}")
    assert nick == me_user["nickname"]


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "/auth/wechat/oauth", {"POST"}),
    ("GET", "/auth/mp/login", {"POST"}),
    ("PUT", "/auth/wechat/verify", {"GET", "POST"}),
    ("DELETE", "/auth/wechat/qrcode", {"POST"}),
    ("POST", "/auth/wechat/jssdk", {"GET"}),
    ("POST", "/auth/wechat/authorize", {"GET"}),
    ("DELETE", "/user/me", {"GET", "PATCH"}),
    ("GET", "/admin/login", {"POST"}),
])
def test_wechat_routes_wrong_method(client, expect_error, method, path, allowed):
    resp = client.request(method, path)
    expect_error(resp, 405, "METHOD_NOT_ALLOWED")
    got = {m.strip().upper() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed <= got and method not in got, got


@pytest.mark.parametrize("method,path", [("POST", "/auth/wechat/oauth"),
                                         ("POST", "/auth/mp/login"),
                                         ("PATCH", "/user/me"),
                                         ("POST", "/admin/login")])
def test_json_routes_want_json(client, expect_error, make_user, token_for, method, path):
    token = token_for(make_user()) if path == "/user/me" else None
    resp = client.request(method, path, token=token, data='{"code":"x","nickname":"y"}',
                          headers={"Content-Type": "text/plain"})
    expect_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


# --------------------------------------------------------------------------- template messages


def test_template_message_reaches_wechat_through_the_shared_token(sim, unique):
    """aiphotoctl wechat template sends through the cached access token; the simulator
    records exactly what WeChat would receive; a rotated token is recovered once."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    ctl = str(repo / os.environ.get("AIPHOTO_BUILD", "build") / "aiphotoctl")
    openid = "o" + unique[:20]
    data = '{"first":{"value":"作品已完成"},"remark":{"value":"点击查看"}}'
    sim.rotate_token()  # whatever the cache holds is now stale: one refetch, one retry
    proc = subprocess.run([ctl, "wechat", "template", openid, "TPL_DONE", data,
                           "http://127.0.0.1/wechat/works.html"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    sent = [t for t in sim.templates() if t.get("touser") == openid]
    assert len(sent) == 1, sent
    assert sent[0]["template_id"] == "TPL_DONE"
    assert sent[0]["data"]["first"]["value"] == "作品已完成"
    assert sent[0]["url"] == "http://127.0.0.1/wechat/works.html"
    bad = subprocess.run([ctl, "wechat", "template", openid, "TPL_DONE", "[1]"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "JSON object" in bad.stderr


# --------------------------------------------------------------------------- the menu


def test_menu_is_created_through_the_api_and_opens_the_h5_pages(sim):
    """aiphotoctl wechat menu creates the Official Account's menu (POST /cgi-bin/menu/create
    with the shared access token, which the simulator checks as WeChat does): every entry is
    a view button on a page of wechat-pages/ under PUBLIC_BASE_URL, and every page exists."""
    repo = pathlib.Path(__file__).resolve().parents[2]
    ctl = str(repo / os.environ.get("AIPHOTO_BUILD", "build") / "aiphotoctl")
    base = os.environ["PUBLIC_BASE_URL"].rstrip("/")
    printed = subprocess.run([ctl, "wechat", "menu", "--print"], capture_output=True, text=True,
                             timeout=30)
    assert printed.returncode == 0, printed.stderr
    before = sim.stats().get("menu_creates", 0)
    sim.rotate_token()  # a stale cached token is recovered once, as for any call
    proc = subprocess.run([ctl, "wechat", "menu"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert sim.stats()["menu_creates"] == before + 1
    menu = sim.menu()
    assert menu == json.loads(printed.stdout), "the menu sent is the one --print shows"
    names = [b["name"] for b in menu["button"]]
    assert names == ["AI 创作", "我的作品", "会员中心"]
    entries = []
    for b in menu["button"]:
        entries += b.get("sub_button") or [b]
    pages = {}
    for e in entries:
        assert e["type"] == "view", e
        assert e["url"].startswith(base + "/wechat/"), e
        page = urllib.parse.urlsplit(e["url"]).path.rsplit("/", 1)[1]
        assert (repo / "wechat-pages" / page).is_file(), e
        pages[e["name"]] = e["url"][len(base) + len("/wechat/"):]
    assert pages == {
        "AI 写真": "studio.html?kind=photography", "AI 试衣": "studio.html?kind=fitting",
        "生成进度": "task.html", "我的作品": "works.html", "会员中心": "member.html",
        "积分充值": "credits.html", "积分明细": "credits_info.html"}
    # the pages answer on the stack
    for url in {e["url"] for e in entries}:
        assert requests.get(url, timeout=10).status_code == 200, url
    bad = subprocess.run([ctl, "wechat", "menu", "--bogus"], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_simulator_refuses_a_menu_as_wechat_does(sim):
    """The simulator's menu/create checks what WeChat checks (tests/sim/README.md)."""
    token = sim.stats()["current_token"]
    url = sim.base + "/cgi-bin/menu/create?access_token=" + token
    cases = [
        ({}, 40017),
        ({"button": [{"type": "view", "name": "x", "url": "http://a/"}] * 4}, 40018),
        ({"button": [{"type": "view", "name": "名" * 6, "url": "http://a/"}]}, 40018),
        ({"button": [{"name": "x", "sub_button": [{"type": "click", "name": "y", "key": "k"}] * 6}]},
         40023),
        ({"button": [{"type": "view", "name": "x", "url": "ftp://a/"}]}, 40055),
        ({"button": [{"type": "click", "name": "x"}]}, 40019),
        ({"button": [{"type": "scan", "name": "x"}]}, 40017),
    ]
    for body, code in cases:
        r = requests.post(url, data=json.dumps(body, ensure_ascii=False).encode(), timeout=10)
        assert r.json()["errcode"] == code, (body, r.text)
    r = requests.post(sim.base + "/cgi-bin/menu/create?access_token=wrong",
                      data=b'{"button":[{"type":"click","name":"x","key":"k"}]}', timeout=10)
    assert r.json()["errcode"] in (40001, 40014)
