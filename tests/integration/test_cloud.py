"""The cloud-function compatibility layer (handlers/cloud.c) through lighttpd.

The mini program's adapter (seed 000's api-adapter.js) POSTs each cloud event {action, …} to
/api/<function>/<action> (or one of its mapped paths such as /api/auth/register), and
/api/v1/cloud/:function takes the action from the event.  Every answer is JSON in the cloud
functions' shape {success, data | code, message}, with the API's HTTP status; documents are
shaped like the cloud collections (_id strings, user_openid, images, is_favorite).
"""

import json
import uuid

import pytest
import requests

from conftest import b64url_decode
from test_dispatch import png, run_dispatch, dispatch_until_done, assert_money

TIMEOUT = 10


@pytest.fixture(autouse=True)
def _audited(audit):
    yield


class Cloud:
    def __init__(self, base):
        self.base = base
        self.session = requests.Session()

    def raw(self, path, body=None, token=None, method="POST", headers=None):
        # one connection per request (see conftest.Client)
        h = {"Authorization": f"Bearer {token or ''}", "Connection": "close"}
        h.update(headers or {})
        return self.session.request(method, self.base + path, json=body, headers=h,
                                    timeout=TIMEOUT)

    def call(self, path, body, token=None, status=200, headers=None):
        """POSTs an event, checks the status and the cloud shape, returns the body."""
        resp = self.raw(path, body, token, headers=headers)
        assert resp.headers.get("Content-Type", "").startswith("application/json"), \
            f"{path}: {resp.status_code} {resp.headers.get('Content-Type')} {resp.text[:200]}"
        doc = resp.json()
        assert resp.status_code == status, f"{path} {body}: {resp.status_code} {doc}"
        assert doc["success"] is (status < 300), doc
        if status >= 300:
            assert isinstance(doc.get("message"), str) and doc["message"], doc
        return doc

    def fn(self, function, action, token=None, status=200, **fields):
        return self.call(f"/api/{function}/{action}", dict(fields, action=action), token, status)


@pytest.fixture
def cloud(base_url):
    c = Cloud(base_url)
    yield c
    c.session.close()


@pytest.fixture
def mp_user(cloud, sim):
    """A mini-program user registered through user/register with a jscode2session code."""
    def make(**profile):
        openid = "o" + uuid.uuid4().hex[:27]
        code = sim.mp_code(openid=openid)["code"]
        doc = cloud.fn("user", "register", code=code, **profile)["data"]
        assert doc["openid"] == openid
        return {"openid": openid, "token": doc["token"], "id": int(doc["_id"]), "doc": doc}
    return make


def grant(psql, user_id, credits):
    """Credits through the ledger (kind admin), so the audit stays clean."""
    psql(f"WITH u AS (UPDATE users SET credits = credits + {credits} WHERE id = {user_id} "
         f"RETURNING id, credits) INSERT INTO credit_ledger (user_id, delta, balance_after, kind, "
         f"idempotency_key, memo) SELECT id, {credits}, credits, 'admin', "
         f"'test:{uuid.uuid4().hex}', 'test' FROM u")


def upload(client, expect_ok, token, rgb):
    resp = client.request("POST", "/uploads", token=token, headers={"Content-Type": "image/png"},
                          data=png(rgb=rgb))
    return expect_ok(resp, 201)


# --------------------------------------------------------------------------- shapes and routing


def test_unknown_function_or_action_is_cloud_json(cloud):
    for path, body in (("/api/nosuch/act", {"action": "act"}),
                       ("/api/user/deleteEverything", {"action": "deleteEverything"}),
                       ("/api/v1/cloud/api", {"action": "nosuch"}),
                       ("/api/v1/cloud/api", {"pageSize": 3}),
                       ("/api/v1/cloud/queue", {"action": "addTask"}),
                       ("/api/lonely", {"action": "x"})):
        doc = cloud.call(path, body, status=400)
        assert doc["message"] == "未知操作", (path, doc)


def test_nothing_under_api_answers_html(cloud):
    for method, path in (("GET", "/api/user/register"), ("POST", "/api/a/b/c"),
                         ("GET", "/api/"), ("PUT", "/api/works"),
                         ("DELETE", "/api/v1")):
        resp = cloud.raw(path, None if method == "GET" else {"action": "x"}, method=method)
        assert resp.status_code in (404, 405), (method, path, resp.status_code)
        assert resp.headers["Content-Type"].startswith("application/json"), (path, resp.text)
        assert resp.json()["success"] is False
    # the API itself is untouched: an unknown /api/v1 path is a 404, never a cloud action
    resp = cloud.raw("/api/v1/nosuch", {"action": "getScenes"})
    assert resp.status_code == 404 and resp.json()["code"] == "NOT_FOUND"


