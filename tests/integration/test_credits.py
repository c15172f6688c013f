"""Credits over HTTP: balance, daily check-in and its streak, invitations, the ledger
listing with its pagination, and paid consumption with Idempotency-Key.

Every test ends with `aiphotoctl audit` (each user's balance equals the sum of their
ledger rows), and every balance the API reports is compared with what psql reads, so a
handler that answers right but books wrong cannot pass.  Check-in days are chosen with
the X-Test-Date header, which the development stack honours; the dates are far in the
future so they never meet the real calendar.
"""

import concurrent.futures
import datetime
import json
import re
import threading
import uuid

import pytest
import requests

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
RECORD_KEYS = {"id", "delta", "balance_after", "kind", "memo", "created_at"}
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture(autouse=True)
def _audited(audit):
    """Every test in this module is followed by a clean `aiphotoctl audit`."""
    yield


@pytest.fixture
def user(make_user, token_for):
    def make(credits=None):
        uid = make_user(credits=credits)
        return {"id": uid, "token": token_for(uid)}

    return make


def balance(psql, uid):
    (value,), = psql(f"SELECT credits FROM users WHERE id = {int(uid)}")
    return int(value)


def ledger(psql, uid, kind=None):
    """The user's ledger rows, oldest first, as dicts."""
    where = f"user_id = {int(uid)}" + (f" AND kind = '{kind}'" if kind else "")
    rows = psql("SELECT id, delta, balance_after, kind, idempotency_key, memo FROM credit_ledger "
                f"WHERE {where} ORDER BY id")
    return [{"id": int(r[0]), "delta": int(r[1]), "balance_after": int(r[2]), "kind": r[3],
             "key": r[4], "memo": r[5]} for r in rows]


def today_shanghai():
    return datetime.datetime.now(SHANGHAI).date()


def checkin_config(psql):
    (value,), = psql("SELECT value::text FROM system_config WHERE key = 'checkin'")
    cfg = json.loads(value)
    return cfg["base_credits"], cfg["streak_bonus"], cfg["max_bonus_days"]


def expected_award(psql, streak):
    base, bonus, cap = checkin_config(psql)
    return base + bonus * min(streak - 1, cap)


def invite_config(psql):
    (value,), = psql("SELECT value::text FROM system_config WHERE key = 'invite'")
    cfg = json.loads(value)
    return cfg["invitee_bonus"], cfg["inviter_bonus"]


def checkin(client, token, day=None):
    headers = {"X-Test-Date": day} if day else None
    return client.post("/credits/checkin", token=token, headers=headers)


def consume(client, token, amount, key, reason="it", raw=None):
    headers = {} if key is None else {"Idempotency-Key": key}
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return client.post("/credits/consume", token=token, headers=headers, data=raw)
    return client.post("/credits/consume", token=token, headers=headers,
                       json={"amount": amount, "reason": reason})


def new_key():
    return "it-" + uuid.uuid4().hex


def parallel(n, job):
    """Run job(i) for i in range(n) on n threads released together; return the results."""
    gate = threading.Barrier(n)

    def run(i):
        gate.wait(timeout=30)
        return job(i)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def raw_post(client, path, token, headers=None, **kwargs):
    """A POST on its own connection (requests.Session is not shared between threads)."""
    hdrs = {"Authorization": "Bearer " + token, **(headers or {})}
    return requests.post(client.url(path), headers=hdrs, timeout=30, **kwargs)


# --------------------------------------------------------------------------- GET /user/credits


def test_credits_answer_matches_the_database(client, expect_ok, user, psql):
    u = user(credits=42)
    data = expect_ok(client.get("/user/credits", token=u["token"]))
    assert data == {"credits": 42, "checked_in_today": False, "checkin_streak": 0}
    assert balance(psql, u["id"]) == 42
    assert all(isinstance(data[k], int) and not isinstance(data[k], bool)
               for k in ("credits", "checkin_streak")), data


