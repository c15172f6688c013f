"""Self-tests of the WeChat Pay part of the simulator (tests/sim/ext_pay.py, paycrypto.py).

The first part checks this file's own Pay crypto, and the simulator's paycrypto module, against
the published Pay v3 vectors (tests/sim/vectors/), with no stack needed. The second part talks
to the running simulator with requests signed by this file's own code: it refuses unsigned or
badly signed requests and requests without Accept or User-Agent; orders, queries and closes
work; every answer is signed under the platform key. Notifications go to a small callback
server inside this test, which verifies and decrypts them with this file's own code: the
genuine one passes every check, each forged variant fails exactly the check it is named after,
and a notification that is not acknowledged is retried a bounded number of times.
"""

import base64
import http.client
import http.server
import json
import os
import pathlib
import secrets
import sys
import threading
import time
import urllib.parse

import pytest
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

REPO = pathlib.Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "sim" / "vectors"
sys.dont_write_bytecode = True
sys.path.insert(0, str(REPO / "tests" / "sim"))
import devcreds  # noqa: E402
import paycrypto  # noqa: E402

TIMEOUT = 10
DEV_MCHID = devcreds.DEV["WXPAY_MCHID"]
SCHEME = "WECHATPAY2-SHA256-RSA2048"

# --------------------------------------------------------------------------- this file's crypto


def own_sign(key, message):
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def own_verify(pub, message, signature):
    try:
        pub.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(),
                   hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def own_open(key, resource):
    """Decrypt a notification resource: AES-GCM, tag = the last 16 bytes of the ciphertext."""
    return AESGCM(key).decrypt(resource["nonce"].encode(),
                               base64.b64decode(resource["ciphertext"]),
                               resource["associated_data"].encode())


def own_authorization(key, mchid, serial, method, url, body, timestamp=None, nonce=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16).upper()
    msg = f"{method}\n{url}\n{ts}\n{nonce}\n".encode() + body + b"\n"
    return (f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",timestamp="{ts}",'
            f'serial_no="{serial}",signature="{own_sign(key, msg)}"')


def load_key(path):
    return serialization.load_pem_private_key(pathlib.Path(path).read_bytes(), None)


# --------------------------------------------------------------------------- vectors
# wechatpay-go: signer test (message "source") and notification test; wechatpay-java: the
# AES-256-GCM cipher test and the encrypted /v3/certificates answer.
GO_SOURCE_SIGNATURE = (
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pH"
    "U4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZ"
    "UguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RA"
    "JbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg==")
GO_NOTIFY_TS, GO_NOTIFY_NONCE = "1624523846", "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz"
GO_NOTIFY_BODY = (
    '{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00",'
    '"resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功",'
    '"resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM",'
    '"ciphertext":"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZt'
    'tevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR'
    '7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==","associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}'
).encode()
GO_NOTIFY_SIGNATURE = (
    "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXF"
    "lbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1I"
    "BLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY4"
    "06ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q==")
GO_NOTIFY_PLAIN = (b'{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c",'
                   b'"create_time":"2020-06-30T12:12:00+08:00",'
                   b'"out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}')
JAVA_KEY = b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"  # a real-size (32-byte) APIv3 key
# Derived from the wechatpay-go test key (PKCS#1 v1.5 is deterministic).
GET_SIGN_MESSAGE = b"GET\n/v3/pay/transactions/out-trade-no/T1?mchid=1230000109\n1624523846\nA1B2C3D4E5F6G7\n\n"
GET_SIGNATURE = (
    "zY7rLCS6WRR51X2JyCsuImo+k7Q63lIQLdQyI7lXhQhwPu6hQASo8vK2lZecz253+CC5+o+iFqWavbhJrwG7UqmdGlg"
    "rVS+DRPO3oIQrpRpl5UkwaGkEMGYXs/s0MNRzKUyVD9gDFaBfr6p1+oPcT157uvGFHCgTWpY2Dx9zrzsPjbWY98H9Qv"
    "xG7e8phPVWkP7SUMmfbyt8sLByUASvOug0sspQKpGsnEXwzsRnNRFMCzp4XkmSMBPUoEuemP7fGbHJsac3Vlc04jfCDh"
    "Ask/eVVhututjUw91Tc0K0jvtJGi8qoY3YcIQbihgm3O7G0erYxOHua++7Km0EU+iVtQ==")
PAYSIGN = (
    "lWPVlYkUA6NVql1OkuMYxbbyB4rLIZmWTb85elvPr/ktoTMYPrvxZlUJB9XZcZYq9LwXdAbw79W2jMgQyQD5ceTUtnDa"
    "902HIN3ATRPYJlBzIqwvo/gMhMby5RAXncjXatI0QHxBcsZwm0u1+3XRm2rbYJAGRAVgqzVccpjW+JEoiPI4IJyYRmLC"
    "jglV952AyQ411QgkYJtQZg/lh//dConDkndY+7AtpqaBA+ZQ/1SkBMg4U5t/e/wyOlpJS1cH5P2E3+Q+XLCL2/GNKJtr"
    "uigr1uEv2i5uJ7wwjEliYZ0yTqCgyUrvC1GRnWsSZcMTx7jYxn6gcYi4ls9AVBp3qg==")


