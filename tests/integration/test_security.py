"""Security hardening, written as the attacks (docs/security.md).

Each test plays what an attacker tried against the landed product: replaying an Official
Account callback seen in a log, a QR-login scene polled from another browser, an OAuth state
used by another browser (login CSRF), a flood of each anonymous route, locking an admin out,
a disabled or deleted user still using the API, an oversized MsgId, a stale WeChat Pay answer,
the first requests after a PostgreSQL restart.  Everything goes through lighttpd; signatures
are computed here from the shared secrets.
"""

import concurrent.futures
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

from test_admin_login import make_admin  # noqa: F401  (a fixture)
from test_wechat import (OA_ORIGINAL_ID, SourceAddress, env, identity_rows, new_openid, oa_signature,
                         post_safe, sha1_hex, subscribe_xml, text_xml)

REPO = pathlib.Path(__file__).resolve().parents[2]
HANDLERS = REPO / "handlers"


# --------------------------------------------------------------------------- helpers


def signed_query(ts=None, nonce=None):
    token = env("WECHAT_TOKEN")
    ts = str(int(time.time())) if ts is None else str(ts)
    nonce = nonce or str(uuid.uuid4().int % 10 ** 12)
    return {"signature": oa_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def post_plain(client, query, xml):
    return client.post("/auth/wechat/verify", params=query, data=xml.encode(),
                       headers={"Content-Type": "text/xml"})


def scan_xml(openid, scene):
    return (f"<xml><ToUserName><![CDATA[{OA_ORIGINAL_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[login_{scene}]]></EventKey>"
            f"<Ticket><![CDATA[t]]></Ticket></xml>")


def session_from(addr):
    s = requests.Session()
    s.mount("http://", SourceAddress(addr))
    return s


def flood(send, limit, extra=40):
    """Calls send() until the first 429; returns (statuses before it, the 429 response)."""
    statuses = []
    for _ in range(limit + extra):
        resp = send()
        if resp.status_code == 429:
            return statuses, resp
        statuses.append(resp.status_code)
    pytest.fail(f"no 429 after {len(statuses)} requests: {sorted(set(statuses))}")


def check_429(resp):
    body = resp.json()
    assert body["success"] is False and body["code"] == "RATE_LIMITED", body
    assert 1 <= int(resp.headers["Retry-After"]) <= 900, resp.headers
    assert resp.headers.get("X-Request-Id")


# --------------------------------------------------------------------------- callback replay


def test_logged_triple_replayed_with_another_body_is_refused(client, psql):
    """The takeover: a signature/timestamp/nonce triple from a log line, replayed with a
    forged subscribe of someone else's openid."""
    victim, attacker = new_openid(), new_openid()
    query = signed_query()
    genuine = subscribe_xml(victim)
    assert post_plain(client, query, genuine).status_code == 200
    resp = post_plain(client, query, subscribe_xml(attacker))
    assert resp.status_code == 403, resp.text[:300]
    assert identity_rows(psql, attacker) == []
    # WeChat's own retry (same triple, byte for byte the same body) is still answered, and
    # applied once
    resp = post_plain(client, query, genuine)
    assert resp.status_code == 200 and resp.text.strip() == "success", resp.text[:300]
    assert len(identity_rows(psql, victim)) == 1


def test_replayed_scan_of_an_attackers_login_qr_gives_no_token(client, expect_ok, psql):
    """The full attack: a logged SCAN triple replayed with the attacker's login scene."""
    victim = new_openid()
    query = signed_query()
    assert post_plain(client, query, subscribe_xml(victim)).status_code == 200
    qr = expect_ok(client.post("/auth/wechat/qrcode"))
    resp = post_plain(client, query, scan_xml(victim, qr["scene"]))
    assert resp.status_code == 403, resp.text[:300]
    poll = expect_ok(client.get(f"/auth/wechat/qrcode/{qr['scene']}",
                                headers={"X-QR-Secret": qr["poll_secret"]}))
    assert poll == {"status": "pending"}, poll


# 10 s beyond the window each way: a loaded machine may take a second or more between the
# clock read here and the server's own, which must not carry a future timestamp back inside
@pytest.mark.parametrize("age", [310, 365 * 86400, -310])
def test_timestamp_outside_the_window_is_refused(client, psql, age):
    openid = new_openid()
    query = signed_query(ts=int(time.time()) - age)
    resp = post_plain(client, query, subscribe_xml(openid))
    assert resp.status_code == 403, resp.text[:300]
    assert "timestamp" in resp.json()["message"]
    assert identity_rows(psql, openid) == []
    # the URL check too
    resp = client.get("/auth/wechat/verify", params={**query, "echostr": "12345"})
    assert resp.status_code == 403, resp.text[:300]


def test_safe_mode_old_timestamp_is_refused(client, psql):
    """A valid msg_signature does not make an old delivery fresh."""
    openid = new_openid()
    assert post_safe(client, subscribe_xml(openid)).status_code == 200
    token = env("WECHAT_TOKEN")
    # a year-old timestamp with a valid msg_signature
    ts = str(int(time.time()) - 365 * 86400)
    query = signed_query(ts=ts)
    query.update(encrypt_type="aes", msg_signature=sha1_hex("".join(sorted([token, ts,
                                                                             query["nonce"],
                                                                             "x"]))))
    resp = client.post("/auth/wechat/verify", params=query,
                       data=b"<xml><Encrypt><![CDATA[x]]></Encrypt></xml>",
                       headers={"Content-Type": "text/xml"})
    assert resp.status_code == 403, resp.text[:300]


def test_callback_fails_closed_without_redis(client, psql):
    """No replay memory, no callback: 503 and nothing applied; WeChat retries later."""
    openid = new_openid()
    sock = pathlib.Path(os.environ["AIPHOTO_VAR"]) / "redis" / "redis.sock"
    conf = subprocess.run(["redis-cli", "-s", str(sock), "CONFIG", "GET", "dir"],
                          capture_output=True, text=True, timeout=10).stdout
    assert conf, "redis is not reachable"
    stack = REPO / "scripts" / "stack"
    # Redis is stopped by renaming nothing: pause it (CLIENT PAUSE blocks every client,
    # whose 1 s command timeout then fails) for a few seconds
    subprocess.run(["redis-cli", "-s", str(sock), "CLIENT", "PAUSE", "4000", "ALL"],
                   capture_output=True, timeout=10, check=True)
    try:
        resp = post_plain(client, signed_query(), subscribe_xml(openid))
        assert resp.status_code == 503, resp.text[:300]
        assert resp.json()["code"] == "UNAVAILABLE"
    finally:
        subprocess.run(["redis-cli", "-s", str(sock), "CLIENT", "UNPAUSE"],
                       capture_output=True, timeout=10)
    assert identity_rows(psql, openid) == []
    assert stack.exists()


@pytest.mark.parametrize("field,value", [("MsgId", "9" * 400), ("FromUserName", "o" * 300),
                                         ("CreateTime", "1" * 40)])
def test_oversized_message_fields_are_refused_cleanly(client, psql, field, value):
    openid = new_openid()
    xml = text_xml(openid, "hi", 10 ** 17 + 7, int(time.time()))
    xml = re.sub(rf"<{field}>.*?</{field}>", f"<{field}>{value}</{field}>", xml)
    resp = post_plain(client, signed_query(), xml)
    assert resp.status_code == 400, resp.text[:300]
    assert field in resp.json()["message"]


# --------------------------------------------------------------------------- safe mode


def ctl_env(extra):
    e = dict(os.environ)
    e.update(extra)
    return e


def test_check_config_names_the_callback_mode():
    ctl = REPO / "build" / "aiphotoctl"
    e = ctl_env({})
    e.pop("WECHAT_MSG_MODE", None)
    proc = subprocess.run([str(ctl), "check-config"], env=e, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "WECHAT_MSG_MODE=safe" in proc.stdout, proc.stdout  # the default with a key
    assert "plain ones are refused" in proc.stdout
    proc = subprocess.run([str(ctl), "check-config"],
                          env=ctl_env({"WECHAT_MSG_MODE": "plain"}), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 and "WECHAT_MSG_MODE=plain" in proc.stdout, proc.stdout
    e = ctl_env({"WECHAT_MSG_MODE": "safe"})
    e.pop("WECHAT_AES_KEY")
    proc = subprocess.run([str(ctl), "check-config"], env=e, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 1 and "WECHAT_AES_KEY" in proc.stderr, proc.stderr
    proc = subprocess.run([str(ctl), "check-config"], env=ctl_env({"WECHAT_MSG_MODE": "x"}),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "WECHAT_MSG_MODE" in proc.stderr, proc.stderr


def test_safe_mode_stack_refuses_plain_messages():
    """A stack configured as production would be (WECHAT_MSG_MODE unset, a key set: safe)
    refuses every plain message, also a correctly signed one, and accepts encrypted ones."""
    from test_ops import STACK, free_port, run, second_stack_env

    tmp = tempfile.mkdtemp(prefix="aiphoto-safe-")
    var = pathlib.Path(tmp) / "var"
    port = free_port()
    e = second_stack_env(var, port)
    e.pop("WECHAT_MSG_MODE", None)
    try:
        proc = run([STACK, "up"], cwd=REPO, env={**e, "WECHAT_MSG_MODE": "safe"}, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        base = f"http://127.0.0.1:{port}/api/v1"
        openid = new_openid()
        query = signed_query()
        resp = requests.post(base + "/auth/wechat/verify", params=query,
                             data=subscribe_xml(openid).encode(),
                             headers={"Content-Type": "text/xml"}, timeout=10)
        assert resp.status_code == 403, resp.text[:300]
        assert "safe mode" in resp.json()["message"]

        class Remote:
            @staticmethod
            def post(path, **kw):
                return requests.post(base + path, timeout=10, **kw)

        resp = post_safe(Remote, subscribe_xml(new_openid()))
        assert resp.status_code == 200, resp.text[:300]
        # encrypt_type=aes without msg_signature: refused in safe mode
        q = signed_query()
        q["encrypt_type"] = "aes"
        resp = requests.post(base + "/auth/wechat/verify", params=q,
                             data=b"<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>",
                             headers={"Content-Type": "text/xml"}, timeout=10)
        assert resp.status_code == 403, resp.text[:300]
    finally:
        run([STACK, "down"], cwd=REPO, env=e, timeout=120)
        run([STACK, "reset"], cwd=REPO, env=e, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- QR login


def test_qr_scene_polled_from_another_browser_gets_no_token(client, expect_ok, expect_error,
                                                           sim):
    qr = expect_ok(client.post("/auth/wechat/qrcode"))
    scene, secret = qr["scene"], qr["poll_secret"]
    assert sim.scan(new_openid(), subscribed=False, scene_str="login_" + scene)["status"] == 200
    path = f"/auth/wechat/qrcode/{scene}"
    # the leaked scene alone, or with a guessed secret: nothing
    expect_error(client.get(path), 403, "FORBIDDEN")
    expect_error(client.get(path, headers={"X-QR-Secret": "0" * 32}), 403, "FORBIDDEN")
    expect_error(client.get(path, headers={"X-QR-Secret": secret[:-1]}), 403, "FORBIDDEN")
    # the browser that created it still gets its token, once
    data = expect_ok(client.get(path, headers={"X-QR-Secret": secret}))
    assert data["status"] == "confirmed" and "token" in data, data


# --------------------------------------------------------------------------- OAuth login CSRF


def authorize(session, base):
    resp = session.get(base + "/auth/wechat/authorize", params={"redirect": "/wechat/member.html"},
                       allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text[:300]
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    assert "Path=/api/v1/auth/wechat" in cookie, cookie
    q = urllib.parse.parse_qs(urllib.parse.urlparse(resp.headers["Location"]).query)
    return q["state"][0]


def test_oauth_state_is_bound_to_the_browser_that_asked(base_url, sim, expect_ok, expect_error):
    base = base_url + "/api/v1"
    mine, other = requests.Session(), requests.Session()
    state = authorize(mine, base)
    code = sim.oauth_code(openid=new_openid(), scope="snsapi_base")["code"]
    # the attacker's state planted in the victim's browser (no cookie, another cookie)
    expect_error(other.post(base + "/auth/wechat/oauth", json={"code": code, "state": state},
                            timeout=10), 400, "BAD_REQUEST")
    authorize(other, base)
    state2 = authorize(mine, base)
    assert mine.cookies.get("aiphoto_oauth") != other.cookies.get("aiphoto_oauth")
    expect_error(other.post(base + "/auth/wechat/oauth", json={"code": code, "state": state2},
                            timeout=10), 400, "BAD_REQUEST")
    # two tabs of one browser share the cookie: both states work
    state3 = authorize(mine, base)
    data = expect_ok(mine.post(base + "/auth/wechat/oauth", json={"code": code, "state": state3},
                               timeout=10))
    assert "token" in data


# --------------------------------------------------------------------------- floods


def test_anonymous_routes_are_limited_per_address(base_url, client, expect_ok, make_user,
                                                  token_for):
    base = base_url + "/api/v1"
    s = session_from("127.0.0.3")
    cases = [
        ("authorize", lambda: s.get(base + "/auth/wechat/authorize", allow_redirects=False,
                                    timeout=10), 30),
        ("qrcode", lambda: s.post(base + "/auth/wechat/qrcode", timeout=10), 30),
        ("mp login", lambda: s.post(base + "/auth/mp/login", json={}, timeout=10), 20),
        ("events", lambda: s.post(base + "/events", json={}, timeout=10), 120),
        ("qr poll", lambda: s.get(base + "/auth/wechat/qrcode/" + "a" * 32, timeout=10), 120),
    ]
    for name, send, burst in cases:
        statuses, refused = flood(send, burst)
        assert len(statuses) >= burst, (name, len(statuses))
        assert 429 not in statuses and 500 not in statuses, (name, statuses)
        check_429(refused)
        # another address is not affected
        assert client.post("/events", json={"name": "still_ok"}).status_code == 204, name
    # a user's events are counted per user, not per address
    tok = token_for(make_user())
    assert s.post(base + "/events", json={"name": "mine"}, timeout=10,
                  headers={"Authorization": "Bearer " + tok}).status_code == 204


def test_event_bytes_are_limited_per_address(base_url, client):
    """Large events fill the byte budget (256 KiB at once) long before the count (120)."""
    base = base_url + "/api/v1"
    s = session_from("127.0.0.7")
    big = {"name": "big", "props": {"pad": "x" * 8000}}
    statuses, refused = flood(lambda: s.post(base + "/events", json=big, timeout=10), 32)
    assert 25 <= len(statuses) <= 40 and set(statuses) == {204}, statuses
    check_429(refused)
    assert "MiB" in refused.json()["message"] or "KiB" in refused.json()["message"], \
        refused.json()
    # small events of another address still pass
    assert client.post("/events", json={"name": "small"}).status_code == 204


# --------------------------------------------------------------------------- admin login


def test_admin_cannot_be_locked_out_from_another_address(base_url, make_admin, expect_ok):
    base = base_url + "/api/v1"
    name, password = make_admin()
    attacker, admin = session_from("127.0.0.4"), session_from("127.0.0.5")
    for _ in range(5):
        r = attacker.post(base + "/admin/login", json={"username": name, "password": "wrong!"},
                          timeout=30)
        assert r.status_code == 401, r.text
    r = attacker.post(base + "/admin/login", json={"username": name, "password": password},
                      timeout=30)
    assert r.status_code == 429, r.text
    check_429(r)
    # the admin, elsewhere, signs in as usual
    r = admin.post(base + "/admin/login", json={"username": name, "password": password},
                   timeout=30)
    assert r.status_code == 200 and "token" in r.json()["data"], r.text


def test_unknown_usernames_answer_like_known_ones(base_url, make_admin):
    """Same statuses, same messages, same lock, for a real and an invented username."""
    base = base_url + "/api/v1"
    name, _ = make_admin()
    answers = {}
    for who in (name, "nobody-" + uuid.uuid4().hex[:8]):
        s = session_from("127.0.0.6")
        seen = []
        for _ in range(6):
            r = s.post(base + "/admin/login", json={"username": who, "password": "wrong!"},
                       timeout=30)
            body = r.json()
            seen.append((r.status_code, body["code"], body["message"]))
        answers[who] = seen
    real, invented = answers.values()
    assert real == invented, answers
    assert [s for s, _, _ in real] == [401] * 5 + [429], real


def test_password_checks_are_capped_service_wide(base_url, make_admin, redis_cli):
    """Many addresses at once: past the service-wide budget of password checks → 429, so
    scrypt work cannot starve the workers.  The budget is spent here by a burst of
    attempts from 40 addresses, each a wrong password (a full password check)."""
    base = base_url + "/api/v1"
    name, password = make_admin()

    def one(i):
        s = session_from(f"127.0.1.{i + 1}")
        return s.post(base + "/admin/login", json={"username": name, "password": "wrong!"},
                      timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, range(40)))
    assert set(codes) <= {401, 429}, codes
    # the budget (8 at once, 8 a second) cannot have covered 40 checks at once unless they
    # were slower than 8 a second on this machine; either way nothing but 401/429 came back,
    # and once the budget refills the admin signs in
    time.sleep(1.5)
    r = session_from("127.0.1.200").post(base + "/admin/login",
                                         json={"username": name, "password": password},
                                         timeout=60)
    assert r.status_code == 200, r.text
    # spend the budget deterministically: a far-future arrival time in the shared key
    now_ms = int(time.time() * 1000)
    redis_cli("SET", "rl:admin-hash:all", str(now_ms + 60000), "PX", "60000")
    r = session_from("127.0.1.201").post(base + "/admin/login",
                                         json={"username": name, "password": password},
                                         timeout=60)
    assert r.status_code == 429, r.text
    check_429(r)
    redis_cli("DEL", "rl:admin-hash:all")


# --------------------------------------------------------------------------- disabled and deleted users


def user_routes():
    """(method, pattern) of every route that needs a user token, read from the route tables,
    so that a route added later is covered too."""
    found = []
    block = re.compile(r"\{\s*\.method\s*=\s*HTTP_(\w+),\s*\.pattern\s*=\s*\"([^\"]+)\","
                       r"\s*\.auth\s*=\s*AUTH_USER\b")
    for f in sorted(HANDLERS.glob("*.c")):
        found += block.findall(f.read_text())
    assert len(found) >= 20, found
    return found


def concrete(pattern):
    return re.sub(r":\w+", "1", pattern)


def test_disabled_user_may_not_read_change_or_delete(client, make_user, token_for, psql, audit):
    uid = make_user(credits=5)
    tok = token_for(uid)
    assert client.get("/user/me", token=tok).status_code == 200
    psql(f"UPDATE users SET status = 'disabled' WHERE id = {uid}")
    for method, pattern in user_routes():
        resp = client.request(method, concrete(pattern), token=tok,
                              **({} if method in ("GET", "DELETE") else {"json": {}}),
                              headers={"Idempotency-Key": "k" + uuid.uuid4().hex[:8]})
        assert resp.status_code == 403, (method, pattern, resp.status_code, resp.text[:200])
        assert resp.json()["code"] == "FORBIDDEN"
    psql(f"UPDATE users SET status = 'active' WHERE id = {uid}")
    assert client.get("/user/me", token=tok).status_code == 200


def test_disabling_is_seen_at_once_by_every_worker(client, make_user, token_for, psql):
    """Workers remember whom they found active; a status change made anywhere (here psql)
    reaches all of them before the next request: ten flips, each checked by parallel
    requests that land on every worker."""
    uid = make_user()
    tok = token_for(uid)

    def codes():
        def one(_):
            return requests.get(client.url("/user/credits"), timeout=30,
                                headers={"Authorization": "Bearer " + tok,
                                         "Connection": "close"}).status_code
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return set(pool.map(one, range(16)))

    for _ in range(10):
        assert codes() == {200}
        psql(f"UPDATE users SET status = 'disabled' WHERE id = {uid}")
        assert codes() == {403}
        psql(f"UPDATE users SET status = 'active' WHERE id = {uid}")
    assert codes() == {200}
    psql(f"DELETE FROM users WHERE id = {uid}")
    assert codes() == {401}


def test_token_of_a_user_that_does_not_exist_is_unauthorized(client, token_for, psql):
    (nobody,) = psql("SELECT COALESCE(max(id), 0) + 100000 FROM users")[0]
    tok = token_for(int(nobody))
    for method, pattern in user_routes():
        resp = client.request(method, concrete(pattern), token=tok,
                              **({} if method in ("GET", "DELETE") else {"json": {}}),
                              headers={"Idempotency-Key": "k" + uuid.uuid4().hex[:8]})
        assert resp.status_code == 401, (method, pattern, resp.status_code, resp.text[:200])
        assert resp.json()["code"] == "UNAUTHORIZED"


# --------------------------------------------------------------------------- WeChat Pay answers


def test_a_stale_wechat_pay_answer_is_refused(client, expect_error, make_user, token_for, sim,
                                              psql):
    uid = make_user()
    openid = new_openid()
    psql("INSERT INTO wechat_identities (user_id, app_kind, appid, openid) "
         f"VALUES ({uid}, 'oa', '{env('WECHAT_APPID')}', '{openid}')")
    sim.know_openid(openid, "oa")
    (pkg,) = psql("SELECT id FROM packages WHERE active ORDER BY id LIMIT 1")[0]
    sim.call("POST", "/__sim/pay/answer-skew", {"seconds": -3600})
    try:
        resp = client.post("/payment/create-order", token=token_for(uid),
                           json={"package_id": int(pkg)},
                           headers={"Idempotency-Key": "stale-" + uuid.uuid4().hex[:8]})
        expect_error(resp, 502, "UPSTREAM_ERROR")
    finally:
        sim.call("POST", "/__sim/pay/answer-skew", {"seconds": 0})


# --------------------------------------------------------------------------- PostgreSQL restart


def test_first_transaction_of_every_worker_after_a_database_restart(client, make_user,
                                                                    token_for):
    """BEGIN on a connection the restart killed is retried on a fresh one: no 503."""
    stack = REPO / "scripts" / "stack"
    uid = make_user(credits=1000)
    tok = token_for(uid)
    assert client.get("/user/credits", token=tok).status_code == 200
    subprocess.run([str(stack), "pg-stop"], check=True, capture_output=True, timeout=60)
    subprocess.run([str(stack), "pg-start"], check=True, capture_output=True, timeout=60)
    time.sleep(0.5)  # past the 250 ms connect back-off of a worker that probed meanwhile

    def one(i):
        r = requests.post(client.url("/credits/consume"), timeout=30,
                          headers={"Authorization": "Bearer " + tok,
                                   "Idempotency-Key": f"pg-{uuid.uuid4().hex[:10]}"},
                          json={"amount": 1, "reason": f"restart {i}"})
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(16)))
    assert codes == [200] * 16, codes
