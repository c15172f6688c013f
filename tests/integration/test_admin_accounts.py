"""Admin accounts (docs/admin.md): roles carried by admin tokens, the router's account rule
(a disabled admin, another role or an ended session is refused at once), an admin's own
password, the owner's account management, the audit log, and `aiphotoctl admin`.
"""

import base64
import json
import time
import uuid

import pytest

from adminkit import (admin_token, admins, audit_rows, ctl_run, fresh_admin,  # noqa: F401
                      new_admin, settles)


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def login(client, username, password):
    return client.post("/admin/login", json={"username": username, "password": password})


def me(client, token):
    return client.get("/admin/me", token=token)


def write(client, token):
    """A write that changes nothing when it gets past the account rule (400: no body)."""
    return client.post("/admin/password", token=token)


# --------------------------------------------------------------------------- tokens


def test_login_token_carries_role_and_session(client, expect_ok):
    a = new_admin("support")
    data = expect_ok(login(client, a["username"], a["password"]))
    c = claims_of(data["token"])
    assert c["aud"] == "admin" and c["sub"] == str(a["id"]) and c["role"] == "support"
    assert c["sv"] == 1
    # admin tokens live hours (ADMIN_TOKEN_HOURS, 8 by default), not a user token's week
    assert data["expires_in"] == 8 * 3600 == c["exp"] - c["iat"], (data, c)
    got = expect_ok(me(client, data["token"]))
    assert got["id"] == a["id"] and got["username"] == a["username"]
    assert got["role"] == "support" and got["disabled"] is False
    assert "password_hash" not in got and got["last_login_at"]


def test_user_tokens_and_user_ids_never_act_as_admins(client, expect_error, make_user,
                                                      token_for, jwt_forge, admins):
    uid = make_user()
    # a user token on an admin route: 403, whatever the id
    expect_error(me(client, token_for(uid)), 403, "FORBIDDEN")
    expect_error(me(client, token_for(admins["owner"]["id"])), 403, "FORBIDDEN")
    # a well-signed admin token for an id no admin has: 401, never a user's rights
    claims = jwt_forge.default_claims(10 ** 12, audience="admin", role="owner")
    claims["sv"] = 1
    expect_error(me(client, jwt_forge.sign(claims)), 401, "UNAUTHORIZED")
    # the shape of admin tokens before roles (role "admin", no sv): refused
    old = jwt_forge.default_claims(admins["owner"]["id"], audience="admin", role="admin")
    expect_error(me(client, jwt_forge.sign(old)), 401, "UNAUTHORIZED")
    # a token that claims a higher role than the admin has: refused, not promoted
    lying = jwt_forge.default_claims(admins["viewer"]["id"], audience="admin", role="owner")
    lying["sv"] = 1
    expect_error(me(client, jwt_forge.sign(lying)), 401, "UNAUTHORIZED")


def test_disabled_admin_is_refused_at_once(client, expect_ok, expect_error, fresh_admin):
    a = fresh_admin("operator")
    expect_ok(me(client, a["token"]))
    expect_error(write(client, a["token"]), 400, "BAD_REQUEST")
    proc = ctl_run("admin", "disable", a["username"])
    assert proc.returncode == 0, proc.stderr
    # a write reads the account: refused on the very next request, by every worker
    for _ in range(8):
        msg = expect_error(write(client, a["token"]), 401, "UNAUTHORIZED")
    assert "停用" in msg or "disabled" in msg
    # reads follow as soon as the change's notification reached each worker
    settles(lambda: me(client, a["token"]), 401)
    expect_error(login(client, a["username"], a["password"]), 401, "UNAUTHORIZED")
    # enabled again, the old session stays ended; a new login works
    assert ctl_run("admin", "enable", a["username"]).returncode == 0
    for _ in range(8):
        expect_error(write(client, a["token"]), 401, "UNAUTHORIZED")
    settles(lambda: me(client, a["token"]), 401)
    tok = expect_ok(login(client, a["username"], a["password"]))["token"]
    expect_ok(me(client, tok))


def test_role_change_ends_sessions(client, expect_ok, expect_error, fresh_admin):
    a = fresh_admin("viewer")
    expect_ok(me(client, a["token"]))
    assert ctl_run("admin", "role", a["username"], "operator").returncode == 0
    for _ in range(8):
        expect_error(write(client, a["token"]), 401, "UNAUTHORIZED")
    settles(lambda: me(client, a["token"]), 401)
    tok = expect_ok(login(client, a["username"], a["password"]))["token"]
    assert claims_of(tok)["role"] == "operator"
    assert expect_ok(me(client, tok))["role"] == "operator"


