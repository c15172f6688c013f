"""The catalogue and the configuration the operators edit (docs/admin.md): scenes with their
thumbnails, packages, prompt templates with their preview, AI models with a test call, and the
system_config documents.  Each route's success, each field refused, one audit row per write,
and what the public API answers right after a change.
"""

import json
import struct
import time
import uuid
import zlib

import pytest
import requests

from adminkit import admins, audit_rows, fresh_admin  # noqa: F401
from mediastore import url_prefix


def png(seed=1, w=16, h=12):
    raw = b"".join(b"\x00" + bytes((seed % 256, 90, 40)) * w for _ in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def refused(expect_error, resp, field):
    msg = expect_error(resp, 400, "BAD_REQUEST")
    assert msg.startswith(field), (field, msg)


def check_fields(client, expect_error, token, path, good, bad, method="POST"):
    """Every (field, value) of bad, laid over the good body, answers 400 naming the field."""
    for field, value in bad:
        body = dict(good)
        if value is KeyError:
            body.pop(field)
        else:
            body[field] = value
        refused(expect_error, client.request(method, path, token=token, json=body), field)


# --------------------------------------------------------------------------- scenes


def test_scenes_crud_and_the_public_list(client, expect_ok, expect_error, admins, psql, unique):
    op = admins["operator"]["token"]
    good = {"name": f"场景{unique}", "category": "it", "description": "d",
            "parameters": {"styles": ["a", "b"]}, "sort_order": 3}
    check_fields(client, expect_error, op, "/admin/scenes", good, [
        ("name", KeyError), ("name", ""), ("name", "   "), ("name", "x" * 65), ("name", 5),
        ("category", "x" * 33), ("description", "x" * 1001),
        ("thumbnail_url", "ftp://x"), ("thumbnail_url", "/etc/passwd"),
        ("thumbnail_url", "/media/../x"), ("parameters", [1]), ("parameters", "{}"),
        ("parameters", {"big": "x" * 17000}), ("active", "yes"), ("sort_order", 10 ** 7)])
    # the public list is read (and cached) before the scene exists
    before = expect_ok(client.get("/scenes?category=it"))
    made = expect_ok(client.post("/admin/scenes", token=op, json=good), 201)
    assert made["name"] == good["name"] and made["active"] is True and made["thumbnail_url"] == ""
    sid = made["id"]
    assert expect_ok(client.get(f"/admin/scenes/{sid}", token=admins["viewer"]["token"])) == made
    after = expect_ok(client.get("/scenes?category=it"))
    assert [s["id"] for s in after] == [s["id"] for s in before] + [sid]
    # a change is answered by the public routes at once (the scene cache moved on)
    expect_ok(client.get(f"/scenes/{sid}"))
    got = expect_ok(client.request("PUT", f"/admin/scenes/{sid}", token=op,
                                   json={"description": "新的", "thumbnail_url":
                                         "https://cdn.example.com/s.jpg"}))
    assert got["description"] == "新的" and got["name"] == good["name"]
    assert expect_ok(client.get(f"/scenes/{sid}"))["thumbnail_url"] == "https://cdn.example.com/s.jpg"
    expect_error(client.request("PUT", f"/admin/scenes/{sid}", token=op, json={}), 400,
                 "BAD_REQUEST")
    expect_error(client.request("PUT", "/admin/scenes/999999999", token=op,
                                json={"name": "x"}), 404, "NOT_FOUND")
    gone = expect_ok(client.request("DELETE", f"/admin/scenes/{sid}", token=op))
    assert gone["active"] is False
    expect_error(client.get(f"/scenes/{sid}"), 404, "NOT_FOUND")
    assert sid not in [s["id"] for s in expect_ok(client.get("/scenes?category=it"))]
    expect_error(client.request("DELETE", "/admin/scenes/999999999", token=op), 404, "NOT_FOUND")
    rows = audit_rows(psql, f"target_type = 'scene' AND target_id = '{sid}'")
    assert [r["action"] for r in rows] == ["scene.create", "scene.update", "scene.delete"]
    assert rows[0]["before"] is None and rows[0]["after"]["name"] == good["name"]
    assert rows[1]["before"]["description"] == "d" and rows[1]["after"]["description"] == "新的"
    assert rows[2]["before"]["active"] is True and rows[2]["after"]["active"] is False
    page = expect_ok(client.get("/admin/scenes?limit=2", token=admins["viewer"]["token"]))
    assert len(page["items"]) == 2 and page["items"][0]["id"] > page["items"][1]["id"]


def test_scene_thumbnail_goes_to_the_media_store(client, expect_ok, expect_error, admins, psql,
                                                 base_url):
    op = admins["operator"]["token"]
    sid = expect_ok(client.post("/admin/scenes", token=op, json={"name": "缩略图"}), 201)["id"]
    expect_ok(client.get(f"/scenes/{sid}"))  # cached before the change
    image = png(sid)
    resp = client.request("POST", f"/admin/scenes/{sid}/thumbnail", token=op, data=image,
                          headers={"Content-Type": "image/png"})
    got = expect_ok(resp)
    assert got["thumbnail_url"].startswith(url_prefix()) and \
        got["thumbnail_url"].endswith(".png")
    assert requests.get(got["thumbnail_url"], timeout=10).content == image
    assert expect_ok(client.get(f"/scenes/{sid}"))["thumbnail_url"] == got["thumbnail_url"]
    # the upload path's checks and forms
    form = client.request("POST", f"/admin/scenes/{sid}/thumbnail", token=op,
                          files={"file": ("t.png", png(sid + 1), "image/png")})
    assert expect_ok(form)["thumbnail_url"] != got["thumbnail_url"]
    expect_error(client.request("POST", f"/admin/scenes/{sid}/thumbnail", token=op,
                                data=b"not an image", headers={"Content-Type": "image/png"}),
                 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_error(client.request("POST", f"/admin/scenes/{sid}/thumbnail", token=op, data=b"",
                                headers={"Content-Type": "image/png"}), 400, "BAD_REQUEST")
    expect_error(client.request("POST", "/admin/scenes/999999999/thumbnail", token=op,
                                data=image, headers={"Content-Type": "image/png"}), 404,
                 "NOT_FOUND")
    rows = audit_rows(psql, f"action = 'scene.thumbnail' AND target_id = '{sid}'")
    assert len(rows) == 2 and rows[0]["after"]["thumbnail_url"] == got["thumbnail_url"]


# --------------------------------------------------------------------------- packages


def test_packages_crud(client, expect_ok, expect_error, admins, psql, unique):
    op = admins["operator"]["token"]
    good = {"name": f"包{unique}", "price_fen": 990, "credits": 100, "bonus_credits": 5}
    check_fields(client, expect_error, op, "/admin/packages", good, [
        ("name", KeyError), ("price_fen", KeyError), ("price_fen", 0), ("price_fen", 1.5),
        ("credits", KeyError), ("credits", 0), ("bonus_credits", -1), ("sort_order", "1")])
    made = expect_ok(client.post("/admin/packages", token=op, json=good), 201)
    pid = made["id"]
    assert (made["price_fen"], made["credits"], made["bonus_credits"], made["active"]) == \
        (990, 100, 5, True)
    assert pid in [p["id"] for p in expect_ok(client.get("/credits/packages"))]
    got = expect_ok(client.request("PUT", f"/admin/packages/{pid}", token=op,
                                   json={"price_fen": 1290}))
    assert got["price_fen"] == 1290 and got["credits"] == 100
    assert expect_ok(client.request("DELETE", f"/admin/packages/{pid}", token=op))["active"] is False
    assert pid not in [p["id"] for p in expect_ok(client.get("/credits/packages"))]
    assert expect_ok(client.get(f"/admin/packages/{pid}", token=op))["active"] is False
    rows = audit_rows(psql, f"target_type = 'package' AND target_id = '{pid}'")
    assert [(r["action"], r["after"]["price_fen"]) for r in rows] == \
        [("package.create", 990), ("package.update", 1290), ("package.delete", 1290)]


# --------------------------------------------------------------------------- prompt templates


def test_prompt_templates_and_preview(client, expect_ok, expect_error, admins, psql, token_for,
                                      make_user):
    op = admins["operator"]["token"]
    good = {"name": "it模板", "type": "photography", "scene_id": 2,
            "template": "街拍 {{scene}} / {{category}} / {{style}} / {{aspect}}",
            "negative_prompt": "ugly {{style}}"}
    check_fields(client, expect_error, op, "/admin/prompt-templates", good, [
        ("name", KeyError), ("type", KeyError), ("type", "video"), ("template", KeyError),
        ("template", " "), ("template", "x" * 4001), ("scene_id", 0), ("scene_id", "2"),
        ("negative_prompt", "x" * 4001), ("active", 1)])
    msg = expect_error(client.post("/admin/prompt-templates", token=op,
                                   json={**good, "scene_id": 999999999}), 404, "NOT_FOUND")
    assert "scene_id" in msg
    made = expect_ok(client.post("/admin/prompt-templates", token=op, json=good), 201)
    tid = made["id"]
    try:
        # the preview renders what a task would send: the newest active template of scene 2
        prev = expect_ok(client.post(f"/admin/prompt-templates/{tid}/preview",
                                     token=admins["viewer"]["token"],
                                     json={"params": {"style": "夜景"}}))
        assert prev == {"template_id": tid, "type": "photography", "scene_id": 2,
                        "prompt": "街拍 城市街拍 / 写真 / 夜景 / 3:4",
                        "negative_prompt": "ugly 夜景", "chosen": True}
        user = token_for(make_user())
        gen = expect_ok(client.post("/prompts/generate", token=user,
                                    json={"type": "photography", "scene_id": 2,
                                          "params": {"style": "夜景"}}))
        assert (gen["prompt"], gen["negative_prompt"]) == (prev["prompt"], prev["negative_prompt"])
        # with another scene it is not the template a task chooses, but it renders alike
        other = expect_ok(client.post(f"/admin/prompt-templates/{tid}/preview", token=op,
                                      json={"scene_id": 1}))
        assert other["chosen"] is False and other["prompt"].startswith("街拍 清新日系 / 写真")
        expect_error(client.post(f"/admin/prompt-templates/{tid}/preview", token=op,
                                 json={"scene_id": 6}), 404, "NOT_FOUND")  # inactive scene
        refused(expect_error, client.post(f"/admin/prompt-templates/{tid}/preview", token=op,
                                          json={"params": []}), "params")
        expect_error(client.post("/admin/prompt-templates/999999999/preview", token=op, json={}),
                     404, "NOT_FOUND")
        # scene_id null makes it the type's general template; inactive, never chosen
        got = expect_ok(client.request("PUT", f"/admin/prompt-templates/{tid}", token=op,
                                       json={"scene_id": None, "active": False}))
        assert got["scene_id"] is None and got["active"] is False
        prev = expect_ok(client.post(f"/admin/prompt-templates/{tid}/preview", token=op,
                                     json={"scene_id": 2}))
        assert prev["chosen"] is False
    finally:
        gone = expect_ok(client.request("DELETE", f"/admin/prompt-templates/{tid}", token=op))
    assert gone["deleted"] is True and gone["id"] == tid
    expect_error(client.get(f"/admin/prompt-templates/{tid}", token=op), 404, "NOT_FOUND")
    rows = audit_rows(psql, f"target_type = 'prompt-template' AND target_id = '{tid}'")
    assert [r["action"] for r in rows] == ["prompt-template.create", "prompt-template.update",
                                           "prompt-template.delete"]
    assert rows[-1]["after"] is None and rows[-1]["before"]["id"] == tid


# --------------------------------------------------------------------------- AI models


@pytest.fixture
def ai(redis_cli):
    """The simulator's AI faults, cleared after the test; the admin test-call limit reset."""
    base = __import__("os").environ["AIPHOTO_SIM_URL"].rstrip("/")

    class Ai:
        def fault(self, **rule):
            r = requests.post(base + "/__sim/ai/faults", json=rule, timeout=10)
            assert r.status_code in (200, 201), r.text

        @staticmethod
        def unlimit():
            """Every admin's budget of test calls full again."""
            for key in redis_cli("--scan", "--pattern", "rl:admin-ai-test:*").split():
                redis_cli("DEL", key)

    Ai.unlimit()
    yield Ai()
    requests.delete(base + "/__sim/ai/faults", timeout=10)


def test_ai_models_crud(client, expect_ok, expect_error, admins, psql, unique):
    op = admins["operator"]["token"]
    endpoint = psql("SELECT endpoint FROM ai_models WHERE id = 2")[0][0]
    good = {"name": f"it-{unique}", "provider": "dashscope", "kind": "photography",
            "endpoint": endpoint, "api_key_env": "AIPHOTO_SIM_KEY", "model": "sim-wanx-1",
            "priority": 90, "timeout_ms": 20000, "options": {"size": "512*512"},
            "active": False}
    check_fields(client, expect_error, op, "/admin/ai-models", good, [
        ("name", KeyError), ("provider", "midjourney"), ("provider", KeyError),
        ("kind", "video"), ("endpoint", "file:///etc/passwd"), ("endpoint", KeyError),
        ("api_key_env", "sk-0123456789abcdef"), ("api_key_env", "lower_case"),
        ("api_key_env", KeyError), ("model", KeyError), ("priority", -1), ("weight", 0),
        ("timeout_ms", 999), ("timeout_ms", 600001), ("poll_interval_ms", 99),
        ("options", [1]), ("options", {"api_key": "sk-123"}), ("options", {"Authorization": "x"})])
    made = expect_ok(client.post("/admin/ai-models", token=op, json=good), 201)
    mid = made["id"]
    try:
        assert made["mode"] == "async" and made["api_key_env"] == "AIPHOTO_SIM_KEY"
        assert made["api_key_set"] is True and made["weight"] == 1
        assert "sim-ai-key" not in json.dumps(made)
        expect_error(client.post("/admin/ai-models", token=op, json=good), 409, "CONFLICT")
        got = expect_ok(client.request("PUT", f"/admin/ai-models/{mid}", token=op,
                                       json={"provider": "openai", "api_key_env": "IT_NO_SUCH_KEY"}))
        assert got["mode"] == "sync" and got["api_key_set"] is False
        listed = expect_ok(client.get("/admin/ai-models?limit=50", token=admins["viewer"]["token"]))
        assert any(m["id"] == mid and m["api_key_set"] is False for m in listed["items"])
    finally:
        gone = expect_ok(client.request("DELETE", f"/admin/ai-models/{mid}", token=op))
    assert gone["deleted"] is True
    rows = audit_rows(psql, f"target_type = 'ai-model' AND target_id = '{mid}'")
    assert [r["action"] for r in rows] == ["ai-model.create", "ai-model.update", "ai-model.delete"]
    assert rows[1]["before"]["mode"] == "async" and rows[1]["after"]["mode"] == "sync"


def test_ai_model_test_call(client, expect_ok, expect_error, admins, psql, ai, unique):
    op = admins["operator"]["token"]

    def test(mid, body=None):
        ai.unlimit()
        return expect_ok(client.post(f"/admin/ai-models/{mid}/test", token=op, json=body or {}))

    ok = test(1)  # the sync OpenAI-style model of the simulator
    assert ok["outcome"] == "succeeded" and ok["http_status"] == 200 and ok["polls"] == 0
    assert ok["mime"] == "image/png" and ok["width"] > 0 and ok["bytes"] > 0
    assert requests.get(ok["image_url"], timeout=10).content[:8] == b"\x89PNG\r\n\x1a\n"
    job = test(2, {"prompt": "汉服 portrait"})  # the async DashScope-style one: submit, poll
    assert job["outcome"] == "succeeded" and job["job_id"] and job["polls"] >= 1
    ai.fault(mode="500", model="*", times=1)
    bad = test(1)
    assert (bad["outcome"], bad["code"], bad["http_status"]) == ("retryable", "http_500", 500)
    ai.fault(mode="400", model="*", times=1)
    assert test(1)["outcome"] == "failed"
    # a model whose key is not in the environment is not configured, and is never called
    mid = expect_ok(client.post("/admin/ai-models", token=op, json={
        "name": f"it-nokey-{unique}", "provider": "openai", "kind": "photography",
        "endpoint": "https://203.0.113.9/v1", "api_key_env": "IT_UNSET_KEY", "model": "m",
        "active": False}), 201)["id"]
    try:
        nokey = test(mid)
        assert (nokey["outcome"], nokey["code"]) == ("not_configured", "no_api_key")
        assert "IT_UNSET_KEY" in nokey["message"] and nokey["http_status"] is None
    finally:
        expect_ok(client.request("DELETE", f"/admin/ai-models/{mid}", token=op))
    refused(expect_error, client.post("/admin/ai-models/1/test", token=op,
                                      json={"prompt": ""}), "prompt")
    expect_error(client.post("/admin/ai-models/999999999/test", token=op, json={}), 404,
                 "NOT_FOUND")
    rows = audit_rows(psql, "action = 'ai-model.test' AND target_id = '1'")[-3:]
    assert [r["after"]["outcome"] for r in rows] == ["succeeded", "retryable", "failed"]
    assert all(r["admin_id"] == admins["operator"]["id"] for r in rows)


def test_ai_model_test_call_is_bounded(client, expect_ok, admins, psql, ai, redis_cli):
    """A provider that never answers: the model's timeout ends the call, well inside the
    test's budget."""
    op = admins["operator"]["token"]
    psql("UPDATE ai_models SET timeout_ms = 1500 WHERE id = 1")
    ai.fault(mode="hang", model="*")
    try:
        started = time.monotonic()
        got = expect_ok(client.post("/admin/ai-models/1/test", token=op, json={}))
        took = time.monotonic() - started
    finally:
        psql("UPDATE ai_models SET timeout_ms = 30000 WHERE id = 1")
    assert got["outcome"] == "retryable" and got["code"] == "timeout", got
    assert 1.2 < took < 8, took


def test_ai_model_test_calls_are_limited(client, expect_ok, expect_error, admins, ai):
    op = admins["operator"]["token"]
    for _ in range(3):
        expect_ok(client.post("/admin/ai-models/1/test", token=op, json={}))
    resp = client.post("/admin/ai-models/1/test", token=op, json={})
    expect_error(resp, 429, "RATE_LIMITED")
    assert int(resp.headers["Retry-After"]) >= 1


# --------------------------------------------------------------------------- config


@pytest.fixture
def restore_config(psql):
    """Puts every system_config document back as it was after the test."""
    saved = {k: v for k, v in psql("SELECT key, value::text FROM system_config")}
    yield
    for key, value in saved.items():
        psql("UPDATE system_config SET value = '" + value.replace("'", "''") +
             f"'::jsonb WHERE key = '{key}'")


def test_config_documents(client, expect_ok, expect_error, admins, psql, restore_config,
                          make_user, token_for):
    op, viewer = admins["operator"]["token"], admins["viewer"]["token"]
    listed = expect_ok(client.get("/admin/config", token=viewer))["items"]
    assert [i["key"] for i in listed] == ["pricing", "checkin", "invite", "notify",
                                          "backend_config", "content_check"]
    pricing = expect_ok(client.get("/admin/config/pricing", token=viewer))
    assert set(pricing) == {"key", "value", "updated_by", "updated_at"}
    assert set(pricing["value"]) == {"photography", "fitting"}
    expect_error(client.get("/admin/config/jwt_secret", token=viewer), 404, "NOT_FOUND")
    expect_error(client.request("PUT", "/admin/config/jwt_secret", token=op, json={}), 404,
                 "NOT_FOUND")
    # each document is checked whole: every field required, none unknown, each bounded
    for key, body, field in [
            ("pricing", {"photography": 10}, "fitting"),
            ("pricing", {"photography": 10, "fitting": -1}, "fitting"),
            ("pricing", {"photography": 10, "fitting": 15, "video": 1}, "video"),
            ("checkin", {"base_credits": 5, "streak_bonus": 1, "max_bonus_days": 366},
             "max_bonus_days"),
            ("invite", {"invitee_bonus": "10", "inviter_bonus": 20}, "invitee_bonus"),
            ("notify", {"task_template_id": "t", "task_page_url": "member.html"},
             "task_page_url"),
            ("notify", {"mp": {"template_id": "t", "lang": "fr_FR"}}, "mp.lang"),
            ("notify", {"mp": {"template_id": "t", "colour": "red"}}, "mp.colour"),
            ("content_check", {"text": True}, "enabled"),
            ("content_check", {"enabled": True, "on_error": "ignore"}, "on_error"),
            ("backend_config", {"backend_type": "moon", "gray_release": False,
                                "gray_percent": 0, "white_list": [], "black_list": []},
             "backend_type"),
            ("backend_config", {"backend_type": "cloud", "gray_release": True,
                                "gray_percent": 5, "white_list": [""], "black_list": []},
             "white_list[0]")]:
        refused(expect_error, client.request("PUT", f"/admin/config/{key}", token=op, json=body),
                field)
    expect_error(client.request("PUT", "/admin/config/pricing", token=op, json=[1]), 400,
                 "BAD_REQUEST")
    # a new check-in rule is what the next check-in awards
    resp = client.request("PUT", "/admin/config/checkin", token=op,
                          json={"base_credits": 7, "streak_bonus": 0, "max_bonus_days": 0})
    got = expect_ok(resp)
    assert got["value"] == {"base_credits": 7, "streak_bonus": 0, "max_bonus_days": 0}
    assert got["updated_by"] == admins["operator"]["id"]
    uid = make_user()
    assert expect_ok(client.post("/credits/checkin", token=token_for(uid),
                                 json={}))["credits_awarded"] == 7
    row = audit_rows(psql, f"action = 'config.update' AND target_id = 'checkin' "
                           f"AND request_id = '{resp.headers['X-Request-Id']}'")[0]
    assert row["before"]["value"]["base_credits"] == 5 and row["after"]["value"]["base_credits"] == 7
    # the gray release: GET /config/backend answers the stored document at once
    doc = {"backend_type": "server", "gray_release": True, "gray_percent": 12.5,
           "white_list": ["oIT-" + uuid.uuid4().hex], "black_list": [],
           "server_url": "http://127.0.0.1:9"}
    got = expect_ok(client.request("PUT", "/admin/config/backend_config", token=op, json=doc))
    assert got["value"]["gray_percent"] == 12.5 and got["value"]["updated_at"]
    pub = expect_ok(client.get("/config/backend", params={"openid": doc["white_list"][0]}))
    assert pub["server_url"] == doc["server_url"] and pub["decision"] == "server"
    # what GET answered can be put back as it is (its updated_at is set anew)
    again = expect_ok(client.request("PUT", "/admin/config/backend_config", token=op,
                                     json=got["value"]))
    assert again["value"]["white_list"] == doc["white_list"]
    # the seeded notice and content-check documents are valid as they stand
    for key in ("notify", "content_check"):
        stored = expect_ok(client.get(f"/admin/config/{key}", token=viewer))["value"]
        assert stored, key
        assert expect_ok(client.request("PUT", f"/admin/config/{key}", token=op,
                                         json=stored))["value"] == stored
