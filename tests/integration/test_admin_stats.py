"""GET /admin/stats (docs/admin.md): each figure moves by what the test does, counted on the
Asia/Shanghai business day, over 30 days, and per AI model over 24 h."""

import datetime
import struct
import uuid
import zlib

import pytest

from adminkit import admins  # noqa: F401


@pytest.fixture(autouse=True)
def _ledger_clean(audit):
    yield


def png(seed):
    raw = b"".join(b"\x00" + bytes((seed % 256, 40, 90)) * 8 for _ in range(8))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def stats(client, expect_ok, token, day=None):
    headers = {"X-Test-Date": day} if day else {}
    return expect_ok(client.get("/admin/stats", token=token, headers=headers))


def test_stats_follow_what_happens(client, expect_ok, make_user, token_for, psql, admins):
    tok = admins["viewer"]["token"]
    s0 = stats(client, expect_ok, tok)
    today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
    assert s0["day"] == today.isoformat()
    assert [d["day"] for d in s0["by_day"]] == \
        [(today - datetime.timedelta(days=29 - i)).isoformat() for i in range(30)]

    # two new users (granted 100 credits each), one of them active, spending and ordering
    uid = make_user(credits=100)
    make_user(credits=100)
    utok = token_for(uid)
    assert client.post("/events", token=utok, json={"name": "it_open"}).status_code == 204
    expect_ok(client.post("/credits/consume", token=utok, json={"amount": 3},
                          headers={"Idempotency-Key": str(uuid.uuid4())}))
    psql(f"INSERT INTO orders (out_trade_no, user_id, amount_fen, credits, appid, mchid, "
         f"status, transaction_id, trade_state, paid_at) VALUES ('IT{uuid.uuid4().hex[:20]}', "
         f"{uid}, 600, 60, 'wxit', '1900000109', 'paid', 'T{uuid.uuid4().hex[:20]}', "
         f"'SUCCESS', now())")
    asset = expect_ok(client.request("POST", "/uploads", token=utok,
                                     headers={"Content-Type": "image/png"}, data=png(uid)), 201)
    task = expect_ok(client.post("/tasks/photography", token=utok,
                                 json={"scene_id": 1, "asset_ids": [asset["asset_id"]],
                                       "count": 2}), 202)
    s1 = stats(client, expect_ok, tok)
    assert s1["users"]["total"] == s0["users"]["total"] + 2
    assert s1["users"]["new_today"] == s0["users"]["new_today"] + 2
    assert s1["users"]["dau"] == s0["users"]["dau"] + 1
    assert s1["orders_today"]["orders"] == s0["orders_today"]["orders"] + 1
    assert s1["orders_today"]["revenue_fen"] == s0["orders_today"]["revenue_fen"] + 600
    d0, d1 = s0["by_day"][-1], s1["by_day"][-1]
    assert (d1["orders"], d1["revenue_fen"], d1["tasks"], d1["new_users"]) == \
        (d0["orders"] + 1, d0["revenue_fen"] + 600, d0["tasks"] + 1, d0["new_users"] + 2)
    assert s1["by_day"][:-1] == s0["by_day"][:-1]
    c0, c1 = s0["credits_today"], s1["credits_today"]
    assert c1["issued"] == c0["issued"] + 200
    price = int(psql(f"SELECT price FROM tasks WHERE id = {task['id']}")[0][0])
    assert c1["spent"] == c0["spent"] + 3 + 2 * price
    assert c1["by_kind"]["consume"] == c0["by_kind"].get("consume", 0) - 3 - 2 * price
    created0 = s0["tasks"]["created_today"].get("queued", 0)
    assert s1["tasks"]["created_today"]["queued"] == created0 + 1
    assert s1["tasks"]["open"]["queued"] == s0["tasks"]["open"]["queued"] + 1
    assert s1["queue"]["depth"] == s0["queue"]["depth"] + 2
    assert s1["queue"]["due"] == s0["queue"]["due"] + 2
    assert s1["queue"]["oldest_queued_seconds"] is not None

    # one item succeeded in 2 s and one failed on model 1 (as a dispatcher run records them)
    works = [r[0] for r in psql(f"SELECT id FROM works WHERE task_id = {task['id']} ORDER BY id")]
    psql(f"UPDATE works SET status = 'succeeded', image_url = 'https://x/y.png', ai_model_id = 1, "
         f"started_at = now() - interval '2 seconds', finished_at = now() WHERE id = {works[0]}")
    psql(f"UPDATE works SET status = 'failed', ai_model_id = 1, started_at = now(), "
         f"finished_at = now() WHERE id = {works[1]}")
    try:
        s2 = stats(client, expect_ok, tok)
        p0 = {p["ai_model_id"]: p for p in s0["providers"]}.get(1, {"succeeded": 0, "failed": 0})
        p2 = {p["ai_model_id"]: p for p in s2["providers"]}[1]
        assert p2["name"] == "sim-openai-photography"
        assert (p2["succeeded"], p2["failed"]) == (p0["succeeded"] + 1, p0["failed"] + 1)
        assert p2["success_rate"] == pytest.approx(p2["succeeded"] / (p2["succeeded"] +
                                                                      p2["failed"]), abs=1e-4)
        assert p2["p95_ms"] >= 1900 or p0["succeeded"] > 0
        assert s2["queue"]["depth"] == s1["queue"]["depth"] - 2
    finally:
        # the items are the dispatcher's again (nothing waits on a task that cannot end)
        psql(f"UPDATE works SET status = 'canceled', image_url = NULL WHERE id IN "
             f"({works[0]}, {works[1]})")
        psql(f"UPDATE tasks SET status = 'canceled', canceled = 2, finished_at = now() "
             f"WHERE id = {task['id']}")


