"""WeChat Pay (v3, JSAPI) over HTTP against the Pay simulator: order creation and the
signed pay_params, notify verification and idempotent settlement, forged notifies,
reconciliation of lost notifies, the order query that asks WeChat Pay, and the order list.

The simulator plays WeChat Pay: /__sim/pay/pay marks an order paid there and delivers the
notify (good or forged in one chosen way), /__sim/pay/notify repeats it.  Every test ends
with `aiphotoctl audit`, and settlement is checked in the database (order row, recharge
ledger row keyed 'order:<out_trade_no>', balance), not only in the answers.
"""

import base64
import concurrent.futures
import json
import os
import pathlib
import re
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = REPO / "build" / "aiphotoctl"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
OUT_TRADE_NO = re.compile(r"^AP\d{16}[0-9a-f]{8}$")
ORDER_KEYS = {"out_trade_no", "status", "amount_fen", "credits", "paid_at"}
CREATE_KEYS = {"out_trade_no", "amount_fen", "credits", "pay_params"}
PAY_PARAM_KEYS = {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
FORGED = ["bad_signature", "unknown_serial", "signtest", "old_timestamp", "future_timestamp",
          "missing_header", "flipped_body", "tampered_ciphertext", "wrong_amount", "wrong_mchid",
          "wrong_appid", "unknown_order"]


def env(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set (run through scripts/test-integration)"
    return value


@pytest.fixture(autouse=True)
def _audited(audit):
    """Every test in this module is followed by a clean `aiphotoctl audit`."""
    yield


@pytest.fixture(scope="module")
def merchant_pub():
    path = pathlib.Path(env("AIPHOTO_VAR")) / "keys" / "merchant_pub.pem"
    assert path.exists(), f"{path} is missing: the stack creates the dev Pay keys"
    return serialization.load_pem_public_key(path.read_bytes())


@pytest.fixture(scope="module")
def packages(psql):
    rows = psql("SELECT id, price_fen, credits + bonus_credits, active FROM packages ORDER BY id")
    return {int(r[0]): {"price_fen": int(r[1]), "credits": int(r[2]), "active": r[3] == "t"}
            for r in rows}


@pytest.fixture
def payer(make_user, token_for, psql, pay):
    """payer(credits=None) -> {"id","token","openid"}: a user known to the Official Account
    (the JSAPI payer needs its openid; WeChat Pay knows it as the OA's)."""

    def make(credits=None):
        uid = make_user(credits=credits)
        openid = "oIT" + uuid.uuid4().hex[:25]
        psql("INSERT INTO wechat_identities (user_id, app_kind, appid, openid) VALUES "
             f"({uid}, 'oa', '{env('WECHAT_APPID')}', '{openid}')")
        pay.know_openid(openid, "oa")
        return {"id": uid, "token": token_for(uid), "openid": openid}

    return make


def new_key():
    return "it-" + uuid.uuid4().hex


def create_order(client, token, package_id, key=None):
    return client.post("/payment/create-order", token=token,
                       headers={"Idempotency-Key": key or new_key()},
                       json={"package_id": package_id})


def balance(psql, uid):
    (value,), = psql(f"SELECT credits FROM users WHERE id = {int(uid)}")
    return int(value)


def order_row(psql, no):
    rows = psql("SELECT user_id, status, amount_fen, credits, transaction_id, paid_at, "
                f"payer_openid, prepay_id, appid, mchid FROM orders WHERE out_trade_no = '{no}'")
    assert len(rows) == 1, f"order {no}: {rows}"
    r = rows[0]
    return {"user_id": int(r[0]), "status": r[1], "amount_fen": int(r[2]), "credits": int(r[3]),
            "transaction_id": r[4], "paid_at": r[5], "payer_openid": r[6], "prepay_id": r[7],
            "appid": r[8], "mchid": r[9]}


def recharge_rows(psql, no):
    return psql("SELECT user_id, delta, balance_after, kind FROM credit_ledger "
                f"WHERE idempotency_key = 'order:{no}'")


def ordered(client, expect_ok, payer_, package_id=2):
    """Create an order for package_id; return its create-order data."""
    return expect_ok(create_order(client, payer_["token"], package_id))


def assert_settled_once(psql, payer_, no, credits, before):
    row = order_row(psql, no)
    assert row["status"] == "paid", row
    assert row["transaction_id"] and row["paid_at"], row
    rows = recharge_rows(psql, no)
    assert len(rows) == 1, f"{len(rows)} recharge rows for {no}: {rows}"
    assert (int(rows[0][0]), int(rows[0][1]), rows[0][3]) == (payer_["id"], credits, "recharge")
    assert balance(psql, payer_["id"]) == before + credits


def assert_unsettled(psql, payer_, no, before):
    row = order_row(psql, no)
    assert row["status"] == "created", row
    assert row["transaction_id"] is None and row["paid_at"] is None, row
    assert recharge_rows(psql, no) == []
    assert balance(psql, payer_["id"]) == before


def fail_body(status, body):
    """A notify failure: non-2xx and {"code":"FAIL","message":…}."""
    assert not 200 <= status < 300, f"forged notify accepted with {status}: {body!r}"
    try:
        doc = json.loads(body)
    except (TypeError, ValueError):
        pytest.fail(f"notify failure body is not JSON ({status}): {body!r}")
    assert isinstance(doc, dict) and doc.get("code") == "FAIL", doc
    assert isinstance(doc.get("message"), str) and doc["message"], doc


def run_ctl(*args):
    proc = subprocess.run([str(CTL), *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    return proc.returncode, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- create-order


def test_create_order_answer_and_pay_sign(client, expect_ok, payer, psql, packages, pay,
                                          merchant_pub):
    p = payer(credits=0)
    t0 = int(time.time())
    data = ordered(client, expect_ok, p, 2)
    assert set(data) == CREATE_KEYS, data
    no = data["out_trade_no"]
    assert re.match(r"^AP[0-9A-Za-z]{4,30}$", no), no  # exact shape: test_out_trade_no_format
    assert (data["amount_fen"], data["credits"]) == \
        (packages[2]["price_fen"], packages[2]["credits"]) == (3000, 330)

    pp = data["pay_params"]
    assert set(pp) == PAY_PARAM_KEYS, pp
    assert pp["appId"] == env("WECHAT_APPID")
    assert pp["signType"] == "RSA"
    assert isinstance(pp["timeStamp"], str) and pp["timeStamp"].isdigit(), pp
    assert abs(int(pp["timeStamp"]) - t0) < 300, pp
    assert isinstance(pp["nonceStr"], str) and 8 <= len(pp["nonceStr"]) <= 32, pp
    assert pp["package"].startswith("prepay_id=") and len(pp["package"]) > len("prepay_id="), pp
    message = f"{pp['appId']}\n{pp['timeStamp']}\n{pp['nonceStr']}\n{pp['package']}\n".encode()
    try:
        merchant_pub.verify(base64.b64decode(pp["paySign"], validate=True), message,
                            padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        pytest.fail(f"paySign does not verify with the merchant public key: {exc!r} {pp}")
    # a signature over anything else must not verify (the check above is real)
    with pytest.raises(InvalidSignature):
        merchant_pub.verify(base64.b64decode(pp["paySign"]), message + b"x",
                            padding.PKCS1v15(), hashes.SHA256())

    row = order_row(psql, no)
    assert row["user_id"] == p["id"] and row["status"] == "created", row
    assert (row["amount_fen"], row["credits"]) == (3000, 330)
    assert row["payer_openid"] == p["openid"]
    assert "prepay_id=" + (row["prepay_id"] or "") == pp["package"], row
    assert row["appid"] == env("WECHAT_APPID")
    assert row["mchid"] == os.environ.get("WXPAY_MCHID", "1900000109")

    # The simulator saw the JSAPI order with the right amount and payer.
    sim_orders = pay.orders()
    if isinstance(sim_orders, dict):
        sim_orders = sim_orders.get("orders", list(sim_orders.values()))
    mine = [o for o in sim_orders if isinstance(o, dict) and o.get("out_trade_no") == no]
    assert len(mine) == 1, f"simulator has no JSAPI order {no}"
    text = json.dumps(mine[0])
    assert "3000" in text and p["openid"] in text, mine[0]


def test_create_order_for_each_active_package(client, expect_ok, payer, packages):
    p = payer()
    for pid, pk in packages.items():
        if not pk["active"]:
            continue
        data = ordered(client, expect_ok, p, pid)
        assert (data["amount_fen"], data["credits"]) == (pk["price_fen"], pk["credits"])


def test_create_order_numbers_are_unique(client, expect_ok, payer):
    p = payer()
    numbers = [ordered(client, expect_ok, p, 1)["out_trade_no"] for _ in range(10)]
    assert len(set(numbers)) == 10, numbers


def test_out_trade_no_format(client, expect_ok, payer):
    """"AP" + 16 digits of time + 8 random hex digits (26 characters, within WeChat's 32)."""
    p = payer()
    for _ in range(5):
        no = ordered(client, expect_ok, p, 1)["out_trade_no"]
        assert OUT_TRADE_NO.match(no), f"{no}: not AP + 16 digits + 8 hex"


@pytest.mark.parametrize("package_id", [4, 999999])
def test_create_order_inactive_or_unknown_package_is_not_found(client, expect_error, payer, psql,
                                                               package_id, packages):
    if package_id in packages:
        assert not packages[package_id]["active"]
    p = payer()
    expect_error(create_order(client, p["token"], package_id), 404, "NOT_FOUND")
    assert psql(f"SELECT 1 FROM orders WHERE user_id = {p['id']}") == []


@pytest.mark.parametrize("body", [{}, {"package_id": "2"}, {"package_id": None},
                                  {"package_id": 1.5}, {"package_id": -1}, {"package_id": True}])
def test_create_order_bad_body_is_bad_request(client, expect_error, payer, psql, body):
    p = payer()
    resp = client.post("/payment/create-order", token=p["token"],
                       headers={"Idempotency-Key": new_key()}, json=body)
    if body.get("package_id") == -1 and resp.status_code == 404:
        pass  # an impossible id may also be "not found"
    else:
        expect_error(resp, 400, "BAD_REQUEST")
    assert psql(f"SELECT 1 FROM orders WHERE user_id = {p['id']}") == []


def test_create_order_needs_a_token(client, expect_error):
    expect_error(client.post("/payment/create-order", headers={"Idempotency-Key": new_key()},
                             json={"package_id": 1}), 401, "UNAUTHORIZED")


def test_create_order_without_an_openid_is_refused(client, make_user, token_for, psql):
    uid = make_user()
    resp = create_order(client, token_for(uid), 1)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["success"] is False
    assert psql(f"SELECT 1 FROM orders WHERE user_id = {uid}") == []


def same_order(data):
    """What a replay of create-order repeats: the order and its prepay id.  Its pay_params are
    signed afresh (timeStamp, nonceStr, paySign) for that same prepay id."""
    pp = data["pay_params"]
    return ({k: v for k, v in data.items() if k != "pay_params"},
            pp["appId"], pp["package"], pp["signType"])


def test_create_order_replay_returns_the_same_order(client, expect_ok, expect_error, payer, psql):
    p = payer()
    key = new_key()
    first = expect_ok(create_order(client, p["token"], 2, key))
    again = expect_ok(create_order(client, p["token"], 2, key))
    assert same_order(again) == same_order(first)
    (count,), = psql(f"SELECT count(*) FROM orders WHERE user_id = {p['id']}")
    assert count == "1"
    expect_error(create_order(client, p["token"], 3, key), 409, "IDEMPOTENCY_MISMATCH")
    (count,), = psql(f"SELECT count(*) FROM orders WHERE user_id = {p['id']}")
    assert count == "1"


def test_create_order_double_tap_concurrently_makes_one_order(client, payer, psql):
    p = payer()
    key = new_key()
    gate = threading.Barrier(10)

    def tap(_):
        gate.wait(timeout=30)
        return requests.post(client.url("/payment/create-order"), timeout=30,
                             headers={"Authorization": "Bearer " + p["token"],
                                      "Idempotency-Key": key}, json={"package_id": 1})

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        resps = list(pool.map(tap, range(10)))
    assert all(r.status_code == 200 for r in resps), [(r.status_code, r.text[:100]) for r in resps]
    assert len({r.json()["data"]["out_trade_no"] for r in resps}) == 1
    (count,), = psql(f"SELECT count(*) FROM orders WHERE user_id = {p['id']}")
    assert count == "1"


# --------------------------------------------------------------------------- notify


def test_full_purchase(client, expect_ok, payer, psql, pay):
    p = payer(credits=7)
    data = ordered(client, expect_ok, p, 2)
    no = data["out_trade_no"]
    got = expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))
    assert got == {"out_trade_no": no, "status": "created", "amount_fen": 3000, "credits": 330,
                   "paid_at": None}

    result = pay.pay(no)
    assert result["status"] == 204, result
    assert result["body"] in ("", None), result
    assert str(result["transaction_id"]).startswith("4200"), result

    assert_settled_once(psql, p, no, 330, 7)
    assert order_row(psql, no)["transaction_id"] == result["transaction_id"]
    (after,), = psql(f"SELECT balance_after FROM credit_ledger WHERE idempotency_key = 'order:{no}'")
    assert int(after) == 337
    got = expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))
    assert set(got) == ORDER_KEYS, got
    assert (got["out_trade_no"], got["status"], got["amount_fen"], got["credits"]) == \
        (no, "paid", 3000, 330)
    assert RFC3339.match(got["paid_at"] or ""), got
    assert expect_ok(client.get("/user/credits", token=p["token"]))["credits"] == 337
    recs = expect_ok(client.get("/credits/records", token=p["token"],
                                params={"kind": "recharge"}))
    assert [(r["kind"], r["delta"], r["balance_after"]) for r in recs["items"]] == \
        [("recharge", 330, 337)]

    # WeChat repeats notifies: a repeat answers 204 and credits nothing
    again = pay.notify(no)
    assert again["statuses"] == [204], again
    assert_settled_once(psql, p, no, 330, 7)


def test_100_concurrent_identical_notifies_credit_once(client, expect_ok, payer, psql, pay):
    p = payer()
    no = ordered(client, expect_ok, p, 3)["out_trade_no"]
    credits = order_row(psql, no)["credits"]
    assert pay.pay(no, notify=False)["transaction_id"]
    assert_unsettled(psql, p, no, 0)
    # 100 identical notifies at once: four simultaneous simulator calls of 25 each (one call
    # sends its notifies concurrently)
    gate = threading.Barrier(4)

    def burst(_):
        gate.wait(timeout=30)
        return type(pay)(env("AIPHOTO_SIM_URL")).notify(no, count=25)["statuses"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = [s for part in pool.map(burst, range(4)) for s in part]
    assert len(statuses) == 100, statuses
    assert all(s == 204 for s in statuses), sorted(set(map(str, statuses)))
    assert_settled_once(psql, p, no, credits, 0)


@pytest.mark.parametrize("variant", FORGED)
def test_forged_notify_is_refused_and_changes_nothing(client, expect_ok, payer, psql, pay, variant):
    p = payer(credits=3)
    no = ordered(client, expect_ok, p, 1)["out_trade_no"]
    result = pay.pay(no, variant=variant)
    fail_body(result["status"], result["body"])
    assert_unsettled(psql, p, no, 3)
    got = expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))
    assert got["status"] == "created" and got["paid_at"] is None, got
    # a forged notify left nothing behind: the genuine one still settles the order
    real = pay.notify(no)
    assert real["statuses"] == [204], real
    assert_settled_once(psql, p, no, 60, 3)