def test_a_change_made_with_psql_is_seen_at_once(client, expect_ok, expect_error, fresh_admin,
                                                 psql):
    a = fresh_admin("viewer")
    for _ in range(8):
        expect_ok(me(client, a["token"]))
    psql(f"UPDATE admins SET disabled = true WHERE id = {a['id']}")
    expect_error(write(client, a["token"]), 401, "UNAUTHORIZED")
    settles(lambda: me(client, a["token"]), 401)
    psql(f"UPDATE admins SET disabled = false WHERE id = {a['id']}")
    settles(lambda: me(client, a["token"]), 200)
    psql(f"DELETE FROM admins WHERE id = {a['id']}")
    expect_error(write(client, a["token"]), 401, "UNAUTHORIZED")
    settles(lambda: me(client, a["token"]), 401)


# --------------------------------------------------------------------------- own password


def test_password_change(client, expect_ok, expect_error, fresh_admin, psql):
    a = fresh_admin("support")
    new = "new-" + uuid.uuid4().hex
    path = "/admin/password"
    # each field, and the rules of a new password
    for body, field in [({}, "current_password"),
                        ({"current_password": a["password"]}, "new_password"),
                        ({"current_password": a["password"], "new_password": 5}, "new_password"),
                        ({"current_password": a["password"], "new_password": "short"},
                         "new_password"),
                        ({"current_password": a["password"], "new_password": "x" * 257},
                         "new_password"),
                        ({"current_password": a["password"], "new_password": a["password"]},
                         "new_password"),
                        ({"current_password": "", "new_password": new}, "current_password")]:
        msg = expect_error(client.post(path, token=a["token"], json=body), 400, "BAD_REQUEST")
        assert field in msg, (body, msg)
    expect_error(client.post(path, token=a["token"],
                             json={"current_password": a["password"] + "x",
                                   "new_password": new}), 403, "FORBIDDEN")
    resp = client.post(path, token=a["token"],
                       json={"current_password": a["password"], "new_password": new})
    data = expect_ok(resp)
    assert set(data) == {"token", "expires_in"}
    # every other session ended; the answer's token starts the next one
    expect_error(write(client, a["token"]), 401, "UNAUTHORIZED")
    settles(lambda: me(client, a["token"]), 401)
    expect_ok(me(client, data["token"]))
    assert claims_of(data["token"])["sv"] == claims_of(a["token"])["sv"] + 1
    expect_error(login(client, a["username"], a["password"]), 401, "UNAUTHORIZED")
    expect_ok(login(client, a["username"], new))
    # audited, without any password or hash
    rows = audit_rows(psql, f"action = 'admin.password' AND target_id = '{a['id']}'")
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["admin_id"] == a["id"] and row["actor"] == a["username"]
    assert row["request_id"] == resp.headers["X-Request-Id"] and row["address"] == "127.0.0.1"
    assert row["after"]["session_version"] == row["before"]["session_version"] + 1
    text = json.dumps(row)
    assert "password_hash" not in text and "scrypt" not in text and new not in text


def test_password_change_wrong_current_locks_like_the_login(client, expect_error, fresh_admin):
    a = fresh_admin("viewer")
    for i in range(5):
        expect_error(client.post("/admin/password", token=a["token"],
                                 json={"current_password": f"wrong-{i}",
                                       "new_password": "whatever-123"}), 403, "FORBIDDEN")
    resp = client.post("/admin/password", token=a["token"],
                       json={"current_password": a["password"], "new_password": "new-pw-12345"})
    expect_error(resp, 429, "RATE_LIMITED")
    assert 0 < int(resp.headers["Retry-After"]) <= 900
    # the same counter as the login's: the login from this address is locked too
    expect_error(login(client, a["username"], a["password"]), 429, "RATE_LIMITED")


# --------------------------------------------------------------------------- owners' management


