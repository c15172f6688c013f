"""Users as the operators see them (docs/admin.md): search, detail, credit adjustments (ledger
kind admin, Idempotency-Key, never below 0, a support admin's limit, racing user spending)
and the account status (a disabled user is refused at once).  Every write leaves one audit
row; `aiphotoctl audit` stays clean.
"""

import concurrent.futures
import uuid

import pytest
import requests

from adminkit import admins, audit_rows, settles  # noqa: F401


@pytest.fixture(autouse=True)
def _ledger_clean(audit):
    yield


def key():
    return str(uuid.uuid4())


def adjust(client, token, user_id, body, k=None):
    headers = {"Idempotency-Key": k} if k else {}
    return client.post(f"/admin/users/{user_id}/credits", token=token, json=body,
                       headers=headers)


def balance(psql, uid):
    return int(psql(f"SELECT credits FROM users WHERE id = {int(uid)}")[0][0])


# --------------------------------------------------------------------------- search and detail


def test_search_by_every_key(client, expect_ok, expect_error, make_user, psql, admins, unique):
    tok = admins["viewer"]["token"]
    # letters only: a search by id also matches nicknames containing those digits
    unique = unique.translate(str.maketrans("0123456789", "ghijklmnop"))
    a = make_user(nickname=f"Alice_{unique}")
    b = make_user(nickname=f"bob%_{unique}")
    psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid, unionid) VALUES "
         f"({a}, 'oa', 'wxit', 'oIT{unique}', 'uIT{unique}')")
    code = psql(f"SELECT invite_code FROM users WHERE id = {a}")[0][0]

    def ids(q):
        return [u["id"] for u in expect_ok(client.get("/admin/users", token=tok,
                                                      params={"q": q}))["items"]]

    assert ids(str(a)) == [a]
    assert ids(f"oIT{unique}") == [a]
    assert ids(f"uIT{unique}") == [a]
    assert ids(code.lower()) == [a]
    assert ids(f"alice_{unique}".upper()) == [a]
    assert ids(unique) == [b, a]                      # a nickname part, newest first
    assert ids(f"%_{unique}") == [b]                  # % and _ match themselves
    assert ids("no-such-" + unique) == []
    item = expect_ok(client.get("/admin/users", token=tok, params={"q": str(a)}))["items"][0]
    assert set(item) == {"id", "nickname", "avatar_url", "credits", "status", "invite_code",
                         "invited_by", "upload_quota_bytes", "upload_quota_files", "created_at"}
    # everyone, paged
    page = expect_ok(client.get("/admin/users?limit=1", token=tok))
    assert len(page["items"]) == 1 and page["next_cursor"]
    nxt = expect_ok(client.get(f"/admin/users?limit=1&cursor={page['next_cursor']}", token=tok))
    assert nxt["items"][0]["id"] < page["items"][0]["id"]
    expect_error(client.get("/admin/users", token=tok, params={"q": "x" * 129}), 400,
                 "BAD_REQUEST")
    expect_error(client.get("/admin/users?limit=0", token=tok), 400, "BAD_REQUEST")


def test_user_detail(client, expect_ok, expect_error, make_user, psql, admins, token_for):
    uid = make_user(nickname="detail", credits=50)
    psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid) VALUES "
         f"({uid}, 'mp', 'wxitmp', 'oD{uid}')")
    expect_ok(client.post("/credits/consume", token=token_for(uid), json={"amount": 3},
                          headers={"Idempotency-Key": key()}))
    d = expect_ok(client.get(f"/admin/users/{uid}", token=admins["viewer"]["token"]))
    assert set(d) == {"user", "identities", "ledger", "orders", "tasks"}
    assert d["user"]["id"] == uid and d["user"]["credits"] == 47
    assert "checkin_streak" in d["user"] and "last_checkin_day" in d["user"]
    assert [(i["app_kind"], i["openid"]) for i in d["identities"]] == [("mp", f"oD{uid}")]
    assert [(r["kind"], r["delta"], r["balance_after"]) for r in d["ledger"]] == \
        [("consume", -3, 47), ("admin", 50, 50)]
    assert d["orders"] == [] and d["tasks"] == []
    expect_error(client.get("/admin/users/999999999", token=admins["viewer"]["token"]), 404,
                 "NOT_FOUND")
    expect_error(client.get("/admin/users/abc", token=admins["viewer"]["token"]), 404,
                 "NOT_FOUND")


# --------------------------------------------------------------------------- credits


