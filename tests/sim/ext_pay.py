"""The WeChat Pay APIv3 part of the simulator (loaded by sim.py as an extension).

Under /pay it answers the merchant API the product uses (JSAPI order, query, close) with Pay's
paths, JSON shapes, status codes and error codes. Every request must be signed with the
merchant key (Authorization: WECHATPAY2-SHA256-RSA2048 ...) and every answer is signed with the
platform key. Under /__sim/pay/ a control API marks orders paid and sends payment notifications
to the product, signed and encrypted as Pay does, either genuine ("good", retried in the
background while the product does not acknowledge it) or forged in one precise way. See
README.md here.

Configuration (environment): WXPAY_MCHID, WXPAY_SERIAL, WXPAY_APIV3_KEY, WXPAY_PUBLIC_KEY_ID,
WXPAY_NOTIFY_URL, SIM_MERCHANT_PUB (merchant public key: checks requests), SIM_PLATFORM_KEY
(platform private key: signs answers and notifications), SIM_PAY_NOTIFY_TIMEOUT (seconds,
default 5), SIM_PAY_RETRY_DELAYS (comma separated seconds between tries).
"""

import atexit
import base64
import datetime
import http.client
import json
import os
import re
import secrets
import string
import sys
import threading
import time
import urllib.parse
import uuid

import devcreds
import paycrypto

DEV = {name: devcreds.DEV[name] for name in (
    "WXPAY_MCHID", "WXPAY_SERIAL", "WXPAY_APIV3_KEY", "WXPAY_PUBLIC_KEY_ID")}
PREFIX = "/pay"
NOTIFY_PATH = "/api/v1/payment/notify"
CLOCK_SKEW = 300  # requests whose timestamp is further off than this are refused
MAX_TRIES = 8
DEFAULT_DELAYS = (0.2, 0.5, 1, 2, 4, 8, 15)  # between tries: Pay's schedule, compressed
VARIANTS = ("good", "bad_signature", "old_timestamp", "future_timestamp", "unknown_serial",
            "signtest", "tampered_ciphertext", "flipped_body", "wrong_amount", "wrong_mchid",
            "wrong_appid", "other_app", "missing_header", "unknown_order")
FAULT_OPS = ("jsapi", "query", "close", "refund", "refund_query")  # what a fault rule can hit
REFUND_NOTIFY_PATH = "/api/v1/payment/refund-notify"
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
REFUND_OUTCOMES = ("SUCCESS", "CLOSED", "ABNORMAL")
REFUND_VARIANTS = ("good", "bad_signature", "old_timestamp", "unknown_serial",
                   "tampered_ciphertext", "wrong_amount", "wrong_mchid", "unknown_refund")
REFUND_SUMMARY = {"SUCCESS": "退款成功", "CLOSED": "退款关闭", "ABNORMAL": "退款异常"}
REFUND_DELAY = 0.2  # seconds between the refund call's answer and the automatic outcome
FAULT_STATUSES = (500, 502, 503, 504)
# 4xx a fault rule can answer, with WeChat Pay's code for each unless the rule names one
FAULT_REFUSALS = {400: "PARAM_ERROR", 403: "NO_AUTH", 404: "RESOURCE_NOT_EXISTS",
                  429: "FREQUENCY_LIMITED"}
SIGNED_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
                  "Wechatpay-Serial")
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
CST = datetime.timezone(datetime.timedelta(hours=8))
STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭"}
ALNUM = string.ascii_letters + string.digits


