"""Two app hosts serving one service (scripts/hosts, docs/scaling.md).

This module brings up a topology of its own and is not part of tests/integration: two app hosts,
each in a network namespace with its lighttpd, FastCGI workers and dispatcher loop, a front
lighttpd on 127.0.0.1:PORT balancing /api/ over them, and one PostgreSQL, one Redis, one
simulator and one media store shared by both. Run it with `make test-hosts` (root: it makes
network namespaces). Where namespaces cannot be made the module fails, saying why; it never
skips.

MEDIA_BACKEND: `make test-hosts` runs the module with s3 (s3rver, the stack's object store)
unless MEDIA_BACKEND is set; MEDIA_BACKEND=local runs it on one media directory both hosts
share, which proves a shared store only because the namespaces share one file system.

PORT (default 18900) picks the front's port, the simulator's (PORT+10) and the private /29 of
the veth links; the state lives in var/hosts-test and is removed at the end. The media store is
MEDIA_BACKEND of the environment (the local directory when unset), so the same tests prove a
shared object store once one is configured.
"""

import concurrent.futures
import datetime
import io
import os
import pathlib
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import conftest as it  # noqa: E402  (the integration suite's helpers, not its fixtures)
import test_media  # noqa: E402
from mediastore import is_s3, key_of, media_get, url_prefix  # noqa: E402
from test_dispatch import png  # noqa: E402

HOSTS = REPO / "scripts" / "hosts"
PORT = os.environ.get("PORT", "18900")
VAR = REPO / "var" / "hosts-test"
# A short lease, so that the items host A held when it died are rescued within the test;
# models time out after 5 s (the lease must exceed every model's timeout by 10 s).
STACK_ENV = {"AIPHOTO_VAR": str(VAR), "PORT": PORT, "WORKERS": "2", "DISPATCH_EVERY": "1",
             "DISPATCH_LEASE_SECONDS": "20", "DISPATCH_RETRY_BASE_MS": "100",
             "DISPATCH_CONCURRENCY": "4"}
# What the front may answer 5xx for after host A dies: the requests in flight on A then, and
# the ones sent before the front marks A dead. Reported by the test, bounded here.
FAILOVER_WINDOW_S = 5.0


