"""Fault tests: the database going away and coming back, workers killed or told
to stop.  They change shared state, so each one puts things back in a
`finally` block, and they are meant to run after the functional tests.

Workers are found as the children of the supervisor whose pid the stack
writes to $AIPHOTO_VAR/run/fcgi.pid (spawn-fcgi execs multiwatch in place).
"""

import concurrent.futures
import os
import pathlib
import signal
import subprocess
import time
import uuid

import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
STACK = REPO / "scripts" / "stack"


# --------------------------------------------------------------------------- helpers


def stack(*args):
    assert STACK.exists(), "scripts/stack is missing"
    proc = subprocess.run([str(STACK), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, \
        f"scripts/stack {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}"


def proc_stat(pid):
    """(state, ppid, starttime) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def supervisor_pid():
    var = os.environ.get("AIPHOTO_VAR") or str(REPO / "var")
    pidfile = pathlib.Path(var) / "run" / "fcgi.pid"
    assert pidfile.exists(), f"{pidfile} is missing"
    pid = int(pidfile.read_text().strip())
    st = proc_stat(pid)
    assert st is not None and st[0] != "Z", f"supervisor {pid} from {pidfile} is not running"
    return pid


def workers(parent):
    """Live (non-zombie) children of parent, oldest first."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st is not None and st[1] == parent and st[0] != "Z":
            found.append((st[2], int(entry)))
    return [pid for _, pid in sorted(found)]


def exited(pid):
    st = proc_stat(pid)
    return st is None or st[0] == "Z"


def wait_for(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def parallel_codes(client, path, n):
    """Status codes of n simultaneous GETs (None for a connection failure)."""

    def one(_):
        try:
            return requests.get(client.url(path), timeout=5).status_code
        except requests.RequestException:
            return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def health_status(client):
    try:
        return client.get("/health", timeout=3).status_code
    except Exception:  # connection trouble counts as not healthy
        return None


# --------------------------------------------------------------------------- database down


def test_database_down_gives_503_then_recovers(client, expect_ok, expect_error, request_id_of,
                                               make_user, token_for):
    uid = make_user(credits=3)
    tok = token_for(uid)
    expect_ok(client.get("/credits/packages"))
    n_workers = len(workers(supervisor_pid()))
    try:
        stack("pg-stop")

        # API.md: /health answers 200 when the database is reachable and 503 otherwise,
        # with the health document {"status":"degraded","db":"down",...}.  A 503 is a
        # failure status, so the body may come either as the failure envelope
        # (code UNAVAILABLE) or as the health document under "data"; both are accepted,
        # as long as success is not true and the body says the database is down.
        # A worker that reached the database less than a second ago answers from that
        # (handlers/health.c), so the 503 must show within a few probe periods.
        assert wait_for(lambda: health_status(client) == 503, 3, 0.1), \
            "/health did not turn 503 within 3 s of pg-stop"
        # past one probe period no worker may still vouch for the database
        time.sleep(1.2)
        assert [health_status(client) for _ in range(8)] == [503] * 8
        resp = client.get("/health")
        assert resp.status_code == 503, \
            f"health with the database stopped: {resp.status_code} {resp.text}"
        request_id_of(resp)
        body = resp.json()
        assert body.get("success") is False, body
        if "data" in body:
            assert body["data"].get("db") == "down", body
            assert body["data"].get("status") == "degraded", body
        else:
            assert body.get("code") == "UNAVAILABLE", body

        expect_error(client.get("/credits/packages"), 503, "UNAVAILABLE")
        # /scenes is served from its Redis cache while the database is down (when it was
        # read before); a scene list nobody has cached yet needs the database
        expect_error(client.get("/scenes?category=never-cached-" + uuid.uuid4().hex[:8]), 503,
                     "UNAVAILABLE")
        expect_error(client.get("/user/credits", token=tok), 503, "UNAVAILABLE")
        expect_error(client.post("/events", json={"name": "it_down", "props": {}}),
                     503, "UNAVAILABLE")
        # still the same answer the second time (no crash loop, no stale success)
        expect_error(client.get("/credits/packages"), 503, "UNAVAILABLE")
    finally:
        # always, even when pg-stop itself failed half-way
        stack("pg-start")

    assert wait_for(lambda: health_status(client) == 200, 10, 0.2), \
        "/health is not 200 within 10 s of pg-start"

    # A worker whose connection died with the server reconnects and retries the
    # statement at once: no request fails after the database is back.  Bursts of
    # parallel requests make sure every worker meets its stale connection.
    codes = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        burst = parallel_codes(client, "/credits/packages", 2 * n_workers)
        codes += burst
        if burst == [200] * len(burst) and codes.count(200) >= 4 * n_workers:
            break
    assert set(codes) <= {200, 503}, codes
    assert codes.count(503) == 0, \
        f"{codes.count(503)} failures after recovery with {n_workers} workers: {codes}"
    assert parallel_codes(client, "/credits/packages", 2 * n_workers) == [200] * (2 * n_workers)
    seq = [client.get("/credits/packages").status_code for _ in range(10)]
    assert seq == [200] * 10, seq
    data = expect_ok(client.get("/user/credits", token=tok))
    assert data["credits"] == 3


# --------------------------------------------------------------------------- redis down


def test_redis_down_is_degraded_not_fatal(client, expect_ok, make_user, token_for):
    """Redis holds no money: while it is gone /health says degraded with 200 and the
    database-backed endpoints keep working; it is healthy again once Redis is back."""
    var = pathlib.Path(os.environ.get("AIPHOTO_VAR") or str(REPO / "var"))
    sock = var / "redis" / "redis.sock"
    assert sock.exists(), f"{sock} is missing"
    tok = token_for(make_user(credits=2))

    def health_doc():
        resp = client.get("/health", timeout=3)
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    try:
        subprocess.run(["redis-cli", "-s", str(sock), "shutdown", "nosave"],
                       capture_output=True, timeout=10)
        # within one probe period every worker notices
        assert wait_for(lambda: health_doc()["redis"] == "down", 3, 0.1), \
            "/health never reported redis down"
        time.sleep(1.2)
        docs = [health_doc() for _ in range(8)]
        assert all(d["redis"] == "down" and d["status"] == "degraded" and d["db"] == "ok"
                   for d in docs), docs
        assert expect_ok(client.get("/user/credits", token=tok))["credits"] == 2
        expect_ok(client.get("/credits/packages"))
        # rate limits fail open (the request reaches its handler: here a 400) ...
        resp = client.post("/tasks/photography", token=tok, json={"count": 0})
        assert resp.status_code == 400, resp.text
        # ... except the admin login's, which fails closed
        resp = client.post("/admin/login", json={"username": "nobody", "password": "x" * 12})
        assert resp.status_code == 503 and resp.json()["code"] == "UNAVAILABLE", resp.text
    finally:
        stack("up")
    assert wait_for(lambda: health_doc()["status"] == "ok", 5, 0.2), \
        "/health not ok within 5 s of Redis coming back"


# --------------------------------------------------------------------------- workers


def _serve_twenty(client):
    # The first request may meet the pool while it is being refilled: give it 3 s.
    assert wait_for(lambda: health_status(client) == 200, 3, 0.1), "no 200 within 3 s"
    answers = [client.get("/health", timeout=3) for _ in range(20)]
    codes = [r.status_code for r in answers]
    bad = [r.text[:300] for r in answers if r.status_code != 200][:2]
    assert codes == [200] * 20, (codes, bad)


def test_sigkill_worker_is_replaced(client):
    parent = supervisor_pid()
    before = workers(parent)
    assert len(before) >= 2, f"expected several workers under {parent}, found {before}"
    victim = before[-1]
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: exited(victim), 2), f"worker {victim} survived SIGKILL"

    _serve_twenty(client)

    def refilled():
        now = workers(parent)
        return len(now) == len(before) and victim not in now
    assert wait_for(refilled, 5, 0.1), \
        f"pool not back to {len(before)} workers within 5 s: {workers(parent)}"
    assert supervisor_pid() == parent


def test_sigterm_idle_worker_exits_quickly(client):
    parent = supervisor_pid()
    before = workers(parent)
    assert len(before) >= 2, f"expected several workers under {parent}, found {before}"
    # the oldest worker: not one freshly respawned by the previous test, so the
    # supervisor's "died too soon" counter is not involved; nothing is in flight.
    victim = before[0]
    t0 = time.monotonic()
    os.kill(victim, signal.SIGTERM)
    assert wait_for(lambda: exited(victim), 1.0, 0.02), \
        "an idle worker did not exit within 1 s of SIGTERM"
    elapsed = time.monotonic() - t0

    _serve_twenty(client)

    # multiwatch restarts a child whatever its exit status, so the pool refills.
    def refilled():
        now = workers(parent)
        return len(now) == len(before) and victim not in now
    assert wait_for(refilled, 5, 0.1), \
        f"pool not back to {len(before)} workers within 5 s: {workers(parent)}"
    assert elapsed < 1.0
