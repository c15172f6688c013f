"""Administrator login: accounts made with `aiphotoctl admin add`, POST /admin/login,
the admin audience of the token, uniform failures and the lockout after repeated
wrong passwords.  Every test uses accounts of its own, so a lockout in one test cannot
leak into another.
"""

import base64
import json
import pathlib
import subprocess
import time
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = REPO / "build" / "aiphotoctl"


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def make_admin():
    """make_admin() -> (username, password), created through aiphotoctl with the
    password on standard input."""

    def make():
        username = "it_adm_" + uuid.uuid4().hex[:12]
        password = "pw-" + uuid.uuid4().hex + "-Zz9"
        proc = subprocess.run([str(CTL), "admin", "add", username], input=password + "\n",
                              capture_output=True, text=True, timeout=60, cwd=REPO)
        assert proc.returncode == 0, \
            f"aiphotoctl admin add failed ({proc.returncode}): {proc.stderr.strip()}"
        return username, password

    return make


def login(client, username, password):
    return client.post("/admin/login", json={"username": username, "password": password})


def test_admin_add_stores_a_hash_not_the_password(make_admin, psql):
    username, password = make_admin()
    (stored,), = psql(f"SELECT password_hash FROM admins WHERE username = '{username}'")
    assert password not in stored
    assert len(stored) >= 20


def test_admin_login_gives_an_admin_token(client, expect_ok, make_admin):
    username, password = make_admin()
    data = expect_ok(login(client, username, password))
    assert set(data) == {"token", "expires_in"}, data
    assert isinstance(data["expires_in"], int) and data["expires_in"] > 0, data
    claims = claims_of(data["token"])
    assert claims.get("aud") == "admin", claims
    now = time.time()
    assert claims["exp"] > now and claims["iat"] <= now + 5, claims
    assert abs((claims["exp"] - claims["iat"]) - data["expires_in"]) <= 1, (claims, data)


def test_admin_token_is_forbidden_on_user_routes(client, expect_ok, expect_error, make_admin):
    username, password = make_admin()
    token = expect_ok(login(client, username, password))["token"]
    expect_error(client.get("/user/me", token=token), 403, "FORBIDDEN")
    expect_error(client.get("/user/credits", token=token), 403, "FORBIDDEN")


def test_wrong_password_and_unknown_user_fail_alike(client, expect_error, make_admin):
    username, password = make_admin()
    wrong = expect_error(login(client, username, password + "x"), 401, "UNAUTHORIZED")
    unknown = expect_error(login(client, "it_nobody_" + uuid.uuid4().hex[:10], password),
                           401, "UNAUTHORIZED")
    assert wrong == unknown
    # Case matters in passwords.
    expect_error(login(client, username, password.upper()), 401, "UNAUTHORIZED")


def test_lockout_after_five_failures(client, expect_ok, expect_error, make_admin):
    username, password = make_admin()
    other, other_password = make_admin()
    for i in range(5):
        expect_error(login(client, username, f"wrong-{i}"), 401, "UNAUTHORIZED")
    resp = login(client, username, password)
    expect_error(resp, 429, "RATE_LIMITED")
    retry = resp.headers.get("Retry-After", "")
    assert retry.isdigit() and 0 < int(retry) <= 15 * 60, f"Retry-After {retry!r}"
    # Still locked, whatever is tried.
    expect_error(login(client, username, password), 429, "RATE_LIMITED")
    # Another account is not affected.
    assert set(expect_ok(login(client, other, other_password))) == {"token", "expires_in"}


def test_four_failures_do_not_lock(client, expect_ok, expect_error, make_admin):
    username, password = make_admin()
    for i in range(4):
        expect_error(login(client, username, f"wrong-{i}"), 401, "UNAUTHORIZED")
    expect_ok(login(client, username, password))


def test_success_resets_the_failure_count(client, expect_ok, expect_error, make_admin):
    username, password = make_admin()
    for _ in range(2):
        for i in range(4):
            expect_error(login(client, username, f"wrong-{i}"), 401, "UNAUTHORIZED")
        expect_ok(login(client, username, password))


def test_disabled_admin_cannot_log_in(client, expect_error, make_admin, psql):
    username, password = make_admin()
    psql(f"UPDATE admins SET disabled = true WHERE username = '{username}'")
    wrong = expect_error(login(client, username, password + "x"), 401, "UNAUTHORIZED")
    assert expect_error(login(client, username, password), 401, "UNAUTHORIZED") == wrong


def test_unknown_user_costs_a_password_check_too(client, expect_error, make_admin):
    """An unknown username is not answered visibly faster than a wrong password (which
    would tell an attacker which accounts exist)."""
    def timed(username, password):
        started = time.monotonic()
        expect_error(login(client, username, password), 401, "UNAUTHORIZED")
        return time.monotonic() - started

    wrong, unknown = [], []
    for _ in range(3):
        username, _password = make_admin()
        for i in range(3):  # below the lockout threshold
            wrong.append(timed(username, f"wrong-{i}"))
            unknown.append(timed("it_nobody_" + uuid.uuid4().hex[:10], f"wrong-{i}"))
    wrong.sort()
    unknown.sort()
    w, u = wrong[len(wrong) // 2], unknown[len(unknown) // 2]
    assert u >= 0.5 * w, f"median unknown-user {u * 1000:.1f} ms vs wrong-password {w * 1000:.1f} ms"


@pytest.mark.parametrize("body,field", [
    ({"password": "x"}, "username"),
    ({"username": "someone"}, "password"),
    ({"username": "", "password": "x"}, "username"),
    ({"username": "someone", "password": ""}, "password"),
    ({"username": 12, "password": "x"}, "username"),
    ({"username": "someone", "password": ["x"]}, "password"),
])
def test_admin_login_missing_fields(client, expect_error, body, field):
    msg = expect_error(client.post("/admin/login", json=body), 400, "BAD_REQUEST")
    assert field in msg, msg


def test_admin_login_malformed_json(client, expect_error):
    expect_error(client.post("/admin/login", data="{\"username\":",
                             headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")
