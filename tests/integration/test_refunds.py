"""Refunds of paid orders (WeChat Pay v3) run by the admin console, against the Pay simulator:
POST/GET /admin/orders/:out_trade_no/refunds, the refund notify, the reconciliation of refunds
WeChat Pay has not confirmed, and what each step does to the order, the refund row, the ledger
(kind refund_order) and the audit log.

The simulator answers a refund PROCESSING and, unless told otherwise for the order
(/__sim/pay/refund-mode), ends it SUCCESS a moment later with a signed, encrypted
REFUND.SUCCESS notify; /__sim/pay/refund-complete ends one by hand (SUCCESS, CLOSED, ABNORMAL,
forged variants, duplicates).  Every test ends with a clean `aiphotoctl audit`.
"""

import concurrent.futures
import os
import re
import subprocess
import time
import uuid

import pytest

from adminkit import admins, audit_rows, ctl_run  # noqa: F401
from conftest import REPO, wait_database_back
from test_metrics import sample, scrape
from test_payment import payer  # noqa: F401

DISPATCH = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphoto-dispatch"

PACKAGE = 2  # 3000 fen for 330 credits (the seed)
AMOUNT, CREDITS = 3000, 330
REFUND_KEYS = {"out_refund_no", "out_trade_no", "amount_fen", "credits", "status", "reason",
               "if_spent", "admin_id", "created_at", "succeeded_at", "fail_code", "fail_message"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture(autouse=True)
def _audited(audit):
    """Every test in this module is followed by a clean `aiphotoctl audit`."""
    yield


def new_key():
    return "rf-" + uuid.uuid4().hex


def paid_order(client, expect_ok, payer_, pay, psql):
    """A paid order of PACKAGE for payer_ (settled by the notify); its out_trade_no."""
    data = expect_ok(client.post("/payment/create-order", token=payer_["token"],
                                 headers={"Idempotency-Key": new_key()},
                                 json={"package_id": PACKAGE}))
    no = data["out_trade_no"]
    assert pay.pay(no)["status"] == 204
    assert order_state(psql, no) == ("paid", 0)
    return no


def refund(client, token, no, body, key=None, timeout=None):
    """POST a refund; timeout: seconds the client waits, beyond the service's own WeChat Pay
    timeout when a test makes WeChat Pay hang."""
    extra = {"timeout": timeout} if timeout else {}
    return client.post(f"/admin/orders/{no}/refunds", token=token,
                       headers={"Idempotency-Key": key or new_key()}, json=body, **extra)


def order_state(psql, no):
    (status, fen), = psql(f"SELECT status, refunded_fen FROM orders WHERE out_trade_no = '{no}'")
    return status, int(fen)


def balance(psql, uid):
    (value,), = psql(f"SELECT credits FROM users WHERE id = {int(uid)}")
    return int(value)


def refund_rows(psql, no):
    return psql("SELECT r.out_refund_no, r.amount_fen, r.credits_due, r.credits, r.status "
                "FROM order_refunds r JOIN orders o ON o.id = r.order_id "
                f"WHERE o.out_trade_no = '{no}' ORDER BY r.id")


def refund_ledger(psql, out_refund_no):
    """(delta, kind, key) of the ledger rows of a refund, oldest first."""
    return [(int(d), k, key) for d, k, key in psql(
        "SELECT delta, kind, idempotency_key FROM credit_ledger "
        f"WHERE idempotency_key LIKE 'refund_order:{out_refund_no}%' ORDER BY id")]


def refund_status(psql, out_refund_no):
    (status,), = psql(f"SELECT status FROM order_refunds WHERE out_refund_no = '{out_refund_no}'")
    return status


def wait_status(psql, out_refund_no, status, seconds=15):
    """The refund reaches status (the simulator's notify arrives on its own thread)."""
    deadline = time.monotonic() + seconds
    while refund_status(psql, out_refund_no) != status:
        assert time.monotonic() < deadline, \
            f"refund {out_refund_no} still {refund_status(psql, out_refund_no)}, not {status}"
        time.sleep(0.05)


def hold(pay, no, auto=None, count=1):
    """The simulator ends the order's refunds with auto (None: only by refund-complete)."""
    pay.call("POST", "/__sim/pay/refund-mode", {"out_trade_no": no, "auto": auto,
                                                "count": count})


def complete(pay, out_refund_no, status="SUCCESS", **extra):
    return pay.call("POST", "/__sim/pay/refund-complete",
                    dict({"out_refund_no": out_refund_no, "status": status}, **extra))


def reconcile():
    proc = ctl_run("reconcile-refunds", "--older-than", "0")
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def op(admins):  # noqa: F811
    return admins["operator"]


# --------------------------------------------------------------------------- end to end


def test_full_refund_end_to_end(client, expect_ok, expect_error, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=5)
    no = paid_order(client, expect_ok, p, pay, psql)
    _text, before = scrape(client)
    assert balance(psql, p["id"]) == 5 + CREDITS

    got = expect_ok(refund(client, op["token"], no, {"reason": "用户申请退款"}))["refund"]
    assert set(got) == REFUND_KEYS, got
    rno = got["out_refund_no"]
    assert re.match(r"^RF\d{16}[0-9a-f]{8}$", rno), got
    assert (got["out_trade_no"], got["amount_fen"], got["credits"], got["reason"],
            got["if_spent"], got["admin_id"]) == (no, AMOUNT, CREDITS, "用户申请退款", "refuse",
                                                  op["id"])
    assert got["status"] in ("processing", "success"), got
    assert RFC3339.match(got["created_at"]), got
    # the credits go at once, in the transaction that recorded the refund
    assert balance(psql, p["id"]) == 5
    assert refund_ledger(psql, rno) == [(-CREDITS, "refund_order", f"refund_order:{rno}")]

    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)
    sim = [r for r in pay.call("GET", "/__sim/pay/refunds") if r["out_refund_no"] == rno]
    assert len(sim) == 1 and sim[0]["reason"] == "用户申请退款" and sim[0]["refund"] == AMOUNT
    assert sim[0]["notify_url"].endswith("/api/v1/payment/refund-notify"), sim

    # the payer sees the order refunded, the operator the amount
    mine = expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))
    assert mine["status"] == "refunded", mine
    listed = expect_ok(client.get("/admin/orders", token=op["token"],
                                  params={"user": p["id"], "status": "refunded"}))["items"]
    assert [(o["out_trade_no"], o["refunded_fen"], o["status"]) for o in listed] == \
        [(no, AMOUNT, "refunded")]
    items = expect_ok(client.get(f"/admin/orders/{no}/refunds",
                                 token=op["token"]))["items"]
    assert [(r["out_refund_no"], r["status"]) for r in items] == [(rno, "success")]
    assert RFC3339.match(items[0]["succeeded_at"] or ""), items
    records = expect_ok(client.get("/credits/records", token=p["token"],
                                   params={"kind": "all"}))["items"]
    assert records[0]["kind"] == "refund_order" and records[0]["delta"] == -CREDITS

    # one audit row for the write, naming the order
    rows = audit_rows(psql, f"action = 'order.refund' AND target_id = '{no}'")
    assert len(rows) == 1, rows
    assert rows[0]["admin_id"] == op["id"] and rows[0]["target_type"] == "order"
    assert rows[0]["before"]["status"] == "paid" and rows[0]["before"]["refunded_fen"] == 0
    assert rows[0]["after"]["out_refund_no"] == rno
    assert rows[0]["after"]["credits_due"] == CREDITS

    # nothing is left to refund
    expect_error(refund(client, op["token"], no, {"reason": "again"}), 409, "CONFLICT")
    assert len(refund_rows(psql, no)) == 1

    # counted: the request, WeChat Pay's confirmation, the verified notify
    _text, after = scrape(client)
    for name, label, event in (("aiphoto_payment_orders_total", "event", "refund_requested"),
                               ("aiphoto_payment_orders_total", "event", "refunded"),
                               ("aiphoto_payment_notify_total", "verdict", "refund_verified")):
        assert sample(after, name, **{label: event}) >= sample(before, name, **{label: event}) + 1
    assert sample(after, "aiphoto_orders", status="refunded") >= 1
    assert ("aiphoto_orders", frozenset({("status", "partially_refunded")})) in after


