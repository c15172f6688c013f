"""Tasks, works, prompts and the scene cache over HTTP (the API side only: no dispatcher runs
here, so work items are moved along with psql where a test needs them finished).

Every test ends with a clean `aiphotoctl audit`; every charge and refund the API reports is
checked against the ledger rows psql reads.
"""

import concurrent.futures
import json
import uuid

import pytest
import requests

TASK_KEYS = {"id", "type", "status", "count", "done", "failed", "canceled", "credits_charged",
             "credits_refunded", "created_at", "finished_at", "works"}
WORK_KEYS = {"id", "task_id", "type", "status", "image_url", "thumb_url", "scene_id",
             "is_favorite", "created_at"}


@pytest.fixture(autouse=True)
def _audited(audit):
    """Every test in this module is followed by a clean `aiphotoctl audit`."""
    yield


@pytest.fixture
def user(make_user, token_for):
    def make(credits=1000):
        uid = make_user(credits=credits)
        return {"id": uid, "token": token_for(uid)}

    return make


@pytest.fixture
def assets(psql):
    """assets(user_id, n=2) -> ids of n new asset rows of that user."""

    def make(uid, n=2):
        ids = []
        for _ in range(n):
            sha = uuid.uuid4().hex + uuid.uuid4().hex
            key = f"{sha[:2]}/{sha[2:4]}/{sha}.png"
            ids.append(int(psql(
                f"INSERT INTO assets (user_id, sha256, mime, width, height, size_bytes, "
                f"storage_key) VALUES ({uid}, '{sha}', 'image/png', 64, 64, 100, '{key}') "
                f"RETURNING id")[0][0]))
        return ids

    return make


@pytest.fixture
def price(psql):
    """price(type) -> credits per image from system_config.pricing (defaults 10 / 15)."""

    def get(kind):
        rows = psql("SELECT value->>'" + kind + "' FROM system_config WHERE key = 'pricing'")
        if rows and rows[0][0] is not None:
            return int(rows[0][0])
        return {"photography": 10, "fitting": 15}[kind]

    return get


def balance(psql, uid):
    return int(psql(f"SELECT credits FROM users WHERE id = {uid}")[0][0])


def ledger(psql, uid, kind=None):
    cond = f" AND kind = '{kind}'" if kind else ""
    return psql(f"SELECT delta, kind, reference, memo, idempotency_key FROM credit_ledger "
                f"WHERE user_id = {uid}{cond} ORDER BY id")


def count_rows(psql, table, uid):
    return int(psql(f"SELECT count(*) FROM {table} WHERE user_id = {uid}")[0][0])


def photo(client, u, body, key=None):
    headers = {"Idempotency-Key": key} if key is not None else None
    return client.post("/tasks/photography", token=u["token"], json=body, headers=headers)


def fitting(client, u, body, key=None):
    headers = {"Idempotency-Key": key} if key is not None else None
    return client.post("/tasks/fitting", token=u["token"], json=body, headers=headers)


def succeed(psql, work_ids, url="http://127.0.0.1/media/x.png"):
    """Marks works succeeded as the dispatcher would (image stored, counters bumped)."""
    ids = ",".join(str(i) for i in work_ids)
    psql(f"UPDATE works SET status = 'succeeded', image_url = '{url}', thumb_url = '{url}', "
         f"finished_at = now() WHERE id IN ({ids})")
    psql(f"UPDATE tasks t SET done = t.done + w.n FROM (SELECT task_id, count(*) AS n FROM works "
         f"WHERE id IN ({ids}) GROUP BY task_id) w WHERE t.id = w.task_id")


def check_task(t):
    assert set(t) == TASK_KEYS, t
    for w in t["works"]:
        check_work(w)


def check_work(w):
    assert set(w) - {"error"} == WORK_KEYS, w
    assert ("error" in w) == (w["status"] == "failed"), w


# --------------------------------------------------------------------------- creation


def test_photography_task_charged_once_with_frozen_prompt(client, expect_ok, psql, user, assets,
                                                         price):
    u = user(1000)
    a = assets(u["id"], 3)
    p = price("photography")
    t = expect_ok(photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 4,
                                    "params": {"style": "胶片风", "extra": "smile"}}), 202)
    check_task(t)
    assert t["type"] == "photography" and t["status"] == "queued"
    assert t["count"] == 4 and t["done"] == 0 and t["failed"] == 0 and t["canceled"] == 0
    assert t["credits_charged"] == 4 * p and t["credits_refunded"] == 0
    assert t["finished_at"] is None
    assert len(t["works"]) == 4
    assert all(w["status"] == "queued" and w["task_id"] == t["id"] and w["scene_id"] == 1 and
               w["type"] == "photography" and w["image_url"] is None and not w["is_favorite"]
               for w in t["works"])
    assert balance(psql, u["id"]) == 1000 - 4 * p
    rows = ledger(psql, u["id"], "consume")
    assert rows == [[str(-4 * p), "consume", f"task:{t['id']}", "photography ×4",
                     f"task:{t['id']}"]]
    # the prompt is rendered at submission and stored with the task
    prompt, neg, assets_db, params = psql(
        f"SELECT prompt, negative_prompt, asset_ids::text, params::text FROM tasks "
        f"WHERE id = {t['id']}")[0]
    assert "胶片风" in prompt and "smile" in prompt and "清新日系" in prompt and "3:4" in prompt
    assert "{{" not in prompt and neg
    assert assets_db == "{" + ",".join(map(str, a)) + "}"
    assert json.loads(params) == {"style": "胶片风", "extra": "smile"}
    attempts = psql(f"SELECT DISTINCT max_attempts, user_id FROM works WHERE task_id = {t['id']}")
    assert attempts == [["3", str(u["id"])]]
    # what GET answers is the same task
    again = expect_ok(client.get(f"/tasks/{t['id']}", token=u["token"]))
    assert again == t