def now_rfc3339():
    return datetime.datetime.now(CST).replace(microsecond=0).isoformat()


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class PayError(Exception):
    """An error answer of the Pay API: status, code, message[, detail]."""

    def __init__(self, status, code, message, detail=None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def param_error(field, value, issue, location="body"):
    return PayError(400, "PARAM_ERROR", f"参数错误: {field} {issue}",
                    {"field": field, "value": value, "issue": issue, "location": location})


class PayConfig:
    def __init__(self, sim, env=None):
        env = os.environ if env is None else env

        def get(name):
            return env.get(name) or DEV[name]

        self.mchid = get("WXPAY_MCHID")
        self.serial = get("WXPAY_SERIAL")
        self.apiv3_key = get("WXPAY_APIV3_KEY").encode("utf-8")
        self.public_key_id = get("WXPAY_PUBLIC_KEY_ID")
        public = (env.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.notify_url = env.get("WXPAY_NOTIFY_URL") or public + NOTIFY_PATH
        self.appids = [sim.cfg.appid, sim.cfg.mp_appid]
        self.timeout = float(env.get("SIM_PAY_NOTIFY_TIMEOUT") or 5)
        delays = env.get("SIM_PAY_RETRY_DELAYS")
        self.delays = tuple(float(x) for x in delays.split(",")) if delays else DEFAULT_DELAYS
        self.merchant_pub = self.platform_key = None
        self.problem = None
        if len(self.apiv3_key) != 32:
            self.problem = "WXPAY_APIV3_KEY must have exactly 32 bytes"
        pub_path, key_path = env.get("SIM_MERCHANT_PUB"), env.get("SIM_PLATFORM_KEY")
        if not pub_path or not key_path:
            self.problem = ("SIM_MERCHANT_PUB and SIM_PLATFORM_KEY are not set "
                            "(scripts/stack sets them)")
        else:
            try:
                self.merchant_pub = paycrypto.load_public(pub_path)
                self.platform_key = paycrypto.load_private(key_path)
            except (OSError, ValueError) as err:
                self.problem = f"cannot load the Pay keys: {err}"


class PaySim:
    COUNTERS = ("pay_requests", "pay_sign_errors", "pay_header_errors", "pay_orders_created",
                "pay_notifies_sent", "pay_queries", "pay_refunds_created", "pay_refund_queries")

    def __init__(self, sim, core):
        self.sim = sim
        self.core = core
        self.cfg = PayConfig(sim)
        self.stop = threading.Event()
        self.generation = 0  # bumped by reset: pending retries of an older one give up
        self.orders = {}
        self.notifies = []
        self.refunds = {}  # out_refund_no -> refund (see create_refund)
        self.refund_modes = {}  # out_trade_no -> {"auto": outcome or None, "count": n}
        self.counters = dict.fromkeys(self.COUNTERS, 0)
        # The appids bound to the merchant (商户平台 → 产品中心 → AppID账号管理): both apps until a
        # test unbinds one. An order for an unbound appid is refused as Pay refuses it.
        self.bound = set(self.cfg.appids)
        self.faults = []  # rules of /__sim/pay/faults: {"op","status","hang","remaining","hits"}
        self.hang_end = threading.Event()  # set (and replaced) to end the hangs in progress

    # ---------------------------------------------------------------- state

    def reset(self):
        with self.sim.lock:
            self.generation += 1
            self.orders = {}
            self.notifies = []
            self.refunds = {}
            self.refund_modes = {}
            self.counters = dict.fromkeys(self.COUNTERS, 0)
            self.answer_skew = 0  # seconds added to the timestamp of signed answers
            self.bound = set(self.cfg.appids)
            self.clear_faults()

    def clear_faults(self):
        """Drops every fault rule and ends the hangs in progress (call under the lock)."""
        self.faults = []
        self.hang_end.set()
        self.hang_end = threading.Event()

    def fault_for(self, op):
        """The first fault rule for op that has uses left (one is used), or None."""
        with self.sim.lock:
            for rule in self.faults:
                if rule["op"] == op and rule["remaining"] != 0:
                    if rule["remaining"] is not None:
                        rule["remaining"] -= 1
                    rule["hits"] += 1
                    return dict(rule), self.hang_end
        return None, None

    def count(self, name):
        with self.sim.lock:
            self.counters[name] += 1

    def stats(self):
        with self.sim.lock:
            out = dict(self.counters)
            out["pay_orders"] = len(self.orders)
            out["pay_pending_retries"] = sum(1 for o in self.orders.values() if o["retrying"])
            return out

    # ---------------------------------------------------------------- signed answers

    def answer(self, status, obj=None):
        body = b"" if obj is None else compact(obj)
        ts = str(int(time.time()) + getattr(self, "answer_skew", 0))
        nonce = paycrypto.new_nonce()
        headers = [("Request-ID", str(uuid.uuid4()))]
        if self.cfg.platform_key is not None:
            sig = paycrypto.sign(self.cfg.platform_key, paycrypto.answer_message(ts, nonce, body))
            headers += [("Wechatpay-Timestamp", ts), ("Wechatpay-Nonce", nonce),
                        ("Wechatpay-Signature", sig), ("Wechatpay-Serial", self.cfg.public_key_id),
                        ("Wechatpay-Signature-Type", paycrypto.SCHEME)]
        ctype = "application/json; charset=utf-8" if obj is not None else "application/json"
        return self.core.Response(status, body, ctype, headers)

    def error(self, err):
        out = {"code": err.code, "message": err.message}
        if err.detail is not None:
            out["detail"] = err.detail
        return self.answer(err.status, out)

    # ---------------------------------------------------------------- request checks

    def authenticate(self, req):
        """Raises PayError unless the request carries the headers and a valid signature."""
        if self.cfg.problem:
            raise PayError(500, "SYSTEM_ERROR", "支付模拟器未配置: " + self.cfg.problem)
        if not (req.headers.get("Accept") or "").strip() or \
                not (req.headers.get("User-Agent") or "").strip():
            self.count("pay_header_errors")
            raise PayError(400, "INVALID_REQUEST", "Http头缺少Accept或User-Agent")
        try:
            auth = paycrypto.parse_authorization(req.headers.get("Authorization"))
        except ValueError as err:
            raise self.sign_error("authorization", f"Authorization 无效: {err}") from None
        if auth["mchid"] != self.cfg.mchid:
            raise self.sign_error("mchid",
                                  f"商户号 {auth['mchid']} 与模拟器的 {self.cfg.mchid} 不符")
        if auth["serial_no"] != self.cfg.serial:
            raise self.sign_error("serial_no",
                                  f"商户证书序列号 {auth['serial_no']} 不正确")
        if not auth["timestamp"].isdigit() or \
                abs(time.time() - int(auth["timestamp"])) > CLOCK_SKEW:
            raise self.sign_error("timestamp", "timestamp 与当前时间相差超过5分钟")
        # The canonical URL is the path and query as sent. A client may also sign it relative
        # to its base URL (without the /pay prefix of the simulator): both are accepted.
        wire = req.path + ("?" + req.raw_query if req.raw_query else "")
        candidates = [wire]
        if wire.startswith(PREFIX + "/"):
            candidates.append(wire[len(PREFIX):])
        for url in candidates:
            msg = paycrypto.request_message(req.method, url, auth["timestamp"],
                                            auth["nonce_str"], req.body)
            if paycrypto.verify(self.cfg.merchant_pub, msg, auth["signature"]):
                return auth
        first = paycrypto.request_message(req.method, candidates[-1], auth["timestamp"],
                                          auth["nonce_str"], req.body)
        raise self.sign_error("signature", "签名错误，请检查后再试", {
            "method": req.method, "url": candidates[-1],
            "sign_message_length": len(first),
            "truncated_sign_message": first[:200].decode("utf-8", "replace")})

    def sign_error(self, field, message, sign_information=None):
        self.count("pay_sign_errors")
        detail = {"field": field, "location": "authorization", "issue": message}
        if sign_information:
            detail["sign_information"] = sign_information
        return PayError(401, "SIGN_ERROR", message, detail)

    def body_json(self, req):
        try:
            obj = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise PayError(400, "PARAM_ERROR", f"请求体不是合法的JSON: {err}") from None
        if not isinstance(obj, dict):
            raise PayError(400, "PARAM_ERROR", "请求体必须是JSON对象")
        return obj

    def check_mchid(self, value, location):
        if value != self.cfg.mchid:
            raise param_error("mchid", value, "与请求的商户号不一致", location)

    # ---------------------------------------------------------------- orders

    @staticmethod
    def text_field(obj, name, max_len, required=True):
        value = obj.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise param_error(name, value, "缺失或不是字符串")
        if len(value) > max_len:
            raise param_error(name, value, f"长度超过{max_len}")
        if any(ord(c) > 0xFFFF for c in value):
            raise param_error(name, value, "含有4字节的UTF-8字符")
        return value

    def create_jsapi(self, req, auth):
        body = self.body_json(req)
        appid = self.text_field(body, "appid", 32)
        mchid = self.text_field(body, "mchid", 32)
        if mchid != auth["mchid"]:
            raise param_error("mchid", mchid, "与请求头中的商户号不一致")
        description = self.text_field(body, "description", 127)
        out_trade_no = self.text_field(body, "out_trade_no", 32)
        if not OUT_TRADE_NO.match(out_trade_no):
            raise param_error("out_trade_no", out_trade_no, "须为6-32位数字、字母、_-|*")
        notify_url = self.text_field(body, "notify_url", 255)
        parts = urllib.parse.urlsplit(notify_url)
        if parts.scheme not in ("http", "https") or parts.query or \
                not self.core.is_loopback_host(parts.hostname):
            raise param_error("notify_url", notify_url,
                              "须为不带参数的URL（模拟器只接受本机回环地址）")
        attach = self.text_field(body, "attach", 128, required=False) or ""
        time_expire = self.text_field(body, "time_expire", 64, required=False)
        amount = body.get("amount")
        if not isinstance(amount, dict):
            raise param_error("amount", amount, "缺失")
        total = amount.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
            raise param_error("amount.total", total, "须为正整数（分）")
        currency = amount.get("currency", "CNY")
        if currency != "CNY":
            raise param_error("amount.currency", currency, "只支持CNY")
        payer = body.get("payer")
        openid = payer.get("openid") if isinstance(payer, dict) else None
        if not isinstance(openid, str) or not openid:
            raise param_error("payer.openid", openid, "缺失")
        with self.sim.lock:
            bound = appid in self.bound
        if not bound:
            raise PayError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配,请检查后再试")
        if self.sim.app_of(openid) != appid:
            # an openid is a user of one app: the OA's openid with the mini program's appid (or
            # an openid WeChat never issued) is refused
            raise PayError(400, "PARAM_ERROR", "appid和openid不匹配")
        prepay_id = "wx" + datetime.datetime.now(CST).strftime("%Y%m%d%H%M%S") + \
            secrets.token_hex(11)
        with self.sim.lock:
            order = self.orders.get(out_trade_no)
            if order is not None:
                if order["trade_state"] == "SUCCESS":
                    raise PayError(400, "ORDERPAID", "该订单已支付")
                if order["trade_state"] == "CLOSED":
                    raise PayError(400, "ORDER_CLOSED", "订单已关闭")
                same = (order["appid"], order["description"], order["amount"]["total"],
                        order["payer"]["openid"]) == (appid, description, total, openid)
                if not same:
                    raise PayError(400, "INVALID_REQUEST",
                                   "201 商户订单号重复: 同一out_trade_no的参数不同")
                order["prepay_id"] = prepay_id
                order["prepay_count"] += 1
            else:
                self.orders[out_trade_no] = {
                    "appid": appid, "mchid": mchid, "out_trade_no": out_trade_no,
                    "description": description, "notify_url": notify_url, "attach": attach,
                    "time_expire": time_expire,
                    "amount": {"total": total, "currency": "CNY"},
                    "payer": {"openid": openid}, "prepay_id": prepay_id, "prepay_count": 1,
                    "query_count": 0, "trade_state": "NOTPAY", "transaction_id": None, "success_time": None,
                    "created_at": now_rfc3339(), "notify_tries": 0, "notify_acked": False,
                    "retrying": False}
                self.counters["pay_orders_created"] += 1
        return self.answer(200, {"prepay_id": prepay_id})

    def transaction(self, order):
        """The transaction object of the query API and of the notification plaintext."""
        paid = order["trade_state"] == "SUCCESS"
        out = {"appid": order["appid"], "mchid": order["mchid"],
               "out_trade_no": order["out_trade_no"]}
        if paid:
            out["transaction_id"] = order["transaction_id"]
        out.update({"trade_type": "JSAPI", "trade_state": order["trade_state"],
                    "trade_state_desc": STATE_DESC[order["trade_state"]],
                    "attach": order["attach"]})
        if paid:
            out["bank_type"] = "OTHERS"
            out["success_time"] = order["success_time"]
        total = order["amount"]["total"]
        out["payer"] = {"openid": order["payer"]["openid"]}
        out["amount"] = {"total": total, "payer_total": total if paid else 0,
                         "currency": "CNY", "payer_currency": "CNY"}
        return out

    def find(self, out_trade_no=None, transaction_id=None):
        with self.sim.lock:
            if out_trade_no is not None:
                order = self.orders.get(out_trade_no)
            else:
                order = next((o for o in self.orders.values()
                              if o["transaction_id"] == transaction_id), None)
            if order is None:
                raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
            return order

    def query(self, req, out_trade_no=None, transaction_id=None):
        self.check_mchid(req.query.get("mchid"), "query")
        order = self.find(out_trade_no, transaction_id)
        with self.sim.lock:
            order["query_count"] += 1
            self.counters["pay_queries"] += 1
            return self.answer(200, self.transaction(order))

    def close(self, req, out_trade_no):
        body = self.body_json(req)
        self.check_mchid(body.get("mchid"), "body")
        order = self.find(out_trade_no)
        with self.sim.lock:
            if order["trade_state"] == "SUCCESS":
                raise PayError(400, "ORDERPAID", "订单已支付，不能关闭")
            order["trade_state"] = "CLOSED"
        return self.answer(204)

    # ---------------------------------------------------------------- notifications

    def build_notify(self, order, variant, header=None):
        """(headers dict, body bytes, info dict) of one notification as Pay sends it."""
        cfg = self.cfg
        plain = self.transaction(order)
        if variant == "wrong_amount":
            plain["amount"]["total"] += 1
            plain["amount"]["payer_total"] += 1
        elif variant == "wrong_mchid":
            plain["mchid"] = "1900000999" if cfg.mchid != "1900000999" else "1900000998"
        elif variant == "wrong_appid":
            plain["appid"] = "wxsimother000001"
        elif variant == "other_app":
            # the merchant's other bound app: a real appid of ours, but not the order's
            plain["appid"] = next(a for a in cfg.appids if a != order["appid"])
        elif variant == "unknown_order":
            plain["out_trade_no"] = "APX" + secrets.token_hex(12)
        plaintext = compact(plain)
        nonce = "".join(secrets.choice(ALNUM) for _ in range(12))
        ciphertext = paycrypto.aead_encrypt(cfg.apiv3_key, nonce, "transaction", plaintext)
        if variant == "tampered_ciphertext":
            raw = bytearray(base64.b64decode(ciphertext))
            raw[0] ^= 0x01
            ciphertext = base64.b64encode(bytes(raw)).decode("ascii")
        envelope = {"id": str(uuid.uuid4()), "create_time": now_rfc3339(),
                    "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
                    "summary": "支付成功",
                    "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                                 "ciphertext": ciphertext, "associated_data": "transaction",
                                 "nonce": nonce}}
        body = compact(envelope)
        info = {"variant": variant, "notify_id": envelope["id"],
                "plaintext": plaintext.decode("utf-8"), "body": body.decode("utf-8")}
        headers = self.sign_notify(body, variant)
        if variant == "flipped_body":
            # Signed as above, then one character of the id changes on the way.
            info["signed_body"] = info["body"]
            last = envelope["id"][-1]
            envelope["id"] = envelope["id"][:-1] + ("0" if last != "0" else "1")
            body = compact(envelope)
            info["body"] = body.decode("utf-8")
        if variant == "missing_header":
            name = header or "Wechatpay-Signature"
            headers.pop(name)
            info["missing_header"] = name
        info["headers"] = dict(headers)
        return headers, body, info

    def sign_notify(self, body, variant="good"):
        cfg = self.cfg
        ts = int(time.time())
        if variant == "old_timestamp":
            ts -= 2 * CLOCK_SKEW
        elif variant == "future_timestamp":
            ts += 2 * CLOCK_SKEW
        ts, nonce = str(ts), paycrypto.new_nonce()
        sig = paycrypto.sign(cfg.platform_key, paycrypto.answer_message(ts, nonce, body))
        if variant == "bad_signature":
            raw = bytearray(base64.b64decode(sig))
            raw[len(raw) // 2] ^= 0x80
            sig = base64.b64encode(bytes(raw)).decode("ascii")
        elif variant == "signtest":
            sig = "WECHATPAY/SIGNTEST/" + base64.b64encode(secrets.token_bytes(256)).decode()
        serial = cfg.public_key_id
        if variant == "unknown_serial":
            serial = "PUB_KEY_ID_0114232134912419999999999999"
            if serial == cfg.public_key_id:
                serial = "PUB_KEY_ID_0114232134912418888888888888"
        return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": sig,
                "Wechatpay-Serial": serial, "Wechatpay-Signature-Type": paycrypto.SCHEME}

    def deliver(self, url, headers, body):
        """POST one notification: (status or None, answer text, error or None)."""
        target = urllib.parse.urlsplit(url)
        path = (target.path or "/") + ("?" + target.query if target.query else "")
        self.count("pay_notifies_sent")
        conn = http.client.HTTPConnection(target.hostname, target.port or 80,
                                          timeout=self.cfg.timeout)
        try:
            conn.request("POST", path, body=body, headers=dict(
                headers, **{"Content-Type": "application/json", "Accept": "*/*",
                            "User-Agent": "Mozilla/4.0", "Pragma": "no-cache"}))
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace"), None
        except (OSError, http.client.HTTPException) as err:
            return None, None, f"{type(err).__name__}: {err}"
        finally:
            conn.close()

    def deliver_many(self, url, headers, body, count):
        """POST count copies of one notification at once (released together by a barrier);
        the deliver() result of each."""
        results = [None] * count
        barrier = threading.Barrier(count)

        def one(i):
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass
            results[i] = self.deliver(url, headers, body)

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def record(self, order, info, attempt, status, error, url, background=False):
        rec = {"out_trade_no": order["out_trade_no"], "notify_id": info["notify_id"],
               "variant": info["variant"], "attempt": attempt, "status": status,
               "url": url, "at": now_rfc3339(), "background": background}
        if error:
            rec["error"] = error
        with self.sim.lock:
            self.notifies.append(rec)
            if info["variant"] == "good":
                order["notify_tries"] += 1
                if status is not None and 200 <= status < 300:
                    order["notify_acked"] = True
        self.core.log("info", "pay notify", **{k: v for k, v in rec.items() if k != "at"})

    def retry(self, order, body, info, url, delays, generation):
        """Background: re-send a good notification until a 2xx answer, at most MAX_TRIES."""
        try:
            for attempt, delay in enumerate(delays[:MAX_TRIES - 1], start=2):
                if self.stop.wait(delay):
                    return
                with self.sim.lock:
                    if generation != self.generation:
                        return
                headers = self.sign_notify(body)  # same body, fresh timestamp and nonce
                status, _text, error = self.deliver(url, headers, body)
                if self.stop.is_set():
                    return
                with self.sim.lock:
                    if generation != self.generation:
                        return
                self.record(order, info, attempt, status, error, url, background=True)
                if status is not None and 200 <= status < 300:
                    return
        finally:
            with self.sim.lock:
                order["retrying"] = False

    def notify_target(self, order, body):
        url = body.get("url") or order["notify_url"] or self.cfg.notify_url
        try:
            self.core.check_callback_url(url)
        except ValueError as err:
            raise self.core.HttpError(400, str(err)) from None
        return url

    # ---------------------------------------------------------------- refunds

    def refund_view(self, refund):
        """The refund object of the refund API's answers."""
        out = {"refund_id": refund["refund_id"], "out_refund_no": refund["out_refund_no"],
               "transaction_id": refund["transaction_id"],
               "out_trade_no": refund["out_trade_no"], "channel": "ORIGINAL",
               "user_received_account": "支付用户零钱", "create_time": refund["create_time"],
               "status": refund["status"], "funds_account": "AVAILABLE",
               "amount": {"total": refund["total"], "refund": refund["refund"],
                          "payer_total": refund["total"], "payer_refund": refund["refund"],
                          "settlement_total": refund["total"],
                          "settlement_refund": refund["refund"], "discount_refund": 0,
                          "refund_fee": 0, "currency": "CNY"}}
        if refund["success_time"]:
            out["success_time"] = refund["success_time"]
        return out

    def create_refund(self, req, auth):
        body = self.body_json(req)
        out_trade_no = body.get("out_trade_no")
        transaction_id = body.get("transaction_id")
        if out_trade_no is None and transaction_id is None:
            raise param_error("out_trade_no", None, "out_trade_no和transaction_id必填其一")
        out_refund_no = self.text_field(body, "out_refund_no", 64)
        if not OUT_REFUND_NO.match(out_refund_no):
            raise param_error("out_refund_no", out_refund_no, "须为1-64位数字、字母、_-|*@")
        reason = self.text_field(body, "reason", 80, required=False)
        notify_url = self.text_field(body, "notify_url", 256, required=False)
        if notify_url is not None:
            parts = urllib.parse.urlsplit(notify_url)
            if parts.scheme not in ("http", "https") or parts.query or \
                    not self.core.is_loopback_host(parts.hostname):
                raise param_error("notify_url", notify_url,
                                  "须为不带参数的URL（模拟器只接受本机回环地址）")
        amount = body.get("amount")
        if not isinstance(amount, dict):
            raise param_error("amount", amount, "缺失")
        refund, total = amount.get("refund"), amount.get("total")
        for name, value in (("amount.refund", refund), ("amount.total", total)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise param_error(name, value, "须为正整数（分）")
        if amount.get("currency", "CNY") != "CNY":
            raise param_error("amount.currency", amount.get("currency"), "只支持CNY")
        try:
            order = self.find(out_trade_no, None if out_trade_no else transaction_id)
        except PayError:
            raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在") from None
        with self.sim.lock:
            known = self.refunds.get(out_refund_no)
            if known is not None:
                # the same out_refund_no is the same refund: its state, if the same request
                if (known["out_trade_no"], known["refund"], known["total"]) != \
                        (order["out_trade_no"], refund, total):
                    raise PayError(400, "INVALID_REQUEST",
                                   "同一out_refund_no的退款参数不一致")
                known["requests"] += 1
                return self.answer(200, self.refund_view(known))
            if order["trade_state"] != "SUCCESS":
                raise PayError(400, "INVALID_REQUEST", "订单未支付，不能退款")
            if total != order["amount"]["total"]:
                raise param_error("amount.total", total, "与订单金额不一致")
            taken = sum(r["refund"] for r in self.refunds.values()
                        if r["out_trade_no"] == order["out_trade_no"] and
                        r["status"] != "CLOSED")
            if taken + refund > total:
                raise PayError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            new = {"out_refund_no": out_refund_no, "out_trade_no": order["out_trade_no"],
                   "transaction_id": order["transaction_id"], "mchid": order["mchid"],
                   "refund_id": "50" + "".join(secrets.choice(string.digits)
                                               for _ in range(27)),
                   "reason": reason, "refund": refund, "total": total,
                   "notify_url": notify_url, "status": "PROCESSING",
                   "create_time": now_rfc3339(), "success_time": None, "requests": 1,
                   "notify_tries": 0, "notify_acked": False}
            self.refunds[out_refund_no] = new
            self.counters["pay_refunds_created"] += 1
            mode = self.refund_modes.get(order["out_trade_no"],
                                         {"auto": "SUCCESS", "count": 1})
            generation = self.generation
            answer = self.answer(200, self.refund_view(new))
        if mode["auto"] is not None:
            threading.Thread(target=self.refund_later,
                             args=(new, mode["auto"], mode["count"], generation),
                             daemon=True, name="pay-refund").start()
        return answer

    def query_refund(self, out_refund_no):
        with self.sim.lock:
            refund = self.refunds.get(out_refund_no)
            if refund is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            self.counters["pay_refund_queries"] += 1
            return self.answer(200, self.refund_view(refund))

    def refund_finish(self, refund, outcome):
        """Moves a refund to its outcome (call under the lock)."""
        if refund["status"] in ("PROCESSING", "ABNORMAL"):
            refund["status"] = outcome
            if outcome == "SUCCESS":
                refund["success_time"] = now_rfc3339()

    def refund_later(self, refund, outcome, count, generation):
        """Background: the refund's outcome after REFUND_DELAY, then its notification (count
        copies at once), re-sent like a payment's while the product does not acknowledge it."""
        if self.stop.wait(REFUND_DELAY):
            return
        with self.sim.lock:
            if generation != self.generation:
                return
            self.refund_finish(refund, outcome)
        statuses = self.refund_notify(refund, "good", count)
        if not any(st is not None and 200 <= st < 300 for st in statuses):
            for delay in self.cfg.delays[:MAX_TRIES - 1]:
                if self.stop.wait(delay):
                    return
                with self.sim.lock:
                    if generation != self.generation:
                        return
                if any(st is not None and 200 <= st < 300
                       for st in self.refund_notify(refund, "good", 1)):
                    return

    def build_refund_notify(self, refund, variant):
        plain = {"mchid": refund["mchid"], "out_trade_no": refund["out_trade_no"],
                 "transaction_id": refund["transaction_id"],
                 "out_refund_no": refund["out_refund_no"], "refund_id": refund["refund_id"],
                 "refund_status": refund["status"],
                 "user_received_account": "支付用户零钱",
                 "amount": {"total": refund["total"], "refund": refund["refund"],
                            "payer_total": refund["total"], "payer_refund": refund["refund"]}}
        if refund["success_time"]:
            plain["success_time"] = refund["success_time"]
        if variant == "wrong_amount":
            plain["amount"]["refund"] += 1
            plain["amount"]["payer_refund"] += 1
        elif variant == "wrong_mchid":
            plain["mchid"] = "1900000999" if self.cfg.mchid != "1900000999" else "1900000998"
        elif variant == "unknown_refund":
            plain["out_refund_no"] = "RFX" + secrets.token_hex(12)
        plaintext = compact(plain)
        nonce = "".join(secrets.choice(ALNUM) for _ in range(12))
        ciphertext = paycrypto.aead_encrypt(self.cfg.apiv3_key, nonce, "refund", plaintext)
        if variant == "tampered_ciphertext":
            raw = bytearray(base64.b64decode(ciphertext))
            raw[0] ^= 0x01
            ciphertext = base64.b64encode(bytes(raw)).decode("ascii")
        status = refund["status"] if refund["status"] in REFUND_SUMMARY else "SUCCESS"
        envelope = {"id": str(uuid.uuid4()), "create_time": now_rfc3339(),
                    "resource_type": "encrypt-resource", "event_type": "REFUND." + status,
                    "summary": REFUND_SUMMARY[status],
                    "resource": {"original_type": "refund", "algorithm": "AEAD_AES_256_GCM",
                                 "ciphertext": ciphertext, "associated_data": "refund",
                                 "nonce": nonce}}
        body = compact(envelope)
        return self.sign_notify(body, variant), body, plaintext.decode("utf-8")

    def refund_notify_url(self, refund):
        if refund["notify_url"]:
            return refund["notify_url"]
        return self.cfg.notify_url.rsplit(NOTIFY_PATH, 1)[0] + REFUND_NOTIFY_PATH

    def refund_notify(self, refund, variant, count):
        """Sends count copies of the refund's notification at once; their statuses."""
        url = self.refund_notify_url(refund)
        with self.sim.lock:
            headers, body, plaintext = self.build_refund_notify(refund, variant)
        results = self.deliver_many(url, headers, body, count)
        with self.sim.lock:
            for i, (status, _text, error) in enumerate(results):
                rec = {"out_refund_no": refund["out_refund_no"],
                       "out_trade_no": refund["out_trade_no"], "variant": variant,
                       "refund_status": refund["status"], "attempt": i + 1, "status": status,
                       "url": url, "at": now_rfc3339(), "plaintext": plaintext}
                if error:
                    rec["error"] = error
                self.notifies.append(rec)
                if variant == "good":
                    refund["notify_tries"] += 1
                    if status is not None and 200 <= status < 300:
                        refund["notify_acked"] = True
        self.core.log("info", "refund notify", out_refund_no=refund["out_refund_no"],
                      variant=variant, statuses=[r[0] for r in results])
        return [r[0] for r in results]


def control_body(core, req):
    body = req.json()
    variant = body.get("variant", "good")
    if variant not in VARIANTS:
        raise core.HttpError(400, "variant must be one of " + ", ".join(VARIANTS))
    header = body.get("header")
    if header is not None and header not in SIGNED_HEADERS:
        raise core.HttpError(400, "header must be one of " + ", ".join(SIGNED_HEADERS))
    delays = body.get("retry_delays")
    if delays is not None:
        if not isinstance(delays, list) or len(delays) > MAX_TRIES - 1 or not all(
                isinstance(d, (int, float)) and not isinstance(d, bool) and 0 <= d <= 60
                for d in delays):
            raise core.HttpError(400, f"retry_delays: at most {MAX_TRIES - 1} numbers of 0..60")
    return body, variant, header, delays


def register(sim):
    core = sys.modules[type(sim).__module__]
    pay = PaySim(sim, core)
    sim.pay = pay
    sim.on_reset(pay.reset)
    sim.add_stats(pay.stats)
    atexit.register(pay.stop.set)
    if pay.cfg.problem:
        core.log("warn", "pay simulator not configured", problem=pay.cfg.problem)

    def api(op, fn):
        """Wraps a Pay API handler: a fault rule for op first, then headers and signature,
        PayError as a signed answer."""
        def handler(req):
            pay.count("pay_requests")
            rule, hang_end = pay.fault_for(op)
            if rule is not None and rule["hang"]:
                # no answer: the client sees its timeout (ended early by a clear or a reset)
                hang_end.wait(rule["hang"])
                return core.Response(drop=True)
            if rule is not None and rule["status"] in FAULT_REFUSALS:
                refusal = PayError(rule["status"], rule["code"], rule["message"])
                if rule["after"]:
                    # the request takes effect, then its answer is the refusal
                    try:
                        fn(req, pay.authenticate(req))
                    except PayError:
                        pass
                return pay.error(refusal)
            if rule is not None:
                return pay.error(PayError(rule["status"], "SYSTEM_ERROR", "系统错误"))
            try:
                auth = pay.authenticate(req)
                return fn(req, auth)
            except PayError as err:
                if err.code in ("SIGN_ERROR", "INVALID_REQUEST"):
                    core.log("warn", "pay request refused", path=req.path, code=err.code,
                             message=err.message)
                return pay.error(err)
        return handler

    sim.route("POST", PREFIX + "/v3/pay/transactions/jsapi")(
        api("jsapi", lambda req, auth: pay.create_jsapi(req, auth)))
    sim.route("GET", PREFIX + "/v3/pay/transactions/out-trade-no/{out_trade_no}")(
        api("query", lambda req, auth: pay.query(req, out_trade_no=req.params["out_trade_no"])))
    sim.route("GET", PREFIX + "/v3/pay/transactions/id/{transaction_id}")(
        api("query",
            lambda req, auth: pay.query(req, transaction_id=req.params["transaction_id"])))
    sim.route("POST", PREFIX + "/v3/pay/transactions/out-trade-no/{out_trade_no}/close")(
        api("close", lambda req, auth: pay.close(req, req.params["out_trade_no"])))

    sim.route("POST", PREFIX + "/v3/refund/domestic/refunds")(
        api("refund", lambda req, auth: pay.create_refund(req, auth)))
    sim.route("GET", PREFIX + "/v3/refund/domestic/refunds/{out_refund_no}")(
        api("refund_query", lambda req, auth: pay.query_refund(req.params["out_refund_no"])))

    # ------------------------------------------------------------ control API

    def fake_order(out_trade_no, body):
        """An order the simulator never saw (variant unknown_order without a known number)."""
        total = body.get("amount", 1)
        return {"appid": sim.cfg.appid, "mchid": pay.cfg.mchid, "out_trade_no": out_trade_no,
                "description": "", "notify_url": None, "attach": "", "time_expire": None,
                "amount": {"total": total if isinstance(total, int) else 1, "currency": "CNY"},
                "payer": {"openid": body.get("openid") or core.new_openid()},
                "prepay_id": None, "prepay_count": 0, "query_count": 0, "trade_state": "SUCCESS",
                "transaction_id": "4200" + "".join(secrets.choice(string.digits)
                                                   for _ in range(24)),
                "success_time": now_rfc3339(), "created_at": now_rfc3339(),
                "notify_tries": 0, "notify_acked": False, "retrying": False}

    def order_for(body, variant, mark_paid):
        out_trade_no = body.get("out_trade_no")
        if out_trade_no is not None and not isinstance(out_trade_no, str):
            raise core.HttpError(400, '"out_trade_no" must be a string')
        if pay.cfg.problem:
            raise core.HttpError(500, "pay simulator not configured: " + pay.cfg.problem)
        with sim.lock:
            order = pay.orders.get(out_trade_no or "")
            if order is None:
                if variant != "unknown_order":
                    raise core.HttpError(404, f"unknown out_trade_no {out_trade_no!r}")
                return fake_order(out_trade_no or "APX" + secrets.token_hex(12), body)
            if mark_paid:
                if order["trade_state"] == "CLOSED":
                    raise core.HttpError(409, "the order is closed")
                if order["trade_state"] == "NOTPAY":
                    order["trade_state"] = "SUCCESS"
                    order["transaction_id"] = "4200" + "".join(
                        secrets.choice(string.digits) for _ in range(24))
                    order["success_time"] = now_rfc3339()
            elif order["trade_state"] != "SUCCESS":
                raise core.HttpError(409, "the order is not paid: use /__sim/pay/pay first")
            return order

    @sim.route("POST", "/__sim/pay/pay")
    def pay_pay(req):
        body, variant, header, delays = control_body(core, req)
        order = order_for(body, variant, mark_paid=True)
        out = {"out_trade_no": order["out_trade_no"], "transaction_id": order["transaction_id"],
               "status": None, "body": None}
        if body.get("notify", True) is False:
            return core.json_response(out)
        url = pay.notify_target(order, body)
        with sim.lock:
            headers, raw, info = pay.build_notify(order, variant, header)
            generation = pay.generation
        status, text, error = pay.deliver(url, headers, raw)
        pay.record(order, info, 1, status, error, url)
        out.update(status=status, body=text, sent=info)
        if error:
            out["error"] = error
        acked = status is not None and 200 <= status < 300
        if variant == "good" and not acked and body.get("retry", True) is not False:
            delays = pay.cfg.delays if delays is None else tuple(delays)
            with sim.lock:
                order["retrying"] = True
            threading.Thread(target=pay.retry, args=(order, raw, info, url, delays, generation),
                             daemon=True, name="pay-notify-retry").start()
            out["retrying"] = True
        return core.json_response(out)

    @sim.route("POST", "/__sim/pay/notify")
    def pay_notify(req):
        body, variant, header, _delays = control_body(core, req)
        count = body.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 200:
            raise core.HttpError(400, '"count" must be an integer of 1..200')
        order = order_for(body, variant, mark_paid=False)
        url = pay.notify_target(order, body)
        with sim.lock:
            headers, raw, info = pay.build_notify(order, variant, header)
        results = pay.deliver_many(url, headers, raw, count)
        for i, (status, _text, error) in enumerate(results):
            pay.record(order, info, i + 1, status, error, url)
        return core.json_response({"out_trade_no": order["out_trade_no"],
                                   "transaction_id": order["transaction_id"],
                                   "statuses": [r[0] for r in results],
                                   "bodies": [r[1] for r in results],
                                   "errors": [r[2] for r in results], "sent": info})

    @sim.route("POST", "/__sim/pay/refund-mode")
    def pay_refund_mode(req):
        """How the refunds of one order end: {"out_trade_no", "auto": "SUCCESS" | "CLOSED" |
        "ABNORMAL" | null (stays PROCESSING until /__sim/pay/refund-complete), "count"?: copies
        of the notification sent at once (default 1)}. Orders without one: SUCCESS, 1."""
        body = req.json() or {}
        no, auto, count = body.get("out_trade_no"), body.get("auto", "SUCCESS"), \
            body.get("count", 1)
        if not isinstance(no, str) or not no:
            raise core.HttpError(400, '"out_trade_no" must be a string')
        if auto is not None and auto not in REFUND_OUTCOMES:
            raise core.HttpError(400, '"auto" must be SUCCESS, CLOSED, ABNORMAL or null')
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 50:
            raise core.HttpError(400, '"count" must be an integer of 1..50')
        with sim.lock:
            pay.refund_modes[no] = {"auto": auto, "count": count}
        return core.json_response({"out_trade_no": no, "auto": auto, "count": count})

    @sim.route("POST", "/__sim/pay/refund-complete")
    def pay_refund_complete(req):
        """Ends a refund and sends its notification: {"out_refund_no", "status"?: "SUCCESS" |
        "CLOSED" | "ABNORMAL", "notify"?: true, "count"?: 1, "variant"?: "good"}. A refund that
        already ended keeps its status (its notification is sent again)."""
        body = req.json() or {}
        no, outcome = body.get("out_refund_no"), body.get("status", "SUCCESS")
        variant, count = body.get("variant", "good"), body.get("count", 1)
        if outcome not in REFUND_OUTCOMES:
            raise core.HttpError(400, '"status" must be SUCCESS, CLOSED or ABNORMAL')
        if variant not in REFUND_VARIANTS:
            raise core.HttpError(400, "variant must be one of " + ", ".join(REFUND_VARIANTS))
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 200:
            raise core.HttpError(400, '"count" must be an integer of 1..200')
        with sim.lock:
            refund = pay.refunds.get(no)
            if refund is None:
                raise core.HttpError(404, f"unknown out_refund_no {no!r}")
            pay.refund_finish(refund, outcome)
        statuses = []
        if body.get("notify", True) is not False:
            statuses = pay.refund_notify(refund, variant, count)
        with sim.lock:
            return core.json_response({"out_refund_no": no, "status": refund["status"],
                                       "statuses": statuses})

    @sim.route("GET", "/__sim/pay/refunds")
    def pay_refunds(req):
        with sim.lock:
            return core.json_response([dict(r) for r in pay.refunds.values()])

    @sim.route("GET", "/__sim/pay/orders")
    def pay_orders(req):
        with sim.lock:
            return core.json_response([dict(o, amount=dict(o["amount"]), payer=dict(o["payer"]))
                                       for o in pay.orders.values()])

    @sim.route("GET", "/__sim/pay/notifies")
    def pay_notifies(req):
        with sim.lock:
            return core.json_response(list(pay.notifies))

    @sim.route("GET", "/__sim/pay/config")
    def pay_config(req):
        c = pay.cfg
        with sim.lock:
            bound = sorted(pay.bound)
        return core.json_response({"mchid": c.mchid, "serial": c.serial,
                                   "public_key_id": c.public_key_id, "notify_url": c.notify_url,
                                   "appids": c.appids, "bound_appids": bound,
                                   "retry_delays": list(c.delays),
                                   "max_tries": MAX_TRIES, "problem": c.problem,
                                   "api_base": sim.cfg.base_url + PREFIX})

    @sim.route("POST", "/__sim/pay/answer-skew")
    def pay_answer_skew(req):
        """Signs the following answers with a timestamp this many seconds off (a recorded
        answer played back later); {"seconds": 0} or a reset undoes it."""
        seconds = (req.json() or {}).get("seconds", 0)
        if not isinstance(seconds, int):
            raise core.HttpError(400, '"seconds" must be an integer')
        with sim.lock:
            pay.answer_skew = seconds
        return core.json_response({"seconds": seconds})

    @sim.route("POST", "/__sim/pay/bindings")
    def pay_bindings(req):
        """Binds or unbinds an appid to the merchant: {"appid","bound"}; answers the bound
        appids. A reset binds both apps again."""
        body = req.json()
        appid, bound = body.get("appid"), body.get("bound")
        if appid not in pay.cfg.appids:
            raise core.HttpError(400, '"appid" must be the OA\'s or the mini program\'s')
        if not isinstance(bound, bool):
            raise core.HttpError(400, '"bound" must be true or false')
        with sim.lock:
            (pay.bound.add if bound else pay.bound.discard)(appid)
            return core.json_response({"bound": sorted(pay.bound)})

    @sim.route("POST", "/__sim/pay/faults")
    def pay_faults_add(req):
        """Adds a fault rule: {"op": jsapi|query|close|refund|refund_query, "status"?: 500, "hang"?: seconds,
        "times"?: n (default 1; null = until cleared), "code"?, "message"?, "after"?: false}.
        A 5xx status answers that (signed, SYSTEM_ERROR); a 4xx (400, 403, 404, 429) answers
        WeChat Pay's refusal with code (default PARAM_ERROR, NO_AUTH, RESOURCE_NOT_EXISTS,
        FREQUENCY_LIMITED) and message, without doing anything unless "after" (the request
        takes effect first: the refusal hides a refund that was created); a hang holds the
        request without an answer for that long."""
        body = req.json()
        op, status, hang = body.get("op"), body.get("status", 500), body.get("hang", 0)
        times = body.get("times", 1)
        if op not in FAULT_OPS:
            raise core.HttpError(400, '"op" must be one of ' + ", ".join(FAULT_OPS))
        if status not in FAULT_STATUSES and status not in FAULT_REFUSALS:
            raise core.HttpError(400, '"status" must be one of 400, 403, 404, 429, 500, 502, '
                                      '503, 504')
        code = body.get("code", FAULT_REFUSALS.get(status))
        message = body.get("message", "模拟的请求拒绝")
        after = body.get("after", False)
        if status in FAULT_REFUSALS and not (
                isinstance(code, str) and code and isinstance(message, str) and message):
            raise core.HttpError(400, '"code" and "message" must be non-empty strings')
        if not isinstance(after, bool):
            raise core.HttpError(400, '"after" must be true or false')
        if not isinstance(hang, (int, float)) or isinstance(hang, bool) or not 0 <= hang <= 120:
            raise core.HttpError(400, '"hang" must be 0..120 seconds')
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or
                                  times < 1):
            raise core.HttpError(400, '"times" must be a positive integer or null')
        rule = {"op": op, "status": status, "hang": hang, "remaining": times, "hits": 0,
                "code": code, "message": message, "after": after}
        with sim.lock:
            pay.faults.append(rule)
            return core.json_response({"rule": dict(rule)})

    @sim.route("GET", "/__sim/pay/faults")
    def pay_faults_list(req):
        with sim.lock:
            return core.json_response({"rules": [dict(r) for r in pay.faults]})

    @sim.route("DELETE", "/__sim/pay/faults")
    def pay_faults_clear(req):
        with sim.lock:
            n = len(pay.faults)
            pay.clear_faults()
        return core.json_response({"cleared": n})

    @sim.route("POST", "/__sim/pay/reset")
    def pay_reset(req):
        pay.reset()
        return core.json_response({"ok": True})