def test_stats_count_the_refunds_confirmed_today(client, expect_ok, make_user, psql, admins):
    """orders_today.refunds / refunded_fen: refunds WeChat Pay confirmed (success) today, next
    to the revenue; a refund still processing, or confirmed yesterday, is not counted."""
    tok = admins["viewer"]["token"]
    s0 = stats(client, expect_ok, tok)
    uid = make_user(credits=0)
    no = f"IT{uuid.uuid4().hex[:20]}"
    (oid,), = psql(f"INSERT INTO orders (out_trade_no, user_id, amount_fen, credits, appid, "
                   f"mchid, status, transaction_id, trade_state, paid_at) VALUES ('{no}', {uid}, "
                   f"1000, 10, 'wxit', '1900000109', 'paid', 'T{uuid.uuid4().hex[:20]}', "
                   f"'SUCCESS', now() - interval '3 days') RETURNING id")
    for fen, status, when in ((200, "success", "now()"), (300, "processing", "NULL"),
                              (100, "success", "now() - interval '2 days'")):
        psql(f"INSERT INTO order_refunds (out_refund_no, order_id, user_id, amount_fen, "
             f"credits_due, credits, reason, if_spent, status, succeeded_at) VALUES "
             f"('RFIT{uuid.uuid4().hex[:16]}', {oid}, {uid}, {fen}, 0, 0, 'stats', 'refuse', "
             f"'{status}', {when})")
    psql(f"UPDATE orders SET status = 'partially_refunded', refunded_fen = 300, "
         f"refunded_at = now() WHERE id = {oid}")
    s1 = stats(client, expect_ok, tok)
    assert s1["orders_today"]["refunds"] == s0["orders_today"]["refunds"] + 1
    assert s1["orders_today"]["refunded_fen"] == s0["orders_today"]["refunded_fen"] + 200
    # the order was paid days ago: today's revenue does not move
    assert s1["orders_today"]["orders"] == s0["orders_today"]["orders"]
    assert s1["orders_today"]["revenue_fen"] == s0["orders_today"]["revenue_fen"]
    psql(f"UPDATE order_refunds SET status = 'closed', closed_at = now() WHERE order_id = {oid} "
         f"AND status = 'processing'")


def test_stats_on_another_day(client, expect_ok, expect_error, admins):
    tok = admins["viewer"]["token"]
    s = stats(client, expect_ok, tok, day="2024-02-29")
    assert s["day"] == "2024-02-29"
    assert s["by_day"][0]["day"] == "2024-01-31" and s["by_day"][-1]["day"] == "2024-02-29"
    assert set(s["orders_today"]) == {"orders", "revenue_fen", "refunds", "refunded_fen"}
    for bad in ("2024-2-29", "yesterday", "2024/02/29"):
        expect_error(client.get("/admin/stats", token=tok, headers={"X-Test-Date": bad}), 400,
                     "BAD_REQUEST")