def test_fitting_task(client, expect_ok, psql, user, assets, price):
    u = user(1000)
    person, garment = assets(u["id"], 2)
    p = price("fitting")
    t = expect_ok(fitting(client, u, {"person_asset_id": person, "garment_asset_id": garment,
                                      "count": 2}), 202)
    check_task(t)
    assert t["type"] == "fitting" and t["count"] == 2 and t["credits_charged"] == 2 * p
    assert all(w["scene_id"] is None and w["type"] == "fitting" for w in t["works"])
    assert balance(psql, u["id"]) == 1000 - 2 * p
    row = psql(f"SELECT person_asset_id, garment_asset_id, scene_id FROM tasks "
               f"WHERE id = {t['id']}")[0]
    assert row == [str(person), str(garment), None]
    # count defaults to 1
    t1 = expect_ok(fitting(client, u, {"person_asset_id": person, "garment_asset_id": garment}),
                   202)
    assert t1["count"] == 1 and len(t1["works"]) == 1


def test_price_comes_from_system_config(client, expect_ok, psql, user, assets):
    u = user(1000)
    a = assets(u["id"], 1)
    old = psql("SELECT value::text FROM system_config WHERE key = 'pricing'")
    psql("INSERT INTO system_config (key, value) VALUES ('pricing', "
         "'{\"photography\":7,\"fitting\":0}') "
         "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    try:
        # the public pricing route answers what a task is then charged (no token needed)
        assert expect_ok(client.get("/config/pricing")) == {"photography": 7, "fitting": 0}
        t = expect_ok(photo(client, u, {"scene_id": 2, "asset_ids": a, "count": 3}), 202)
        assert t["credits_charged"] == 21
        person, garment = assets(u["id"], 2)
        free = expect_ok(fitting(client, u, {"person_asset_id": person,
                                             "garment_asset_id": garment, "count": 2}), 202)
        assert free["credits_charged"] == 0
        assert balance(psql, u["id"]) == 1000 - 21
        assert len(ledger(psql, u["id"], "consume")) == 1  # a free task books nothing
    finally:
        if old:
            psql("UPDATE system_config SET value = '" + old[0][0].replace("'", "''") +
                 "' WHERE key = 'pricing'")
        else:
            psql("DELETE FROM system_config WHERE key = 'pricing'")


def test_pricing_route_defaults(client, expect_ok, psql, price):
    """GET /config/pricing: the stored prices, or the defaults the task routes charge."""
    assert expect_ok(client.get("/config/pricing")) == {
        "photography": price("photography"), "fitting": price("fitting")}
    old = psql("SELECT value::text FROM system_config WHERE key = 'pricing'")
    psql("DELETE FROM system_config WHERE key = 'pricing'")
    try:
        assert expect_ok(client.get("/config/pricing")) == {"photography": 10, "fitting": 15}
    finally:
        if old:
            psql("INSERT INTO system_config (key, value) VALUES ('pricing', '" +
                 old[0][0].replace("'", "''") + "')")


PHOTO_BAD = [
    ([], "body"),
    ({"asset_ids": [1], "count": 1}, "scene_id"),
    ({"scene_id": "1", "asset_ids": [1]}, "scene_id"),
    ({"scene_id": 0, "asset_ids": [1]}, "scene_id"),
    ({"scene_id": 1.5, "asset_ids": [1]}, "scene_id"),
    ({"scene_id": 1}, "asset_ids"),
    ({"scene_id": 1, "asset_ids": []}, "asset_ids"),
    ({"scene_id": 1, "asset_ids": list(range(1, 12))}, "asset_ids"),
    ({"scene_id": 1, "asset_ids": [0]}, "asset_ids"),
    ({"scene_id": 1, "asset_ids": ["1"]}, "asset_ids"),
    ({"scene_id": 1, "asset_ids": 1}, "asset_ids"),
    ({"scene_id": 1, "asset_ids": [1], "count": 0}, "count"),
    ({"scene_id": 1, "asset_ids": [1], "count": 51}, "count"),
    ({"scene_id": 1, "asset_ids": [1], "count": "2"}, "count"),
    ({"scene_id": 1, "asset_ids": [1], "params": [1]}, "params"),
    ({"scene_id": 1, "asset_ids": [1], "params": "x"}, "params"),
    ({"scene_id": 1, "asset_ids": [1], "params": {"x": "y" * 5000}}, "params"),
]


@pytest.mark.parametrize("body,field", PHOTO_BAD)
def test_photography_validation(client, expect_error, psql, user, body, field):
    u = user(1000)
    msg = expect_error(photo(client, u, body), 400, "BAD_REQUEST")
    if field != "body":
        assert msg.startswith(field + ":"), msg
    assert count_rows(psql, "tasks", u["id"]) == 0


FITTING_BAD = [
    ({"garment_asset_id": 1}, "person_asset_id"),
    ({"person_asset_id": 1}, "garment_asset_id"),
    ({"person_asset_id": 0, "garment_asset_id": 1}, "person_asset_id"),
    ({"person_asset_id": 1, "garment_asset_id": "2"}, "garment_asset_id"),
    ({"person_asset_id": 1, "garment_asset_id": 2, "count": 100}, "count"),
    ({"person_asset_id": 1, "garment_asset_id": 2, "params": 3}, "params"),
]


@pytest.mark.parametrize("body,field", FITTING_BAD)
def test_fitting_validation(client, expect_error, psql, user, body, field):
    u = user(1000)
    msg = expect_error(fitting(client, u, body), 400, "BAD_REQUEST")
    assert msg.startswith(field + ":"), msg
    assert count_rows(psql, "tasks", u["id"]) == 0


@pytest.mark.parametrize("scene", [6, 999999999])
def test_inactive_or_missing_scene(client, expect_error, psql, user, assets, scene):
    u = user(1000)
    a = assets(u["id"], 1)
    msg = expect_error(photo(client, u, {"scene_id": scene, "asset_ids": a}), 400, "BAD_REQUEST")
    assert msg == "scene_id: unknown scene"
    assert count_rows(psql, "tasks", u["id"]) == 0 and balance(psql, u["id"]) == 1000


def test_foreign_or_missing_assets_are_not_found(client, expect_error, psql, user, assets):
    u, other = user(1000), user(1000)
    mine = assets(u["id"], 2)
    theirs = assets(other["id"], 1)
    expect_error(photo(client, u, {"scene_id": 1, "asset_ids": mine + theirs}), 404, "NOT_FOUND")
    expect_error(photo(client, u, {"scene_id": 1, "asset_ids": [mine[0], 2 ** 62]}), 404,
                 "NOT_FOUND")
    expect_error(fitting(client, u, {"person_asset_id": mine[0],
                                     "garment_asset_id": theirs[0]}), 404, "NOT_FOUND")
    expect_error(fitting(client, u, {"person_asset_id": theirs[0],
                                     "garment_asset_id": mine[0]}), 404, "NOT_FOUND")
    assert count_rows(psql, "tasks", u["id"]) == 0 and balance(psql, u["id"]) == 1000
    assert count_rows(psql, "works", u["id"]) == 0


def test_short_balance_creates_nothing(client, expect_ok, expect_error, psql, user, assets,
                                       price):
    p = price("photography")
    u = user(p * 2 - 1)
    a = assets(u["id"], 1)
    expect_error(photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 2}), 402,
                 "INSUFFICIENT_CREDITS")
    assert count_rows(psql, "tasks", u["id"]) == 0
    assert count_rows(psql, "works", u["id"]) == 0
    assert len(ledger(psql, u["id"])) == 1  # only the initial grant
    assert balance(psql, u["id"]) == p * 2 - 1
    # with a key: the refusal leaves the key free, so an affordable retry goes through
    key = "short-" + uuid.uuid4().hex
    expect_error(photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 2}, key), 402,
                 "INSUFFICIENT_CREDITS")
    t = expect_ok(photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 1}, key), 202)
    assert t["count"] == 1 and balance(psql, u["id"]) == p - 1
    assert count_rows(psql, "tasks", u["id"]) == 1