def test_bad_event_bodies(cloud):
    resp = cloud.session.post(cloud.base + "/api/scene/getScenes", data="{nope",
                              headers={"Content-Type": "application/json",
                                       "Connection": "close"}, timeout=TIMEOUT)
    assert resp.status_code == 400 and resp.json()["success"] is False
    resp = cloud.session.post(cloud.base + "/api/scene/getScenes", data="action=getScenes",
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "Connection": "close"},
                              timeout=TIMEOUT)
    assert resp.status_code == 415 and resp.json()["success"] is False
    doc = cloud.call("/api/scene/getScenes", ["getScenes"], status=400)
    assert "event" in doc["message"]


# --------------------------------------------------------------------------- user


def test_register_with_code_profile_and_again(cloud, sim, mp_user, psql):
    u = mp_user(userInfo={"nickName": "云端用户", "avatarUrl": "https://example.com/a.png"})
    assert u["doc"]["nickname"] == "云端用户"
    assert u["doc"]["avatar_url"] == "https://example.com/a.png"
    assert u["doc"]["expires_in"] > 0 and u["doc"]["credits"] >= 0
    assert isinstance(u["doc"]["_id"], str) and u["doc"]["invite_code"]
    # the same openid with a new code: the same user, and the same through /api/auth/wechat
    code = sim.mp_code(openid=u["openid"])["code"]
    again = cloud.call("/api/auth/wechat", {"code": code})["data"]
    assert again["_id"] == u["doc"]["_id"] and again["token"]
    # the adapter's mapped path, with top-level profile fields
    code = sim.mp_code(openid=u["openid"])["code"]
    mapped = cloud.call("/api/auth/register", {"action": "register", "code": code,
                                               "nickName": "新名字"})["data"]
    assert mapped["_id"] == u["doc"]["_id"] and mapped["nickname"] == "新名字"
    # without a code, a valid token answers the user with a fresh token
    back = cloud.fn("user", "register", token=u["token"])["data"]
    assert back["_id"] == u["doc"]["_id"] and back["token"]
    # both are user tokens of the mini program's channel, never of another kind
    for tok in (u["token"], back["token"]):
        claims = json.loads(b64url_decode(tok.split(".")[1]))
        assert claims["channel"] == "mp" and claims.get("aud") != "admin", claims
    me = cloud.fn("user", "getUserInfo", token=back["token"])["data"]
    assert me["_id"] == u["doc"]["_id"]


def test_register_refusals(cloud, sim):
    cloud.fn("user", "register", status=401)  # no code, no token
    cloud.fn("user", "register", code="not-a-code", status=401)
    cloud.fn("user", "register", code=12, status=400)
    code = sim.mp_code(openid="o" + uuid.uuid4().hex[:20])["code"]
    cloud.fn("user", "register", code=code, nickName="x" * 100, status=400)


def test_user_info_and_update(cloud, mp_user):
    u = mp_user()
    doc = cloud.call("/api/users/me", {"action": "getUserInfo"}, u["token"])["data"]
    assert doc["_id"] == str(u["id"]) and doc["openid"] == u["openid"]
    doc = cloud.fn("user", "updateUserInfo", u["token"], nickName="改过", avatarUrl=None)["data"]
    assert doc["nickname"] == "改过"
    cloud.fn("user", "updateUserInfo", u["token"], status=400)
    cloud.fn("user", "updateUserInfo", u["token"], avatarUrl="javascript:alert(1)", status=400)


def test_calls_without_a_valid_token_are_401(cloud, jwt_forge):
    for fn, action in (("user", "getUserInfo"), ("api", "listWorks"),
                       ("payment", "dailyCheckin"), ("photography", "generate"),
                       ("payment", "listConsumeRecords")):
        cloud.fn(fn, action, status=401)
        cloud.fn(fn, action, token="garbage.token.here", status=401)


def test_disabled_user_is_refused(cloud, mp_user, psql):
    u = mp_user()
    psql(f"UPDATE users SET status = 'disabled' WHERE id = {u['id']}")
    cloud.fn("user", "getUserInfo", u["token"], status=403)


# --------------------------------------------------------------------------- credits, packages, scenes