@pytest.fixture(scope="module")
def go_key():
    return load_key(VECTORS / "go_test_key.pem")


@pytest.fixture(scope="module")
def go_cert():
    return x509.load_pem_x509_certificate((VECTORS / "go_notify_cert.pem").read_bytes())


def test_sign_vectors(go_key):
    assert own_sign(go_key, b"source") == GO_SOURCE_SIGNATURE
    assert paycrypto.sign(go_key, "source") == GO_SOURCE_SIGNATURE
    assert own_sign(go_key, GET_SIGN_MESSAGE) == GET_SIGNATURE
    assert paycrypto.request_message("GET", "/v3/pay/transactions/out-trade-no/T1?mchid=1230000109",
                                     1624523846, "A1B2C3D4E5F6G7", b"") == GET_SIGN_MESSAGE
    assert paycrypto.pay_sign(go_key, "wxd678efh567hg6787", "1624523846",
                              "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                              "prepay_id=wx201410272009395522657a690389285100") == PAYSIGN


def test_notification_vector(go_cert):
    assert format(go_cert.serial_number, "X") == "D7CE59D1F522D701"
    assert paycrypto.cert_serial(VECTORS / "go_notify_cert.pem") == "D7CE59D1F522D701"
    msg = f"{GO_NOTIFY_TS}\n{GO_NOTIFY_NONCE}\n".encode() + GO_NOTIFY_BODY + b"\n"
    assert msg == paycrypto.answer_message(GO_NOTIFY_TS, GO_NOTIFY_NONCE, GO_NOTIFY_BODY)
    pub = go_cert.public_key()
    assert own_verify(pub, msg, GO_NOTIFY_SIGNATURE)
    assert paycrypto.verify(paycrypto.load_public(VECTORS / "go_notify_cert.pem"), msg,
                            GO_NOTIFY_SIGNATURE)
    assert not own_verify(pub, msg.replace(b"payscore", b"payscorf", 1), GO_NOTIFY_SIGNATURE)
    assert not paycrypto.verify(pub, msg + b" ", GO_NOTIFY_SIGNATURE)
    resource = json.loads(GO_NOTIFY_BODY)["resource"]
    # This vector has a 16-byte test key (AES-128-GCM); real APIv3 keys have 32 bytes.
    assert own_open(b"testMchAPIv3Key0", resource) == GO_NOTIFY_PLAIN
    assert paycrypto.aead_decrypt(b"testMchAPIv3Key0", resource["nonce"],
                                  resource["associated_data"],
                                  resource["ciphertext"]) == GO_NOTIFY_PLAIN


def test_gcm_vectors_with_a_32_byte_key():
    ct = "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
    assert base64.b64encode(AESGCM(JAVA_KEY).encrypt(b"uluk4a9R25RW", b"message",
                                                     b"associatedData")).decode() == ct
    assert paycrypto.aead_encrypt(JAVA_KEY, "uluk4a9R25RW", "associatedData", "message") == ct
    assert own_open(JAVA_KEY, {"nonce": "uluk4a9R25RW", "ciphertext": ct,
                               "associated_data": "associatedData"}) == b"message"
    assert paycrypto.aead_decrypt(JAVA_KEY, "uluk4a9R25RW", "associatedData", ct) == b"message"
    cert_ct = (VECTORS / "java_cert_ct.txt").read_text().strip()
    pem = own_open(JAVA_KEY, {"nonce": "14b16c03dc1b", "ciphertext": cert_ct,
                              "associated_data": "certificate"})
    assert format(x509.load_pem_x509_certificate(pem).serial_number, "X") == \
        "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
    assert paycrypto.aead_decrypt(JAVA_KEY, "14b16c03dc1b", "certificate", cert_ct) == pem
    with pytest.raises(ValueError):
        paycrypto.aead_decrypt(JAVA_KEY, "uluk4a9R25RW", "associatedDatb", ct)
    with pytest.raises(InvalidTag):
        AESGCM(JAVA_KEY).decrypt(b"uluk4a9R25RW", base64.b64decode(ct)[:-1] + b"\0",
                                 b"associatedData")


def test_authorization_round_trip(go_key):
    value = paycrypto.authorization(go_key, "1230000109", "F5765756002FDD77", "GET",
                                    "/v3/pay/transactions/out-trade-no/T1?mchid=1230000109", b"",
                                    nonce="A1B2C3D4E5F6G7", timestamp=1624523846)
    auth = paycrypto.parse_authorization(value)
    assert auth == {"mchid": "1230000109", "nonce_str": "A1B2C3D4E5F6G7",
                    "timestamp": "1624523846", "serial_no": "F5765756002FDD77",
                    "signature": GET_SIGNATURE}
    assert value == own_authorization(go_key, "1230000109", "F5765756002FDD77", "GET",
                                      "/v3/pay/transactions/out-trade-no/T1?mchid=1230000109",
                                      b"", timestamp=1624523846, nonce="A1B2C3D4E5F6G7")
    for bad in ("", "Bearer x", SCHEME + ' mchid="1"', SCHEME + " garbage"):
        with pytest.raises(ValueError):
            paycrypto.parse_authorization(bad)


# --------------------------------------------------------------------------- the running simulator


class PayClient:
    def __init__(self):
        env = os.environ
        self.base = env["WXPAY_API_BASE"].rstrip("/")
        self.sim = env["AIPHOTO_SIM_URL"].rstrip("/")
        self.prefix = urllib.parse.urlsplit(self.base).path
        self.mchid = env["WXPAY_MCHID"]
        self.serial = env["WXPAY_SERIAL"]
        self.key = load_key(env["WXPAY_PRIVATE_KEY_FILE"])
        self.platform = serialization.load_pem_public_key(
            pathlib.Path(env["WXPAY_PUBLIC_KEY_FILE"]).read_bytes())
        self.apiv3 = env["WXPAY_APIV3_KEY"].encode()
        self.key_id = env["WXPAY_PUBLIC_KEY_ID"]
        self.appid = env.get("WECHAT_APPID") or "wxsimoa0000000001"
        self.mp_appid = env.get("WECHAT_MP_APPID") or "wxsimmp0000000001"
        self.session = requests.Session()

    def call(self, method, path, body=None, sign=True, headers=None, relative=False, **auth_kw):
        raw = b"" if body is None else (body if isinstance(body, bytes) else
                                        json.dumps(body, ensure_ascii=False).encode())
        hdrs = {"Accept": "application/json", "User-Agent": "aiphoto-test/1",
                "Content-Type": "application/json"}
        if sign:
            url = path if relative else self.prefix + path
            args = dict(key=self.key, mchid=self.mchid, serial=self.serial)
            args.update(auth_kw)
            hdrs["Authorization"] = own_authorization(args["key"], args["mchid"], args["serial"],
                                                      method, url, raw,
                                                      timestamp=args.get("timestamp"))
        hdrs.update(headers or {})
        return self.session.request(method, self.base + path, data=raw or None, headers=hdrs,
                                    timeout=TIMEOUT)

    def answer_ok(self, resp):
        """The answer carries a valid Pay signature under the platform public key."""
        h = resp.headers
        assert h.get("Wechatpay-Serial") == self.key_id, dict(h)
        assert abs(time.time() - int(h["Wechatpay-Timestamp"])) < 300
        msg = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + \
            resp.content + b"\n"
        return own_verify(self.platform, msg, h["Wechatpay-Signature"])

    def control(self, method, path, body=None, status=200):
        r = self.session.request(method, self.sim + path, json=body, timeout=30)
        assert r.status_code == status, f"{path} -> {r.status_code}: {r.text[:300]}"
        return r.json()

    def payer(self, app="oa"):
        """A new openid, a user of the OA or of the mini program (as a login would make it)."""
        openid = "oSimPayer" + secrets.token_hex(9)
        self.control("POST", "/__sim/openids", {"openid": openid, "app": app})
        return openid

    def order(self, notify_url, total=100, out_trade_no=None, openid=None, appid=None):
        out_trade_no = out_trade_no or "AP" + str(time.time_ns())[:16] + secrets.token_hex(4)
        appid = appid or self.appid
        openid = openid or self.payer("mp" if appid == self.mp_appid else "oa")
        body = {"appid": appid, "mchid": self.mchid, "description": "积分套餐 测试",
                "out_trade_no": out_trade_no, "notify_url": notify_url,
                "amount": {"total": total, "currency": "CNY"}, "payer": {"openid": openid}}
        r = self.call("POST", "/v3/pay/transactions/jsapi", body)
        assert r.status_code == 200, r.text
        assert self.answer_ok(r)
        return dict(body, prepay_id=r.json()["prepay_id"])


@pytest.fixture(scope="module")
def pay():
    if not os.environ.get("AIPHOTO_SIM_URL") or not os.environ.get("WXPAY_API_BASE"):
        pytest.skip("the stack does not run the simulator's Pay part")
    if os.environ.get("WXPAY_MCHID") != DEV_MCHID:
        pytest.skip("WXPAY_MCHID is a real merchant: no Pay simulator")
    c = PayClient()
    c.control("POST", "/__sim/pay/reset", {})
    yield c
    c.control("POST", "/__sim/pay/reset", {})
    c.session.close()


class Receiver(http.server.ThreadingHTTPServer):
    """A stand-in for the product's notify endpoint: records what arrives, answers from a
    script of statuses (then `default`)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.seen = []
        self.script = []
        self.default = 204
        self.lock = threading.Lock()

    def wait_for(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.seen) >= n:
                    return list(self.seen)
            time.sleep(0.02)
        pytest.fail(f"{n} notifications expected, {len(self.seen)} arrived")


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        names = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
                 "Wechatpay-Serial", "Wechatpay-Signature-Type", "Content-Type")
        rec = {"path": self.path, "body": body, "at": time.monotonic(),
               "headers": {n: self.headers.get(n) for n in names if n in self.headers}}
        with srv.lock:
            srv.seen.append(rec)
            status = srv.script.pop(0) if srv.script else srv.default
        out = b"" if status == 204 else (b"" if status < 300 else
                                         b'{"code":"FAIL","message":"fail"}')
        self.send_response(status)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def receiver():
    srv = Receiver()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/api/v1/payment/notify"
    yield srv
    srv.shutdown()
    srv.server_close()


def judge(pay, rec, order):
    """The checks a careful merchant makes on a notification; returns the names that fail."""
    failed = set()
    h = rec["headers"]
    if not all(n in h for n in ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
                                "Wechatpay-Serial")):
        failed.add("header")
    else:
        if h["Wechatpay-Serial"] != pay.key_id:
            failed.add("serial")
        if abs(time.time() - int(h["Wechatpay-Timestamp"])) >= 300:
            failed.add("timestamp")
        msg = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + rec["body"] + b"\n"
        if h["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/") or \
                not own_verify(pay.platform, msg, h["Wechatpay-Signature"]):
            failed.add("signature")
    env = json.loads(rec["body"])
    assert env["resource_type"] == "encrypt-resource"
    assert env["event_type"] == "TRANSACTION.SUCCESS"
    assert env["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert env["resource"]["original_type"] == "transaction"
    try:
        tx = json.loads(own_open(pay.apiv3, env["resource"]))
    except InvalidTag:
        failed.add("decrypt")
        return failed
    assert tx["trade_state"] == "SUCCESS" and tx["trade_type"] == "JSAPI"
    assert tx["transaction_id"].startswith("4200")
    assert tx["payer"]["openid"] == order["payer"]["openid"]
    if tx["amount"]["total"] != order["amount"]["total"] or \
            tx["amount"]["payer_total"] != order["amount"]["total"]:
        failed.add("amount")
    for field in ("mchid", "appid", "out_trade_no"):
        if tx[field] != order[field]:
            failed.add({"out_trade_no": "order"}.get(field, field))
    return failed


def test_requests_need_accept_and_user_agent(pay):
    # http.client adds neither header by itself (requests and urllib3 would).
    path = f"{pay.prefix}/v3/pay/transactions/out-trade-no/APNONE000001?mchid={pay.mchid}"
    target = urllib.parse.urlsplit(pay.base)
    for drop in ("Accept", "User-Agent"):
        headers = {"Accept": "application/json", "User-Agent": "aiphoto-test/1",
                   "Authorization": own_authorization(pay.key, pay.mchid, pay.serial, "GET",
                                                      path, b"")}
        del headers[drop]
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=TIMEOUT)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            status, body = resp.status, json.loads(resp.read())
        finally:
            conn.close()
        assert status == 400, (drop, body)
        assert body == {"code": "INVALID_REQUEST", "message": "Http头缺少Accept或User-Agent"}
    # With both: an ordinary answer (this order does not exist).
    r = pay.call("GET", f"/v3/pay/transactions/out-trade-no/APNONE000001?mchid={pay.mchid}")
    assert r.status_code == 404 and r.json()["code"] == "ORDER_NOT_EXIST"


def test_unsigned_and_badly_signed_requests_are_refused(pay, receiver):
    order = {"appid": pay.appid, "mchid": pay.mchid, "description": "x",
             "out_trade_no": "APSIGN" + secrets.token_hex(6), "notify_url": receiver.url,
             "amount": {"total": 1, "currency": "CNY"}, "payer": {"openid": pay.payer()}}
    path = "/v3/pay/transactions/jsapi"
    other_key = load_key(VECTORS / "go_test_key.pem")
    cases = {
        "unsigned": pay.call("POST", path, order, sign=False),
        "other key": pay.call("POST", path, order, key=other_key),
        "other mchid": pay.call("POST", path, order, mchid="1900000999"),
        "other serial": pay.call("POST", path, order, serial="0123456789ABCDEF"),
        "old timestamp": pay.call("POST", path, order, timestamp=int(time.time()) - 900),
        "not the scheme": pay.call("POST", path, order, sign=False,
                                   headers={"Authorization": "Bearer abc"}),
    }
    # The body sent differs from the body signed.
    auth = own_authorization(pay.key, pay.mchid, pay.serial, "POST", pay.prefix + path,
                             json.dumps(order).encode())
    cases["other body"] = pay.call("POST", path, dict(order, description="y"), sign=False,
                                   headers={"Authorization": auth})
    for name, r in cases.items():
        assert r.status_code == 401, (name, r.text)
        assert r.json()["code"] == "SIGN_ERROR", name
        assert pay.answer_ok(r), name
    orders = pay.control("GET", "/__sim/pay/orders")
    assert order["out_trade_no"] not in [o["out_trade_no"] for o in orders]
    # The URL signed without the simulator's /pay prefix is accepted too.
    r = pay.call("POST", path, order, relative=True)
    assert r.status_code == 200, r.text


def test_order_query_close(pay, receiver):
    order = pay.order(receiver.url, total=990)
    assert order["prepay_id"].startswith("wx")
    no = order["out_trade_no"]
    r = pay.call("GET", f"/v3/pay/transactions/out-trade-no/{no}?mchid={pay.mchid}")
    assert r.status_code == 200 and pay.answer_ok(r), r.text
    q = r.json()
    assert q["trade_state"] == "NOTPAY" and "transaction_id" not in q
    assert (q["appid"], q["mchid"], q["out_trade_no"]) == (pay.appid, pay.mchid, no)
    assert q["amount"]["total"] == 990 and q["amount"]["currency"] == "CNY"
    assert q["payer"]["openid"] == order["payer"]["openid"]
    # The same order again: a fresh prepay_id; another amount: refused.
    body = {k: v for k, v in order.items() if k != "prepay_id"}
    r = pay.call("POST", "/v3/pay/transactions/jsapi", body)
    assert r.status_code == 200 and r.json()["prepay_id"] != order["prepay_id"]
    r = pay.call("POST", "/v3/pay/transactions/jsapi", dict(body, amount={"total": 991}))
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST", r.text
    assert pay.answer_ok(r)
    # A query naming another merchant, an unknown order.
    r = pay.call("GET", f"/v3/pay/transactions/out-trade-no/{no}?mchid=1900000999")
    assert r.status_code == 400, r.text
    r = pay.call("GET", f"/v3/pay/transactions/out-trade-no/APUNKNOWN0001?mchid={pay.mchid}")
    assert r.status_code == 404 and r.json()["code"] == "ORDER_NOT_EXIST"
    # Close: 204 with a signature over the empty body; the order is CLOSED and cannot be paid.
    r = pay.call("POST", f"/v3/pay/transactions/out-trade-no/{no}/close", {"mchid": pay.mchid})
    assert r.status_code == 204 and r.content == b"", r.text
    assert pay.answer_ok(r)
    r = pay.call("GET", f"/v3/pay/transactions/out-trade-no/{no}?mchid={pay.mchid}")
    assert r.json()["trade_state"] == "CLOSED"
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": no}, status=409)


def test_good_notify_verifies_and_decrypts(pay, receiver):
    order = pay.order(receiver.url, total=1200)
    out = pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"]})
    assert out["status"] == 204 and out["transaction_id"].startswith("4200")
    (rec,) = receiver.wait_for(1)
    assert rec["path"] == "/api/v1/payment/notify"
    assert rec["headers"]["Content-Type"] == "application/json"
    assert rec["headers"]["Wechatpay-Signature-Type"] == SCHEME
    assert judge(pay, rec, order) == set()
    tx = json.loads(own_open(pay.apiv3, json.loads(rec["body"])["resource"]))
    assert tx["transaction_id"] == out["transaction_id"]
    assert tx["success_time"].endswith("+08:00")
    r = pay.call("GET", f"/v3/pay/transactions/out-trade-no/{order['out_trade_no']}"
                 f"?mchid={pay.mchid}")
    q = r.json()
    assert q["trade_state"] == "SUCCESS" and q["transaction_id"] == out["transaction_id"]
    assert q["amount"]["payer_total"] == 1200
    r = pay.call("GET", f"/v3/pay/transactions/id/{out['transaction_id']}?mchid={pay.mchid}")
    assert r.status_code == 200 and r.json()["out_trade_no"] == order["out_trade_no"]
    # Paid orders cannot be closed; acknowledged notifications are not retried.
    r = pay.call("POST", f"/v3/pay/transactions/out-trade-no/{order['out_trade_no']}/close",
                 {"mchid": pay.mchid})
    assert r.status_code == 400 and r.json()["code"] == "ORDERPAID"
    time.sleep(0.6)
    assert len(receiver.seen) == 1


FORGED = {
    "bad_signature": {"signature"}, "old_timestamp": {"timestamp"},
    "future_timestamp": {"timestamp"}, "unknown_serial": {"serial"},
    "signtest": {"signature"}, "tampered_ciphertext": {"decrypt"},
    "flipped_body": {"signature"}, "wrong_amount": {"amount"}, "wrong_mchid": {"mchid"},
    "wrong_appid": {"appid"}, "other_app": {"appid"}, "missing_header": {"header"},
    "unknown_order": {"order"},
}


@pytest.mark.parametrize("variant", sorted(FORGED))
def test_forged_notify_fails_exactly_its_check(pay, receiver, variant):
    order = pay.order(receiver.url, total=300)
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"],
                                           "notify": False})
    receiver.default = 401  # as the product answers a forgery: never retried
    out = pay.control("POST", "/__sim/pay/notify", {"out_trade_no": order["out_trade_no"],
                                                    "variant": variant})
    assert out["statuses"] == [401]
    (rec,) = receiver.wait_for(1)
    assert judge(pay, rec, order) == FORGED[variant]
    h = rec["headers"]
    if variant == "signtest":
        assert h["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    if variant == "missing_header":
        assert "Wechatpay-Signature" not in h and "Wechatpay-Timestamp" in h
    if variant == "flipped_body":
        signed = out["sent"]["signed_body"].encode()
        assert len(signed) == len(rec["body"])
        assert sum(a != b for a, b in zip(signed, rec["body"])) == 1
        msg = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + signed + b"\n"
        assert own_verify(pay.platform, msg, h["Wechatpay-Signature"])
    if variant == "old_timestamp":
        assert int(h["Wechatpay-Timestamp"]) <= time.time() - 300
    if variant == "future_timestamp":
        assert int(h["Wechatpay-Timestamp"]) >= time.time() + 300
    time.sleep(0.4)
    assert len(receiver.seen) == 1, "a forged notification was retried"


def test_missing_header_can_name_the_header(pay, receiver):
    order = pay.order(receiver.url)
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"],
                                           "notify": False})
    pay.control("POST", "/__sim/pay/notify", {"out_trade_no": order["out_trade_no"],
                                              "variant": "missing_header",
                                              "header": "Wechatpay-Serial"})
    (rec,) = receiver.wait_for(1)
    assert "Wechatpay-Serial" not in rec["headers"] and "Wechatpay-Signature" in rec["headers"]


def test_concurrent_duplicates(pay, receiver):
    order = pay.order(receiver.url)
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"],
                                           "notify": False})
    out = pay.control("POST", "/__sim/pay/notify", {"out_trade_no": order["out_trade_no"],
                                                    "count": 4})
    assert out["statuses"] == [204] * 4
    seen = receiver.wait_for(4)
    assert len({r["body"] for r in seen}) == 1
    assert len({r["headers"]["Wechatpay-Signature"] for r in seen}) == 1
    assert all(judge(pay, r, order) == set() for r in seen)


def test_retried_until_acknowledged(pay, receiver):
    order = pay.order(receiver.url)
    receiver.script = [500, 503]
    out = pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"],
                                                 "retry_delays": [0.1, 0.2, 0.2, 0.2]})
    assert out["status"] == 500 and out["retrying"] is True
    seen = receiver.wait_for(3)
    time.sleep(1.0)
    assert len(receiver.seen) == 3, "retried after a 2xx answer"
    assert len({r["body"] for r in seen}) == 1  # the same notification each time
    assert all(judge(pay, r, order) == set() for r in seen)
    gaps = [b["at"] - a["at"] for a, b in zip(seen, seen[1:])]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, gaps
    log = [n for n in pay.control("GET", "/__sim/pay/notifies")
           if n["out_trade_no"] == order["out_trade_no"]]
    assert [(n["attempt"], n["status"]) for n in log] == [(1, 500), (2, 503), (3, 204)]
    (o,) = [o for o in pay.control("GET", "/__sim/pay/orders")
            if o["out_trade_no"] == order["out_trade_no"]]
    assert o["notify_acked"] is True and o["notify_tries"] == 3 and o["retrying"] is False


def test_retries_are_bounded(pay, receiver):
    order = pay.order(receiver.url)
    receiver.default = 500
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"],
                                           "retry_delays": [0.05] * 7})
    receiver.wait_for(8)
    time.sleep(0.8)
    assert len(receiver.seen) == 8
    (o,) = [o for o in pay.control("GET", "/__sim/pay/orders")
            if o["out_trade_no"] == order["out_trade_no"]]
    assert o["notify_acked"] is False and o["retrying"] is False


def test_unreachable_callback_is_retried_and_reset_stops_retries(pay, receiver):
    order = pay.order(receiver.url)
    receiver.default = 502
    out = pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"],
                                                 "retry_delays": [1.0] * 7})
    assert out["retrying"] is True
    assert pay.control("GET", "/__sim/stats")["pay_pending_retries"] == 1
    pay.control("POST", "/__sim/pay/reset", {})
    time.sleep(1.5)
    assert len(receiver.seen) == 1
    # Nobody listening: the first try fails without a status and is retried.
    order = pay.order(receiver.url)
    receiver.shutdown()
    receiver.server_close()
    out = pay.control("POST", "/__sim/pay/pay", {"out_trade_no": order["out_trade_no"],
                                                 "retry_delays": [0.05, 0.05]})
    assert out["status"] is None and out["error"] and out["retrying"] is True
    time.sleep(0.6)
    log = [n for n in pay.control("GET", "/__sim/pay/notifies")
           if n["out_trade_no"] == order["out_trade_no"]]
    assert [n["attempt"] for n in log] == [1, 2, 3]


def test_payer_must_be_a_user_of_the_orders_app(pay, receiver):
    """As Pay does: the payer's openid belongs to one app, the order's appid must be that app
    (PARAM_ERROR "appid和openid不匹配"); an openid WeChat never issued is refused alike."""
    oa_user, mp_user = pay.payer("oa"), pay.payer("mp")
    mp_order = pay.order(receiver.url, appid=pay.mp_appid, openid=mp_user)
    q = pay.call("GET", f"/v3/pay/transactions/out-trade-no/{mp_order['out_trade_no']}"
                        f"?mchid={pay.mchid}").json()
    assert (q["appid"], q["payer"]["openid"]) == (pay.mp_appid, mp_user), q
    pay.order(receiver.url, appid=pay.appid, openid=oa_user)
    for appid, openid in ((pay.mp_appid, oa_user), (pay.appid, mp_user),
                          (pay.appid, "oNeverIssued" + secrets.token_hex(8))):
        body = {"appid": appid, "mchid": pay.mchid, "description": "x",
                "out_trade_no": "APMIX" + secrets.token_hex(8), "notify_url": receiver.url,
                "amount": {"total": 1, "currency": "CNY"}, "payer": {"openid": openid}}
        r = pay.call("POST", "/v3/pay/transactions/jsapi", body)
        assert r.status_code == 400 and pay.answer_ok(r), r.text
        assert r.json() == {"code": "PARAM_ERROR", "message": "appid和openid不匹配"}, r.text


def test_an_appid_not_bound_to_the_merchant_is_refused(pay, receiver):
    cfg = pay.control("GET", "/__sim/pay/config")
    assert sorted(cfg["bound_appids"]) == sorted([pay.appid, pay.mp_appid]), cfg
    openid = pay.payer("mp")
    body = {"appid": pay.mp_appid, "mchid": pay.mchid, "description": "x",
            "out_trade_no": "APBIND" + secrets.token_hex(8), "notify_url": receiver.url,
            "amount": {"total": 1, "currency": "CNY"}, "payer": {"openid": openid}}
    try:
        assert pay.control("POST", "/__sim/pay/bindings",
                           {"appid": pay.mp_appid, "bound": False}) == {"bound": [pay.appid]}
        r = pay.call("POST", "/v3/pay/transactions/jsapi", body)
        assert r.status_code == 400 and pay.answer_ok(r), r.text
        assert r.json()["code"] == "APPID_MCHID_NOT_MATCH", r.text
    finally:
        pay.control("POST", "/__sim/pay/bindings", {"appid": pay.mp_appid, "bound": True})
    assert pay.call("POST", "/v3/pay/transactions/jsapi", body).status_code == 200
    pay.control("POST", "/__sim/pay/bindings", {"appid": "wxnotours", "bound": False},
                status=400)


def test_fault_rules_answer_5xx_or_nothing(pay, receiver):
    order = pay.order(receiver.url)
    path = f"/v3/pay/transactions/out-trade-no/{order['out_trade_no']}?mchid={pay.mchid}"
    pay.control("POST", "/__sim/pay/faults", {"op": "query", "status": 503, "times": 2})
    for _ in range(2):
        r = pay.call("GET", path)
        assert r.status_code == 503 and r.json()["code"] == "SYSTEM_ERROR", r.text
    assert pay.call("GET", path).status_code == 200
    pay.control("POST", "/__sim/pay/faults", {"op": "query", "hang": 30, "times": None})
    started = time.monotonic()
    with pytest.raises(requests.exceptions.RequestException):
        pay.session.get(pay.base + path, timeout=1, headers={"Accept": "application/json"})
    assert time.monotonic() - started < 5
    rules = pay.control("GET", "/__sim/pay/faults")["rules"]
    assert [(r["op"], r["hang"], r["hits"]) for r in rules if r["remaining"] is None] == \
        [("query", 30, 1)], rules
    assert pay.control("DELETE", "/__sim/pay/faults")["cleared"] == 2
    assert pay.call("GET", path).status_code == 200
    for bad in ({"op": "transfer"}, {"op": "jsapi", "status": 418}, {"op": "jsapi", "hang": -1},
                {"op": "jsapi", "times": 0}, {"op": "refund", "status": 400, "code": ""},
                {"op": "refund", "status": 400, "message": 3},
                {"op": "refund", "status": 400, "after": "yes"}):
        pay.control("POST", "/__sim/pay/faults", bad, status=400)


def held_paid_order(pay, receiver):
    """A paid order of 500 fen whose refunds the simulator ends only by hand; its number."""
    no = pay.order(receiver.url, total=500)["out_trade_no"]
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": no, "notify": False})
    pay.control("POST", "/__sim/pay/refund-mode", {"out_trade_no": no, "auto": None})
    return no


def test_fault_rules_answer_a_refusal_before_or_after_the_request(pay, receiver):
    no = held_paid_order(pay, receiver)
    path = "/v3/refund/domestic/refunds"
    known = lambda: [x["out_refund_no"] for x in pay.control("GET", "/__sim/pay/refunds")]  # noqa: E731
    body = {"out_trade_no": no, "out_refund_no": "RFSIM" + secrets.token_hex(6),
            "reason": "测试退款", "amount": {"refund": 100, "total": 500, "currency": "CNY"}}
    # a refusal: signed, WeChat Pay's code and message, and no refund made
    pay.control("POST", "/__sim/pay/faults", {"op": "refund", "status": 400,
                                              "code": "INVALID_REQUEST", "message": "订单已超过退款期限"})
    r = pay.call("POST", path, body)
    assert r.status_code == 400 and pay.answer_ok(r), r.text
    assert r.json() == {"code": "INVALID_REQUEST", "message": "订单已超过退款期限"}
    assert body["out_refund_no"] not in known()
    assert pay.call("GET", path + "/" + body["out_refund_no"]).status_code == 404
    # the default code of each status
    for status, code in ((403, "NO_AUTH"), (404, "RESOURCE_NOT_EXISTS"), (429, "FREQUENCY_LIMITED")):
        pay.control("POST", "/__sim/pay/faults", {"op": "refund", "status": status})
        r = pay.call("POST", path, body)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert body["out_refund_no"] not in known()
    # "after": the refund is made, the answer is the refusal
    pay.control("POST", "/__sim/pay/faults", {"op": "refund", "status": 400, "after": True})
    r = pay.call("POST", path, body)
    assert (r.status_code, r.json()["code"]) == (400, "PARAM_ERROR"), r.text
    assert body["out_refund_no"] in known()
    r = pay.call("GET", path + "/" + body["out_refund_no"])
    assert r.status_code == 200 and r.json()["status"] == "PROCESSING", r.text


def test_control_mistakes(pay):
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": "APNOSUCHORDER1"}, status=404)
    pay.control("POST", "/__sim/pay/pay", {"out_trade_no": "x", "variant": "nope"}, status=400)
    pay.control("POST", "/__sim/pay/notify", {"out_trade_no": "x", "count": 0}, status=400)
    cfg = pay.control("GET", "/__sim/pay/config")
    assert cfg["mchid"] == pay.mchid and cfg["public_key_id"] == pay.key_id
    assert cfg["problem"] is None and cfg["max_tries"] == 8


def test_refund_api_signed_idempotent_and_notified(pay, receiver):
    no = held_paid_order(pay, receiver)
    path = "/v3/refund/domestic/refunds"
    rno = "RFSIM" + secrets.token_hex(6)
    body = {"out_trade_no": no, "out_refund_no": rno, "reason": "测试退款",
            "notify_url": receiver.url, "amount": {"refund": 200, "total": 500,
                                                   "currency": "CNY"}}
    # the merchant signature is checked as for orders
    r = pay.call("POST", path, body, sign=False)
    assert r.status_code == 401 and r.json()["code"] == "SIGN_ERROR", r.text
    r = pay.call("POST", path, body, key=load_key(VECTORS / "go_test_key.pem"))
    assert r.status_code == 401 and pay.answer_ok(r), r.text
    assert rno not in [x["out_refund_no"] for x in pay.control("GET", "/__sim/pay/refunds")]

    r = pay.call("POST", path, body)
    assert r.status_code == 200 and pay.answer_ok(r), r.text
    first = r.json()
    assert (first["status"], first["out_refund_no"], first["out_trade_no"]) == \
        ("PROCESSING", rno, no)
    assert first["amount"]["refund"] == 200 and first["amount"]["total"] == 500
    # the same number again is the same refund; with another amount it is refused
    r = pay.call("POST", path, body)
    assert r.status_code == 200 and r.json()["refund_id"] == first["refund_id"]
    r = pay.call("POST", path, dict(body, amount={"refund": 201, "total": 500}))
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST", r.text
    # refunds above the order's total, a total that is not the order's, bad fields
    r = pay.call("POST", path, dict(body, out_refund_no=rno + "b",
                                    amount={"refund": 301, "total": 500}))
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST", r.text
    r = pay.call("POST", path, dict(body, out_refund_no=rno + "c",
                                    amount={"refund": 1, "total": 499}))
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR", r.text
    r = pay.call("POST", path, dict(body, out_refund_no="bad no"))
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR", r.text
    r = pay.call("POST", path, dict(body, reason="r" * 81, out_refund_no=rno + "d"))
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR", r.text
    # the query
    r = pay.call("GET", f"{path}/{rno}")
    assert r.status_code == 200 and pay.answer_ok(r) and r.json()["status"] == "PROCESSING"
    r = pay.call("POST", path, dict(body, out_trade_no="APUNKNOWN0001", out_refund_no=rno + "e"))
    assert r.status_code == 404 and r.json()["code"] == "RESOURCE_NOT_EXISTS", r.text
    r = pay.call("GET", f"{path}/RFUNKNOWN000001")
    assert r.status_code == 404 and r.json()["code"] == "RESOURCE_NOT_EXISTS", r.text

    out = pay.control("POST", "/__sim/pay/refund-complete", {"out_refund_no": rno, "count": 2})
    assert out["status"] == "SUCCESS" and out["statuses"] == [204, 204], out
    recs = receiver.wait_for(2)
    for rec in recs:
        h = rec["headers"]
        msg = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + \
            rec["body"] + b"\n"
        assert own_verify(pay.platform, msg, h["Wechatpay-Signature"])
        env = json.loads(rec["body"])
        assert env["event_type"] == "REFUND.SUCCESS"
        assert env["resource"]["original_type"] == "refund"
        plain = json.loads(own_open(pay.apiv3, env["resource"]))
        assert (plain["out_refund_no"], plain["refund_status"], plain["mchid"]) == \
            (rno, "SUCCESS", pay.mchid)
        assert plain["amount"]["refund"] == 200 and plain["amount"]["total"] == 500
    r = pay.call("GET", f"{path}/{rno}")
    assert r.json()["status"] == "SUCCESS" and r.json()["success_time"].endswith("+08:00")
