"""POST /user/invite under concurrency: invites that would close a ring, sent at the same
moment, must not all succeed.

Each round makes fresh users and fires the ring's invites together (threads released by a
barrier): A↔B pairs, three-way rings A→B→C→A and four-way rings (the longest shape two row
locks alone would not serialise).  Exactly ring length − 1 invites succeed, the last one is
refused as a cycle (400), nothing answers 409 or 500 (a deadlock must never reach a user), the
invited_by graph has no cycle afterwards, each success booked both bonuses, and every test
ends with a clean `aiphotoctl audit`.
"""

import concurrent.futures
import json
import threading

import pytest
import requests

ROUNDS = 50


@pytest.fixture(autouse=True)
def _audited(audit):
    """Every test in this module is followed by a clean `aiphotoctl audit`."""
    yield


def new_users(psql, jwt_forge, n):
    """n fresh users made in one statement: [{"id","code","token"}] (tokens signed locally)."""
    rows = psql("INSERT INTO users (nickname) SELECT 'ring-' || g FROM generate_series(1, "
                f"{int(n)}) g RETURNING id, invite_code")
    return [{"id": int(r[0]), "code": r[1],
             "token": jwt_forge.sign(jwt_forge.default_claims(int(r[0])))} for r in rows]


def invite_config(psql):
    (value,), = psql("SELECT value::text FROM system_config WHERE key = 'invite'")
    cfg = json.loads(value)
    return cfg.get("invitee_bonus", 10), cfg.get("inviter_bonus", 20)


def cycles_among(psql, ids):
    """Users among ids that reach themselves by following invited_by."""
    arr = "ARRAY[" + ",".join(str(int(i)) for i in ids) + "]::bigint[]"
    rows = psql("WITH RECURSIVE walk(start, cur, depth) AS ("
                f"SELECT id, invited_by, 1 FROM users WHERE id = ANY({arr}) "
                "AND invited_by IS NOT NULL "
                "UNION ALL SELECT w.start, u.invited_by, w.depth + 1 FROM walk w "
                "JOIN users u ON u.id = w.cur WHERE w.cur <> w.start AND w.depth < 100 "
                "AND u.invited_by IS NOT NULL) "
                "SELECT DISTINCT start FROM walk WHERE cur = start")
    return [int(r[0]) for r in rows]


def fire(url, pairs):
    """POST each (token, code) of pairs at the same moment; return the responses in order."""
    gate = threading.Barrier(len(pairs))

    def one(pair):
        token, code = pair
        gate.wait(timeout=30)
        return requests.post(url, timeout=30, json={"invite_code": code},
                             headers={"Authorization": "Bearer " + token,
                                      "Connection": "close"})

    with concurrent.futures.ThreadPoolExecutor(len(pairs)) as pool:
        return list(pool.map(one, pairs))


@pytest.mark.parametrize("size", [2, 3, 4])
def test_concurrent_invite_rings_never_close(client, psql, jwt_forge, size):
    invitee_bonus, inviter_bonus = invite_config(psql)
    users = new_users(psql, jwt_forge, ROUNDS * size)
    url = client.url("/user/invite")
    seen = {}
    for r in range(ROUNDS):
        ring = users[r * size:(r + 1) * size]
        # user i enters the code of user i-1: 0→1→…→size-1→0 closes the ring
        pairs = [(ring[i]["token"], ring[i - 1]["code"]) for i in range(size)]
        resps = fire(url, pairs)
        statuses = [x.status_code for x in resps]
        for x in resps:
            seen[x.status_code] = seen.get(x.status_code, 0) + 1
            if x.status_code != 200:
                body = x.json()
                assert body["success"] is False and body["code"] == "BAD_REQUEST", body
        assert statuses.count(200) == size - 1, f"round {r}: {statuses}"
        assert statuses.count(400) == 1, f"round {r}: {statuses} (only a cycle is refused)"
    assert set(seen) == {200, 400}, seen
    ids = [u["id"] for u in users]
    assert cycles_among(psql, ids) == []
    # invited_by: exactly size - 1 per ring, all between members of the same ring
    arr = ",".join(map(str, ids))
    (invited,), = psql(f"SELECT count(*) FROM users WHERE id IN ({arr}) AND invited_by IS NOT NULL")
    assert int(invited) == ROUNDS * (size - 1)
    # both bonuses once per success, and nothing else
    (rows, total), = psql("SELECT count(*), COALESCE(sum(delta), 0) FROM credit_ledger "
                          f"WHERE user_id IN ({arr})")
    per = (invitee_bonus > 0) + (inviter_bonus > 0)
    assert int(rows) == ROUNDS * (size - 1) * per
    assert int(total) == ROUNDS * (size - 1) * (invitee_bonus + inviter_bonus)


def test_concurrent_invites_of_one_user_by_many_reward_once(client, psql, jwt_forge):
    """One invitee entering several codes at once: one succeeds, the rest are 409 ALREADY_DONE."""
    invitee_bonus, inviter_bonus = invite_config(psql)
    for _ in range(10):
        invitee, *inviters = new_users(psql, jwt_forge, 6)
        resps = fire(client.url("/user/invite"), [(invitee["token"], u["code"]) for u in inviters])
        statuses = sorted(x.status_code for x in resps)
        assert statuses == [200] + [409] * 4, statuses
        for x in resps:
            if x.status_code == 409:
                assert x.json()["code"] == "ALREADY_DONE", x.text
        (credits,), = psql(f"SELECT credits FROM users WHERE id = {invitee['id']}")
        assert int(credits) == invitee_bonus
        arr = ",".join(str(u["id"]) for u in inviters)
        (total,), = psql(f"SELECT COALESCE(sum(credits), 0) FROM users WHERE id IN ({arr})")
        assert int(total) == inviter_bonus