def test_packages_checkin_and_records(cloud, mp_user, psql):
    pk = cloud.call("/api/credits/packages", {"action": "getPackages"})["data"]
    assert pk and all(isinstance(p["_id"], str) for p in pk)
    assert all(p["price"] == p["price_fen"] / 100 for p in pk)
    u = mp_user()
    day = "2031-03-0" + str(uuid.uuid4().int % 9 + 1)
    hdr = {"X-Test-Date": day}
    first = cloud.call("/api/credits/checkin", {"action": "dailyCheckin"}, u["token"],
                       headers=hdr)["data"]
    assert first["credits_awarded"] > 0 and first["credits"] == first["credits_awarded"]
    doc = cloud.call("/api/payment/dailyCheckin", {"action": "dailyCheckin"}, u["token"],
                     status=409, headers=hdr)
    assert doc["code"] == "ALREADY_DONE"
    # a check-in is neither a purchase nor a spend
    assert cloud.fn("payment", "listRechargeRecords", u["token"])["data"] == []
    assert cloud.fn("payment", "listConsumeRecords", u["token"])["data"] == []
    psql(f"WITH u AS (UPDATE users SET credits = credits + 60 WHERE id = {u['id']} RETURNING "
         f"id, credits) INSERT INTO credit_ledger (user_id, delta, balance_after, kind, "
         f"idempotency_key, reference) SELECT id, 60, credits, 'recharge', "
         f"'recharge:t{u['id']}', 'order:t{u['id']}' FROM u")
    recharges = cloud.fn("payment", "listRechargeRecords", u["token"])["data"]
    assert [(r["kind"], r["delta"]) for r in recharges] == [("recharge", 60)]
    assert isinstance(recharges[0]["_id"], str) and recharges[0]["created_at"]
    cloud.fn("payment", "listRechargeRecords", u["token"], pageSize="ten", status=400)
    cloud.fn("payment", "listRechargeRecords", u["token"], last_id="abc", status=400)


def test_scenes_and_prompt(cloud, mp_user):
    scenes = cloud.fn("scene", "getScenes")["data"]
    assert scenes and all(isinstance(s["_id"], str) for s in scenes)
    cat = scenes[0]["category"]
    some = cloud.fn("scene", "getScenes", category=cat)["data"]
    assert some and all(s["category"] == cat for s in some)
    cloud.fn("scene", "getScenes", category=7, status=400)
    u = mp_user()
    p = cloud.fn("prompt", "generatePrompt", u["token"], type="photography",
                 sceneId=scenes[0]["_id"], params={})["data"]
    assert p["prompt"]
    cloud.fn("prompt", "generatePrompt", u["token"], type="nope", sceneId=scenes[0]["_id"],
             status=400)


# --------------------------------------------------------------------------- tasks and works


def test_generate_progress_works_favorite_delete(cloud, mp_user, client, expect_ok, psql):
    u = mp_user()
    grant(psql, u["id"], 500)
    a = upload(client, expect_ok, u["token"], (u["id"] % 256, 1, 2))
    g = upload(client, expect_ok, u["token"], (3, u["id"] % 256, 2))
    task = cloud.call("/api/tasks/photography",
                      {"action": "generate", "sceneId": "1", "images": [str(a["asset_id"])],
                       "count": 2, "params": {"style": "film"}}, u["token"])["data"]
    assert task["status"] == "queued" and task["count"] == 2 and task["progress"] == 0
    tid = task["_id"]
    fit = cloud.fn("fitting", "generate", u["token"], personImage=a["asset_id"],
                   garmentImage=str(g["asset_id"]), count=1)["data"]
    dispatch_until_done(psql, int(tid))
    dispatch_until_done(psql, int(fit["_id"]))
    prog = cloud.call("/api/tasks/progress", {"action": "getProgress", "taskId": tid},
                      u["token"])["data"]
    assert prog["status"] == "completed" and prog["progress"] == 100
    assert len(prog["images"]) == 2 and all(w["status"] == "completed" for w in prog["works"])
    assert_money(psql, int(tid), u["id"])

    works = cloud.call("/api/works", {"action": "getWorkList", "tab": "all", "pageSize": 2},
                       u["token"])["data"]
    assert len(works) == 2
    w = works[0]
    assert w["user_openid"] == u["openid"] and isinstance(w["_id"], str)
    assert w["images"] and w["is_favorite"] is False and w["status"] == "completed"
    rest = cloud.fn("api", "listWorks", u["token"], pageSize=2, last_id=works[-1]["_id"])["data"]
    assert len(rest) == 1 and rest[0]["_id"] not in {x["_id"] for x in works}
    fitting = cloud.fn("api", "listWorks", u["token"], tab="fitting")["data"]
    assert [x["type"] for x in fitting] == ["fitting"]

    fav = cloud.call("/api/works/favorite", {"action": "toggleFavorite", "workId": w["_id"]},
                     u["token"])["data"]
    assert fav["is_favorite"] is True
    assert [x["_id"] for x in cloud.fn("api", "listWorks", u["token"], tab="favorite")["data"]] \
        == [w["_id"]]
    assert cloud.fn("api", "toggleFavorite", u["token"], workId=w["_id"],
                    is_favorite=True)["data"]["is_favorite"] is True
    detail = cloud.fn("api", "getWorkDetail", u["token"], workId=w["_id"])["data"]
    assert detail["_id"] == w["_id"] and detail["images"] == w["images"]
    cloud.fn("api", "deleteWork", u["token"], workId=w["_id"])
    cloud.fn("api", "getWorkDetail", u["token"], workId=w["_id"], status=404)
    consumed = cloud.fn("payment", "listConsumeRecords", u["token"])["data"]
    assert [r["delta"] < 0 for r in consumed].count(True) == 2


