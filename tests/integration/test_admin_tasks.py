"""Every user's tasks and orders as the operators see them (docs/admin.md): the task monitor
with per-item errors, retry (nothing charged, nothing refunded twice: the dispatcher runs as
tests/integration/test_dispatch.py runs it), cancel, and the orders with WeChat Pay's state.
`aiphotoctl audit` stays clean after every test.
"""

import uuid

import pytest

from adminkit import admins, audit_rows  # noqa: F401
# the dispatcher tests' simulator set-up (faults cleared, what is due worked off) and customers
from test_dispatch import _clean_sim, ai, customer  # noqa: F401
from test_dispatch import run_dispatch, submit, task_row, work_rows


@pytest.fixture(autouse=True)
def _ledger_clean(audit):
    yield


def ledger(psql, uid):
    return [(r[0], int(r[1]), r[2]) for r in psql(
        f"SELECT kind, delta, idempotency_key FROM credit_ledger WHERE user_id = {uid} ORDER BY id")]


def balance(psql, uid):
    return int(psql(f"SELECT credits FROM users WHERE id = {uid}")[0][0])


def until_ended(psql, task_id):
    for _ in range(20):
        run_dispatch()
        t = task_row(psql, task_id)
        if t["status"] in ("completed", "partial", "failed", "canceled"):
            return t
        psql(f"UPDATE works SET run_after = now() WHERE task_id = {task_id} AND status = 'queued'")
    pytest.fail(f"task {task_id} did not end: {task_row(psql, task_id)}")


def retry(client, admins, task_id):
    return client.post(f"/admin/tasks/{task_id}/retry", token=admins["operator"]["token"],
                       json={})


def test_retry_charges_nothing_and_refunds_nothing_twice(client, expect_ok, expect_error,
                                                         customer, psql, ai, admins):
    c = customer()
    task = submit(client, expect_ok, c, 2)
    price = task_row(psql, task["id"])["price"]
    # both items fail for good (400: not retried by the dispatcher) and are refunded once
    ai.fault(mode="400", model="*")
    t = until_ended(psql, task["id"])
    assert (t["status"], t["failed"], t["refunded"]) == ("failed", 2, 2 * price)
    before = ledger(psql, c["id"])
    assert sorted(k for k, _, _ in before) == ["admin", "consume", "refund", "refund"]
    start = balance(psql, c["id"])
    assert start == 10000

    # the monitor shows each item's error
    listed = expect_ok(client.get(f"/admin/tasks?user={c['id']}",
                                  token=admins["viewer"]["token"]))["items"]
    assert [x["id"] for x in listed] == [task["id"]]
    assert {(i["status"], i["error_code"], i["refunded"]) for i in listed[0]["items"]} == \
        {("failed", "content_policy_violation", True)}

    # retry: queued again at no charge
    got = expect_ok(retry(client, admins, task["id"]))
    assert got["requeued"] == 2 and got["task"]["status"] == "queued"
    assert got["task"]["failed"] == 0
    assert all(i["status"] == "queued" and i["max_attempts"] == i["attempt"] + 3
               for i in got["task"]["items"])
    assert ledger(psql, c["id"]) == before and balance(psql, c["id"]) == start

    # failing again: no second refund
    t = until_ended(psql, task["id"])
    assert (t["status"], t["failed"], t["refunded"]) == ("failed", 2, 2 * price)
    assert ledger(psql, c["id"]) == before and balance(psql, c["id"]) == start
    for w in work_rows(psql, task["id"]):
        keys = psql(f"SELECT count(*) FROM credit_ledger WHERE idempotency_key = "
                    f"'refund:work:{w['id']}'")
        assert keys == [["1"]], w

    # retried once more without the fault: both succeed, still free
    expect_ok(retry(client, admins, task["id"]))
    ai.call("DELETE", "/__sim/ai/faults")
    t = until_ended(psql, task["id"])
    assert (t["status"], t["done"], t["failed"], t["refunded"]) == ("completed", 2, 0, 2 * price)
    assert all(w["image_url"] for w in work_rows(psql, task["id"]))
    assert ledger(psql, c["id"]) == before and balance(psql, c["id"]) == start
    # nothing left to retry
    msg = expect_error(retry(client, admins, task["id"]), 409, "CONFLICT")
    assert "retry" in msg
    rows = audit_rows(psql, f"action = 'task.retry' AND target_id = '{task['id']}'")
    assert [(r["before"]["failed"], r["after"]["failed"]) for r in rows] == [(2, 0), (2, 0)]
    assert all(r["admin_id"] == admins["operator"]["id"] for r in rows)


def test_cancel_of_a_retried_item_refunds_nothing(client, expect_ok, customer, psql, ai, admins):
    c = customer()
    task = submit(client, expect_ok, c, 1)
    ai.fault(mode="400", model="*")
    until_ended(psql, task["id"])
    before, start = ledger(psql, c["id"]), balance(psql, c["id"])
    expect_ok(retry(client, admins, task["id"]))
    got = expect_ok(client.post(f"/admin/tasks/{task['id']}/cancel",
                                token=admins["operator"]["token"], json={}))
    assert got["canceled"] == 1 and got["task"]["status"] == "canceled"
    assert ledger(psql, c["id"]) == before and balance(psql, c["id"]) == start
    t = task_row(psql, task["id"])
    assert t["refunded"] == t["price"]  # the one refund of its failure, nothing more