def test_credits_need_a_token(client, expect_error):
    expect_error(client.get("/user/credits"), 401, "UNAUTHORIZED")
    expect_error(client.post("/credits/checkin"), 401, "UNAUTHORIZED")
    expect_error(client.post("/user/invite", json={"invite_code": "abcdefgh"}), 401,
                 "UNAUTHORIZED")
    expect_error(client.get("/credits/records"), 401, "UNAUTHORIZED")
    expect_error(client.post("/credits/consume", headers={"Idempotency-Key": new_key()},
                             json={"amount": 1, "reason": "x"}), 401, "UNAUTHORIZED")


# --------------------------------------------------------------------------- check-in


def test_checkin_config_is_the_documented_one(psql):
    assert checkin_config(psql) == (5, 1, 6)
    assert invite_config(psql) == (10, 20)


def test_checkin_today_awards_base_and_books_it(client, expect_ok, expect_error, user, psql):
    u = user(credits=3)
    before = today_shanghai()
    data = expect_ok(checkin(client, u["token"]))
    day = today_shanghai()
    assert set(data) == {"credits_awarded", "credits", "streak"}, data
    award = expected_award(psql, 1)
    assert data == {"credits_awarded": award, "credits": 3 + award, "streak": 1}
    assert balance(psql, u["id"]) == 3 + award
    rows = psql(f"SELECT day, streak, credits_awarded FROM checkins WHERE user_id = {u['id']}")
    assert len(rows) == 1, rows
    assert rows[0][0] in (str(before), str(day)), f"check-in day {rows[0][0]}, today {day}"
    assert (int(rows[0][1]), int(rows[0][2])) == (1, award)
    booked = ledger(psql, u["id"], "checkin")
    assert len(booked) == 1, booked
    assert booked[0]["delta"] == award and booked[0]["balance_after"] == 3 + award
    assert booked[0]["key"] == f"checkin:{u['id']}:{rows[0][0]}", booked

    state = expect_ok(client.get("/user/credits", token=u["token"]))
    assert state == {"credits": 3 + award, "checked_in_today": True, "checkin_streak": 1}

    # A second time the same (real) day: 409 and nothing more booked.
    expect_error(checkin(client, u["token"]), 409, "ALREADY_DONE")
    assert balance(psql, u["id"]) == 3 + award
    assert len(ledger(psql, u["id"], "checkin")) == 1


def test_checkin_yesterday_then_today_continues_the_streak(client, expect_ok, user, psql):
    u = user()
    yesterday = today_shanghai() - datetime.timedelta(days=1)
    first = expect_ok(checkin(client, u["token"], str(yesterday)))
    assert first["streak"] == 1
    state = expect_ok(client.get("/user/credits", token=u["token"]))
    assert state == {"credits": first["credits"], "checked_in_today": False,
                     "checkin_streak": 1}
    second = expect_ok(checkin(client, u["token"]))
    assert second["streak"] == 2 and second["credits_awarded"] == expected_award(psql, 2)
    state = expect_ok(client.get("/user/credits", token=u["token"]))
    assert state == {"credits": first["credits"] + second["credits_awarded"],
                     "checked_in_today": True, "checkin_streak": 2}