def test_another_users_ids_are_404(cloud, mp_user, client, expect_ok, psql):
    owner, other = mp_user(), mp_user()
    grant(psql, other["id"], 100)
    a = upload(client, expect_ok, owner["token"], (owner["id"] % 256, 9, 9))
    # the other user cannot use the owner's asset, see, favourite, delete or cancel its work
    cloud.fn("photography", "generate", other["token"], sceneId=1, images=[a["asset_id"]],
             count=1, status=404)
    psql(f"INSERT INTO works (user_id, type, status, image_url, legacy_id) VALUES "
         f"({owner['id']}, 'photography', 'succeeded', '/media/x.png', 'lg-{owner['id']}')")
    wid = psql(f"SELECT id FROM works WHERE legacy_id = 'lg-{owner['id']}'")[0][0]
    for action in ("getWorkDetail", "toggleFavorite", "deleteWork"):
        cloud.fn("api", action, other["token"], workId=wid, status=404)
    assert cloud.fn("api", "getWorkDetail", owner["token"], workId=wid)["data"]["_id"] == wid
    cloud.fn("api", "cancelTask", other["token"], taskId=999999999, status=404)
    cloud.fn("photography", "getProgress", other["token"], taskId="999999999", status=404)


def test_bad_fields_are_named(cloud, mp_user):
    u = mp_user()
    cases = [
        ("api", "getWorkDetail", {}, "workId"),
        ("api", "getWorkDetail", {"workId": "12x"}, "workId"),
        ("api", "deleteWork", {"workId": -3}, "workId"),
        ("api", "cancelTask", {"taskId": None}, "taskId"),
        ("photography", "getProgress", {"taskId": [1]}, "taskId"),
        ("api", "listWorks", {"pageSize": 0}, "pageSize"),
        ("api", "listWorks", {"tab": 3}, "tab"),
        ("api", "listWorks", {"tab": "nope"}, "tab"),
        ("photography", "generate", {"sceneId": 1, "count": 1}, "asset_ids"),
        ("photography", "generate", {"sceneId": "x", "images": [1], "count": 1}, "scene_id"),
        ("photography", "generate", {"sceneId": 1, "images": [1], "count": 99}, "count"),
        ("fitting", "generate", {"personImage": 1, "count": 1}, "garment_asset_id"),
        ("payment", "createOrder", {}, "package_id"),
        ("payment", "createOrder", {"packageId": "nope"}, "package_id"),
    ]
    for fn, action, fields, name in cases:
        doc = cloud.fn(fn, action, u["token"], status=400, **fields)
        assert name in doc["message"], (fn, action, fields, doc)


def test_cancel_refunds(cloud, mp_user, client, expect_ok, psql):
    u = mp_user()
    grant(psql, u["id"], 100)
    a = upload(client, expect_ok, u["token"], (u["id"] % 256, 5, 5))
    task = cloud.fn("photography", "generate", u["token"], sceneId=1, images=[a["asset_id"]],
                    count=3)["data"]
    after = cloud.fn("api", "cancelTask", u["token"], taskId=task["_id"])["data"]
    assert after["status"] == "canceled" and after["credits_refunded"] == after["credits_charged"]
    assert cloud.fn("user", "getUserInfo", u["token"])["data"]["credits"] == 100


def test_short_balance_is_402(cloud, mp_user, client, expect_ok):
    u = mp_user()
    a = upload(client, expect_ok, u["token"], (u["id"] % 256, 6, 6))
    doc = cloud.fn("photography", "generate", u["token"], sceneId=1, images=[a["asset_id"]],
                   count=50, status=402)
    assert doc["code"] == "INSUFFICIENT_CREDITS"