def test_owner_manages_admins(client, expect_ok, expect_error, admins, psql, request_id_of):
    owner = admins["owner"]["token"]
    name = "it_made_" + uuid.uuid4().hex[:8]
    body = {"username": name, "password": "pw-" + uuid.uuid4().hex, "role": "support"}
    for bad, field in [({**body, "username": ""}, "username"),
                       ({**body, "username": "has space"}, "username"),
                       ({**body, "username": "x" * 65}, "username"),
                       ({k: v for k, v in body.items() if k != "username"}, "username"),
                       ({**body, "password": "short"}, "password"),
                       ({k: v for k, v in body.items() if k != "password"}, "password"),
                       ({**body, "role": "admin"}, "role"),
                       ({**body, "role": 3}, "role"),
                       ({k: v for k, v in body.items() if k != "role"}, "role")]:
        msg = expect_error(client.post("/admin/admins", token=owner, json=bad), 400,
                           "BAD_REQUEST")
        assert field in msg, (bad, msg)
    resp = client.post("/admin/admins", token=owner, json=body)
    made = expect_ok(resp, 201)
    assert made["username"] == name and made["role"] == "support" and not made["disabled"]
    assert "password_hash" not in made
    expect_error(client.post("/admin/admins", token=owner, json={**body, "username": name.upper()}),
                 409, "CONFLICT")
    tok = expect_ok(login(client, name, body["password"]))["token"]
    assert claims_of(tok)["role"] == "support"
    (row,) = audit_rows(psql, f"action = 'admin.create' AND target_id = '{made['id']}'")
    assert row["before"] is None and row["after"]["username"] == name
    assert row["admin_id"] == admins["owner"]["id"]
    assert row["request_id"] == request_id_of(resp)

    path = f"/admin/admins/{made['id']}"
    expect_error(client.request("PUT", path, token=owner, json={}), 400, "BAD_REQUEST")
    expect_error(client.request("PUT", path, token=owner, json={"role": "boss"}), 400,
                 "BAD_REQUEST")
    expect_error(client.request("PUT", path, token=owner, json={"disabled": "yes"}), 400,
                 "BAD_REQUEST")
    expect_error(client.request("PUT", "/admin/admins/999999999", token=owner,
                                json={"role": "viewer"}), 404, "NOT_FOUND")
    got = expect_ok(client.request("PUT", path, token=owner, json={"role": "operator"}))
    assert got["role"] == "operator" and got["session_version"] == made["session_version"] + 1
    expect_error(write(client, tok), 401, "UNAUTHORIZED")
    settles(lambda: me(client, tok), 401)
    got = expect_ok(client.request("PUT", path, token=owner, json={"disabled": True}))
    assert got["disabled"] is True
    rows = audit_rows(psql, f"action = 'admin.update' AND target_id = '{made['id']}'")
    assert [(r["before"]["role"], r["after"]["role"]) for r in rows] == \
        [("support", "operator"), ("operator", "operator")]
    assert [(r["before"]["disabled"], r["after"]["disabled"]) for r in rows] == \
        [(False, False), (False, True)]
    listed = expect_ok(client.get("/admin/admins?limit=50", token=owner))
    assert any(x["id"] == made["id"] and x["disabled"] for x in listed["items"])


def test_no_active_owner_may_remain(client, expect_ok, expect_error, fresh_admin, psql):
    a = fresh_admin("owner")
    others = [r[0] for r in psql(f"SELECT id FROM admins WHERE role = 'owner' AND NOT disabled "
                                 f"AND id <> {a['id']}")]
    try:
        if others:
            psql(f"UPDATE admins SET disabled = true WHERE id IN ({','.join(others)})")
        expect_error(client.request("PUT", f"/admin/admins/{a['id']}", token=a["token"],
                                    json={"role": "operator"}), 409, "CONFLICT")
        expect_error(client.request("PUT", f"/admin/admins/{a['id']}", token=a["token"],
                                    json={"disabled": True}), 409, "CONFLICT")
        proc = ctl_run("admin", "disable", a["username"])
        assert proc.returncode == 1 and "owner" in proc.stderr, proc.stderr
        expect_ok(me(client, a["token"]))  # nothing changed, the session lives
    finally:
        if others:
            psql(f"UPDATE admins SET disabled = false WHERE id IN ({','.join(others)})")


# --------------------------------------------------------------------------- audit log