@pytest.mark.parametrize("variant", ["bad_signature", "flipped_body", "signtest"])
def test_forged_notify_for_a_paid_order_credits_nothing(client, expect_ok, payer, psql, pay,
                                                        variant):
    p = payer()
    no = ordered(client, expect_ok, p, 1)["out_trade_no"]
    assert pay.pay(no)["status"] == 204
    result = pay.notify(no, variant=variant)
    assert len(result["statuses"]) == 1
    assert not 200 <= result["statuses"][0] < 300, result
    assert_settled_once(psql, p, no, 60, 0)


@pytest.mark.parametrize("case", ["empty", "no-headers", "garbage-signature", "not-json"])
def test_notify_by_hand_without_valid_signature_is_fail(client, psql, case):
    (before,), = psql("SELECT count(*) FROM credit_ledger WHERE kind = 'recharge'")
    headers = {"Content-Type": "application/json"}
    body = json.dumps({"id": "x", "event_type": "TRANSACTION.SUCCESS",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "AAAA",
                                    "associated_data": "transaction", "nonce": "abcdefabcdef"}})
    if case == "empty":
        body = ""
    if case in ("garbage-signature", "not-json"):
        headers.update({"Wechatpay-Timestamp": str(int(time.time())),
                        "Wechatpay-Nonce": "n" * 32,
                        "Wechatpay-Signature": base64.b64encode(b"x" * 256).decode(),
                        "Wechatpay-Serial": os.environ.get("WXPAY_PUBLIC_KEY_ID",
                                                           "PUB_KEY_ID_0114232134912410000000000000")})
    if case == "not-json":
        body = "{not json"
    resp = client.post("/payment/notify", headers=headers, data=body)
    fail_body(resp.status_code, resp.text)
    (after,), = psql("SELECT count(*) FROM credit_ledger WHERE kind = 'recharge'")
    assert after == before


