"""Foundation endpoints over HTTP: success shapes, routing errors, authentication,
input validation on /events, request ids and per-user isolation.

Every answer is checked for its status, the exact envelope keys and an
X-Request-Id header.  Rows are compared with what psql reads from the same
database, so a handler that invents data cannot pass.
"""

import datetime
import json
import pathlib
import re
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

USER_KEYS = {"id", "nickname", "avatar_url", "credits", "invite_code", "created_at", "subscribed"}
PACKAGE_KEYS = {"id", "name", "price_fen", "credits", "bonus_credits"}
SCENE_KEYS = {"id", "name", "category", "thumbnail_url", "parameters"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def allow_methods(resp):
    return {m.strip().upper() for m in resp.headers.get("Allow", "").split(",") if m.strip()}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def user(make_user, token_for, unique):
    """A fresh user with 50 credits and a token issued by aiphotoctl."""
    nickname = "it-" + unique
    uid = make_user(nickname=nickname, credits=50)
    return {"id": uid, "nickname": nickname, "token": token_for(uid)}


@pytest.fixture
def test_scenes(psql, ctl, unique):
    """One active and one inactive scene in a category of their own; removed afterwards.
    The scene lists are cached in Redis: a change made behind the API's back is followed by
    `aiphotoctl cache invalidate`, as an operator would."""
    category = "itcat-" + unique
    rows = psql(
        "INSERT INTO scenes (name, category, thumbnail_url, parameters, active, sort_order) VALUES "
        f"('it-active-{unique}', '{category}', 'https://example.invalid/t/{unique}.jpg', "
        "'{\"style\": \"soft\", \"n\": 2}', true, 5), "
        f"('it-inactive-{unique}', '{category}', '', '{{}}', false, 6) RETURNING id, active")
    ids = {r[1] == "t": int(r[0]) for r in rows}
    ctl("cache", "invalidate")
    yield {"category": category, "active": ids[True], "inactive": ids[False]}
    psql(f"DELETE FROM scenes WHERE id IN ({ids[True]}, {ids[False]})")
    ctl("cache", "invalidate")


# --------------------------------------------------------------------------- public endpoints


@pytest.mark.front
def test_health_reports_ok(client, expect_ok):
    data = expect_ok(client.get("/health"))
    assert set(data) == {"status", "db", "redis", "version", "workers"}, data
    assert set(data["workers"]) == {"configured", "alive", "restarts", "last_death"}, data
    assert data["workers"]["configured"] >= 1, data
    assert data["status"] == "ok"
    assert data["db"] == "ok"
    assert data["redis"] == "ok"
    assert isinstance(data["version"], str) and data["version"]
    version_file = REPO / "VERSION"
    if version_file.exists():
        assert version_file.read_text().strip() in data["version"]


def test_packages_are_active_ones_in_display_order(client, expect_ok, psql):
    data = expect_ok(client.get("/credits/packages"))
    assert isinstance(data, list) and data, data
    for item in data:
        assert set(item) == PACKAGE_KEYS, item
    db = {int(r[0]): r for r in psql(
        "SELECT id, name, price_fen, credits, bonus_credits, active, sort_order FROM packages")}
    active = {i for i, r in db.items() if r[5] == "t"}
    assert [p["id"] for p in data if p["id"] not in active] == [], "inactive or unknown package listed"
    assert {p["id"] for p in data} == active
    for p in data:
        row = db[p["id"]]
        assert p["name"] == row[1]
        assert (p["price_fen"], p["credits"], p["bonus_credits"]) == (int(row[2]), int(row[3]), int(row[4]))
        assert all(isinstance(p[k], int) and not isinstance(p[k], bool)
                   for k in ("id", "price_fen", "credits", "bonus_credits")), p
    orders = [int(db[p["id"]][6]) for p in data]
    assert orders == sorted(orders), f"not in display order (sort_order {orders})"


def test_demo_seed_has_an_inactive_package_that_is_hidden(client, expect_ok, psql):
    inactive = {int(r[0]) for r in psql("SELECT id FROM packages WHERE NOT active")}
    assert inactive, "the demo seed is expected to hold one inactive package"
    listed = {p["id"] for p in expect_ok(client.get("/credits/packages"))}
    assert not inactive & listed


def test_scenes_list_active_only(client, expect_ok, psql, test_scenes):
    data = expect_ok(client.get("/scenes"))
    assert isinstance(data, list)
    for s in data:
        assert set(s) == SCENE_KEYS, s
        assert isinstance(s["parameters"], dict), s
    ids = [s["id"] for s in data]
    assert len(ids) == len(set(ids))
    active = {int(r[0]) for r in psql("SELECT id FROM scenes WHERE active")}
    assert set(ids) == active
    assert test_scenes["active"] in ids
    assert test_scenes["inactive"] not in ids


def test_scenes_category_filter(client, expect_ok, test_scenes):
    resp = client.get("/scenes", params={"category": test_scenes["category"]})
    data = expect_ok(resp)
    assert [s["id"] for s in data] == [test_scenes["active"]]
    s = data[0]
    assert s["category"] == test_scenes["category"]
    assert s["parameters"] == {"style": "soft", "n": 2}
    assert s["thumbnail_url"].startswith("https://example.invalid/t/")
    # URLs go out as written: "/" is not escaped as "\/" on the wire
    assert "\\/" not in resp.text, resp.text


def test_scenes_category_filter_on_demo_data(client, expect_ok, psql):
    rows = psql("SELECT category, count(*) FROM scenes WHERE active GROUP BY category "
                "ORDER BY count(*) DESC, category LIMIT 1")
    assert rows, "no active scenes in the database"
    category, count = rows[0][0], int(rows[0][1])
    data = expect_ok(client.get("/scenes", params={"category": category}))
    assert len(data) == count
    assert all(s["category"] == category for s in data), data


def test_scenes_unknown_category_is_empty_list(client, expect_ok, unique):
    assert expect_ok(client.get("/scenes", params={"category": "none-" + unique})) == []


def test_scene_by_id(client, expect_ok, test_scenes, unique):
    data = expect_ok(client.get(f"/scenes/{test_scenes['active']}"))
    assert data == {"id": test_scenes["active"], "name": "it-active-" + unique,
                    "category": test_scenes["category"],
                    "thumbnail_url": f"https://example.invalid/t/{unique}.jpg",
                    "parameters": {"style": "soft", "n": 2}}


def test_scene_inactive_is_not_found(client, expect_error, test_scenes):
    expect_error(client.get(f"/scenes/{test_scenes['inactive']}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("ident", ["999999999", "abc", "0", "-1", "1x"])
def test_scene_unknown_or_malformed_id_is_not_found(client, expect_error, psql, ident):
    if ident.isdigit():
        assert not psql(f"SELECT 1 FROM scenes WHERE id = {int(ident)}")
    expect_error(client.get(f"/scenes/{ident}"), 404, "NOT_FOUND")


# --------------------------------------------------------------------------- user endpoints


@pytest.mark.front
def test_user_me(client, expect_ok, psql, user):
    data = expect_ok(client.get("/user/me", token=user["token"]))
    assert set(data) == USER_KEYS, data
    assert data["id"] == user["id"]
    assert data["nickname"] == user["nickname"]
    assert data["avatar_url"] == ""
    assert data["credits"] == 50
    assert data["subscribed"] is False
    (code,), = psql(f"SELECT invite_code FROM users WHERE id = {user['id']}")
    assert data["invite_code"] == code and code
    assert RFC3339.match(data["created_at"]), data["created_at"]
    created = datetime.datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
    age = datetime.datetime.now(datetime.timezone.utc) - created
    assert datetime.timedelta(seconds=-120) < age < datetime.timedelta(minutes=10), created


def test_ctl_token_ttl(jwt_forge, token_for, user):
    claims = jwt_forge.claims_like(token_for(user["id"], ttl=120))
    assert claims["exp"] - claims["iat"] == 120, claims
    assert claims["sub"] == str(user["id"])


def test_user_credits_fresh_user(client, expect_ok, user):
    data = expect_ok(client.get("/user/credits", token=user["token"]))
    assert data == {"credits": 50, "checked_in_today": False, "checkin_streak": 0}


def test_user_credits_follow_the_database(client, expect_ok, make_user, token_for):
    uid = make_user(credits=7)
    assert expect_ok(client.get("/user/credits", token=token_for(uid)))["credits"] == 7
    uid0 = make_user()
    tok0 = token_for(uid0)
    assert expect_ok(client.get("/user/credits", token=tok0))["credits"] == 0
    assert expect_ok(client.get("/user/me", token=tok0))["credits"] == 0


def test_user_credits_checkin_state_follows_the_business_day(client, expect_ok, make_user,
                                                             token_for, psql):
    """checked_in_today and checkin_streak come from the user's check-in state, judged on
    the Asia/Shanghai calendar day: today counts as checked in; yesterday keeps the streak
    alive; anything older resets it to 0."""
    uid = make_user(credits=1)
    tok = token_for(uid)
    cases = [(0, True, 4), (1, False, 4), (2, False, 0), (30, False, 0)]
    for days_ago, checked, streak in cases:
        psql(f"UPDATE users SET checkin_streak = 4, last_checkin_day = "
             f"(now() AT TIME ZONE 'Asia/Shanghai')::date - {days_ago} WHERE id = {uid}")
        data = expect_ok(client.get("/user/credits", token=tok))
        assert (data["checked_in_today"], data["checkin_streak"]) == (checked, streak), \
            (days_ago, data)


def test_each_token_sees_only_its_own_user(client, expect_ok, expect_error, make_user, token_for,
                                           unique):
    a = make_user(nickname="a-" + unique, credits=11)
    b = make_user(nickname="b-" + unique, credits=22)
    ta, tb = token_for(a), token_for(b)
    # Alternate enough times to reach every worker with both identities and with none,
    # so per-process state left behind by a previous request would show.
    for _ in range(12):
        me = expect_ok(client.get("/user/me", token=ta))
        assert (me["id"], me["nickname"], me["credits"]) == (a, "a-" + unique, 11)
        expect_error(client.get("/user/me"), 401, "UNAUTHORIZED")
        me = expect_ok(client.get("/user/me", token=tb))
        assert (me["id"], me["nickname"], me["credits"]) == (b, "b-" + unique, 22)
        cr = expect_ok(client.get("/user/credits", token=ta))
        assert cr["credits"] == 11


# --------------------------------------------------------------------------- routing errors


@pytest.mark.parametrize("path", ["/no-such-endpoint", "/user/me/extra", "/credits", "/scenes/1/x"])
def test_unknown_route_is_not_found(client, expect_error, path):
    expect_error(client.get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/credits/packages"),
    ("POST", "/health"),
    ("PUT", "/scenes"),
    ("DELETE", "/user/credits"),
    ("GET", "/events"),
])
def test_wrong_method_is_405_with_allow(client, expect_error, method, path):
    resp = client.request(method, path)
    expect_error(resp, 405, "METHOD_NOT_ALLOWED")
    allowed = allow_methods(resp)
    assert allowed, f"no Allow header on 405 for {method} {path}"
    assert method not in allowed
    assert ("POST" if path == "/events" else "GET") in allowed, allowed


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("path", ["/user/me", "/user/credits"])
@pytest.mark.parametrize("header", [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Bearer not-a-jwt",
    "Bearer a.b.c",
    "Bearer ....",
    "Bearer " + "A" * 5000,
])
def test_missing_or_malformed_authorization(client, expect_error, path, header):
    headers = {} if header is None else {"Authorization": header}
    expect_error(client.get(path, headers=headers), 401, "UNAUTHORIZED")


def test_token_without_bearer_scheme(client, expect_error, user):
    expect_error(client.get("/user/me", headers={"Authorization": user["token"]}),
                 401, "UNAUTHORIZED")


def test_python_forged_token_is_accepted(client, expect_ok, jwt_forge, user):
    """Control for the forged-token cases below: the same claims, re-signed here, work."""
    claims = jwt_forge.claims_like(user["token"])
    assert claims.get("sub") == str(user["id"]), claims
    assert claims.get("iss") == jwt_forge.issuer and claims.get("aud") == "user", claims
    data = expect_ok(client.get("/user/me", token=jwt_forge.sign(claims)))
    assert data["id"] == user["id"]


def _forged(kind, forge, token, other_id):
    """A token that differs from an accepted one in exactly one respect."""
    claims = forge.claims_like(token)
    now = int(time.time())
    if kind == "alg_none":
        return forge.sign(claims, alg="none")
    if kind == "alg_none_with_signature":
        good_sig = forge.sign(claims).split(".")[2]
        return forge.sign(claims, alg="none") + good_sig
    if kind == "alg_hs512":
        return forge.sign(claims, alg="HS512")
    if kind == "alg_lowercase":
        return forge.sign(claims, header={"alg": "hs256", "typ": "JWT"})
    if kind == "alg_missing":
        return forge.sign(claims, header={"typ": "JWT"})
    if kind == "no_signature":
        return forge.sign(claims).rsplit(".", 1)[0] + "."
    if kind == "tampered_payload":
        return forge.with_payload(forge.sign(claims), dict(claims, sub=str(other_id)))
    if kind == "tampered_signature":
        head, body, sig = forge.sign(claims).split(".")
        return ".".join((head, body, ("A" if sig[0] != "A" else "B") + sig[1:]))
    if kind == "expired":
        return forge.sign(dict(claims, iat=now - 7200, nbf=now - 7200, exp=now - 600))
    if kind == "missing_exp":
        return forge.sign({k: v for k, v in claims.items() if k != "exp"})
    if kind == "nbf_future":
        return forge.sign(dict(claims, nbf=now + 600, exp=now + 7200))
    if kind == "iat_future":
        return forge.sign(dict(claims, iat=now + 600, nbf=now, exp=now + 7200))
    if kind == "wrong_issuer":
        return forge.sign(dict(claims, iss=forge.issuer + "-other"))
    if kind == "wrong_audience":
        return forge.sign(dict(claims, aud="someone-else"))
    if kind == "other_secret":
        return forge.sign(claims, secret=b"another-secret-that-is-32-bytes-or-more!")
    if kind == "empty_secret":
        return forge.sign(claims, secret=b"")
    if kind == "sub_not_a_number":
        return forge.sign(dict(claims, sub="12abc"))
    raise AssertionError(kind)


FORGED_KINDS = [
    "alg_none", "alg_none_with_signature", "alg_hs512", "alg_lowercase", "alg_missing",
    "no_signature", "tampered_payload", "tampered_signature", "expired", "missing_exp",
    "nbf_future", "iat_future", "wrong_issuer", "wrong_audience", "other_secret",
    "empty_secret", "sub_not_a_number",
]


@pytest.mark.parametrize("kind", FORGED_KINDS)
def test_forged_token_is_rejected(client, expect_error, jwt_forge, user, make_user, kind):
    other = make_user(credits=1) if kind == "tampered_payload" else 0
    bad = _forged(kind, jwt_forge, user["token"], other)
    assert bad != user["token"]
    expect_error(client.get("/user/me", token=bad), 401, "UNAUTHORIZED")
    expect_error(client.get("/user/credits", token=bad), 401, "UNAUTHORIZED")


def test_token_for_missing_user_is_unauthorized(client, expect_error, jwt_forge, psql, user):
    (top,), = psql("SELECT coalesce(max(id), 0) FROM users")
    ghost = int(top) + 1000000
    claims = dict(jwt_forge.claims_like(user["token"]), sub=str(ghost))
    expect_error(client.get("/user/me", token=jwt_forge.sign(claims)), 401, "UNAUTHORIZED")
    expect_error(client.get("/user/credits", token=jwt_forge.sign(claims)), 401, "UNAUTHORIZED")


def test_disabled_user_is_forbidden(client, expect_ok, expect_error, psql, user):
    expect_ok(client.get("/user/me", token=user["token"]))
    psql(f"UPDATE users SET status = 'disabled' WHERE id = {user['id']}")
    expect_error(client.get("/user/me", token=user["token"]), 403, "FORBIDDEN")
    expect_error(client.get("/user/credits", token=user["token"]), 403, "FORBIDDEN")
    psql(f"UPDATE users SET status = 'active' WHERE id = {user['id']}")
    expect_ok(client.get("/user/me", token=user["token"]))


# --------------------------------------------------------------------------- /events


def _event_rows(psql, name):
    return psql("SELECT user_id, props::text FROM events WHERE name = '%s' ORDER BY id" % name)


def test_event_anonymous_is_stored(client, request_id_of, psql, unique):
    name = "it_view_" + unique
    resp = client.post("/events", json={"name": name, "props": {"page": "x", "n": 3}})
    assert resp.status_code == 204, resp.text
    request_id_of(resp)
    assert resp.content == b""
    rows = _event_rows(psql, name)
    assert len(rows) == 1, rows
    assert rows[0][0] is None
    assert json.loads(rows[0][1]) == {"page": "x", "n": 3}


def test_event_with_token_records_the_user(client, request_id_of, psql, user, unique):
    name = "it_view_" + unique
    resp = client.post("/events", token=user["token"], json={"name": name, "props": {"page": "x"}})
    assert resp.status_code == 204, resp.text
    request_id_of(resp)
    rows = _event_rows(psql, name)
    assert rows == [[str(user["id"]), '{"page": "x"}']], rows


def test_page_view_event(client, request_id_of):
    resp = client.post("/events", json={"name": "page_view", "props": {"page": "x"}})
    assert resp.status_code == 204, resp.text
    request_id_of(resp)


def test_event_name_of_64_chars_and_json_charset(client, request_id_of, psql, unique):
    name = ("it64_" + unique).ljust(64, "z")
    assert len(name) == 64
    resp = client.post("/events", data=json.dumps({"name": name, "props": {}}),
                       headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 204, resp.text
    request_id_of(resp)
    assert len(_event_rows(psql, name)) == 1


def test_event_body_of_exactly_8_kib_is_accepted(client, request_id_of, unique):
    doc = {"name": "it_big_" + unique, "props": {"pad": ""}}
    room = 8192 - len(json.dumps(doc, separators=(",", ":")))
    doc["props"]["pad"] = "p" * room
    body = json.dumps(doc, separators=(",", ":")).encode()
    assert len(body) == 8192
    resp = client.post("/events", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 204, resp.text[:300]
    request_id_of(resp)


@pytest.mark.parametrize("body,field", [
    ({"props": {}}, "name"),
    ({"name": 5, "props": {}}, "name"),
    ({"name": None, "props": {}}, "name"),
    ({"name": ["a"], "props": {}}, "name"),
    ({"name": "", "props": {}}, "name"),
    ({"name": "n" * 65, "props": {}}, "name"),
    ({"name": "page_view", "props": []}, "props"),
    ({"name": "page_view", "props": "x"}, "props"),
    ({"name": "page_view", "props": 1}, "props"),
])
def test_event_bad_field(client, expect_error, body, field):
    msg = expect_error(client.post("/events", json=body), 400, "BAD_REQUEST")
    assert field in msg, f"message {msg!r} does not name {field!r}"


@pytest.mark.parametrize("raw", [b"{", b"not json", b"", b"[]", b"\"page_view\"",
                                 b"{\"name\":\"a\",\"props\":{}} trailing"])
def test_event_malformed_json(client, expect_error, raw):
    expect_error(client.post("/events", data=raw, headers={"Content-Type": "application/json"}),
                 400, "BAD_REQUEST")


def test_event_body_too_large(client, expect_error, unique):
    body = json.dumps({"name": "it_huge_" + unique, "props": {"pad": "p" * 9000}}).encode()
    assert len(body) > 8192
    expect_error(client.post("/events", data=body, headers={"Content-Type": "application/json"}),
                 413, "PAYLOAD_TOO_LARGE")


def test_event_body_just_over_8_kib(client, expect_error, unique):
    doc = {"name": "it_big_" + unique, "props": {"pad": ""}}
    doc["props"]["pad"] = "p" * (8193 - len(json.dumps(doc, separators=(",", ":"))))
    body = json.dumps(doc, separators=(",", ":")).encode()
    assert len(body) == 8193
    expect_error(client.post("/events", data=body, headers={"Content-Type": "application/json"}),
                 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_event_wrong_content_type(client, expect_error, ctype):
    body = json.dumps({"name": "page_view", "props": {}})
    expect_error(client.post("/events", data=body, headers={"Content-Type": ctype}),
                 415, "UNSUPPORTED_MEDIA_TYPE")


def test_event_with_invalid_token_is_unauthorized(client, expect_error, psql, jwt_forge, user,
                                                  unique):
    name = "it_badtok_" + unique
    bad = jwt_forge.sign(jwt_forge.claims_like(user["token"]), secret=b"x" * 40)
    expect_error(client.post("/events", token=bad, json={"name": name, "props": {}}),
                 401, "UNAUTHORIZED")
    expect_error(client.post("/events", token="garbage", json={"name": name, "props": {}}),
                 401, "UNAUTHORIZED")
    assert _event_rows(psql, name) == []


# --------------------------------------------------------------------------- X-Request-Id


@pytest.mark.parametrize("sane", ["abc-123", "0f8c2d4e-9b1a-4c3e-8f00-123456789abc"])
def test_request_id_is_echoed(client, request_id_of, sane):
    for resp in (client.get("/health", headers={"X-Request-Id": sane}),
                 client.get("/no-such-endpoint", headers={"X-Request-Id": sane})):
        assert request_id_of(resp) == sane


def test_request_id_is_generated_and_unique(client, request_id_of):
    ids = {request_id_of(client.get("/health")) for _ in range(5)}
    assert len(ids) == 5, ids
    for rid in ids:
        assert 8 <= len(rid) <= 128 and rid.isprintable() and " " not in rid, rid


@pytest.mark.parametrize("insane", [
    "r" * 1000,
    "abc\tdef",
    "has spaces in it",
    "quote\"<script>",
    "semi;colon,comma",
])
def test_insane_request_id_is_replaced(client, request_id_of, insane):
    resp = client.get("/health", headers={"X-Request-Id": insane})
    assert resp.status_code == 200, resp.text
    rid = request_id_of(resp)
    assert rid != insane
    assert len(rid) <= 128 and rid.isprintable() and " " not in rid, rid


def test_control_character_request_id_is_never_echoed(client):
    # lighttpd itself refuses most control characters in header values (400, before the
    # application sees the request); whoever answers, the value must not come back.
    insane = "abc\x01def"
    resp = client.get("/health", headers={"X-Request-Id": insane})
    assert resp.headers.get("X-Request-Id") != insane
    if resp.status_code != 400:
        assert resp.status_code == 200, resp.text
        assert resp.headers.get("X-Request-Id")
