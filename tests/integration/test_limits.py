"""Rate limits (DESIGN §7): GCRA classes kept in Redis, per user on routes that need a token,
per client address on the admin login.  Every request of a class counts, valid or not, so
these tests spend their budget on requests the handler refuses (400) and create nothing."""

import os
import pathlib
import struct
import subprocess
import time
import zlib

import pytest


@pytest.fixture
def user_token(make_user, token_for):
    return lambda: token_for(make_user())


def burst_until_limited(client, path, token, body, limit):
    """Sends body to path until the first 429; returns (statuses, the 429 response)."""
    statuses = []
    for _ in range(limit + 20):
        resp = client.post(path, token=token, json=body)
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            return statuses, resp
    pytest.fail(f"no 429 from {path} after {len(statuses)} requests: {statuses}")


def test_task_creation_is_limited_per_user(client, expect_error, user_token):
    tok = user_token()
    statuses, refused = burst_until_limited(client, "/tasks/photography", tok, {"count": 0}, 20)
    # the burst (20, plus whatever refilled meanwhile on a slow machine) goes through to the
    # handler, which refuses the body
    assert len(statuses) - 1 >= 20 and set(statuses[:-1]) == {400}, statuses
    assert refused.json()["code"] == "RATE_LIMITED" and refused.json()["success"] is False
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 3, retry
    assert refused.headers.get("X-Request-Id")
    # fitting shares the class
    expect_error(client.post("/tasks/fitting", token=tok, json={}), 429, "RATE_LIMITED")
    # another user has a budget of their own
    assert client.post("/tasks/photography", token=user_token(),
                       json={"count": 0}).status_code == 400
    # the limit refills: after Retry-After one more request is let through
    time.sleep(retry + 0.2)
    assert client.post("/tasks/photography", token=tok, json={"count": 0}).status_code == 400
    assert client.post("/tasks/photography", token=tok, json={"count": 0}).status_code == 429


def test_uploads_are_limited_per_user(client, user_token):
    tok = user_token()
    statuses = []
    for _ in range(60):
        resp = client.request("POST", "/uploads", token=tok,
                              headers={"Content-Type": "image/png"}, data=b"")
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert len(statuses) - 1 >= 30 and set(statuses[:-1]) == {400}, statuses


def _tiny_png():
    """A valid 1×1 PNG with random bytes in a tEXt chunk (never deduplicated)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) +
            chunk(b"tEXt", b"Comment\x00" + os.urandom(8).hex().encode()) +
            chunk(b"IDAT", zlib.compress(b"\x00\x01\x02\x03")) + chunk(b"IEND", b""))


def test_upload_bytes_are_limited_per_user(client, expect_ok, user_token, make_user, token_for,
                                           psql):
    """Besides the count, uploads have a byte budget: 50 MiB of bodies at once, then 200 MiB
    an hour, each request costing its Content-Length.  Large bodies that are not images
    (refused 415 after the limit check, nothing stored) spend it: the sixth 9 MiB body is
    refused with 429 and a Retry-After of about a minute (4 MiB at 200 MiB/h)."""
    uid = make_user()
    tok = token_for(uid)
    junk = b"\x00" * (9 * 1024 * 1024)
    statuses = []
    refused = None
    for _ in range(8):
        resp = client.request("POST", "/uploads", token=tok,
                              headers={"Content-Type": "image/png"}, data=junk, timeout=60)
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            refused = resp
            break
    assert statuses == [415] * 5 + [429], statuses
    body = refused.json()
    assert body["code"] == "RATE_LIMITED" and body["success"] is False, body
    assert "200 MiB" in body["message"] and "50 MiB" in body["message"], body
    retry = int(refused.headers["Retry-After"])
    assert 30 <= retry <= 80, retry
    assert refused.headers.get("X-Request-Id")
    # another user has a budget of their own and uploads a real image
    other = user_token()
    expect_ok(client.request("POST", "/uploads", token=other,
                             headers={"Content-Type": "image/png"}, data=_tiny_png()), 201)
    # a small upload still fits in what is left of the flooding user's budget
    expect_ok(client.request("POST", "/uploads", token=tok,
                             headers={"Content-Type": "image/png"}, data=_tiny_png()), 201)
    # the refused bodies left no row behind: the one asset is the small image
    sizes = psql(f"SELECT size_bytes FROM assets WHERE user_id = {uid}")
    assert len(sizes) == 1 and int(sizes[0][0]) < 1024, sizes

def redis_cli(*args):
    sock = pathlib.Path(os.environ["AIPHOTO_VAR"]) / "redis" / "redis.sock"
    return subprocess.run(["redis-cli", "-s", str(sock), *args], capture_output=True,
                          text=True, timeout=10, check=True).stdout


@pytest.fixture
def _admin_budget_restored():
    """The admin login's budget is per address and every test comes from 127.0.0.1: give it
    back afterwards, so that later tests may log in."""
    yield
    for key in redis_cli("--scan", "--pattern", "rl:admin-login:*").split():
        redis_cli("DEL", key)


def test_admin_login_is_limited_per_address(client, _admin_budget_restored):
    # burst 60 per address; each attempt costs a password hash, so count quickly with
    # malformed bodies (refused by the handler after the limit check)
    statuses = []
    for _ in range(100):
        resp = client.post("/admin/login", json={})
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {400}, statuses
    # the burst of 60, plus what refilled (two a second) while they were sent
    assert 60 <= len(statuses) - 1 <= 90, len(statuses)