def test_notify_only_takes_post(client):
    resp = client.get("/payment/notify")
    assert resp.status_code in (404, 405), resp.text


# --------------------------------------------------------------------------- reconciliation


def test_lost_notify_is_settled_by_reconciliation_once(client, expect_ok, payer, psql, pay):
    p = payer(credits=1)
    paid = ordered(client, expect_ok, p, 1)["out_trade_no"]
    unpaid = ordered(client, expect_ok, p, 2)["out_trade_no"]
    assert pay.pay(paid, notify=False)["transaction_id"]
    assert_unsettled(psql, p, paid, 1)
    for _ in range(2):
        status, output = run_ctl("reconcile-orders", "--older-than", "0")
        assert status == 0, output
        assert_settled_once(psql, p, paid, 60, 1)
    row = order_row(psql, unpaid)
    assert row["status"] in ("created", "closed") and row["paid_at"] is None, row
    assert recharge_rows(psql, unpaid) == []
    # and the late notify that finally arrives changes nothing
    assert pay.notify(paid)["statuses"] == [204]
    assert_settled_once(psql, p, paid, 60, 1)


def test_reconciliation_respects_older_than(client, expect_ok, payer, psql, pay):
    p = payer()
    no = ordered(client, expect_ok, p, 1)["out_trade_no"]
    assert pay.pay(no, notify=False)["transaction_id"]
    status, output = run_ctl("reconcile-orders", "--older-than", "3600")
    assert status == 0, output
    assert_unsettled(psql, p, no, 0)
    status, output = run_ctl("reconcile-orders", "--older-than", "0")
    assert status == 0, output
    assert_settled_once(psql, p, no, 60, 0)