def test_checkin_streak_builds_caps_and_resets_after_a_gap(client, expect_ok, user, psql):
    u = user()
    start = datetime.date(2031, 1, 1)
    total = 0
    for i in range(9):
        day = start + datetime.timedelta(days=i)
        data = expect_ok(checkin(client, u["token"], day.isoformat()))
        award = expected_award(psql, i + 1)
        total += award
        assert data == {"credits_awarded": award, "credits": total, "streak": i + 1}, (day, data)
    # base 5, +1 per extra day, capped after 6 extra days
    assert [r["delta"] for r in ledger(psql, u["id"], "checkin")] == \
        [5, 6, 7, 8, 9, 10, 11, 11, 11]
    # 2031-01-10 skipped: the streak starts again at 1
    data = expect_ok(checkin(client, u["token"], "2031-01-11"))
    total += 5
    assert data == {"credits_awarded": 5, "credits": total, "streak": 1}
    data = expect_ok(checkin(client, u["token"], "2031-01-12"))
    total += 6
    assert data == {"credits_awarded": 6, "credits": total, "streak": 2}

    rows = psql(f"SELECT day, streak, credits_awarded FROM checkins WHERE user_id = {u['id']} "
                "ORDER BY day")
    assert [(r[0], int(r[1])) for r in rows] == \
        [(f"2031-01-{d:02d}", s) for d, s in
         [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 8), (9, 9), (11, 1), (12, 2)]]
    booked = ledger(psql, u["id"], "checkin")
    assert [r["key"] for r in booked] == [f"checkin:{u['id']}:{r[0]}" for r in rows]
    running = 0
    for r in booked:
        running += r["delta"]
        assert r["balance_after"] == running, booked
    assert balance(psql, u["id"]) == total


def test_checkin_gap_of_one_day_resets(client, expect_ok, user):
    u = user()
    assert expect_ok(checkin(client, u["token"], "2031-01-01"))["streak"] == 1
    assert expect_ok(checkin(client, u["token"], "2031-01-02"))["streak"] == 2
    data = expect_ok(checkin(client, u["token"], "2031-01-04"))
    assert (data["streak"], data["credits_awarded"]) == (1, 5)


@pytest.mark.parametrize("first,second", [("2030-12-31", "2031-01-01"),
                                          ("2031-02-28", "2031-03-01"),
                                          ("2032-02-28", "2032-02-29")])
def test_checkin_consecutive_across_month_and_year(client, expect_ok, user, first, second):
    u = user()
    assert expect_ok(checkin(client, u["token"], first))["streak"] == 1
    assert expect_ok(checkin(client, u["token"], second))["streak"] == 2


def test_checkin_same_day_twice_is_already_done(client, expect_ok, expect_error, user, psql):
    u = user(credits=1)
    data = expect_ok(checkin(client, u["token"], "2031-05-05"))
    expect_error(checkin(client, u["token"], "2031-05-05"), 409, "ALREADY_DONE")
    assert balance(psql, u["id"]) == data["credits"]
    assert len(ledger(psql, u["id"], "checkin")) == 1
    # the next day is a new day
    assert expect_ok(checkin(client, u["token"], "2031-05-06"))["streak"] == 2


def test_checkin_concurrent_same_day_awards_once(client, user, psql):
    u = user()
    resps = parallel(20, lambda i: raw_post(client, "/credits/checkin", u["token"],
                                            headers={"X-Test-Date": "2031-07-07"}))
    codes = sorted(r.status_code for r in resps)
    assert codes == [200] + [409] * 19, codes
    assert all(r.json()["code"] == "ALREADY_DONE" for r in resps if r.status_code == 409)
    assert len(ledger(psql, u["id"], "checkin")) == 1
    assert balance(psql, u["id"]) == 5


def test_checkin_uses_the_shanghai_day(client, expect_ok, user, psql):
    """Without X-Test-Date the day is the Asia/Shanghai calendar day, not the UTC one."""
    u = user()
    before = today_shanghai()
    expect_ok(checkin(client, u["token"]))
    after = today_shanghai()
    (day,), = psql(f"SELECT day FROM checkins WHERE user_id = {u['id']}")
    assert day in (str(before), str(after)), (day, before, after)


# --------------------------------------------------------------------------- invitations


def invite(client, token, code):
    return client.post("/user/invite", token=token, json={"invite_code": code})


def code_of(psql, uid):
    (code,), = psql(f"SELECT invite_code FROM users WHERE id = {int(uid)}")
    return code