def test_idempotency_replay_and_mismatch(client, expect_ok, expect_error, psql, user, assets,
                                         price):
    u = user(1000)
    a = assets(u["id"], 2)
    key = "task-" + uuid.uuid4().hex
    body = {"scene_id": 1, "asset_ids": a, "count": 2, "params": {"style": "x"}}
    first = expect_ok(photo(client, u, body, key), 202)
    again = expect_ok(photo(client, u, body, key), 202)
    assert again == first
    assert count_rows(psql, "tasks", u["id"]) == 1
    assert len(ledger(psql, u["id"], "consume")) == 1
    assert balance(psql, u["id"]) == 1000 - 2 * price("photography")
    for other in ({**body, "count": 3}, {**body, "asset_ids": a[:1]},
                  {**body, "params": {"style": "y"}}):
        expect_error(photo(client, u, other, key), 409, "IDEMPOTENCY_MISMATCH")
    # the same key on the other route is another request too
    expect_error(fitting(client, u, {"person_asset_id": a[0], "garment_asset_id": a[1]}, key),
                 409, "IDEMPOTENCY_MISMATCH")
    # keys are per user: another user may use the same one
    v = user(1000)
    b = assets(v["id"], 1)
    t2 = expect_ok(photo(client, v, {"scene_id": 1, "asset_ids": b}, key), 202)
    assert t2["id"] != first["id"]
    assert count_rows(psql, "tasks", u["id"]) == 1