@pytest.mark.parametrize("round_no", range(3))
def test_reconciliation_racing_a_late_notify_settles_once(client, expect_ok, payer, psql, pay,
                                                          round_no):
    p = payer()
    numbers = [ordered(client, expect_ok, p, pid)["out_trade_no"] for pid in (1, 2, 3)]
    credits = {no: order_row(psql, no)["credits"] for no in numbers}
    for no in numbers:
        assert pay.pay(no, notify=False)["transaction_id"]
    gate = threading.Barrier(1 + len(numbers) + 1)

    def reconcile(_):
        gate.wait(timeout=30)
        return run_ctl("reconcile-orders", "--older-than", "0")

    def notify(no):
        gate.wait(timeout=30)
        return type(pay)(env("AIPHOTO_SIM_URL")).notify(no, count=5)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futs = [pool.submit(reconcile, 0), pool.submit(reconcile, 1)]
        futs += [pool.submit(notify, no) for no in numbers]
        results = [f.result(timeout=120) for f in futs]
    for status, output in results[:2]:
        assert status == 0, output
    for res in results[2:]:
        assert all(s == 204 for s in res["statuses"]), res
    total = 0
    for no in numbers:
        total += credits[no]
        rows = recharge_rows(psql, no)
        assert len(rows) == 1, f"{no}: {rows}"
        assert order_row(psql, no)["status"] == "paid"
    assert balance(psql, p["id"]) == total


# --------------------------------------------------------------------------- order query


def test_young_created_order_is_answered_from_the_database(client, expect_ok, payer, psql, pay):
    p = payer()
    no = ordered(client, expect_ok, p, 1)["out_trade_no"]
    assert pay.pay(no, notify=False)["transaction_id"]
    got = expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))
    assert got["status"] == "created", got
    assert_unsettled(psql, p, no, 0)
    (queried,), = psql(f"SELECT last_queried_at FROM orders WHERE out_trade_no = '{no}'")
    assert queried is None


def test_old_created_order_is_queried_at_wechat_pay(client, expect_ok, payer, psql, pay):
    p = payer(credits=2)
    no = ordered(client, expect_ok, p, 2)["out_trade_no"]
    assert pay.pay(no, notify=False)["transaction_id"]
    psql("UPDATE orders SET created_at = now() - interval '1 minute' "
         f"WHERE out_trade_no = '{no}'")
    got = expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))
    assert set(got) == ORDER_KEYS, got
    assert got["status"] == "paid" and RFC3339.match(got["paid_at"] or ""), got
    assert_settled_once(psql, p, no, 330, 2)
    (queried,), = psql(f"SELECT last_queried_at FROM orders WHERE out_trade_no = '{no}'")
    assert queried is not None
    # the query settled it: a second read and the late notify change nothing
    assert expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))["status"] == "paid"
    assert pay.notify(no)["statuses"] == [204]
    assert_settled_once(psql, p, no, 330, 2)


def test_old_unpaid_order_stays_created(client, expect_ok, payer, psql):
    p = payer()
    no = ordered(client, expect_ok, p, 1)["out_trade_no"]
    psql("UPDATE orders SET created_at = now() - interval '1 minute' "
         f"WHERE out_trade_no = '{no}'")
    got = expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))
    assert got == {"out_trade_no": no, "status": "created", "amount_fen": 600, "credits": 60,
                   "paid_at": None}
    assert_unsettled(psql, p, no, 0)


def test_concurrent_queries_of_an_old_paid_order_settle_once(client, expect_ok, payer, psql, pay):
    p = payer()
    no = ordered(client, expect_ok, p, 3)["out_trade_no"]
    credits = order_row(psql, no)["credits"]
    assert pay.pay(no, notify=False)["transaction_id"]
    psql("UPDATE orders SET created_at = now() - interval '1 minute' "
         f"WHERE out_trade_no = '{no}'")
    gate = threading.Barrier(12)

    def query(_):
        gate.wait(timeout=30)
        return requests.get(client.url(f"/payment/orders/{no}"), timeout=30,
                            headers={"Authorization": "Bearer " + p["token"]})

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        resps = list(pool.map(query, range(12)))
    assert all(r.status_code == 200 for r in resps), [r.status_code for r in resps]
    assert_settled_once(psql, p, no, credits, 0)


