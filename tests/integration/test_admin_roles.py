"""The role matrix of the admin API (docs/admin.md): every role × every admin route, allowed
or 403, generated from one table; user tokens refused everywhere; the database down → 503.

A request that the role allows is made so that it changes nothing: writes go to ids no row has
(404) or carry a body the handler refuses (400).  What matters here is only which side of the
router's role check it lands on: 403 FORBIDDEN, or anything past it.
"""

import pytest

from conftest import wait_database_back

from adminkit import RANK, ROLES, admins  # noqa: F401

MISSING = 999999999

# (method, path, least role) of every admin route but the login
ROUTES = [
    ("GET", "/admin/me", "viewer"),
    ("POST", "/admin/password", "viewer"),
    ("GET", "/admin/admins", "owner"),
    ("POST", "/admin/admins", "owner"),
    ("PUT", f"/admin/admins/{MISSING}", "owner"),
    ("GET", "/admin/audit", "operator"),
    ("GET", "/admin/users", "viewer"),
    ("GET", f"/admin/users/{MISSING}", "viewer"),
    ("POST", f"/admin/users/{MISSING}/credits", "support"),
    ("POST", f"/admin/users/{MISSING}/status", "operator"),
    ("GET", "/admin/stats", "viewer"),
]
for _kind in ("scenes", "packages", "prompt-templates", "ai-models"):
    ROUTES += [
        ("GET", f"/admin/{_kind}", "viewer"),
        ("POST", f"/admin/{_kind}", "operator"),
        ("GET", f"/admin/{_kind}/{MISSING}", "viewer"),
        ("PUT", f"/admin/{_kind}/{MISSING}", "operator"),
        ("DELETE", f"/admin/{_kind}/{MISSING}", "operator"),
    ]
ROUTES += [
    ("POST", f"/admin/scenes/{MISSING}/thumbnail", "operator"),
    ("POST", f"/admin/prompt-templates/{MISSING}/preview", "viewer"),
    ("POST", f"/admin/ai-models/{MISSING}/test", "operator"),
    ("GET", "/admin/config", "viewer"),
    ("GET", f"/admin/config/{MISSING}", "viewer"),
    ("PUT", f"/admin/config/{MISSING}", "operator"),
    ("GET", "/admin/tasks", "viewer"),
    ("GET", f"/admin/tasks/{MISSING}", "viewer"),
    ("POST", f"/admin/tasks/{MISSING}/retry", "operator"),
    ("POST", f"/admin/tasks/{MISSING}/cancel", "operator"),
    ("GET", "/admin/orders", "viewer"),
    ("POST", f"/admin/orders/{MISSING}/refunds", "operator"),
    ("GET", f"/admin/orders/{MISSING}/refunds", "viewer"),
    ("POST", f"/admin/migrate/{MISSING}", "operator"),
]


def call(client, token, method, path):
    # writes send no body: past the role check the router answers 400 (a body is required)
    # or the handler 404 (no such id); nothing is changed either way
    return client.request(method, path, token=token)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,path,least", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_role_matrix(client, admins, role, method, path, least):
    resp = call(client, admins[role]["token"], method, path)
    if RANK[role] >= RANK[least]:
        assert resp.status_code not in (401, 403), \
            f"{role} refused on {method} {path}: {resp.status_code} {resp.text[:200]}"
        assert resp.status_code < 500, resp.text[:300]
    else:
        assert resp.status_code == 403, \
            f"{role} let through on {method} {path}: {resp.status_code} {resp.text[:200]}"
        body = resp.json()
        assert body["code"] == "FORBIDDEN" and least in body["message"], body


@pytest.mark.parametrize("method,path,least", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_user_tokens_are_refused_everywhere(client, expect_error, make_user, token_for, method,
                                            path, least):
    tok = token_for(make_user(credits=5))
    expect_error(call(client, tok, method, path), 403, "FORBIDDEN")
    expect_error(call(client, None, method, path), 401, "UNAUTHORIZED")


REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def code_routes():
    """(METHOD, pattern with {} for captures, least role) of every admin route, as the route
    tables say (`aiphotoctl routes`)."""
    import re
    from adminkit import ctl_run
    proc = ctl_run("routes")
    assert proc.returncode == 0, proc.stderr
    found = set()
    for line in proc.stdout.splitlines():
        method, path, auth, role = line.split("\t")
        if auth == "admin":
            found.add((method, re.sub(r":\w+", "{}", path[len("/api/v1"):]), role))
    return found


def matrix_routes():
    import re
    return {(m, re.sub(r"/%d(?=/|$)" % MISSING, "/{}", p).split("?")[0], least)
            for m, p, least in ROUTES}


def test_the_matrix_names_every_admin_route_with_its_role():
    """The table above is the route tables' own: every admin route, with the role it names."""
    code, matrix = code_routes(), matrix_routes()
    assert code == matrix, (code - matrix, matrix - code)


def test_every_admin_route_is_documented():
    import re
    spec = (REPO_ROOT / "docs" / "openapi.yaml").read_text()
    documented, path = set(), None
    for line in spec.splitlines():
        m = re.match(r"^  (/admin/\S+):\s*$", line)
        if m or re.match(r"^  \S", line):
            path = m.group(1) if m else None
            continue
        m = re.match(r"^    (get|post|put|delete|patch):", line)
        if path and m and path != "/admin/login":
            documented.add((m.group(1).upper(), re.sub(r"\{[^}]+\}", "{}", path)))
    code = {(m, p) for m, p, _ in code_routes()}
    assert documented == code, (code - documented, documented - code)


def test_database_down_answers_503(client, expect_ok, expect_error, admins):
    import subprocess
    from conftest import REPO
    token = admins["operator"]["token"]
    expect_ok(client.get("/admin/me", token=token))
    stack = REPO / "scripts" / "stack"
    subprocess.run([str(stack), "pg-stop"], cwd=REPO, capture_output=True, timeout=60,
                   check=True)
    try:
        # reads need the database, and every write reads the admin's account first
        for method, path, least in ROUTES:
            if RANK[least] > RANK["operator"]:
                continue
            expect_error(call(client, token, method, path), 503, "UNAVAILABLE")
    finally:
        subprocess.run([str(stack), "pg-start"], cwd=REPO, capture_output=True, timeout=60,
                       check=True)
        wait_database_back()
    import time
    deadline = time.monotonic() + 10
    while client.get("/admin/me", token=token).status_code != 200:
        assert time.monotonic() < deadline, "the admin API did not come back after pg-start"
        time.sleep(0.2)