def test_idempotent_concurrent_submissions_charge_once(client, psql, user, assets, price):
    u = user(1000)
    a = assets(u["id"], 1)
    key = "race-" + uuid.uuid4().hex
    body = {"scene_id": 2, "asset_ids": a, "count": 3}

    def go(_):
        r = photo(client, u, body, key)
        return r.status_code, r.json()["data"]["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(go, range(16)))
    assert {s for s, _ in results} == {202}
    assert len({i for _, i in results}) == 1
    assert count_rows(psql, "tasks", u["id"]) == 1
    assert balance(psql, u["id"]) == 1000 - 3 * price("photography")


def test_bad_idempotency_key(client, expect_error, user, assets):
    u = user(1000)
    a = assets(u["id"], 1)
    expect_error(photo(client, u, {"scene_id": 1, "asset_ids": a}, "k" * 65), 400, "BAD_REQUEST")


def test_auth_and_disabled_user(client, expect_error, psql, user, assets):
    expect_error(client.post("/tasks/photography", json={"scene_id": 1, "asset_ids": [1]}), 401,
                 "UNAUTHORIZED")
    for path in ("/tasks", "/tasks/1", "/works", "/works/1"):
        expect_error(client.get(path), 401, "UNAUTHORIZED")
    expect_error(client.post("/prompts/generate", json={"type": "fitting"}), 401, "UNAUTHORIZED")
    u = user(1000)
    a = assets(u["id"], 1)
    psql(f"UPDATE users SET status = 'disabled' WHERE id = {u['id']}")
    expect_error(photo(client, u, {"scene_id": 1, "asset_ids": a}), 403, "FORBIDDEN")
    assert count_rows(psql, "tasks", u["id"]) == 0


# --------------------------------------------------------------------------- reading and cancel


def test_get_and_list_tasks(client, expect_ok, expect_error, psql, user, assets):
    u, other = user(1000), user(1000)
    a = assets(u["id"], 2)
    ids = [expect_ok(photo(client, u, {"scene_id": 1, "asset_ids": a}), 202)["id"]
           for _ in range(3)]
    ids.append(expect_ok(fitting(client, u, {"person_asset_id": a[0],
                                             "garment_asset_id": a[1]}), 202)["id"])
    page = expect_ok(client.get("/tasks?limit=3", token=u["token"]))
    assert [t["id"] for t in page["items"]] == ids[::-1][:3]
    assert all(set(t) == TASK_KEYS - {"works"} for t in page["items"])
    assert page["next_cursor"]
    rest = expect_ok(client.get(f"/tasks?limit=3&cursor={page['next_cursor']}",
                                token=u["token"]))
    assert [t["id"] for t in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    # status filter
    expect_ok(client.post(f"/tasks/{ids[1]}/cancel", token=u["token"]))
    canceled = expect_ok(client.get("/tasks?status=canceled", token=u["token"]))
    assert [t["id"] for t in canceled["items"]] == [ids[1]]
    queued = expect_ok(client.get("/tasks?status=queued", token=u["token"]))
    assert [t["id"] for t in queued["items"]] == [ids[3], ids[2], ids[0]]
    assert expect_ok(client.get("/tasks", token=other["token"]))["items"] == []
    msg = expect_error(client.get("/tasks?status=done", token=u["token"]), 400, "BAD_REQUEST")
    assert msg.startswith("status:")
    expect_error(client.get("/tasks?limit=0", token=u["token"]), 400, "BAD_REQUEST")
    # another user's task, a missing one, a malformed id
    for path in (f"/tasks/{ids[0]}", "/tasks/999999999", "/tasks/abc", "/tasks/-1"):
        expect_error(client.get(path, token=other["token"]), 404, "NOT_FOUND")


def test_cancel_refunds_queued_items_once(client, expect_ok, psql, user, assets, price):
    u = user(1000)
    a = assets(u["id"], 1)
    p = price("photography")
    t = expect_ok(photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 5}), 202)
    w = [x["id"] for x in t["works"]]
    # the dispatcher holds one item (running) and finished another
    psql(f"UPDATE works SET status = 'running', attempt = 1, lease_until = now() + interval "
         f"'2 minutes', started_at = now() WHERE id = {w[0]}")
    succeed(psql, [w[1]])
    c = expect_ok(client.post(f"/tasks/{t['id']}/cancel", token=u["token"]))
    check_task(c)
    assert c["canceled"] == 3 and c["done"] == 1
    assert c["credits_refunded"] == 3 * p and c["credits_charged"] == 5 * p
    assert c["status"] == "running" and c["finished_at"] is None
    statuses = {x["id"]: x["status"] for x in c["works"]}
    assert statuses == {w[0]: "running", w[1]: "succeeded", w[2]: "canceled", w[3]: "canceled",
                        w[4]: "canceled"}
    refunds = ledger(psql, u["id"], "refund")
    assert refunds == [[str(3 * p), "refund", f"task:{t['id']}", "cancel ×3",
                        f"refund:cancel:{t['id']}:{w[2]}"]]
    assert psql(f"SELECT count(*) FROM works WHERE task_id = {t['id']} AND refunded_at IS NOT "
                f"NULL")[0][0] == "3"
    # again: nothing queued any more, nothing refunded
    again = expect_ok(client.post(f"/tasks/{t['id']}/cancel", token=u["token"]))
    assert again == c
    assert len(ledger(psql, u["id"], "refund")) == 1
    assert balance(psql, u["id"]) == 1000 - 5 * p + 3 * p
    # a retried item that went back to queued can be canceled in its turn
    psql(f"UPDATE works SET status = 'queued', lease_until = NULL WHERE id = {w[0]}")
    last = expect_ok(client.post(f"/tasks/{t['id']}/cancel", token=u["token"]))
    assert last["canceled"] == 4 and last["credits_refunded"] == 4 * p
    assert last["status"] == "partial" and last["finished_at"] is not None
    assert len(ledger(psql, u["id"], "refund")) == 2
    assert balance(psql, u["id"]) == 1000 - p