def test_partial_refunds_then_the_rest(client, expect_ok, expect_error, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)

    first = expect_ok(refund(client, op["token"], no,
                             {"amount_fen": 1000, "reason": "部分退款"}))["refund"]
    assert (first["amount_fen"], first["credits"]) == (1000, 110)  # 330 × 1000 / 3000
    wait_status(psql, first["out_refund_no"], "success")
    assert order_state(psql, no) == ("partially_refunded", 1000)
    assert balance(psql, p["id"]) == CREDITS - 110
    # to the payer a partly refunded order is still paid (API.md's statuses)
    assert expect_ok(client.get(f"/payment/orders/{no}", token=p["token"]))["status"] == "paid"

    resp = refund(client, op["token"], no, {"amount_fen": 2001, "reason": "too much"})
    body = expect_error(resp, 400, "BAD_REQUEST")
    assert "2000" in body, body

    rest = expect_ok(refund(client, op["token"], no, {"reason": "余下的"}))["refund"]
    assert (rest["amount_fen"], rest["credits"]) == (2000, CREDITS - 110)
    wait_status(psql, rest["out_refund_no"], "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)
    assert balance(psql, p["id"]) == 0
    assert len(audit_rows(psql, f"action = 'order.refund' AND target_id = '{no}'")) == 2


def test_spent_credits_are_refused_or_the_rest_taken(client, expect_ok, expect_error, payer, pay,  # noqa: F811
                                                     psql, op, admins):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    # the user spends 300 of the 330 (through the ledger)
    expect_ok(client.post(f"/admin/users/{p['id']}/credits", token=admins["owner"]["token"],
                          headers={"Idempotency-Key": new_key()},
                          json={"delta": -300, "memo": "spent"}))
    before = len(audit_rows(psql, f"target_id = '{no}'"))

    body = expect_error(refund(client, op["token"], no, {"reason": "退款"}), 409, "CONFLICT")
    assert "30 credits are left of the 330" in body, body
    assert refund_rows(psql, no) == [] and balance(psql, p["id"]) == 30
    assert len(audit_rows(psql, f"target_id = '{no}'")) == before
    expect_error(refund(client, op["token"], no, {"reason": "退款", "if_spent": "refuse"}),
                 409, "CONFLICT")

    got = expect_ok(refund(client, op["token"], no,
                           {"reason": "退款", "if_spent": "take_remaining"}))["refund"]
    assert (got["amount_fen"], got["credits"], got["if_spent"]) == \
        (AMOUNT, 30, "take_remaining")
    assert balance(psql, p["id"]) == 0
    rno = got["out_refund_no"]
    assert list(refund_rows(psql, no)[0][1:4]) == ["3000", "330", "30"]  # written: due, taken
    rows = audit_rows(psql, f"action = 'order.refund' AND target_id = '{no}'")
    assert [(r["after"]["credits"], r["after"]["credits_due"]) for r in rows] == [(30, 330)]
    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)