def test_admin_cancel_refunds_queued_items_once(client, expect_ok, expect_error, customer, psql,
                                               admins):
    c = customer()
    task = submit(client, expect_ok, c, 3)
    t = task_row(psql, task["id"])
    path = f"/admin/tasks/{task['id']}/cancel"
    got = expect_ok(client.post(path, token=admins["operator"]["token"], json={}))
    assert got["canceled"] == 3 and got["task"]["status"] == "canceled"
    assert got["task"]["credits_refunded"] == 3 * t["price"]
    again = expect_ok(client.post(path, token=admins["operator"]["token"], json={}))
    assert again["canceled"] == 0
    assert balance(psql, c["id"]) == 10000
    refunds = [d for k, d, _ in ledger(psql, c["id"]) if k == "refund"]
    assert refunds == [3 * t["price"]]
    rows = audit_rows(psql, f"action = 'task.cancel' AND target_id = '{task['id']}'")
    assert len(rows) == 1 and rows[0]["after"]["canceled"] == 3
    expect_error(client.post("/admin/tasks/999999999/cancel", token=admins["operator"]["token"],
                             json={}), 404, "NOT_FOUND")
    expect_error(retry(client, admins, 999999999), 404, "NOT_FOUND")


def test_task_monitor_filters(client, expect_ok, expect_error, customer, psql, admins):
    c = customer()
    photo = submit(client, expect_ok, c, 1)
    viewer = admins["viewer"]["token"]

    def ids(query):
        return [t["id"] for t in expect_ok(client.get("/admin/tasks?" + query,
                                                      token=viewer))["items"]]

    assert ids(f"user={c['id']}") == [photo["id"]]
    assert ids(f"user={c['id']}&type=photography&status=queued") == [photo["id"]]
    assert ids(f"user={c['id']}&type=fitting") == []
    assert ids(f"user={c['id']}&status=failed") == []
    psql(f"UPDATE works SET ai_model_id = 2 WHERE task_id = {photo['id']}")
    assert ids(f"user={c['id']}&model=2") == [photo["id"]]
    assert ids(f"user={c['id']}&model=1") == []
    one = expect_ok(client.get(f"/admin/tasks/{photo['id']}", token=viewer))
    assert one["id"] == photo["id"] and one["prompt"] and one["asset_ids"] == [c["asset"]]
    assert len(one["items"]) == 1 and one["items"][0]["status"] == "queued"
    expect_error(client.get("/admin/tasks/999999999", token=viewer), 404, "NOT_FOUND")
    for bad in ("status=done", "type=video", "user=x", "model=0", "limit=99"):
        expect_error(client.get("/admin/tasks?" + bad, token=viewer), 400, "BAD_REQUEST")
    expect_ok(client.post(f"/admin/tasks/{photo['id']}/cancel",
                          token=admins["operator"]["token"], json={}))


def test_orders_with_wechat_pay_state(client, expect_ok, expect_error, make_user, psql, admins):
    uid = make_user()
    made = []
    for status, state in (("created", None), ("paid", "SUCCESS"), ("closed", "CLOSED")):
        no = "IT" + uuid.uuid4().hex[:20]
        paid = status == "paid"
        psql(f"INSERT INTO orders (out_trade_no, user_id, amount_fen, credits, appid, mchid, "
             f"status, transaction_id, trade_state, paid_at, closed_at) VALUES ('{no}', {uid}, "
             f"600, 60, 'wxit', '1900000109', '{status}', "
             f"{repr('T' + no) if paid else 'NULL'}, {repr(state) if state else 'NULL'}, "
             f"{'now()' if paid else 'NULL'}, {'now()' if status == 'closed' else 'NULL'})")
        made.append(no)
    viewer = admins["support"]["token"]
    got = expect_ok(client.get(f"/admin/orders?user={uid}", token=viewer))["items"]
    assert [o["out_trade_no"] for o in got] == made[::-1]
    assert [(o["status"], o["trade_state"]) for o in got] == \
        [("closed", "CLOSED"), ("paid", "SUCCESS"), ("created", None)]
    assert got[1]["transaction_id"] == "T" + made[1] and got[1]["paid_at"]
    paid = expect_ok(client.get(f"/admin/orders?user={uid}&status=paid", token=viewer))["items"]
    assert [o["out_trade_no"] for o in paid] == [made[1]]
    page = expect_ok(client.get(f"/admin/orders?user={uid}&limit=2", token=viewer))
    rest = expect_ok(client.get(f"/admin/orders?user={uid}&limit=2&cursor={page['next_cursor']}",
                                token=viewer))
    assert [o["out_trade_no"] for o in page["items"] + rest["items"]] == made[::-1]
    for bad in ("status=refund", "user=-1", "cursor=x"):
        expect_error(client.get("/admin/orders?" + bad, token=viewer), 400, "BAD_REQUEST")