def test_cancel_everything_and_ended_task(client, expect_ok, psql, user, assets, price):
    u = user(1000)
    a = assets(u["id"], 2)
    p = price("fitting")
    t = expect_ok(fitting(client, u, {"person_asset_id": a[0], "garment_asset_id": a[1],
                                      "count": 3}), 202)
    c = expect_ok(client.post(f"/tasks/{t['id']}/cancel", token=u["token"]))
    assert c["status"] == "canceled" and c["canceled"] == 3 and c["finished_at"]
    assert c["credits_refunded"] == c["credits_charged"] == 3 * p
    assert balance(psql, u["id"]) == 1000
    assert expect_ok(client.post(f"/tasks/{t['id']}/cancel", token=u["token"])) == c
    # a completed task: unchanged, no refund
    t2 = expect_ok(fitting(client, u, {"person_asset_id": a[0], "garment_asset_id": a[1],
                                       "count": 2}), 202)
    succeed(psql, [x["id"] for x in t2["works"]])
    psql(f"UPDATE tasks SET status = 'completed', finished_at = now() WHERE id = {t2['id']}")
    before = expect_ok(client.get(f"/tasks/{t2['id']}", token=u["token"]))
    after = expect_ok(client.post(f"/tasks/{t2['id']}/cancel", token=u["token"]))
    assert after == before and after["status"] == "completed"
    assert len(ledger(psql, u["id"], "refund")) == 1


def test_concurrent_cancels_refund_once(client, psql, user, assets, price):
    u = user(1000)
    a = assets(u["id"], 1)
    p = price("photography")
    t = photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 10}).json()["data"]

    def go(_):
        return client.post(f"/tasks/{t['id']}/cancel", token=u["token"]).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(go, range(16))) == {200}
    assert len(ledger(psql, u["id"], "refund")) == 1
    assert balance(psql, u["id"]) == 1000
    row = psql(f"SELECT canceled, credits_refunded, status FROM tasks WHERE id = {t['id']}")[0]
    assert row == ["10", str(10 * p), "canceled"]


def test_cancel_foreign_task(client, expect_ok, expect_error, psql, user, assets):
    u, other = user(1000), user(1000)
    a = assets(u["id"], 1)
    t = expect_ok(photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 2}), 202)
    expect_error(client.post(f"/tasks/{t['id']}/cancel", token=other["token"]), 404, "NOT_FOUND")
    expect_error(client.post("/tasks/999999999/cancel", token=other["token"]), 404, "NOT_FOUND")
    assert psql(f"SELECT count(*) FROM works WHERE task_id = {t['id']} AND status = 'queued'"
                )[0][0] == "2"
    assert ledger(psql, other["id"], "refund") == []


# --------------------------------------------------------------------------- works