def test_duplicated_refund_notify_is_applied_once(client, expect_ok, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    rno = expect_ok(refund(client, op["token"], no,
                           {"amount_fen": 1500, "reason": "dup"}))["refund"]["out_refund_no"]
    assert refund_status(psql, rno) == "processing"
    assert order_state(psql, no) == ("paid", 0)  # not before WeChat Pay confirms

    sent = complete(pay, rno, count=20)
    assert sent["statuses"] == [204] * 20, sent
    assert order_state(psql, no) == ("partially_refunded", 1500)
    again = complete(pay, rno)  # WeChat Pay repeats it later
    assert again["statuses"] == [204], again
    assert order_state(psql, no) == ("partially_refunded", 1500)
    assert refund_ledger(psql, rno) == [(-165, "refund_order", f"refund_order:{rno}")]


def test_closed_refund_gives_the_credits_back(client, expect_ok, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no, auto="CLOSED", count=3)
    rno = expect_ok(refund(client, op["token"], no, {"reason": "close"}))["refund"]["out_refund_no"]
    wait_status(psql, rno, "closed")
    assert order_state(psql, no) == ("paid", 0)
    assert balance(psql, p["id"]) == CREDITS
    assert refund_ledger(psql, rno) == [(-CREDITS, "refund_order", f"refund_order:{rno}"),
                                        (CREDITS, "refund_order", f"refund_order:{rno}:closed")]
    # a closed refund frees the amount: the order can be refunded again
    hold(pay, no, auto="SUCCESS")
    rno2 = expect_ok(refund(client, op["token"], no, {"reason": "again"}))["refund"]
    assert rno2["amount_fen"] == AMOUNT
    wait_status(psql, rno2["out_refund_no"], "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)


def test_abnormal_refund_then_success(client, expect_ok, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    rno = expect_ok(refund(client, op["token"], no, {"reason": "ab"}))["refund"]["out_refund_no"]
    assert complete(pay, rno, "ABNORMAL")["statuses"] == [204]
    assert refund_status(psql, rno) == "abnormal"
    assert order_state(psql, no) == ("paid", 0) and balance(psql, p["id"]) == 0
    assert complete(pay, rno, "SUCCESS")["statuses"] == [204]
    assert refund_status(psql, rno) == "success"
    assert order_state(psql, no) == ("refunded", AMOUNT)


# --------------------------------------------------------------------------- idempotency


def test_same_key_is_the_same_refund(client, expect_ok, expect_error, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    key = new_key()
    first = expect_ok(refund(client, op["token"], no, {"amount_fen": 100, "reason": "k"}, key))
    again = expect_ok(refund(client, op["token"], no, {"amount_fen": 100, "reason": "k"}, key))
    assert again["refund"]["out_refund_no"] == first["refund"]["out_refund_no"]
    assert len(refund_rows(psql, no)) == 1
    expect_error(refund(client, op["token"], no, {"amount_fen": 200, "reason": "k"}, key),
                 409, "IDEMPOTENCY_MISMATCH")
    assert len(refund_rows(psql, no)) == 1
    assert len(audit_rows(psql, f"action = 'order.refund' AND target_id = '{no}'")) == 1
    complete(pay, first["refund"]["out_refund_no"])
    assert order_state(psql, no) == ("partially_refunded", 100)


def test_concurrent_refunds_never_exceed_the_order(client, expect_ok, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        answers = list(ex.map(lambda _: refund(client, op["token"], no,
                                               {"amount_fen": 1000, "reason": "race"}),
                              range(4)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 200, 200, 409], [(r.status_code, r.text[:200]) for r in answers]
    rows = refund_rows(psql, no)
    assert [int(r[1]) for r in rows] == [1000] * 3
    assert sum(int(r[3]) for r in rows) == CREDITS and balance(psql, p["id"]) == 0
    for r in rows:
        complete(pay, r[0])
    assert order_state(psql, no) == ("refunded", AMOUNT)


def test_double_tap_of_one_key_makes_one_refund(client, expect_ok, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    key = new_key()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        answers = list(ex.map(lambda _: refund(client, op["token"], no,
                                               {"amount_fen": 500, "reason": "tap"}, key),
                              range(4)))
    assert all(r.status_code == 200 for r in answers), [r.text[:200] for r in answers]
    assert len({r.json()["data"]["refund"]["out_refund_no"] for r in answers}) == 1
    (rno, *_rest), = refund_rows(psql, no)
    assert len(refund_ledger(psql, rno)) == 1
    complete(pay, rno)
    assert order_state(psql, no) == ("partially_refunded", 500)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("body", [
    [], "x", {}, {"reason": ""}, {"reason": "r" * 81}, {"reason": 5},
    {"reason": "r", "amount_fen": 0}, {"reason": "r", "amount_fen": -1},
    {"reason": "r", "amount_fen": "10"}, {"reason": "r", "amount_fen": 1.5},
    {"reason": "r", "if_spent": "keep"}, {"reason": "r", "if_spent": 1},
], ids=["array", "string", "no-reason", "empty-reason", "long-reason", "reason-number",
        "amount-0", "amount-negative", "amount-string", "amount-fraction", "if_spent-unknown",
        "if_spent-number"])
def test_bad_body_is_refused_and_writes_nothing(client, expect_ok, expect_error, payer, pay,  # noqa: F811
                                                psql, op, body):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    expect_error(refund(client, op["token"], no, body), 400, "BAD_REQUEST")
    assert refund_rows(psql, no) == [] and balance(psql, p["id"]) == CREDITS


def test_reason_of_80_characters_is_taken(client, expect_ok, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    got = expect_ok(refund(client, op["token"], no, {"reason": "退" * 80, "amount_fen": 1}))
    wait_status(psql, got["refund"]["out_refund_no"], "success")


def test_key_is_required(client, expect_error, payer, expect_ok, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    expect_error(client.post(f"/admin/orders/{no}/refunds", token=op["token"],
                             json={"reason": "r"}), 400, "BAD_REQUEST")
    assert refund_rows(psql, no) == []


def test_unknown_order_is_not_found(client, expect_error, op):
    expect_error(refund(client, op["token"], "AP00000000000000000000000000", {"reason": "r"}),
                 404, "NOT_FOUND")
    expect_error(client.get("/admin/orders/AP00000000000000000000000000/refunds",
                            token=op["token"]), 404, "NOT_FOUND")


def test_unpaid_order_is_refused(client, expect_ok, expect_error, payer, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = expect_ok(client.post("/payment/create-order", token=p["token"],
                               headers={"Idempotency-Key": new_key()},
                               json={"package_id": PACKAGE}))["out_trade_no"]
    body = expect_error(refund(client, op["token"], no, {"reason": "r"}), 409, "CONFLICT")
    assert "created" in body, body
    assert refund_rows(psql, no) == []


def test_roles(client, expect_ok, expect_error, payer, pay, psql, admins):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    for role in ("viewer", "support"):
        expect_error(refund(client, admins[role]["token"], no, {"reason": "r"}), 403,
                     "FORBIDDEN")
    expect_error(refund(client, p["token"], no, {"reason": "r"}), 403, "FORBIDDEN")
    expect_error(client.get(f"/admin/orders/{no}/refunds", token=p["token"]), 403, "FORBIDDEN")
    assert expect_ok(client.get(f"/admin/orders/{no}/refunds",
                                token=admins["viewer"]["token"]))["items"] == []
    assert refund_rows(psql, no) == []
    got = expect_ok(refund(client, admins["owner"]["token"], no, {"reason": "owner"}))
    wait_status(psql, got["refund"]["out_refund_no"], "success")


# --------------------------------------------------------------------------- WeChat Pay failing


def add_fault(pay, **rule):
    pay.call("POST", "/__sim/pay/faults", rule)


def refund_while_pay_fails(client, expect_error, pay, token, no, body, rule, status, code,
                           key=None, timeout=None):
    """A refund asked while WeChat Pay fails as rule says (the fault cleared afterwards): the
    error message; the refund row is left processing."""
    add_fault(pay, **rule)
    try:
        return expect_error(refund(client, token, no, body, key, timeout), status, code)
    finally:
        pay.call("DELETE", "/__sim/pay/faults")


def test_wechat_pay_5xx_leaves_the_refund_retryable(client, expect_ok, expect_error, payer, pay,  # noqa: F811
                                                    psql, op):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    key = new_key()
    body = refund_while_pay_fails(client, expect_error, pay, op["token"], no, {"reason": "5xx"},
                                  {"op": "refund", "status": 503}, 502, "UPSTREAM_ERROR", key)
    (rno, _amount, _due, taken, status), = refund_rows(psql, no)
    assert rno in body and status == "processing" and taken == str(CREDITS)
    assert balance(psql, p["id"]) == 0
    assert not [r for r in pay.call("GET", "/__sim/pay/refunds") if r["out_refund_no"] == rno]
    # the same key again asks WeChat Pay again, with the same out_refund_no
    got = expect_ok(refund(client, op["token"], no, {"reason": "5xx"}, key))["refund"]
    assert got["out_refund_no"] == rno
    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)
    assert len(refund_rows(psql, no)) == 1


def test_reconciliation_sends_a_refund_wechat_pay_never_took(client, expect_ok, expect_error,  # noqa: F811
                                                             payer, pay, psql, op):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    add_fault(pay, op="refund", status=500, times=2)
    try:
        expect_error(refund(client, op["token"], no, {"reason": "later"}), 502,
                     "UPSTREAM_ERROR")
        status, output = reconcile()  # the query: unknown; the refund call: 500 again
        assert status == 1 and "1 failed" in output, output
    finally:
        pay.call("DELETE", "/__sim/pay/faults")
    (rno, *_rest), = refund_rows(psql, no)
    assert refund_status(psql, rno) == "processing"
    status, output = reconcile()
    assert status == 0, output
    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)


def refusal_row(psql, out_refund_no):
    (status, code, message, closed), = psql(
        "SELECT status, fail_code, fail_message, closed_at IS NOT NULL FROM order_refunds "
        f"WHERE out_refund_no = '{out_refund_no}'")
    return status, code, message, closed == "t"


@pytest.mark.parametrize("status,code,message", [
    (400, "INVALID_REQUEST", "订单已超过一年，不能退款"),
    (400, "PARAM_ERROR", "参数错误: amount.total 与原订单不符"),
    (403, "NO_AUTH", "商户无退款权限"),
    (404, "RESOURCE_NOT_EXISTS", "订单不存在"),
])
def test_refund_refused_outright_is_closed_and_gives_the_credits_back(  # noqa: F811
        client, expect_ok, expect_error, payer, pay, psql, op, status, code, message):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    assert balance(psql, p["id"]) == CREDITS
    key = new_key()
    msg = refund_while_pay_fails(client, expect_error, pay, op["token"], no, {"reason": "old"},
                                 {"op": "refund", "status": status, "code": code,
                                  "message": message}, 409, "CONFLICT", key)
    (rno, _amount, _due, taken, state), = refund_rows(psql, no)
    assert code in msg and message in msg and rno in msg, msg
    assert state == "closed" and taken == str(CREDITS)
    assert refusal_row(psql, rno) == ("closed", code, message, True)
    # the credits are back through the ledger, as a REFUND.CLOSED gives them
    assert balance(psql, p["id"]) == CREDITS
    assert refund_ledger(psql, rno) == [(-CREDITS, "refund_order", f"refund_order:{rno}"),
                                        (CREDITS, "refund_order", f"refund_order:{rno}:closed")]
    assert order_state(psql, no) == ("paid", 0)
    rows = audit_rows(psql, f"action = 'order.refund_refused' AND target_id = '{no}'")
    assert len(rows) == 1 and rows[0]["admin_id"] == op["id"], rows
    assert rows[0]["before"]["status"] == "processing"
    assert (rows[0]["after"]["status"], rows[0]["after"]["fail_code"]) == ("closed", code)
    # the refund record shows it, and nothing asks WeChat Pay about it again
    listed = expect_ok(client.get(f"/admin/orders/{no}/refunds", token=op["token"]))["items"]
    assert [(r["status"], r["fail_code"], r["fail_message"]) for r in listed] == \
        [("closed", code, message)]
    assert not [r for r in pay.call("GET", "/__sim/pay/refunds") if r["out_refund_no"] == rno]
    again = expect_ok(refund(client, op["token"], no, {"reason": "old"}, key))["refund"]
    assert (again["out_refund_no"], again["status"]) == (rno, "closed")
    status_, output = reconcile()
    assert status_ == 0 and "0 checked" in output, output
    assert balance(psql, p["id"]) == CREDITS
    assert len(audit_rows(psql, f"action = 'order.refund_refused' AND target_id = '{no}'")) == 1


def refund_left_processing(client, expect_ok, expect_error, payer, pay, psql, op, fault_status):  # noqa: F811
    """A refund of a new paid order whose call WeChat Pay failed with fault_status (a 5xx or
    429): 502, left processing with the credits taken; (payer, out_trade_no, out_refund_no)."""
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    refund_while_pay_fails(client, expect_error, pay, op["token"], no, {"reason": "retry"},
                           {"op": "refund", "status": fault_status}, 502, "UPSTREAM_ERROR")
    (rno, *_rest), = refund_rows(psql, no)
    assert refusal_row(psql, rno) == ("processing", None, None, False)
    assert balance(psql, p["id"]) == 0
    return p, no, rno


def test_frequency_limited_refund_stays_processing_and_is_retried(  # noqa: F811
        client, expect_ok, expect_error, payer, pay, psql, op):
    _p, no, rno = refund_left_processing(client, expect_ok, expect_error, payer, pay, psql, op,
                                         429)
    assert not audit_rows(psql, f"action = 'order.refund_refused' AND target_id = '{no}'")
    # the reconciliation sends it again with the same number
    status, output = reconcile()
    assert status == 0, output
    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)


def test_refusal_of_a_refund_wechat_pay_has_applies_its_status(  # noqa: F811
        client, expect_ok, expect_error, payer, pay, psql, op):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no, auto=None)
    add_fault(pay, op="refund", status=400, code="INVALID_REQUEST", message="重复请求", after=True)
    try:
        got = expect_ok(refund(client, op["token"], no, {"reason": "dup"}))["refund"]
    finally:
        pay.call("DELETE", "/__sim/pay/faults")
    rno = got["out_refund_no"]
    assert (got["status"], got["fail_code"]) == ("processing", None)
    known, = [r for r in pay.call("GET", "/__sim/pay/refunds") if r["out_refund_no"] == rno]
    (refund_id,), = psql(f"SELECT refund_id FROM order_refunds WHERE out_refund_no = '{rno}'")
    assert refund_id == known["refund_id"]  # the query's answer was applied
    assert balance(psql, p["id"]) == 0
    complete(pay, rno, "SUCCESS")
    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)
    assert refusal_row(psql, rno) == ("success", None, None, False)


def dispatch():
    """One run of the dispatcher reconciling every open refund: (exit status, output)."""
    env = dict(os.environ, DISPATCH_RECONCILE_AFTER_SECONDS="0", DISPATCH_BUDGET_SECONDS="5")
    proc = subprocess.run([str(DISPATCH), "--until-idle"], env=env, capture_output=True,
                          text=True, timeout=90, cwd=REPO)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("runner", ["aiphotoctl", "dispatcher"])
def test_reconciliation_closes_a_refund_wechat_pay_refuses(  # noqa: F811
        client, expect_ok, expect_error, payer, pay, psql, op, runner):
    p, no, rno = refund_left_processing(client, expect_ok, expect_error, payer, pay, psql, op,
                                        503)
    add_fault(pay, op="refund", status=400, code="INVALID_REQUEST", message="订单已超过退款期限")
    try:
        status, output = reconcile() if runner == "aiphotoctl" else dispatch()
    finally:
        pay.call("DELETE", "/__sim/pay/faults")
    assert status == 0, output[-3000:]
    if runner == "aiphotoctl":
        assert "1 closed" in output, output
    assert refusal_row(psql, rno) == ("closed", "INVALID_REQUEST", "订单已超过退款期限", True)
    assert balance(psql, p["id"]) == CREDITS
    rows = audit_rows(psql, f"action = 'order.refund_refused' AND target_id = '{no}'")
    assert len(rows) == 1 and rows[0]["admin_id"] is None, rows
    # settled: the next run has nothing to ask
    status, output = reconcile()
    assert status == 0 and "0 checked" in output, output


def test_refusal_whose_query_fails_leaves_the_refund_processing(  # noqa: F811
        client, expect_ok, expect_error, payer, pay, psql, op):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no, auto="SUCCESS")
    add_fault(pay, op="refund_query", status=503)
    refund_while_pay_fails(client, expect_error, pay, op["token"], no, {"reason": "unsure"},
                           {"op": "refund", "status": 400, "code": "INVALID_REQUEST"}, 502,
                           "UPSTREAM_ERROR")
    (rno, *_rest), = refund_rows(psql, no)
    # not known to be refused: nothing given back, asked again by the reconciliation
    assert refusal_row(psql, rno) == ("processing", None, None, False)
    assert balance(psql, p["id"]) == 0
    assert not audit_rows(psql, f"action = 'order.refund_refused' AND target_id = '{no}'")
    status, output = reconcile()
    assert status == 0, output
    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)


def test_wechat_pay_timeout_leaves_the_refund_retryable(client, expect_ok, expect_error, payer,  # noqa: F811
                                                        pay, psql, op):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    refund_while_pay_fails(client, expect_error, pay, op["token"], no, {"reason": "slow"},
                           {"op": "refund", "hang": 15}, 504, "TIMEOUT", timeout=30)
    (rno, *_rest), = refund_rows(psql, no)
    assert refund_status(psql, rno) == "processing" and balance(psql, p["id"]) == 0
    status, output = reconcile()
    assert status == 0, output
    wait_status(psql, rno, "success")


def test_reconciliation_settles_a_lost_refund_notify(client, expect_ok, payer, pay, psql, op):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    rno = expect_ok(refund(client, op["token"], no, {"reason": "lost"}))["refund"]["out_refund_no"]
    complete(pay, rno, notify=False)
    assert refund_status(psql, rno) == "processing"
    status, output = reconcile()
    assert status == 0 and "succeeded" in output, output
    assert refund_status(psql, rno) == "success"
    assert order_state(psql, no) == ("refunded", AMOUNT)


@pytest.mark.parametrize("variant", ["bad_signature", "old_timestamp", "unknown_serial",
                                     "tampered_ciphertext", "wrong_amount", "wrong_mchid",
                                     "unknown_refund"])
def test_forged_refund_notify_changes_nothing(client, expect_ok, payer, pay, psql, op, variant):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    rno = expect_ok(refund(client, op["token"], no, {"reason": "forged"}))["refund"]["out_refund_no"]
    sent = complete(pay, rno, variant=variant)
    assert sent["statuses"][0] is not None and not 200 <= sent["statuses"][0] < 300, sent
    assert refund_status(psql, rno) == "processing"
    assert order_state(psql, no) == ("paid", 0)
    complete(pay, rno)  # the genuine one
    assert order_state(psql, no) == ("refunded", AMOUNT)


def test_ledger_audit_checks_the_refunds(client, expect_ok, payer, pay, psql, op, run_audit):  # noqa: F811
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    rno = expect_ok(refund(client, op["token"], no, {"reason": "audit"}))["refund"]["out_refund_no"]
    wait_status(psql, rno, "success")
    assert run_audit()[0] == 0
    psql(f"UPDATE order_refunds SET credits = credits - 1 WHERE out_refund_no = '{rno}'")
    try:
        status, output = run_audit()
        assert status == 1 and f"refund {rno} (success): 329 credits, ledger 330 taken" in output, \
            output
    finally:
        psql(f"UPDATE order_refunds SET credits = credits + 1 WHERE out_refund_no = '{rno}'")
    psql(f"UPDATE orders SET refunded_fen = 2999 WHERE out_trade_no = '{no}'")
    try:
        status, output = run_audit()
        assert status == 1 and f"order {no}: refunded_fen 2999, successful refunds 3000" in \
            output, output
    finally:
        psql(f"UPDATE orders SET refunded_fen = 3000 WHERE out_trade_no = '{no}'")


def test_the_dispatcher_reconciles_refunds(client, expect_ok, expect_error, payer, pay, psql,  # noqa: F811
                                           op):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    refund_while_pay_fails(client, expect_error, pay, op["token"], no, {"reason": "dispatch"},
                           {"op": "refund", "status": 502}, 502, "UPSTREAM_ERROR")
    (rno, *_rest), = refund_rows(psql, no)
    assert refund_status(psql, rno) == "processing"
    status, output = dispatch()
    assert status == 0, output[-3000:]
    assert "dispatch: refunds " in output, output[-2000:]
    wait_status(psql, rno, "success")
    assert order_state(psql, no) == ("refunded", AMOUNT)


def test_refund_notify_while_the_database_is_down_is_delivered_again(client, expect_ok, payer,  # noqa: F811
                                                                     pay, psql, op):
    p = payer(credits=0)
    no = paid_order(client, expect_ok, p, pay, psql)
    hold(pay, no)
    rno = expect_ok(refund(client, op["token"], no, {"reason": "db"}))["refund"]["out_refund_no"]
    stack = REPO / "scripts" / "stack"
    try:
        subprocess.run([str(stack), "pg-stop"], cwd=REPO, check=True, capture_output=True,
                       timeout=60)
        sent = complete(pay, rno)  # WeChat Pay is told to try again
        assert sent["statuses"] == [503], sent
    finally:
        subprocess.run([str(stack), "pg-start"], cwd=REPO, check=True, capture_output=True,
                       timeout=60)
    wait_database_back()
    assert refund_status(psql, rno) == "processing"
    assert complete(pay, rno)["statuses"] == [204]
    assert order_state(psql, no) == ("refunded", AMOUNT)