def test_another_users_order_is_not_found(client, expect_ok, expect_error, payer, psql):
    a, b = payer(), payer()
    no = ordered(client, expect_ok, a, 1)["out_trade_no"]
    expect_error(client.get(f"/payment/orders/{no}", token=b["token"]), 404, "NOT_FOUND")
    psql("UPDATE orders SET created_at = now() - interval '1 minute' "
         f"WHERE out_trade_no = '{no}'")
    expect_error(client.get(f"/payment/orders/{no}", token=b["token"]), 404, "NOT_FOUND")
    for bogus in ("AP00000000000000000000000", "nope", "x" * 40):
        expect_error(client.get(f"/payment/orders/{bogus}", token=a["token"]), 404, "NOT_FOUND")
    expect_error(client.get(f"/payment/orders/{no}"), 401, "UNAUTHORIZED")


# --------------------------------------------------------------------------- order list


def test_order_list_is_the_callers_own_newest_first(client, expect_ok, expect_error, payer, psql,
                                                    pay):
    a, b = payer(), payer()
    mine = [ordered(client, expect_ok, a, pid)["out_trade_no"] for pid in (1, 2, 3, 1, 2)]
    theirs = ordered(client, expect_ok, b, 1)["out_trade_no"]
    assert pay.pay(mine[1])["status"] == 204

    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        data = expect_ok(client.get("/payment/orders", token=a["token"], params=params))
        assert set(data) == {"items", "next_cursor"}, data
        assert len(data["items"]) <= 2
        items += data["items"]
        pages += 1
        cursor = data["next_cursor"]
        assert pages <= 5, "pagination does not end"
        if cursor is None:
            break
    assert pages == 3
    assert [i["out_trade_no"] for i in items] == mine[::-1]
    assert theirs not in [i["out_trade_no"] for i in items]
    for item in items:
        assert set(item) == ORDER_KEYS, item
        row = order_row(psql, item["out_trade_no"])
        assert (item["status"], item["amount_fen"], item["credits"]) == \
            (row["status"], row["amount_fen"], row["credits"]), (item, row)
        assert (item["paid_at"] is None) == (row["paid_at"] is None), item
    assert [i["status"] for i in items] == ["created", "created", "created", "paid", "created"]

    data = expect_ok(client.get("/payment/orders", token=a["token"]))
    assert len(data["items"]) == 5 and data["next_cursor"] is None
    data = expect_ok(client.get("/payment/orders", token=b["token"]))
    assert [i["out_trade_no"] for i in data["items"]] == [theirs]
    for params in ({"limit": 0}, {"limit": 51}, {"limit": "x"}, {"cursor": "garbage!"}):
        expect_error(client.get("/payment/orders", token=a["token"], params=params),
                     400, "BAD_REQUEST")


def test_notify_for_a_closed_order_credits_nothing(client, expect_ok, payer, psql, pay):
    """A payment that arrives for an order closed here is not credited automatically (it is
    left for a manual refund); the order stays closed."""
    p = payer(credits=4)
    no = ordered(client, expect_ok, p, 1)["out_trade_no"]
    psql(f"UPDATE orders SET status = 'closed', closed_at = now() WHERE out_trade_no = '{no}'")
    pay.pay(no)
    row = order_row(psql, no)
    assert row["status"] == "closed" and row["paid_at"] is None, row
    assert recharge_rows(psql, no) == []
    assert balance(psql, p["id"]) == 4
    status, output = run_ctl("reconcile-orders", "--older-than", "0")
    assert status == 0, output
    assert order_row(psql, no)["status"] == "closed"
    assert recharge_rows(psql, no) == []


# --------------------------------------------------------------------------- abuse limits


def rl_reset(redis_cli, uid):
    """Give the user's create-order rate budget back (to reach the unpaid-order cap)."""
    redis_cli("DEL", f"rl:create-order:u{int(uid)}")


def open_orders(psql, uid):
    (count,), = psql(f"SELECT count(*) FROM orders WHERE user_id = {int(uid)} "
                     "AND status = 'created'")
    return int(count)


def sim_order(pay, no):
    mine = [o for o in pay.orders() if o.get("out_trade_no") == no]
    assert len(mine) == 1, f"simulator has no order {no}"
    return mine[0]


def test_create_order_flood_is_rate_limited_per_user(client, expect_error, payer, psql):
    """The create-order class: 10 at once per user, then 10 a minute.  Every request counts
    (bad bodies too, refused by the handler after the limit), so nothing is created."""
    p, other = payer(), payer()
    statuses, refused = [], None
    for _ in range(40):
        resp = create_order(client, p["token"], "x")
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            refused = resp
            break
    assert refused is not None, statuses
    assert len(statuses) - 1 >= 10 and set(statuses[:-1]) == {400}, statuses
    body = refused.json()
    assert (body["success"], body["code"]) == (False, "RATE_LIMITED"), body
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 6, retry
    # replays of a key count too: the budget is per user, whatever the request
    expect_error(create_order(client, p["token"], 1), 429, "RATE_LIMITED")
    assert psql(f"SELECT 1 FROM orders WHERE user_id = {p['id']}") == []
    # another user is not affected
    assert create_order(client, other["token"], 1).status_code == 200