def test_audit_list_and_filters(client, expect_ok, expect_error, admins, fresh_admin):
    a = fresh_admin("viewer")
    owner = admins["owner"]["token"]
    for role in ("support", "viewer", "support"):
        expect_ok(client.request("PUT", f"/admin/admins/{a['id']}", token=owner,
                                 json={"role": role}))
    op = admins["operator"]["token"]
    page = expect_ok(client.get(f"/admin/audit?target_type=admin&target_id={a['id']}&limit=2",
                                token=op))
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = expect_ok(client.get(f"/admin/audit?target_type=admin&target_id={a['id']}"
                                f"&limit=2&cursor={page['next_cursor']}", token=op))
    items = page["items"] + rest["items"]
    assert [i["action"] for i in items] == ["admin.update"] * 3 + ["admin.create"]
    assert [i["after"]["role"] for i in items[:3]] == ["support", "viewer", "support"]
    assert items[-1]["actor"] == "aiphotoctl" and items[-1]["admin_id"] is None
    assert all(i["actor"] == admins["owner"]["username"] for i in items[:3])
    assert set(items[0]) == {"id", "admin_id", "actor", "action", "target_type", "target_id",
                             "before", "after", "request_id", "address", "created_at"}
    mine = expect_ok(client.get(f"/admin/audit?admin={admins['owner']['id']}&action=admin.update",
                                token=op))
    assert mine["items"] and all(i["admin_id"] == admins["owner"]["id"] and
                                 i["action"] == "admin.update" for i in mine["items"])
    for bad in ("admin=x", "admin=0", "limit=0", "limit=51", "cursor=abc",
                "action=" + "a" * 65):
        expect_error(client.get("/admin/audit?" + bad, token=op), 400, "BAD_REQUEST")


def test_audit_log_is_append_only(psql, fresh_admin):
    fresh_admin("viewer")
    import subprocess
    import os
    for sql in ("UPDATE admin_audit SET actor = 'x'", "DELETE FROM admin_audit",
                "TRUNCATE admin_audit"):
        proc = subprocess.run(["psql", os.environ["DATABASE_URL"], "-X", "-q", "-v",
                               "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode != 0 and "append-only" in proc.stderr, (sql, proc.stderr)


# --------------------------------------------------------------------------- aiphotoctl admin


def test_ctl_admin_commands(client, expect_ok, expect_error, psql):
    name = "it_ctl_" + uuid.uuid4().hex[:8]
    pw = "pw-" + uuid.uuid4().hex
    assert ctl_run("admin", "add", name, "--role", "boss", stdin=pw + "\n").returncode == 2
    assert ctl_run("admin", "add", name, stdin="short\n").returncode == 2
    assert ctl_run("admin", "add", "bad name", stdin=pw + "\n").returncode == 1
    proc = ctl_run("admin", "add", name, "--role", "operator", stdin=pw + "\n")
    assert proc.returncode == 0, proc.stderr
    aid = int(proc.stdout.strip())
    assert ctl_run("admin", "add", name.upper(), stdin=pw + "\n").returncode == 1
    listed = ctl_run("admin", "list").stdout.splitlines()
    assert f"{aid}\t{name}\toperator" in listed
    assert claims_of(expect_ok(login(client, name, pw))["token"])["role"] == "operator"
    assert ctl_run("admin", "role", name, "nobody").returncode == 2
    assert ctl_run("admin", "role", "it_missing_" + uuid.uuid4().hex[:6], "viewer").returncode == 1
    assert ctl_run("admin", "role", name, "viewer").returncode == 0
    assert ctl_run("admin", "disable", name).returncode == 0
    assert f"{aid}\t{name}\tviewer\tdisabled" in ctl_run("admin", "list").stdout.splitlines()
    assert ctl_run("admin", "enable", name).returncode == 0
    new = "pw2-" + uuid.uuid4().hex
    assert ctl_run("admin", "password", name, stdin="short\n").returncode == 2
    proc = ctl_run("admin", "password", name, stdin=new + "\n")
    assert proc.returncode == 0, proc.stderr
    expect_error(login(client, name, pw), 401, "UNAUTHORIZED")
    assert claims_of(expect_ok(login(client, name, new))["token"])["role"] == "viewer"
    rows = audit_rows(psql, f"target_type = 'admin' AND target_id = '{aid}'")
    assert [r["action"] for r in rows] == ["admin.create", "admin.update", "admin.update",
                                           "admin.update", "admin.password"]
    assert all(r["actor"] == "aiphotoctl" and r["admin_id"] is None for r in rows)
    assert ctl_run("admin").returncode == 2
    assert ctl_run("admin", "frobnicate", name).returncode == 2