def test_invite_rewards_both_once(client, expect_ok, expect_error, user, psql):
    inviter, invitee = user(credits=1), user(credits=2)
    invitee_bonus, inviter_bonus = invite_config(psql)
    data = expect_ok(invite(client, invitee["token"], code_of(psql, inviter["id"])))
    assert data == {"credits": 2 + invitee_bonus, "bonus": invitee_bonus}
    assert balance(psql, invitee["id"]) == 2 + invitee_bonus
    assert balance(psql, inviter["id"]) == 1 + inviter_bonus
    (by,), = psql(f"SELECT invited_by FROM users WHERE id = {invitee['id']}")
    assert by == str(inviter["id"])
    got = ledger(psql, invitee["id"], "invite")
    assert [(r["delta"], r["balance_after"], r["key"]) for r in got] == \
        [(invitee_bonus, 2 + invitee_bonus, f"invite:{invitee['id']}")]
    gave = ledger(psql, inviter["id"], "invite")
    assert [(r["delta"], r["balance_after"], r["key"]) for r in gave] == \
        [(inviter_bonus, 1 + inviter_bonus, f"invite-reward:{invitee['id']}")]

    # once per invitee: neither the same code nor another one works a second time
    other = user()
    for code in (code_of(psql, inviter["id"]), code_of(psql, other["id"])):
        resp = invite(client, invitee["token"], code)
        assert resp.status_code == 409, resp.text
        assert resp.json()["code"] in ("ALREADY_DONE", "CONFLICT"), resp.text
    assert balance(psql, invitee["id"]) == 2 + invitee_bonus
    assert balance(psql, inviter["id"]) == 1 + inviter_bonus
    assert balance(psql, other["id"]) == 0
    (by,), = psql(f"SELECT invited_by FROM users WHERE id = {invitee['id']}")
    assert by == str(inviter["id"])


def test_invite_own_code_is_refused(client, expect_error, user, psql):
    u = user(credits=5)
    expect_error(invite(client, u["token"], code_of(psql, u["id"])), 400, "BAD_REQUEST")
    assert balance(psql, u["id"]) == 5
    assert ledger(psql, u["id"], "invite") == []


def test_invite_unknown_code_is_not_found(client, expect_error, user, psql, unique):
    u = user()
    code = "zz" + unique
    assert not psql(f"SELECT 1 FROM users WHERE invite_code = '{code}'")
    expect_error(invite(client, u["token"], code), 404, "NOT_FOUND")
    assert ledger(psql, u["id"], "invite") == []


def test_invite_cycles_are_refused(client, expect_ok, expect_error, user, psql):
    a, b, c = user(), user(), user()
    expect_ok(invite(client, b["token"], code_of(psql, a["id"])))  # A invited B
    expect_error(invite(client, a["token"], code_of(psql, b["id"])), 400, "BAD_REQUEST")
    expect_ok(invite(client, c["token"], code_of(psql, b["id"])))  # B invited C
    # A -> B -> C: C inviting A would close a cycle too
    expect_error(invite(client, a["token"], code_of(psql, c["id"])), 400, "BAD_REQUEST")
    (by,), = psql(f"SELECT invited_by FROM users WHERE id = {a['id']}")
    assert by is None
    assert [r["key"] for r in ledger(psql, a["id"], "invite")] == [f"invite-reward:{b['id']}"]
    assert balance(psql, a["id"]) == 20 and balance(psql, b["id"]) == 10 + 20
    assert balance(psql, c["id"]) == 10


@pytest.mark.parametrize("body", [{}, {"invite_code": ""}, {"invite_code": "   "},
                                  {"invite_code": None}, {"invite_code": 12345678},
                                  {"invite_code": ["abc"]}])
def test_invite_bad_code_is_bad_request(client, expect_error, user, psql, body):
    u = user()
    expect_error(client.post("/user/invite", token=u["token"], json=body), 400, "BAD_REQUEST")
    assert ledger(psql, u["id"], "invite") == []