def test_unpaid_orders_are_capped_at_ten(client, expect_ok, expect_error, payer, psql, pay,
                                         redis_cli):
    p, other = payer(), payer()
    keys = [new_key() for _ in range(10)]
    first = [expect_ok(create_order(client, p["token"], 1, k)) for k in keys]
    rl_reset(redis_cli, p["id"])
    resp = create_order(client, p["token"], 1)
    message = expect_error(resp, 429, "RATE_LIMITED")
    assert "orders" in message and "10" in message, message
    assert resp.headers.get("Retry-After", "").isdigit(), resp.headers
    assert int(resp.headers["Retry-After"]) >= 1
    assert open_orders(psql, p["id"]) == 10
    # without an Idempotency-Key the same
    resp = client.post("/payment/create-order", token=p["token"], json={"package_id": 1})
    expect_error(resp, 429, "RATE_LIMITED")
    # a used key still replays its order
    assert same_order(expect_ok(create_order(client, p["token"], 1, keys[3]))) == \
        same_order(first[3])
    assert open_orders(psql, p["id"]) == 10
    # the cap is per user
    expect_ok(create_order(client, other["token"], 1))
    # a paid order no longer counts: one more may be created
    assert pay.pay(first[0]["out_trade_no"])["status"] == 204
    rl_reset(redis_cli, p["id"])
    expect_ok(create_order(client, p["token"], 1))
    expect_error(create_order(client, p["token"], 1), 429, "RATE_LIMITED")
    assert open_orders(psql, p["id"]) == 10


@pytest.mark.parametrize("keyed", [True, False])
def test_concurrent_creates_cannot_pass_the_cap(client, expect_ok, payer, psql, redis_cli, keyed):
    p = payer()
    for _ in range(7):
        expect_ok(create_order(client, p["token"], 1))
    rl_reset(redis_cli, p["id"])
    gate = threading.Barrier(8)

    def one(_):
        headers = {"Authorization": "Bearer " + p["token"]}
        if keyed:
            headers["Idempotency-Key"] = new_key()
        gate.wait(timeout=30)
        return requests.post(client.url("/payment/create-order"), timeout=30, headers=headers,
                             json={"package_id": 1})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        resps = list(pool.map(one, range(8)))
    statuses = sorted(r.status_code for r in resps)
    assert statuses == [200] * 3 + [429] * 5, [(r.status_code, r.text[:120]) for r in resps]
    assert open_orders(psql, p["id"]) == 10


def test_polling_an_unpaid_order_queries_wechat_pay_once_per_10_s(client, expect_ok, payer, psql,
                                                                   pay):
    p = payer()
    no = ordered(client, expect_ok, p, 1)["out_trade_no"]
    psql("UPDATE orders SET created_at = now() - interval '1 minute' "
         f"WHERE out_trade_no = '{no}'")
    for _ in range(20):
        assert expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))["status"] == \
            "created"
    queries = sim_order(pay, no)["query_count"]
    assert 1 <= queries <= 2, queries
    # once the 10 s have passed, the next poll asks again (and settles a payment it finds)
    assert pay.pay(no, notify=False)["transaction_id"]
    psql("UPDATE orders SET last_queried_at = now() - interval '11 seconds' "
         f"WHERE out_trade_no = '{no}'")
    assert expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))["status"] == "paid"
    assert sim_order(pay, no)["query_count"] == queries + 1
    assert_settled_once(psql, p, no, 60, 0)