@pytest.fixture
def gallery(client, expect_ok, psql, user, assets):
    """A user with succeeded works of both types (and unfinished ones), and a stranger."""
    u, other = user(1000), user(1000)
    a = assets(u["id"], 2)
    ph = expect_ok(photo(client, u, {"scene_id": 1, "asset_ids": a, "count": 4}), 202)
    ft = expect_ok(fitting(client, u, {"person_asset_id": a[0], "garment_asset_id": a[1],
                                       "count": 3}), 202)
    pw = [w["id"] for w in ph["works"]]
    fw = [w["id"] for w in ft["works"]]
    succeed(psql, pw[:3] + fw[:2])
    psql(f"UPDATE works SET status = 'failed', error_code = 'content_policy', "
         f"finished_at = now() WHERE id = {pw[3]}")
    return {"u": u, "other": other, "photo": pw, "fitting": fw}


def ids_of(data):
    return [w["id"] for w in data["items"]]


def test_works_tabs(client, expect_ok, expect_error, gallery):
    u, pw, fw = gallery["u"], gallery["photo"], gallery["fitting"]
    everything = expect_ok(client.get("/works", token=u["token"]))
    assert ids_of(everything) == sorted(pw[:3] + fw[:2], reverse=True)
    for w in everything["items"]:
        check_work(w)
        assert w["status"] == "succeeded" and w["image_url"] and w["thumb_url"]
    assert ids_of(expect_ok(client.get("/works?tab=all", token=u["token"]))) == ids_of(everything)
    assert ids_of(expect_ok(client.get("/works?tab=photography", token=u["token"]))) == \
        pw[:3][::-1]
    assert ids_of(expect_ok(client.get("/works?tab=fitting", token=u["token"]))) == fw[:2][::-1]
    assert ids_of(expect_ok(client.get("/works?tab=favorite", token=u["token"]))) == []
    msg = expect_error(client.get("/works?tab=recent", token=u["token"]), 400, "BAD_REQUEST")
    assert msg.startswith("tab:")
    # pagination
    first = expect_ok(client.get("/works?limit=2", token=u["token"]))
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = expect_ok(client.get(f"/works?limit=2&cursor={first['next_cursor']}",
                                  token=u["token"]))
    third = expect_ok(client.get(f"/works?limit=2&cursor={second['next_cursor']}",
                                 token=u["token"]))
    assert ids_of(first) + ids_of(second) + ids_of(third) == ids_of(everything)
    assert third["next_cursor"] is None
    # nothing of someone else's
    assert expect_ok(client.get("/works", token=gallery["other"]["token"]))["items"] == []


def test_work_get_any_status(client, expect_ok, expect_error, gallery):
    u, pw, fw = gallery["u"], gallery["photo"], gallery["fitting"]
    ok = expect_ok(client.get(f"/works/{pw[0]}", token=u["token"]))
    check_work(ok)
    assert ok["status"] == "succeeded" and ok["scene_id"] == 1 and ok["type"] == "photography"
    failed = expect_ok(client.get(f"/works/{pw[3]}", token=u["token"]))
    assert failed["status"] == "failed" and failed["error"] == "content_policy"
    queued = expect_ok(client.get(f"/works/{fw[2]}", token=u["token"]))
    assert queued["status"] == "queued" and queued["image_url"] is None
    for path in (f"/works/{pw[0]}", "/works/999999999", "/works/x"):
        expect_error(client.get(path, token=gallery["other"]["token"]), 404, "NOT_FOUND")


def test_favorite(client, expect_ok, expect_error, gallery):
    u, pw = gallery["u"], gallery["photo"]
    path = f"/works/{pw[0]}/favorite"
    assert expect_ok(client.post(path, token=u["token"]))["is_favorite"] is True  # toggle
    assert ids_of(expect_ok(client.get("/works?tab=favorite", token=u["token"]))) == [pw[0]]
    assert expect_ok(client.post(path, token=u["token"], json={}))["is_favorite"] is False
    assert expect_ok(client.post(path, token=u["token"], json={"favorite": True}))["is_favorite"]
    assert expect_ok(client.post(path, token=u["token"], json={"favorite": True}))["is_favorite"]
    assert expect_ok(client.post(path, token=u["token"],
                                 json={"favorite": False}))["is_favorite"] is False
    assert expect_ok(client.post(path, token=u["token"],
                                 json={"favorite": None}))["is_favorite"] is True
    msg = expect_error(client.post(path, token=u["token"], json={"favorite": "yes"}), 400,
                       "BAD_REQUEST")
    assert msg.startswith("favorite:")
    expect_error(client.post(path, token=u["token"], json=[1]), 400, "BAD_REQUEST")
    expect_error(client.post(path, token=gallery["other"]["token"], json={"favorite": False}),
                 404, "NOT_FOUND")
    assert expect_ok(client.get(f"/works/{pw[0]}", token=u["token"]))["is_favorite"] is True