def test_credit_adjustment(client, expect_ok, expect_error, make_user, psql, admins,
                           request_id_of):
    uid = make_user(credits=10)
    op = admins["operator"]
    body = {"delta": 25, "memo": "补偿：生成失败"}
    # the key is required, and every field is checked
    msg = expect_error(adjust(client, op["token"], uid, body), 400, "BAD_REQUEST")
    assert "Idempotency-Key" in msg
    for bad, field in [({"memo": "x"}, "delta"), ({"delta": 0, "memo": "x"}, "delta"),
                       ({"delta": "5", "memo": "x"}, "delta"), ({"delta": 1.5, "memo": "x"}, "delta"),
                       ({"delta": 10000001, "memo": "x"}, "delta"),
                       ({"delta": -10000001, "memo": "x"}, "delta"),
                       ({"delta": 5}, "memo"), ({"delta": 5, "memo": ""}, "memo"),
                       ({"delta": 5, "memo": "x" * 257}, "memo"), ({"delta": 5, "memo": 7}, "memo")]:
        m = expect_error(adjust(client, op["token"], uid, bad, key()), 400, "BAD_REQUEST")
        assert field in m, (bad, m)
    expect_error(adjust(client, op["token"], 999999999, body, key()), 404, "NOT_FOUND")
    k = key()
    resp = adjust(client, op["token"], uid, body, k)
    got = expect_ok(resp)
    assert got["credits"] == 35 and got["delta"] == 25 and got["user_id"] == uid
    assert got["memo"] == body["memo"] and got["replayed"] is False and got["created_at"]
    row = psql(f"SELECT kind, delta, balance_after, reference, memo, idempotency_key "
               f"FROM credit_ledger WHERE id = {got['ledger_id']}")[0]
    assert row == ["admin", "25", "35", f"admin:{op['id']}", body["memo"],
                   f"admin:{op['id']}:{k}"]
    # the same request again: the first answer, nothing new
    again = expect_ok(adjust(client, op["token"], uid, body, k))
    assert again["ledger_id"] == got["ledger_id"] and again["replayed"] is True
    assert again["credits"] == 35 and balance(psql, uid) == 35
    # the same key for another body or another user: refused
    expect_error(adjust(client, op["token"], uid, {**body, "delta": 26}, k), 409,
                 "IDEMPOTENCY_MISMATCH")
    other = make_user()
    expect_error(adjust(client, op["token"], other, body, k), 409, "IDEMPOTENCY_MISMATCH")
    # another admin's key of the same text is theirs alone
    mine = expect_ok(adjust(client, admins["owner"]["token"], uid, body, k))
    assert mine["replayed"] is False and mine["credits"] == 60
    # one audit row per adjustment made, none for the replay
    rows = audit_rows(psql, f"action = 'user.credits' AND target_id = '{uid}'")
    assert [(r["admin_id"], r["before"]["credits"], r["after"]["credits"], r["after"]["delta"])
            for r in rows] == [(op["id"], 10, 35, 25), (admins["owner"]["id"], 35, 60, 25)]
    assert rows[0]["request_id"] == request_id_of(resp) and rows[0]["address"] == "127.0.0.1"
    assert rows[0]["after"]["ledger_id"] == got["ledger_id"]


def test_debit_never_below_zero(client, expect_ok, expect_error, make_user, psql, admins):
    uid = make_user(credits=30)
    op = admins["operator"]["token"]
    before = len(audit_rows(psql, f"action = 'user.credits' AND target_id = '{uid}'"))
    k = key()
    msg = expect_error(adjust(client, op, uid, {"delta": -31, "memo": "回收"}, k), 402,
                       "INSUFFICIENT_CREDITS")
    assert "30" in msg and "31" in msg
    assert balance(psql, uid) == 30
    assert len(audit_rows(psql, f"action = 'user.credits' AND target_id = '{uid}'")) == before
    # nothing was kept for the key: once the balance allows it, the same request succeeds
    expect_ok(adjust(client, op, uid, {"delta": 5, "memo": "x"}, key()))
    got = expect_ok(adjust(client, op, uid, {"delta": -31, "memo": "回收"}, k))
    assert got["credits"] == 4
    got = expect_ok(adjust(client, op, uid, {"delta": -4, "memo": "清零"}, key()))
    assert got["credits"] == 0


