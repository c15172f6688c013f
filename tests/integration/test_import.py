"""The WeChat cloud database moving in and back out (docs/migration.md "Data in and out"):
`aiphotoctl import users|works|scenes|orders FILE`, `aiphotoctl export users|works|orders
[--since T]` and POST /api/v1/admin/migrate/:collection with seed 000's body.

Every run names its documents with a fresh prefix, so the suite can run against a stack that
already holds earlier runs' imports."""

import json
import os
import pathlib
import re
import subprocess
import time
import urllib.parse
import uuid

import pytest

from conftest import wait_database_back

from adminkit import admins  # noqa: F401

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphotoctl"
STACK = REPO / "scripts" / "stack"

N_USERS = 10000
N_WORKS = 50000
N_SCENES = 5
PROGRESS = re.compile(r"^import (\w+): (\d+)/(\d+) inserted (\d+) updated (\d+) skipped (\d+) "
                      r"malformed (\d+) rejected (\d+)$", re.M)


# --------------------------------------------------------------------------- helpers


def ctl_run(*args, env=None, timeout=300):
    assert CTL.exists(), f"{CTL} is missing: run `make` first"
    return subprocess.run([str(CTL), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def write_lines(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(d if isinstance(d, str) else json.dumps(d, ensure_ascii=False))
            f.write("\n")
    return path


def imported(path, collection, env=None, status=0):
    """Runs the import; checks its exit status and last progress line; returns the totals."""
    proc = ctl_run("import", collection, path, env=env)
    assert proc.returncode == status, \
        f"import {collection} exited {proc.returncode}: {proc.stderr[-2000:]}"
    lines = PROGRESS.findall(proc.stderr)
    assert lines, f"no progress line: {proc.stderr[-500:]}"
    last = lines[-1]
    totals = json.loads(proc.stdout)
    assert last[0] == collection and last[1] == last[2] == str(totals["documents"]), last
    assert [int(x) for x in last[3:]] == [totals[k] for k in
                                          ("inserted", "updated", "skipped", "malformed",
                                           "rejected")], (last, totals)
    totals["stderr"] = proc.stderr
    return totals


def counts(t):
    return {k: t[k] for k in ("inserted", "updated", "skipped", "malformed", "rejected")}


def date(ms):
    return {"$date": ms}


def user_doc(run, i, credits):
    return {"_id": f"{run}u{i}", "_openid": f"o{run}_{i}", "openid": f"o{run}_{i}",
            "nickname": f"用户{i}", "avatar_url": f"https://thirdwx.qlogo.cn/{run}/{i}/132",
            "credits": credits, "invite_code": f"{run[:4]}{i:06d}",
            "created_at": date(1700000000000 + i * 1000),
            "updated_at": {"$date": "2024-06-01T08:00:00.000Z"}}


STATUSES = ["completed", "failed", "pending", "processing"]


def work_doc(run, i, n_users):
    status = STATUSES[i % 4]
    images = ([f"cloud://prod-1a2b.7072-prod/works/{run}/{i}_0.jpg",
               f"https://7072-prod.tcb.qcloud.la/works/{run}/{i}_1.jpg"]
              if status == "completed" else [])
    return {"_id": f"{run}w{i}", "_openid": f"o{run}_{i % n_users}",
            "user_openid": f"o{run}_{i % n_users}",
            "type": "fitting" if i % 3 == 0 else "photography", "status": status,
            "task_id": f"t{i}", "images": images,
            "parameters": {"style": "film", "aspect": "3:4", "n": i},
            "scene_id": f"{run}s{i % (N_SCENES + 2)}", "is_favorite": i % 10 == 0,
            "created_at": date(1710000000000 + i)}


def scene_doc(run, i):
    return {"_id": f"{run}s{i}", "name": f"场景{i}", "category": "outdoor",
            "thumbnail_url": f"/images/scenes/{i}.jpg",
            "parameters": {"lighting": "natural", "background": "garden"},
            "is_active": True, "created_at": date(1690000000000)}


def user_credits(psql, run):
    rows = psql(f"SELECT legacy_id, credits FROM users WHERE legacy_id LIKE '{run}u%'")
    return {lid: int(c) for lid, c in rows}


def scalar(psql, sql):
    return psql(sql)[0][0]


def audit_rows(psql, run):
    """The admin audit rows of this run's import batches: [actor, admin_id, target, after]."""
    return [[actor, admin, target, json.loads(after)] for actor, admin, target, after in psql(
        f"SELECT actor, admin_id, target_id, after FROM admin_audit WHERE action = "
        f"'collection.import' AND after->>'from' LIKE '{run}%' ORDER BY id")]


# --------------------------------------------------------------------------- the big import


def test_import_big_export_twice_then_changed(tmp_path, psql, run_audit):
    run = "b" + uuid.uuid4().hex[:8]
    started = time.monotonic()
    credits = {f"{run}u{i}": (i * 37) % 1000 for i in range(N_USERS)}
    users = [user_doc(run, i, credits[f"{run}u{i}"]) for i in range(N_USERS)]
    works = [work_doc(run, i, N_USERS) for i in range(N_WORKS)]
    files = {"users": write_lines(tmp_path / "users.json", users),
             "scenes": write_lines(tmp_path / "scenes.json",
                                   [scene_doc(run, i) for i in range(N_SCENES)]),
             "works": write_lines(tmp_path / "works.json", works)}
    sizes = {"users": N_USERS, "scenes": N_SCENES, "works": N_WORKS}

    for name in ("users", "scenes", "works"):
        t = imported(files[name], name)
        print(f"import {name}: {time.monotonic() - started:.1f} s")
        assert counts(t) == {"inserted": sizes[name], "updated": 0, "skipped": 0,
                             "malformed": 0, "rejected": 0}, (name, t)
    first = time.monotonic() - started

    # balances exact: one migration row per user with credits, keyed by the cloud _id
    assert user_credits(psql, run) == credits
    ledger = psql(f"SELECT l.idempotency_key, l.delta, u.legacy_id FROM credit_ledger l "
                  f"JOIN users u ON u.id = l.user_id WHERE u.legacy_id LIKE '{run}u%'")
    assert len(ledger) == sum(1 for c in credits.values() if c > 0)
    assert all(k == f"migration:{lid}" and int(d) == credits[lid] for k, d, lid in ledger)
    # every user bound to the mini program, with the invite code as given (upper-cased)
    assert scalar(psql, f"SELECT count(*) FROM users u JOIN wechat_identities i "
                        f"ON i.user_id = u.id AND i.app_kind = 'mp' AND i.openid = 'o' || "
                        f"substr(u.legacy_id, 1, 9) || '_' || substr(u.legacy_id, 11) "
                        f"WHERE u.legacy_id LIKE '{run}u%' AND u.invite_code = "
                        f"upper('{run[:4]}') || lpad(substr(u.legacy_id, 11), 6, '0')") \
        == str(N_USERS)
    # works: statuses mapped, the first image kept as given, known scenes linked
    rows = dict(psql(f"SELECT status, count(*) FROM works WHERE legacy_id LIKE '{run}w%' "
                     f"GROUP BY status"))
    assert rows == {"succeeded": str(N_WORKS // 4), "failed": str(N_WORKS // 4),
                    "canceled": str(N_WORKS // 2)}, rows
    w0 = psql(f"SELECT w.image_url, s.legacy_id, w.is_favorite, w.task_id IS NULL, "
              f"w.legacy_doc->'images'->>1 FROM works w LEFT JOIN scenes s ON "
              f"s.id = w.scene_id WHERE w.legacy_id = '{run}w0'")[0]
    assert w0 == [works[0]["images"][0], f"{run}s0", "t", "t", works[0]["images"][1]], w0
    linked = int(scalar(psql, f"SELECT count(scene_id) FROM works WHERE legacy_id LIKE "
                              f"'{run}w%'"))
    assert linked == sum(1 for i in range(N_WORKS) if i % (N_SCENES + 2) < N_SCENES)
    status, out = run_audit()
    assert status == 0, out

    # each batch that changed something is one audit row of aiphotoctl's
    batches = audit_rows(psql, run)
    assert len(batches) == N_USERS // 500 + 1 + N_WORKS // 500
    assert all(a == "aiphotoctl" and admin is None for a, admin, _, _ in batches)
    assert sum(after["inserted"] for _, _, _, after in batches) == N_USERS + N_SCENES + N_WORKS

    # the same export again: nothing changes (and no audit row is written)
    for name in ("users", "scenes", "works"):
        t = imported(files[name], name)
        assert counts(t) == {"inserted": 0, "updated": 0, "skipped": sizes[name],
                             "malformed": 0, "rejected": 0}, (name, t)
    assert user_credits(psql, run) == credits
    assert len(audit_rows(psql, run)) == len(batches)

    # 100 changed users (60 balances, 40 nicknames) and 100 changed works
    for i in range(100):
        u = users[i * 97]
        if i < 60:
            u["credits"] += 25 if i % 2 or u["credits"] < 10 else -10
            credits[u["_id"]] = u["credits"]
        else:
            u["nickname"] = f"改名{i}"
        works[i * 499]["is_favorite"] = not works[i * 499]["is_favorite"]
    write_lines(files["users"], users)
    write_lines(files["works"], works)
    for name in ("users", "works"):
        t = imported(files[name], name)
        assert counts(t) == {"inserted": 0, "updated": 100, "skipped": sizes[name] - 100,
                             "malformed": 0, "rejected": 0}, (name, t)
    assert user_credits(psql, run) == credits
    # one more migration row per changed balance (the first one for a user who had none)
    keys = psql(f"SELECT l.idempotency_key, u.legacy_id FROM credit_ledger l JOIN users u "
                f"ON u.id = l.user_id WHERE u.legacy_id LIKE '{run}u%'")
    assert len(keys) == len(ledger) + 60
    assert {k for k, lid in keys if k != f"migration:{lid}"} == \
        {f"migration:{users[i * 97]['_id']}:2" for i in range(60)
         if (i * 97 * 37) % 1000 > 0}
    assert scalar(psql, f"SELECT count(*) FROM works WHERE legacy_id LIKE '{run}w%' "
                        f"AND is_favorite") == str(sum(1 for w in works if w["is_favorite"]))
    status, out = run_audit()
    assert status == 0, out
    total = time.monotonic() - started
    print(f"import: first pass {first:.1f} s, all passes {total:.1f} s")
    assert total < 120, f"the big import took {total:.0f} s"


def test_import_reports_malformed_lines_and_applies_the_rest(tmp_path, psql):
    run = "m" + uuid.uuid4().hex[:8]
    good = user_doc(run, 1, 50)
    lines = [
        json.dumps(good, ensure_ascii=False),                           # 1
        '{"_id": "%sbad2", "openid": "x" "credits": 3}' % run,           # 2 not JSON
        json.dumps({"openid": f"o{run}_3", "credits": 3}),               # 3 no _id
        json.dumps({"_id": f"{run}bad4", "openid": "y", "credits": "5"}),  # 4 wrong type
        "",                                                              # 5 blank: ignored
        json.dumps(user_doc(run, 1, 99), ensure_ascii=False),            # 6 the same _id again
        json.dumps(user_doc(run, 7, 70), ensure_ascii=False),            # 7
        json.dumps({"_id": f"{run}bad8", "openid": f"o{run}_7"}),        # 8 openid of line 7
    ]
    t = imported(write_lines(tmp_path / "users.json", lines), "users", status=3)
    assert counts(t) == {"inserted": 2, "updated": 0, "skipped": 0, "malformed": 4,
                         "rejected": 1}, t
    err = t["stderr"]
    assert f'line 2 _id "{run}bad2": malformed: document: not JSON' in err, err
    assert "line 3: malformed: _id: is required" in err, err
    assert f'line 4 _id "{run}bad4": malformed: credits: must be a whole number' in err, err
    assert f'line 6 _id "{run}u1": malformed: _id: came before in this import (line 1)' in err
    assert f'line 8 _id "{run}bad8": rejected: openid: another document of this batch' in err
    assert user_credits(psql, run) == {f"{run}u1": 50, f"{run}u7": 70}
    assert audit_rows(psql, run) == [["aiphotoctl", None, "users", {
        "inserted": 2, "updated": 0, "skipped": 0, "rejected": 1, "from": f"{run}u1",
        "to": f"{run}bad8"}]]

    works = [work_doc(run, 1, 2), dict(work_doc(run, 2, 2), user_openid="o-nobody",
                                       _openid="o-nobody"),
             dict(work_doc(run, 3, 2), status="done")]
    works[0]["user_openid"] = works[0]["_openid"] = f"o{run}_1"
    t = imported(write_lines(tmp_path / "works.json", works), "works", status=3)
    assert counts(t) == {"inserted": 1, "updated": 0, "skipped": 0, "malformed": 1,
                         "rejected": 1}, t
    assert f'line 2 _id "{run}w2": rejected: user_openid: no imported user' in t["stderr"]
    assert f'line 3 _id "{run}w3": malformed: status:' in t["stderr"]


def test_reimport_keeps_an_image_already_fetched(tmp_path, psql):
    """dispatcher/cloudfetch copies a cloud:// image into the media store and points image_url
    at it: a changed document with the same first image keeps that, a new first image wins."""
    run = "f" + uuid.uuid4().hex[:8]
    imported(write_lines(tmp_path / "u.json", [user_doc(run, 0, 0)]), "users")
    work = work_doc(run, 0, 1)
    path = write_lines(tmp_path / "w.json", [work])
    imported(path, "works")
    psql(f"UPDATE works SET image_url = '/media/w/{run}.jpg' WHERE legacy_id = '{run}w0'")
    work["is_favorite"] = not work["is_favorite"]
    assert counts(imported(write_lines(path, [work]), "works"))["updated"] == 1
    assert psql(f"SELECT image_url FROM works WHERE legacy_id = '{run}w0'") == \
        [[f"/media/w/{run}.jpg"]]
    work["images"] = ["cloud://prod-1a2b.7072-prod/works/new.jpg"] + work["images"]
    assert counts(imported(write_lines(path, [work]), "works"))["updated"] == 1
    assert psql(f"SELECT image_url FROM works WHERE legacy_id = '{run}w0'") == \
        [[work["images"][0]]]


def test_import_usage_and_unreadable_file(tmp_path):
    assert ctl_run("import", "tasks", tmp_path / "x").returncode == 2
    assert ctl_run("export", "scenes").returncode == 2
    assert ctl_run("export", "users", "--since", "yesterday").returncode == 2
    proc = ctl_run("import", "users", tmp_path / "missing.json")
    assert proc.returncode == 1 and "cannot read" in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- over HTTP


def seed_body(run):
    """What seed 000's data-migration.js posts: {data: collection.get().data}; documents read
    by a cloud function carry dates as JavaScript Dates, which axios sends as ISO strings."""
    return {
        "users": {"data": [{"_id": f"{run}hu{i}", "_openid": f"o{run}_h{i}",
                            "openid": f"o{run}_h{i}", "nickname": f"云用户{i}",
                            "avatar_url": "", "credits": 10 * i, "invite_code": f"H{run[:5]}{i}",
                            "created_at": "2024-03-01T10:00:00.000Z",
                            "updated_at": "2024-05-01T10:00:00.000Z"} for i in range(1, 4)]},
        "works": {"data": [{"_id": f"{run}hw{i}", "_openid": f"o{run}_h1",
                            "user_openid": f"o{run}_h1", "type": "photography",
                            "status": "completed", "task_id": f"task{i}",
                            "images": [f"cloud://env-1.656e/works/{i}.png"],
                            "parameters": {"style": "studio"}, "scene_id": f"{run}hs1",
                            "is_favorite": False, "created_at": "2024-05-02T10:00:00.000Z"}
                           for i in range(1, 3)]},
        "scenes": {"data": [{"_id": f"{run}hs1", "name": "户外花园", "category": "outdoor",
                             "thumbnail_url": "/images/scenes/garden.jpg",
                             "parameters": {"lighting": "natural", "background": "garden"},
                             "is_active": True, "created_at": "2024-01-01T00:00:00.000Z"}]},
    }


def test_migrate_route_takes_seed_000s_body(client, expect_ok, expect_error, token_for,
                                            make_user, psql, sim, audit, admins):
    run = "h" + uuid.uuid4().hex[:8]
    admin = admins["operator"]["token"]
    body = seed_body(run)
    # in the cloud function's order: users, works, then scenes
    for name, n in (("users", 3), ("works", 2), ("scenes", 1)):
        data = expect_ok(client.post(f"/admin/migrate/{name}", token=admin, json=body[name]))
        assert data == {"inserted": n, "updated": 0, "skipped": 0, "malformed": [],
                        "rejected": []}, (name, data)
    # one audit row per batch, the operator's
    me = str(admins["operator"]["id"])
    assert [(a[1], a[2], a[3]["inserted"]) for a in audit_rows(psql, run)] == \
        [(me, "users", 3), (me, "works", 2), (me, "scenes", 1)]
    # the scene imported last is linked to the works that name it
    assert psql(f"SELECT count(*) FROM works w JOIN scenes s ON s.id = w.scene_id "
                f"WHERE w.legacy_id LIKE '{run}hw%' AND s.legacy_id = '{run}hs1'") == [["2"]]
    assert user_credits(psql, run + "h") == {f"{run}hu1": 10, f"{run}hu2": 20, f"{run}hu3": 30}
    # the imported user signs in with the mini program as before: the same user, balance kept
    code = sim.mp_code(openid=f"o{run}_h3")["code"]
    login = expect_ok(client.post("/auth/mp/login", json={"code": code}))
    me = expect_ok(client.get("/user/me", token=login["token"]))
    assert (me["credits"], me["nickname"], me["invite_code"]) == \
        (30, "云用户3", f"H{run[:5]}3".upper())
    assert psql(f"SELECT legacy_id FROM users WHERE id = {me['id']}") == [[f"{run}hu3"]]
    # a bare array works too; posting again skips; a changed document updates
    users = body["users"]["data"]
    users[1]["credits"] = 5
    data = expect_ok(client.post("/admin/migrate/users", token=admin,
                                 json=users + [{"_id": 7}, {"_id": f"{run}x"}, "text"]))
    assert {k: data[k] for k in ("inserted", "updated", "skipped")} == \
        {"inserted": 0, "updated": 1, "skipped": 2}, data
    assert data["malformed"] == [
        {"index": 3, "_id": None, "reason": "_id: must be a string of 1-128 characters"},
        {"index": 4, "_id": f"{run}x", "reason": "openid: is required (or _openid)"},
        {"index": 5, "_id": None, "reason": "document: must be a JSON object"}], data
    assert user_credits(psql, run + "h")[f"{run}hu2"] == 5
    assert audit_rows(psql, run)[-1][3]["updated"] == 1
    data = expect_ok(client.post("/admin/migrate/works", token=admin, json={"data": [
        dict(body["works"]["data"][0], user_openid="o-unknown", _openid="o-unknown")]}))
    assert data["rejected"] == [{"index": 0, "_id": f"{run}hw1", "reason":
                                 "user_openid: no imported user has this openid "
                                 "(import users first)"}], data
    assert len(audit_rows(psql, run)) == 4  # the refused work changed nothing: no row

    expect_error(client.post("/admin/migrate/users", json=body["users"]), 401, "UNAUTHORIZED")
    user = token_for(make_user())
    expect_error(client.post("/admin/migrate/users", token=user, json=body["users"]), 403,
                 "FORBIDDEN")
    expect_error(client.post("/admin/migrate/users", token=admins["support"]["token"],
                             json=body["users"]), 403, "FORBIDDEN")
    expect_error(client.post("/admin/migrate/tasks", token=admin, json=body["users"]), 404,
                 "NOT_FOUND")
    for bad in ({"data": "x"}, {"docs": []}, 5):
        expect_error(client.post("/admin/migrate/users", token=admin, json=bad), 400,
                     "BAD_REQUEST")
    expect_error(client.post("/admin/migrate/users", token=admin, data="{not json",
                             headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")


# --------------------------------------------------------------------------- export and back


def scratch_url(base, name):
    url = base.replace("/aiphoto?", f"/{name}?", 1)
    assert url != base, f"cannot derive a scratch URL from {base}"
    return url


def export_lines(collection, since=None, env=None):
    args = ["export", collection] + (["--since", since] if since else [])
    proc = ctl_run(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == f"export {collection}: " \
        f"{len(proc.stdout.splitlines())} documents", proc.stderr
    return proc.stdout.splitlines()


def test_export_then_import_round_trips(tmp_path, client, expect_ok, psql, sim, audit):
    run = "r" + uuid.uuid4().hex[:8]
    # what changes from now on (--since takes milliseconds too); the cloud documents are
    # stamped with this moment
    since_ms = int(time.time() * 1000)
    now = date(since_ms)
    since = str(since_ms)

    # made on the server: a mini-program login, a check-in, a paid order and a finished work
    openid = f"o{run}_srv"
    code = sim.mp_code(openid=openid)["code"]
    login = expect_ok(client.post("/auth/mp/login", json={"code": code}))
    uid = login["user"]["id"]
    expect_ok(client.post("/credits/checkin", token=login["token"]))
    psql(f"INSERT INTO orders (out_trade_no, user_id, description, amount_fen, credits, status, "
         f"appid, mchid, transaction_id, paid_at) VALUES ('{run}PAID1', {uid}, '100 积分', 990, "
         f"100, 'paid', 'wxapp', '1900000109', '{run}TX1', now())")
    scene = scalar(psql, "SELECT id FROM scenes WHERE legacy_id IS NULL ORDER BY id LIMIT 1")
    task = scalar(psql, f"INSERT INTO tasks (user_id, type, count, price, scene_id, params) "
                        f"VALUES ({uid}, 'photography', 1, 0, {scene}, '{{\"style\":\"film\"}}') "
                        f"RETURNING id")
    psql(f"INSERT INTO works (task_id, user_id, type, status, scene_id, image_url) VALUES "
         f"({task}, {uid}, 'photography', 'succeeded', {scene}, '/media/w/{run}.png')")

    # from the cloud, changed just now
    users = [dict(user_doc(run, i, 100 + i), created_at=now, updated_at=now) for i in range(3)]
    works = [dict(work_doc(run, i, 3), created_at=now) for i in range(8)]
    orders = [{"_id": f"{run}o{i}", "_openid": f"o{run}_{i}", "user_openid": f"o{run}_{i}",
               "type": "recharge", "amount": [9.9, 30, 0.01][i], "credits": [100, 330, 1][i],
               "status": "paid", "out_trade_no": f"CLOUD{run}{i}", "created_at": now}
              for i in range(3)]
    imported(write_lines(tmp_path / "u.json", users), "users")
    imported(write_lines(tmp_path / "w.json", works), "works")
    imported(write_lines(tmp_path / "o.json", orders), "orders")

    exports = {c: export_lines(c, since) for c in ("users", "works", "orders")}
    docs = {c: [json.loads(line) for line in exports[c]] for c in exports}
    assert [d["_id"] for d in docs["users"]] == [f"aiphoto-u{uid}"] + [u["_id"] for u in users]
    srv = docs["users"][0]
    assert srv["_openid"] == srv["openid"] == openid
    balance = int(scalar(psql, f"SELECT credits FROM users WHERE id = {uid}"))
    assert srv["credits"] == balance > 0 and srv["aiphoto_handover"]["credits"] == balance
    assert docs["users"][1]["credits"] == 100 and docs["users"][1]["nickname"] == "用户0"
    swork = docs["works"][0]
    assert swork["_id"].startswith("aiphoto-w") and swork["status"] == "completed", swork
    assert swork["images"] == [f"/media/w/{run}.png"] and swork["user_openid"] == openid
    assert swork["task_id"] == f"aiphoto-t{task}" and swork["parameters"] == {"style": "film"}
    assert swork["scene_id"] == f"aiphoto-s{scene}"
    cloud = {d["_id"]: d for d in docs["works"][1:]}
    for w in works:
        got = cloud[w["_id"]]
        for key in ("images", "parameters", "is_favorite", "type", "status", "task_id",
                    "user_openid", "scene_id"):
            assert got[key] == w[key], (key, got, w)
    assert [(o["_id"], o["amount"], o["credits"]) for o in docs["orders"]] == \
        [(o["_id"], o["amount"], o["credits"]) for o in orders] + \
        [(f"aiphoto-o{run}PAID1", 9.9, 100)]

    # back into this server: nothing changes, and the export is the same again
    files = {c: write_lines(tmp_path / f"e_{c}.json", exports[c]) for c in exports}
    for c in ("users", "works", "orders"):
        t = imported(files[c], c)
        assert counts(t) == {"inserted": 0, "updated": 0, "skipped": len(exports[c]),
                             "malformed": 0, "rejected": 0}, (c, t)
        assert export_lines(c, since) == exports[c], c

    # into an empty database: the export from there is the same, line for line
    base = os.environ["DATABASE_URL"]
    name = "imp_" + uuid.uuid4().hex[:10]
    psql(f"CREATE DATABASE {name}")
    try:
        env = dict(os.environ, DATABASE_URL=scratch_url(base, name))
        assert ctl_run("migrate", env=env).returncode == 0
        for c in ("users", "works", "orders"):
            t = imported(files[c], c, env=env)
            assert t["inserted"] == len(exports[c]), (c, t)
            assert export_lines(c, env=env) == exports[c], c
        status = ctl_run("audit", env=env)
        assert status.returncode == 0, status.stdout
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    # the rollback, then forward again: the user spent 3 in the cloud after the export
    assert balance >= 3, balance
    back = dict(srv, credits=balance - 3)
    t = imported(write_lines(tmp_path / "back.json", [back]), "users")
    assert counts(t)["updated"] == 1, t
    assert int(scalar(psql, f"SELECT credits FROM users WHERE id = {uid}")) == balance - 3
    assert psql(f"SELECT delta, idempotency_key FROM credit_ledger WHERE user_id = {uid} "
                f"AND kind = 'migration'") == [["-3", f"migration:aiphoto-u{uid}"]]
    t = imported(tmp_path / "back.json", "users")
    assert counts(t)["skipped"] == 1, t
    # --since leaves out what did not change since
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert export_lines("users", later) == []


# --------------------------------------------------------------------------- database down


def stack(*args):
    proc = subprocess.run([str(STACK), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"scripts/stack {' '.join(args)}: {proc.stderr[-1000:]}"


def test_import_with_the_database_down_fails_cleanly(tmp_path, client, psql):
    run = "d" + uuid.uuid4().hex[:8]
    path = write_lines(tmp_path / "users.json", [user_doc(run, i, 5) for i in range(20)])
    try:
        stack("pg-stop")
        proc = ctl_run("import", "users", path, timeout=60)
    finally:
        stack("pg-start")
        wait_database_back()
    assert proc.returncode == 1, proc.stderr
    assert "the database is unavailable (UNAVAILABLE)" in proc.stderr, proc.stderr
    assert "run the same command again" in proc.stderr
    assert proc.stdout == ""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if client.get("/health", timeout=3).status_code == 200:
                break
        except Exception:  # connection trouble while it comes back
            pass
        time.sleep(0.2)
    assert user_credits(psql, run) == {}
    t = imported(path, "users")
    assert counts(t)["inserted"] == 20, t