def test_delete_and_batch_delete(client, expect_ok, expect_error, psql, gallery):
    u, other, pw, fw = gallery["u"], gallery["other"], gallery["photo"], gallery["fitting"]
    expect_error(client.request("DELETE", f"/works/{pw[0]}", token=other["token"]), 404,
                 "NOT_FOUND")
    r = client.request("DELETE", f"/works/{pw[0]}", token=u["token"])
    assert r.status_code == 204 and r.headers.get("X-Request-Id")
    expect_error(client.request("DELETE", f"/works/{pw[0]}", token=u["token"]), 404, "NOT_FOUND")
    expect_error(client.get(f"/works/{pw[0]}", token=u["token"]), 404, "NOT_FOUND")
    assert pw[0] not in ids_of(expect_ok(client.get("/works", token=u["token"])))
    assert psql(f"SELECT deleted_at IS NOT NULL FROM works WHERE id = {pw[0]}")[0][0] == "t"
    # batch: only the caller's, not yet deleted ones count (duplicates once)
    theirs = expect_ok(photo(client, other, {"scene_id": 1, "asset_ids": [
        int(psql(f"INSERT INTO assets (user_id, sha256, mime, size_bytes, storage_key) VALUES "
                 f"({other['id']}, '{uuid.uuid4().hex * 2}', 'image/png', 1, 'aa/bb/c.png') "
                 f"RETURNING id")[0][0])]}), 202)["works"][0]["id"]
    body = {"ids": [pw[0], pw[1], pw[1], fw[0], theirs, 999999999]}
    assert expect_ok(client.post("/works/batch-delete", token=u["token"], json=body)) == \
        {"deleted": 2}
    assert expect_ok(client.post("/works/batch-delete", token=u["token"], json=body)) == \
        {"deleted": 0}
    assert psql(f"SELECT deleted_at IS NULL FROM works WHERE id = {theirs}")[0][0] == "t"
    assert ids_of(expect_ok(client.get("/works", token=u["token"]))) == sorted(
        [pw[2], fw[1]], reverse=True)
    for bad in ({}, {"ids": []}, {"ids": list(range(1, 102))}, {"ids": [0]}, {"ids": ["1"]},
                {"ids": 5}, {"ids": [1.5]}):
        msg = expect_error(client.post("/works/batch-delete", token=u["token"], json=bad), 400,
                           "BAD_REQUEST")
        assert msg.startswith("ids:"), msg
    assert expect_ok(client.post("/works/batch-delete", token=u["token"],
                                 json={"ids": list(range(1, 101))}))["deleted"] >= 0


# --------------------------------------------------------------------------- prompts


def gen(client, u, body):
    return client.post("/prompts/generate", token=u["token"], json=body)


def test_prompts_generate(client, expect_ok, expect_error, psql, user, unique):
    u = user(0)
    p = expect_ok(gen(client, u, {"type": "photography", "scene_id": 1,
                                  "params": {"style": "逆光", "extra": "warm tones"}}))
    assert set(p) == {"prompt", "negative_prompt"}
    assert "清新日系" in p["prompt"] and "逆光" in p["prompt"] and "warm tones" in p["prompt"]
    assert "3:4" in p["prompt"] and "{{" not in p["prompt"] and p["negative_prompt"]
    # request params come before the scene's parameters
    p2 = expect_ok(gen(client, u, {"type": "photography", "scene_id": 1,
                                   "params": {"aspect": "16:9"}}))
    assert "16:9" in p2["prompt"] and "3:4" not in p2["prompt"]
    # a scene's own template wins over the general one
    p3 = expect_ok(gen(client, u, {"type": "photography", "scene_id": 3}))
    assert "hanfu" in p3["prompt"] and "2:3" in p3["prompt"]
    # fitting needs no scene
    f = expect_ok(gen(client, u, {"type": "fitting", "params": {"extra": "长裙"}}))
    assert "长裙" in f["prompt"]
    # the newest active template of a scene is used; an inactive one is not
    sid = psql(f"INSERT INTO scenes (name, category, parameters) VALUES ('场景{unique}', "
               f"'测试{unique}', '{{\"mood\":\"calm\"}}') RETURNING id")[0][0]
    psql(f"INSERT INTO prompt_templates (name, type, scene_id, template, negative_prompt) VALUES "
         f"('old', 'photography', {sid}, 'OLD {{{{scene}}}}', 'n1'), "
         f"('new', 'photography', {sid}, 'NEW {{{{ scene }}}}/{{{{category}}}}/{{{{mood}}}}/"
         f"{{{{nope}}}}', 'n2 {{{{mood}}}}')")
    psql(f"INSERT INTO prompt_templates (name, type, scene_id, template, active) VALUES "
         f"('off', 'photography', {sid}, 'OFF', false)")
    p4 = expect_ok(gen(client, u, {"type": "photography", "scene_id": int(sid)}))
    assert p4 == {"prompt": f"NEW 场景{unique}/测试{unique}/calm/", "negative_prompt": "n2 calm"}