def test_reconciliation_reaches_a_new_order_behind_a_pile(client, expect_ok, payer, psql, pay,
                                                         redis_cli):
    """More unpaid orders than one run takes: a real order paid at WeChat Pay (notify lost),
    the newest of all, is settled within ceil(pending / limit) runs."""
    for _ in range(3):
        attacker = payer()
        for _ in range(10):
            expect_ok(create_order(client, attacker["token"], 1))
    real = payer(credits=5)
    no = ordered(client, expect_ok, real, 1)["out_trade_no"]
    assert pay.pay(no, notify=False)["transaction_id"]
    (pending,), = psql("SELECT count(*) FROM orders WHERE status = 'created'")
    limit = 8
    runs = -(-int(pending) // limit)
    assert runs >= 4, pending
    for _ in range(runs):
        status, output = run_ctl("reconcile-orders", "--older-than", "0", "--limit", str(limit))
        assert status == 0, output
        assert f"reconcile: {limit} checked" in output, output
        if order_row(psql, no)["status"] == "paid":
            break
    assert_settled_once(psql, real, no, 60, 5)


# --------------------------------------------------------------------------- which app pays


def new_openid(prefix):
    return (prefix + uuid.uuid4().hex + uuid.uuid4().hex)[:28]


def mp_login(client, expect_ok, pay, openid=None, unionid=None):
    """A user signed in through the mini program (wx.login → POST /auth/mp/login):
    {"id","token","openid"}."""
    openid = openid or new_openid("oMP")
    code = pay.mp_code(openid=openid, unionid=unionid)["code"]
    data = expect_ok(client.post("/auth/mp/login", json={"code": code}))
    return {"id": data["user"]["id"], "token": data["token"], "openid": openid}


def oa_login(client, expect_ok, pay, openid=None, unionid=None):
    """A user signed in on the Official Account's H5 pages (OAuth): {"id","token","openid"}."""
    openid = openid or new_openid("oOA")
    resp = client.get("/auth/wechat/authorize",
                      params={"redirect": "/wechat/member.html", "scope": "snsapi_userinfo"})
    assert resp.status_code == 302, resp.text[:300]
    query = urllib.parse.urlsplit(resp.headers["Location"].split("#")[0]).query
    state = urllib.parse.parse_qs(query)["state"][0]
    code = pay.oauth_code(openid=openid, unionid=unionid, scope="snsapi_userinfo")["code"]
    data = expect_ok(client.post("/auth/wechat/oauth", json={"code": code, "state": state}))
    return {"id": data["user"]["id"], "token": data["token"], "openid": openid}


def pay_message(pp, appid=None):
    return (f"{appid or pp['appId']}\n{pp['timeStamp']}\n{pp['nonceStr']}\n"
            f"{pp['package']}\n").encode()


def signed_by_merchant(merchant_pub, pp, appid):
    """True when paySign is the merchant key's signature over appid's payment message."""
    try:
        merchant_pub.verify(base64.b64decode(pp["paySign"], validate=True),
                            pay_message(pp, appid), padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def test_mini_program_user_buys_credits_end_to_end(client, expect_ok, pay, psql, merchant_pub):
    """A user known only to the mini program: the order is placed with the mini program's
    appid and its openid, wx.requestPayment's parameters are signed over that appid, the
    notify settles it once and the order query shows it paid."""
    u = mp_login(client, expect_ok, pay)
    assert [r[0] for r in psql("SELECT app_kind FROM wechat_identities "
                               f"WHERE user_id = {u['id']}")] == ["mp"]
    data = ordered(client, expect_ok, u, 2)
    assert set(data) == CREATE_KEYS, data
    no, pp = data["out_trade_no"], data["pay_params"]
    assert set(pp) == PAY_PARAM_KEYS, pp
    assert pp["appId"] == env("WECHAT_MP_APPID"), pp
    assert pp["signType"] == "RSA" and pp["package"].startswith("prepay_id="), pp
    assert pp["timeStamp"].isdigit() and abs(int(pp["timeStamp"]) - time.time()) < 300, pp
    assert signed_by_merchant(merchant_pub, pp, env("WECHAT_MP_APPID")), pp
    assert not signed_by_merchant(merchant_pub, pp, env("WECHAT_APPID")), pp
    row = order_row(psql, no)
    assert (row["appid"], row["payer_openid"], row["status"]) == \
        (env("WECHAT_MP_APPID"), u["openid"], "created"), row
    assert "prepay_id=" + row["prepay_id"] == pp["package"], row
    placed = sim_order(pay, no)
    assert (placed["appid"], placed["payer"]["openid"]) == (env("WECHAT_MP_APPID"), u["openid"])

    result = pay.pay(no)
    assert result["status"] == 204, result
    assert_settled_once(psql, u, no, 330, 0)
    got = expect_ok(client.get(f"/payment/orders/{no}", token=u["token"]))
    assert (got["status"], got["credits"]) == ("paid", 330) and RFC3339.match(got["paid_at"])
    assert pay.notify(no, count=3)["statuses"] == [204] * 3
    assert_settled_once(psql, u, no, 330, 0)
    assert expect_ok(client.get("/user/credits", token=u["token"]))["credits"] == 330


def test_official_account_user_pays_as_before(client, expect_ok, pay, psql, merchant_pub):
    """An H5 (OAuth) token: the order is the Official Account's, as it always was."""
    u = oa_login(client, expect_ok, pay)
    data = ordered(client, expect_ok, u, 1)
    pp = data["pay_params"]
    assert pp["appId"] == env("WECHAT_APPID") and \
        signed_by_merchant(merchant_pub, pp, env("WECHAT_APPID")), pp
    assert order_row(psql, data["out_trade_no"])["appid"] == env("WECHAT_APPID")
    assert pay.pay(data["out_trade_no"])["status"] == 204
    assert_settled_once(psql, u, data["out_trade_no"], 60, 0)


def test_token_from_before_channels_pays_as_the_official_account(client, expect_ok, payer,
                                                                psql, jwt_forge):
    p = payer()
    old = jwt_forge.sign(jwt_forge.default_claims(p["id"]))
    assert "channel" not in jwt_forge.claims_like(old)
    data = expect_ok(create_order(client, old, 1))
    assert data["pay_params"]["appId"] == env("WECHAT_APPID")
    assert order_row(psql, data["out_trade_no"])["payer_openid"] == p["openid"]


def test_user_joined_by_unionid_pays_from_each_app_into_one_balance(client, expect_ok,
                                                                     expect_error, pay, psql,
                                                                     merchant_pub):
    unionid = "uIT" + uuid.uuid4().hex
    mp = mp_login(client, expect_ok, pay, unionid=unionid)
    oa = oa_login(client, expect_ok, pay, unionid=unionid)
    assert mp["id"] == oa["id"], (mp, oa)
    kinds = sorted(r[0] for r in psql("SELECT app_kind FROM wechat_identities "
                                      f"WHERE user_id = {mp['id']}"))
    assert kinds == ["mp", "oa"]
    key = new_key()
    from_mp = expect_ok(create_order(client, mp["token"], 1, key))
    from_oa = expect_ok(create_order(client, oa["token"], 2))
    for data, app, openid in ((from_mp, "WECHAT_MP_APPID", mp["openid"]),
                              (from_oa, "WECHAT_APPID", oa["openid"])):
        pp = data["pay_params"]
        assert pp["appId"] == env(app) and signed_by_merchant(merchant_pub, pp, env(app)), pp
        row = order_row(psql, data["out_trade_no"])
        assert (row["user_id"], row["appid"], row["payer_openid"]) == \
            (mp["id"], env(app), openid), row
    # the mini program's key replayed from the H5 page would answer pay_params it cannot use
    message = expect_error(create_order(client, oa["token"], 1, key), 409,
                           "IDEMPOTENCY_MISMATCH")
    assert "other app" in message, message
    assert same_order(expect_ok(create_order(client, mp["token"], 1, key))) == \
        same_order(from_mp)
    for data in (from_mp, from_oa):
        assert pay.pay(data["out_trade_no"])["status"] == 204
    assert balance(psql, mp["id"]) == 60 + 330
    listed = expect_ok(client.get("/payment/orders", token=oa["token"]))["items"]
    assert {i["out_trade_no"] for i in listed} == {from_mp["out_trade_no"],
                                                   from_oa["out_trade_no"]}
    assert expect_ok(client.get("/user/credits", token=mp["token"]))["credits"] == 390


def test_a_channel_without_a_payable_identity_is_told_what_is_missing(client, expect_ok,
                                                                      expect_error, payer, pay,
                                                                      psql, token_for):
    """An Official-Account-only user holding a mini-program token (made by hand: no login
    would issue one) and a mini-program-only user on the H5 pages: 400 naming the missing
    identity, and no order."""
    oa_only = payer()
    message = expect_error(create_order(client, token_for(oa_only["id"], channel="mp"), 1),
                           400, "BAD_REQUEST")
    assert "mini-program openid" in message and "WECHAT_MP_APPID" in message, message
    mp_only = mp_login(client, expect_ok, pay)
    message = expect_error(create_order(client, token_for(mp_only["id"], channel="oa"), 1),
                           400, "BAD_REQUEST")
    assert "Official Account openid" in message, message
    for uid in (oa_only["id"], mp_only["id"]):
        assert psql(f"SELECT 1 FROM orders WHERE user_id = {uid}") == []


@pytest.mark.parametrize("app", ["mp", "oa"])
def test_notify_naming_the_other_app_is_refused(client, expect_ok, pay, psql, app):
    """One merchant serves both apps: a payment reported for the other app (a real appid of
    ours, but not the order's) does not settle the order."""
    u = (mp_login if app == "mp" else oa_login)(client, expect_ok, pay)
    no = ordered(client, expect_ok, u, 1)["out_trade_no"]
    result = pay.pay(no, variant="other_app")
    assert result["status"] == 409, result
    fail_body(result["status"], result["body"])
    assert_unsettled(psql, u, no, 0)
    assert pay.notify(no)["statuses"] == [204]
    assert_settled_once(psql, u, no, 60, 0)


def test_mini_program_order_is_reconciled_and_queried(client, expect_ok, pay, psql):
    u = mp_login(client, expect_ok, pay)
    reconciled = ordered(client, expect_ok, u, 1)["out_trade_no"]
    queried = ordered(client, expect_ok, u, 3)["out_trade_no"]
    credits = order_row(psql, queried)["credits"]
    for no in (reconciled, queried):
        assert pay.pay(no, notify=False)["transaction_id"]
    status, output = run_ctl("reconcile-orders", "--older-than", "0")
    assert status == 0, output
    # the run settled both (each once), under the mini program's appid
    assert_settled_once(psql, u, reconciled, 60, credits)
    assert_settled_once(psql, u, queried, credits, 60)
    assert order_row(psql, reconciled)["appid"] == env("WECHAT_MP_APPID")
    # and one found by the order query, after its notify was lost
    third = ordered(client, expect_ok, u, 1)["out_trade_no"]
    assert pay.pay(third, notify=False)["transaction_id"]
    psql("UPDATE orders SET created_at = now() - interval '1 minute' "
         f"WHERE out_trade_no = '{third}'")
    assert expect_ok(client.get(f"/payment/orders/{third}", token=u["token"]))["status"] == \
        "paid"
    assert balance(psql, u["id"]) == 60 + credits + 60


@pytest.mark.parametrize("fault", ["5xx", "timeout", "unbound"])
def test_wechat_pay_failing_leaves_no_half_made_order(client, expect_ok, expect_error, pay,
                                                      psql, fault):
    """WeChat Pay answering 5xx (502), not answering (504) or refusing an appid not bound to
    the merchant (502): the order stays created without a prepay id and credits nothing; the
    same Idempotency-Key completes that same order once WeChat Pay is back."""
    u = mp_login(client, expect_ok, pay)
    key = new_key()
    try:
        if fault == "unbound":
            pay.call("POST", "/__sim/pay/bindings",
                     {"appid": env("WECHAT_MP_APPID"), "bound": False})
        else:
            pay.call("POST", "/__sim/pay/faults",
                     {"op": "jsapi", "status": 500} if fault == "5xx"
                     else {"op": "jsapi", "hang": 30})
        resp = client.post("/payment/create-order", token=u["token"], timeout=60,
                           headers={"Idempotency-Key": key}, json={"package_id": 1})
        expect_error(resp, *((504, "TIMEOUT") if fault == "timeout"
                             else (502, "UPSTREAM_ERROR")))
    finally:
        pay.call("DELETE", "/__sim/pay/faults")
        pay.call("POST", "/__sim/pay/bindings", {"appid": env("WECHAT_MP_APPID"), "bound": True})
    rows = psql(f"SELECT out_trade_no, status, prepay_id FROM orders WHERE user_id = {u['id']}")
    assert len(rows) == 1 and rows[0][1:] == ["created", None], rows
    assert psql(f"SELECT 1 FROM credit_ledger WHERE user_id = {u['id']}") == []
    data = expect_ok(create_order(client, u["token"], 1, key))
    assert data["out_trade_no"] == rows[0][0]
    (count,), = psql(f"SELECT count(*) FROM orders WHERE user_id = {u['id']}")
    assert count == "1"
    assert pay.pay(data["out_trade_no"])["status"] == 204
    assert_settled_once(psql, u, data["out_trade_no"], 60, 0)


def test_check_config_reports_the_payment_setup_of_both_apps():
    def check(**changes):
        e = dict(os.environ)
        for name, value in changes.items():
            if value is None:
                e.pop(name, None)
            else:
                e[name] = value
        proc = subprocess.run([str(CTL), "check-config"], env=e, capture_output=True,
                              text=True, timeout=30, cwd=REPO)
        return proc.returncode, proc.stdout + proc.stderr

    status, out = check()
    assert status == 0, out
    assert f"WeChat Pay: merchant {env('WXPAY_MCHID')}" in out, out
    assert f"mini program (wx.requestPayment): appid {env('WECHAT_MP_APPID')}" in out, out
    assert f"(getBrandWCPayRequest): appid {env('WECHAT_APPID')}" in out, out
    assert "warning" not in out, out
    status, out = check(WECHAT_MP_APPID=None, WECHAT_CLOUD_ENV=None)  # cloud storage needs the mini program
    assert status == 0, out
    assert "warning: WECHAT_MP_APPID is not set: mini-program users cannot pay" in out, out
    status, out = check(WECHAT_MP_APPID=env("WECHAT_APPID"))
    assert status == 1 and "WECHAT_MP_APPID: must differ from WECHAT_APPID" in out, out
    status, out = check(WXPAY_MCHID=None)
    assert status == 0 and "WeChat Pay: off" in out and "WECHAT_MP_APPID" not in out, out