def test_idempotency_key_is_passed_on(cloud, mp_user, client, expect_ok, psql):
    u = mp_user()
    grant(psql, u["id"], 100)
    a = upload(client, expect_ok, u["token"], (u["id"] % 256, 8, 8))
    ev = {"action": "generate", "sceneId": 1, "images": [a["asset_id"]], "count": 1}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    one = cloud.call("/api/photography/generate", ev, u["token"], headers=key)["data"]
    two = cloud.call("/api/photography/generate", ev, u["token"], headers=key)["data"]
    assert one["_id"] == two["_id"]
    tasks = psql(f"SELECT count(*) FROM tasks WHERE user_id = {u['id']}")[0][0]
    assert tasks == "1"


# --------------------------------------------------------------------------- payment


def test_create_order_answers_payment_params(cloud, mp_user):
    u = mp_user()
    pk = cloud.fn("payment", "getPackages")["data"][0]
    doc = cloud.fn("payment", "createOrder", u["token"], packageId=pk["_id"])["data"]
    assert doc["out_trade_no"] and doc["_id"] == doc["out_trade_no"]
    for k in ("timeStamp", "nonceStr", "package", "signType", "paySign"):
        assert doc["payment"][k], doc
    cloud.fn("payment", "createOrder", u["token"], packageId=999999, status=404)


def test_access_log_names_the_action(cloud, mp_user):
    """The gray-release gates are read per cloud action from the worker's access log."""
    import os
    import pathlib
    import time
    u = mp_user()
    cloud.fn("payment", "getPackages")
    cloud.fn("nosuch", "thing", status=400)
    log = pathlib.Path(os.environ["AIPHOTO_VAR"]) / "log" / "fcgi.log"
    for _ in range(50):
        lines = [l for l in log.read_text(encoding="utf-8").splitlines() if '"access":true' in l]
        mine = [l for l in lines if f'"user":{u["id"]}' in l]
        if any('"route":"cloud user.register"' in l for l in mine) and \
                any('"route":"cloud payment.getPackages"' in l for l in lines):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no access line names the cloud action")
    # an unknown action is logged by its route pattern, never by the text the client sent
    assert any('"route":"/:function/:action","status":400' in l for l in lines)
    assert not any("nosuch.thing" in l or "cloud nosuch" in l for l in lines)


def test_storage_register_resolve_and_generate_from_cloud_ids(cloud, mp_user, psql):
    from test_cloudfile import Tcb
    import os
    tcb = Tcb(os.environ["AIPHOTO_SIM_URL"])
    u, other = mp_user(), mp_user()
    grant(psql, u["id"], 100)
    f = tcb.put(side=24, rgb=(u["id"] % 256, 3, 4))
    # nothing registered yet: resolve answers null, by file id and by hash
    assert cloud.fn("storage", "resolveAsset", u["token"], fileID=f["file_id"])["data"] is None
    assert cloud.fn("storage", "resolveAsset", u["token"], hash=f["sha256"])["data"] is None
    doc = cloud.fn("storage", "registerAsset", u["token"], fileID=f["file_id"])["data"]
    assert doc["fileID"] == f["file_id"] and doc["sha256"] == f["sha256"] and doc["_id"]
    again = cloud.fn("storage", "registerAsset", u["token"], fileID=f["file_id"])["data"]
    assert again["_id"] == doc["_id"] and again["deduplicated"] is True
    found = cloud.fn("storage", "resolveAsset", u["token"], fileID=f["file_id"])["data"]
    assert found["_id"] == doc["_id"]
    assert cloud.fn("storage", "resolveAsset", u["token"], sha256=f["sha256"])["data"]["_id"] \
        == doc["_id"]
    # another user's registration is theirs alone
    assert cloud.fn("storage", "resolveAsset", other["token"], fileID=f["file_id"])["data"] is None
    cloud.fn("photography", "generate", other["token"], sceneId=1, images=[f["file_id"]],
             count=1, status=404)
    # the mini program generates from the cloud:// id it already has
    task = cloud.fn("photography", "generate", u["token"], sceneId=1, images=[f["file_id"]],
                    count=1)["data"]
    assert task["count"] == 1
    # bad input, per field
    cloud.fn("storage", "resolveAsset", u["token"], status=400)
    cloud.fn("storage", "resolveAsset", u["token"], hash="abc", status=400)
    cloud.fn("storage", "registerAsset", u["token"], status=400)
    cloud.fn("storage", "registerAsset", u["token"], fileID="https://x/y.png", status=400)
    cloud.fn("storage", "registerAsset", u["token"], fileID=f["file_id"], sha256="0" * 64,
             status=409)
    cloud.fn("storage", "registerAsset", fileID=f["file_id"], status=401)