PROMPT_BAD = [
    ({}, 400, "type"),
    ({"type": "video"}, 400, "type"),
    ({"type": 1}, 400, "type"),
    ({"type": "photography"}, 400, "scene_id"),
    ({"type": "photography", "scene_id": "1"}, 400, "scene_id"),
    ({"type": "photography", "scene_id": 1, "params": []}, 400, "params"),
    ({"type": "photography", "scene_id": 6}, 404, None),
    ({"type": "photography", "scene_id": 999999999}, 404, None),
    ({"type": "fitting", "scene_id": 999999999}, 404, None),
]


@pytest.mark.parametrize("body,status,field", PROMPT_BAD)
def test_prompts_validation(client, expect_error, user, body, status, field):
    u = user(0)
    msg = expect_error(gen(client, u, body), status, "BAD_REQUEST" if status == 400 else
                       "NOT_FOUND")
    if field:
        assert msg.startswith(field + ":"), msg
    if body == {"type": "photography"}:
        assert msg == "scene_id: required"


def test_prompts_without_template(client, expect_ok, expect_error, psql, user):
    u = user(0)
    active = [r[0] for r in psql("SELECT id FROM prompt_templates WHERE type = 'fitting' "
                                 "AND active")]
    ids = ",".join(active) or "0"
    psql(f"UPDATE prompt_templates SET active = false WHERE id IN ({ids})")
    try:
        expect_error(gen(client, u, {"type": "fitting"}), 404, "NOT_FOUND")
    finally:
        psql(f"UPDATE prompt_templates SET active = true WHERE id IN ({ids})")
    expect_ok(gen(client, u, {"type": "fitting"}))


# --------------------------------------------------------------------------- scene cache


def test_scene_cache_stale_until_invalidated(client, expect_ok, psql, ctl, redis_cli, unique):
    cat = "缓存" + unique
    # an empty list is not cached (anyone may ask for any category name)
    assert expect_ok(client.get("/scenes", params={"category": cat})) == []
    assert redis_cli("KEYS", f"cache:scenes:*:list:c:{cat}").strip() == ""
    sid = int(psql(f"INSERT INTO scenes (name, category) VALUES ('甲{unique}', '{cat}') "
                   f"RETURNING id")[0][0])
    assert [s["id"] for s in expect_ok(client.get("/scenes", params={"category": cat}))] == [sid]
    # the list of one is cached now: a second scene stays unseen until the invalidation
    sid2 = int(psql(f"INSERT INTO scenes (name, category, active) VALUES ('丙{unique}', "
                    f"'{cat}', false) RETURNING id")[0][0])
    psql(f"UPDATE scenes SET active = true WHERE id = {sid2}")
    assert [s["id"] for s in expect_ok(client.get("/scenes", params={"category": cat}))] == [sid]
    psql(f"DELETE FROM scenes WHERE id = {sid2}")
    one = expect_ok(client.get(f"/scenes/{sid}"))  # never cached before: fresh
    assert one["name"] == f"甲{unique}"
    psql(f"UPDATE scenes SET name = '乙{unique}' WHERE id = {sid}")
    assert expect_ok(client.get(f"/scenes/{sid}"))["name"] == f"甲{unique}"
    gen_before = redis_cli("GET", "cache:scenes:gen") or "0"
    key = f"cache:scenes:{gen_before}:id:{sid}"
    ttl = int(redis_cli("TTL", key))
    assert 0 < ttl <= 300
    out = ctl("cache", "invalidate")
    assert "invalidated" in out
    assert int(redis_cli("GET", "cache:scenes:gen")) == int(gen_before) + 1
    assert expect_ok(client.get(f"/scenes/{sid}"))["name"] == f"乙{unique}"
    listed = expect_ok(client.get("/scenes", params={"category": cat}))
    assert [s["id"] for s in listed] == [sid] and listed[0]["name"] == f"乙{unique}"
    # a deactivated scene disappears after the next invalidation
    psql(f"UPDATE scenes SET active = false WHERE id = {sid}")
    ctl("cache", "invalidate")
    assert expect_ok(client.get("/scenes", params={"category": cat})) == []
    r = client.get(f"/scenes/{sid}")
    assert r.status_code == 404


def test_seed_invalidates_scene_cache(ctl, redis_cli):
    before = int(redis_cli("GET", "cache:scenes:gen") or "0")
    ctl("seed", "scripts/seed-demo.sql")
    assert int(redis_cli("GET", "cache:scenes:gen") or "0") > before


def test_scene_list_cached_matches_database(client, expect_ok, ctl):
    ctl("cache", "invalidate")
    fresh = expect_ok(client.get("/scenes"))
    cached = expect_ok(client.get("/scenes"))
    assert fresh == cached
    assert [s["id"] for s in fresh][:1] and all(
        set(s) == {"id", "name", "category", "thumbnail_url", "parameters"} for s in fresh)
    ids = [s["id"] for s in fresh]
    assert 6 not in ids and {1, 2, 3, 4, 5} <= set(ids)