def test_invite_malformed_json_is_bad_request(client, expect_error, user):
    u = user()
    expect_error(client.post("/user/invite", token=u["token"], data="{not json",
                             headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")


def test_invite_concurrent_bindings_reward_once(client, user, psql):
    invitee = user()
    inviters = [user() for _ in range(8)]
    codes = [code_of(psql, x["id"]) for x in inviters]
    resps = parallel(16, lambda i: raw_post(client, "/user/invite", invitee["token"],
                                            json={"invite_code": codes[i % 8]}))
    ok = [r for r in resps if r.status_code == 200]
    assert len(ok) == 1, [r.status_code for r in resps]
    assert all(r.status_code == 409 for r in resps if r.status_code != 200), \
        [r.status_code for r in resps]
    assert balance(psql, invitee["id"]) == 10
    assert sum(balance(psql, x["id"]) for x in inviters) == 20
    assert len(ledger(psql, invitee["id"], "invite")) == 1


# --------------------------------------------------------------------------- consumption


def test_consume_charges_and_books(client, expect_ok, user, psql):
    u = user(credits=30)
    key = new_key()
    resp = consume(client, u["token"], 7, key, reason="测试消费")
    assert expect_ok(resp) == {"credits": 23}
    assert balance(psql, u["id"]) == 23
    rows = ledger(psql, u["id"], "consume")
    assert len(rows) == 1, rows
    assert (rows[0]["delta"], rows[0]["balance_after"]) == (-7, 23)
    assert rows[0]["key"] == f"consume:{u['id']}:{key}"
    assert rows[0]["memo"] == "测试消费", rows  # the reason is what the ledger shows


def test_consume_short_balance_is_402_and_changes_nothing(client, expect_ok, expect_error,
                                                          user, psql):
    u = user(credits=5)
    expect_error(consume(client, u["token"], 6, new_key()), 402, "INSUFFICIENT_CREDITS")
    assert balance(psql, u["id"]) == 5
    assert ledger(psql, u["id"], "consume") == []
    assert expect_ok(consume(client, u["token"], 5, new_key())) == {"credits": 0}
    expect_error(consume(client, u["token"], 1, new_key()), 402, "INSUFFICIENT_CREDITS")
    assert balance(psql, u["id"]) == 0


def test_consume_without_idempotency_key_is_refused(client, expect_error, user, psql):
    u = user(credits=5)
    message = expect_error(consume(client, u["token"], 1, None), 400, "BAD_REQUEST")
    assert "idempotency-key" in message.lower(), message
    for bad in ("", "k" * 65):
        expect_error(consume(client, u["token"], 1, bad), 400, "BAD_REQUEST")
    assert balance(psql, u["id"]) == 5
    assert ledger(psql, u["id"], "consume") == []


def test_consume_key_of_64_chars_is_fine(client, expect_ok, user):
    u = user(credits=5)
    assert expect_ok(consume(client, u["token"], 1, "k" * 64)) == {"credits": 4}


@pytest.mark.parametrize("amount", [0, -5, 100001, 2 ** 63 - 1, 2 ** 64, "5", 1.5, None, True,
                                    [1], {"n": 1}])
def test_consume_bad_amount_is_bad_request(client, expect_error, user, psql, amount):
    u = user(credits=200000)
    message = expect_error(consume(client, u["token"], amount, new_key()), 400, "BAD_REQUEST")
    assert "amount" in message, message
    assert ledger(psql, u["id"], "consume") == []


def test_consume_missing_amount_and_malformed_json(client, expect_error, user, psql):
    u = user(credits=5)
    expect_error(consume(client, u["token"], None, new_key(), raw='{"reason":"x"}'),
                 400, "BAD_REQUEST")
    expect_error(consume(client, u["token"], None, new_key(), raw='{"amount":1'),
                 400, "BAD_REQUEST")
    expect_error(consume(client, u["token"], None, new_key(), raw='[1]'), 400, "BAD_REQUEST")
    assert ledger(psql, u["id"], "consume") == []


@pytest.mark.parametrize("reason", [5, ["x"], {"a": 1}, True])
def test_consume_reason_must_be_a_string(client, expect_error, user, psql, reason):
    u = user(credits=5)
    message = expect_error(consume(client, u["token"], 1, new_key(), reason=reason), 400,
                           "BAD_REQUEST")
    assert "reason" in message, message
    assert ledger(psql, u["id"], "consume") == []


def test_consume_bounds_are_inclusive(client, expect_ok, user, psql):
    u = user(credits=100001)
    assert expect_ok(consume(client, u["token"], 100000, new_key())) == {"credits": 1}
    assert expect_ok(consume(client, u["token"], 1, new_key())) == {"credits": 0}


def test_consume_replay_returns_the_first_answer_and_charges_once(client, expect_ok, expect_error,
                                                                 user, psql):
    u = user(credits=20)
    key = new_key()
    first = consume(client, u["token"], 3, key, reason="same")
    assert expect_ok(first) == {"credits": 17}
    # spend elsewhere so that a recomputed answer would differ from the stored one
    assert expect_ok(consume(client, u["token"], 2, new_key())) == {"credits": 15}
    for _ in range(3):
        again = consume(client, u["token"], 3, key, reason="same")
        assert expect_ok(again) == {"credits": 17}
    assert balance(psql, u["id"]) == 15
    assert [r["delta"] for r in ledger(psql, u["id"], "consume")] == [-3, -2]

    # same key, another body
    expect_error(consume(client, u["token"], 4, key, reason="same"), 409, "IDEMPOTENCY_MISMATCH")
    expect_error(consume(client, u["token"], 3, key, reason="other"), 409,
                 "IDEMPOTENCY_MISMATCH")
    assert balance(psql, u["id"]) == 15
    assert len(ledger(psql, u["id"], "consume")) == 2


def test_consume_keys_belong_to_their_user(client, expect_ok, user, psql):
    a, b = user(credits=10), user(credits=10)
    key = new_key()
    assert expect_ok(consume(client, a["token"], 4, key)) == {"credits": 6}
    assert expect_ok(consume(client, b["token"], 4, key)) == {"credits": 6}
    assert balance(psql, a["id"]) == 6 and balance(psql, b["id"]) == 6


def test_consume_same_key_concurrently_charges_once(client, user, psql):
    u = user(credits=100)
    key = new_key()
    resps = parallel(24, lambda i: raw_post(client, "/credits/consume", u["token"],
                                            headers={"Idempotency-Key": key},
                                            json={"amount": 9, "reason": "cc"}))
    codes = [r.status_code for r in resps]
    assert all(c == 200 for c in codes), codes
    assert {json.dumps(r.json()["data"], sort_keys=True) for r in resps} == {'{"credits": 91}'}
    assert balance(psql, u["id"]) == 91
    assert len(ledger(psql, u["id"], "consume")) == 1


@pytest.mark.parametrize("round_no", range(3))
def test_consume_64_concurrent_on_balance_10(client, user, psql, round_no):
    u = user(credits=10)
    resps = parallel(64, lambda i: raw_post(client, "/credits/consume", u["token"],
                                            headers={"Idempotency-Key": new_key()},
                                            json={"amount": 1, "reason": "race"}))
    codes = sorted(r.status_code for r in resps)
    assert codes.count(200) == 10 and codes.count(402) == 54, codes
    assert all(r.json()["code"] == "INSUFFICIENT_CREDITS" for r in resps
               if r.status_code == 402)
    assert sorted(r.json()["data"]["credits"] for r in resps if r.status_code == 200) == \
        list(range(10))
    assert balance(psql, u["id"]) == 0
    rows = ledger(psql, u["id"], "consume")
    assert len(rows) == 10 and all(r["delta"] == -1 for r in rows), rows
    assert sorted(r["balance_after"] for r in rows) == list(range(10))


# --------------------------------------------------------------------------- records


def records(client, token, **params):
    return client.get("/credits/records", token=token, params=params)


def all_pages(client, expect_ok, token, limit=None, kind=None, max_pages=100):
    items, cursor, pages = [], None, 0
    while True:
        params = {}
        if limit is not None:
            params["limit"] = limit
        if kind is not None:
            params["kind"] = kind
        if cursor is not None:
            params["cursor"] = cursor
        data = expect_ok(records(client, token, **params))
        assert set(data) == {"items", "next_cursor"}, data
        assert len(data["items"]) <= (limit or 12), data
        items += data["items"]
        pages += 1
        assert pages < max_pages, "pagination does not end"
        cursor = data["next_cursor"]
        if cursor is None:
            return items, pages
        assert isinstance(cursor, str) and cursor, data
        assert data["items"], "an empty page with a next_cursor"


@pytest.fixture
def busy_user(client, expect_ok, user, psql):
    """A user with 1 admin grant, 3 check-ins and 25 consumptions (29 ledger rows), plus a
    refund booked directly (30 rows)."""
    u = user(credits=100)
    for day in ("2031-03-01", "2031-03-02", "2031-03-03"):
        expect_ok(checkin(client, u["token"], day))
    for i in range(25):
        expect_ok(consume(client, u["token"], 1 + i % 3, new_key(), reason=f"r{i}"))
    # a refund, booked the way the product books one: balance and ledger in one statement
    psql("WITH u AS (UPDATE users SET credits = credits + 2 WHERE id = "
         f"{u['id']} RETURNING credits) INSERT INTO credit_ledger "
         "(user_id, delta, balance_after, kind, reference, memo, idempotency_key) "
         f"SELECT {u['id']}, 2, credits, 'refund', 'it', 'it refund', "
         f"'it-refund:{uuid.uuid4().hex}' FROM u")
    return u


def check_record(item, row):
    assert set(item) == RECORD_KEYS, item
    assert item["id"] == row["id"]
    assert (item["delta"], item["balance_after"], item["kind"]) == \
        (row["delta"], row["balance_after"], row["kind"]), (item, row)
    assert isinstance(item["memo"], str)
    assert RFC3339.match(item["created_at"]), item


def test_records_all_paginates_newest_first(client, expect_ok, busy_user, psql):
    rows = {r["id"]: r for r in ledger(psql, busy_user["id"])}
    assert len(rows) == 30
    for limit in (1, 7, 12, 29, 30, 50):
        items, pages = all_pages(client, expect_ok, busy_user["token"], limit=limit, kind="all")
        ids = [i["id"] for i in items]
        assert ids == sorted(rows, reverse=True), f"limit {limit}: {ids}"
        # the last page carries next_cursor null (no extra empty page)
        assert pages == -(-30 // limit), (limit, pages)
        for item in items:
            check_record(item, rows[item["id"]])


def test_records_default_limit_is_12_and_kind_defaults_to_all(client, expect_ok, busy_user, psql):
    data = expect_ok(records(client, busy_user["token"]))
    assert len(data["items"]) == 12 and data["next_cursor"], data
    newest = [r["id"] for r in ledger(psql, busy_user["id"])][::-1][:12]
    assert [i["id"] for i in data["items"]] == newest


def test_records_last_page_has_null_cursor(client, expect_ok, busy_user):
    data = expect_ok(records(client, busy_user["token"], limit=50))
    assert len(data["items"]) == 30
    assert data["next_cursor"] is None


def test_records_consume_includes_refunds(client, expect_ok, busy_user, psql):
    items, _ = all_pages(client, expect_ok, busy_user["token"], limit=10, kind="consume")
    expected = [r for r in ledger(psql, busy_user["id"]) if r["kind"] in ("consume", "refund")]
    assert [i["id"] for i in items] == [r["id"] for r in expected][::-1]
    assert {i["kind"] for i in items} == {"consume", "refund"}
    refund = [i for i in items if i["kind"] == "refund"]
    assert len(refund) == 1 and refund[0]["delta"] == 2, refund
    assert all(i["delta"] < 0 for i in items if i["kind"] == "consume")


def test_records_recharge_lists_only_recharges(client, expect_ok, busy_user, psql):
    uid = busy_user["id"]
    # book two recharges the way order settlement does
    for n in (60, 330):
        psql(f"WITH u AS (UPDATE users SET credits = credits + {n} WHERE id = {uid} "
             "RETURNING credits) INSERT INTO credit_ledger "
             "(user_id, delta, balance_after, kind, reference, memo, idempotency_key) "
             f"SELECT {uid}, {n}, credits, 'recharge', 'it', 'it recharge', "
             f"'it-order:{uuid.uuid4().hex}' FROM u")
    items, _ = all_pages(client, expect_ok, busy_user["token"], limit=12, kind="recharge")
    assert [(i["kind"], i["delta"]) for i in items] == [("recharge", 330), ("recharge", 60)]
    everything, _ = all_pages(client, expect_ok, busy_user["token"], limit=50, kind="all")
    assert len(everything) == 32


def test_records_empty_for_a_new_user(client, expect_ok, user):
    u = user()
    for kind in ("all", "recharge", "consume"):
        assert expect_ok(records(client, u["token"], kind=kind)) == \
            {"items": [], "next_cursor": None}


def test_records_never_show_another_users_rows(client, expect_ok, user, psql):
    a, b = user(credits=10), user(credits=10)
    for i in range(5):
        expect_ok(consume(client, a["token"], 1, new_key()))
        expect_ok(consume(client, b["token"], 1, new_key()))
    items, _ = all_pages(client, expect_ok, a["token"], limit=3, kind="all")
    assert [i["id"] for i in items] == [r["id"] for r in ledger(psql, a["id"])][::-1]
    # b's cursor handed to a still shows a's rows only
    page = expect_ok(records(client, b["token"], limit=2, kind="all"))
    assert page["next_cursor"]
    resp = records(client, a["token"], limit=50, kind="all", cursor=page["next_cursor"])
    if resp.status_code == 200:
        mine = {r["id"] for r in ledger(psql, a["id"])}
        assert {i["id"] for i in resp.json()["data"]["items"]} <= mine
    else:
        assert resp.status_code == 400, resp.text


@pytest.mark.parametrize("params", [{"kind": "bogus"}, {"kind": "ALL"}, {"kind": "refund"},
                                    {"limit": 0}, {"limit": 51}, {"limit": -1},
                                    {"limit": "abc"}, {"limit": "1.5"}, {"limit": ""},
                                    {"cursor": "not-a-cursor"}, {"cursor": "!!!"},
                                    {"cursor": "x" * 500}])
def test_records_bad_query_is_bad_request(client, expect_error, user, params):
    u = user()
    expect_error(records(client, u["token"], **params), 400, "BAD_REQUEST")


# --------------------------------------------------------------------------- audit


def test_audit_flags_a_broken_balance(run_audit, user, psql):
    u = user(credits=9)
    status, output = run_audit()
    assert status == 0, output
    psql(f"UPDATE users SET credits = credits + 1 WHERE id = {u['id']}")
    try:
        status, output = run_audit()
        assert status == 1, f"audit exited {status}: {output[-1000:]}"
        assert re.search(rf"\b{u['id']}\b", output), output[-1000:]
    finally:
        psql(f"UPDATE users SET credits = credits - 1 WHERE id = {u['id']}")
    status, output = run_audit()
    assert status == 0, output
