"""CORS for web pages on other origins (fcgi/router.c; docs/security.md, "CORS") through the
front end (lighttpd, or nginx with FRONT=nginx): OPTIONS reaches the workers, preflights of
CORS_ALLOWED_ORIGINS get the route's methods, everything else gets no grant, and credentials
never go with a wildcard.

The configured cases restart the stack's workers with CORS_ALLOWED_ORIGINS set
(`scripts/stack up` restarts them when their configuration changes) and put the default back.
"""

import os
import pathlib
import subprocess

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
STACK = REPO / "scripts" / "stack"
WEB = "https://web.example.com"
OTHER = "http://127.0.0.1:5173"
EVIL = "https://web.example.com.evil.example"


def stack_up(**extra):
    env = dict(os.environ)
    env.pop("CORS_ALLOWED_ORIGINS", None)
    env.update(extra)
    proc = subprocess.run([str(STACK), "up"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def cors_on():
    stack_up(CORS_ALLOWED_ORIGINS=f"{WEB}, {OTHER}")
    yield
    stack_up()


@pytest.fixture
def token(make_user, token_for):
    return token_for(make_user(credits=5))


def preflight(client, path, origin, method="GET", headers="authorization, content-type"):
    h = {"Access-Control-Request-Method": method}
    if origin is not None:
        h["Origin"] = origin
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return client.request("OPTIONS", path, headers=h)


def no_grant(resp):
    return not any(k.lower().startswith("access-control-") for k in resp.headers)


# --------------------------------------------------------------------------- none by default


def test_none_by_default_and_options_answers(client):
    resp = preflight(client, "/user/me", WEB)
    assert resp.status_code == 204, resp.text
    assert resp.headers["Allow"] == "GET, PATCH, OPTIONS"
    assert resp.headers.get("X-Request-Id"), "OPTIONS did not reach a worker"
    assert no_grant(resp), resp.headers
    resp = client.get("/health", headers={"Origin": WEB})
    assert resp.status_code == 200
    # (a front end that compresses adds Vary: Accept-Encoding; Origin is never named)
    assert no_grant(resp) and "origin" not in resp.headers.get("Vary", "").lower(), resp.headers


def test_options_on_an_unknown_path_is_404(client, expect_error):
    expect_error(preflight(client, "/no-such-route", WEB), 404, "NOT_FOUND")
    expect_error(client.request("OPTIONS", "/scenes/1/x"), 404, "NOT_FOUND")


def test_other_unknown_methods_stay_405(client, expect_error):
    resp = client.request("PROPFIND", "/user/me")
    expect_error(resp, 405, "METHOD_NOT_ALLOWED")
    assert resp.headers["Allow"] == "GET, PATCH"


# --------------------------------------------------------------------------- configured


def test_preflight_of_an_allowed_origin(cors_on, client, base_url):
    for origin in (WEB, OTHER):
        resp = preflight(client, "/user/me", origin)
        assert resp.status_code == 204, resp.text
        h = resp.headers
        assert h["Access-Control-Allow-Origin"] == origin
        assert h["Access-Control-Allow-Credentials"] == "true"
        assert h["Access-Control-Allow-Methods"] == "GET, PATCH"
        allowed = {x.strip().lower() for x in h["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key"} <= allowed
        assert int(h["Access-Control-Max-Age"]) > 0
        assert "Origin" in h["Vary"]
        assert resp.content == b""
    # a path with several methods lists them all; the cloud adapter's paths too
    resp = preflight(client, "/admin/scenes/3", WEB, method="PUT")
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, PUT, DELETE"
    resp = requests.options(base_url + "/api/auth/register", timeout=10,
                            headers={"Origin": WEB, "Access-Control-Request-Method": "POST"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Methods"] == "POST"
    assert resp.headers["Access-Control-Allow-Origin"] == WEB


def test_preflight_of_another_origin_gets_no_grant(cors_on, client):
    for origin in (EVIL, "null", "https://WEB.example.com", WEB + ":443", WEB + "/", None):
        resp = preflight(client, "/user/me", origin)
        assert resp.status_code == 204, (origin, resp.text)
        assert no_grant(resp), (origin, resp.headers)


def test_preflight_of_an_unknown_path_is_404(cors_on, client, expect_error):
    expect_error(preflight(client, "/no-such-route", WEB), 404, "NOT_FOUND")
    expect_error(preflight(client, "/no-such-route", EVIL), 404, "NOT_FOUND")


def test_actual_request_of_an_allowed_origin(cors_on, client, expect_ok, token):
    resp = client.get("/user/me", token=token, headers={"Origin": WEB})
    expect_ok(resp)
    h = resp.headers
    assert h["Access-Control-Allow-Origin"] == WEB
    assert h["Access-Control-Allow-Credentials"] == "true"
    assert "x-request-id" in h["Access-Control-Expose-Headers"].lower()
    assert "Access-Control-Allow-Methods" not in h
    # an error is readable by the page too (no token: 401)
    resp = client.get("/user/me", headers={"Origin": WEB})
    assert resp.status_code == 401
    assert resp.headers["Access-Control-Allow-Origin"] == WEB


def test_actual_request_of_another_origin_gets_no_grant(cors_on, client, expect_ok, token):
    for origin in (EVIL, "null"):
        resp = client.get("/user/me", token=token, headers={"Origin": origin})
        expect_ok(resp)  # the server answers; the browser keeps the answer from the page
        assert no_grant(resp), resp.headers
        assert "Origin" in resp.headers["Vary"]


def test_credentials_never_with_a_wildcard(cors_on, client, token):
    for resp in (preflight(client, "/user/me", WEB), preflight(client, "/user/me", EVIL),
                 client.get("/user/me", token=token, headers={"Origin": WEB}),
                 client.get("/user/me", token=token, headers={"Origin": "*"})):
        assert resp.headers.get("Access-Control-Allow-Origin") != "*", resp.headers
        if "Access-Control-Allow-Credentials" in resp.headers:
            assert resp.headers["Access-Control-Allow-Origin"] in (WEB, OTHER)


def test_a_wildcard_or_malformed_origin_list_is_refused(tmp_path):
    """aiphotoctl check-config refuses what the workers would refuse at start."""
    ctl = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphotoctl"
    for bad in ("*", "https://web.example.com/", "web.example.com", "https://*.example.com"):
        proc = subprocess.run([str(ctl), "check-config"], env=dict(os.environ,
                              CORS_ALLOWED_ORIGINS=bad), capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode != 0, bad
        assert "CORS_ALLOWED_ORIGINS" in proc.stderr + proc.stdout, (bad, proc.stderr)
