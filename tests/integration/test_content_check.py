"""Content safety (service/content.h): WeChat's msg_sec_check on nicknames and the free text of
prompts, media_check_async on uploads with its verdict pushed back to the callback as the
mini program's message push and applied once; the policy when WeChat cannot be asked
(on_error open or closed); everything off by default and only for users with a mini-program
openid.  The simulator (tests/sim/ext_mp.py) judges text by its risky and review words and
pushes the media verdict it is told.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import REPO, wait_database_back
from mediastore import url_prefix
from test_dispatch import png

RISKY = "违禁词"


@pytest.fixture(autouse=True)
def _audited(audit):
    yield


@pytest.fixture
def content(psql, sim):
    """content(**settings) turns the checks on with those settings; off again afterwards."""

    def set_conf(**settings):
        conf = {"enabled": True, "text": True, "media": True, "on_error": "open",
                "refuse_review": False}
        conf.update(settings)
        psql("INSERT INTO system_config (key, value) VALUES ('content_check', "
             f"'{json.dumps(conf)}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")

    yield set_conf
    psql("UPDATE system_config SET value = value || '{\"enabled\":false}' "
         "WHERE key = 'content_check'")


class Mp:
    def __init__(self, sim):
        self.sim = sim

    def records(self):
        return self.sim.call("GET", "/__sim/mp/records")

    def next(self, api, *answers):
        return self.sim.call("POST", "/__sim/mp/next", {"api": api, "answers": list(answers)})

    def config(self, **cfg):
        return self.sim.call("POST", "/__sim/mp/config", cfg)

    def push(self, trace_id, **body):
        return self.sim.call("POST", "/__sim/mp/push", dict(body, trace_id=trace_id))


@pytest.fixture
def mp(sim):
    return Mp(sim)


@pytest.fixture
def person(make_user, token_for, psql, unique):
    n = [0]

    def make(mp=True, credits=1000):
        n[0] += 1
        uid = make_user(credits=credits, nickname="before")
        who = {"id": uid, "token": token_for(uid)}
        if mp:
            who["openid"] = f"o_cc_{unique}_{n[0]}"
            psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid) VALUES "
                 f"({uid}, 'mp', '{os.environ['WECHAT_MP_APPID']}', '{who['openid']}')")
        return who

    return make


def upload(client, expect_ok, who, rgb, status=201):
    return expect_ok(client.request("POST", "/uploads", token=who["token"],
                                    headers={"Content-Type": "image/png"}, data=png(rgb=rgb)),
                     status)


def asset_check(psql, asset_id):
    return psql(f"SELECT check_status, check_label FROM assets WHERE id = {int(asset_id)}")[0]


def wait_check(psql, asset_id, want, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if asset_check(psql, asset_id)[0] == want:
            return
        time.sleep(0.05)
    pytest.fail(f"asset {asset_id} is {asset_check(psql, asset_id)}, expected {want}")


def photo_task(client, who, asset, params=None):
    return client.post("/tasks/photography", token=who["token"],
                       json={"scene_id": 1, "asset_ids": [asset], "count": 1,
                             "params": params or {}})


def credits_of(psql, uid):
    return int(psql(f"SELECT credits FROM users WHERE id = {uid}")[0][0])


# --------------------------------------------------------------------------- text


def test_off_by_default_nothing_is_sent_to_wechat(client, expect_ok, person, sim):
    who = person()
    checks = sim.stats()["sec_checks"]
    user = expect_ok(client.request("PATCH", "/user/me", token=who["token"],
                                     json={"nickname": "有" + RISKY}))
    assert user["nickname"] == "有" + RISKY
    assert sim.stats()["sec_checks"] == checks


def test_risky_nickname_is_refused(client, expect_ok, expect_error, person, content, mp, psql):
    who = person()
    content()
    msg = expect_error(client.request("PATCH", "/user/me", token=who["token"],
                                      json={"nickname": "我是" + RISKY}), 422, "CONTENT_RISKY")
    assert msg.startswith("nickname:"), msg
    assert psql(f"SELECT nickname FROM users WHERE id = {who['id']}") == [["before"]]
    checked = [t for t in mp.records()["text"] if t["openid"] == who["openid"]]
    assert [(t["content"], t["scene"], t["suggest"]) for t in checked] == \
        [("我是" + RISKY, 1, "risky")]
    # a harmless one goes through
    user = expect_ok(client.request("PATCH", "/user/me", token=who["token"],
                                    json={"nickname": "小明"}))
    assert user["nickname"] == "小明"


def test_user_without_a_mini_program_openid_is_not_checked(client, expect_ok, person, content,
                                                            sim):
    who = person(mp=False)
    content()
    checks = sim.stats()["sec_checks"]
    expect_ok(client.request("PATCH", "/user/me", token=who["token"],
                             json={"nickname": "x" + RISKY}))
    assert sim.stats()["sec_checks"] == checks


def test_risky_prompt_text_is_refused_and_nothing_charged(client, expect_ok, expect_error, person,
                                                          content, psql):
    who = person()
    content()
    asset = upload(client, expect_ok, who, (1, 2, 3))["asset_id"]
    before = credits_of(psql, who["id"])
    msg = expect_error(photo_task(client, who, asset,
                                  {"style": "胶片", "extra": {"note": ["ok", "含" + RISKY]}}),
                       422, "CONTENT_RISKY")
    assert msg.startswith("params:"), msg
    assert credits_of(psql, who["id"]) == before
    assert psql(f"SELECT count(*) FROM tasks WHERE user_id = {who['id']}") == [["0"]]
    msg = expect_error(client.post("/prompts/generate", token=who["token"],
                                   json={"type": "photography", "scene_id": 1,
                                         "params": {"extra": RISKY}}), 422, "CONTENT_RISKY")
    assert msg.startswith("params:"), msg
    # clean text passes both
    expect_ok(client.post("/prompts/generate", token=who["token"],
                          json={"type": "photography", "scene_id": 1,
                                "params": {"extra": "海边的黄昏"}}))
    expect_ok(photo_task(client, who, asset, {"extra": "海边的黄昏"}), 202)


def test_review_passes_unless_configured(client, expect_ok, expect_error, person, content):
    who = person()
    content()
    expect_ok(client.request("PATCH", "/user/me", token=who["token"],
                             json={"nickname": "review-word"}))
    content(refuse_review=True)
    expect_error(client.request("PATCH", "/user/me", token=who["token"],
                                json={"nickname": "review-word 2"}), 422, "CONTENT_RISKY")


@pytest.mark.parametrize("answer", [{"http": 500}, {"hang": 6}, {"errcode": -1}])
def test_wechat_unreachable_fails_open_or_closed_as_configured(client, expect_ok, expect_error,
                                                               person, content, mp, answer):
    who = person()
    content(on_error="open")
    mp.next("msg_sec_check", answer)
    user = expect_ok(client.request("PATCH", "/user/me", token=who["token"],
                                    json={"nickname": "开放" + RISKY}))
    assert user["nickname"] == "开放" + RISKY  # not checked: let through, logged
    content(on_error="closed")
    mp.next("msg_sec_check", answer)
    expect_error(client.request("PATCH", "/user/me", token=who["token"],
                                json={"nickname": "关闭"}), 502, "UPSTREAM_ERROR")
    # WeChat back: checked again
    expect_ok(client.request("PATCH", "/user/me", token=who["token"], json={"nickname": "关闭"}))


# --------------------------------------------------------------------------- images


def test_risky_image_verdict_is_applied_once_and_refuses_the_input(client, expect_ok,
                                                                   expect_error, person, content,
                                                                   mp, psql):
    who = person()
    content()
    mp.config(media_verdict="risky", push_delay_ms=100)
    asset = upload(client, expect_ok, who, (40, 50, 60))
    wait_check(psql, asset["asset_id"], "risky")
    check = [m for m in mp.records()["media"] if m["openid"] == who["openid"]]
    assert len(check) == 1, check
    assert check[0]["media_url"] == asset["url"]
    assert check[0]["media_url"].startswith(url_prefix())
    assert check[0]["fetch_status"] == 200  # WeChat could download it
    assert [p["status"] for p in check[0]["pushes"]] == [200]
    assert check[0]["pushes"][0]["body"] == "success"
    trace = check[0]["trace_id"]
    # WeChat pushes again (and even says otherwise): nothing changes
    again = mp.push(trace, suggest="pass")
    assert again["status"] == 200 and again["body"] == "success", again
    assert asset_check(psql, asset["asset_id"]) == ["risky", "20006"]
    assert psql(f"SELECT count(*), min(suggest) FROM media_checks WHERE trace_id = '{trace}'") \
        == [["1", "risky"]]
    before = credits_of(psql, who["id"])
    msg = expect_error(photo_task(client, who, asset["asset_id"]), 422, "CONTENT_RISKY")
    assert msg.startswith("asset:"), msg
    assert credits_of(psql, who["id"]) == before
    # a re-upload of the same image is not checked again
    upload(client, expect_ok, who, (40, 50, 60), status=200)
    assert len([m for m in mp.records()["media"] if m["openid"] == who["openid"]]) == 1


def test_passing_image_and_the_safe_mode_push(client, expect_ok, person, content, mp, psql):
    who = person()
    content()
    mp.config(auto_push=False)
    asset = upload(client, expect_ok, who, (70, 80, 90))
    assert asset_check(psql, asset["asset_id"])[0] == "pending"
    # a pending check does not hold a task up
    expect_ok(photo_task(client, who, asset["asset_id"]), 202)
    trace = [m for m in mp.records()["media"] if m["openid"] == who["openid"]][0]["trace_id"]
    out = mp.push(trace, suggest="pass", mode="safe")
    assert out["status"] == 200 and out["body"] == "success", out
    assert asset_check(psql, asset["asset_id"]) == ["pass", "100"]


def test_push_with_a_bad_signature_is_refused(client, expect_ok, person, content, mp, psql):
    who = person()
    content()
    mp.config(auto_push=False)
    asset = upload(client, expect_ok, who, (11, 12, 13))
    trace = [m for m in mp.records()["media"] if m["openid"] == who["openid"]][0]["trace_id"]
    out = mp.push(trace, suggest="risky", signature="bad")
    assert out["status"] == 403, out
    assert asset_check(psql, asset["asset_id"])[0] == "pending"


def test_image_check_unreachable_fails_open_or_closed(client, expect_ok, expect_error, person,
                                                      content, mp, psql):
    who = person()
    content(on_error="open")
    mp.next("media_check_async", {"http": 503})
    open_asset = upload(client, expect_ok, who, (21, 22, 23))
    assert asset_check(psql, open_asset["asset_id"]) == [None, None]
    expect_ok(photo_task(client, who, open_asset["asset_id"]), 202)

    content(on_error="closed")
    mp.config(auto_push=False)
    mp.next("media_check_async", {"hang": 6})
    body = {"Content-Type": "image/png"}
    resp = client.request("POST", "/uploads", token=who["token"], headers=body,
                          data=png(rgb=(31, 32, 33)))
    expect_error(resp, 502, "UPSTREAM_ERROR")
    asset_id = psql(f"SELECT id FROM assets WHERE user_id = {who['id']} AND check_status = 'error'")
    assert len(asset_id) == 1, asset_id
    expect_error(photo_task(client, who, int(asset_id[0][0])), 502, "UPSTREAM_ERROR")
    # uploading it again checks it again
    again = upload(client, expect_ok, who, (31, 32, 33), status=200)
    assert again["asset_id"] == int(asset_id[0][0])
    assert asset_check(psql, again["asset_id"])[0] == "pending"


def test_database_down_is_503(client, expect_error, person, content):
    who = person()
    content()
    stack = REPO / "scripts" / "stack"
    try:
        subprocess.run([str(stack), "pg-stop"], cwd=REPO, check=True, capture_output=True,
                       timeout=60)
        expect_error(client.request("PATCH", "/user/me", token=who["token"],
                                    json={"nickname": "x"}), 503, "UNAVAILABLE")
    finally:
        subprocess.run([str(stack), "pg-start"], cwd=REPO, check=True, capture_output=True,
                       timeout=60)
        wait_database_back()
    for _ in range(50):
        if client.get("/health").status_code == 200:
            break
        time.sleep(0.2)