def hosts(*args, check=True, timeout=180):
    """scripts/hosts ARGS with the developer's stack variables unset; returns the process."""
    env = {k: v for k, v in os.environ.items() if k not in dev_env_vars()}
    env.update(STACK_ENV)
    proc = subprocess.run([str(HOSTS), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if check and proc.returncode != 0:
        pytest.fail(f"scripts/hosts {' '.join(args)} failed ({proc.returncode}):\n"
                    f"{proc.stderr[-4000:]}", pytrace=False)
    return proc


def dev_env_vars():
    out = subprocess.run(["bash", "-c", f". {REPO}/scripts/lib.sh; "
                                        "printf '%s\\n' \"${AIPHOTO_DEV_ENV_VARS[@]}\""],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def topo():
    """The running two-host stack: its environment is exported into os.environ (the
    integration helpers read it); yields {front, a, b} base URLs of the API."""
    hosts("down", check=False)
    saved = dict(os.environ)
    try:
        hosts("up")
        line = hosts("env").stdout.strip()
        assert line.startswith("export "), line
        for word in shlex.split(line[len("export "):]):
            name, _, value = word.partition("=")
            os.environ[name] = value
        it._psql("UPDATE ai_models SET timeout_ms = 5000 WHERE name LIKE 'sim-%'")
        # test_media read the signing key when it was imported, before this stack existed
        test_media.KEY = os.environ["MEDIA_URL_KEY"]
        yield {"front": os.environ["AIPHOTO_BASE_URL"] + "/api/v1",
               "a": os.environ["AIPHOTO_HOST_A"] + "/api/v1",
               "b": os.environ["AIPHOTO_HOST_B"] + "/api/v1"}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        down = hosts("down", check=False)
        left = [n for n in namespaces() if n.startswith(f"aiphoto{PORT}-")]
        subprocess.run(["rm", "-rf", str(VAR)], check=False)
        assert down.returncode == 0, down.stderr[-3000:]
        assert not left, f"namespaces left after down: {left}"


@pytest.fixture
def user(topo):
    """A user with credits and a token (valid on both hosts: one JWT secret)."""

    def make(credits=100000):
        out = it._ctl("user", "add", "--credits", str(credits))
        uid = int(out.splitlines()[-1])
        tok = it._ctl("token", "--user", str(uid)).splitlines()[-1]
        return {"id": uid, "token": tok}

    return make


def clients(topo):
    return {k: it.Client(v) for k, v in topo.items()}


def ai(method, path, body=None):
    resp = requests.request(method, os.environ["AIPHOTO_SIM_URL"] + path, json=body, timeout=10)
    assert resp.status_code == 200, f"{method} {path} -> {resp.status_code} {resp.text[:200]}"
    return resp.json()


def audit_clean():
    status, out = it._audit()
    assert status == 0, f"aiphotoctl audit: {out}"


def dispatch_log_items(host):
    """{work id: number of attempt lines} from host's dispatcher log."""
    seen = {}
    path = VAR / f"host-{host}" / "log" / "dispatch.log"
    for m in re.finditer(r'"msg":"work (\d+) task \d+ attempt', path.read_text(errors="replace")):
        seen[int(m.group(1))] = seen.get(int(m.group(1)), 0) + 1
    return seen


def wait_task_ended(psql, task_id, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = psql(f"SELECT status FROM tasks WHERE id = {int(task_id)}")[0][0]
        if status in ("completed", "partial", "failed", "canceled"):
            return status
        time.sleep(0.5)
    pytest.fail(f"task {task_id} still {status} after {seconds}s", pytrace=False)


# --------------------------------------------------------------------------- topology


def test_each_host_answers_in_its_own_namespace_and_the_front_uses_both(topo):
    c = clients(topo)
    for name in ("a", "b", "front"):
        data = it._expect_ok(c[name].get("/health"))
        assert data["db"] == "ok" and data["redis"] == "ok", (name, data)
    # the hosts' addresses are not the loopback: they live in namespaces of their own
    assert not topo["a"].startswith("http://127.") and not topo["b"].startswith("http://127.")
    ns = namespaces()
    assert f"aiphoto{PORT}-a" in ns and f"aiphoto{PORT}-b" in ns, ns
    # round-robin: 20 requests through the front reach both hosts, which see the client's
    # address (X-Forwarded-For trusted from the front only), not the front's
    logs = [VAR / f"host-{h}" / "log" / "lighttpd-access.log" for h in ("a", "b")]
    agent = "front-check-" + uuid.uuid4().hex
    for _ in range(20):
        it._expect_ok(c["front"].get("/health", headers={"User-Agent": agent}))
    # lighttpd writes its access log in batches, at least once a second
    deadline = time.monotonic() + 5
    while True:
        lines = [[x for x in p.read_text().splitlines() if agent in x] for p in logs]
        if sum(map(len, lines)) == 20 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [len(x) for x in lines] == [10, 10], [len(x) for x in lines]
    assert all(line.startswith("127.0.0.1 ") for x in lines for line in x), lines
    # the front serves the pages itself
    page = requests.get(os.environ["AIPHOTO_BASE_URL"] + "/wechat/index.html", timeout=10)
    assert page.status_code == 200 and page.headers["Server"] == "aiphoto-front", page.headers
    assert page.content == (REPO / "wechat-pages" / "index.html").read_bytes()


def public_via(host_api, url):
    """Where a client fetches a public media URL on that host: the path of the URL on the
    host's own lighttpd (local store, /media/); with s3 the URL itself (the bucket, standing in
    for a CDN, serves it and no app host is involved)."""
    if is_s3():
        return url
    return host_api[:-len("/api/v1")] + urllib.parse.urlparse(url).path


def signed_via(host_api, url):
    """The signed URL of the stored file behind url, on that host's API (GET /media/:sha)."""
    sha = test_media.stored_sha({"url": url})
    exp = int(time.time()) + 120
    return f"{host_api}/media/{sha}?exp={exp}&sig={test_media.sign(sha, exp)}"


def test_upload_through_a_is_served_and_thumbnailed_through_b(topo, user):
    c = clients(topo)
    u = user()
    body = png(64, 48, (10, 200, 30))
    asset = it._expect_ok(c["a"].post("/uploads", token=u["token"], data=body,
                                      headers={"Content-Type": "image/png"}), 201)
    # stored where MEDIA_BACKEND says (the bucket's public base with s3, /media/ otherwise)
    assert asset["url"].startswith(url_prefix()), (asset["url"], url_prefix())
    # host B answers for it from the shared database and the shared store: the stored file
    # and both thumbnails, as the store holds them
    got = {}
    for key in ("url", "thumb_url", "thumb_large_url"):
        resp = requests.get(public_via(topo["b"], asset[key]), timeout=10)
        assert resp.status_code == 200, (key, asset[key], resp.status_code)
        assert resp.content == media_get(key_of(asset[key])), key
        got[key] = resp.content
    from PIL import Image
    assert Image.open(io.BytesIO(got["url"])).size == (64, 48)
    assert max(Image.open(io.BytesIO(got["thumb_url"])).size) <= 360
    # the signed URL through host B's API: sent by B's lighttpd from the shared directory, or
    # relayed by B's worker from the bucket
    for host in ("b", "a"):
        resp = requests.get(signed_via(topo[host], asset["url"]), timeout=10)
        assert resp.status_code == 200, (host, resp.status_code, resp.text[:200])
        assert resp.content == got["url"], host
    # a task on that upload, sent through host B: a dispatcher reads the upload from the
    # shared store and stores the result with its thumbnail, which host B serves
    ai("POST", "/__sim/ai/reset", {})
    task = it._expect_ok(c["b"].post("/tasks/photography", token=u["token"], json={
        "scene_id": 1, "asset_ids": [asset["asset_id"]], "count": 1,
        "params": {"style": "film"}}), 202)
    assert wait_task_ended(it._psql, task["id"], 60) == "completed"
    works = it._expect_ok(c["b"].get("/works?tab=photography&limit=5", token=u["token"]))["items"]
    assert len(works) == 1 and works[0]["thumb_url"], works
    resp = requests.get(public_via(topo["b"], works[0]["thumb_url"]), timeout=10)
    assert resp.status_code == 200 and resp.content.startswith(b"\xff\xd8\xff")
    assert resp.content == media_get(key_of(works[0]["thumb_url"]))
    resp = requests.get(signed_via(topo["b"], works[0]["image_url"]), timeout=10)
    assert resp.status_code == 200 and resp.content == media_get(key_of(works[0]["image_url"]))
    # authorization is the same on both hosts: another user's task is 404 on B, and a token
    # signed with another secret is 401 on B as on A
    other = user()
    it._expect_error(c["b"].get(f"/tasks/{task['id']}", token=other["token"]), 404, "NOT_FOUND")
    forged = it.JwtForge("not-the-secret", "aiphoto").sign(
        it.JwtForge("x", "aiphoto").default_claims(u["id"]))
    for name in ("a", "b"):
        it._expect_error(c[name].get("/credits/records", token=forged), 401, "UNAUTHORIZED")
    # bad input is refused alike on B (not an image)
    it._expect_error(c["b"].post("/uploads", token=u["token"], data=b"not an image",
                                 headers={"Content-Type": "image/png"}), 415,
                     "UNSUPPORTED_MEDIA_TYPE")
    audit_clean()


def test_a_batch_of_50_is_shared_by_both_dispatchers_and_no_item_is_done_twice(topo, user):
    c = clients(topo)
    u = user()
    asset = it._expect_ok(c["front"].post("/uploads", token=u["token"], data=png(),
                                          headers={"Content-Type": "image/png"}), 201)
    ai("POST", "/__sim/ai/reset", {})
    ai("POST", "/__sim/ai/config", {"latency_ms": 300})
    before = {h: dispatch_log_items(h) for h in ("a", "b")}
    task = it._expect_ok(c["front"].post("/tasks/photography", token=u["token"], json={
        "scene_id": 1, "asset_ids": [asset["asset_id"]], "count": 50,
        "params": {"style": "film"}}), 202)
    assert wait_task_ended(it._psql, task["id"], 120) == "completed"
    rows = it._psql(f"SELECT id, status, attempt FROM works WHERE task_id = {task['id']}")
    assert len(rows) == 50
    assert all(r[1] == "succeeded" and r[2] == "1" for r in rows), rows
    ids = {int(r[0]) for r in rows}
    st = ai("GET", "/__sim/ai/stats")
    # one generation call per item, 50 in all
    assert st["total_submissions"] == 50, st["total_submissions"]
    assert all(st["submissions"].get(str(i)) == 1 for i in ids), st["submissions"]
    # each item in exactly one host's dispatcher log, once; both hosts took part
    time.sleep(0.5)
    after = {h: dispatch_log_items(h) for h in ("a", "b")}
    mine = {h: {w: n - before[h].get(w, 0) for w, n in after[h].items()
                if w in ids and n > before[h].get(w, 0)} for h in ("a", "b")}
    assert set(mine["a"]) | set(mine["b"]) == ids
    assert not set(mine["a"]) & set(mine["b"]), set(mine["a"]) & set(mine["b"])
    assert all(n == 1 for h in mine for n in mine[h].values()), mine
    assert mine["a"] and mine["b"], {h: len(mine[h]) for h in mine}
    print(f"\nbatch of 50: host a did {len(mine['a'])}, host b {len(mine['b'])}")
    led = it._psql(f"SELECT count(*), sum(delta) FROM credit_ledger WHERE user_id = {u['id']} "
                   f"AND idempotency_key = 'task:{task['id']}'")
    assert led[0][0] == "1"
    audit_clean()


# --------------------------------------------------------------------------- failover


class Load:
    """Money operations through the front on several threads: check-ins (one day each),
    consumes with an Idempotency-Key and task creations with one. A request that fails
    (no answer, or 5xx) is sent again, the same, until it gets an answer below 500; every
    answer is recorded with its time."""

    def __init__(self, front, users, asset_of):
        self.client = it.Client(front)
        self.users = users
        self.asset_of = asset_of
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []  # (time, what)
        self.ops = []  # dicts: kind, user, key/day, answers [(status, data)]

    def send(self, op, method, path, **kw):
        for _ in range(100):
            t = time.monotonic()
            try:
                resp = self.client.request(method, path, **kw)
            except requests.RequestException as err:
                with self.lock:
                    self.failures.append((t, f"{path}: {type(err).__name__}"))
                time.sleep(0.1)
                continue
            data = resp.json().get("data") if resp.headers.get(
                "Content-Type", "").startswith("application/json") else None
            op["answers"].append((resp.status_code, data))
            if resp.status_code < 500:
                return resp
            with self.lock:
                self.failures.append((t, f"{path}: {resp.status_code}"))
            time.sleep(0.1)
        pytest.fail(f"{path} failed 100 times")

    def run_user(self, i):
        u = self.users[i]
        n = 0
        tasks = 0
        while not self.stop.is_set():
            n += 1
            kind = ("checkin", "consume", "consume", "task")[n % 4]
            if kind == "task" and tasks >= 8:  # the per-user task limit is 20 a minute
                kind = "consume"
            op = {"kind": kind, "user": u["id"], "answers": []}
            if kind == "checkin":
                # a day of its own for each check-in of this user
                op["day"] = (datetime.date(2040, 1, 1) + datetime.timedelta(days=n)).isoformat()
                self.send(op, "POST", "/credits/checkin", token=u["token"],
                          headers={"X-Test-Date": op["day"]})
            elif kind == "consume":
                op["key"] = "load-" + uuid.uuid4().hex
                self.send(op, "POST", "/credits/consume", token=u["token"],
                          headers={"Idempotency-Key": op["key"]},
                          json={"amount": 1, "reason": "load"})
                # the same key again: the same answer, nothing booked twice
                self.send(op, "POST", "/credits/consume", token=u["token"],
                          headers={"Idempotency-Key": op["key"]},
                          json={"amount": 1, "reason": "load"})
            else:
                tasks += 1
                op["key"] = "load-" + uuid.uuid4().hex
                self.send(op, "POST", "/tasks/photography", token=u["token"],
                          headers={"Idempotency-Key": op["key"]},
                          json={"scene_id": 1, "asset_ids": [self.asset_of[u["id"]]],
                                "count": 1, "params": {"style": "film"}})
            with self.lock:
                self.ops.append(op)
            time.sleep(0.02)


def test_killing_host_a_under_load_loses_no_money_and_the_front_answers_from_b(topo, user):
    c = clients(topo)
    psql = it._psql
    ai("POST", "/__sim/ai/reset", {})
    ai("POST", "/__sim/ai/config", {"latency_ms": 500})
    users = [user() for _ in range(6)]
    asset_of = {}
    for u in users:
        asset_of[u["id"]] = it._expect_ok(c["front"].post(
            "/uploads", token=u["token"], data=png(rgb=(u["id"] % 256, 1, 2)),
            headers={"Content-Type": "image/png"}), 201)["asset_id"]
    load = Load(topo["front"], users, asset_of)
    pool = concurrent.futures.ThreadPoolExecutor(len(users))
    futures = [pool.submit(load.run_user, i) for i in range(len(users))]
    time.sleep(3)
    killed_at = time.monotonic()
    hosts("kill", "a")
    time.sleep(8)
    load.stop.set()
    for f in futures:
        f.result(timeout=120)
    pool.shutdown()

    # the front kept answering: failures only in a short window after the kill
    late = [f for f in load.failures if f[0] > killed_at + FAILOVER_WINDOW_S]
    early = [f for f in load.failures if f[0] < killed_at]
    window = max((f[0] - killed_at for f in load.failures), default=0.0)
    print(f"\nfailover: {len(load.ops)} operations, {len(load.failures)} failed attempts, "
          f"the last {window:.2f} s after the kill")
    assert not early, early
    assert not late, late
    # host A is gone, B answers directly and through the front
    with pytest.raises(requests.ConnectionError):
        requests.get(topo["a"] + "/health", timeout=3)
    for _ in range(10):
        it._expect_ok(c["front"].get("/health"))
    it._expect_ok(c["b"].get("/health"))

    # no money operation lost, none booked twice (three queries, not one per operation)
    uids = ",".join(str(u["id"]) for u in users)
    ledger = {r[0]: int(r[1]) for r in psql(
        f"SELECT idempotency_key, count(*) FROM credit_ledger WHERE user_id IN ({uids}) "
        f"AND kind IN ('consume', 'checkin') GROUP BY 1")}
    days = {(int(r[0]), r[1]): int(r[2]) for r in psql(
        f"SELECT user_id, day, count(*) FROM checkins WHERE user_id IN ({uids}) GROUP BY 1, 2")}
    n_ops = {"checkin": 0, "consume": 0, "task": 0}
    tasks = []
    for op in load.ops:
        n_ops[op["kind"]] += 1
        final = op["answers"][-1][0]
        ok = [a for a in op["answers"] if a[0] < 300]
        if op["kind"] == "checkin":
            # 409: an earlier attempt of the same day was booked but its answer lost
            assert final == 200 or (final == 409 and len(op["answers"]) > 1), op
            assert days.get((op["user"], op["day"])) == 1, op
            assert ledger.get(f"checkin:{op['user']}:{op['day']}") == 1, op
        elif op["kind"] == "consume":
            assert final == 200 and ok, op
            assert all(a == ok[0] for a in ok), op  # a replay answers the same
            assert ledger.get(f"consume:{op['user']}:{op['key']}") == 1, op
        else:
            assert final == 202 and ok, op
            tids = {a[1]["id"] for a in ok}
            assert len(tids) == 1, op  # every replay names the one task
            tasks.append(tids.pop())
            assert ledger.get(f"task:{tasks[-1]}") == 1, op
    assert all(n_ops.values()), n_ops
    # nothing booked that the load did not ask for
    kinds = {"checkin": 0, "consume": 0, "task": 0}
    for key, n in ledger.items():
        kinds["consume" if key.startswith("consume:") else
              "task" if key.startswith("task:") else "checkin"] += n
    assert kinds == n_ops, (kinds, n_ops)
    audit_clean()
    # the tasks host A's dispatcher held when it died are taken over by host B's once their
    # lease ends; every task ends, charged once
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        open_tasks = psql(f"SELECT id, status FROM tasks WHERE id IN ({','.join(map(str, tasks))}) "
                          f"AND status NOT IN ('completed', 'partial', 'failed', 'canceled')")
        if not open_tasks:
            break
        time.sleep(1)
    assert not open_tasks, open_tasks
    done = psql(f"SELECT status, count(*) FROM tasks WHERE id IN ({','.join(map(str, tasks))}) "
                f"GROUP BY 1")
    assert done == [["completed", str(len(tasks))]], done
    rescued = psql(f"SELECT count(*) FROM works WHERE task_id IN ({','.join(map(str, tasks))}) "
                   f"AND attempt > 1")[0][0]
    print(f"{len(tasks)} tasks ended completed; {rescued} items taken over after host A died")
    audit_clean()

    # host A comes back and the front uses it again
    hosts("start", "a")
    it._expect_ok(c["a"].get("/health"))
    log = VAR / "host-a" / "log" / "lighttpd-access.log"
    before = len(log.read_text().splitlines())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        it._expect_ok(c["front"].get("/health"))
        if len(log.read_text().splitlines()) > before:
            break
        time.sleep(0.2)
    assert len(log.read_text().splitlines()) > before, "the front never used host A again"


def test_with_both_hosts_down_the_front_answers_503_in_the_api_envelope_then_recovers(topo):
    c = clients(topo)
    hosts("kill", "a")
    hosts("kill", "b")
    try:
        for path in ("/health", "/credits/records"):
            resp = c["front"].get(path)
            assert resp.status_code == 503, (path, resp.status_code, resp.text[:200])
            assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
            body = resp.json()
            assert body["success"] is False and body["code"] == "UNAVAILABLE", body
        # the pages do not depend on the hosts
        page = requests.get(os.environ["AIPHOTO_BASE_URL"] + "/wechat/index.html", timeout=10)
        assert page.status_code == 200
    finally:
        hosts("start", "a")
        hosts("start", "b")
    deadline = time.monotonic() + 10
    while c["front"].get("/health").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(4):
        it._expect_ok(c["front"].get("/health"))
    audit_clean()