def test_support_is_limited(client, expect_ok, expect_error, make_user, psql, admins):
    uid = make_user(credits=1000)
    sup = admins["support"]["token"]
    for delta in (501, -501, 10000):
        msg = expect_error(adjust(client, sup, uid, {"delta": delta, "memo": "x"}, key()), 403,
                           "FORBIDDEN")
        assert "500" in msg
    assert expect_ok(adjust(client, sup, uid, {"delta": 500, "memo": "x"}, key()))["credits"] == 1500
    assert expect_ok(adjust(client, sup, uid, {"delta": -500, "memo": "x"}, key()))["credits"] == 1000
    assert expect_ok(adjust(client, admins["operator"]["token"], uid,
                            {"delta": 5000, "memo": "x"}, key()))["credits"] == 6000


def test_adjustments_racing_user_spending_stay_exact(api, expect_ok, make_user, token_for,
                                                      psql, admins):
    """A user spends 1 credit 60 times while admins take 2 credits 40 times and give 1
    credit 20 times, all at once: every request either happens whole or not at all, the
    balance never goes below 0, and it equals the ledger (`aiphotoctl audit`, autouse)."""
    start = 100
    uid = make_user(credits=start)
    user_tok = token_for(uid)
    op = admins["operator"]["token"]

    def call(job):
        kind, tok, body = job
        s = requests.Session()
        path = f"/admin/users/{uid}/credits" if kind == "admin" else "/credits/consume"
        r = s.post(api + path, json=body, timeout=30,
                   headers={"Authorization": "Bearer " + tok, "Idempotency-Key": key(),
                            "Connection": "close"})
        return kind, body, r.status_code

    jobs = ([("user", user_tok, {"amount": 1})] * 60 +
            [("admin", op, {"delta": -2, "memo": "race"})] * 40 +
            [("admin", op, {"delta": 1, "memo": "race"})] * 20)
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(call, jobs))
    assert {code for _, _, code in results} <= {200, 402}, results
    spent = sum(b["amount"] for k, b, c in results if k == "user" and c == 200)
    taken = sum(-b["delta"] for k, b, c in results if k == "admin" and c == 200 and b["delta"] < 0)
    given = sum(b["delta"] for k, b, c in results if k == "admin" and c == 200 and b["delta"] > 0)
    assert given == 20  # a credit is never refused
    final = balance(psql, uid)
    assert final == start - spent - taken + given >= 0, (final, spent, taken, given)
    ledger = psql(f"SELECT COALESCE(sum(delta), 0), min(balance_after) FROM credit_ledger "
                  f"WHERE user_id = {uid}")[0]
    assert int(ledger[0]) == final and int(ledger[1]) >= 0
    audited = audit_rows(psql, f"action = 'user.credits' AND target_id = '{uid}'")
    assert len(audited) == sum(1 for k, _, c in results if k == "admin" and c == 200)


# --------------------------------------------------------------------------- status


def test_status_disables_at_once(client, expect_ok, expect_error, make_user, token_for, psql,
                                 admins):
    uid = make_user(credits=5)
    tok = token_for(uid)
    op = admins["operator"]["token"]
    path = f"/admin/users/{uid}/status"
    for _ in range(8):
        expect_ok(client.get("/user/me", token=tok))
    for bad in ({}, {"status": "banned"}, {"status": 1}, {"status": ""}):
        m = expect_error(client.post(path, token=op, json=bad), 400, "BAD_REQUEST")
        assert "status" in m
    expect_error(client.post("/admin/users/999999999/status", token=op,
                             json={"status": "disabled"}), 404, "NOT_FOUND")
    got = expect_ok(client.post(path, token=op, json={"status": "disabled"}))
    assert got["id"] == uid and got["status"] == "disabled"
    # every worker refuses the user's token as soon as the change's notification reached it
    settles(lambda: client.get("/user/me", token=tok), 403)
    expect_error(client.get("/user/me", token=tok), 403, "FORBIDDEN")
    # the same status again changes nothing and writes no audit row
    expect_ok(client.post(path, token=op, json={"status": "disabled"}))
    got = expect_ok(client.post(path, token=op, json={"status": "active"}))
    assert got["status"] == "active"
    settles(lambda: client.get("/user/me", token=tok), 200)
    rows = audit_rows(psql, f"action = 'user.status' AND target_id = '{uid}'")
    assert [(r["before"]["status"], r["after"]["status"]) for r in rows] == \
        [("active", "disabled"), ("disabled", "active")]
    assert all(r["admin_id"] == admins["operator"]["id"] for r in rows)
